"""Compile template fields (`${...}` alone or in string templates) and the RGD's status fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graph_planner.cel.environment import CompiledExpression
from graph_planner.cel.proto_types import TypeRegistry
from graph_planner.cel.types import CelType, assignable
from graph_planner.cel.types import to_openapi as cel_to_openapi
from graph_planner.errors import (
    INVALID_CONDITION,
    INVALID_STATUS,
    INVALID_TEMPLATE,
    TYPE_MISMATCH,
    GraphError,
    GraphValidationError,
)
from graph_planner.graph.expressions import ExpressionCompiler
from graph_planner.graph.model import FieldExpression
from graph_planner.graph.schema_paths import inline, schema_at
from graph_planner.graph.templates import Expr, TemplateSyntaxError, is_standalone, parse_template, path_text
from graph_planner.schemas import KindSchema

STRING = CelType("STRING")


class FieldCompiler:
    """Turns template strings into FieldExpressions, checking each against its target field's schema."""

    def __init__(self, exprs: ExpressionCompiler, registry: TypeRegistry) -> None:
        self.exprs = exprs
        self.registry = registry
        self._inlined: dict[str, Mapping[str, Any] | None] = {}

    def inline_message(self, name: str) -> Mapping[str, Any] | None:
        """The OpenAPI schema behind a generated message type, `$ref`s expanded (cached)."""
        if name not in self._inlined:
            found = self.registry.schemas.get(name)
            self._inlined[name] = None if found is None else inline(found[0], found[1])
        return self._inlined[name]

    def single_expression(self, text: Any, rid: str, where: str, reason: str) -> str:
        try:
            segments = parse_template(str(text))
        except TemplateSyntaxError as exc:
            raise GraphValidationError(GraphError(reason, str(exc), rid, where, str(text))) from exc
        if not is_standalone(segments):
            raise GraphValidationError(
                GraphError(reason, "must be a single ${...} expression", rid, where, str(text))
            )
        first = segments[0]
        assert isinstance(first, Expr)
        return first.source

    def require_bool(
        self, expression: CompiledExpression, rid: str, where: str, what: str, errors: list[GraphError]
    ) -> None:
        out = expression.output_type
        if out.name not in ("BOOL", "DYN"):
            errors.append(
                GraphError(
                    INVALID_CONDITION,
                    f"{what} must be a boolean expression, got {out}",
                    rid,
                    where,
                    expression.source,
                )
            )

    def field(
        self,
        rid: str,
        path: tuple[str | int, ...],
        text: str,
        env: Any,
        variables: Mapping[str, Any],
        ks: KindSchema | None,
        errors: list[GraphError],
    ) -> FieldExpression | None:
        where = path_text(path)
        try:
            segments = parse_template(text)
        except TemplateSyntaxError as exc:
            errors.append(GraphError(INVALID_TEMPLATE, str(exc), rid, where, text))
            return None
        compiled: list[str | CompiledExpression] = []
        for segment in segments:
            if isinstance(segment, str):
                compiled.append(segment)
                continue
            try:
                compiled.append(self.exprs.compile(segment.source, env, variables, rid, where))
            except GraphValidationError as exc:
                errors.extend(exc.errors)
                return None
        standalone = is_standalone(segments)
        target = schema_at(ks, path) if ks is not None else None
        for part in compiled:
            if not isinstance(part, CompiledExpression):
                continue
            if not standalone and part.output_type.name not in ("STRING", "DYN", "optional_type"):
                errors.append(
                    GraphError(
                        TYPE_MISMATCH,
                        f"string templates need string parts, got {part.output_type} (wrap it in string())",
                        rid,
                        where,
                        part.source,
                    )
                )
            elif target is not None and ks is not None:
                produced = part.output_type if standalone else STRING
                why = assignable(produced, target, self.inline_message, ks.resolve)
                if why is not None:
                    errors.append(GraphError(TYPE_MISMATCH, why, rid, where, part.source))
        return FieldExpression(path, where, tuple(compiled), standalone)

    # -- status -------------------------------------------------------------------------
    def status(
        self, status: Any, env: Any, declared: Mapping[str, Any], errors: list[GraphError]
    ) -> tuple[list[FieldExpression], dict[str, Any]]:
        """The RGD's status fields (each a `${...}`) and the status schema inferred from their types."""
        fields: list[FieldExpression] = []
        schema: dict[str, Any] = {"type": "object", "properties": {}}
        if not status:
            return fields, schema
        if not isinstance(status, Mapping):
            errors.append(GraphError(INVALID_STATUS, "status must be an object", path="schema.status"))
            return fields, schema
        plain = {
            key: value
            for key, value in status.items()
            if not (key == "conditions" and isinstance(value, list))
        }
        self._status_object(plain, (), env, declared, fields, schema, errors)
        return fields, schema

    def custom_conditions(
        self, status: Any, env: Any, declared: Mapping[str, Any], errors: list[GraphError]
    ) -> list[CompiledExpression]:
        """`status.conditions: [${runtime.newCondition({...})}, ...]`: each a condition or a list of them."""
        entries = status.get("conditions") if isinstance(status, Mapping) else None
        if not isinstance(entries, list):
            return []
        out: list[CompiledExpression] = []
        for position, text in enumerate(entries):
            where = f"schema.status.conditions[{position}]"
            try:
                source = self.single_expression(text, "", where, INVALID_STATUS)
                expression = self.exprs.compile(source, env, declared, "", where)
            except GraphValidationError as exc:
                errors.extend(exc.errors)
                continue
            produced = expression.output_type
            element = produced.args[0] if produced.name == "LIST" and produced.args else produced
            if element.name not in ("MAP", "DYN"):
                message = (
                    f"a custom condition must be runtime.newCondition(...) or a list of them, got {produced}"
                )
                errors.append(GraphError(INVALID_STATUS, message, "", where, source))
                continue
            out.append(expression)
        return out

    def _status_object(
        self,
        status: Mapping[str, Any],
        path: tuple[str | int, ...],
        env: Any,
        declared: Mapping[str, Any],
        fields: list[FieldExpression],
        schema: dict[str, Any],
        out: list[GraphError],
    ) -> None:
        for key, value in status.items():
            child_path = (*path, str(key))
            where = "schema.status." + path_text(child_path)
            if isinstance(value, Mapping):
                child: dict[str, Any] = {"type": "object", "properties": {}}
                self._status_object(value, child_path, env, declared, fields, child, out)
                schema["properties"][str(key)] = child
                continue
            if not isinstance(value, str) or "${" not in value:
                out.append(
                    GraphError(
                        INVALID_STATUS,
                        "status fields must be ${...} expressions (static values are not allowed)",
                        path=where,
                    )
                )
                continue
            errors: list[GraphError] = []
            field = self.field("", child_path, value, env, declared, None, errors)
            if errors or field is None:
                out += [GraphError(e.reason, e.message, "", where, e.expression) for e in errors]
                continue
            fields.append(field)
            if field.standalone:
                schema["properties"][str(key)] = cel_to_openapi(
                    field.expressions[0].output_type, self.inline_message
                )
            else:
                schema["properties"][str(key)] = {"type": "string"}
