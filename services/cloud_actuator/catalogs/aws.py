"""An AWS-like catalog: real EC2 shapes (from moto's data, see `generate_aws.py`) with modelled prices.

Shapes, zones and network limits are real (us-east-1, as moto bundles them).
Prices are a documented *model*, not AWS list prices:

- on-demand $/h = 0.037 x vCPU + 0.00275 x GiB (fitted to c5.large 0.085 and
  m5.large 0.096), times 0.8 for Graviton (arm64), 1.05 for 7th generation,
  0.6 for burstable (t*) families, plus 0.50 per GPU;
- spot = on-demand x a discount between 0.30 and 0.70, fixed per (type, zone)
  by a hash of the two names, so every run sees the same prices.

Capacity and overhead follow Karpenter's AWS provider: memory loses 7.5% to
the VM, pods = ENIs x (IPv4 per ENI - 1) + 2, kube-reserved CPU is 6% of the
first core, 1% of the second, 0.5% of the next two and 0.25% of the rest,
kube-reserved memory is 11 MiB per pod + 255 MiB, and the eviction threshold
is 100 MiB of memory.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path

from bosun_common.catalog import (
    CAPACITY_TYPE_ON_DEMAND,
    CAPACITY_TYPE_SPOT,
    LABEL_ARCH,
    LABEL_OS,
    LABEL_REGION,
    Catalog,
    InstanceType,
    Offering,
    Overhead,
)

SHAPES = Path(__file__).with_name("aws_shapes.json")
CPU_RATE = 0.037
GIB_RATE = 0.00275
GPU_RATE = 0.50
VM_MEMORY_OVERHEAD = 0.075
_GENERATION = re.compile(r"^[a-z]+?(\d+)")


def on_demand_price(family: str, vcpu: int, memory_gib: float, arch: str, gpus: int) -> float:
    price = CPU_RATE * vcpu + GIB_RATE * memory_gib
    if arch == "arm64":
        price *= 0.8
    generation = _GENERATION.match(family)
    if generation and generation.group(1) == "7":
        price *= 1.05
    if family.startswith("t"):
        price *= 0.6
    return round(price + GPU_RATE * gpus, 5)


def spot_discount(instance_type: str, zone: str) -> float:
    digest = hashlib.sha256(f"{instance_type}/{zone}".encode()).digest()
    return 0.30 + 0.40 * (digest[0] / 255)


def kube_reserved_cpu_milli(vcpu: int) -> int:
    millicores = 0.0
    for start, end, share in ((0, 1, 0.06), (1, 2, 0.01), (2, 4, 0.005), (4, 1 << 20, 0.0025)):
        if vcpu > start:
            millicores += (min(vcpu, end) - start) * 1000 * share
    return round(millicores)


@cache
def aws_catalog() -> Catalog:
    data = json.loads(SHAPES.read_text())
    region = data["region"]
    types = []
    for name, row in data["instanceTypes"].items():
        vcpu, memory_mib, arch, gpus, gpu_name, enis, ipv4, _metal, hypervisor, zones = row
        family, size = name.split(".", 1)
        generation_match = _GENERATION.match(family)
        generation = generation_match.group(1) if generation_match else ""
        pods = enis * (ipv4 - 1) + 2
        memory = int(memory_mib * (1 - VM_MEMORY_OVERHEAD))
        price = on_demand_price(family, vcpu, memory_mib / 1024, arch, gpus)
        offerings = []
        for zone in zones:
            offerings.append(Offering(zone=zone, capacityType=CAPACITY_TYPE_ON_DEMAND, price=price))
            offerings.append(
                Offering(
                    zone=zone,
                    capacityType=CAPACITY_TYPE_SPOT,
                    price=round(price * spot_discount(name, zone), 5),
                )
            )
        capacity = {"cpu": str(vcpu), "memory": f"{memory}Mi", "pods": str(pods), "ephemeral-storage": "20Gi"}
        if gpus:
            capacity["nvidia.com/gpu"] = str(gpus)
        labels = {
            LABEL_ARCH: arch,
            LABEL_OS: "linux",
            LABEL_REGION: region,
            "karpenter.k8s.aws/instance-family": family,
            "karpenter.k8s.aws/instance-size": size,
            "karpenter.k8s.aws/instance-category": re.sub(r"\d.*", "", family),
            "karpenter.k8s.aws/instance-generation": generation,
            "karpenter.k8s.aws/instance-cpu": str(vcpu),
            "karpenter.k8s.aws/instance-memory": str(memory_mib),
            "karpenter.k8s.aws/instance-hypervisor": hypervisor,
        }
        if gpus:
            labels["karpenter.k8s.aws/instance-gpu-count"] = str(gpus)
            labels["karpenter.k8s.aws/instance-gpu-name"] = gpu_name
        overhead = Overhead(
            kubeReserved={"cpu": f"{kube_reserved_cpu_milli(vcpu)}m", "memory": f"{11 * pods + 255}Mi"},
            evictionThreshold={"memory": "100Mi"},
        )
        types.append(
            InstanceType(
                name=name, labels=labels, capacity=capacity, overhead=overhead, offerings=tuple(offerings)
            )
        )
    return Catalog(name="aws", region=region, instanceTypes=types)
