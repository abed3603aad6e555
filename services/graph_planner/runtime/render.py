"""Evaluate expressions and templates against an activation (schema, upstream objects, iterators)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from graph_planner.cel.environment import CelEvaluationError, CompiledExpression
from graph_planner.graph.model import FieldExpression


class DataPending(Exception):
    """An expression read data that is not there yet (an upstream field, a missing key)."""

    def __init__(self, message: str, expression: str) -> None:
        super().__init__(message)
        self.expression = expression


class RenderError(Exception):
    """An expression failed for another reason: the resource is in error."""

    def __init__(self, message: str, expression: str, path: str = "") -> None:
        super().__init__(message)
        self.expression = expression
        self.path = path


def evaluate(expression: CompiledExpression, activation: Mapping[str, Any]) -> Any:
    try:
        return expression.evaluate(activation)
    except CelEvaluationError as exc:
        if exc.missing_data:
            raise DataPending(str(exc), expression.source) from exc
        raise RenderError(str(exc), expression.source) from exc


def evaluate_bool(expressions: Sequence[CompiledExpression], activation: Mapping[str, Any]) -> bool:
    """AND of boolean expressions (empty = True); a non-bool result is an error."""
    for expression in expressions:
        value = evaluate(expression, activation)
        if not isinstance(value, bool):
            raise RenderError(f"expected a boolean, got {type(value).__name__}", expression.source)
        if not value:
            return False
    return True


def render_field(field: FieldExpression, activation: Mapping[str, Any]) -> Any:
    if field.standalone:
        return evaluate(field.expressions[0], activation)
    parts = []
    for segment in field.segments:
        if isinstance(segment, str):
            parts.append(segment)
            continue
        value = evaluate(segment, activation)
        if is_omitted(value):
            raise RenderError("omit() cannot be part of a string template", segment.source, field.path_text)
        if not isinstance(value, str):
            raise RenderError(
                f"string template part is {type(value).__name__}", segment.source, field.path_text
            )
        parts.append(value)
    return "".join(parts)


def is_omitted(value: Any) -> bool:
    """`omit()`'s result: the field is left out of the rendered object."""
    return isinstance(value, dict) and value.get("@type") == "omit" and len(value) == 2


def _set(target: Any, path: Sequence[str | int], value: Any) -> None:
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _drop_omitted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_omitted(v) for k, v in value.items() if not is_omitted(v)}
    if isinstance(value, list):
        return [_drop_omitted(v) for v in value if not is_omitted(v)]
    return value


def render_object(
    template: Mapping[str, Any], fields: Sequence[FieldExpression], activation: Mapping[str, Any]
) -> dict[str, Any]:
    """A deep copy of `template` with every `${...}` field evaluated."""
    obj = copy.deepcopy(dict(template))
    for field in fields:
        try:
            value = render_field(field, activation)
        except RenderError as exc:
            raise RenderError(str(exc), exc.expression, field.path_text) from exc
        _set(obj, field.path, value)
    # Fields (and list items) whose expression returned omit() are left out.
    return dict(_drop_omitted(obj))
