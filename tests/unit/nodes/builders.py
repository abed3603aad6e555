"""Small builders for node-engine tests: manifests in the shape users apply."""

from __future__ import annotations

from typing import Any

from bosun_common.catalog import InstanceType, Offering
from bosun_common.karpenter import NodePool, parse_nodepool
from node_planner.scheduling.objects import Node, Pod, parse_node, parse_pod

NODE_CLASS = {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": "default"}


def nodepool(
    name: str = "default", requirements: list[dict[str, Any]] | None = None, **spec: Any
) -> NodePool:
    return parse_nodepool(nodepool_manifest(name, requirements, **spec))


def nodepool_manifest(
    name: str = "default",
    requirements: list[dict[str, Any]] | None = None,
    node_class: dict[str, str] = NODE_CLASS,
    **spec: Any,
) -> dict[str, Any]:
    """The NodePool as a user applies it; `spec` keys other than the template's go to `spec`."""
    template_spec: dict[str, Any] = {"nodeClassRef": node_class, "requirements": requirements or []}
    for key in ("taints", "startupTaints", "expireAfter"):
        if key in spec:
            template_spec[key] = spec.pop(key)
    template: dict[str, Any] = {"spec": template_spec}
    if "labels" in spec:
        template["metadata"] = {"labels": spec.pop("labels")}
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {"template": template, **spec},
    }


def pod(
    name: str,
    cpu: str = "1",
    memory: str = "1Gi",
    labels: dict[str, str] | None = None,
    namespace: str = "default",
    node: str = "",
    **spec: Any,
) -> Pod:
    requests = {"cpu": cpu, "memory": memory}
    container: dict[str, Any] = {"name": "c", "resources": {"requests": requests}}
    if "ports" in spec:
        container["ports"] = spec.pop("ports")
    annotations = spec.pop("annotations", {})
    priority = spec.pop("priority", None)
    if priority is not None:
        spec["priority"] = priority
    if node:
        spec["nodeName"] = node
    return parse_pod(
        {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": f"{namespace}/{name}",
                "labels": labels or {},
                "annotations": annotations,
                "creationTimestamp": "2026-01-01T00:00:00Z",
            },
            "spec": {"containers": [container], **spec},
            "status": {"phase": "Running" if node else "Pending"},
        }
    )


def instance_type(
    name: str,
    cpu: int,
    memory_gib: int,
    price: float,
    zones: tuple[str, ...] = ("zone-a", "zone-b", "zone-c"),
    capacity_types: tuple[str, ...] = ("on-demand",),
    arch: str = "amd64",
    pods: int = 110,
    spot_factor: float = 0.6,
    extra: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
) -> InstanceType:
    offerings = tuple(
        Offering(zone=z, capacityType=c, price=round(price * (spot_factor if c == "spot" else 1.0), 6))
        for z in zones
        for c in capacity_types
    )
    return InstanceType(
        name=name,
        labels={"kubernetes.io/arch": arch, "kubernetes.io/os": "linux", **(labels or {})},
        capacity={"cpu": str(cpu), "memory": f"{memory_gib}Gi", "pods": str(pods), **(extra or {})},
        offerings=offerings,
    )


def ladder(
    zones: tuple[str, ...] = ("zone-a", "zone-b", "zone-c"), capacity_types: tuple[str, ...] = ("on-demand",)
) -> list[InstanceType]:
    """small (2 cpu, 4Gi, $0.10), medium (4, 8, $0.20), large (8, 16, $0.40), xlarge (16, 32, $0.80), arm (4, 8, $0.16)."""
    return [
        instance_type("small", 2, 4, 0.10, zones, capacity_types),
        instance_type("medium", 4, 8, 0.20, zones, capacity_types),
        instance_type("large", 8, 16, 0.40, zones, capacity_types),
        instance_type("xlarge", 16, 32, 0.80, zones, capacity_types),
        instance_type("arm-medium", 4, 8, 0.16, zones, capacity_types, arch="arm64"),
    ]


def node(
    name: str,
    instance: str = "large",
    cpu: str = "8",
    memory: str = "16Gi",
    zone: str = "zone-a",
    pool: str = "default",
    capacity_type: str = "on-demand",
    created: str = "2026-01-01T00:00:00Z",
    annotations: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    labels: dict[str, str] | None = None,
    extra_allocatable: dict[str, str] | None = None,
) -> Node:
    resources = {"cpu": cpu, "memory": memory, "pods": "110", **(extra_allocatable or {})}
    return parse_node(
        {
            "metadata": {
                "name": name,
                "creationTimestamp": created,
                "annotations": annotations or {},
                "labels": {
                    "karpenter.sh/nodepool": pool,
                    "node.kubernetes.io/instance-type": instance,
                    "topology.kubernetes.io/zone": zone,
                    "karpenter.sh/capacity-type": capacity_type,
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/hostname": name,
                    **(labels or {}),
                },
            },
            "spec": {"taints": taints or []},
            "status": {
                "capacity": resources,
                "allocatable": resources,
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )
