"""Bosun's services as real OS processes (`python -m <package>`), for `bosun up` and the tests."""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path

from bosun_devstack.procs import Proc, free_port, wait_until

SERVICES = ("informer", "graph_planner", "node_planner", "k8s_actuator", "cloud_actuator")


def metrics_text(port: int) -> str:
    """A service's `/metrics` page (Prometheus text)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def read_metric(port: int, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics_text(port).splitlines()
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items())
    )


class ServiceProcess:
    """One service with its own HTTP port; `start` returns once `/readyz` answers 200."""

    def __init__(self, package: str, env: dict[str, str], log_dir: Path) -> None:
        self.package = package
        self.port = free_port()
        full_env = {
            "BOSUN_HTTP_PORT": str(self.port),
            "BOSUN_HTTP_HOST": "127.0.0.1",
            "OTEL_TRACES_EXPORTER": "none",
            **env,
        }
        self.proc = Proc(
            package, [sys.executable, "-m", package], log_dir / f"{package}-{self.port}.log", env=full_env
        )
        self.ready_after = 0.0

    def start(self, ready_timeout: float = 30.0) -> ServiceProcess:
        self.proc.start()

        def ready() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1) as resp:
                return bool(resp.status == 200)

        started = time.monotonic()
        wait_until(ready, timeout=ready_timeout, what=f"{self.package} /readyz", proc=self.proc)
        self.ready_after = time.monotonic() - started
        return self

    def stop(self) -> int | None:
        self.proc.stop(grace=15)
        return self.proc.popen.returncode if self.proc.popen else None

    def kill(self) -> None:
        self.proc.kill()

    def metric(self, name: str, **labels: str) -> float:
        return read_metric(self.port, name, **labels)

    def log(self, lines: int = 50) -> str:
        return self.proc.tail(lines)
