"""Karpenter's KWOK catalog: 144 instance types generated from a formula.

Names are `{family}-{vcpu}x-{arch}-{os}` for family c (2 GiB per vCPU), s (4 GiB)
and m (8 GiB), vCPU in 1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256, arch amd64
or arm64 and os linux or windows. Each type is offered in zones
`test-zone-a` .. `test-zone-d`, spot and on-demand. On-demand costs
0.025 $/h per vCPU plus 0.001 $/h per GiB; spot costs 0.7 x on-demand. A node
holds min(16 x vCPU, 1024) pods. No overhead is reserved (kwok nodes run no
kubelet), so allocatable equals capacity.
"""

from __future__ import annotations

from bosun_common.catalog import (
    CAPACITY_TYPE_ON_DEMAND,
    CAPACITY_TYPE_SPOT,
    LABEL_ARCH,
    LABEL_OS,
    LABEL_REGION,
    Catalog,
    InstanceType,
    Offering,
)

FAMILIES = {"c": 2, "s": 4, "m": 8}
CPUS = (1, 2, 4, 8, 16, 32, 48, 64, 96, 128, 192, 256)
ARCHES = ("amd64", "arm64")
OSES = ("linux", "windows")
ZONES = ("test-zone-a", "test-zone-b", "test-zone-c", "test-zone-d")
REGION = "test-region"
SPOT_DISCOUNT = 0.7


def on_demand_price(cpu: int, memory_gib: int) -> float:
    return round(0.025 * cpu + 0.001 * memory_gib, 6)


def kwok_instance_type(family: str, cpu: int, arch: str, os: str) -> InstanceType:
    memory_gib = cpu * FAMILIES[family]
    price = on_demand_price(cpu, memory_gib)
    offerings = tuple(
        Offering(
            zone=zone,
            capacityType=kind,
            price=round(price * (SPOT_DISCOUNT if kind == CAPACITY_TYPE_SPOT else 1), 6),
        )
        for zone in ZONES
        for kind in (CAPACITY_TYPE_SPOT, CAPACITY_TYPE_ON_DEMAND)
    )
    return InstanceType(
        name=f"{family}-{cpu}x-{arch}-{os}",
        labels={
            LABEL_ARCH: arch,
            LABEL_OS: os,
            LABEL_REGION: REGION,
            "karpenter.kwok.sh/instance-family": family,
            "karpenter.kwok.sh/instance-size": f"{cpu}x",
            "karpenter.kwok.sh/instance-cpu": str(cpu),
            "karpenter.kwok.sh/instance-memory": str(memory_gib * 1024),
        },
        capacity={
            "cpu": str(cpu),
            "memory": f"{memory_gib}Gi",
            "pods": str(min(16 * cpu, 1024)),
            "ephemeral-storage": "20Gi",
        },
        offerings=offerings,
    )


def kwok_catalog() -> Catalog:
    types = [kwok_instance_type(f, c, a, o) for f in FAMILIES for c in CPUS for a in ARCHES for o in OSES]
    return Catalog(name="kwok", region=REGION, instanceTypes=types)
