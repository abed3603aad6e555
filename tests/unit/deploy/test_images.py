"""The Dockerfile, its build context and docker-compose.yml, checked without a Docker engine.

Docker cannot run here, so these read the files: the stages, the user, what
the build context lets in, and that the compose file runs what the kustomize
Deployments run, the same way (one image, `python -m <package>`, non-root,
read-only root filesystem). When a compose CLI is installed, `config`
validates the file against the Compose schema as well.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
BASE = REPO / "deploy" / "kustomize" / "base"
PACKAGES = {
    "informer": "informer",
    "graph-planner": "graph_planner",
    "node-planner": "node_planner",
    "k8s-actuator": "k8s_actuator",
    "cloud-actuator": "cloud_actuator",
}
TALK_TO_KUBERNETES = {"informer", "k8s-actuator"}


# --- Dockerfile -----------------------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), with continuation lines joined and comments dropped."""
    text = (REPO / "Dockerfile").read_text()
    logical: list[str] = []
    current = ""
    for line in text.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    out = []
    for line in logical:
        word, _, rest = line.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def python_image() -> str:
    arg = next(a for i, a in instructions() if i == "ARG" and a.startswith("PYTHON_IMAGE="))
    return arg.split("=", 1)[1]


def test_dockerfile_is_multi_stage_on_slim_python_of_the_project_version() -> None:
    builder, runtime = stages()
    assert builder[0] == ("FROM", "${PYTHON_IMAGE} AS builder")
    assert runtime[0] == ("FROM", "${PYTHON_IMAGE}")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    version = re.search(r">=(3\.\d+)", project["requires-python"])
    assert version is not None
    assert python_image() == f"python:{version.group(1)}-slim"


def test_builder_installs_the_locked_runtime_dependencies_and_the_project() -> None:
    builder, _ = stages()
    runs = " ".join(a for i, a in builder if i == "RUN")
    assert "-c requirements.lock" in runs, "dependency versions come from the lock"
    assert "pip install --no-deps ." in runs
    assert "python -m venv /opt/bosun" in runs
    copied = [a.split()[0] for i, a in builder if i == "COPY"]
    assert {"pyproject.toml", "README.md", "libs", "services"} <= set(copied)


def test_runtime_stage_is_non_root_and_writes_only_under_tmp() -> None:
    _, runtime = stages()
    assert ("COPY", "--from=builder /opt/bosun /opt/bosun") in runtime
    [user] = [a for i, a in runtime if i == "USER"]
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric, so Kubernetes can check runAsNonRoot"
    env = " ".join(a for i, a in runtime if i == "ENV")
    for setting in ("PYTHONDONTWRITEBYTECODE=1", "HOME=/tmp", "PATH=/opt/bosun/bin:$PATH"):
        assert setting in env
    assert not [a for i, a in runtime if i == "RUN" and "pip install" in a], "nothing built in the runtime"
    assert not [i for i, _ in runtime if i == "VOLUME"], "a VOLUME would be a writable path"

    # The Deployments run as the image's user.
    for service in PACKAGES:
        deployment = next(
            d
            for d in yaml.safe_load_all((BASE / "services" / f"{service}.yaml").read_text())
            if d["kind"] == "Deployment"
        )
        context = deployment["spec"]["template"]["spec"]["securityContext"]
        assert (context["runAsUser"], context["runAsGroup"]) == (int(uid), int(gid)), service
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", PACKAGES[service]]


def glob_regex(pattern: str) -> str:
    """Docker's patterns (Go's filepath.Match, plus `**` for any number of directories) as a regex."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern matches a path or any of its parents."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for raw in patterns:
        negate = raw.startswith("!")
        regex = glob_regex((raw[1:] if negate else raw).strip("/"))
        if any(re.fullmatch(regex, c) for c in candidates):
            ignored = not negate
    return ignored


def test_build_context_is_only_what_the_image_installs() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    sent = {p for p in tracked if (REPO / p).exists() and not dockerignored(p, patterns)}
    assert {p.split("/")[0] for p in sent} == {
        "pyproject.toml",
        "requirements.lock",
        "README.md",
        "libs",
        "services",
    }
    # Every package the wheel is built from is in the context ...
    wheel = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    for package in wheel["packages"]:
        assert any(p.startswith(package + "/") for p in sent), package
    # ... with its data files, and no caches, virtualenvs or tests.
    assert "services/graph_planner/schemas/builtin.json.gz" in sent
    for unwanted in (
        ".venv/bin/python",
        "libs/common/bosun_common/__pycache__/bus.cpython-311.pyc",
        ".git/HEAD",
    ):
        assert dockerignored(unwanted, patterns), unwanted
    assert not [p for p in sent if p.startswith("tests/")]


# --- docker-compose.yml ---------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


def test_compose_runs_nats_and_the_five_services_from_one_image() -> None:
    services = compose()["services"]
    assert set(services) == {"nats", *PACKAGES}
    nats = services["nats"]
    assert nats["image"].startswith("nats:2")
    assert "-js" in nats["command"]
    assert nats["healthcheck"]["test"][0] == "CMD"
    _, runtime = stages()
    [user] = [a for i, a in runtime if i == "USER"]
    images = set()
    for name, package in PACKAGES.items():
        service = services[name]
        images.add(service["image"])
        assert service["build"] == "."
        assert service["command"] == ["python", "-m", package]
        assert service["environment"]["NATS_URL"] == "nats://nats:4222"
        assert service["depends_on"] == {"nats": {"condition": "service_healthy"}}
        assert service["user"] == user
        assert service["read_only"] is True
        assert service["tmpfs"] == ["/tmp"]
        assert service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        mounts = service.get("volumes", [])
        if name in TALK_TO_KUBERNETES:
            [mount] = mounts
            assert mount["read_only"] is True
            assert service["environment"]["KUBECONFIG"] == mount["target"]
            assert "BOSUN_KUBECONFIG" in mount["source"]
        else:
            assert mounts == [], f"{name} never talks to Kubernetes"
            assert "KUBECONFIG" not in service["environment"]
    assert len(images) == 1


def compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_config_validates_with_the_compose_cli(tmp_path: Path) -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("no compose CLI installed (docker compose or docker-compose): schema not checked")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    result = subprocess.run(
        [*cli, "-f", str(REPO / "docker-compose.yml"), "config"],
        env={**os.environ, "BOSUN_KUBECONFIG": str(kubeconfig)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) == {"nats", *PACKAGES}
    assert resolved["services"]["informer"]["volumes"][0]["source"] == str(kubeconfig)
