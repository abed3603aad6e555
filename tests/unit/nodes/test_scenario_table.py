"""One table of provisioning scenarios: for each rule, the expected nodes (type, zone), and reasons.

Catalog: `ladder()` in zones a/b/c, on-demand only: small (2 vCPU, 4Gi, $0.10), medium
(4, 8Gi, $0.20), large (8, 16Gi, $0.40), xlarge (16, 32Gi, $0.80), arm-medium (arm64 4, 8Gi,
$0.16). Each row runs Karpenter-exact (no re-packing), so it states what Karpenter decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from bosun_common.karpenter import NodePool
from node_planner.provisioning.scheduler import Scheduler
from node_planner.scheduling.objects import Pod
from tests.unit.nodes.builders import ladder, nodepool, pod

ZONE = "topology.kubernetes.io/zone"
HOST = "kubernetes.io/hostname"
AMD64 = {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}


def spread(key: str, app: str, skew: int = 1) -> dict[str, Any]:
    return {
        "topologySpreadConstraints": [
            {
                "maxSkew": skew,
                "topologyKey": key,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": app}},
            }
        ]
    }


def anti(key: str, app: str) -> dict[str, Any]:
    return {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": key, "labelSelector": {"matchLabels": {"app": app}}}
                ]
            }
        }
    }


@dataclass
class Scenario:
    name: str
    pods: list[Pod]
    nodes: list[tuple[str, str]]  # (instance type, zone) of each new node, sorted
    pools: list[NodePool] = field(default_factory=lambda: [nodepool(requirements=[AMD64])])
    reasons: dict[str, str] = field(default_factory=dict)  # pod -> substring of its reason


SCENARIOS = [
    Scenario("cheapest type that fits", [pod("a", "3", "2Gi")], [("medium", "zone-a")]),
    Scenario("pods pack onto one node", [pod(f"p{i}", "1", "1Gi") for i in range(6)], [("large", "zone-a")]),
    Scenario(
        "any architecture when the pool allows it",
        [pod("a", "3", "2Gi")],
        [("arm-medium", "zone-a")],
        pools=[nodepool()],
    ),
    Scenario("node selector on zone", [pod("a", nodeSelector={ZONE: "zone-b"})], [("small", "zone-b")]),
    Scenario(
        "beta zone label",
        [pod("a", nodeSelector={"failure-domain.beta.kubernetes.io/zone": "zone-c"})],
        [("small", "zone-c")],
    ),
    Scenario(
        "NotIn zones",
        [
            pod(
                "a",
                affinity={
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": ZONE, "operator": "NotIn", "values": ["zone-a", "zone-b"]}
                                    ]
                                }
                            ]
                        }
                    }
                },
            )
        ],
        [("small", "zone-c")],
    ),
    Scenario(
        "zonal spread",
        [pod(f"w{i}", "1", labels={"app": "w"}, **spread(ZONE, "w")) for i in range(3)],
        [("small", "zone-a"), ("small", "zone-b"), ("small", "zone-c")],
    ),
    Scenario(
        "hostname spread maxSkew 1",
        [pod(f"w{i}", "500m", labels={"app": "w"}, **spread(HOST, "w")) for i in range(3)],
        [("small", "zone-a")] * 3,
    ),
    Scenario(
        "hostname anti-affinity",
        [pod(f"d{i}", "500m", labels={"app": "d"}, **anti(HOST, "d")) for i in range(3)],
        [("small", "zone-a")] * 3,
    ),
    Scenario(
        "zonal anti-affinity: one pod per zone",
        [
            pod(f"d{i}", "500m", labels={"app": "d"}, nodeSelector={ZONE: z}, **anti(ZONE, "d"))
            for i, z in enumerate(["zone-a", "zone-b", "zone-c", "zone-a"])
        ],
        [("small", "zone-a"), ("small", "zone-b"), ("small", "zone-c")],
        reasons={"default/d3": "unsatisfiable pod anti-affinity on topology.kubernetes.io/zone"},
    ),
    Scenario(
        "taint not tolerated",
        [pod("a")],
        [],
        pools=[nodepool(requirements=[AMD64], taints=[{"key": "gpu", "effect": "NoSchedule"}])],
        reasons={"default/a": "did not tolerate taint gpu:NoSchedule"},
    ),
    Scenario(
        "too big for any type", [pod("a", "20")], [], reasons={"default/a": "no instance type has enough cpu"}
    ),
    Scenario(
        "requirement no type satisfies",
        [pod("a", nodeSelector={"kubernetes.io/arch": "s390x"})],
        [],
        reasons={"default/a": "kubernetes.io/arch"},
    ),
    Scenario(
        "custom label not defined",
        [pod("a", nodeSelector={"team": "ml"})],
        [],
        reasons={"default/a": "label 'team' does not have known values"},
    ),
    Scenario(
        "cpu limit",
        [pod("a", "3"), pod("b", "3", **anti(HOST, "x"), labels={"app": "x"})],
        [("medium", "zone-a")],
        pools=[nodepool(requirements=[AMD64], limits={"cpu": "6"})],
        reasons={"default/b": "limits of nodepool 'default'"},
    ),
    Scenario(
        "weight picks the pool",
        [pod("a")],
        [("small", "zone-b")],
        pools=[
            nodepool("light", requirements=[AMD64]),
            nodepool(
                "heavy", requirements=[AMD64, {"key": ZONE, "operator": "In", "values": ["zone-b"]}], weight=9
            ),
        ],
    ),
    Scenario(
        "preferred zone honoured",
        [
            pod(
                "a",
                affinity={
                    "nodeAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 1,
                                "preference": {
                                    "matchExpressions": [
                                        {"key": ZONE, "operator": "In", "values": ["zone-c"]}
                                    ]
                                },
                            }
                        ]
                    }
                },
            )
        ],
        [("small", "zone-c")],
    ),
    Scenario(
        "Gte on a numeric label",
        [pod("a", "1")],
        [("large", "zone-a")],
        pools=[
            nodepool(requirements=[AMD64, {"key": "example.com/size", "operator": "Gte", "values": ["8"]}])
        ],
    ),
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(scenario: Scenario) -> None:
    types = ladder()
    if scenario.name.startswith("Gte"):
        types = [
            t.model_copy(update={"labels": {**t.labels, "example.com/size": t.capacity["cpu"]}})
            for t in types
        ]
    scheduler = Scheduler(
        scenario.pools, types, pending_pods=scenario.pods, improve_packing=False, reachable_domains_only=False
    )
    result = scheduler.solve(scenario.pods)
    assert sorted((c.launch.instance_type, c.launch.zone) for c in result.new_claims) == sorted(
        scenario.nodes
    )
    assert set(result.unschedulable) == set(scenario.reasons)
    for pod_key, reason in scenario.reasons.items():
        assert reason in result.unschedulable[pod_key]
