"""The instance status: state, conditions, soft-resolved status fields, per-resource reasons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graph_planner.conditions import all_true, condition, condition_from_text
from graph_planner.graph.model import CompiledGraph
from graph_planner.runtime.model import ERROR, EXCLUDED, READY, NodeState
from graph_planner.runtime.render import DataPending, RenderError, evaluate, render_field

IN_PROGRESS, ACTIVE, DELETING, FAILED = "IN_PROGRESS", "ACTIVE", "DELETING", "ERROR"
BUILT_IN = frozenset({"InstanceManaged", "GraphResolved", "ResourcesReady", "Ready"})


def soft_resolve(graph: CompiledGraph, activation: Mapping[str, Any]) -> dict[str, Any]:
    """Status fields whose expressions fully resolve; the others are left out."""
    out: dict[str, Any] = {}
    for field in graph.status_fields:
        try:
            value = render_field(field, activation)
        except (DataPending, RenderError):
            continue
        target = out
        for key in field.path[:-1]:
            target = target.setdefault(str(key), {})
        target[str(field.path[-1])] = value
    return out


def instance_status(
    graph: CompiledGraph,
    instance: Mapping[str, Any],
    nodes: Sequence[NodeState],
    activation: Mapping[str, Any],
    now: str,
    deleting: bool = False,
    deletion_message: str = "",
) -> dict[str, Any]:
    metadata = instance.get("metadata") or {}
    generation = int(metadata.get("generation") or 0)
    previous = ((instance.get("status") or {}).get("conditions")) or []
    errors = [n for n in nodes if n.state == ERROR]
    unresolved = [n for n in nodes if not n.determined]
    not_ready = [n for n in nodes if n.state not in (READY, EXCLUDED)]

    managed = condition(
        "InstanceManaged", True, "Managed", "finalizer and labels are set", generation, now, previous
    )
    if errors:
        resolved = condition(
            "GraphResolved", False, "EvaluationFailed", _summary(errors), generation, now, previous
        )
    elif unresolved:
        resolved = condition(
            "GraphResolved", False, "DataPending", _summary(unresolved), generation, now, previous
        )
    else:
        resolved = condition(
            "GraphResolved", True, "Resolved", "every resource resolved", generation, now, previous
        )
    if deleting:
        ready_condition = condition(
            "ResourcesReady", False, "Deleting", deletion_message, generation, now, previous
        )
    elif not_ready:
        ready_condition = condition(
            "ResourcesReady", False, "NotReady", _summary(not_ready), generation, now, previous
        )
    else:
        ready_condition = condition(
            "ResourcesReady", True, "AllReady", "every resource is ready", generation, now, previous
        )
    statuses = [
        managed["status"] == "True",
        resolved["status"] == "True",
        ready_condition["status"] == "True",
    ]
    ready = all_true(*statuses)
    overall = condition(
        "Ready",
        ready,
        "Ready" if ready else "NotReady",
        "" if ready else _first_problem(managed, resolved, ready_condition),
        generation,
        now,
        previous,
    )
    if deleting:
        state = DELETING
    elif errors:
        state = FAILED
    elif ready:
        state = ACTIVE
    else:
        state = IN_PROGRESS
    status: dict[str, Any] = {} if deleting else soft_resolve(graph, activation)
    status["state"] = state
    status["conditions"] = [managed, resolved, ready_condition, overall]
    if not deleting:
        status["conditions"] += custom_conditions(graph, activation, generation, now, previous)
    if not any(field.path[:1] == ("resources",) for field in graph.status_fields):
        status["resources"] = [node.as_status() for node in nodes]
    return status


def custom_conditions(
    graph: CompiledGraph,
    activation: Mapping[str, Any],
    generation: int,
    now: str,
    previous: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The RGD's own conditions that resolve now (kro's four built-in types cannot be overridden)."""
    out: dict[str, dict[str, Any]] = {}
    for expression in graph.custom_conditions:
        try:
            value = evaluate(expression, activation)
        except (DataPending, RenderError):
            continue
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, dict) or item.get("status") not in ("True", "False", "Unknown"):
                continue
            type_ = str(item.get("type") or "")
            if not type_ or type_ in BUILT_IN or type_ in out:
                continue
            out[type_] = condition_from_text(
                type_,
                str(item["status"]),
                str(item.get("reason") or ""),
                str(item.get("message") or ""),
                generation,
                now,
                previous,
            )
    return list(out.values())


def _summary(nodes: Sequence[NodeState]) -> str:
    return "; ".join(f"{n.id}: {n.state}{' - ' + n.message if n.message else ''}" for n in nodes)


def _first_problem(*conditions: Mapping[str, Any]) -> str:
    for item in conditions:
        if item["status"] != "True":
            return f"{item['type']}: {item['message']}"
    return ""
