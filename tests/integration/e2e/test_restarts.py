"""End to end: kill (SIGKILL) and restart each service in turn during a scale-out.
No plan is lost (every pod ends up running) and nothing is left twice (once settled, the
NodeClaims are exactly the ones `bosun nodes simulate` predicts, each with one Node)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bosun_common.kube import KubeClient
from tests.integration.conftest import ServiceProcess
from tests.integration.e2e.test_kro_webapp import until
from tests.integration.e2e.test_nodes_scale import NODECLASS, deployment, nodepool, predicted


async def test_each_service_killed_and_restarted_during_scale_out(
    kube: KubeClient, crds: list[str], services: Callable[..., ServiceProcess], unique: str, tmp_path: Path
) -> None:
    team = f"r{unique}"
    pool, workload = nodepool(f"restart-{unique}", team), deployment(f"restart-{unique}", team, 120)
    prediction = predicted(tmp_path, pool, workload)
    running = {
        name: services(name) for name in ("informer", "k8s_actuator", "cloud_actuator", "node_planner")
    }
    await kube.apply(NODECLASS, field_manager="kubectl")
    await kube.apply(pool, field_manager="kubectl")
    await kube.apply(workload, field_manager="kubectl")

    for name in ("informer", "node_planner", "k8s_actuator", "cloud_actuator"):
        await asyncio.sleep(1.0)
        running[name].kill()
        await asyncio.sleep(0.5)
        await asyncio.to_thread(running[name].start)

    async def all_running() -> bool:
        pods, _ = await kube.list("v1", "Pod", "default", label_selector=f"app=restart-{unique}")
        return len(pods) == 120 and all(p.get("status", {}).get("phase") == "Running" for p in pods)

    await until(all_running, timeout=300, what="all pods running after the restarts")
    selector = f"karpenter.sh/nodepool=restart-{unique}"

    # A node-planner restarted while its last claims were still in the PLANS queue does not see
    # them and may open one more for the same pods; the empty one is removed by emptiness after
    # its 15 s validation. What must hold is the settled state.
    async def settled() -> bool:
        claims, _ = await kube.list("karpenter.sh/v1", "NodeClaim", label_selector=selector)
        return len(claims) == len(prediction["nodeclaims"])

    await until(settled, timeout=120, what="the NodeClaims the simulation predicts, and no more")
    claims, _ = await kube.list("karpenter.sh/v1", "NodeClaim", label_selector=selector)
    nodes, _ = await kube.list("v1", "Node", label_selector=selector)
    assert len(claims) == len(prediction["nodeclaims"]), [c["metadata"]["name"] for c in claims]
    assert sorted(c["status"]["nodeName"] for c in claims) == sorted(n["metadata"]["name"] for n in nodes)
    got = Counter(n["metadata"]["labels"]["node.kubernetes.io/instance-type"] for n in nodes)
    assert got == Counter(c["launch"]["instanceType"] for c in prediction["nodeclaims"])
    for svc in running.values():
        assert svc.proc.alive(), svc.log()
