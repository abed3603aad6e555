"""Where pods go in a simulation: existing nodes, and NodeClaims opened by the simulation.

`SimNode` is an existing node or an in-flight NodeClaim (fixed allocatable);
`SimClaim` is a NodeClaim the simulation opened, whose instance-type options
narrow with every pod added. `finalize` turns a SimClaim into the NodeClaim to
create: its options sorted by the cheapest compatible available offering and
truncated to 600, and the launch the provider would pick (spot when allowed
and available, without spot types dearer than the cheapest on-demand one, and
exotic types only when nothing else fits).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bosun_common.catalog import (
    CAPACITY_TYPE_ON_DEMAND,
    CAPACITY_TYPE_RESERVED,
    CAPACITY_TYPE_SPOT,
    LABEL_CAPACITY_TYPE,
    LABEL_INSTANCE_TYPE,
    LABEL_ZONE,
)
from node_planner.provisioning.instance_types import (
    MAX_INSTANCE_TYPES,
    BoolArray,
    IntArray,
    PoolTypes,
)
from node_planner.scheduling.objects import HostPort, Node, Pod
from node_planner.scheduling.requirements import Requirement, Requirements
from node_planner.scheduling.taints import Taint


@dataclass(eq=False)
class SimNode:
    """An existing node (or in-flight NodeClaim) with what is already on it."""

    node: Node
    requirements: Requirements
    free: IntArray
    taints: list[Taint]
    pods: list[Pod] = field(default_factory=list)
    host_ports: list[HostPort] = field(default_factory=list)
    volumes: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.node.name


@dataclass(eq=False)
class SimClaim:
    """A NodeClaim opened by the simulation."""

    index: int
    pool: PoolTypes
    pool_index: int
    hostname: str
    requirements: Requirements
    options: BoolArray
    requests: IntArray
    pods: list[Pod] = field(default_factory=list)
    host_ports: list[HostPort] = field(default_factory=list)
    min_values_relaxed: bool = False

    @property
    def nodepool(self) -> str:
        return self.pool.nodepool.name


@dataclass(frozen=True)
class Launch:
    instance_type: str
    zone: str
    capacity_type: str
    price: float


@dataclass
class NewNodeClaim:
    """A NodeClaim to create: the NodePool, the ordered options, the launch choice, the pods."""

    nodepool: str
    instance_types: list[str]
    requirements: Requirements
    launch: Launch
    pods: list[Pod]
    requests: dict[str, int]
    hostname: str
    min_values_relaxed: bool = False


def order_options(pool: PoolTypes, requirements: Requirements, options: BoolArray) -> list[int]:
    """Option indices by cheapest compatible available offering, then name (pool types are in name order)."""
    prices = pool.offering_prices(requirements)
    indices = np.flatnonzero(options)
    return [int(i) for i in indices[np.lexsort((indices, prices[indices]))]]


def _offering_masks(pool: PoolTypes, requirements: Requirements) -> tuple[BoolArray, BoolArray]:
    zone = requirements.get_or_exists(LABEL_ZONE)
    kind = requirements.get_or_exists(LABEL_CAPACITY_TYPE)
    zones = np.array([zone.has(z) for z in pool.zones], dtype=np.bool_)
    kinds = np.array([kind.has(c) for c in pool.capacity_types], dtype=np.bool_)
    return zones, kinds


def choose_launch(pool: PoolTypes, requirements: Requirements, ordered: list[int]) -> Launch | None:
    """What the provider would launch: capacity type reserved > spot > on-demand, then the cheapest offering.

    Spot types dearer than the cheapest on-demand option are dropped, and exotic types (GPUs,
    accelerators, metal) are used only when nothing ordinary is left. Ties go to the type name,
    then the zone.
    """
    if not ordered:
        return None
    zones, kinds = _offering_masks(pool, requirements)
    indices = np.array(ordered, dtype=np.int64)
    prices = np.where(zones[None, :, None] & kinds[None, None, :], pool.prices[indices], np.inf)
    names = pool.capacity_types
    preference = [CAPACITY_TYPE_RESERVED, CAPACITY_TYPE_SPOT, CAPACITY_TYPE_ON_DEMAND, *sorted(names)]
    for capacity_type in dict.fromkeys(preference):
        if capacity_type not in names:
            continue
        by_zone = prices[:, :, names.index(capacity_type)]
        cheapest = by_zone.min(axis=1)
        keep = np.isfinite(cheapest)
        if not keep.any():
            continue
        if capacity_type == CAPACITY_TYPE_SPOT and CAPACITY_TYPE_ON_DEMAND in names:
            on_demand = float(prices[:, :, names.index(CAPACITY_TYPE_ON_DEMAND)].min())
            affordable = keep & (cheapest <= on_demand)
            if np.isfinite(on_demand) and affordable.any():
                keep = affordable
        ordinary = keep & ~pool.exotic[indices]
        if ordinary.any():
            keep = ordinary
        masked = np.where(keep[:, None], by_zone, np.inf)
        best = float(masked.min())
        rows, columns = np.nonzero(masked == best)
        row, column = min(zip(indices[rows].tolist(), columns.tolist(), strict=True))
        return Launch(pool.types[row].name, pool.zones[column], capacity_type, best)
    return None


def min_values_error(pool: PoolTypes, requirements: Requirements, options: BoolArray) -> str | None:
    """Which requirement's minValues the options no longer satisfy, or None."""
    for key, requirement in requirements.items():
        if requirement.min_values is None:
            continue
        distinct = int(options.sum()) if key == LABEL_INSTANCE_TYPE else pool.distinct_values(key, options)
        if distinct < requirement.min_values:
            return f"minValues requirement not met for {key}: {distinct} < {requirement.min_values}"
    return None


def finalize(claim: SimClaim, resources_names: list[str], strict_min_values: bool) -> NewNodeClaim | str:
    """The NodeClaim to create for `claim`, or why it cannot be created."""
    pool = claim.pool
    ordered = order_options(pool, claim.requirements, claim.options)
    truncated = ordered[:MAX_INSTANCE_TYPES]
    relaxed = claim.min_values_relaxed
    if len(truncated) < len(ordered):
        mask = np.zeros(pool.size, dtype=np.bool_)
        mask[truncated] = True
        error = min_values_error(pool, claim.requirements, mask)
        if error and strict_min_values:
            return f"truncating to {MAX_INSTANCE_TYPES} instance types breaks {error}"
        relaxed = relaxed or error is not None
    launch = choose_launch(pool, claim.requirements, truncated)
    if launch is None:
        return "no available offering for the remaining instance types"
    requirements = claim.requirements.copy()
    names = [pool.types[i].name for i in truncated]
    requirements.add(Requirement(LABEL_INSTANCE_TYPE, False, frozenset(names)))
    zones, _ = _offering_masks(pool, requirements)
    offered = np.asarray(
        np.isfinite(pool.prices[np.array(truncated, dtype=np.int64)][:, zones, :]).any(axis=(0, 1))
    )
    capacity_types = [name for i, name in enumerate(pool.capacity_types) if bool(offered[i])]
    requirements.add(Requirement(LABEL_CAPACITY_TYPE, False, frozenset(capacity_types)))
    requests = {name: int(claim.requests[i]) for i, name in enumerate(resources_names) if claim.requests[i]}
    return NewNodeClaim(
        pool.nodepool.name, names, requirements, launch, list(claim.pods), requests, claim.hostname, relaxed
    )
