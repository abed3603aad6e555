"""The `make run` demo: Bosun's CRDs, all five services, a demo, and a live summary."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from bosun_common.kube import KubeClient, KubeError
from bosun_devstack.kube_cluster import REPO_ROOT
from bosun_devstack.services import SERVICES, ServiceProcess
from bosun_devstack.stack import LocalStack

CRD_DIR = REPO_ROOT / "deploy" / "kustomize" / "base" / "crds"
DEMO_DIR = REPO_ROOT / "deploy" / "demo"


def kubectl(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    binary = str(stack.kube.binaries["kubectl"]) if stack.kube else "kubectl"
    return subprocess.run([binary, f"--kubeconfig={stack.kubeconfig}", *args], capture_output=True, text=True)


def start_services(stack: LocalStack, log_dir: Path) -> list[ServiceProcess]:
    log_dir.mkdir(parents=True, exist_ok=True)
    return [ServiceProcess(name, stack.env(), log_dir).start() for name in SERVICES]


def apply_demo(stack: LocalStack) -> None:
    crds = sorted(str(p) for p in CRD_DIR.glob("*.yaml") if p.name != "kustomization.yaml")
    kubectl(stack, "apply", "--server-side", *(f"-f={p}" for p in crds)).check_returncode()
    kubectl(stack, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all").check_returncode()
    for manifest in sorted(DEMO_DIR.glob("*.yaml")):
        for _ in range(60):  # the instance's kind exists only once the graph-planner made its CRD
            done = kubectl(stack, "apply", "--server-side", f"-f={manifest}")
            if done.returncode == 0:
                break
            threading.Event().wait(1.0)
        else:
            raise RuntimeError(f"could not apply {manifest.name}: {done.stderr.strip()}")


async def summary(kube: KubeClient) -> str:
    from cloud_actuator.catalogs import builtin_catalog

    prices = {
        (it.name, o.zone, o.capacityType): o.price
        for it in builtin_catalog("kwok").instanceTypes
        for o in it.offerings
    }

    async def items(api_version: str, kind: str, selector: str | None = None) -> list[dict[str, Any]]:
        try:
            return (await kube.list(api_version, kind, label_selector=selector))[0]
        except KubeError:
            return []

    rgds = await items("kro.run/v1alpha1", "ResourceGraphDefinition")
    apps = await items("kro.run/v1alpha1", "DemoApp")
    claims = await items("karpenter.sh/v1", "NodeClaim")
    nodes = await items("v1", "Node", "karpenter.sh/nodepool")
    pods = await items("v1", "Pod")
    cost = 0.0
    for node in nodes:
        labels = node["metadata"]["labels"]
        key = (
            labels.get("node.kubernetes.io/instance-type"),
            labels.get("topology.kubernetes.io/zone"),
            labels.get("karpenter.sh/capacity-type"),
        )
        cost += prices.get(key, 0.0)
    ready = sum(
        1
        for n in nodes
        if any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (n.get("status") or {}).get("conditions") or []
        )
    )
    running = sum(1 for p in pods if p.get("status", {}).get("phase") == "Running")
    pending = sum(1 for p in pods if p.get("status", {}).get("phase") == "Pending")
    return (
        f"RGDs {states(rgds)} | instances {states(apps)} | NodeClaims {len(claims)} | "
        f"nodes {ready}/{len(nodes)} ready | pods {running} running, {pending} pending | ${cost:.3f}/h"
    )


def states(objects: list[dict[str, Any]]) -> str:
    """`name=STATE, ...` from each object's status.state."""
    return (
        ", ".join(f"{o['metadata']['name']}={o.get('status', {}).get('state', '?')}" for o in objects) or "-"
    )


def run_demo(stack: LocalStack, stop: threading.Event) -> None:
    print("bosun up: starting the five services ...", flush=True)
    procs = start_services(stack, stack.workdir / "service-logs")
    try:
        print(
            f"bosun up: services ready (logs in {stack.workdir / 'service-logs'}); applying the demo ...",
            flush=True,
        )
        apply_demo(stack)

        async def loop() -> None:
            kube = await KubeClient.from_env(str(stack.kubeconfig), user_agent="bosun-up")
            last = ""
            try:
                while not stop.is_set():
                    line = await summary(kube)
                    if line != last:  # print changes only
                        print(time.strftime("%H:%M:%S"), line, flush=True)
                        last = line
                    await asyncio.to_thread(stop.wait, 2.0)
            finally:
                await kube.close()

        asyncio.run(loop())
    finally:
        for proc in reversed(procs):
            proc.stop()
