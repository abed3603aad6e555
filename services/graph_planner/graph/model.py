"""What compile_graph produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graph_planner.cel.environment import CompiledExpression
from graph_planner.errors import GraphError
from graph_planner.graph.templates import Path


@dataclass(frozen=True)
class FieldExpression:
    """A template field holding `${...}`: standalone (one expression) or a string template."""

    path: Path
    path_text: str
    segments: tuple[str | CompiledExpression, ...]
    standalone: bool

    @property
    def expressions(self) -> tuple[CompiledExpression, ...]:
        return tuple(s for s in self.segments if isinstance(s, CompiledExpression))

    @property
    def references(self) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for expression in self.expressions:
            out |= expression.references
        return out


@dataclass(frozen=True)
class ForEachDimension:
    name: str
    expression: CompiledExpression


@dataclass(frozen=True)
class ResourceNode:
    id: str
    index: int
    api_version: str
    kind: str
    template: dict[str, Any] | None
    external_ref: dict[str, Any] | None
    fields: tuple[FieldExpression, ...]
    include_when: tuple[CompiledExpression, ...]
    ready_when: tuple[CompiledExpression, ...]
    for_each: tuple[ForEachDimension, ...]
    dependencies: tuple[str, ...]
    namespaced: bool | None
    schema_pending: bool

    @property
    def is_collection(self) -> bool:
        """forEach resources and selector externalRefs are seen by others as lists."""
        return bool(self.for_each) or bool(self.external_ref and _selector(self.external_ref))

    @property
    def is_external(self) -> bool:
        return self.external_ref is not None


def _selector(external_ref: dict[str, Any]) -> bool:
    return bool((external_ref.get("metadata") or {}).get("selector"))


@dataclass(frozen=True)
class CompiledGraph:
    rgd_name: str
    kind: str
    group: str
    api_version: str
    scope: str
    crd: dict[str, Any]
    spec_schema: dict[str, Any]
    status_fields: tuple[FieldExpression, ...]
    nodes: dict[str, ResourceNode]
    topological_order: tuple[str, ...]
    deletion_layers: tuple[tuple[str, ...], ...]
    pending_kinds: tuple[str, ...] = ()
    custom_conditions: tuple[CompiledExpression, ...] = ()

    @property
    def instance_api_version(self) -> str:
        return f"{self.group}/{self.api_version}"


@dataclass(frozen=True)
class CompileResult:
    """Either a graph (possibly with kinds still pending), or the errors that prevent one."""

    graph: CompiledGraph | None
    errors: tuple[GraphError, ...] = ()
    pending_kinds: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.graph is not None and not self.errors
