"""Karpenter's scheduling benchmark, rebuilt, plus packing quality against an ILP optimum.

Throughput (Karpenter's `scheduling_benchmark_test.go`): one NodePool without
limits; 400 instance types where type i has i+1 vCPU, 2(i+1) GiB and 10(i+1)
pods at 0.1 $/h per vCPU + 0.1 $/h per GiB, offered like Karpenter's fake
provider (spot in test-zone-1/2, on-demand in test-zone-1/2/3); no existing
nodes, no DaemonSets, limits of 10,000,000 CPU and 10,000,000Gi as upstream.
Pods: 1/5 each of plain pods, zonal spread (maxSkew 1), hostname spread
(maxSkew 1), zonal self-affinity and hostname self anti-affinity, with
Karpenter's label scheme (random `my-label` values a..g for plain and spread
pods and, independently drawn, for the spread selectors; a random
`my-affininity` value shared by an affinity pod's label and selector; `app:
nginx` for the anti-affinity pods). Plus Karpenter's "respect preferences"
case: 4,000 pods preferring test-zone-1 with preferred zonal and hostname
anti-affinity. CPU from {100,250,500,1000,1500}m and memory from
{100Mi,256Mi,512Mi,1Gi,2Gi,4Gi}, seed 42. Only `solve` is timed.

`BOSUN_BENCH_SIZES` (comma separated) picks the sizes; the default is
100,1000,5000,20000.

Throughput is reported twice: Karpenter-exact (`improve_packing=False,
reachable_domains_only=False`, the figure to compare with Karpenter's) and
Bosun's default, which adds the re-packing pass and counts only reachable
spread domains.

Packing quality: small scenarios (at most 60 pods, one NodePool, one zone,
on-demand; mixed CPU- and memory-heavy pods, some with hostname
anti-affinity) solved by Bosun (Karpenter-exact and default) and by an exact
bin-packing ILP (scipy's HiGHS via `scipy.optimize.milp`, at most Bosun's node
count + 4 nodes, 30 s limit), reported as $/h over the optimum.
"""

from __future__ import annotations

import os
import random
import time
from typing import Any

import numpy as np

from bosun_common.catalog import InstanceType, Offering
from bosun_common.karpenter import NodePool, parse_nodepool
from node_planner.provisioning.scheduler import Scheduler
from node_planner.scheduling.objects import Pod, parse_pod

SEED = 42
DEFAULT_SIZES = (100, 1000, 5000, 20000)
LABEL_VALUES = ("a", "b", "c", "d", "e", "f", "g")
CPUS = ("100m", "250m", "500m", "1000m", "1500m")
MEMORIES = ("100Mi", "256Mi", "512Mi", "1Gi", "2Gi", "4Gi")


def benchmark_instance_types(count: int = 400) -> list[InstanceType]:
    """Karpenter's `fake.InstanceTypes(400)` with the fake provider's default offerings."""
    types = []
    for i in range(count):
        cpu, memory = i + 1, 2 * (i + 1)
        price = round(0.1 * cpu + 0.1 * memory, 6)
        offerings = tuple(
            Offering(zone=zone, capacityType=kind, price=price)
            for kind, zone in (
                ("spot", "test-zone-1"),
                ("spot", "test-zone-2"),
                ("on-demand", "test-zone-1"),
                ("on-demand", "test-zone-2"),
                ("on-demand", "test-zone-3"),
            )
        )
        types.append(
            InstanceType(
                name=f"fake-it-{i}",
                labels={"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"},
                capacity={"cpu": str(cpu), "memory": f"{memory}Gi", "pods": str(10 * (i + 1))},
                offerings=offerings,
            )
        )
    return types


def benchmark_nodepool(huge_limits: bool = False) -> NodePool:
    """Karpenter's `test.NodePool()`; the throughput benchmark adds limits no run reaches, as upstream does."""
    limits = {"limits": {"cpu": "10000000", "memory": "10000000Gi"}} if huge_limits else {}
    return parse_nodepool(
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "default"},
            "spec": {
                "template": {
                    "spec": {
                        "nodeClassRef": {
                            "group": "karpenter.kwok.sh",
                            "kind": "KWOKNodeClass",
                            "name": "default",
                        }
                    }
                },
                **limits,
            },
        }
    )


def _pod(index: int, kind: str, rng: random.Random) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if kind in ("plain", "zone-spread", "hostname-spread"):
        labels = {"my-label": rng.choice(LABEL_VALUES)}
    elif kind == "zone-affinity":
        labels = {"my-affininity": rng.choice(LABEL_VALUES)}
    else:
        labels = {"app": "nginx"}
    if kind in ("zone-spread", "hostname-spread"):
        key = "topology.kubernetes.io/zone" if kind == "zone-spread" else "kubernetes.io/hostname"
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": key,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"my-label": rng.choice(LABEL_VALUES)}},
            }
        ]
    elif kind == "zone-affinity":  # self-affinity: the selector is the pod's own label
        spec["affinity"] = {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "topologyKey": "topology.kubernetes.io/zone",
                        "labelSelector": {"matchLabels": dict(labels)},
                    }
                ]
            }
        }
    elif kind == "hostname-anti-affinity":
        spec["affinity"] = {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"app": "nginx"}},
                    }
                ]
            }
        }
    spec["containers"] = [
        {"name": "app", "resources": {"requests": {"cpu": rng.choice(CPUS), "memory": rng.choice(MEMORIES)}}}
    ]
    return {
        "metadata": {
            "name": f"{kind}-{index}",
            "namespace": "default",
            "uid": f"uid-{index:06d}",
            "labels": labels,
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": spec,
        "status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]},
    }


def diverse_pods(count: int, seed: int = SEED) -> list[Pod]:
    """The benchmark's pod mix: a fifth of each kind, the remainder plain."""
    rng = random.Random(seed)
    kinds = ("plain", "zone-spread", "hostname-spread", "zone-affinity", "hostname-anti-affinity")
    documents: list[dict[str, Any]] = []
    for kind in kinds:
        documents.extend(_pod(len(documents), kind, rng) for _ in range(count // len(kinds)))
    while len(documents) < count:
        documents.append(_pod(len(documents), "plain", rng))
    return [parse_pod(d) for d in documents]


def preference_pods(count: int, seed: int = SEED) -> list[Pod]:
    """Karpenter's `makePreferencePods`: app=nginx pods preferring test-zone-1, with preferred zonal
    anti-affinity (weight 10, cannot hold for long) and hostname anti-affinity (weight 1)."""
    rng = random.Random(seed)

    def anti(weight: int, key: str) -> dict[str, Any]:
        return {
            "weight": weight,
            "podAffinityTerm": {"topologyKey": key, "labelSelector": {"matchLabels": {"app": "nginx"}}},
        }

    return [
        parse_pod(
            {
                "metadata": {"name": f"pref-{i}", "uid": f"pref-{i:06d}", "labels": {"app": "nginx"}},
                "spec": {
                    "affinity": {
                        "nodeAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 1,
                                    "preference": {
                                        "matchExpressions": [
                                            {
                                                "key": "topology.kubernetes.io/zone",
                                                "operator": "In",
                                                "values": ["test-zone-1"],
                                            }
                                        ]
                                    },
                                }
                            ]
                        },
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                anti(10, "topology.kubernetes.io/zone"),
                                anti(1, "kubernetes.io/hostname"),
                            ]
                        },
                    },
                    "containers": [
                        {
                            "name": "app",
                            "resources": {
                                "requests": {"cpu": rng.choice(CPUS), "memory": rng.choice(MEMORIES)}
                            },
                        }
                    ],
                },
            }
        )
        for i in range(count)
    ]


def run_preferences(count: int = 4000) -> tuple[float, int, float, int]:
    """Karpenter's BenchmarkRespectPreferences: (pods/s, nodes, $/h, unschedulable)."""
    pods = preference_pods(count)
    scheduler = Scheduler(
        [benchmark_nodepool(huge_limits=True)],
        benchmark_instance_types(),
        pending_pods=pods,
        timeout_seconds=3600,
        improve_packing=False,
        reachable_domains_only=False,
    )
    start = time.perf_counter()
    result = scheduler.solve(pods)
    elapsed = time.perf_counter() - start
    return count / elapsed, len(result.new_claims), result.total_price(), len(result.unschedulable)


def run_memory(size: int) -> float:
    """Peak Python heap (MiB, tracemalloc) while solving `size` pods, inputs included; not timed."""
    import tracemalloc

    tracemalloc.start()
    pods = diverse_pods(size)
    Scheduler(
        [benchmark_nodepool(huge_limits=True)],
        benchmark_instance_types(),
        pending_pods=pods,
        timeout_seconds=3600,
        improve_packing=False,
        reachable_domains_only=False,
    ).solve(pods)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def run_throughput(size: int, improve_packing: bool = False) -> tuple[float, int, float, int]:
    """(pods/s, nodes, $/h, unschedulable) for one size; `improve_packing` adds Bosun's re-packing pass."""
    types = benchmark_instance_types()
    nodepool = benchmark_nodepool(huge_limits=True)
    pods = diverse_pods(size)
    scheduler = Scheduler(
        [nodepool],
        types,
        pending_pods=pods,
        timeout_seconds=3600,
        improve_packing=improve_packing,
        reachable_domains_only=improve_packing,
    )
    start = time.perf_counter()
    result = scheduler.solve(pods)
    elapsed = time.perf_counter() - start
    return size / elapsed, len(result.new_claims), result.total_price(), len(result.unschedulable)


# -- packing quality -------------------------------------------------------------------

QUALITY_SCENARIOS = (
    # (name, seed, pods, share of memory-heavy pods, pods with hostname anti-affinity)
    ("uniform small", 1, 20, 0.0, 0),
    ("mixed cpu/memory", 2, 30, 0.5, 0),
    ("memory heavy", 3, 40, 0.8, 0),
    ("mixed + anti-affinity", 4, 40, 0.3, 6),
    ("large mixed", 5, 60, 0.4, 0),
)


def quality_catalog() -> list[InstanceType]:
    """Three families (c: 2 GiB/vCPU, m: 4, r: 8) x five sizes, one zone, on-demand, AWS-like prices."""
    types = []
    for family, gib_per_cpu, cpu_rate, gib_rate in (
        ("c", 2, 0.034, 0.0040),
        ("m", 4, 0.030, 0.0045),
        ("r", 8, 0.026, 0.0050),
    ):
        for cpu in (1, 2, 4, 8, 16):
            memory = cpu * gib_per_cpu
            types.append(
                InstanceType(
                    name=f"{family}.{cpu}x",
                    capacity={"cpu": str(cpu), "memory": f"{memory}Gi", "pods": "110"},
                    offerings=(
                        Offering(
                            zone="zone-a",
                            capacityType="on-demand",
                            price=round(cpu_rate * cpu + gib_rate * memory, 5),
                        ),
                    ),
                )
            )
    return types


def quality_pods(seed: int, count: int, memory_share: float, anti: int) -> list[Pod]:
    rng = random.Random(seed)
    documents: list[dict[str, Any]] = []
    for i in range(count):
        heavy = rng.random() < memory_share
        cpu = rng.choice(("100m", "250m", "500m") if heavy else CPUS)
        memory = rng.choice(("2Gi", "4Gi", "6Gi")) if heavy else rng.choice(MEMORIES)
        spec: dict[str, Any] = {
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": memory}}}]
        }
        labels = {}
        if i < anti:
            labels = {"app": "ha"}
            spec["affinity"] = {
                "podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": labels}}
                    ]
                }
            }
        documents.append({"metadata": {"name": f"p{i}", "uid": f"u{i:03d}", "labels": labels}, "spec": spec})
    return [parse_pod(d) for d in documents]


def optimal_cost(pods: list[Pod], types: list[InstanceType], max_bins: int) -> tuple[float, bool]:
    """The cheapest set of nodes holding every pod (an assignment ILP solved by HiGHS), and whether it is proven optimal.

    Variables: y[b, t] (bin b is of type t) and x[i, b] (pod i on bin b). Constraints: one type per
    bin, each pod on one bin, per-resource capacity per bin, at most one anti-affinity pod per bin,
    bins used in order (symmetry breaking).
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    n, t, b = len(pods), len(types), max_bins
    resources = ("cpu", "memory", "pods")
    alloc = np.array([[it.allocatable().get(r, 0) for r in resources] for it in types], dtype=float) / 1000
    price = np.array([it.cheapest_available_price() or 0.0 for it in types])
    req = np.array([[p.requests.get(r, 0) for r in resources] for p in pods], dtype=float) / 1000
    ny, nx = b * t, n * b
    cost = np.concatenate([np.tile(price, b), np.zeros(nx)])
    rows: list[np.ndarray] = []
    lower: list[float] = []
    upper: list[float] = []

    def add(row: np.ndarray, low: float, high: float) -> None:
        rows.append(row)
        lower.append(low)
        upper.append(high)

    for k in range(b):
        row = np.zeros(ny + nx)
        row[k * t : (k + 1) * t] = 1
        add(row, 0.0, 1.0)
    for i in range(n):
        row = np.zeros(ny + nx)
        row[ny + i * b : ny + (i + 1) * b] = 1
        add(row, 1.0, 1.0)
    anti = [i for i, p in enumerate(pods) if p.anti_affinity]
    for k in range(b):
        for r in range(len(resources)):
            row = np.zeros(ny + nx)
            row[k * t : (k + 1) * t] = -alloc[:, r]
            row[ny + np.arange(n) * b + k] = req[:, r]
            add(row, -np.inf, 0.0)
        if anti:
            row = np.zeros(ny + nx)
            row[ny + np.array(anti) * b + k] = 1
            add(row, 0.0, 1.0)
    for k in range(b - 1):
        row = np.zeros(ny + nx)
        row[k * t : (k + 1) * t] = -1
        row[(k + 1) * t : (k + 2) * t] = 1
        add(row, -np.inf, 0.0)
    result = milp(
        cost,
        constraints=LinearConstraint(np.array(rows), lower, upper),
        integrality=np.ones(ny + nx),
        bounds=Bounds(0, 1),
        options={"time_limit": 30},
    )
    if result.x is None:
        raise RuntimeError(f"ILP failed: {result.message}")
    return float(result.fun), result.status == 0


def run_quality(
    seed: int, count: int, memory_share: float, anti: int
) -> tuple[float, float, int, float, bool]:
    """(Karpenter-exact $/h, Bosun $/h, Bosun nodes, optimal $/h, proven optimal)."""
    pods = quality_pods(seed, count, memory_share, anti)
    types = quality_catalog()
    exact = Scheduler(
        [benchmark_nodepool()], types, pending_pods=pods, improve_packing=False, reachable_domains_only=False
    ).solve(pods)
    result = Scheduler([benchmark_nodepool()], types, pending_pods=pods).solve(pods)
    if result.unschedulable or exact.unschedulable:
        raise RuntimeError(f"quality scenario left pods unscheduled: {result.unschedulable}")
    optimum, proven = optimal_cost(pods, types, max_bins=len(result.new_claims) + 4)
    return exact.total_price(), result.total_price(), len(result.new_claims), optimum, proven


def run() -> list[str]:
    sizes = [
        int(s) for s in os.environ.get("BOSUN_BENCH_SIZES", ",".join(map(str, DEFAULT_SIZES))).split(",") if s
    ]
    lines = [
        "| pods | pods/s (Karpenter-exact) | nodes | $/h | unschedulable | pods/s (with re-packing) | nodes | $/h |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        rate, nodes, price, unschedulable = run_throughput(size)
        rate2, nodes2, price2, _ = run_throughput(size, improve_packing=True)
        lines.append(
            f"| {size} | {rate:,.0f} | {nodes} | {price:,.2f} | {unschedulable} | {rate2:,.0f} | {nodes2} | {price2:,.2f} |"
        )
    rate, nodes, price, unschedulable = run_preferences()
    lines.append(f"| 4000 with preferences | {rate:,.0f} | {nodes} | {price:,.2f} | {unschedulable} | | | |")
    lines.append("")
    lines.append(
        f"Peak Python heap solving {max(sizes):,} pods (tracemalloc, inputs included): {run_memory(max(sizes)):,.0f} MiB"
    )
    lines += [
        "",
        "| scenario | pods | Karpenter-exact $/h | ratio | Bosun $/h | Bosun nodes | ratio | optimal $/h |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, seed, count, memory_share, anti in QUALITY_SCENARIOS:
        exact, bosun, nodes, optimum, proven = run_quality(seed, count, memory_share, anti)
        bound = "" if proven else " (ILP time limit: best found)"
        lines.append(
            f"| {name} | {count} | {exact:.4f} | {exact / optimum:.3f} | {bosun:.4f} | {nodes} | {bosun / optimum:.3f} "
            f"| {optimum:.4f}{bound} |"
        )
    return lines
