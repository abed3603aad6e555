"""plan_instance: compiled graph + instance + observed objects -> KubePlan and instance status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bosun_common.kube_plans import ApplyObject, ApplyStatus, DeleteObject, KubePlan, ObjectRef, SetFinalizer
from graph_planner.graph.model import CompiledGraph
from graph_planner.runtime import labels as kro_labels
from graph_planner.runtime.model import DELETING, InstancePlan, NodeState
from graph_planner.runtime.nodes import NodeResolver
from graph_planner.runtime.observed import ObservedIndex, object_key
from graph_planner.runtime.status import instance_status
from graph_planner.simple_schema import apply_defaults

PLANNER = "graph-planner"


def _ref(obj: Mapping[str, Any]) -> ObjectRef:
    api_version, kind, namespace, name = object_key(obj)
    return ObjectRef(apiVersion=api_version, kind=kind, name=name, namespace=namespace or None)


def _uid_ref(obj: Mapping[str, Any]) -> ObjectRef:
    ref = _ref(obj)
    uid = (obj.get("metadata") or {}).get("uid")
    return ref.model_copy(update={"uid": uid}) if uid else ref


def _with_defaults(graph: CompiledGraph, instance: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(instance)
    spec = instance.get("spec")
    out["spec"] = apply_defaults(graph.spec_schema, dict(spec) if isinstance(spec, Mapping) else {})
    metadata = dict(instance.get("metadata") or {})
    if graph.scope == "Namespaced" and not metadata.get("namespace"):
        metadata["namespace"] = "default"
    out["metadata"] = metadata
    return out


def _inventory(
    graph: CompiledGraph, instance: Mapping[str, Any], observed: ObservedIndex
) -> list[Mapping[str, Any]]:
    """The children recorded for this instance: observed objects labelled with its uid."""
    uid = (instance.get("metadata") or {}).get("uid")
    if not uid:
        return []
    return observed.labelled(kro_labels.INSTANCE_ID, str(uid))


def _deletion_rank(graph: CompiledGraph) -> dict[str, int]:
    """Wave number per node id: 0 is deleted first. Unknown node ids (removed nodes) go in wave 0."""
    return {rid: wave for wave, layer in enumerate(graph.deletion_layers) for rid in layer}


def _node_of(obj: Mapping[str, Any]) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(kro_labels.NODE_ID, ""))


def plan_instance(
    graph: CompiledGraph,
    instance: Mapping[str, Any],
    observed: Iterable[Mapping[str, Any]],
    now: str = "1970-01-01T00:00:00Z",
) -> InstancePlan:
    """The plan for one instance, given the objects observed now.

    Normal reconcile: ensure finalizer and labels; render every node in
    topological order (pending when inputs are missing); apply the rendered
    objects; prune children no longer desired, in reverse topological order,
    only when every node resolved; write the status.
    Deleting (deletionTimestamp set): delete the recorded inventory one wave at
    a time in reverse topological layers, without evaluating CEL; once nothing
    is left, remove the finalizer.
    The result depends only on the inputs (and `now`), so it is byte-for-byte stable.
    """
    index = ObservedIndex(observed)
    instance = _with_defaults(graph, instance)
    metadata = instance.get("metadata") or {}
    key = f"{graph.instance_api_version}/{graph.kind}/{metadata.get('namespace') or ''}/{metadata.get('name', '')}"
    instance_ref = ObjectRef(
        apiVersion=str(instance.get("apiVersion") or graph.instance_api_version),
        kind=str(instance.get("kind") or graph.kind),
        name=str(metadata.get("name", "")),
        namespace=metadata.get("namespace") or None,
    )
    plan = KubePlan(key=key, planner=PLANNER)
    if metadata.get("deletionTimestamp"):
        return _plan_deletion(graph, instance, instance_ref, index, plan, now)

    if kro_labels.FINALIZER not in (metadata.get("finalizers") or []):
        plan.actions.append(SetFinalizer(ref=instance_ref, finalizer=kro_labels.FINALIZER, present=True))
    wanted_labels = kro_labels.instance_labels(instance, graph.rgd_name, graph.group)
    current_labels = metadata.get("labels") or {}
    if any(current_labels.get(k) != v for k, v in wanted_labels.items()):
        plan.actions.append(
            ApplyObject(
                object={
                    "apiVersion": instance_ref.apiVersion,
                    "kind": instance_ref.kind,
                    "metadata": {
                        "name": instance_ref.name,
                        **({"namespace": instance_ref.namespace} if instance_ref.namespace else {}),
                        "labels": wanted_labels,
                    },
                },
                fieldManager=kro_labels.FIELD_MANAGER,
            )
        )
    if (metadata.get("annotations") or {}).get(kro_labels.RECONCILE) == "suspended":
        plan.reason = "reconcile suspended"
        return InstancePlan(plan, dict(instance.get("status") or {}), [], [], [])

    resolution = NodeResolver(graph, instance, index).resolve_all()
    nodes = [resolution.states[rid] for rid in graph.topological_order]
    desired = [obj for node in nodes for obj in node.objects]
    for obj in desired:
        plan.actions.append(ApplyObject(object=obj, fieldManager=kro_labels.FIELD_MANAGER))

    pruned: list[dict[str, Any]] = []
    if resolution.determined:
        wanted = {object_key(obj) for obj in desired}
        rank = _deletion_rank(graph)
        orphans = [obj for obj in _inventory(graph, instance, index) if object_key(obj) not in wanted]
        orphans.sort(key=lambda obj: (rank.get(_node_of(obj), -1), object_key(obj)))
        for orphan in orphans:
            plan.actions.append(DeleteObject(ref=_uid_ref(orphan)))
            pruned.append(dict(orphan))
    status = instance_status(graph, instance, nodes, resolution.activation, now)
    plan.actions.append(ApplyStatus(ref=instance_ref, status=status, fieldManager=kro_labels.FIELD_MANAGER))
    plan.reason = status["state"]
    return InstancePlan(plan, status, nodes, desired, pruned)


def _plan_deletion(
    graph: CompiledGraph,
    instance: Mapping[str, Any],
    instance_ref: ObjectRef,
    index: ObservedIndex,
    plan: KubePlan,
    now: str,
) -> InstancePlan:
    rank = _deletion_rank(graph)
    inventory = _inventory(graph, instance, index)
    waves: dict[int, list[Mapping[str, Any]]] = {}
    for obj in inventory:
        waves.setdefault(rank.get(_node_of(obj), -1), []).append(obj)
    nodes: list[NodeState] = []
    deleted: list[dict[str, Any]] = []
    if waves:
        first = min(waves)
        wave = sorted(waves[first], key=object_key)
        for obj in wave:
            plan.actions.append(DeleteObject(ref=_uid_ref(obj)))
            deleted.append(dict(obj))
        blocking = ", ".join(f"{_node_of(o) or '?'}: {object_key(o)[1]} {object_key(o)[3]}" for o in wave)
        message = (
            f"deleting wave {first + 1}, waiting for: {blocking}; {len(inventory) - len(wave)} more after it"
        )
        by_node: dict[str, list[Mapping[str, Any]]] = {}
        for obj in inventory:
            by_node.setdefault(_node_of(obj), []).append(obj)
        for rid, objs in sorted(by_node.items(), key=lambda item: (rank.get(item[0], -1), item[0])):
            nodes.append(NodeState(rid, DELETING, "Deleting", f"{len(objs)} object(s) left"))
    else:
        message = "every child is gone"
        plan.actions.append(SetFinalizer(ref=instance_ref, finalizer=kro_labels.FINALIZER, present=False))
    status = instance_status(graph, instance, nodes, {}, now, deleting=True, deletion_message=message)
    if waves:
        plan.actions.insert(
            0, ApplyStatus(ref=instance_ref, status=status, fieldManager=kro_labels.FIELD_MANAGER)
        )
    plan.reason = "deleting"
    return InstancePlan(plan, status, nodes, [], deleted)
