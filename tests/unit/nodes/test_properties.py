"""Property tests: no overcommit, every placement satisfies every required constraint, determinism."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bosun_common.catalog import fits
from node_planner.provisioning.scheduler import Scheduler, SchedulingResult
from node_planner.scheduling.objects import Pod
from tests.unit.nodes.builders import ladder, nodepool, pod

ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"
CATALOG = {it.name: it for it in ladder()}


@st.composite
def pod_specs(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 25))
    specs = []
    for i in range(count):
        spec: dict[str, Any] = {
            "name": f"p{i}",
            "cpu": draw(st.sampled_from(["100m", "500m", "1", "1500m", "3", "7"])),
            "memory": draw(st.sampled_from(["128Mi", "1Gi", "3Gi", "6Gi"])),
            "labels": {"app": draw(st.sampled_from(["a", "b", "c"]))},
        }
        kind = draw(st.sampled_from(["plain", "zone", "arch", "anti", "spread", "taint"]))
        if kind == "zone":
            spec["nodeSelector"] = {ZONE: draw(st.sampled_from(["zone-a", "zone-b", "zone-c"]))}
        elif kind == "arch":
            spec["nodeSelector"] = {"kubernetes.io/arch": draw(st.sampled_from(["amd64", "arm64"]))}
        elif kind == "anti":
            spec["affinity"] = {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"topologyKey": HOSTNAME, "labelSelector": {"matchLabels": spec["labels"]}}
                    ]
                }
            }
        elif kind == "spread":
            spec["topologySpreadConstraints"] = [
                {
                    "maxSkew": 1,
                    "topologyKey": ZONE,
                    "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": spec["labels"]},
                }
            ]
        elif kind == "taint":
            spec["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
        specs.append(spec)
    return specs


def schedule(specs: list[dict[str, Any]], improve_packing: bool = True) -> tuple[list[Pod], SchedulingResult]:
    pods = [pod(**spec) for spec in specs]
    pools = [
        nodepool("general"),
        nodepool("dedicated", weight=10, taints=[{"key": "dedicated", "effect": "NoSchedule"}]),
    ]
    scheduler = Scheduler(pools, list(CATALOG.values()), pending_pods=pods, improve_packing=improve_packing)
    return pods, scheduler.solve(pods)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pod_specs(), st.booleans())
def test_no_overcommit_and_every_placement_satisfies_its_constraints(
    specs: list[dict[str, Any]], repack: bool
) -> None:
    pods, result = schedule(specs, improve_packing=repack)
    placed = [p.key for claim in result.new_claims for p in claim.pods]
    assert len(placed) == len(set(placed))
    assert sorted(placed + list(result.unschedulable)) == sorted(p.key for p in pods)
    spread_counts: Counter[tuple[str, str]] = Counter()
    for claim in result.new_claims:
        launched = CATALOG[claim.launch.instance_type]
        total: dict[str, int] = {}
        for p in claim.pods:
            for name, value in p.requests.items():
                total[name] = total.get(name, 0) + value
        assert fits(total, launched.allocatable()), "the launched type must hold every pod on the claim"
        for name in claim.instance_types:
            assert fits(total, CATALOG[name].allocatable()), "every option must hold every pod"
        labels = {
            **launched.all_labels(),
            ZONE: claim.launch.zone,
            "karpenter.sh/capacity-type": claim.launch.capacity_type,
        }
        for p in claim.pods:
            for key, requirement in p.node_requirements().items():
                assert requirement.has(labels[key]), f"{p.key} requires {requirement.describe()}"
            if claim.nodepool == "dedicated":
                assert p.tolerations, "only pods tolerating the taint land on the tainted pool"
            for term in p.anti_affinity:
                assert sum(1 for q in claim.pods if term.selector.matches(q.labels)) == 1
            if p.spread:
                spread_counts[(p.labels["app"], claim.launch.zone)] += 1
    for app in ("a", "b", "c"):
        spreaders = [p for p in pods if p.spread and p.labels["app"] == app and p.key in placed]
        if spreaders and not any(p.labels["app"] == app and not p.spread for p in pods):
            counts = [spread_counts[(app, zone)] for zone in ("zone-a", "zone-b", "zone-c")]
            assert max(counts) - min(counts) <= 1


@settings(max_examples=25, deadline=None)
@given(pod_specs())
def test_same_input_same_output(specs: list[dict[str, Any]]) -> None:
    def outcome(result: SchedulingResult) -> Any:
        return (
            [
                (c.nodepool, c.instance_types, c.launch, sorted(p.key for p in c.pods))
                for c in result.new_claims
            ],
            sorted(result.unschedulable.items()),
        )

    assert outcome(schedule(specs)[1]) == outcome(schedule(list(reversed(specs)))[1])


@st.composite
def clusters(draw: st.DrawFn) -> tuple[list[Any], list[Pod]]:
    from tests.unit.nodes.builders import node

    sizes = {"small": ("2", "4Gi"), "medium": ("4", "8Gi"), "large": ("8", "16Gi"), "xlarge": ("16", "32Gi")}
    nodes, pods = [], []
    for i in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(sorted(sizes)))
        cpu, memory = sizes[kind]
        nodes.append(
            node(
                f"n{i}",
                instance=kind,
                cpu=cpu,
                memory=memory,
                zone=draw(st.sampled_from(["zone-a", "zone-b"])),
                annotations={"karpenter.sh/do-not-disrupt": "true"} if draw(st.booleans()) and i == 0 else {},
            )
        )
        free = int(cpu) * 1000
        for j in range(draw(st.integers(0, 4))):
            request = draw(st.sampled_from([250, 500, 1000, 1500]))
            if request > free:
                break
            free -= request
            pods.append(pod(f"p{i}-{j}", f"{request}m", "256Mi", node=f"n{i}"))
    return nodes, pods


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), st.sampled_from([0.0, 20.0]))
def test_disruption_commands_save_money_and_keep_every_pod(
    cluster_spec: tuple[list[Any], list[Pod]], threshold: float
) -> None:
    from datetime import UTC, datetime

    from node_planner.disruption.engine import DisruptionOptions, disrupt
    from node_planner.disruption.simulation import Cluster, simulate

    nodes, pods = cluster_spec
    cluster = Cluster(
        [nodepool(disruption={"budgets": [{"nodes": "100%"}]})], nodes, pods, list(CATALOG.values())
    )
    now = datetime(2026, 1, 10, tzinfo=UTC)
    result = disrupt(cluster, [], now, DisruptionOptions(min_price_improvement_percent=threshold))
    again = disrupt(cluster, [], now, DisruptionOptions(min_price_improvement_percent=threshold))
    assert [(c.method, [x.name for x in c.candidates]) for c in result.commands] == [
        (c.method, [x.name for x in c.candidates]) for c in again.commands
    ]
    for command in result.commands:
        assert all(c.blocked is None for c in command.candidates)
        assert not any(c.node.do_not_disrupt() for c in command.candidates)
        if command.method.endswith("consolidation"):
            assert len(command.replacements) <= 1
            assert command.savings() > 0
            if command.replacements:
                total = sum(c.price for c in command.candidates)
                assert command.replacements[0].launch.price <= total * (1 - threshold / 100) + 1e-9
            replacements, error = simulate(cluster, command.candidates)
            assert error is None and len(replacements) == len(command.replacements)
