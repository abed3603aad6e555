"""Catalog, quantities, taints and the karpenter.sh/v1 models: defaults and validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bosun_common.catalog import Catalog, InstanceType, Offering, Overhead, load_catalog, parse_quantity
from bosun_common.karpenter import NodePool, parse_duration, parse_nodeclaim, parse_nodepool
from cloud_actuator.catalogs import builtin_catalog
from cloud_actuator.catalogs.aws import kube_reserved_cpu_milli
from node_planner.scheduling.taints import Taint, Toleration
from tests.unit.nodes.builders import NODE_CLASS


@pytest.mark.parametrize(
    ("text", "milli"),
    [
        ("1", 1000),
        ("1500m", 1500),
        ("0.5", 500),
        ("1Gi", 2**30 * 1000),
        ("100Mi", 100 * 2**20 * 1000),
        ("1k", 1_000_000),
        ("1e3", 1_000_000),
        ("0.1m", 1),
        (2, 2000),
    ],
)
def test_quantities(text: str | int, milli: int) -> None:
    assert parse_quantity(text) == milli


def test_bad_quantity() -> None:
    with pytest.raises(ValueError):
        parse_quantity("12 apples")


def test_allocatable_is_capacity_minus_overhead() -> None:
    it = InstanceType(
        name="x",
        capacity={"cpu": "4", "memory": "8Gi"},
        overhead=Overhead(
            kubeReserved={"cpu": "100m", "memory": "500Mi"},
            systemReserved={"cpu": "100m"},
            evictionThreshold={"memory": "100Mi"},
        ),
        offerings=(Offering(zone="a", price=1.0),),
    )
    assert it.allocatable() == {"cpu": 3800, "memory": (8 * 1024 - 600) * 2**20 * 1000}


def test_catalog_file_round_trip(tmp_path: Path) -> None:
    catalog = builtin_catalog("kwok")
    path = tmp_path / "catalog.json"
    path.write_text(catalog.to_json())
    assert load_catalog(path) == catalog
    with pytest.raises(ValidationError):
        Catalog(instanceTypes=[catalog.instanceTypes[0], catalog.instanceTypes[0]])


def test_kwok_catalog_formula() -> None:
    types = builtin_catalog("kwok").by_name()
    assert len(types) == 144
    it = types["m-4x-arm64-windows"]
    assert it.capacity_milli()["memory"] == 32 * 2**30 * 1000
    assert it.capacity_milli()["pods"] == 64_000
    prices = {(o.zone, o.capacityType): o.price for o in it.offerings}
    assert len(prices) == 8
    assert prices[("test-zone-d", "on-demand")] == pytest.approx(0.025 * 4 + 0.001 * 32)
    assert prices[("test-zone-a", "spot")] == pytest.approx(0.7 * (0.025 * 4 + 0.001 * 32))
    assert types["c-256x-amd64-linux"].capacity_milli()["pods"] == 1024_000


def test_aws_catalog_shapes_and_price_model() -> None:
    types = builtin_catalog("aws").by_name()
    assert len(types) > 200
    m5 = types["m5.large"]
    assert m5.labels["kubernetes.io/arch"] == "amd64"
    assert m5.capacity_milli()["pods"] == 29_000  # 3 ENIs x (10 - 1) + 2
    on_demand = [o.price for o in m5.offerings if o.capacityType == "on-demand"]
    assert on_demand[0] == pytest.approx(0.096, abs=1e-4)
    assert all(o.price < on_demand[0] for o in m5.offerings if o.capacityType == "spot")
    assert types["m7g.large"].labels["kubernetes.io/arch"] == "arm64"
    assert "nvidia.com/gpu" in types["g5.xlarge"].capacity
    assert kube_reserved_cpu_milli(2) == 70 and kube_reserved_cpu_milli(8) == 90


@pytest.mark.parametrize(
    ("toleration", "taint", "tolerated"),
    [
        (
            Toleration("dedicated", "Equal", "gpu", "NoSchedule"),
            Taint("dedicated", "gpu", "NoSchedule"),
            True,
        ),
        (
            Toleration("dedicated", "Equal", "cpu", "NoSchedule"),
            Taint("dedicated", "gpu", "NoSchedule"),
            False,
        ),
        (Toleration("dedicated", "Exists", "", ""), Taint("dedicated", "gpu", "NoExecute"), True),
        (Toleration("", "Exists", "", ""), Taint("anything", "x", "NoSchedule"), True),
        (Toleration("dedicated", "Exists", "", "NoSchedule"), Taint("dedicated", "x", "NoExecute"), False),
    ],
)
def test_tolerations(toleration: Toleration, taint: Taint, tolerated: bool) -> None:
    assert toleration.tolerates(taint) is tolerated


def _nodepool(
    spec: dict[str, Any] | None = None,
    template_spec: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
) -> NodePool:
    return parse_nodepool(
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "np"},
            "spec": {
                "template": {
                    "metadata": {"labels": labels or {}},
                    "spec": {"nodeClassRef": NODE_CLASS, **(template_spec or {})},
                },
                **(spec or {}),
            },
        }
    )


def test_nodepool_defaults() -> None:
    pool = _nodepool()
    assert pool.spec.template.spec.expireAfter == "720h"
    assert pool.spec.disruption.consolidationPolicy == "WhenEmptyOrUnderutilized"
    assert pool.spec.disruption.consolidateAfter == "0s"
    assert [b.nodes for b in pool.spec.disruption.budgets] == ["10%"]
    assert pool.spec.weight is None
    assert pool.spec.template.spec.expire_after_seconds() == 720 * 3600


@pytest.mark.parametrize(
    ("spec", "template_spec", "labels", "message"),
    [
        ({}, {"requirements": [{"key": "team", "operator": "In", "values": []}]}, None, "must have a value"),
        (
            {},
            {"requirements": [{"key": "cpu", "operator": "Gt", "values": ["-1"]}]},
            None,
            "non-negative integer",
        ),
        (
            {},
            {"requirements": [{"key": "cpu", "operator": "Lt", "values": ["1", "2"]}]},
            None,
            "non-negative integer",
        ),
        (
            {},
            {"requirements": [{"key": "a", "operator": "In", "values": ["x"], "minValues": 2}]},
            None,
            "minValues",
        ),
        ({}, {"requirements": [{"key": "a", "operator": "Exists", "minValues": 51}]}, None, "50"),
        ({}, {"requirements": [{"key": "kubernetes.io/hostname", "operator": "Exists"}]}, None, "restricted"),
        ({}, {"requirements": [{"key": "karpenter.sh/nodepool", "operator": "Exists"}]}, None, "restricted"),
        ({}, {"requirements": [{"key": "k8s.io/thing", "operator": "Exists"}]}, None, "restricted"),
        ({}, {"requirements": [{"key": "a", "operator": "Exists"}] * 101}, None, "100"),
        ({}, {}, {"kubernetes.io/custom": "x"}, "restricted"),
        ({}, {"expireAfter": "forever"}, None, "duration"),
        ({"weight": 0}, {}, None, "greater than or equal to 1"),
        ({"weight": 101}, {}, None, "less than or equal to 100"),
        ({"disruption": {"budgets": [{"nodes": "110%"}]}}, {}, None, "count or a percentage"),
        ({"disruption": {"budgets": [{"nodes": "1", "schedule": "@daily"}]}}, {}, None, "together"),
        ({"disruption": {"budgets": [{"nodes": "1", "reasons": ["Bored"]}]}}, {}, None, "Underutilized"),
        ({"disruption": {"consolidationPolicy": "Sometimes"}}, {}, None, "WhenEmpty"),
        ({}, {"taints": [{"key": "a", "effect": "Sometimes"}]}, None, "NoSchedule"),
    ],
)
def test_nodepool_validation(
    spec: dict[str, Any], template_spec: dict[str, Any], labels: dict[str, str] | None, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _nodepool(spec, template_spec, labels)


def test_nodepool_accepts_well_known_and_allowed_domains() -> None:
    pool = _nodepool(
        {
            "limits": {"cpu": "1000", "memory": "1000Gi"},
            "weight": 10,
            "disruption": {
                "consolidateAfter": "Never",
                "budgets": [
                    {"nodes": "0", "schedule": "0 9 * * 1-5", "duration": "8h", "reasons": ["Drifted"]}
                ],
            },
        },
        {
            "requirements": [
                {
                    "key": "node.kubernetes.io/instance-type",
                    "operator": "In",
                    "values": ["a", "b"],
                    "minValues": 2,
                },
                {"key": "karpenter.kwok.sh/instance-cpu", "operator": "Gte", "values": ["4"]},
            ],
            "expireAfter": "Never",
        },
        {"team": "ml", "node-restriction.kubernetes.io/pool": "x"},
    )
    assert pool.limits_milli()["cpu"] == 1_000_000
    assert pool.spec.template.spec.expire_after_seconds() is None
    assert pool.spec.disruption.consolidate_after_seconds() is None


def test_drift_hash_ignores_requirements_but_not_taints() -> None:
    base = _nodepool()
    other_requirements = _nodepool(template_spec={"requirements": [{"key": "a", "operator": "Exists"}]})
    tainted = _nodepool(template_spec={"taints": [{"key": "a", "effect": "NoSchedule"}]})
    assert base.hash() == other_requirements.hash()
    assert base.hash() != tainted.hash()


def test_nodeclaim_parses() -> None:
    claim = parse_nodeclaim(
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodeClaim",
            "metadata": {"name": "c1", "labels": {"karpenter.sh/nodepool": "np"}},
            "spec": {
                "requirements": [
                    {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m5.large"]}
                ],
                "nodeClassRef": NODE_CLASS,
            },
            "status": {"conditions": [{"type": "Initialized", "status": "True"}]},
        }
    )
    assert claim.nodepool == "np" and claim.initialized()
    assert claim.spec.expireAfter == "720h"


@pytest.mark.parametrize(
    ("text", "seconds"), [("720h", 2592000), ("1h30m", 5400), ("30s", 30), ("0s", 0), ("1.5h", 5400)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
