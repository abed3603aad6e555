"""End to end, Karpenter side: the informer, node-planner, k8s-actuator and cloud-actuator (sim)
as separate processes. A Deployment that cannot schedule gets NodeClaims, nodes join, and
kube-scheduler binds every pod; the instance types and zones are what `bosun nodes simulate`
predicts for the same input. Scaled down, consolidation cuts the cost within the budget."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bosun_common.bus import Bus
from bosun_common.kube import KubeClient
from bosun_common.messages import Outcome
from tests.integration.conftest import ServiceProcess, stream_messages
from tests.integration.e2e.test_kro_webapp import until

NODECLASS = {
    "apiVersion": "karpenter.kwok.sh/v1alpha1",
    "kind": "KWOKNodeClass",
    "metadata": {"name": "default"},
}


def nodepool(name: str, team: str) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "metadata": {"labels": {"team": team}},
                "spec": {
                    "nodeClassRef": {
                        "group": "karpenter.kwok.sh",
                        "kind": "KWOKNodeClass",
                        "name": "default",
                    },
                    "requirements": [
                        {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                        {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                    ],
                },
            },
            "disruption": {
                "consolidationPolicy": "WhenEmptyOrUnderutilized",
                "consolidateAfter": "0s",
                "budgets": [{"nodes": "20%"}],
            },
        },
    }


def deployment(name: str, team: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": {"team": team},
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx",
                            "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}},
                        }
                    ],
                },
            },
        },
    }


def predicted(tmp_path: Path, pool: dict[str, Any], workload: dict[str, Any]) -> dict[str, Any]:
    (tmp_path / "pool.yaml").write_text(yaml.safe_dump(pool))
    (tmp_path / "pods.yaml").write_text(yaml.safe_dump(workload))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bosun_cli",
            "nodes",
            "simulate",
            "--nodepool",
            str(tmp_path / "pool.yaml"),
            "--pods",
            str(tmp_path / "pods.yaml"),
            "--catalog",
            "kwok",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout))


async def hourly_cost(kube: KubeClient, pool: str) -> tuple[float, int]:
    """The pool's $/h (from the kwok catalog's prices) and its node count."""
    from cloud_actuator.catalogs import builtin_catalog

    prices = {
        (it.name, o.zone, o.capacityType): o.price
        for it in builtin_catalog("kwok").instanceTypes
        for o in it.offerings
    }
    nodes, _ = await kube.list("v1", "Node", label_selector=f"karpenter.sh/nodepool={pool}")
    total = 0.0
    for node in nodes:
        labels = node["metadata"]["labels"]
        total += prices[
            (
                labels["node.kubernetes.io/instance-type"],
                labels["topology.kubernetes.io/zone"],
                labels["karpenter.sh/capacity-type"],
            )
        ]
    return total, len(nodes)


async def evictions(bus: Bus) -> list[dict[str, Any]]:
    """Every eviction the k8s-actuator reports for the node-planner's plans."""
    found: list[dict[str, Any]] = []
    for outcome, _ in await stream_messages(bus, "outcomes.k8s.node-planner.>", "OUTCOMES"):
        if isinstance(outcome, Outcome):
            found += [r for r in outcome.results if r.get("op") == "evict"]
    return found


async def test_scale_out_as_simulated_then_consolidate_within_budget(
    bus: Bus,
    kube: KubeClient,
    crds: list[str],
    services: Callable[..., ServiceProcess],
    unique: str,
    tmp_path: Path,
) -> None:
    team = f"t{unique}"
    pool, workload = nodepool(f"pool-{unique}", team), deployment(f"scale-{unique}", team, 200)
    prediction = predicted(tmp_path, pool, workload)
    assert not prediction["unschedulable"]

    for name in ("informer", "k8s_actuator", "cloud_actuator", "node_planner"):
        services(name)
    await kube.apply(NODECLASS, field_manager="kubectl")
    await kube.apply(pool, field_manager="kubectl")
    await kube.apply(workload, field_manager="kubectl")

    async def all_running() -> bool:
        pods, _ = await kube.list("v1", "Pod", "default", label_selector=f"app=scale-{unique}")
        return len(pods) == 200 and all(p.get("status", {}).get("phase") == "Running" for p in pods)

    await until(all_running, timeout=240, what="all 200 pods to be bound and running")
    claims, _ = await kube.list(
        "karpenter.sh/v1", "NodeClaim", label_selector=f"karpenter.sh/nodepool=pool-{unique}"
    )
    nodes, _ = await kube.list("v1", "Node", label_selector=f"karpenter.sh/nodepool=pool-{unique}")
    assert len(claims) == len(nodes)
    assert all(
        {c["type"]: c["status"] for c in claim["status"]["conditions"]}.get("Initialized") == "True"
        for claim in claims
    )
    got = Counter(
        (
            n["metadata"]["labels"]["node.kubernetes.io/instance-type"],
            n["metadata"]["labels"]["topology.kubernetes.io/zone"],
        )
        for n in nodes
    )
    want = Counter((c["launch"]["instanceType"], c["launch"]["zone"]) for c in prediction["nodeclaims"])
    assert got == want, (got, want)
    for node in nodes:
        taints = {t["key"] for t in node["spec"].get("taints", [])}
        assert "karpenter.sh/unregistered" not in taints
        assert node["metadata"]["labels"]["team"] == team

    # Scale in: consolidation removes or replaces nodes, at most 20% of the pool's nodes at a time
    # (rounded up), and the pods move through the Eviction API.
    before, count_before = await hourly_cost(kube, f"pool-{unique}")
    scaled = deployment(f"scale-{unique}", team, 20)
    await kube.apply(scaled, field_manager="kubectl")
    allowed = -(-count_before * 20 // 100)
    worst = 0

    async def consolidated() -> bool:
        nonlocal worst
        claims, _ = await kube.list(
            "karpenter.sh/v1", "NodeClaim", label_selector=f"karpenter.sh/nodepool=pool-{unique}"
        )
        disrupting = [c for c in claims if c["metadata"].get("deletionTimestamp")]
        worst = max(worst, len(disrupting))
        cost, _ = await hourly_cost(kube, f"pool-{unique}")
        pods, _ = await kube.list("v1", "Pod", "default", label_selector=f"app=scale-{unique}")
        running = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
        return not disrupting and cost < before / 2 and len(running) == 20

    await until(consolidated, timeout=240, what="consolidation to cut the pool's cost")
    after, _ = await hourly_cost(kube, f"pool-{unique}")
    assert after < before / 2, (before, after)
    assert worst <= allowed, (worst, allowed)
    evicted = await evictions(bus)
    assert any(r.get("detail") == "evicted" for r in evicted), evicted
