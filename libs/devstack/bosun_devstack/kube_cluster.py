"""A real Kubernetes control plane on loopback: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, and kwok as the kubelet of every node
annotated `kwok.x-k8s.io/node: fake`.

Binaries come from `KUBEBUILDER_ASSETS` when it has them, otherwise from the
cached build of `hack/build-kube.sh` (built once from the official Go modules).
"""

from __future__ import annotations

import base64
import os
import shutil
import ssl
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bosun_devstack import certs
from bosun_devstack.procs import Proc, free_port, port_open, wait_until

BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
REPO_ROOT = Path(__file__).resolve().parents[3]
SERVICE_CIDR = "10.96.0.0/16"


def find_binaries() -> dict[str, Path]:
    """Locate every binary; build the missing ones once (cached outside the repo)."""
    found: dict[str, Path] = {}
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if assets:
        for name in BINARIES:
            if (Path(assets) / name).exists():
                found[name] = Path(assets) / name
    if len(found) < len(BINARIES):
        script = REPO_ROOT / "hack" / "build-kube.sh"
        result = subprocess.run(
            [str(script)], stdout=subprocess.PIPE, stderr=sys.stderr, text=True, check=True
        )
        bin_dir = Path(result.stdout.strip().splitlines()[-1])
        for name in BINARIES:
            found.setdefault(name, bin_dir / name)
    return found


@dataclass
class KubeCluster:
    """One local control plane. `start()` blocks until the API server is ready."""

    workdir: Path
    binaries: dict[str, Path] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    apiserver_port: int = 0
    etcd_port: int = 0
    kubeconfig: Path = field(init=False)

    def __post_init__(self) -> None:
        self.kubeconfig = self.workdir / "kubeconfig"
        self.pki = self.workdir / "pki"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    def start(self) -> KubeCluster:
        self.binaries = self.binaries or find_binaries()
        self.pki.mkdir(parents=True, exist_ok=True)
        self._make_pki()
        self.etcd_port = self.etcd_port or free_port()
        self.apiserver_port = self.apiserver_port or free_port()
        self._write_kubeconfig()
        try:
            self._start_etcd()
            self._start_apiserver()
            self._start_controllers()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for name in ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            proc = self.procs.get(name)
            if proc is not None:
                proc.stop()

    # -- pieces ---------------------------------------------------------------

    def _make_pki(self) -> None:
        self.ca = certs.make_ca(self.pki, "ca")
        self.serving = certs.issue(
            self.ca,
            self.pki,
            "apiserver",
            common_name="kube-apiserver",
            dns=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
            ips=("127.0.0.1", "10.96.0.1"),
            server=True,
        )
        self.admin = certs.issue(
            self.ca,
            self.pki,
            "admin",
            common_name="bosun-admin",
            organizations=("system:masters",),
            client=True,
        )
        self.sa = certs.make_service_account_keys(self.pki)

    def _write_kubeconfig(self) -> None:
        def b64(path: Path) -> str:
            return base64.b64encode(path.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "bosun-local",
                    "cluster": {"server": self.server, "certificate-authority-data": b64(self.ca.cert)},
                }
            ],
            "users": [
                {
                    "name": "bosun-admin",
                    "user": {
                        "client-certificate-data": b64(self.admin.cert),
                        "client-key-data": b64(self.admin.key),
                    },
                }
            ],
            "contexts": [
                {"name": "bosun-local", "context": {"cluster": "bosun-local", "user": "bosun-admin"}}
            ],
            "current-context": "bosun-local",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)

    def _proc(self, name: str, args: list[str]) -> Proc:
        proc = Proc(name, [str(self.binaries[name]), *args], self.workdir / "logs" / f"{name}.log").start()
        self.procs[name] = proc
        return proc

    def _start_etcd(self) -> None:
        peer = free_port()
        data = self.workdir / "etcd"
        proc = self._proc(
            "etcd",
            [
                f"--data-dir={data}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=default=http://127.0.0.1:{peer}",
                "--unsafe-no-fsync",  # a throwaway test store; fsync costs seconds per test on shared disks
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ],
        )
        wait_until(lambda: port_open(self.etcd_port), timeout=30, what="etcd", proc=proc)

    def _apiserver_args(self) -> list[str]:
        return [
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.apiserver_port}",
            f"--cert-dir={self.pki}",
            f"--tls-cert-file={self.serving.cert}",
            f"--tls-private-key-file={self.serving.key}",
            f"--client-ca-file={self.ca.cert}",
            f"--service-account-key-file={self.sa.cert}",
            f"--service-account-signing-key-file={self.sa.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--endpoint-reconciler-type=none",
            "--watch-cache=true",
            "--v=1",
        ]

    def _start_apiserver(self) -> None:
        proc = self._proc("kube-apiserver", self._apiserver_args())
        wait_until(self._apiserver_ready, timeout=120, what="kube-apiserver /readyz", proc=proc)

    def restart_apiserver(self) -> None:
        """Stop and start kube-apiserver on the same port and store (for fault tests)."""
        self.procs["kube-apiserver"].stop()
        self._start_apiserver()

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca.cert))
        context.load_cert_chain(str(self.admin.cert), str(self.admin.key))
        return context

    def _apiserver_ready(self) -> bool:
        with urllib.request.urlopen(f"{self.server}/readyz", context=self._ssl_context(), timeout=2) as resp:
            return bool(resp.status == 200)

    def _start_controllers(self) -> None:
        kubeconfig = f"--kubeconfig={self.kubeconfig}"
        self._proc(
            "kube-controller-manager",
            [
                kubeconfig,
                "--leader-elect=false",
                "--secure-port=0",
                f"--service-account-private-key-file={self.sa.key}",
                f"--root-ca-file={self.ca.cert}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--use-service-account-credentials=false",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--v=1",
            ],
        )
        self._proc(
            "kube-scheduler",
            [
                kubeconfig,
                "--leader-elect=false",
                "--secure-port=0",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
                "--v=1",
            ],
        )
        self._proc(
            "kwok",
            [
                kubeconfig,
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                f"--config={self._kwok_config()}",
                "--cidr=10.244.0.0/16",
                "--node-ip=10.0.0.1",
                f"--server-address=127.0.0.1:{free_port()}",
                "--node-lease-duration-seconds=40",
            ],
        )

    def _kwok_config(self) -> Path:
        # An explicit configuration, so a user's ~/.kwok/kwok.yaml never leaks in.
        path = self.workdir / "kwok.yaml"
        path.write_text((Path(__file__).parent / "kwok.yaml").read_text())
        return path

    def kubectl(
        self, *args: str, input_text: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binaries["kubectl"]), f"--kubeconfig={self.kubeconfig}", *args],
            input=input_text,
            capture_output=True,
            text=True,
            check=check,
        )


def kubectl_binary() -> Path | None:
    """kubectl from the cache or PATH, for commands that only need a client."""
    found = shutil.which("kubectl")
    return Path(found) if found else None
