"""How far one replica of each service goes, on the real local stack (NATS, control plane, kwok).

Workload (fixed): 1,000 ConfigMaps listed by a fresh informer (events/s); 1,000 server-side
apply plans through one k8s-actuator running one key at a time, then 1,000 more through one
running 8 keys at a time (plans/s, and their ratio); 300 instances of a one-ConfigMap RGD planned by
a graph-planner that starts with them all pending (instances/s, planner alone and end to end);
a 1,000-pod Deployment provisioned from nothing (pods/s from apply to every pod Running).
Each figure is one run on a shared 2-core machine.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bosun_common.bus import Bus
from bosun_common.kube import KubeClient
from bosun_common.kube_plans import ApplyObject, KubePlan
from bosun_common.messages import KubePlanMessage
from bosun_common.streams import WATCHES, k8s_plan_subject
from bosun_devstack.kube_cluster import REPO_ROOT
from bosun_devstack.services import ServiceProcess
from bosun_devstack.stack import LocalStack

CRDS = REPO_ROOT / "deploy" / "kustomize" / "base" / "crds"


async def wait_for(check: Any, timeout: float = 600.0) -> float:
    """Seconds until `check` (a plain or async callable) holds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        done = await check() if asyncio.iscoroutinefunction(check) else await asyncio.to_thread(check)
        if done:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise TimeoutError("benchmark step did not finish")


async def gather_limited(coros: list[Any], limit: int = 32) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Any) -> None:
        async with semaphore:
            await coro

    await asyncio.gather(*(one(c) for c in coros))


async def measure(stack: LocalStack, logs: Path) -> list[str]:
    lines: list[str] = []
    kube = await KubeClient.from_env(str(stack.kubeconfig))
    bus = await Bus.connect(stack.nats_url, service="bench")
    await bus.provision()
    for path in sorted(CRDS.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            await kube.apply(yaml.safe_load(path.read_text()), field_manager="bench")
    await asyncio.sleep(2)
    kube.forget_discovery()

    def start(name: str, **env: str) -> ServiceProcess:
        return ServiceProcess(name, {**stack.env(), **env}, logs).start()

    # 1. informer: list and publish 1,000 existing objects.
    await gather_limited(
        [
            kube.apply(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": f"b{i}", "namespace": "default"},
                    "data": {"i": str(i)},
                },
                field_manager="bench",
            )
            for i in range(1000)
        ]
    )
    watches = await bus.ensure_bucket(WATCHES)
    await watches.put("v1/ConfigMap", b"{}")
    informer = start("informer")
    took = await wait_for(lambda: informer.metric("bosun_informer_events_total", kind="ConfigMap") >= 1000)
    lines.append(
        f"informer: 1,000 objects listed and published in {took:.2f} s = {1000 / took:,.0f} events/s"
    )

    # 2. k8s-actuator: 1,000 apply plans (distinct keys), one plan at a time, then 8 keys at a time.
    def apply_plans(prefix: str) -> list[tuple[str, Any, str, str | None]]:
        return [
            (
                k8s_plan_subject("bench", f"{prefix}{i}"),
                KubePlanMessage(
                    plan=KubePlan(
                        key=f"{prefix}{i}",
                        planner="bench",
                        actions=[
                            ApplyObject(
                                object={
                                    "apiVersion": "v1",
                                    "kind": "ConfigMap",
                                    "metadata": {"name": f"{prefix}{i}", "namespace": "default"},
                                },
                                fieldManager="bench",
                            )
                        ],
                    )
                ),
                f"{prefix}{i}",
                None,
            )
            for i in range(1000)
        ]

    rates: dict[int, float] = {}
    for concurrency, prefix in ((1, "p"), (8, "q")):
        actuator = start("k8s_actuator", BOSUN_ACTUATOR_CONCURRENCY=str(concurrency))
        began = time.monotonic()
        await bus.publish_many(apply_plans(prefix), timeout=60)
        await wait_for(lambda a=actuator: a.metric("bosun_messages_consumed_total", kind="KubePlan") >= 1000)
        took = time.monotonic() - began
        rates[concurrency] = 1000 / took
        lines.append(
            f"k8s-actuator, {concurrency} key(s) at a time: 1,000 server-side apply plans in {took:.2f} s"
            f" = {rates[concurrency]:,.0f} plans/s"
        )
        if concurrency == 1:
            actuator.stop()
    lines.append(f"k8s-actuator: 8 keys at a time / 1 = {rates[8] / rates[1]:.2f}x")

    # 3. graph-planner: 300 instances pending when it starts.
    planner = start("graph_planner")
    rgd = {
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": "bench"},
        "spec": {
            "schema": {"apiVersion": "v1alpha1", "kind": "Bench", "spec": {"name": "string"}},
            "resources": [
                {
                    "id": "cm",
                    "template": {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "${schema.spec.name}"},
                    },
                }
            ],
        },
    }
    await kube.apply(rgd, field_manager="bench")

    async def crd_ready() -> bool:
        try:
            await kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "benches.kro.run")
            return True
        except Exception:
            return False

    await wait_for(crd_ready)
    await asyncio.sleep(2)
    planner.stop()
    kube.forget_discovery()
    await gather_limited(
        [
            kube.apply(
                {
                    "apiVersion": "kro.run/v1alpha1",
                    "kind": "Bench",
                    "metadata": {"name": f"i{i}", "namespace": "default"},
                    "spec": {"name": f"bench-{i}"},
                },
                field_manager="bench",
            )
            for i in range(300)
        ]
    )
    await asyncio.sleep(3)  # the informer publishes them
    planner = start("graph_planner")
    began = time.monotonic()
    await wait_for(lambda: planner.metric("bosun_plans_published_total", target="instance") >= 300)
    planned = time.monotonic() - began

    async def children() -> bool:
        items, _ = await kube.list("v1", "ConfigMap", "default")
        return sum(1 for c in items if c["metadata"]["name"].startswith("bench-")) >= 300

    await wait_for(children)
    took = time.monotonic() - began
    lines.append(
        f"graph-planner: 300 pending instances planned in {planned:.2f} s = {300 / planned:,.0f} instances/s; "
        f"children created end to end in {took:.2f} s = {300 / took:,.0f} instances/s"
    )

    # 4. node-planner (+ cloud-actuator sim): 1,000 pods from nothing to Running.
    start("cloud_actuator")
    start("node_planner")
    await kube.apply(
        {
            "apiVersion": "karpenter.kwok.sh/v1alpha1",
            "kind": "KWOKNodeClass",
            "metadata": {"name": "default"},
        },
        field_manager="bench",
    )
    await kube.apply(
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "bench"},
            "spec": {
                "template": {
                    "metadata": {"labels": {"bench": "yes"}},
                    "spec": {
                        "nodeClassRef": {
                            "group": "karpenter.kwok.sh",
                            "kind": "KWOKNodeClass",
                            "name": "default",
                        },
                        "requirements": [{"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]}],
                    },
                }
            },
        },
        field_manager="bench",
    )
    await asyncio.sleep(2)
    began = time.monotonic()
    await kube.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "bench", "namespace": "default"},
            "spec": {
                "replicas": 1000,
                "selector": {"matchLabels": {"app": "bench"}},
                "template": {
                    "metadata": {"labels": {"app": "bench"}},
                    "spec": {
                        "nodeSelector": {"bench": "yes"},
                        "containers": [
                            {"name": "c", "image": "x", "resources": {"requests": {"cpu": "250m"}}}
                        ],
                    },
                },
            },
        },
        field_manager="bench",
    )

    async def running() -> bool:
        pods, _ = await kube.list("v1", "Pod", "default", label_selector="app=bench")
        return len(pods) == 1000 and all(p.get("status", {}).get("phase") == "Running" for p in pods)

    await wait_for(running)
    took = time.monotonic() - began
    claims, _ = await kube.list("karpenter.sh/v1", "NodeClaim")
    lines.append(
        f"node-planner: 1,000 pods from apply to Running on {len(claims)} new nodes in {took:.2f} s "
        f"= {1000 / took:,.0f} pods/s end to end"
    )
    await bus.close()
    await kube.close()
    return lines


def run() -> list[str]:
    with (
        tempfile.TemporaryDirectory(prefix="bosun-bench-") as tmp,
        LocalStack.up(Path(tmp) / "stack") as stack,
    ):
        logs = Path(tmp) / "logs"
        logs.mkdir()
        return asyncio.run(measure(stack, logs))
