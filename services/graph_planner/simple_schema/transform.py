"""Simple Schema -> OpenAPI v3 (the structural schema a CRD version carries)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from graph_planner.errors import (
    INVALID_MARKER,
    INVALID_SCHEMA,
    INVALID_TYPE,
    GraphError,
    GraphValidationError,
)
from graph_planner.simple_schema.markers import Marker, MarkerError, parse_field

ATOMIC = {"string": "string", "integer": "integer", "boolean": "boolean", "float": "number"}
FIELD_NAME = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$-]*$")
MAX_DEPTH = 32

Schema = dict[str, Any]


def _fail(path: str, message: str, reason: str = INVALID_SCHEMA) -> GraphValidationError:
    return GraphValidationError(GraphError(reason, message, path=path))


def _split_map(type_name: str) -> tuple[str, str] | None:
    """`map[string]T` -> (`string`, `T`), honouring nested brackets in T."""
    if not type_name.startswith("map["):
        return None
    depth = 0
    for index, char in enumerate(type_name[3:], start=3):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return type_name[4:index].strip(), type_name[index + 1 :].strip()
    return None


class _Transformer:
    def __init__(self, custom: Mapping[str, Any]) -> None:
        self.raw_custom = dict(custom)
        self.custom: dict[str, tuple[Schema, bool]] = {}
        self.loading: list[str] = []

    # -- types -------------------------------------------------------------
    def type_schema(self, type_name: str, path: str, depth: int = 0) -> tuple[Schema, bool]:
        """The schema of a type expression, and whether a custom type marked itself required."""
        if depth > MAX_DEPTH:
            raise _fail(path, f"type {type_name!r} nests too deeply", INVALID_TYPE)
        if type_name in ATOMIC:
            return {"type": ATOMIC[type_name]}, False
        if type_name == "object":
            return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}, False
        if type_name.startswith("[]"):
            items, _ = self.type_schema(type_name[2:].strip(), path, depth + 1)
            return {"type": "array", "items": items}, False
        parts = _split_map(type_name)
        if parts is not None:
            key, value = parts
            if key != "string":
                raise _fail(path, f"map keys must be string, got {key!r}", INVALID_TYPE)
            if not value:
                raise _fail(path, f"map type {type_name!r} has no value type", INVALID_TYPE)
            values, _ = self.type_schema(value, path, depth + 1)
            return {"type": "object", "additionalProperties": values}, False
        if type_name.startswith("map"):
            raise _fail(path, f"malformed map type {type_name!r} (expected map[string]T)", INVALID_TYPE)
        return self.custom_type(type_name, path, depth)

    def custom_type(self, name: str, path: str, depth: int) -> tuple[Schema, bool]:
        if name in self.custom:
            schema, required = self.custom[name]
            return copy.deepcopy(schema), required
        if name not in self.raw_custom:
            raise _fail(path, f"unknown type {name!r}", INVALID_TYPE)
        if name in self.loading:
            cycle = " -> ".join([*self.loading[self.loading.index(name) :], name])
            raise _fail(f"schema.types.{name}", f"custom types form a cycle: {cycle}", INVALID_TYPE)
        self.loading.append(name)
        try:
            definition = self.raw_custom[name]
            if isinstance(definition, Mapping):
                schema, required = self.object_schema(definition, f"schema.types.{name}", depth + 1), False
            elif isinstance(definition, str):
                holder: Schema = {"type": "object", "properties": {}}
                schema = self.field(name, definition, holder, f"schema.types.{name}", depth + 1)
                required = name in holder.get("required", [])
            else:
                raise _fail(f"schema.types.{name}", "a custom type is an object or a type string")
        finally:
            self.loading.pop()
        self.custom[name] = (schema, required)
        return copy.deepcopy(schema), required

    # -- objects and fields -------------------------------------------------
    def object_schema(self, fields: Mapping[str, Any], path: str, depth: int = 0) -> Schema:
        if depth > MAX_DEPTH:
            raise _fail(path, "schema nests too deeply")
        schema: Schema = {"type": "object", "properties": {}}
        for key in fields:
            if not isinstance(key, str) or not FIELD_NAME.match(key):
                raise _fail(f"{path}.{key}", f"invalid field name {key!r}")
            value = fields[key]
            child_path = f"{path}.{key}"
            if isinstance(value, Mapping):
                schema["properties"][key] = self.object_schema(value, child_path, depth + 1)
            elif isinstance(value, str):
                schema["properties"][key] = self.field(key, value, schema, child_path, depth + 1)
            else:
                raise _fail(
                    child_path, f"expected a type string or a nested object, got {type(value).__name__}"
                )
        if any("default" in child for child in schema["properties"].values()):
            schema["default"] = {}
        if "required" in schema:
            schema["required"] = sorted(set(schema["required"]))
        schema["properties"] = dict(sorted(schema["properties"].items()))
        return schema

    def field(self, key: str, text: str, parent: Schema, path: str, depth: int) -> Schema:
        try:
            type_name, markers = parse_field(text)
        except MarkerError as exc:
            raise _fail(path, f"{exc} in {text!r}", INVALID_MARKER) from exc
        schema, required = self.type_schema(type_name, path, depth)
        if required:
            parent.setdefault("required", []).append(key)
        for marker in markers:
            try:
                _apply_marker(schema, marker, key, parent)
            except (MarkerError, ValueError) as exc:
                raise _fail(path, f"marker {marker.key}={marker.value!r}: {exc}", INVALID_MARKER) from exc
        for low, high in (("minimum", "maximum"), ("minLength", "maxLength"), ("minItems", "maxItems")):
            if low in schema and high in schema and schema[low] > schema[high]:
                raise _fail(
                    path, f"{low} {schema[low]} must not exceed {high} {schema[high]}", INVALID_MARKER
                )
        return schema


def _parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "t"):
        return True
    if lowered in ("false", "0", "f"):
        return False
    raise MarkerError(f"{value!r} is not a boolean")


def _parse_default(schema: Schema, value: str) -> Any:
    kind = schema.get("type")
    if kind == "string":
        return value
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise MarkerError(f"{value!r} is not a valid {kind} default") from exc
    expected = {
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }.get(str(kind))
    if expected is not None and not expected(parsed):
        raise MarkerError(f"{value!r} is not a valid {kind} default")
    return parsed


def _require_type(schema: Schema, marker: str, *types: str) -> None:
    if schema.get("type") not in types:
        raise MarkerError(f"{marker} applies to {' or '.join(types)} fields, not {schema.get('type')}")


def _apply_marker(schema: Schema, marker: Marker, key: str, parent: Schema) -> None:
    name, value = marker.key, marker.value
    if name == "required":
        if _parse_bool(value):
            parent.setdefault("required", []).append(key)
    elif name == "default":
        schema["default"] = _parse_default(schema, value)
    elif name == "description":
        schema["description"] = value
    elif name in ("minimum", "maximum"):
        _require_type(schema, name, "integer", "number")
        number = float(value)
        schema[name] = int(number) if number.is_integer() else number
    elif name == "validation":
        if not value.strip():
            raise MarkerError("validation needs a CEL rule")
        schema.setdefault("x-kubernetes-validations", []).append(
            {"rule": value, "message": "validation failed"}
        )
    elif name == "immutable":
        if _parse_bool(value):
            schema.setdefault("x-kubernetes-validations", []).append(
                {"rule": "self == oldSelf", "message": "field is immutable"}
            )
    elif name == "enum":
        _require_type(schema, name, "string", "integer")
        values = [item.strip() for item in value.split(",")]
        if any(not item for item in values):
            raise MarkerError("empty enum values are not allowed")
        schema["enum"] = [int(item) for item in values] if schema["type"] == "integer" else values
    elif name == "pattern":
        _require_type(schema, name, "string")
        if not value:
            raise MarkerError("pattern cannot be empty")
        try:
            re.compile(value)
        except re.error as exc:
            raise MarkerError(f"invalid regular expression: {exc}") from exc
        schema["pattern"] = value
    elif name in ("minLength", "maxLength"):
        _require_type(schema, name, "string")
        schema[name] = _non_negative(value)
    elif name in ("minItems", "maxItems"):
        _require_type(schema, name, "array")
        schema[name] = _non_negative(value)
    elif name == "uniqueItems":
        _require_type(schema, name, "array")
        if _parse_bool(value):
            schema["x-kubernetes-list-type"] = "set"
    elif name == "listType":
        _require_type(schema, name, "array")
        if value not in ("atomic", "set", "map"):
            raise MarkerError("listType is one of atomic, set, map")
        schema["x-kubernetes-list-type"] = value
    elif name == "listMapKey":
        _require_type(schema, name, "array")
        schema.setdefault("x-kubernetes-list-map-keys", []).append(value)
    else:  # pragma: no cover - parse_markers rejects unknown markers
        raise MarkerError(f"unknown marker {name!r}")


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise MarkerError("must not be negative")
    return number


def to_openapi(spec: Mapping[str, Any] | None, types: Mapping[str, Any] | None = None) -> Schema:
    """The OpenAPI v3 schema of `spec.schema.spec`, with custom `types` expanded inline.

    Raises GraphValidationError (reason InvalidSchema, InvalidType or InvalidMarker)
    with the field path, e.g. `schema.spec.replicas`.
    """
    if spec is not None and not isinstance(spec, Mapping):
        raise _fail("schema.spec", "spec must be an object of fields")
    if types is not None and not isinstance(types, Mapping):
        raise _fail("schema.types", "types must be an object of named types")
    transformer = _Transformer(types or {})
    for name in types or {}:
        transformer.custom_type(name, f"schema.types.{name}", 0)
    return transformer.object_schema(spec or {}, "schema.spec")
