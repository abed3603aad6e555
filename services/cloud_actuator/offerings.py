"""The pure core of launching: which offerings a NodeClaim may use, and which one to take.

No I/O and no asyncio. An offering (instance type x zone x capacity type) is
compatible with a NodeClaim when every requirement whose key the offering
defines holds for the offering's value (keys the offering does not define,
such as custom labels or `karpenter.sh/nodepool`, are carried by the claim's
own labels, as in Karpenter), and when the instance type's allocatable fits the
claim's resource requests.

- `compatible_offerings` lists them, cheapest first, in a stable order.
- `cheapest` is the sim provider's choice (Karpenter's KWOK provider takes the
  cheapest compatible offering).
- `by_capacity_type` is Karpenter's AWS rule: spot when the claim allows it and
  a spot offering is available (spot types dearer than the cheapest on-demand
  one are dropped), on-demand otherwise.
- `UnavailablePatterns` parses injected capacity errors (`type:zone:capacityType`
  globs); `UnavailableOfferings` remembers offerings that failed for a while.

May import: the standard library and bosun_common.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bosun_common.catalog import (
    CAPACITY_TYPE_ON_DEMAND,
    CAPACITY_TYPE_RESERVED,
    CAPACITY_TYPE_SPOT,
    LABEL_CAPACITY_TYPE,
    LABEL_REGION,
    LABEL_ZONE,
    Catalog,
    InstanceType,
    Offering,
    QuantityError,
    fits,
    parse_resource_list,
)
from bosun_common.karpenter import NodeClaim, NodeSelectorRequirementWithMinValues, normalize_label_key

# Cheaper capacity types first when prices tie.
CAPACITY_TYPE_ORDER = {CAPACITY_TYPE_RESERVED: 0, CAPACITY_TYPE_SPOT: 1, CAPACITY_TYPE_ON_DEMAND: 2}


class RequestError(ValueError):
    """The NodeClaim cannot be read (a bad quantity in its requests)."""


@dataclass(frozen=True)
class Candidate:
    """One offering a NodeClaim may launch on."""

    instance_type: InstanceType
    offering: Offering

    @property
    def key(self) -> tuple[str, str, str]:
        """(zone, capacity type, instance type), as CloudOutcome.unavailableOfferings lists them."""
        return (self.offering.zone, self.offering.capacityType, self.instance_type.name)

    @property
    def sort_key(self) -> tuple[float, int, str, str]:
        return (
            self.offering.price,
            CAPACITY_TYPE_ORDER.get(self.offering.capacityType, 9),
            self.instance_type.name,
            self.offering.zone,
        )


def offering_labels(
    instance_type: InstanceType, offering: Offering, region: str | None = None
) -> dict[str, str]:
    """Every label value an offering defines: the type's labels, its name, zone, capacity type, region."""
    labels = instance_type.all_labels()
    labels[LABEL_ZONE] = offering.zone
    labels[LABEL_CAPACITY_TYPE] = offering.capacityType
    if region and LABEL_REGION not in labels:
        labels[LABEL_REGION] = region
    return labels


def _integer(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def requirement_allows(requirement: NodeSelectorRequirementWithMinValues, value: str | None) -> bool:
    """Whether a label value (None: the label is not defined) satisfies one requirement."""
    op = requirement.operator
    if op == "DoesNotExist":
        return value is None
    if value is None:
        # Undefined here: the claim's own labels define it (Karpenter allows undefined keys).
        return True
    if op == "In":
        return value in requirement.values
    if op == "NotIn":
        return value not in requirement.values
    if op == "Exists":
        return True
    number, bound = _integer(value), _integer(requirement.values[0])
    if number is None or bound is None:
        return False
    if op == "Gt":
        return number > bound
    if op == "Lt":
        return number < bound
    if op == "Gte":
        return number >= bound
    return number <= bound  # Lte


def requirements_allow(
    requirements: Sequence[NodeSelectorRequirementWithMinValues], labels: dict[str, str]
) -> bool:
    """Every requirement holds for the labels; keys the labels do not define are not checked."""
    for requirement in requirements:
        key = normalize_label_key(requirement.key)
        if not requirement_allows(requirement, labels.get(key)):
            return False
    return True


def claim_requests(nodeclaim: NodeClaim) -> dict[str, int]:
    try:
        return parse_resource_list(nodeclaim.spec.resources.requests)
    except QuantityError as exc:
        raise RequestError(f"NodeClaim {nodeclaim.name!r}: {exc}") from None


def compatible_offerings(
    nodeclaim: NodeClaim,
    catalog: Catalog,
    *,
    include_unavailable: bool = False,
    zones: Iterable[str] | None = None,
) -> list[Candidate]:
    """Offerings the claim may use, cheapest first (then capacity type, type name, zone)."""
    requests = claim_requests(nodeclaim)
    allowed_zones = set(zones) if zones is not None else None
    requirements = nodeclaim.spec.requirements
    result: list[Candidate] = []
    for instance_type in catalog.instanceTypes:
        if not fits(requests, instance_type.allocatable()):
            continue
        for offering in instance_type.offerings:
            if not (offering.available or include_unavailable):
                continue
            if allowed_zones is not None and offering.zone not in allowed_zones:
                continue
            if requirements_allow(requirements, offering_labels(instance_type, offering, catalog.region)):
                result.append(Candidate(instance_type, offering))
    return sorted(result, key=lambda c: c.sort_key)


def cheapest(candidates: Sequence[Candidate]) -> Candidate | None:
    return min(candidates, key=lambda c: c.sort_key, default=None)


def by_capacity_type(candidates: Sequence[Candidate]) -> tuple[str, list[Candidate]]:
    """Karpenter's AWS rule: the capacity type to launch and its candidates, cheapest first.

    Spot when the claim allows spot and a spot offering is available, dropping spot
    offerings dearer than the cheapest on-demand one; on-demand otherwise.
    """
    spot = [c for c in candidates if c.offering.capacityType == CAPACITY_TYPE_SPOT]
    on_demand = [c for c in candidates if c.offering.capacityType == CAPACITY_TYPE_ON_DEMAND]
    if spot:
        if on_demand:
            ceiling = min(c.offering.price for c in on_demand)
            spot = [c for c in spot if c.offering.price <= ceiling] or spot
        return CAPACITY_TYPE_SPOT, sorted(spot, key=lambda c: c.sort_key)
    return CAPACITY_TYPE_ON_DEMAND, sorted(on_demand, key=lambda c: c.sort_key)


@dataclass(frozen=True)
class UnavailablePatterns:
    """Injected insufficient-capacity errors: `instanceType:zone:capacityType` globs (`*`, `?`)."""

    patterns: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> UnavailablePatterns:
        patterns: list[tuple[str, str, str]] = []
        for raw in text.split(","):
            item = raw.strip()
            if not item:
                continue
            parts = item.split(":")
            if len(parts) != 3 or not all(parts):
                raise ValueError(
                    f"unavailable offering pattern {item!r} must be instanceType:zone:capacityType (globs allowed)"
                )
            patterns.append((parts[0], parts[1], parts[2]))
        return cls(tuple(patterns))

    def matches(self, instance_type: str, zone: str, capacity_type: str) -> bool:
        return any(
            fnmatch.fnmatchcase(instance_type, t)
            and fnmatch.fnmatchcase(zone, z)
            and fnmatch.fnmatchcase(capacity_type, c)
            for t, z, c in self.patterns
        )


@dataclass
class UnavailableOfferings:
    """Offerings that failed with insufficient capacity, remembered for `ttl` seconds (Karpenter: 3 min)."""

    ttl: float = 180.0
    clock: Callable[[], float] = time.monotonic
    _until: dict[tuple[str, str, str], float] = field(default_factory=dict)

    def mark(self, key: tuple[str, str, str]) -> None:
        """Mark (zone, capacity type, instance type) unavailable."""
        self._until[key] = self.clock() + self.ttl

    def is_unavailable(self, key: tuple[str, str, str]) -> bool:
        until = self._until.get(key)
        if until is None:
            return False
        if until <= self.clock():
            del self._until[key]
            return False
        return True

    def current(self) -> set[tuple[str, str, str]]:
        return {key for key in list(self._until) if self.is_unavailable(key)}

    def apply(self, catalog: Catalog) -> Catalog:
        """The catalog with the remembered offerings flagged unavailable."""
        marked = self.current()
        if not marked:
            return catalog
        types: list[InstanceType] = []
        for instance_type in catalog.instanceTypes:
            offerings = tuple(
                o.model_copy(update={"available": False})
                if o.available and (o.zone, o.capacityType, instance_type.name) in marked
                else o
                for o in instance_type.offerings
            )
            types.append(
                instance_type
                if offerings == instance_type.offerings
                else instance_type.model_copy(update={"offerings": offerings})
            )
        return catalog.model_copy(update={"instanceTypes": types})
