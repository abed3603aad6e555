"""Scheduling scenarios: each states the expected nodes, zones, instance types and reasons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from bosun_common.catalog import InstanceType
from bosun_common.karpenter import NodePool
from node_planner.provisioning.instance_types import MAX_INSTANCE_TYPES
from node_planner.provisioning.scheduler import Scheduler, SchedulingResult, queue_order
from node_planner.scheduling.objects import Node, Pod, daemonset_pod
from tests.unit.nodes.builders import instance_type, ladder, node, nodepool, pod

ZONE = "topology.kubernetes.io/zone"
HOSTNAME = "kubernetes.io/hostname"


def solve(
    pods: Sequence[Pod],
    pools: Sequence[NodePool] | None = None,
    types: Sequence[InstanceType] | None = None,
    nodes: Sequence[Node] = (),
    bound: Sequence[Pod] = (),
    daemons: Sequence[Pod] = (),
    **options: Any,
) -> SchedulingResult:
    scheduler = Scheduler(
        pools or [nodepool()], list(types or ladder()), daemons, nodes, bound, pods, **options
    )
    return scheduler.solve(pods)


def launches(result: SchedulingResult) -> list[tuple[str, str]]:
    return sorted((c.launch.instance_type, c.launch.zone) for c in result.new_claims)


def spread(
    term_key: str, labels: dict[str, str], skew: int = 1, when: str = "DoNotSchedule", **extra: Any
) -> dict[str, Any]:
    return {
        "topologySpreadConstraints": [
            {
                "maxSkew": skew,
                "topologyKey": term_key,
                "whenUnsatisfiable": when,
                "labelSelector": {"matchLabels": labels},
                **extra,
            }
        ]
    }


def test_queue_order_is_cpu_then_memory_then_creation_then_uid() -> None:
    pods = [pod("a", "1", "1Gi"), pod("b", "2", "1Gi"), pod("c", "1", "2Gi"), pod("d", "1", "1Gi")]
    assert [p.name for p in sorted(pods, key=queue_order)] == ["b", "c", "a", "d"]


def test_pods_pack_onto_the_cheapest_type_that_fits_them_all() -> None:
    result = solve([pod(f"p{i}", "1", "1Gi") for i in range(3)])
    assert launches(result) == [("arm-medium", "zone-a")]  # the pool allows any architecture
    claim = result.new_claims[0]
    assert claim.instance_types == ["arm-medium", "medium", "large", "xlarge"]
    assert result.total_price() == 0.16
    amd64 = [nodepool(requirements=[{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}])]
    assert launches(solve([pod(f"p{i}", "1", "1Gi") for i in range(3)], amd64)) == [("medium", "zone-a")]


def test_options_are_sorted_by_cheapest_offering() -> None:
    pools = [
        nodepool(requirements=[{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}])
    ]
    result = solve([pod("p", "3", "1Gi")], pools)
    assert result.new_claims[0].instance_types == ["arm-medium", "medium", "large", "xlarge"]
    assert result.new_claims[0].launch.instance_type == "arm-medium"


def test_node_selector_picks_arm() -> None:
    result = solve([pod("p", "1", "1Gi", nodeSelector={"kubernetes.io/arch": "arm64"})])
    assert launches(result) == [("arm-medium", "zone-a")]
    assert result.new_claims[0].instance_types == ["arm-medium"]


def test_zone_selector_via_beta_label() -> None:
    result = solve([pod("p", nodeSelector={"failure-domain.beta.kubernetes.io/zone": "zone-c"})])
    assert launches(result) == [("small", "zone-c")]


def test_too_big_pod_gets_a_resource_reason() -> None:
    result = solve([pod("huge", "64", "1Gi")])
    assert not result.new_claims
    reason = result.unschedulable["default/huge"]
    assert "nodepool 'default'" in reason and "enough cpu" in reason and "cpu=64" in reason


def test_undefined_custom_label_reason() -> None:
    result = solve([pod("p", nodeSelector={"team": "ml"})])
    assert "label 'team' does not have known values" in result.unschedulable["default/p"]


def test_custom_label_defined_by_nodepool() -> None:
    pools = [nodepool(labels={"team": "ml"})]
    result = solve([pod("p", nodeSelector={"team": "ml"})], pools)
    assert launches(result) == [("small", "zone-a")]
    assert result.new_claims[0].requirements["team"].values == {"ml"}


def test_taints_block_until_tolerated() -> None:
    pools = [nodepool(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])]
    blocked = solve([pod("p")], pools)
    assert "did not tolerate taint dedicated=gpu:NoSchedule" in blocked.unschedulable["default/p"]
    tolerated = solve([pod("p", tolerations=[{"key": "dedicated", "operator": "Exists"}])], pools)
    assert launches(tolerated) == [("small", "zone-a")]


def test_startup_taints_need_not_be_tolerated() -> None:
    pools = [nodepool(startupTaints=[{"key": "init", "effect": "NoSchedule"}])]
    assert launches(solve([pod("p")], pools)) == [("small", "zone-a")]


def test_prefer_no_schedule_is_relaxed() -> None:
    pools = [nodepool(taints=[{"key": "soft", "effect": "PreferNoSchedule"}])]
    result = solve([pod("p")], pools)
    assert launches(result) == [("small", "zone-a")]
    assert result.relaxed["default/p"] == ["tolerated PreferNoSchedule taints"]


def test_weight_orders_nodepools() -> None:
    pools = [nodepool("low", weight=1), nodepool("high", weight=50), nodepool("none")]
    result = solve([pod("p")], pools)
    assert result.new_claims[0].nodepool == "high"


def test_limits_are_pessimistic_and_reported() -> None:
    pools = [nodepool(limits={"cpu": "6"})]
    result = solve([pod("a", "3", "1Gi"), pod("b", "3", "1Gi", nodeSelector={ZONE: "zone-b"})], pools)
    # the first claim may still grow to "large"/... so its largest option's cpu (limited to 6 -> medium 4) is subtracted
    assert len(result.new_claims) == 1
    assert "within the remaining limits of nodepool 'default'" in result.unschedulable["default/b"]
    tiny = solve([pod("a", "1", "1Gi")], [nodepool(limits={"cpu": "1"})])
    assert (
        "all available instance types exceed limits for nodepool 'default'" in tiny.unschedulable["default/a"]
    )


def test_node_count_limit() -> None:
    pools = [nodepool(limits={"nodes": "1"})]
    result = solve([pod("a", "1"), pod("b", "16", "1Gi")], pools)
    assert len(result.new_claims) == 1
    assert "node limit" in result.unschedulable["default/a"]  # b (16 cpu) is queued first


def test_existing_node_with_room_is_used_first() -> None:
    existing = node("n1", zone="zone-b")
    result = solve([pod("p", "2", "2Gi")], nodes=[existing], bound=[pod("old", "5", "10Gi", node="n1")])
    assert not result.new_claims
    assert [p.name for p in result.existing["n1"]] == ["p"]
    full = solve([pod("p", "4", "2Gi")], nodes=[existing], bound=[pod("old", "5", "10Gi", node="n1")])
    assert launches(full) == [("arm-medium", "zone-a")]


def test_inflight_claims_are_used_before_new_ones() -> None:
    inflight = node("claim-1", instance="medium", cpu="4", memory="8Gi")
    inflight.initialized = False
    result = solve([pod("p", "1")], nodes=[inflight, node("n0")])
    assert "n0" in result.existing  # initialized nodes first, then by name
    result = solve([pod("p", "1")], nodes=[inflight])
    assert list(result.existing) == ["claim-1"]


def test_daemonset_overhead_grows_the_node() -> None:
    daemon = daemonset_pod(
        {
            "metadata": {"name": "agent"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}
                        ]
                    }
                }
            },
        }
    )
    assert launches(solve([pod("p", "2", "1Gi")])) == [("small", "zone-a")]
    assert launches(solve([pod("p", "2", "1Gi")], daemons=[daemon])) == [("arm-medium", "zone-a")]


def test_daemonset_that_does_not_tolerate_the_taint_adds_no_overhead() -> None:
    pools = [nodepool(taints=[{"key": "dedicated", "effect": "NoSchedule"}])]
    daemon = daemonset_pod(
        {
            "metadata": {"name": "agent"},
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "500m"}}}]}
                }
            },
        }
    )
    result = solve([pod("p", "2", "1Gi", tolerations=[{"operator": "Exists"}])], pools, daemons=[daemon])
    assert launches(result) == [("small", "zone-a")]


def test_host_ports_conflict() -> None:
    ports = [{"containerPort": 80, "hostPort": 8080}]
    result = solve([pod("a", "500m", ports=ports), pod("b", "500m", ports=ports)])
    assert len(result.new_claims) == 2


def test_volume_limits_on_existing_nodes() -> None:
    existing = node("n1", extra_allocatable={"attachable-volumes-csi-ebs.csi.aws.com": "1"})
    volumes = [{"name": "v", "csi": {"driver": "ebs.csi.aws.com"}}]
    result = solve([pod("a", "500m", volumes=volumes), pod("b", "500m", volumes=volumes)], nodes=[existing])
    assert sum(len(p) for p in result.existing.values()) == 1
    assert len(result.new_claims) == 1


def test_zonal_spread_balances_zones() -> None:
    labels = {"app": "web"}
    pods = [pod(f"w{i}", "1", labels=labels, **spread(ZONE, labels)) for i in range(6)]
    result = solve(pods)
    zones = Counter(c.launch.zone for c in result.new_claims for _ in c.pods)
    assert zones == {"zone-a": 2, "zone-b": 2, "zone-c": 2}


def test_zonal_spread_with_max_skew_two_and_a_zone_restricted_pool() -> None:
    labels = {"app": "web"}
    pools = [nodepool(requirements=[{"key": ZONE, "operator": "In", "values": ["zone-a", "zone-b"]}])]
    pods = [pod(f"w{i}", "1", labels=labels, **spread(ZONE, labels, skew=2)) for i in range(4)]
    zones = Counter(c.launch.zone for c in solve(pods, pools).new_claims for _ in c.pods)
    assert set(zones) <= {"zone-a", "zone-b"} and sum(zones.values()) == 4
    assert abs(zones["zone-a"] - zones["zone-b"]) <= 2


def test_spread_counts_existing_pods() -> None:
    labels = {"app": "web"}
    existing = [node("n1", zone="zone-a"), node("n2", zone="zone-b")]
    bound = [pod("old1", "7", labels=labels, node="n1"), pod("old2", "7", labels=labels, node="n2")]
    result = solve([pod("new", "1", labels=labels, **spread(ZONE, labels))], nodes=existing, bound=bound)
    assert launches(result) == [("small", "zone-c")]


def test_min_domains_forces_zero_minimum() -> None:
    labels = {"app": "web"}
    pools = [nodepool(requirements=[{"key": ZONE, "operator": "In", "values": ["zone-a"]}])]
    pods = [pod(f"w{i}", "1", labels=labels, **spread(ZONE, labels, minDomains=3)) for i in range(2)]
    result = solve(pods, pools)
    assert len([p for c in result.new_claims for p in c.pods]) == 1
    assert "unsatisfiable topology spread" in next(iter(result.unschedulable.values()))


def test_match_label_keys_split_spread_groups() -> None:
    pods = []
    for version in ("v1", "v2"):
        labels = {"app": "web", "version": version}
        pods += [
            pod(
                f"{version}-{i}",
                "1",
                labels=labels,
                **spread(ZONE, {"app": "web"}, matchLabelKeys=["version"]),
            )
            for i in range(3)
        ]
    zones = Counter((c.launch.zone, p.labels["version"]) for c in solve(pods).new_claims for p in c.pods)
    assert all(count == 1 for count in zones.values()) and len(zones) == 6


def test_hostname_spread() -> None:
    labels = {"app": "web"}
    pods = [pod(f"w{i}", "500m", labels=labels, **spread(HOSTNAME, labels, skew=2)) for i in range(6)]
    result = solve(pods)
    assert sorted(len(c.pods) for c in result.new_claims) == [2, 2, 2]


def test_hostname_anti_affinity_gives_one_node_per_pod() -> None:
    labels = {"app": "db"}
    anti = {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": HOSTNAME, "labelSelector": {"matchLabels": labels}}
                ]
            }
        }
    }
    result = solve([pod(f"db{i}", "500m", labels=labels, **anti) for i in range(4)] + [pod("other", "500m")])
    assert sorted(len(c.pods) for c in result.new_claims) == [1, 1, 1, 2]


def test_inverse_anti_affinity_keeps_others_away_from_an_existing_pod() -> None:
    anti = {
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": HOSTNAME, "labelSelector": {"matchLabels": {"app": "web"}}}
                ]
            }
        }
    }
    existing = node("n1")
    bound = [pod("loner", "1", labels={"app": "loner"}, node="n1", **anti)]
    result = solve(
        [pod("w", "1", labels={"app": "web"}), pod("x", "1", labels={"app": "x"})],
        nodes=[existing],
        bound=bound,
    )
    assert [p.name for p in result.existing["n1"]] == ["x"]
    assert len(result.new_claims) == 1 and result.new_claims[0].pods[0].name == "w"


def test_zonal_pod_affinity_follows_the_target() -> None:
    existing = node("n1", zone="zone-b")
    bound = [pod("cache", "7", labels={"app": "cache"}, node="n1")]
    affinity = {
        "affinity": {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "cache"}}}
                ]
            }
        }
    }
    result = solve([pod(f"c{i}", "1", **affinity) for i in range(3)], nodes=[existing], bound=bound)
    assert {c.launch.zone for c in result.new_claims} == {"zone-b"}


def test_self_affinity_bootstraps_and_unmatched_affinity_waits_for_its_target() -> None:
    affinity = {
        "affinity": {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": ZONE, "labelSelector": {"matchLabels": {"app": "a"}}}
                ]
            }
        }
    }
    follower = pod("follower", "2", labels={"app": "b"}, **affinity)  # larger: tried first, fails, retried
    leader = pod("leader", "1", labels={"app": "a"}, **affinity)
    result = solve([follower, leader])
    assert not result.unschedulable
    assert len({c.launch.zone for c in result.new_claims}) == 1
    lonely = solve([pod("lonely", labels={"app": "b"}, **affinity)])
    assert "unsatisfiable pod affinity" in lonely.unschedulable["default/lonely"]


def test_preferred_node_affinity_is_relaxed_when_impossible() -> None:
    preferred = {
        "affinity": {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 10,
                        "preference": {
                            "matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone-z"]}]
                        },
                    },
                    {
                        "weight": 5,
                        "preference": {
                            "matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone-c"]}]
                        },
                    },
                ]
            }
        }
    }
    result = solve([pod("p", **preferred)])
    assert launches(result) == [("small", "zone-c")]
    assert result.relaxed["default/p"][0].startswith(
        "preferred node affinity topology.kubernetes.io/zone In [zone-z]"
    )


def test_required_node_affinity_terms_are_tried_in_order() -> None:
    required = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone-z"]}]},
                        {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone-b"]}]},
                    ]
                }
            }
        }
    }
    assert launches(solve([pod("p", **required)])) == [("small", "zone-b")]


def test_schedule_anyway_spread_is_relaxed() -> None:
    labels = {"app": "web"}
    pools = [nodepool(requirements=[{"key": ZONE, "operator": "In", "values": ["zone-a"]}])]
    pods = [
        pod(f"w{i}", "1", labels=labels, **spread(ZONE, labels, when="ScheduleAnyway", minDomains=3))
        for i in range(2)
    ]
    result = solve(pods, pools)
    assert not result.unschedulable
    assert any("ScheduleAnyway" in r for rs in result.relaxed.values() for r in rs)


def test_preferred_anti_affinity_is_honoured_then_relaxed() -> None:
    labels = {"app": "web"}
    preferred = {
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 1,
                        "podAffinityTerm": {"topologyKey": ZONE, "labelSelector": {"matchLabels": labels}},
                    }
                ]
            }
        }
    }
    result = solve([pod(f"w{i}", "1", labels=labels, **preferred) for i in range(4)])
    assert not result.unschedulable
    # like Karpenter, the first pod's NodeClaim may land in any zone, so anti-affinity blocks them all;
    # the others drop the preference and still schedule
    assert sorted(result.relaxed) == ["default/w1", "default/w2", "default/w3"]
    assert all(
        r == ["preferred pod anti-affinity on topology.kubernetes.io/zone (weight 1)"]
        for r in result.relaxed.values()
    )


def test_gt_requirement_on_a_numeric_label() -> None:
    types = [
        instance_type(f"t{cpu}", cpu, cpu * 2, cpu * 0.05, labels={"example.com/cpu": str(cpu)})
        for cpu in (2, 4, 8)
    ]
    result = solve(
        [pod("p", "1", nodeSelector={})],
        types=types,
        pools=[nodepool(requirements=[{"key": "example.com/cpu", "operator": "Gt", "values": ["3"]}])],
    )
    assert result.new_claims[0].instance_types == ["t4", "t8"]


def test_min_values_strict_and_best_effort() -> None:
    pools = [
        nodepool(
            requirements=[{"key": "node.kubernetes.io/instance-type", "operator": "Exists", "minValues": 3}]
        )
    ]
    big = pod("big", "9", "1Gi")  # only xlarge fits
    strict = solve([big], pools)
    assert (
        "minValues requirement not met for node.kubernetes.io/instance-type: 1 < 3"
        in strict.unschedulable["default/big"]
    )
    best_effort = solve([big], pools, strict_min_values=False)
    assert launches(best_effort) == [("xlarge", "zone-a")] and best_effort.new_claims[0].min_values_relaxed
    small = solve([pod("s", "1")], pools)
    assert len(small.new_claims[0].instance_types) >= 3


def test_spot_is_chosen_when_allowed_and_dear_spot_is_dropped() -> None:
    types = ladder(capacity_types=("spot", "on-demand"))
    assert solve([pod("p")], types=types).new_claims[0].launch.capacity_type == "spot"
    on_demand_pool = [
        nodepool(
            requirements=[{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]}]
        )
    ]
    assert solve([pod("p")], on_demand_pool, types).new_claims[0].launch.capacity_type == "on-demand"
    # spot "small" costs more than on-demand "cheap": spot types dearer than the cheapest on-demand are dropped
    odd = [
        instance_type("small", 2, 4, 0.10, capacity_types=("spot",), spot_factor=1.5),
        instance_type("cheap", 2, 4, 0.12, capacity_types=("on-demand",)),
        instance_type("spot-ok", 2, 4, 0.30, capacity_types=("spot",), spot_factor=0.3),
    ]
    launch = solve([pod("p")], types=odd).new_claims[0].launch
    assert (launch.instance_type, launch.capacity_type) == ("spot-ok", "spot")


def test_exotic_types_only_when_nothing_else_fits() -> None:
    types = [*ladder(), instance_type("gpu.large", 8, 16, 0.05, extra={"nvidia.com/gpu": "1"})]
    assert solve([pod("p", "6")], types=types).new_claims[0].launch.instance_type == "large"
    gpu_pod = pod("g", "1")
    gpu_pod.requests["nvidia.com/gpu"] = 1000
    assert solve([gpu_pod], types=types).new_claims[0].launch.instance_type == "gpu.large"


def test_instance_types_are_truncated_to_600() -> None:
    types = [instance_type(f"t{i:04d}", 4, 8, 1 + i / 1000) for i in range(700)]
    claim = solve([pod("p")], types=types).new_claims[0]
    assert len(claim.instance_types) == MAX_INSTANCE_TYPES
    assert claim.instance_types[0] == "t0000" and claim.requirements[
        "node.kubernetes.io/instance-type"
    ].values == set(claim.instance_types)


def test_unavailable_offerings_are_not_launched() -> None:
    types = ladder()
    small = types[0]
    types[0] = small.model_copy(
        update={
            "offerings": tuple(
                o.model_copy(update={"available": o.zone != "zone-a"}) for o in small.offerings
            )
        }
    )
    assert launches(solve([pod("p", nodeSelector={ZONE: "zone-a"})], types=types)) == [
        ("arm-medium", "zone-a")
    ]


def test_insufficient_capacity_marks_offerings_unavailable_for_a_while() -> None:
    from node_planner.provisioning.unavailable import UnavailableOfferings

    now = [0.0]
    cache = UnavailableOfferings(clock=lambda: now[0])
    cache.mark("arm-medium", "zone-a", "on-demand")
    cache.mark("small", "zone-a", "on-demand")
    assert cache.any()
    result = solve([pod("p", nodeSelector={ZONE: "zone-a"})], types=cache.apply(ladder()))
    assert launches(result) == [("medium", "zone-a")]
    now[0] = 181.0
    assert not cache.any()
    assert launches(solve([pod("p", nodeSelector={ZONE: "zone-a"})], types=cache.apply(ladder()))) == [
        ("small", "zone-a")
    ]


def test_huge_limits_are_kept_exactly() -> None:
    pools = [nodepool(limits={"cpu": "10000000", "memory": "10000000Gi"})]
    scheduler = Scheduler(pools, ladder(), pending_pods=[pod("p")])
    remaining = scheduler.remaining[0]
    assert remaining is not None
    assert remaining[scheduler.resources.index["memory"]] == float(10_000_000 * 2**30 * 1000)
    assert not scheduler.solve([pod("p")]).unschedulable


def test_solve_times_out_and_keeps_partial_results() -> None:
    ticks = iter(range(100))
    pods = [pod(f"p{i}", "1") for i in range(5)]
    scheduler = Scheduler(
        [nodepool()], ladder(), pending_pods=pods, timeout_seconds=3, clock=lambda: float(next(ticks))
    )
    result = scheduler.solve(pods)
    assert result.timed_out
    placed = [p.key for c in result.new_claims for p in c.pods]
    assert len(placed) == 3 and len(result.unschedulable) == 2
    assert all("timed out" in reason for reason in result.unschedulable.values())


def test_nodepool_matching_no_instance_type_and_no_nodepool_at_all() -> None:
    pools = [
        nodepool(
            requirements=[{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["nope"]}]
        )
    ]
    assert (
        "no instance type in the catalog is compatible" in solve([pod("p")], pools).unschedulable["default/p"]
    )
    nothing = Scheduler([], ladder(), pending_pods=[pod("p")]).solve([pod("p")])
    assert nothing.unschedulable["default/p"] == "no NodePool to launch a node from"


def test_aws_catalog_gpu_pods_get_gpu_nodes_and_others_do_not() -> None:
    from cloud_actuator.catalogs import builtin_catalog

    catalog = builtin_catalog("aws").instanceTypes
    gpu_pod = pod("train", "3", "12Gi")
    gpu_pod.requests["nvidia.com/gpu"] = 1000
    plain = pod("web", "1", "2Gi")
    result = solve([gpu_pod, plain], types=catalog)
    by_pod = {p.name: c for c in result.new_claims for p in c.pods}
    assert not result.unschedulable
    assert by_pod["train"].launch.instance_type.split(".")[0] in {"g4dn", "g5", "g6"}
    assert by_pod["web"].launch.instance_type.split(".")[0] not in {"g4dn", "g5", "g6"}
    assert by_pod["web"].launch.capacity_type == "spot"  # allowed and available


def test_zonal_spread_counts_only_zones_the_pod_can_reach() -> None:
    pools = [
        nodepool("ab", requirements=[{"key": ZONE, "operator": "In", "values": ["zone-a", "zone-b"]}]),
        nodepool("c", requirements=[{"key": ZONE, "operator": "In", "values": ["zone-c"]}]),
    ]
    labels = {"app": "web"}
    pods = [
        pod(f"w{i}", "1", labels=labels, nodeSelector={"karpenter.sh/nodepool": "ab"}, **spread(ZONE, labels))
        for i in range(4)
    ]
    better = solve(pods, pools)
    assert not better.unschedulable
    assert Counter(c.launch.zone for c in better.new_claims for _ in c.pods) == {"zone-a": 2, "zone-b": 2}
    # Karpenter counts zone-c (only NodePool "c" offers it) at zero, so skew stops the third pod
    karpenter = solve(pods, pools, reachable_domains_only=False)
    assert len(karpenter.unschedulable) == 2
    assert all("unsatisfiable topology spread" in r for r in karpenter.unschedulable.values())


def test_daemonset_overhead_counts_only_on_the_types_it_lands_on() -> None:
    # tolerates everything, but only runs on arm64: amd64 types carry no overhead from it
    arm_agent = daemonset_pod(
        {
            "metadata": {"name": "arm-agent"},
            "spec": {
                "template": {
                    "spec": {
                        "tolerations": [{"operator": "Exists"}],
                        "affinity": {
                            "nodeAffinity": {
                                "requiredDuringSchedulingIgnoredDuringExecution": {
                                    "nodeSelectorTerms": [
                                        {
                                            "matchExpressions": [
                                                {
                                                    "key": "kubernetes.io/arch",
                                                    "operator": "In",
                                                    "values": ["arm64"],
                                                }
                                            ]
                                        }
                                    ]
                                }
                            }
                        },
                        "containers": [{"name": "a", "resources": {"requests": {"cpu": "1500m"}}}],
                    }
                }
            },
        }
    )
    amd64 = [nodepool(requirements=[{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}])]
    assert launches(solve([pod("p", "2", "1Gi")], amd64, daemons=[arm_agent])) == [("small", "zone-a")]
    arm = [nodepool(requirements=[{"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]}])]
    assert "enough cpu" in solve([pod("p", "3", "1Gi")], arm, daemons=[arm_agent]).unschedulable["default/p"]


def test_min_values_on_instance_family() -> None:
    from cloud_actuator.catalogs import builtin_catalog

    family = "karpenter.k8s.aws/instance-family"
    pools = [
        nodepool(
            requirements=[
                {"key": family, "operator": "In", "values": ["c6i", "m6i", "r6i", "c7g"], "minValues": 3}
            ]
        )
    ]
    result = solve([pod("p", "2", "4Gi")], pools, builtin_catalog("aws").instanceTypes)
    claim = result.new_claims[0]
    families = {name.split(".")[0] for name in claim.instance_types}
    assert len(families) >= 3 and families <= {"c6i", "m6i", "r6i", "c7g"}
    # a pod only r6i can hold (memory) leaves one family: Strict refuses, naming the key
    big = solve([pod("big", "2", "700Gi")], pools, builtin_catalog("aws").instanceTypes)
    assert f"minValues requirement not met for {family}" in big.unschedulable["default/big"]


def test_persistent_volumes_pin_zones_and_count_against_csi_limits() -> None:
    from node_planner.scheduling.volumes import VolumeCatalog, resolve_volumes

    volumes = VolumeCatalog()
    for document in [
        {
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "bound", "namespace": "default"},
            "spec": {"storageClassName": "ebs", "volumeName": "pv-1"},
        },
        {
            "kind": "PersistentVolume",
            "metadata": {"name": "pv-1"},
            "spec": {
                "csi": {"driver": "ebs.csi.aws.com"},
                "nodeAffinity": {
                    "required": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["zone-b"]}]}
                        ]
                    }
                },
            },
        },
        {
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "fresh", "namespace": "default"},
            "spec": {"storageClassName": "ebs-c"},
        },
        {
            "kind": "StorageClass",
            "metadata": {"name": "ebs-c"},
            "provisioner": "ebs.csi.aws.com",
            "allowedTopologies": [
                {"matchLabelExpressions": [{"key": ZONE, "values": ["zone-c"], "operator": "In"}]}
            ],
        },
    ]:
        assert volumes.add(document)
    with_bound = resolve_volumes(
        pod("db", volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "bound"}}]), volumes
    )
    with_fresh = resolve_volumes(
        pod("new", volumes=[{"name": "d", "persistentVolumeClaim": {"claimName": "fresh"}}]), volumes
    )
    assert with_bound.volumes == {"ebs.csi.aws.com": 1}
    assert launches(solve([with_bound])) == [("small", "zone-b")]
    assert launches(solve([with_fresh])) == [("small", "zone-c")]
    limited = node("n1", zone="zone-b", extra_allocatable={"attachable-volumes-csi-ebs.csi.aws.com": "0"})
    result = solve([with_bound], nodes=[limited])
    assert not result.existing and launches(result) == [("small", "zone-b")]
