"""The node-planner waits 15 s before acting on an emptiness or consolidation decision and checks it
again, as Karpenter does: a node that gets a pod meanwhile is kept. Driven through the controller with
an injected clock (no I/O)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bosun_common.catalog import Catalog
from node_planner.shell.controller import NODE, NODEPOOL, POD, NodePlanner, Plans
from tests.unit.nodes.builders import ladder, nodepool_manifest

NOW = dt.datetime(2027, 1, 1, 12, 0, tzinfo=dt.UTC)


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def empty_node_planner() -> tuple[NodePlanner, Ticks]:
    ticks = Ticks()
    planner = NodePlanner(clock=lambda: NOW, monotonic=ticks)
    planner.catalog = Catalog(name="test", instanceTypes=ladder())
    planner.on_change(
        NODEPOOL,
        "default",
        nodepool_manifest(
            disruption={"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "0s"}
        ),
    )
    planner.on_change(
        NODE,
        "n1",
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": "n1",
                "creationTimestamp": (NOW - dt.timedelta(hours=1)).isoformat(),
                "labels": {
                    "karpenter.sh/nodepool": "default",
                    "karpenter.sh/initialized": "true",
                    "node.kubernetes.io/instance-type": "small",
                    "topology.kubernetes.io/zone": "zone-a",
                    "karpenter.sh/capacity-type": "on-demand",
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/os": "linux",
                },
            },
            "spec": {"providerID": "kwok://n1"},
            "status": {
                "conditions": [{"type": "Ready", "status": "True"}],
                "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
            },
        },
    )
    return planner, ticks


def disrupted(plans: Plans) -> list[str]:
    return [p.key for p in plans.kube if p.key.startswith("disrupt/")]


def test_an_empty_node_is_removed_only_after_the_wait() -> None:
    planner, ticks = empty_node_planner()
    assert disrupted(planner.step()) == []
    assert [p.command.reason for p in planner.validating] == ["Empty"]
    assert "validating for 15 s" in planner.decisions[-1]
    ticks.now += 14.0
    assert disrupted(planner.step()) == [], "not before 15 s"
    ticks.now += 1.5
    assert disrupted(planner.step()) == ["disrupt/n1"]
    assert planner.validating == []


def test_a_node_that_got_a_pod_during_the_wait_is_kept() -> None:
    planner, ticks = empty_node_planner()
    planner.step()
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "late", "namespace": "default", "uid": "u-late"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "resources": {"requests": {"cpu": "100m"}}}]},
        "status": {"phase": "Running"},
    }
    planner.on_change(POD, "default/late", pod)
    ticks.now += 16.0
    assert disrupted(planner.step()) == []
    assert planner.validating == []
    assert any("abandoned after validation" in d and "n1 now run pods" in d for d in planner.decisions)
