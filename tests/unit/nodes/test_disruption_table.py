"""One table of disruption scenarios: the expected command (method, decision, nodes, replacement) or why not.

Catalog `ladder()` (on-demand): small 2 vCPU $0.10, medium 4 $0.20, large 8 $0.40, xlarge 16 $0.80,
arm-medium 4 $0.16. Nodes are `large` in zone-a unless a row says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from node_planner.disruption.engine import DisruptionOptions, disrupt
from node_planner.disruption.simulation import Cluster
from tests.unit.nodes.builders import ladder, node, nodepool, pod

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
ALL = {"budgets": [{"nodes": "100%"}]}
LARGE = {"instance": "large", "cpu": "8", "memory": "16Gi"}
MEDIUM = {"instance": "medium", "cpu": "4", "memory": "8Gi"}
SMALL = {"instance": "small", "cpu": "2", "memory": "4Gi"}
KEEP = {"annotations": {"karpenter.sh/do-not-disrupt": "true"}}


@dataclass
class Row:
    name: str
    nodes: dict[str, dict[str, Any]]  # node -> builder options
    pods: dict[str, list[str]]  # node -> cpu of each pod
    expected: (
        tuple[str, str, list[str], list[str]] | None
    )  # (method, decision, candidates, replacement types)
    pool: dict[str, Any] = field(default_factory=lambda: {"disruption": ALL})
    skipped: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


ROWS = [
    Row(
        "empty node is deleted",
        {"n1": LARGE, "n2": LARGE},
        {"n2": ["7"]},
        ("emptiness", "delete", ["n1"], []),
    ),
    Row(
        "empty budget 0 blocks emptiness",
        {"n1": LARGE, "n2": {**LARGE, **KEEP}},
        {"n2": ["7"]},
        None,
        pool={"disruption": {"budgets": [{"nodes": "0"}]}},
        skipped={"n1": "Empty budget"},
    ),
    Row(
        "delete when pods fit elsewhere",
        {"n1": LARGE, "n2": {**LARGE, **KEEP}},
        {"n1": ["1"], "n2": ["2"]},
        ("single-node-consolidation", "delete", ["n1"], []),
    ),
    Row(
        "replace with a cheaper type",
        {"n1": LARGE},
        {"n1": ["1"]},
        ("single-node-consolidation", "replace", ["n1"], ["small"]),
    ),
    Row(
        "nothing cheaper", {"n1": SMALL}, {"n1": ["1500m"]}, None, skipped={"n1": "no replacement is cheaper"}
    ),
    Row(
        "price improvement threshold",
        {"n1": MEDIUM},
        {"n1": ["1500m"]},
        None,
        skipped={"n1": "by at least 60%"},
        options={"min_price_improvement_percent": 60},
    ),
    Row(
        "multi-node merges three",
        {"n0": MEDIUM, "n1": MEDIUM, "n2": MEDIUM},
        {"n0": ["1"], "n1": ["1"], "n2": ["1"]},
        ("multi-node-consolidation", "replace", ["n0", "n1", "n2"], ["arm-medium"]),
    ),
    Row(
        "do-not-disrupt node",
        {"n1": {**LARGE, **KEEP}},
        {"n1": ["1"]},
        None,
        skipped={"n1": "node has karpenter.sh/do-not-disrupt"},
    ),
    Row(
        "WhenEmpty keeps busy nodes",
        {"n1": LARGE},
        {"n1": ["1"]},
        None,
        pool={"disruption": {**ALL, "consolidationPolicy": "WhenEmpty"}},
        skipped={"n1": "only when empty"},
    ),
    Row(
        "consolidateAfter Never",
        {"n1": LARGE},
        {"n1": ["1"]},
        None,
        pool={"disruption": {**ALL, "consolidateAfter": "Never"}},
        skipped={"n1": "not consolidatable yet"},
    ),
    Row(
        "drift on requirements",
        {"n1": {**LARGE, "capacity_type": "spot"}},
        {"n1": ["7"]},
        ("drift", "replace", ["n1"], ["large"]),
        pool={
            "disruption": ALL,
            "requirements": [
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]}
            ],
        },
    ),
    Row(
        "pods that cannot move block consolidation",
        {"n1": LARGE, "n2": {**SMALL, **KEEP}},
        {"n1": ["7"], "n2": ["1"]},
        None,
        skipped={"n1": "no replacement is cheaper"},
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_disruption_row(row: Row) -> None:
    nodes = [node(name, **options) for name, options in row.nodes.items()]
    pods = [
        pod(f"{name}-p{i}", cpu, "512Mi", node=name)
        for name, cpus in row.pods.items()
        for i, cpu in enumerate(cpus)
    ]
    result = disrupt(
        Cluster([nodepool(**row.pool)], nodes, pods, ladder()), [], NOW, DisruptionOptions(**row.options)
    )
    commands = [
        (
            c.method,
            c.decision,
            sorted(x.name for x in c.candidates),
            [r.launch.instance_type for r in c.replacements],
        )
        for c in result.commands
    ]
    assert commands == ([row.expected] if row.expected else [])
    for name, reason in row.skipped.items():
        assert reason in result.skipped[name]
    for command in result.commands:
        if command.method.endswith("consolidation") or command.method == "emptiness":
            assert command.savings() > 0
