"""The pure launch core: requirement matching, the offering choice, injected and remembered capacity errors."""

from __future__ import annotations

from typing import Any

import pytest

from bosun_common.catalog import Catalog, InstanceType, Offering
from bosun_common.karpenter import NodeClaim, NodeSelectorRequirementWithMinValues
from cloud_actuator.catalogs import builtin_catalog
from cloud_actuator.offerings import (
    RequestError,
    UnavailableOfferings,
    UnavailablePatterns,
    by_capacity_type,
    cheapest,
    compatible_offerings,
    requirement_allows,
    requirements_allow,
)


def claim(
    *requirements: dict[str, Any], requests: dict[str, str] | None = None, name: str = "c1"
) -> NodeClaim:
    return NodeClaim.model_validate(
        {
            "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": "default"}},
            "spec": {"requirements": list(requirements), "resources": {"requests": requests or {}}},
        }
    )


def req(key: str, operator: str, *values: str) -> NodeSelectorRequirementWithMinValues:
    return NodeSelectorRequirementWithMinValues(key=key, operator=operator, values=list(values))  # type: ignore[arg-type]


def small_catalog() -> Catalog:
    def it(name: str, cpu: str, arch: str, offerings: list[tuple[str, str, float]]) -> InstanceType:
        return InstanceType(
            name=name,
            labels={"kubernetes.io/arch": arch, "kubernetes.io/os": "linux", "example.com/gen": name[-1]},
            capacity={"cpu": cpu, "memory": "8Gi", "pods": "32"},
            offerings=tuple(Offering(zone=z, capacityType=c, price=p) for z, c, p in offerings),
        )

    return Catalog(
        name="small",
        region="r1",
        instanceTypes=[
            it(
                "a-2",
                "2",
                "amd64",
                [("z1", "on-demand", 0.10), ("z2", "on-demand", 0.09), ("z1", "spot", 0.05)],
            ),
            it("b-4", "4", "arm64", [("z1", "on-demand", 0.08), ("z2", "spot", 0.03)]),
            it("c-8", "8", "amd64", [("z2", "on-demand", 0.30), ("z2", "spot", 0.20)]),
        ],
    )


def keys(candidates: Any) -> list[tuple[str, str, str]]:
    return [c.key for c in candidates]


@pytest.mark.parametrize(
    ("operator", "values", "value", "expected"),
    [
        ("In", ["a", "b"], "a", True),
        ("In", ["a", "b"], "c", False),
        ("NotIn", ["a"], "a", False),
        ("NotIn", ["a"], "b", True),
        ("Exists", [], "x", True),
        ("DoesNotExist", [], "x", False),
        ("DoesNotExist", [], None, True),
        ("In", ["a"], None, True),  # undefined on the offering: the claim's labels carry it
        ("Gt", ["4"], "8", True),
        ("Gt", ["4"], "4", False),
        ("Gte", ["4"], "4", True),
        ("Lt", ["4"], "2", True),
        ("Lte", ["4"], "5", False),
        ("Gt", ["4"], "big", False),
    ],
)
def test_requirement_operators(operator: str, values: list[str], value: str | None, expected: bool) -> None:
    assert requirement_allows(req("k", operator, *values), value) is expected


def test_beta_label_keys_are_normalised() -> None:
    labels = {"kubernetes.io/arch": "arm64"}
    assert not requirements_allow([req("beta.kubernetes.io/arch", "In", "amd64")], labels)
    assert requirements_allow([req("beta.kubernetes.io/arch", "In", "arm64")], labels)


def test_compatible_offerings_are_cheapest_first_with_a_stable_tie_break() -> None:
    found = compatible_offerings(claim(), small_catalog())
    assert keys(found) == [
        ("z2", "spot", "b-4"),
        ("z1", "spot", "a-2"),
        ("z1", "on-demand", "b-4"),
        ("z2", "on-demand", "a-2"),
        ("z1", "on-demand", "a-2"),
        ("z2", "spot", "c-8"),
        ("z2", "on-demand", "c-8"),
    ]


def test_instance_type_zone_capacity_type_and_label_requirements_filter() -> None:
    catalog = small_catalog()
    nodeclaim = claim(
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["a-2", "c-8"]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["z2"]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
    )
    assert keys(compatible_offerings(nodeclaim, catalog)) == [
        ("z2", "on-demand", "a-2"),
        ("z2", "on-demand", "c-8"),
    ]
    arm = claim({"key": "kubernetes.io/arch", "operator": "In", "values": ["arm64"]})
    assert {c.instance_type.name for c in compatible_offerings(arm, catalog)} == {"b-4"}
    custom = claim({"key": "example.com/gen", "operator": "NotIn", "values": ["2", "4"]})
    assert {c.instance_type.name for c in compatible_offerings(custom, catalog)} == {"c-8"}
    region = claim({"key": "topology.kubernetes.io/region", "operator": "In", "values": ["elsewhere"]})
    assert compatible_offerings(region, catalog) == []


def test_custom_labels_the_offerings_do_not_define_do_not_exclude_them() -> None:
    nodeclaim = claim(
        {"key": "team", "operator": "In", "values": ["web"]},
        {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["default"]},
    )
    assert len(compatible_offerings(nodeclaim, small_catalog())) == 7


def test_resource_requests_must_fit_allocatable() -> None:
    big = claim(requests={"cpu": "3500m", "memory": "1Gi"})
    assert {c.instance_type.name for c in compatible_offerings(big, small_catalog())} == {"b-4", "c-8"}
    with pytest.raises(RequestError, match="not a quantity"):
        compatible_offerings(claim(requests={"cpu": "lots"}), small_catalog())


def test_unavailable_offerings_are_skipped_unless_asked_for() -> None:
    catalog = UnavailableOfferings(clock=lambda: 0.0)
    catalog.mark(("z2", "spot", "b-4"))
    marked = catalog.apply(small_catalog())
    assert keys(compatible_offerings(claim(), marked))[0] == ("z1", "spot", "a-2")
    assert ("z2", "spot", "b-4") in keys(compatible_offerings(claim(), marked, include_unavailable=True))


def test_cheapest_on_the_kwok_catalog() -> None:
    nodeclaim = claim(
        {
            "key": "node.kubernetes.io/instance-type",
            "operator": "In",
            "values": ["c-4x-amd64-linux", "m-4x-amd64-linux"],
        },
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand", "spot"]},
    )
    best = cheapest(compatible_offerings(nodeclaim, builtin_catalog("kwok")))
    assert best is not None
    # c-4x: 4 vCPU, 8 GiB -> on-demand 0.108, spot 0.0756; zones tie, so the first zone wins.
    assert best.key == ("test-zone-a", "spot", "c-4x-amd64-linux")
    assert best.offering.price == pytest.approx(0.0756)


def test_karpenter_capacity_type_rule() -> None:
    catalog = small_catalog()
    capacity_type, chosen = by_capacity_type(compatible_offerings(claim(), catalog))
    assert capacity_type == "spot"
    # c-8's spot (0.20) is dearer than the cheapest on-demand (0.08): dropped.
    assert keys(chosen) == [("z2", "spot", "b-4"), ("z1", "spot", "a-2")]
    on_demand_only = claim({"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]})
    capacity_type, chosen = by_capacity_type(compatible_offerings(on_demand_only, catalog))
    assert capacity_type == "on-demand" and keys(chosen)[0] == ("z1", "on-demand", "b-4")


def test_unavailable_patterns() -> None:
    patterns = UnavailablePatterns.parse("c-*x-amd64-linux:test-zone-a:spot, m-4x-*:*:on-demand,")
    assert patterns.matches("c-4x-amd64-linux", "test-zone-a", "spot")
    assert not patterns.matches("c-4x-amd64-linux", "test-zone-b", "spot")
    assert patterns.matches("m-4x-arm64-linux", "test-zone-d", "on-demand")
    assert not UnavailablePatterns.parse("").matches("a", "b", "c")
    with pytest.raises(ValueError, match="instanceType:zone:capacityType"):
        UnavailablePatterns.parse("c-4x:test-zone-a")


def test_unavailable_offerings_expire() -> None:
    now = [100.0]
    cache = UnavailableOfferings(ttl=10, clock=lambda: now[0])
    cache.mark(("z1", "spot", "a-2"))
    assert cache.is_unavailable(("z1", "spot", "a-2"))
    flagged = cache.apply(small_catalog()).by_name()["a-2"].offerings
    assert [o.available for o in flagged] == [True, True, False]
    now[0] = 110.0
    assert cache.current() == set()
    assert cache.apply(small_catalog()) == small_catalog()
