"""CEL types (as cel-expr-python names them) <-> OpenAPI schemas.

`parse_type("MAP<STRING, LIST<INT>>")` -> CelType("MAP", (STRING, LIST<INT>)).
`assignable(cel_type, schema)` says whether a value of the CEL type may be
written into a field with that OpenAPI schema (None when fine, else a reason).
`to_openapi(cel_type)` infers the OpenAPI schema of a status field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graph_planner.cel.proto_types import PACKAGE


@dataclass(frozen=True)
class CelType:
    name: str
    args: tuple[CelType, ...] = ()

    def __str__(self) -> str:
        if not self.args:
            return self.name.lower() if self.name.isupper() else self.name.rsplit(".", 1)[-1]
        return f"{self.name.lower()}({', '.join(map(str, self.args))})"


DYN = CelType("DYN")


def parse_type(text: str) -> CelType:
    """Parse a cel-expr-python type name such as `LIST<bosun.types.Container>`."""
    text = text.strip()
    if text.startswith("wrapper(") and text.endswith(")"):
        return CelType(text[8:-1].upper())
    if "<" not in text:
        return CelType(text)
    head, rest = text.split("<", 1)
    if not rest.endswith(">"):
        return DYN
    inner, args, depth, start = rest[:-1], [], 0, 0
    for index, char in enumerate(inner):
        if char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
        elif char == "," and depth == 0:
            args.append(parse_type(inner[start:index]))
            start = index + 1
    args.append(parse_type(inner[start:]))
    return CelType(head, tuple(args))


_CEL_SCALARS = {"STRING", "INT", "UINT", "DOUBLE", "BOOL", "BYTES", "NULL", "DURATION", "TIMESTAMP"}


def to_cel(cel_type: CelType) -> Any:
    """Back to a cel.Type (for declaring a variable of that type); DYN when unsure."""
    from cel_expr_python import cel

    if cel_type.name in _CEL_SCALARS:
        return getattr(cel.Type, cel_type.name)
    if cel_type.name == "LIST" and len(cel_type.args) == 1:
        return cel.Type.List(to_cel(cel_type.args[0]))
    if cel_type.name == "MAP" and len(cel_type.args) == 2:
        return cel.Type.Map(to_cel(cel_type.args[0]), to_cel(cel_type.args[1]))
    if cel_type.name.startswith(PACKAGE + "."):
        return cel.Type(cel_type.name)
    return cel.Type.DYN


SCALARS = {"STRING": "string", "INT": "integer", "UINT": "integer", "DOUBLE": "number", "BOOL": "boolean"}
MessageSchema = Callable[[str], Mapping[str, Any] | None]


def _is_open(schema: Mapping[str, Any]) -> bool:
    return bool(
        not schema
        or schema.get("x-kubernetes-preserve-unknown-fields")
        or schema.get("x-kubernetes-int-or-string")
        or schema.get("format") == "int-or-string"
        or "oneOf" in schema
        or "anyOf" in schema
        or ("type" not in schema and "properties" not in schema and "additionalProperties" not in schema)
    )


def _schema_kind(schema: Mapping[str, Any]) -> str:
    if "type" in schema:
        return str(schema["type"])
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    return ""


def assignable(
    source: CelType,
    target: Mapping[str, Any],
    message_schema: MessageSchema,
    resolve: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    depth: int = 0,
) -> str | None:
    """None if a `source` value fits a field of schema `target`, else why not."""
    target = resolve(target)
    if depth > 16 or source.name in ("DYN", "NULL", "NULL_TYPE", "ERROR") or _is_open(target):
        return None
    if source.name == "optional_type" and source.args:
        return assignable(source.args[0], target, message_schema, resolve, depth)
    kind = _schema_kind(target)
    if source.name in SCALARS:
        expected = SCALARS[source.name]
        if expected == kind or (kind == "number" and expected == "integer"):
            return None
        return f"expected {kind}, got {source}"
    if source.name == "BYTES" and kind == "string":
        return None
    if source.name in ("TIMESTAMP", "DURATION") and kind == "string":
        return None
    if source.name == "LIST":
        if kind != "array":
            return f"expected {kind}, got {source}"
        element = source.args[0] if source.args else DYN
        inner = assignable(element, target.get("items") or {}, message_schema, resolve, depth + 1)
        return None if inner is None else f"list element: {inner}"
    if source.name == "MAP":
        if kind != "object":
            return f"expected {kind}, got {source}"
        additional = target.get("additionalProperties")
        if isinstance(additional, Mapping) and len(source.args) == 2:
            inner = assignable(source.args[1], additional, message_schema, resolve, depth + 1)
            return None if inner is None else f"map value: {inner}"
        return None
    if source.name.startswith(PACKAGE + "."):
        return _message_assignable(source.name, target, kind, message_schema, resolve, depth)
    return None


def _message_assignable(
    name: str,
    target: Mapping[str, Any],
    kind: str,
    message_schema: MessageSchema,
    resolve: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    depth: int,
) -> str | None:
    if kind != "object":
        return f"expected {kind}, got object"
    source_schema = message_schema(name)
    if source_schema is None:
        return None
    return _schema_conflict(source_schema, target, resolve, "", depth)


def _schema_conflict(
    source: Mapping[str, Any],
    target: Mapping[str, Any],
    resolve: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    path: str,
    depth: int,
) -> str | None:
    """Why an object of (inlined) schema `source` does not fit `target`: a clear type conflict or an
    unknown field. Open schemas (preserve-unknown, int-or-string, untyped) accept anything."""
    target = resolve(target)
    if depth > 8 or _is_open(target) or _is_open(source):
        return None
    source_kind, target_kind = _schema_kind(source), _schema_kind(target)
    where = path or "the value"
    widening = target_kind == "number" and source_kind == "integer"
    if source_kind and target_kind and source_kind != target_kind and not widening:
        return f"{where}: expected {target_kind}, got {source_kind}"
    if source_kind == "array":
        return _schema_conflict(
            source.get("items") or {}, target.get("items") or {}, resolve, path + "[]", depth + 1
        )
    if source_kind != "object":
        return None
    properties: Mapping[str, Any] = target.get("properties") or {}
    additional = target.get("additionalProperties")
    for name, sub in sorted((source.get("properties") or {}).items()):
        child = f"{path}.{name}" if path else name
        if name in properties:
            why = _schema_conflict(sub, properties[name], resolve, child, depth + 1)
        elif isinstance(additional, Mapping):
            why = _schema_conflict(sub, additional, resolve, child, depth + 1)
        elif additional:
            why = None
        else:
            why = f"field {child!r} does not exist in the target object"
        if why is not None:
            return why
    return None


def to_openapi(
    cel_type: CelType, message_schema: Callable[[str], Mapping[str, Any] | None], depth: int = 0
) -> dict[str, Any]:
    """The OpenAPI schema inferred for a status field of this CEL type."""
    if cel_type.name in SCALARS:
        return {"type": SCALARS[cel_type.name]}
    if cel_type.name in ("BYTES", "TIMESTAMP", "DURATION"):
        return {"type": "string"}
    if cel_type.name == "optional_type" and cel_type.args:
        return to_openapi(cel_type.args[0], message_schema, depth)
    if depth < 16 and cel_type.name == "LIST" and cel_type.args:
        return {"type": "array", "items": to_openapi(cel_type.args[0], message_schema, depth + 1)}
    if depth < 16 and cel_type.name == "MAP" and len(cel_type.args) == 2:
        return {
            "type": "object",
            "additionalProperties": to_openapi(cel_type.args[1], message_schema, depth + 1),
        }
    if cel_type.name.startswith(PACKAGE + "."):
        schema = message_schema(cel_type.name)
        if schema is not None:
            return dict(schema)
    return {"x-kubernetes-preserve-unknown-fields": True}
