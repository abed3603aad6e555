"""The whole local stack in one call: `with LocalStack.up(workdir) as stack: ...`.

`NATS_URL` set: use that NATS instead of starting one. `KUBECONFIG` set: use
that cluster instead of starting one. Whatever this stack started, it stops,
also when the body raises; child processes die with this process regardless.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bosun_devstack.kube_cluster import KubeCluster
from bosun_devstack.nats_server import NatsServer


@dataclass
class LocalStack:
    workdir: Path
    nats_url: str
    kubeconfig: Path
    nats: NatsServer | None = None
    kube: KubeCluster | None = None

    def env(self) -> dict[str, str]:
        """Environment for a service process pointed at this stack."""
        return {"NATS_URL": self.nats_url, "KUBECONFIG": str(self.kubeconfig)}

    @classmethod
    @contextlib.contextmanager
    def up(
        cls, workdir: Path | None = None, *, with_kube: bool = True, keep: bool = False
    ) -> Iterator[LocalStack]:
        owned_dir = workdir is None
        root = workdir or Path(tempfile.mkdtemp(prefix="bosun-stack-"))
        root.mkdir(parents=True, exist_ok=True)
        nats: NatsServer | None = None
        kube: KubeCluster | None = None
        try:
            nats_url = os.environ.get("NATS_URL")
            if not nats_url:
                nats = NatsServer(root / "nats").start()
                nats_url = nats.url
            existing = os.environ.get("KUBECONFIG")
            if existing:
                kubeconfig = Path(existing)
            elif with_kube:
                kube = KubeCluster(root / "kube").start()
                kubeconfig = kube.kubeconfig
            else:
                kubeconfig = root / "no-kubeconfig"
            yield cls(workdir=root, nats_url=nats_url, kubeconfig=kubeconfig, nats=nats, kube=kube)
        finally:
            if kube is not None:
                kube.stop()
            if nats is not None:
                nats.stop()
            if owned_dir and not keep:
                shutil.rmtree(root, ignore_errors=True)
