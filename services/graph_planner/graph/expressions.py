"""Compile one `${...}` and turn checker failures into GraphErrors with a precise reason."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from graph_planner.cel.environment import CelCompileError, CompiledExpression, compile_expression
from graph_planner.cel.limits import LimitError
from graph_planner.errors import (
    INVALID_EXPRESSION,
    LIMIT_EXCEEDED,
    TYPE_MISMATCH,
    UNKNOWN_FIELD,
    UNKNOWN_FUNCTION,
    UNKNOWN_RESOURCE,
    GraphError,
    GraphValidationError,
)

_UNDECLARED = re.compile(r"undeclared reference to '([^']+)'")


def classify(message: str, source: str = "") -> str:
    """The GraphError reason for a checker message about `source`."""
    if "undefined field" in message or "no such field" in message:
        return UNKNOWN_FIELD
    if "found no matching overload" in message or "cannot be the operand" in message:
        return TYPE_MISMATCH
    match = _UNDECLARED.search(message)
    if match:
        # `foo.bar(...)` with an unknown `bar` is reported as an undeclared `bar`.
        name = match.group(1)
        return UNKNOWN_FUNCTION if re.search(rf"{re.escape(name)}\s*\(", source) else UNKNOWN_RESOURCE
    return INVALID_EXPRESSION


class ExpressionCompiler:
    """Compiles expressions in a given checking environment, raising GraphValidationError."""

    def __init__(self, describe: Any) -> None:
        self.describe = describe
        self.count = 0

    def compile(
        self, source: str, env: Any, variables: Iterable[str], resource_id: str, path: str
    ) -> CompiledExpression:
        self.count += 1
        try:
            return compile_expression(source, env, variables, self.describe)
        except LimitError as exc:
            raise GraphValidationError(
                GraphError(LIMIT_EXCEEDED, str(exc), resource_id, path, source)
            ) from exc
        except CelCompileError as exc:
            message = str(exc)
            reason = classify(message, source)
            match = _UNDECLARED.search(message)
            if reason == UNKNOWN_RESOURCE and match:
                name = match.group(1).split(".")[0]
                message = f"unknown identifier {name!r}: not schema, a resource id or an iterator in scope"
            elif reason == UNKNOWN_FUNCTION and match:
                message = f"unknown function {match.group(1)!r}"
            raise GraphValidationError(GraphError(reason, message, resource_id, path, source)) from exc
