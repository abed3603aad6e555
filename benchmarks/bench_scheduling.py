"""Karpenter's scheduling benchmark, rebuilt, plus packing quality against an ILP optimum.

Throughput (Karpenter's `scheduling_benchmark_test.go`): one NodePool without
limits; 400 instance types where type i has i+1 vCPU, 2(i+1) GiB and 10(i+1)
pods at 0.1 $/h per vCPU + 0.1 $/h per GiB, offered like Karpenter's fake
provider (spot in test-zone-1/2, on-demand in test-zone-1/2/3); no existing
nodes, no DaemonSets. Pods: 1/5 each of plain pods, zonal spread (maxSkew 1),
hostname spread (maxSkew 1), zonal pod affinity and hostname self
anti-affinity, with Karpenter's label scheme (random `my-label` /
`my-affininity` values a..g for labels and selectors, `app: nginx` for the
anti-affinity pods). CPU from {100,250,500,1000,1500}m and memory from
{100Mi,256Mi,512Mi,1Gi,2Gi,4Gi}, seed 42. Only `solve` is timed.

`BOSUN_BENCH_SIZES` (comma separated) picks the sizes; the default is
100,1000,5000,20000.

Packing quality: small scenarios (at most 60 pods, plain pods, one NodePool,
one capacity type) solved by Bosun and by an exact bin-packing ILP (scipy's
HiGHS via `scipy.optimize.milp`), reported as Bosun's $/h over the optimum.
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


def benchmark_nodepool() -> NodePool:
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
                }
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
    elif kind == "zone-affinity":
        spec["affinity"] = {
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "topologyKey": "topology.kubernetes.io/zone",
                        "labelSelector": {"matchLabels": {"my-affininity": rng.choice(LABEL_VALUES)}},
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


def run_throughput(size: int) -> tuple[float, int, float, int]:
    """(pods/s, nodes, $/h, unschedulable) for one size."""
    types = benchmark_instance_types()
    nodepool = benchmark_nodepool()
    pods = diverse_pods(size)
    scheduler = Scheduler([nodepool], types, pending_pods=pods, timeout_seconds=3600)
    start = time.perf_counter()
    result = scheduler.solve(pods)
    elapsed = time.perf_counter() - start
    return size / elapsed, len(result.new_claims), result.total_price(), len(result.unschedulable)


# -- packing quality -------------------------------------------------------------------


def quality_catalog() -> list[InstanceType]:
    """A small realistic ladder: three families x five sizes, one zone, on-demand."""
    types = []
    for family, gib_per_cpu, rate in (("c", 2, 0.0425), ("m", 4, 0.048), ("r", 8, 0.063)):
        for cpu in (1, 2, 4, 8, 16):
            types.append(
                InstanceType(
                    name=f"{family}.{cpu}x",
                    capacity={"cpu": str(cpu), "memory": f"{cpu * gib_per_cpu}Gi", "pods": "110"},
                    offerings=(
                        Offering(
                            zone="zone-a",
                            capacityType="on-demand",
                            price=round(rate * cpu * (1 + gib_per_cpu / 8), 4),
                        ),
                    ),
                )
            )
    return types


def optimal_cost(pods: list[Pod], types: list[InstanceType], max_bins: int) -> float:
    """The cheapest set of nodes holding every pod: an exact assignment ILP solved by HiGHS."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n, t, b = len(pods), len(types), max_bins
    alloc = np.array(
        [[it.allocatable().get(r, 0) for r in ("cpu", "memory", "pods")] for it in types], dtype=float
    )
    price = np.array([it.cheapest_available_price() or 0.0 for it in types])
    req = np.array([[p.requests.get(r, 0) for r in ("cpu", "memory", "pods")] for p in pods], dtype=float)
    # variables: y[b, t] (bin b is of type t) then x[i, b] (pod i on bin b)
    ny, nx = b * t, n * b
    cost = np.concatenate([np.tile(price, b), np.zeros(nx)])
    rows: list[np.ndarray] = []
    lower: list[float] = []
    upper: list[float] = []
    for bin_index in range(b):  # at most one type per bin
        row = np.zeros(ny + nx)
        row[bin_index * t : (bin_index + 1) * t] = 1
        rows.append(row)
        lower.append(0.0)
        upper.append(1.0)
    for i in range(n):  # every pod placed once
        row = np.zeros(ny + nx)
        row[ny + i * b : ny + (i + 1) * b] = 1
        rows.append(row)
        lower.append(1.0)
        upper.append(1.0)
    for bin_index in range(b):  # capacity per resource
        for r in range(3):
            row = np.zeros(ny + nx)
            row[bin_index * t : (bin_index + 1) * t] = -alloc[:, r]
            for i in range(n):
                row[ny + i * b + bin_index] = req[i, r]
            rows.append(row)
            lower.append(-np.inf)
            upper.append(0.0)
    for bin_index in range(b - 1):  # symmetry breaking: bins used in order
        row = np.zeros(ny + nx)
        row[bin_index * t : (bin_index + 1) * t] = -1
        row[(bin_index + 1) * t : (bin_index + 2) * t] = 1
        rows.append(row)
        lower.append(-np.inf)
        upper.append(0.0)
    result = milp(
        cost,
        constraints=LinearConstraint(np.array(rows), lower, upper),
        integrality=np.ones(ny + nx),
        bounds=Bounds(0, 1),
        options={"time_limit": 60},
    )
    if result.x is None:
        raise RuntimeError(f"ILP failed: {result.message}")
    return float(result.fun)


def run_quality(seed: int, count: int) -> tuple[float, float]:
    rng = random.Random(seed)
    documents: list[dict[str, Any]] = []
    for i in range(count):
        documents.append(
            {
                "metadata": {"name": f"p{i}", "uid": f"u{i:03d}"},
                "spec": {
                    "containers": [
                        {
                            "name": "c",
                            "resources": {
                                "requests": {"cpu": rng.choice(CPUS), "memory": rng.choice(MEMORIES)}
                            },
                        }
                    ]
                },
            }
        )
    pods = [parse_pod(d) for d in documents]
    types = quality_catalog()
    result = Scheduler([benchmark_nodepool()], types, pending_pods=pods).solve(pods)
    bosun = result.total_price()
    optimum = optimal_cost(pods, types, max_bins=max(1, len(result.new_claims)))
    return bosun, optimum


def run() -> list[str]:
    sizes = [
        int(s) for s in os.environ.get("BOSUN_BENCH_SIZES", ",".join(map(str, DEFAULT_SIZES))).split(",") if s
    ]
    lines = ["| pods | pods/s | nodes | $/h | unschedulable |", "|---:|---:|---:|---:|---:|"]
    for size in sizes:
        rate, nodes, price, unschedulable = run_throughput(size)
        lines.append(f"| {size} | {rate:,.0f} | {nodes} | {price:,.2f} | {unschedulable} |")
    lines += ["", "| scenario | pods | Bosun $/h | optimal $/h | ratio |", "|---|---:|---:|---:|---:|"]
    for seed, count in ((1, 12), (2, 20), (3, 30), (4, 40)):
        bosun, optimum = run_quality(seed, count)
        lines.append(f"| seed {seed} | {count} | {bosun:.4f} | {optimum:.4f} | {bosun / optimum:.3f} |")
    return lines
