"""Walk OpenAPI schemas along template paths: which fields exist, and what type they want."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graph_planner.graph.templates import Path, path_text
from graph_planner.schemas import KindSchema

OPEN: Mapping[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}


def is_open(schema: Mapping[str, Any]) -> bool:
    return bool(
        not schema
        or schema.get("x-kubernetes-preserve-unknown-fields")
        or schema.get("x-kubernetes-int-or-string")
        or schema.get("format") == "int-or-string"
        or "oneOf" in schema
        or "anyOf" in schema
        or (
            "type" not in schema
            and "properties" not in schema
            and "additionalProperties" not in schema
            and "items" not in schema
        )
    )


def child_schema(ks: KindSchema, schema: Mapping[str, Any], key: str | int) -> Mapping[str, Any] | None:
    """The schema of `schema[key]`; None when the field does not exist."""
    schema = ks.resolve(schema)
    if is_open(schema) and "properties" not in schema:
        return OPEN
    if isinstance(key, int):
        items = schema.get("items")
        return (
            ks.resolve(items)
            if isinstance(items, Mapping)
            else (OPEN if schema.get("type") != "array" else None)
        )
    properties = schema.get("properties") or {}
    if key in properties:
        return ks.resolve(properties[key])
    additional = schema.get("additionalProperties")
    if isinstance(additional, Mapping):
        return ks.resolve(additional)
    if additional is True or schema.get("x-kubernetes-preserve-unknown-fields"):
        return OPEN
    return None


def schema_at(ks: KindSchema, path: Path) -> Mapping[str, Any] | None:
    schema: Mapping[str, Any] | None = ks.resolve(ks.root)
    for key in path:
        if schema is None:
            return None
        schema = child_schema(ks, schema, key)
    return schema


def unknown_fields(ks: KindSchema, template: Any) -> Iterator[tuple[Path, str]]:
    """(path, message) for every template key its kind's schema does not know."""
    yield from _unknown(ks, ks.resolve(ks.root), template, ())


def _unknown(ks: KindSchema, schema: Mapping[str, Any], value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if is_open(schema) and "properties" not in schema:
        return
    if isinstance(value, Mapping):
        for key, child in value.items():
            sub = child_schema(ks, schema, str(key))
            if sub is None:
                where = path_text(path) or "(root)"
                yield (*path, str(key)), f"field {key!r} does not exist in {where} of this kind"
            else:
                yield from _unknown(ks, sub, child, (*path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            sub = child_schema(ks, schema, index)
            if sub is not None:
                yield from _unknown(ks, sub, child, (*path, index))


def inline(ks: KindSchema, schema: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    """A schema with every `$ref` expanded (recursion cut at depth 8 as preserve-unknown)."""
    schema = ks.resolve(schema)
    if depth > 8:
        return dict(OPEN)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {name: inline(ks, sub, depth + 1) for name, sub in sorted(value.items())}
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            out[key] = inline(ks, value, depth + 1)
        elif key in ("required",):
            continue
        else:
            out[key] = value
    return out
