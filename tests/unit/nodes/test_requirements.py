"""The requirements algebra: operators, intersections, compatibility, aliases."""

from __future__ import annotations

import pytest

from node_planner.scheduling.requirements import Requirement, Requirements

ZONE = "topology.kubernetes.io/zone"


def req(operator: str, *values: str, key: str = "k") -> Requirement:
    return Requirement.new(key, operator, values)


@pytest.mark.parametrize(
    ("requirement", "value", "allowed"),
    [
        (req("In", "a", "b"), "a", True),
        (req("In", "a", "b"), "c", False),
        (req("NotIn", "a"), "a", False),
        (req("NotIn", "a"), "z", True),
        (req("Exists"), "anything", True),
        (req("DoesNotExist"), "anything", False),
        (req("Gt", "4"), "5", True),
        (req("Gt", "4"), "4", False),
        (req("Gte", "4"), "4", True),
        (req("Lt", "4"), "3", True),
        (req("Lt", "4"), "4", False),
        (req("Lte", "4"), "4", True),
        (req("Gt", "4"), "not-a-number", False),
    ],
)
def test_operators(requirement: Requirement, value: str, allowed: bool) -> None:
    assert requirement.has(value) is allowed


@pytest.mark.parametrize(
    ("left", "right", "operator", "values", "size"),
    [
        (req("In", "a", "b"), req("In", "b", "c"), "In", {"b"}, 1),
        (req("In", "a", "b"), req("NotIn", "a"), "In", {"b"}, 1),
        (req("NotIn", "a"), req("NotIn", "b"), "NotIn", {"a", "b"}, None),
        (req("Exists"), req("In", "x"), "In", {"x"}, 1),
        (req("In", "a"), req("DoesNotExist"), "DoesNotExist", set(), 0),
        (req("In", "a"), req("In", "b"), "DoesNotExist", set(), 0),
        (req("In", "2", "8", "16"), req("Gt", "4"), "In", {"8", "16"}, 2),
        (req("Gt", "4"), req("Lt", "6"), "Exists", set(), None),
        (req("Gt", "4"), req("Lt", "5"), "DoesNotExist", set(), 0),
        (req("Gte", "4"), req("Lte", "4"), "Exists", set(), None),
    ],
)
def test_intersection(
    left: Requirement, right: Requirement, operator: str, values: set[str], size: int | None
) -> None:
    result = left.intersection(right)
    assert result.operator() == operator
    assert set(result.values) == values
    if size is not None:
        assert len(result) == size
    assert right.intersection(left).operator() == operator


def test_bounded_intersection_keeps_only_integers_in_range() -> None:
    both = req("Gt", "4").intersection(req("Lt", "6"))
    assert both.has("5")
    assert not both.has("4") and not both.has("6")


def test_min_values_take_the_larger() -> None:
    a = Requirement.new("k", "Exists", (), min_values=2)
    b = Requirement.new("k", "In", ("x", "y", "z"), min_values=3)
    assert a.intersection(b).min_values == 3


def test_beta_labels_normalise() -> None:
    r = Requirement.new("failure-domain.beta.kubernetes.io/zone", "In", ("a",))
    assert r.key == ZONE
    assert Requirements.from_labels({"beta.kubernetes.io/arch": "arm64"}).keys() == {"kubernetes.io/arch"}


def test_adding_the_same_key_intersects() -> None:
    requirements = Requirements([req("In", "a", "b"), req("NotIn", "a")])
    assert set(requirements["k"].values) == {"b"}


@pytest.mark.parametrize(
    ("node", "pod", "compatible", "message"),
    [
        ({ZONE: ("In", ["a", "b"])}, {ZONE: ("In", ["b"])}, True, None),
        ({ZONE: ("In", ["a"])}, {ZONE: ("In", ["b"])}, False, "key topology.kubernetes.io/zone"),
        ({}, {ZONE: ("In", ["b"])}, True, None),  # well-known labels may be left open
        ({}, {"team": ("In", ["ml"])}, False, "label 'team' does not have known values"),
        ({}, {"team": ("NotIn", ["ml"])}, True, None),  # NotIn / DoesNotExist on an undefined label are fine
        ({}, {"team": ("DoesNotExist", [])}, True, None),
        ({"team": ("In", ["ml"])}, {"team": ("DoesNotExist", [])}, False, "team"),
        ({"team": ("NotIn", ["a"])}, {"team": ("NotIn", ["b"])}, True, None),
    ],
)
def test_compatibility(
    node: dict[str, tuple[str, list[str]]],
    pod: dict[str, tuple[str, list[str]]],
    compatible: bool,
    message: str | None,
) -> None:
    node_requirements = Requirements(Requirement.new(k, op, v) for k, (op, v) in node.items())
    pod_requirements = Requirements(Requirement.new(k, op, v) for k, (op, v) in pod.items())
    error = node_requirements.compatible_error(pod_requirements)
    assert (error is None) is compatible
    if message:
        assert error is not None and message in error


def test_operators_need_their_values() -> None:
    with pytest.raises(ValueError):
        Requirement.new("k", "Gt", ("x",))
    with pytest.raises(ValueError):
        Requirement.new("k", "Lt", ())


def test_to_terms_round_trips() -> None:
    requirements = Requirements(
        [req("In", "a", "b"), req("NotIn", "c", key="j"), Requirement.new("n", "Gt", ("3",))]
    )
    again = Requirements.from_terms(requirements.to_terms())
    assert again.signature() == requirements.signature()
