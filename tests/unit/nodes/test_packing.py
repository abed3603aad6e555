"""Bosun's re-packing pass: cheaper nodes for the same pods, never at the cost of a constraint."""

from __future__ import annotations

from collections import Counter

import pytest

import node_planner.provisioning.scheduler as scheduler_module
from node_planner.provisioning.scheduler import Scheduler, SchedulingResult
from node_planner.scheduling.objects import Pod
from tests.unit.nodes.builders import ladder, nodepool, pod

ZONE = "topology.kubernetes.io/zone"
AMD64 = [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]


def solve(pods: list[Pod], exact: bool, **pool: object) -> SchedulingResult:
    return Scheduler(
        [nodepool(requirements=AMD64, **pool)], ladder(), pending_pods=pods, improve_packing=not exact
    ).solve(pods)


def test_one_big_claim_becomes_cheaper_smaller_nodes() -> None:
    pods = [pod(f"p{i}", "950m", "512Mi") for i in range(10)]  # 9.5 vCPU
    exact = solve(pods, exact=True)
    assert [c.launch.instance_type for c in exact.new_claims] == ["xlarge"]
    better = solve(pods, exact=False)
    assert sorted(c.launch.instance_type for c in better.new_claims) == ["large", "small"]
    assert better.total_price() < exact.total_price()
    assert sorted(p.key for c in better.new_claims for p in c.pods) == sorted(p.key for p in pods)
    for claim in better.new_claims:
        assert all(
            len(claim.pods) * 950 <= {"small": 2000, "medium": 4000, "large": 8000, "xlarge": 16000}[t]
            for t in claim.instance_types
        )


def test_nothing_changes_when_nothing_is_cheaper() -> None:
    pods = [pod(f"p{i}", "1", "1Gi") for i in range(8)]  # exactly one "large"
    assert [c.launch.instance_type for c in solve(pods, exact=False).new_claims] == ["large"]


def test_nodepool_limits_bound_re_packing() -> None:
    pods = [pod(f"p{i}", "950m", "512Mi") for i in range(10)]
    roomy = solve(pods, exact=False, limits={"cpu": "100"})
    assert sorted(c.launch.instance_type for c in roomy.new_claims) == ["large", "small"]
    one_node = solve(pods, exact=False, limits={"nodes": "1"})
    assert [c.launch.instance_type for c in one_node.new_claims] == ["xlarge"]


def test_pods_other_constraints_look_at_stay_on_their_claims() -> None:
    labels = {"app": "web"}
    spread = {
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": ZONE,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": labels},
            }
        ]
    }
    pods = [pod(f"w{i}", "950m", "512Mi", labels=labels, **spread) for i in range(30)]
    exact = solve(pods, exact=True)
    better = solve(pods, exact=False)
    zones = Counter(c.launch.zone for c in better.new_claims for _ in c.pods)
    assert (
        zones
        == Counter(c.launch.zone for c in exact.new_claims for _ in c.pods)
        == {"zone-a": 10, "zone-b": 10, "zone-c": 10}
    )
    assert better.total_price() < exact.total_price()


def test_hostname_affinity_keeps_pods_together() -> None:
    labels = {"app": "pair"}
    together = {
        "affinity": {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": labels}}
                ]
            }
        }
    }
    pods = [pod(f"p{i}", "950m", "512Mi", labels=labels, **together) for i in range(10)]
    assert [c.launch.instance_type for c in solve(pods, exact=False).new_claims] == ["xlarge"]


def test_spare_room_next_to_anti_affinity_pods_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    labels = {"app": "ha"}
    anti = {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": labels}}
                ]
            }
        }
    }
    shapes = [("500m", "1Gi"), ("3", "1Gi"), ("2500m", "1Gi"), ("2500m", "1Gi")]
    pods = [pod(f"ha{i}", cpu, memory, labels=labels, **anti) for i, (cpu, memory) in enumerate(shapes)]
    pods += [pod("p0", "3", "1Gi"), pod("p1", "3", "1Gi"), pod("p2", "1", "1Gi"), pod("p3", "250m", "2Gi")]
    exact = solve(pods, exact=True)
    better = solve(pods, exact=False)
    assert better.total_price() < exact.total_price()
    assert sorted(p.key for c in better.new_claims for p in c.pods) == sorted(p.key for p in pods)
    for claim in better.new_claims:
        assert sum(1 for p in claim.pods if p.labels == labels) <= 1
    monkeypatch.setattr(scheduler_module, "absorb", lambda claims, movable, requests: claims)
    assert solve(pods, exact=False).total_price() > better.total_price()  # absorbing made the difference
