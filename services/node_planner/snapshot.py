"""A snapshot of the cluster as the scheduler and disruption see it. Pure: no asyncio, no I/O.

From raw Kubernetes objects (as the informer publishes them) and the catalog:
parsed NodePools (invalid ones set aside with the reason), pending and bound
pods, DaemonSet pods, PDBs, and nodes, where a NodeClaim without a node yet
counts as the node it will become (in flight), so pods are not provisioned for
twice. `schedule_pods` runs the provisioning simulation over it; `cluster`
gives disruption its input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from bosun_common.catalog import LABEL_INSTANCE_TYPE, Catalog, InstanceType, parse_resource_list
from bosun_common.karpenter import TAINT_DISRUPTED, NodePool, parse_nodepool
from node_planner.disruption.simulation import Cluster
from node_planner.provisioning.scheduler import Scheduler, SchedulingResult
from node_planner.readiness import NodeClassKey, NodeClassKind, NodeClassReadiness, node_class_readiness
from node_planner.scheduling.objects import (
    Node,
    Pod,
    PodDisruptionBudget,
    daemonset_pod,
    parse_node,
    parse_pdb,
    parse_pod,
)
from node_planner.scheduling.taints import Taint


@dataclass
class Snapshot:
    nodepools: list[NodePool] = field(default_factory=list)
    invalid_nodepools: dict[str, str] = field(default_factory=dict)  # name -> why
    # Valid NodePools whose node class is not ready: kept for disruption, never launched from.
    unready_nodepools: dict[str, NodeClassReadiness] = field(default_factory=dict)
    pods: list[Pod] = field(default_factory=list)
    nodes: list[Node] = field(default_factory=list)
    daemon_pods: list[Pod] = field(default_factory=list)
    pdbs: list[PodDisruptionBudget] = field(default_factory=list)
    instance_types: list[InstanceType] = field(default_factory=list)

    @property
    def leaving(self) -> set[str]:
        """Nodes being deleted or disrupted: their pods need a place too, as in Karpenter."""
        return {n.name for n in self.nodes if n.deleting or any(t.key == TAINT_DISRUPTED for t in n.taints)}

    @property
    def pending(self) -> list[Pod]:
        leaving = self.leaving
        return [
            dataclasses.replace(p, node_name="") if p.node_name in leaving else p
            for p in self.pods
            if (not p.node_name or p.node_name in leaving) and not p.is_daemon() and not p.is_terminal()
        ]

    @property
    def launchable_nodepools(self) -> list[NodePool]:
        return [p for p in self.nodepools if p.name not in self.unready_nodepools]

    @property
    def bound(self) -> list[Pod]:
        leaving = self.leaving
        return [p for p in self.pods if p.node_name and p.node_name not in leaving]

    def pool_usage(self) -> dict[str, dict[str, int]]:
        """Capacity already held by each NodePool's nodes (limits are checked against it)."""
        usage: dict[str, dict[str, int]] = {}
        for node in self.nodes:
            if node.nodepool:
                pool = usage.setdefault(node.nodepool, {})
                for name, value in node.capacity.items():
                    pool[name] = pool.get(name, 0) + value
                pool["nodes"] = pool.get("nodes", 0) + 1000
        return usage


def describe(error: ValidationError) -> str:
    """`field.path: reason; ...`, the form a status condition message should take."""
    parts = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"])
        parts.append(f"{path}: {str(item['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


def fill_from_catalog(node: Node, types: Mapping[str, InstanceType]) -> Node:
    """A node without reported resources takes its instance type's capacity and allocatable."""
    instance_type = types.get(node.labels.get(LABEL_INSTANCE_TYPE, ""))
    if instance_type is not None and not node.allocatable:
        node.capacity = instance_type.capacity_milli()
        node.allocatable = instance_type.allocatable()
    return node


def inflight_node(claim: Mapping[str, Any], types: Mapping[str, InstanceType]) -> Node:
    """An in-flight NodeClaim as the node it will become (not yet initialized)."""
    metadata, spec, status = claim.get("metadata") or {}, claim.get("spec") or {}, claim.get("status") or {}
    labels = dict(metadata.get("labels") or {})
    for requirement in spec.get("requirements") or []:
        if requirement.get("operator") == "In" and len(requirement.get("values") or []) == 1:
            labels.setdefault(requirement["key"], requirement["values"][0])
    node = Node(
        name=metadata["name"],
        labels=labels,
        annotations=dict(metadata.get("annotations") or {}),
        taints=[Taint.parse(t) for t in [*(spec.get("taints") or []), *(spec.get("startupTaints") or [])]],
        allocatable=parse_resource_list(status.get("allocatable")),
        capacity=parse_resource_list(status.get("capacity")),
        creation=str(metadata.get("creationTimestamp") or ""),
        ready=False,
        initialized=any(
            c.get("type") == "Initialized" and c.get("status") == "True"
            for c in status.get("conditions") or []
        ),
        deleting=bool(metadata.get("deletionTimestamp")),
        nodeclaim=metadata["name"],
    )
    if not node.allocatable:
        # Not launched yet: every option was chosen to fit the claim's pods, so the
        # smallest one is a safe estimate of what it will hold.
        options = [
            types[name]
            for r in spec.get("requirements") or []
            if r.get("key") == LABEL_INSTANCE_TYPE and r.get("operator") == "In"
            for name in r.get("values") or []
            if name in types
        ]
        if options:
            smallest = min(options, key=lambda it: (sorted(it.allocatable().items()), it.name))
            node.capacity, node.allocatable = smallest.capacity_milli(), smallest.allocatable()
    return fill_from_catalog(node, types)


def build_snapshot(
    *,
    nodepools: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    nodes: Iterable[Mapping[str, Any]],
    nodeclaims: Iterable[Mapping[str, Any]],
    daemonsets: Iterable[Mapping[str, Any]] = (),
    pdbs: Iterable[Mapping[str, Any]] = (),
    catalog: Catalog,
    node_classes: Mapping[NodeClassKey, Mapping[str, Any]] | None = None,
    kept_node_classes: tuple[NodeClassKind, ...] = (),
) -> Snapshot:
    snapshot = Snapshot(instance_types=list(catalog.instanceTypes))
    types = catalog.by_name()
    for document in nodepools:
        name = str((document.get("metadata") or {}).get("name", ""))
        readiness = node_class_readiness(document, node_classes or {}, kept_node_classes)
        if not readiness.ready:
            snapshot.unready_nodepools[name] = readiness
        try:
            snapshot.nodepools.append(parse_nodepool(dict(document)))
        except ValidationError as exc:
            snapshot.invalid_nodepools[name] = describe(exc)
        except ValueError as exc:
            snapshot.invalid_nodepools[name] = str(exc)
    snapshot.pods = [parse_pod(p) for p in pods]
    claim_by_node: dict[str, str] = {}
    claims = list(nodeclaims)
    for claim in claims:
        node_name = (claim.get("status") or {}).get("nodeName")
        if node_name:
            claim_by_node[node_name] = claim["metadata"]["name"]
    for document in nodes:
        node = fill_from_catalog(parse_node(document), types)
        node.nodeclaim = node.nodeclaim or claim_by_node.get(node.name, "")
        snapshot.nodes.append(node)
    seen = {n.name for n in snapshot.nodes} | set(claim_by_node)
    for claim in claims:
        name = claim["metadata"]["name"]
        node_name = (claim.get("status") or {}).get("nodeName")
        if name not in seen and node_name not in seen:
            snapshot.nodes.append(inflight_node(claim, types))
    snapshot.daemon_pods = [daemonset_pod(d) for d in daemonsets]
    snapshot.pdbs = [parse_pdb(p) for p in pdbs]
    return snapshot


def schedule_pods(
    snapshot: Snapshot, pods: list[Pod] | None = None, *, karpenter_exact: bool = False
) -> SchedulingResult:
    """Karpenter's Solve over the snapshot for `pods` (default: every pending pod).

    `karpenter_exact` turns off what Bosun adds (re-packing onto cheaper node sets, and
    spread counted only over the zones a pod can reach)."""
    pending = snapshot.pending if pods is None else pods
    scheduler = Scheduler(
        snapshot.launchable_nodepools,
        snapshot.instance_types,
        snapshot.daemon_pods,
        snapshot.nodes,
        snapshot.bound,
        pending,
        pool_usage=snapshot.pool_usage(),
        improve_packing=not karpenter_exact,
        reachable_domains_only=not karpenter_exact,
    )
    return scheduler.solve(pending)


def cluster(snapshot: Snapshot) -> Cluster:
    return Cluster(
        nodepools=snapshot.nodepools,
        unready_nodepools=frozenset(snapshot.unready_nodepools),
        nodes=snapshot.nodes,
        pods=snapshot.pods,
        catalog=snapshot.instance_types,
        daemon_pods=snapshot.daemon_pods,
    )
