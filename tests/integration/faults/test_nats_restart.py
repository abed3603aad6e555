"""Kill (SIGKILL) and restart the NATS server during a 500-pod scale-out and a 100-instance
rollout: everything converges, nothing is duplicated, nothing is lost."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from bosun_common.kube import KubeClient
from bosun_devstack.stack import LocalStack
from tests.integration.conftest import ServiceProcess
from tests.integration.e2e.test_kro_invalid import configmap, graph_accepted, rgd
from tests.integration.e2e.test_kro_webapp import until
from tests.integration.e2e.test_nodes_scale import NODECLASS, deployment, hourly_cost, nodepool, predicted

PODS, INSTANCES = 500, 100


def bosun_counters(svc: ServiceProcess) -> list[str]:
    """The service's own counters, for a failure message."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{svc.port}/metrics", timeout=5).read().decode()
    return [
        line
        for line in text.splitlines()
        if line.startswith("bosun_") and not line.startswith("bosun_handler")
    ]


async def test_nats_killed_and_restarted_mid_rollout(
    stack: LocalStack,
    kube: KubeClient,
    crds: list[str],
    services: Callable[..., ServiceProcess],
    unique: str,
    tmp_path: Path,
) -> None:
    if stack.nats is None:
        pytest.skip("NATS_URL points at a server this test cannot kill")
    running = {
        name: services(name)
        for name in ("informer", "graph_planner", "node_planner", "k8s_actuator", "cloud_actuator")
    }
    team = f"n{unique}"
    pool, workload = nodepool(f"nats-{unique}", team), deployment(f"nats-{unique}", team, PODS)
    prediction = predicted(tmp_path, pool, workload)
    kind = f"Roll{unique.capitalize()}"
    await kube.apply(
        rgd(f"roll-{unique}", kind, [configmap("cm", "${schema.spec.name}")]), field_manager="kubectl"
    )
    await until(lambda: graph_accepted(kube, f"roll-{unique}"), what="the RGD to be accepted")
    await kube.apply(NODECLASS, field_manager="kubectl")
    await kube.apply(pool, field_manager="kubectl")

    started = time.monotonic()
    await kube.apply(workload, field_manager="kubectl")
    names = [f"roll-{unique}-{i}" for i in range(INSTANCES)]
    for i, name in enumerate(names):
        await kube.apply(
            {
                "apiVersion": "kro.run/v1alpha1",
                "kind": kind,
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"name": name},
            },
            field_manager="kubectl",
        )
        if i == INSTANCES // 2:  # mid-rollout, mid-scale-out
            stack.nats.kill()
            killed = time.monotonic()
    await asyncio.sleep(3.0)
    stack.nats.start()
    restarted = time.monotonic()

    seen: dict[str, int] = {}

    async def converged() -> bool:
        pods, _ = await kube.list("v1", "Pod", "default", label_selector=f"app=nats-{unique}")
        instances, _ = await kube.list("kro.run/v1alpha1", kind, "default")
        seen["running pods"] = sum(1 for p in pods if p.get("status", {}).get("phase") == "Running")
        seen["active instances"] = sum(
            1 for i in instances if (i.get("status") or {}).get("state") == "ACTIVE"
        )
        return seen["running pods"] == PODS and seen["active instances"] == INSTANCES

    try:
        await until(
            converged, timeout=300, what="the scale-out and the rollout to converge after the restart"
        )
    except AssertionError:
        counters = {name: await asyncio.to_thread(bosun_counters, svc) for name, svc in running.items()}
        configmaps, _ = await kube.list(
            "v1",
            "ConfigMap",
            "default",
            label_selector=f"kro.run/resource-graph-definition-name=roll-{unique}",
        )
        raise AssertionError(
            f"not converged: {seen}, {len(configmaps)} ConfigMaps, counters {counters}"
        ) from None
    took = time.monotonic() - started
    print(
        f"\nNATS down {restarted - killed:.1f}s; converged {took:.1f}s after the start "
        f"({time.monotonic() - restarted:.1f}s after the restart)"
    )

    configmaps, _ = await kube.list(
        "v1", "ConfigMap", "default", label_selector=f"kro.run/resource-graph-definition-name=roll-{unique}"
    )
    assert sorted(c["metadata"]["name"] for c in configmaps) == sorted(names)  # one child each, none lost
    selector = f"karpenter.sh/nodepool=nats-{unique}"

    async def one_busy_node_per_claim() -> bool:
        claims, _ = await kube.list("karpenter.sh/v1", "NodeClaim", label_selector=selector)
        nodes, _ = await kube.list("v1", "Node", label_selector=selector)
        pods, _ = await kube.list("v1", "Pod", "default", label_selector=f"app=nats-{unique}")
        named = sorted((c.get("status") or {}).get("nodeName") or "" for c in claims)
        node_names = sorted(n["metadata"]["name"] for n in nodes)
        return named == node_names and {p["spec"].get("nodeName") for p in pods} == set(node_names)

    # A claim deleted during the outage has its instance (and node) terminated by name, and a
    # node a split batch left without pods is consolidated away (emptiness).
    await until(one_busy_node_per_claim, timeout=90, what="one node per NodeClaim, every node holding pods")
    # The outage may split the batch into more, smaller NodeClaims; duplicates would show as
    # nodes holding nothing (waited out above) or as a cost well above the prediction.
    cost, count = await hourly_cost(kube, f"nats-{unique}")
    assert cost <= prediction["totalPrice"] * 1.5, (cost, prediction["totalPrice"], count)
