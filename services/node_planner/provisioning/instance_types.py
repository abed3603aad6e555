"""A NodePool's instance types as numpy arrays, for vectorised filtering, fitting and pricing.

Each `PoolTypes` holds, for one NodePool, the instance types compatible with
its requirements: allocatable minus the DaemonSet overhead that would land on
each type (T x R), capacity, and the price of every (zone, capacity type)
offering (T x Z x C, `inf` when absent or unavailable). Masks for
requirements are cached, so filtering a claim's options is a handful of
boolean ANDs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bosun_common.catalog import LABEL_CAPACITY_TYPE, LABEL_NODEPOOL, LABEL_ZONE, InstanceType
from bosun_common.karpenter import NodePool
from node_planner.scheduling.objects import Pod
from node_planner.scheduling.requirements import Requirement, Requirements
from node_planner.scheduling.taints import Taint, untolerated_taint

MAX_INSTANCE_TYPES = 600
EXOTIC_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "aws.amazon.com/neuron", "habana.ai/gaudi")
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def is_exotic(instance_type: InstanceType) -> bool:
    """GPUs, accelerators and bare metal: launched only when nothing ordinary fits."""
    if any(name in instance_type.capacity for name in EXOTIC_RESOURCES):
        return True
    size = instance_type.labels.get("karpenter.k8s.aws/instance-size", "")
    return instance_type.name.endswith(".metal") or "metal" in size


class ResourceIndex:
    """A fixed order of resource names, so resource lists become int64 vectors (milli-units)."""

    def __init__(self, names: Iterable[str]) -> None:
        base = ["cpu", "memory", "pods"]
        self.names: list[str] = base + sorted(set(names) - set(base))
        self.index = {name: i for i, name in enumerate(self.names)}

    def vector(self, resources: dict[str, int]) -> IntArray:
        result = np.zeros(len(self.names), dtype=np.int64)
        for name, value in resources.items():
            position = self.index.get(name)
            if position is not None:
                result[position] = value
        return result

    def as_dict(self, vector: IntArray) -> dict[str, int]:
        return {name: int(vector[i]) for i, name in enumerate(self.names) if vector[i]}


def nodepool_requirements(nodepool: NodePool) -> Requirements:
    """Template requirements, template labels (as `In`) and the nodepool label."""
    spec = nodepool.spec.template.spec
    requirements = Requirements.from_terms([r.model_dump() for r in spec.requirements])
    requirements.add_all(Requirements.from_labels(nodepool.spec.template.metadata.labels))
    requirements.add(Requirement(LABEL_NODEPOOL, False, frozenset((nodepool.name,))))
    return requirements


@dataclass
class PoolTypes:
    """One NodePool's compatible instance types, vectorised."""

    nodepool: NodePool
    requirements: Requirements
    taints: list[Taint]
    startup_taints: list[Taint]
    types: list[InstanceType]
    alloc: IntArray
    capacity: IntArray
    zones: list[str]
    capacity_types: list[str]
    prices: FloatArray
    exotic: BoolArray = field(init=False)
    excluded: dict[str, str] = field(default_factory=dict)  # type name -> why not offered
    _masks: dict[Requirement, BoolArray] = field(default_factory=dict)
    _offer_masks: dict[tuple[Requirement | None, Requirement | None], FloatArray] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        self.exotic = np.array([is_exotic(it) for it in self.types], dtype=np.bool_)

    @property
    def size(self) -> int:
        return len(self.types)

    def requirement_mask(self, requirement: Requirement) -> BoolArray:
        """Types whose labels allow `requirement` (types without the label are not constrained)."""
        cached = self._masks.get(requirement)
        if cached is not None:
            return cached
        key = requirement.key
        values = [it.all_labels().get(key) for it in self.types]
        mask = np.array([v is None or requirement.has(v) for v in values], dtype=np.bool_)
        self._masks[requirement] = mask
        return mask

    def offering_prices(self, requirements: Requirements) -> FloatArray:
        """Per type, the cheapest available offering allowed by the zone and capacity-type requirements."""
        zone = requirements.get(LABEL_ZONE)
        capacity_type = requirements.get(LABEL_CAPACITY_TYPE)
        cache_key = (zone, capacity_type)
        cached = self._offer_masks.get(cache_key)
        if cached is not None:
            return cached
        if self.size == 0:
            return np.full(0, np.inf)
        zones = [i for i, z in enumerate(self.zones) if zone is None or zone.has(z)]
        kinds = [
            i for i, c in enumerate(self.capacity_types) if capacity_type is None or capacity_type.has(c)
        ]
        if zones and kinds:
            prices = self.prices[:, zones][:, :, kinds].reshape(self.size, -1).min(axis=1)
        else:
            prices = np.full(self.size, np.inf)
        self._offer_masks[cache_key] = prices
        return prices

    def compatible_mask(self, requirements: Requirements) -> BoolArray:
        """Types compatible with every requirement and with at least one allowed, available offering."""
        mask: BoolArray = np.isfinite(self.offering_prices(requirements))
        for key, requirement in requirements.items():
            if key in (LABEL_ZONE, LABEL_CAPACITY_TYPE, LABEL_NODEPOOL):
                continue
            mask = np.asarray(mask & self.requirement_mask(requirement), dtype=np.bool_)
        return mask

    def fit_mask(self, requests: IntArray) -> BoolArray:
        fit: BoolArray = np.asarray((self.alloc >= requests).all(axis=1), dtype=np.bool_)
        return fit

    def distinct_values(self, key: str, mask: BoolArray) -> int:
        """How many distinct values of label `key` the masked types offer (for minValues)."""
        if key == LABEL_ZONE:
            present = np.isfinite(self.prices[mask]).any(axis=2).any(axis=0)
            return int(present.sum())
        if key == LABEL_CAPACITY_TYPE:
            present = np.isfinite(self.prices[mask]).any(axis=1).any(axis=0)
            return int(present.sum())
        return len({self.types[i].all_labels().get(key) for i in np.flatnonzero(mask)} - {None})


def build_pool_types(
    nodepool: NodePool,
    instance_types: Sequence[InstanceType],
    daemon_pods: Sequence[Pod],
    resources: ResourceIndex,
    allow_undefined: frozenset[str],
) -> PoolTypes:
    """The NodePool's compatible types, with per-type DaemonSet overhead subtracted from allocatable."""
    requirements = nodepool_requirements(nodepool)
    spec = nodepool.spec.template.spec
    taints = [Taint(t.key, t.value, t.effect) for t in spec.taints]
    startup = [Taint(t.key, t.value, t.effect) for t in spec.startupTaints]
    zones = sorted({o.zone for it in instance_types for o in it.offerings})
    kinds = sorted({o.capacityType for it in instance_types for o in it.offerings})
    kept: list[InstanceType] = []
    excluded: dict[str, str] = {}
    for it in sorted(instance_types, key=lambda it: it.name):
        type_requirements = Requirements.from_labels(it.all_labels())
        error = type_requirements.intersects_error(requirements)
        offered = [
            o
            for o in it.offerings
            if o.available
            and requirements.get_or_exists(LABEL_ZONE).has(o.zone)
            and requirements.get_or_exists(LABEL_CAPACITY_TYPE).has(o.capacityType)
        ]
        if error:
            excluded[it.name] = error
        elif not offered:
            excluded[it.name] = "no available offering matches the NodePool's zones and capacity types"
        else:
            kept.append(it)
    prices = np.full((len(kept), max(1, len(zones)), max(1, len(kinds))), np.inf)
    for t, it in enumerate(kept):
        for o in it.offerings:
            if o.available:
                prices[t, zones.index(o.zone), kinds.index(o.capacityType)] = o.price
    capacity = np.array([resources.vector(it.capacity_milli()) for it in kept], dtype=np.int64).reshape(
        len(kept), len(resources.names)
    )
    alloc = np.array([resources.vector(it.allocatable()) for it in kept], dtype=np.int64).reshape(
        len(kept), len(resources.names)
    )
    pool = PoolTypes(
        nodepool,
        requirements,
        taints,
        startup,
        kept,
        alloc,
        capacity,
        zones,
        kinds,
        prices,
        excluded=excluded,
    )
    for daemon in daemon_pods:
        if untolerated_taint(taints, daemon.tolerations) is not None:
            continue
        daemon_requirements = daemon.node_requirements()
        if requirements.compatible_error(daemon_requirements, allow_undefined) is not None:
            continue
        mask = (
            pool.compatible_mask(requirements.merged(daemon_requirements))
            if len(kept)
            else np.zeros(0, np.bool_)
        )
        pool.alloc[mask] -= resources.vector(daemon.requests)
    return pool
