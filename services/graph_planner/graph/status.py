"""The RGD's status, from a CompileResult."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graph_planner.conditions import all_true, condition
from graph_planner.graph.model import CompileResult

INVALID_RESOURCE_GRAPH = "InvalidResourceGraph"


def rgd_status(
    result: CompileResult,
    generation: int,
    now: str,
    kind_ready: bool | None = None,
    controller_ready: bool | None = None,
    previous: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """`state`, `topologicalOrder`, `conditions` (GraphAccepted, KindReady, ControllerReady, Ready), `resources`.

    `kind_ready` (the CRD is established) and `controller_ready` (instances are
    being reconciled) are facts the shell observes; None reports Unknown.
    """
    conditions = []
    if result.errors:
        message = "; ".join(error.render() for error in result.errors)
        accepted: bool | None = False
        conditions.append(
            condition("GraphAccepted", False, INVALID_RESOURCE_GRAPH, message, generation, now, previous)
        )
    elif result.pending_kinds:
        accepted = None
        message = "waiting for the schemas of: " + ", ".join(result.pending_kinds)
        conditions.append(
            condition("GraphAccepted", None, "SchemasPending", message, generation, now, previous)
        )
    else:
        accepted = True
        conditions.append(
            condition("GraphAccepted", True, "Valid", "resource graph is valid", generation, now, previous)
        )
    conditions.append(
        condition(
            "KindReady", kind_ready, "Ready" if kind_ready else "Pending", "", generation, now, previous
        )
    )
    conditions.append(
        condition(
            "ControllerReady",
            controller_ready,
            "Ready" if controller_ready else "Pending",
            "",
            generation,
            now,
            previous,
        )
    )
    ready = all_true(accepted, kind_ready, controller_ready)
    conditions.append(
        condition("Ready", ready, "Ready" if ready else "NotReady", "", generation, now, previous)
    )
    status: dict[str, Any] = {"state": "Active" if ready else "Inactive", "conditions": conditions}
    graph = result.graph
    if graph is not None and not result.errors:
        status["topologicalOrder"] = list(graph.topological_order)
        status["resources"] = [
            {"id": node.id, "dependencies": [{"id": dep} for dep in node.dependencies]}
            for node in (graph.nodes[rid] for rid in graph.topological_order)
        ]
    return status
