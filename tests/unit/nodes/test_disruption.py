"""Disruption scenarios: emptiness, drift, expiration, consolidation, budgets, blockers, explanations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from bosun_common.karpenter import NODEPOOL_HASH_VERSION, Budget, NodePool
from node_planner.disruption.candidates import budget_active, build_candidates, compute_budgets
from node_planner.disruption.engine import DisruptionOptions, DisruptionResult, disrupt, expiration
from node_planner.disruption.simulation import Cluster
from node_planner.scheduling.objects import Node, Pod, PodDisruptionBudget, daemonset_pod, parse_pdb
from tests.unit.nodes.builders import ladder, node, nodepool, pod

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def run(
    nodes: Sequence[Node],
    pods: Sequence[Pod],
    pools: Sequence[NodePool] | None = None,
    pdbs: Sequence[PodDisruptionBudget] = (),
    now: datetime = NOW,
    **options: Any,
) -> DisruptionResult:
    cluster = Cluster(list(pools or [nodepool()]), list(nodes), list(pods), ladder())
    return disrupt(cluster, list(pdbs), now, DisruptionOptions(**options))


def summary(result: DisruptionResult) -> list[tuple[str, str, list[str], list[str]]]:
    return [
        (
            c.method,
            c.decision,
            sorted(x.name for x in c.candidates),
            [r.launch.instance_type for r in c.replacements],
        )
        for c in result.commands
    ]


def daemon_on(node_name: str) -> Pod:
    daemon = daemonset_pod(
        {
            "metadata": {"name": "agent"},
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]}
                }
            },
        }
    )
    daemon.node_name = node_name
    daemon.name = f"agent-{node_name}"
    return daemon


def test_empty_nodes_are_deleted() -> None:
    result = run([node("n1"), node("n2")], [daemon_on("n1"), pod("busy", "7", node="n2")])
    assert summary(result) == [("emptiness", "delete", ["n1"], [])]
    assert result.commands[0].savings() == pytest.approx(0.40)
    assert "no pods other than DaemonSets" in result.commands[0].explanation


def test_empty_budget_limits_how_many_go_at_once() -> None:
    nodes = [node(f"n{i}") for i in range(3)]
    result = run(nodes, [], [nodepool(disruption={"budgets": [{"nodes": "1"}]})])
    assert len(result.commands[0].candidates) == 1
    assert sum("budget" in why for why in result.skipped.values()) == 2


def test_percent_budget_rounds_up() -> None:
    nodes = [node(f"n{i}") for i in range(3)]
    assert len(run(nodes, []).commands[0].candidates) == 1  # default 10% of 3 -> 1
    budgets = compute_budgets([nodepool(disruption={"budgets": [{"nodes": "34%"}]})], nodes, NOW)
    assert budgets.left("default", "Empty") == 2


def test_nodes_already_disrupting_use_up_the_budget() -> None:
    disrupting = node("n0", taints=[{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}])
    budgets = compute_budgets(
        [nodepool(disruption={"budgets": [{"nodes": "1"}]})], [disrupting, node("n1")], NOW
    )
    assert budgets.left("default", "Empty") == 0


@pytest.mark.parametrize(
    ("schedule", "duration", "hour", "active"),
    [
        ("0 9 * * *", "8h", 10, True),
        ("0 9 * * *", "8h", 18, False),
        ("@daily", "1h", 0, True),
        ("not a cron", "1h", 10, None),
    ],
)
def test_budget_schedules(schedule: str, duration: str, hour: int, active: bool | None) -> None:
    budget = Budget(nodes="0", schedule=schedule, duration=duration)
    assert budget_active(budget, NOW.replace(hour=hour, minute=30 if hour == 0 else 0)) is active


def test_scheduled_zero_budget_blocks_only_while_active_and_invalid_cron_blocks() -> None:
    pools = [
        nodepool(
            disruption={
                "budgets": [{"nodes": "100%"}, {"nodes": "0", "schedule": "0 9 * * *", "duration": "8h"}]
            }
        )
    ]
    assert not run([node("n1")], [], pools, now=NOW.replace(hour=10)).commands
    assert run([node("n1")], [], pools, now=NOW.replace(hour=20)).commands
    invalid = [nodepool(disruption={"budgets": [{"nodes": "5", "schedule": "61 * * * *", "duration": "1h"}]})]
    assert not run([node("n1")], [], invalid).commands


def test_budget_reasons_apply_only_to_their_reason() -> None:
    pools = [nodepool(disruption={"budgets": [{"nodes": "0", "reasons": ["Empty"]}, {"nodes": "100%"}]})]
    result = run(
        [node("n1"), node("n2", instance="xlarge", cpu="16", memory="32Gi")],
        [pod("p", "1", node="n2")],
        pools,
    )
    # emptiness is blocked for n1, but consolidation (Underutilized) may still take it, with n2
    assert summary(result) == [("multi-node-consolidation", "replace", ["n1", "n2"], ["small"])]
    assert "Empty budget" in result.skipped["n1"]


def test_drift_on_nodepool_hash() -> None:
    pool = nodepool()
    stale = node(
        "n1",
        annotations={
            "karpenter.sh/nodepool-hash": "123",
            "karpenter.sh/nodepool-hash-version": NODEPOOL_HASH_VERSION,
        },
    )
    fresh = node(
        "n2",
        annotations={
            "karpenter.sh/nodepool-hash": pool.hash(),
            "karpenter.sh/nodepool-hash-version": NODEPOOL_HASH_VERSION,
        },
    )
    pods = [pod("a", "7", node="n1"), pod("b", "7", node="n2")]
    result = run([stale, fresh], pods, [pool])
    assert summary(result) == [("drift", "replace", ["n1"], ["large"])]
    assert "template changed" in result.commands[0].explanation


def test_drift_on_requirements_and_missing_instance_type() -> None:
    pools = [
        nodepool(
            requirements=[{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]}]
        )
    ]
    result = run(
        [node("n1", capacity_type="spot"), node("n2", instance="gone")],
        [pod("a", "7", node="n1"), pod("b", "7", node="n2")],
        pools,
    )
    assert summary(result) == [("drift", "replace", ["n1"], ["large"])]
    assert "karpenter.sh/capacity-type=spot no longer satisfies" in result.commands[0].explanation
    only_gone = run([node("n2", instance="gone")], [pod("b", "7", node="n2")], pools)
    assert "instance type gone is no longer offered" in only_gone.commands[0].explanation


def test_expiration_is_forceful() -> None:
    pools = [nodepool(disruption={"budgets": [{"nodes": "0"}]})]
    cluster = Cluster(
        pools,
        [node("old", created="2025-12-01T00:00:00Z"), node("new", created="2026-01-09T00:00:00Z")],
        [pod("p", "7", node="old")],
        ladder(),
    )
    commands = expiration(cluster, NOW)
    assert [(c.method, [x.name for x in c.candidates]) for c in commands] == [("expiration", ["old"])]
    assert commands[0].replacements == []  # its pod fits on "new"
    alone = Cluster(pools, [cluster.nodes[0]], cluster.pods, ladder())
    assert expiration(alone, NOW)[0].replacements[0].launch.instance_type == "large"
    never = Cluster([nodepool(expireAfter="Never")], cluster.nodes, cluster.pods, ladder())
    assert expiration(never, NOW) == []


def test_single_node_delete_when_pods_fit_elsewhere() -> None:
    keep = node("keep", annotations={"karpenter.sh/do-not-disrupt": "true"})
    result = run([node("n1"), keep], [pod("a", "1", node="n1"), pod("b", "2", node="keep")])
    assert summary(result) == [("single-node-consolidation", "delete", ["n1"], [])]
    assert result.skipped["keep"] == "node has karpenter.sh/do-not-disrupt"


def test_single_node_replace_with_a_cheaper_type() -> None:
    result = run([node("n1")], [pod("a", "1", node="n1")])
    assert summary(result) == [("single-node-consolidation", "replace", ["n1"], ["small"])]
    command = result.commands[0]
    assert command.savings() == pytest.approx(0.30)
    assert "saving $0.3000/h" in command.explanation
    assert "large" not in command.replacements[0].instance_types  # only strictly cheaper options


def test_no_replacement_when_nothing_is_cheaper() -> None:
    result = run([node("n1", instance="small", cpu="2", memory="4Gi")], [pod("a", "1500m", node="n1")])
    assert result.commands == []
    assert result.skipped["n1"] == "no replacement is cheaper than $0.1000/h"


def test_minimum_price_improvement() -> None:
    nodes = [node("n1", instance="medium", cpu="4", memory="8Gi")]
    pods = [pod("a", "1500m", node="n1")]  # small costs 0.10 vs 0.20: 50% cheaper
    assert summary(run(nodes, pods, min_price_improvement_percent=40)) == [
        ("single-node-consolidation", "replace", ["n1"], ["small"])
    ]
    blocked = run(nodes, pods, min_price_improvement_percent=60)
    assert blocked.commands == []
    assert "by at least 60%" in blocked.skipped["n1"]


def test_spot_to_spot_needs_the_feature_and_fifteen_options() -> None:
    from bosun_common.catalog import InstanceType

    spot_types: list[InstanceType] = ladder(capacity_types=("spot",))
    cluster_nodes = [node("n1", instance="xlarge", capacity_type="spot", cpu="16", memory="32Gi")]
    pods = [pod("a", "1", node="n1")]
    cluster = Cluster([nodepool()], cluster_nodes, pods, spot_types)
    disabled = disrupt(cluster, [], NOW)
    assert "spot-to-spot consolidation is disabled" in disabled.skipped["n1"]
    enabled = disrupt(cluster, [], NOW, DisruptionOptions(spot_to_spot=True))
    assert "at least 15 cheaper instance types" in enabled.skipped["n1"]


def test_do_not_disrupt_pod_and_pdb_block_candidates() -> None:
    pods = [
        pod("a", "1", node="n1", annotations={"karpenter.sh/do-not-disrupt": "true"}),
        pod("b", "1", labels={"app": "b"}, node="n2"),
    ]
    pdb = parse_pdb(
        {
            "metadata": {"name": "b", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "b"}}, "maxUnavailable": 0},
        }
    )
    result = run([node("n1"), node("n2")], pods, pdbs=[pdb])
    assert result.commands == []
    assert result.skipped == {
        "n1": "pod default/a has karpenter.sh/do-not-disrupt",
        "n2": "pod default/b is blocked by PDB default/b",
    }


def test_multi_node_consolidation_merges_nodes() -> None:
    nodes = [node(f"n{i}", instance="medium", cpu="4", memory="8Gi") for i in range(3)]
    pods = [pod(f"p{i}", "1", node=f"n{i}") for i in range(3)]
    result = run(nodes, pods, [nodepool(disruption={"budgets": [{"nodes": "100%"}]})])
    assert summary(result) == [("multi-node-consolidation", "replace", ["n0", "n1", "n2"], ["arm-medium"])]
    assert result.commands[0].savings() == pytest.approx(0.60 - 0.16)
    assert "binary search over 3 candidates" in result.commands[0].explanation


def test_consolidate_after_and_when_empty_policy() -> None:
    nodes = [node("n1", created="2026-01-10T11:59:00Z")]
    pods = [pod("a", "1", node="n1")]
    waiting = run(nodes, pods, [nodepool(disruption={"consolidateAfter": "10m"})])
    assert waiting.commands == [] and "not consolidatable yet" in waiting.skipped["n1"]
    empty_only = run([node("n1")], pods, [nodepool(disruption={"consolidationPolicy": "WhenEmpty"})])
    assert empty_only.commands == [] and "only when empty" in empty_only.skipped["n1"]


def test_disruption_cost_orders_candidates() -> None:
    nodes = [node("n1"), node("n2")]
    pods = [pod("cheap", "1", node="n1"), pod("precious", "1", node="n2", priority=1_000_000_000)]
    candidates, _ = build_candidates(
        nodes, pods, {"default": nodepool()}, [], {it.name: it for it in ladder()}, NOW
    )
    by_cost = sorted(candidates, key=lambda c: c.disruption_cost)
    assert [c.name for c in by_cost] == ["n1", "n2"]
    assert by_cost[1].disruption_cost > by_cost[0].disruption_cost


def test_revalidation_after_the_delay() -> None:
    from node_planner.disruption.validation import revalidate

    nodes = [node("n1")]
    cluster = Cluster([nodepool()], nodes, [pod("a", "1", node="n1")], ladder())
    [command] = disrupt(cluster, [], NOW).commands
    assert revalidate(command, cluster, [], NOW) is None
    busier = Cluster([nodepool()], nodes, [pod("a", "1", node="n1"), pod("b", "3", node="n1")], ladder())
    assert "replacement now costs" in (revalidate(command, busier, [], NOW) or "")
    blocked = Cluster(
        [nodepool()],
        nodes,
        [pod("a", "1", node="n1", annotations={"karpenter.sh/do-not-disrupt": "true"})],
        ladder(),
    )
    assert "do-not-disrupt" in (revalidate(command, blocked, [], NOW) or "")
    empty = Cluster([nodepool()], [node("e")], [], ladder())
    [emptiness] = disrupt(empty, [], NOW).commands
    now_busy = Cluster([nodepool()], [node("e")], [pod("x", "1", node="e")], ladder())
    assert revalidate(emptiness, now_busy, [], NOW) == "e now run pods"


def test_provider_drift_and_unknown_prices() -> None:
    cluster = Cluster(
        [nodepool()],
        [node("n1"), node("n2")],
        [pod("a", "7", node="n1"), pod("b", "7", node="n2")],
        ladder(),
        provider_drift={"n1": "AMI changed"},
    )
    result = disrupt(cluster, [], NOW)
    assert summary(result) == [("drift", "replace", ["n1"], ["large"])]
    assert result.commands[0].explanation == "the cloud provider reports drift: AMI changed"
    # a node whose type left the catalog has drifted; while drift is out of budget it is not consolidated either
    frozen = [nodepool(disruption={"budgets": [{"nodes": "0", "reasons": ["Drifted"]}, {"nodes": "100%"}]})]
    mystery = Cluster(
        frozen,
        [node("mystery", instance="not-in-catalog"), node("n2")],
        [pod("b", "1", node="mystery"), pod("c", "7", node="n2")],
        ladder(),
    )
    outcome = disrupt(mystery, [], NOW)
    assert all(c.name != "mystery" for command in outcome.commands for c in command.candidates)
    assert "price is unknown" in outcome.skipped["mystery"] or "Drifted budget" in outcome.skipped["mystery"]


def test_a_karpenter_hash_is_not_drift() -> None:
    written_by_karpenter = node(
        "n1",
        annotations={"karpenter.sh/nodepool-hash": "6543210", "karpenter.sh/nodepool-hash-version": "v3"},
    )
    result = run([written_by_karpenter, node("n2")], [pod("a", "7", node="n1"), pod("b", "7", node="n2")])
    assert result.commands == []


def test_pending_pods_keep_their_room_so_consolidation_does_not_churn() -> None:
    """A node that only looks half empty because the pods meant for it are still pending is
    not a place to move to (Karpenter schedules pending pods in the same simulation)."""
    nodes = [node("a", "small", cpu="2", memory="4Gi"), node("b", "large")]
    placed = [pod("on-a", "1", node="a"), pod("on-b", "4", node="b")]
    assert summary(run(nodes, placed)) == [("single-node-consolidation", "delete", ["a"], [])]
    landing = [pod(f"landing-{i}", "1") for i in range(4)]  # b's share of a scale-out, not bound yet
    result = run(nodes, [*placed, *landing])
    assert summary(result) == []  # moving a's pod would need a new small node: not cheaper
