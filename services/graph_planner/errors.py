"""Validation errors of the graph engine: what is wrong, where, and in which expression.

May import: the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class GraphError:
    """One reason an RGD (or one resource of an instance) cannot be used.

    `resource_id` is empty for errors in `spec.schema`; `path` is the field path
    inside the resource template (or `schema.spec.x` for schema errors);
    `expression` is the CEL text involved, without `${}`.
    """

    reason: str
    message: str
    resource_id: str = ""
    path: str = ""
    expression: str = ""

    def render(self) -> str:
        """One line: `resource <id> at <path>: <message> [expression: ...] (<reason>)`."""
        where = []
        if self.resource_id:
            where.append(f"resource {self.resource_id}")
        if self.path:
            where.append(f"at {self.path}")
        prefix = " ".join(where)
        text = f"{prefix}: {self.message}" if prefix else self.message
        if self.expression:
            text += f" [expression: {self.expression}]"
        return f"{text} ({self.reason})"


class GraphValidationError(Exception):
    """Raised inside the engine to carry one or more GraphErrors to compile_graph's result."""

    def __init__(self, *errors: GraphError) -> None:
        super().__init__("; ".join(e.render() for e in errors))
        self.errors = list(errors)


# Reasons, as stable strings (tests and the CLI rely on them).
UNKNOWN_RESOURCE = "UnknownResource"
UNKNOWN_FIELD = "UnknownField"
UNKNOWN_FUNCTION = "UnknownFunction"
TYPE_MISMATCH = "TypeMismatch"
CYCLE = "Cycle"
SELF_REFERENCE = "SelfReference"
INVALID_ID = "InvalidId"
DUPLICATE_ID = "DuplicateId"
INVALID_MARKER = "InvalidMarker"
INVALID_SCHEMA = "InvalidSchema"
INVALID_TYPE = "InvalidType"
INVALID_CONDITION = "InvalidCondition"
INVALID_FOREACH = "InvalidForEach"
INVALID_RESOURCE = "InvalidResource"
INVALID_EXPRESSION = "InvalidExpression"
INVALID_TEMPLATE = "InvalidTemplate"
INVALID_STATUS = "InvalidStatus"
LIMIT_EXCEEDED = "LimitExceeded"
COLLECTION_TOO_LARGE = "CollectionTooLarge"
EVALUATION_FAILED = "EvaluationFailed"
