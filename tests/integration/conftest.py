"""Session fixtures: one real NATS and one real control plane for the whole run.

`NATS_URL` or `KUBECONFIG` set in the environment point the tests at existing
servers instead. Every process started here is stopped at the end of the
session, and dies with pytest if pytest is killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bosun_common.bus import Bus
from bosun_common.kube import KubeClient
from bosun_devstack.services import ServiceProcess
from bosun_devstack.stack import LocalStack

PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    with LocalStack.up(Path(tempfile.mkdtemp(prefix="bosun-test-"))) as local:
        yield local


@pytest.fixture(scope="session")
def nats_url(stack: LocalStack) -> str:
    return stack.nats_url


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    connected = await Bus.connect(nats_url, service="tests")
    await connected.provision()
    yield connected
    await connected.close()


@pytest.fixture
async def kube(stack: LocalStack) -> AsyncIterator[KubeClient]:
    client = await KubeClient.from_env(str(stack.kubeconfig), user_agent="bosun-tests")
    yield client
    await client.close()


@pytest.fixture
def unique() -> str:
    """A short unique suffix so tests sharing the session stack never collide."""
    return uuid.uuid4().hex[:8]


def start_program(name: str, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Run `tests/integration/programs/<name>.py` as a separate OS process."""
    return subprocess.Popen(
        [sys.executable, str(PROGRAMS / f"{name}.py"), *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def services(stack: LocalStack, tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start services as processes pointed at the session stack; all stopped after the test."""
    started: list[ServiceProcess] = []

    def start(package: str, **env: str) -> ServiceProcess:
        svc = ServiceProcess(package, {**stack.env(), **env}, tmp_path)
        started.append(svc)
        return svc.start()

    yield start
    unclean = []
    for svc in started:
        alive = svc.proc.alive()
        code = svc.stop()
        if alive and code != 0:  # SIGTERM must drain and exit 0 (killed ones are exempt)
            unclean.append(f"{svc.package} exited {code}:\n{svc.log(20)}")
    assert not unclean, "\n".join(unclean)


REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "deploy" / "kustomize" / "base" / "crds"


@pytest.fixture(scope="session")
def crds(stack: LocalStack) -> list[str]:
    """Install Bosun's CRDs (RGD, NodePool, NodeClaim, KWOKNodeClass) once; wait until established."""
    import yaml

    kubectl = [
        str(stack.kube.binaries["kubectl"]) if stack.kube else "kubectl",
        f"--kubeconfig={stack.kubeconfig}",
    ]
    files = sorted(p for p in CRD_DIR.glob("*.yaml") if p.name != "kustomization.yaml")
    subprocess.run(
        [*kubectl, "apply", "--server-side", *(f"-f={p}" for p in files)], check=True, capture_output=True
    )
    names = [yaml.safe_load(p.read_text())["metadata"]["name"] for p in files]
    subprocess.run(
        [*kubectl, "wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}" for n in names)],
        check=True,
        capture_output=True,
    )
    return names


async def stream_messages(bus: Bus, subject: str, stream: str) -> list[tuple[Any, Any]]:
    """Every message stored on `subject` now, decoded, as (message, metadata) in stream order."""
    from bosun_common.codec import decode

    sub = await bus.js.subscribe(subject, stream=stream, ordered_consumer=True)
    found: list[tuple[Any, Any]] = []
    try:
        info = await sub.consumer_info()
        # Messages may already sit in the client's buffer: count them as well.
        pending = (info.num_pending or 0) + (info.delivered.consumer_seq if info.delivered else 0)
        while pending:
            msg = await sub.next_msg(timeout=10)
            pending = msg.metadata.num_pending
            found.append((decode(msg.data)[1], msg.metadata))
    finally:
        await sub.unsubscribe()
    return found
