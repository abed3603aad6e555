"""Resolve each node of an instance, in topological order: included? inputs ready? rendered? ready?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graph_planner.graph.model import CompiledGraph, ResourceNode
from graph_planner.runtime import labels as kro_labels
from graph_planner.runtime.collections import CollectionTooLarge, expand
from graph_planner.runtime.model import CREATING, ERROR, EXCLUDED, NOT_READY, PENDING, READY, NodeState
from graph_planner.runtime.observed import ObservedIndex
from graph_planner.runtime.render import DataPending, RenderError, evaluate_bool, render_object


@dataclass
class Resolution:
    states: dict[str, NodeState] = field(default_factory=dict)
    activation: dict[str, Any] = field(default_factory=dict)

    @property
    def determined(self) -> bool:
        return all(state.determined for state in self.states.values())


def _namespaced(node: ResourceNode) -> bool:
    return node.namespaced is not False


def _finish_object(
    graph: CompiledGraph,
    node: ResourceNode,
    instance: Mapping[str, Any],
    obj: dict[str, Any],
    extra: Mapping[str, str],
) -> dict[str, Any]:
    metadata = obj.get("metadata")
    if metadata is None:
        metadata = obj["metadata"] = {}
    if not isinstance(metadata, dict):
        raise RenderError(f"metadata must be an object, got {type(metadata).__name__}", "", "metadata")
    if not isinstance(metadata.get("name"), str) or not metadata["name"]:
        raise RenderError("metadata.name must be a non-empty string", "", "metadata.name")
    labels_in = metadata.get("labels")
    if labels_in is not None and not isinstance(labels_in, dict):
        raise RenderError("metadata.labels must be an object", "", "metadata.labels")
    namespace = (instance.get("metadata") or {}).get("namespace")
    if _namespaced(node) and not metadata.get("namespace") and namespace:
        metadata["namespace"] = namespace
    labels = dict(metadata.get("labels") or {})
    labels.update(kro_labels.child_labels(instance, graph.rgd_name, graph.group, node.id))
    labels.update(extra)
    metadata["labels"] = labels
    return obj


def _key(obj: Mapping[str, Any]) -> tuple[str, str, str, str]:
    metadata = obj.get("metadata") or {}
    return (
        str(obj.get("apiVersion")),
        str(obj.get("kind")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name") or ""),
    )


def _describe(obj: Mapping[str, Any]) -> str:
    _api_version, kind, namespace, name = _key(obj)
    return f"{kind} {namespace + '/' if namespace else ''}{name}"


class NodeResolver:
    def __init__(self, graph: CompiledGraph, instance: Mapping[str, Any], observed: ObservedIndex) -> None:
        self.graph = graph
        self.instance = instance
        self.observed = observed
        self.result = Resolution(activation={"schema": instance, "runtime": {}})

    def resolve_all(self) -> Resolution:
        for rid in self.graph.topological_order:
            node = self.graph.nodes[rid]
            try:
                state = self._resolve(node)
            except DataPending as exc:
                state = NodeState(rid, PENDING, "DataPending", f"{exc} [expression: {exc.expression}]")
            except CollectionTooLarge as exc:
                state = NodeState(rid, ERROR, "CollectionTooLarge", f"{exc} [expression: {exc.expression}]")
            except RenderError as exc:
                where = f" at {exc.path}" if exc.path else ""
                expression = f" [expression: {exc.expression}]" if exc.expression else ""
                reason = "EvaluationFailed" if exc.expression else "InvalidObject"
                state = NodeState(rid, ERROR, reason, f"{exc}{where}{expression}")
            self.result.states[rid] = state
        return self.result

    def _resolve(self, node: ResourceNode) -> NodeState:
        states = self.result.states
        excluded = [d for d in node.dependencies if states[d].state == EXCLUDED]
        if excluded:
            return NodeState(
                node.id, EXCLUDED, "DependencyExcluded", f"depends on excluded {', '.join(excluded)}"
            )
        activation = self.result.activation
        # includeWhen first when what it reads is available: an excluded node need not wait.
        include_inputs = {r for e in node.include_when for r in e.references if r in self.graph.nodes}
        include_decided = all(states[r].state == READY for r in include_inputs)
        if include_decided and not evaluate_bool(node.include_when, activation):
            return NodeState(node.id, EXCLUDED, "IncludeWhenFalse", "includeWhen is false")
        waiting = [d for d in node.dependencies if states[d].state != READY]
        if waiting:
            detail = ", ".join(f"{d} ({states[d].state})" for d in waiting)
            return NodeState(node.id, PENDING, "WaitingForDependencies", f"waiting for {detail} to be ready")
        if node.external_ref is not None:
            return self._external(node)
        if node.for_each:
            return self._collection(node)
        assert node.template is not None
        obj = _finish_object(
            self.graph, node, self.instance, render_object(node.template, node.fields, activation), {}
        )
        current = self.observed.get(*_key(obj))
        state = NodeState(node.id, CREATING, "Creating", f"{_describe(obj)} is not observed yet", [obj])
        if current is None:
            return state
        activation[node.id] = current
        return self._readiness(node, state, node.id, [current])

    def _readiness(
        self, node: ResourceNode, state: NodeState, variable: str, current: list[Mapping[str, Any]]
    ) -> NodeState:
        for item in current:
            try:
                ready = evaluate_bool(node.ready_when, {variable: item})
            except DataPending:
                ready = False
            if not ready:
                state.state, state.reason = NOT_READY, "ReadyWhenFalse"
                state.message = f"readyWhen is not yet true for {_describe(item)}"
                return state
        state.state, state.reason, state.message = READY, "", ""
        return state

    def _external(self, node: ResourceNode) -> NodeState:
        assert node.external_ref is not None
        ref = render_object(node.external_ref, node.fields, self.result.activation)
        metadata = ref.get("metadata") or {}
        namespace = metadata.get("namespace")
        if namespace is None and _namespaced(node):
            namespace = (self.instance.get("metadata") or {}).get("namespace") or ""
        state = NodeState(node.id, CREATING, "WaitingForExternal", "")
        if metadata.get("selector"):
            found = self.observed.select(
                ref["apiVersion"], ref["kind"], namespace or None, metadata["selector"]
            )
            self.result.activation[node.id] = list(found)
            return self._readiness(node, state, "each", list(found))
        current = self.observed.get(
            ref["apiVersion"], ref["kind"], namespace or "", str(metadata.get("name"))
        )
        if current is None:
            state.state = PENDING
            state.message = f"waiting for external {ref['kind']} {namespace + '/' if namespace else ''}{metadata.get('name')}"
            return state
        self.result.activation[node.id] = current
        return self._readiness(node, state, node.id, [current])

    def _collection(self, node: ResourceNode) -> NodeState:
        assert node.template is not None
        bindings = expand(node, self.result.activation)
        objects = []
        for index, binding in enumerate(bindings):
            activation = {**self.result.activation, **binding}
            extra = {kro_labels.COLLECTION_INDEX: str(index), kro_labels.COLLECTION_SIZE: str(len(bindings))}
            objects.append(
                _finish_object(
                    self.graph,
                    node,
                    self.instance,
                    render_object(node.template, node.fields, activation),
                    extra,
                )
            )
        current = [self.observed.get(*_key(obj)) for obj in objects]
        present = [c for c in current if c is not None]
        self.result.activation[node.id] = present
        state = NodeState(node.id, CREATING, "Creating", "", objects)
        if len(present) < len(objects):
            state.message = f"{len(objects) - len(present)} of {len(objects)} items not observed yet"
            return state
        return self._readiness(node, state, "each", present)
