"""The instance-type catalog: what a cloud can launch, where, and at what price.

The cloud-actuator publishes a `Catalog`; the node-planner consumes it. An
`InstanceType` carries its labels (every well-known label it defines, such as
`kubernetes.io/arch`), its capacity, its overhead (kube-reserved,
system-reserved and the eviction threshold) and its offerings, one per zone
and capacity type, each with a price and an availability flag.

Resource quantities are Kubernetes quantities (`"1500m"`, `"4Gi"`). Inside
Bosun they are integers in *milli-units* (`cpu: "1"` is 1000, `memory: "1Ki"`
is 1_024_000), so that arithmetic is exact and every resource is handled the
same way.

The file format (JSON or YAML) is the pydantic model's own shape:

```yaml
apiVersion: bosun.dev/v1alpha1
kind: InstanceTypeCatalog
name: kwok
instanceTypes:
  - name: c-4x-amd64-linux
    labels: {kubernetes.io/arch: amd64, kubernetes.io/os: linux}
    capacity: {cpu: "4", memory: 8Gi, pods: "64"}
    overhead: {kubeReserved: {cpu: 100m}, systemReserved: {}, evictionThreshold: {memory: 100Mi}}
    offerings:
      - {zone: test-zone-a, capacityType: on-demand, price: 0.108, available: true}
```

May import: the standard library and third-party packages only.
"""

from __future__ import annotations

import json
import math
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bosun_common.quantity import parse_quantity_exact

LABEL_ZONE = "topology.kubernetes.io/zone"
LABEL_REGION = "topology.kubernetes.io/region"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_ARCH = "kubernetes.io/arch"
LABEL_OS = "kubernetes.io/os"
LABEL_HOSTNAME = "kubernetes.io/hostname"
LABEL_CAPACITY_TYPE = "karpenter.sh/capacity-type"
LABEL_NODEPOOL = "karpenter.sh/nodepool"

CAPACITY_TYPE_SPOT = "spot"
CAPACITY_TYPE_ON_DEMAND = "on-demand"
CAPACITY_TYPE_RESERVED = "reserved"

RESOURCE_CPU = "cpu"
RESOURCE_MEMORY = "memory"
RESOURCE_PODS = "pods"
RESOURCE_EPHEMERAL_STORAGE = "ephemeral-storage"


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value: str | int | float) -> int:
    """A Kubernetes quantity in milli-units, rounded up (as Kubernetes rounds requests)."""
    if isinstance(value, bool):
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, int):
        return value * 1000
    if isinstance(value, float):
        return int((Decimal(str(value)) * 1000).to_integral_value(rounding=ROUND_CEILING))
    try:
        exact = parse_quantity_exact(str(value))
    except ValueError:
        raise QuantityError(f"not a quantity: {value!r}") from None
    return math.ceil(exact * 1000)


def format_quantity(resource: str, milli: int) -> str:
    """A readable quantity: cpu in cores or millicores, memory in Gi/Mi/Ki, other counts plain."""
    if milli % 1000:
        return f"{milli}m"
    whole = milli // 1000
    if resource in (RESOURCE_MEMORY, RESOURCE_EPHEMERAL_STORAGE) or resource.startswith("hugepages-"):
        for suffix, factor in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if whole and whole % factor == 0:
                return f"{whole // factor}{suffix}"
    return str(whole)


def parse_resource_list(resources: dict[str, Any] | None) -> dict[str, int]:
    """A Kubernetes resource list (`{cpu: 500m}`) as milli-units per resource name."""
    return {name: parse_quantity(value) for name, value in (resources or {}).items()}


def format_resource_list(resources: dict[str, int]) -> dict[str, str]:
    """Milli-units per resource back to Kubernetes quantity strings."""
    return {name: format_quantity(name, value) for name, value in sorted(resources.items())}


def add_resources(*lists: dict[str, int]) -> dict[str, int]:
    """The sum of resource lists."""
    total: dict[str, int] = {}
    for resources in lists:
        for name, value in resources.items():
            total[name] = total.get(name, 0) + value
    return total


def subtract_resources(left: dict[str, int], right: dict[str, int]) -> dict[str, int]:
    """`left - right` per resource (resources only in `right` come out negative)."""
    result = dict(left)
    for name, value in right.items():
        result[name] = result.get(name, 0) - value
    return result


def fits(requests: dict[str, int], available: dict[str, int]) -> bool:
    """True when every requested resource is available."""
    return all(value <= available.get(name, 0) for name, value in requests.items() if value > 0)


class Offering(BaseModel):
    """One way to buy an instance type: a zone, a capacity type and a price in $/hour."""

    model_config = ConfigDict(frozen=True)

    zone: str
    capacityType: str = CAPACITY_TYPE_ON_DEMAND
    price: float = Field(ge=0)
    available: bool = True

    @property
    def key(self) -> tuple[str, str]:
        return (self.zone, self.capacityType)


class Overhead(BaseModel):
    """What the node keeps for itself: subtracted from capacity to give allocatable."""

    model_config = ConfigDict(frozen=True)

    kubeReserved: dict[str, str] = Field(default_factory=dict)
    systemReserved: dict[str, str] = Field(default_factory=dict)
    evictionThreshold: dict[str, str] = Field(default_factory=dict)

    def total(self) -> dict[str, int]:
        return add_resources(
            parse_resource_list(self.kubeReserved),
            parse_resource_list(self.systemReserved),
            parse_resource_list(self.evictionThreshold),
        )


class InstanceType(BaseModel):
    """A shape of machine with its labels, capacity, overhead and offerings."""

    model_config = ConfigDict(frozen=True)

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    capacity: dict[str, str]
    overhead: Overhead = Field(default_factory=Overhead)
    offerings: tuple[Offering, ...]

    @field_validator("capacity")
    @classmethod
    def _capacity_parses(cls, value: dict[str, str]) -> dict[str, str]:
        parse_resource_list(value)
        return value

    def capacity_milli(self) -> dict[str, int]:
        return parse_resource_list(self.capacity)

    def allocatable(self) -> dict[str, int]:
        """Capacity minus kube-reserved, system-reserved and the eviction threshold (never negative)."""
        capacity = self.capacity_milli()
        overhead = self.overhead.total()
        return {name: max(0, value - overhead.get(name, 0)) for name, value in capacity.items()}

    def all_labels(self) -> dict[str, str]:
        """The labels a node of this type carries, including the instance-type label."""
        return {**self.labels, LABEL_INSTANCE_TYPE: self.name}

    def zones(self) -> list[str]:
        return sorted({offering.zone for offering in self.offerings})

    def capacity_types(self) -> list[str]:
        return sorted({offering.capacityType for offering in self.offerings})

    def cheapest_available_price(self) -> float | None:
        prices = [offering.price for offering in self.offerings if offering.available]
        return min(prices) if prices else None


class Catalog(BaseModel):
    """Every instance type a provider offers, in a stable order (by name)."""

    apiVersion: str = "bosun.dev/v1alpha1"
    kind: str = "InstanceTypeCatalog"
    name: str = "custom"
    region: str | None = None
    instanceTypes: list[InstanceType]

    @field_validator("instanceTypes")
    @classmethod
    def _unique_sorted(cls, value: list[InstanceType]) -> list[InstanceType]:
        names = [it.name for it in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate instance type names: {duplicates}")
        return sorted(value, key=lambda it: it.name)

    def by_name(self) -> dict[str, InstanceType]:
        return {it.name: it for it in self.instanceTypes}

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def load_catalog(path: str | Path) -> Catalog:
    """Read a catalog file (JSON or YAML)."""
    text = Path(path).read_text()
    data = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    return Catalog.model_validate(data)
