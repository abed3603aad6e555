"""Structural checks on an RGD before any CEL: ids, template/externalRef, forEach, naming."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from graph_planner.cel.limits import MAX_COLLECTION_DIMENSIONS, MAX_RESOURCES, MAX_TEMPLATE_DEPTH
from graph_planner.errors import (
    DUPLICATE_ID,
    INVALID_FOREACH,
    INVALID_ID,
    INVALID_RESOURCE,
    INVALID_SCHEMA,
    LIMIT_EXCEEDED,
    GraphError,
)

KIND = re.compile(r"^[A-Z][a-zA-Z0-9]{0,62}$")
VERSION = re.compile(r"^v[0-9]+(alpha[0-9]+|beta[0-9]+)?$")
GROUP = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
RESOURCE_ID = re.compile(r"^[a-z][a-zA-Z0-9]*$")
IDENTIFIER = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

CEL_RESERVED = frozenset(
    {
        "true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function",
        "if", "import", "let", "loop", "package", "namespace", "return", "var", "void", "while",
    }
)  # fmt: skip
KRO_RESERVED = frozenset(
    {
        "apiVersion", "context", "dependency", "dependencies", "each", "externalRef", "externalReference",
        "externalRefs", "externalReferences", "graph", "instance", "item", "items", "kind", "kro",
        "metadata", "namespace", "object", "resource", "resourcegraphdefinition", "resourceGraphDefinition",
        "resources", "root", "runtime", "schema", "self", "serviceAccountName", "spec", "status",
        "this", "variables", "vars", "version",
    }
)  # fmt: skip
RESERVED = CEL_RESERVED | KRO_RESERVED


def nesting_depth(value: Any) -> int:
    """How deeply maps and lists nest (iteratively: a hostile document cannot blow the stack)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_TEMPLATE_DEPTH:
            break
        if isinstance(item, Mapping):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return deepest


def check_identifier(name: str, what: str, resource_id: str, path: str) -> list[GraphError]:
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        return [GraphError(INVALID_ID, f"{what} {name!r} is not a valid identifier", resource_id, path)]
    if name in RESERVED:
        return [GraphError(INVALID_ID, f"{what} {name!r} is a reserved word", resource_id, path)]
    return []


def check_schema_header(schema: Mapping[str, Any]) -> list[GraphError]:
    errors: list[GraphError] = []
    kind = schema.get("kind")
    if not isinstance(kind, str) or not KIND.match(kind):
        errors.append(
            GraphError(INVALID_SCHEMA, f"kind {kind!r} must match {KIND.pattern}", path="schema.kind")
        )
    version = schema.get("apiVersion")
    if not isinstance(version, str) or not VERSION.match(version):
        errors.append(
            GraphError(
                INVALID_SCHEMA,
                f"apiVersion {version!r} must match {VERSION.pattern}",
                path="schema.apiVersion",
            )
        )
    group = schema.get("group", "kro.run")
    if not isinstance(group, str) or not GROUP.match(group):
        errors.append(
            GraphError(INVALID_SCHEMA, f"group {group!r} is not a DNS subdomain", path="schema.group")
        )
    errors += _check_crd_fields(schema)
    if nesting_depth(schema.get("status")) > MAX_TEMPLATE_DEPTH:
        errors.append(
            GraphError(
                LIMIT_EXCEEDED, f"status nests deeper than {MAX_TEMPLATE_DEPTH} levels", path="schema.status"
            )
        )
    scope = schema.get("scope", "Namespaced")
    if scope not in ("Namespaced", "Cluster"):
        errors.append(
            GraphError(INVALID_SCHEMA, f"scope {scope!r} must be Namespaced or Cluster", path="schema.scope")
        )
    return errors


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) and item for item in value)


def _string_map(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _check_crd_fields(schema: Mapping[str, Any]) -> list[GraphError]:
    """The fields copied onto the CRD: shortNames, categories, printer columns, metadata."""
    errors: list[GraphError] = []
    for key in ("shortNames", "categories"):
        if schema.get(key) is not None and not _strings(schema[key]):
            errors.append(
                GraphError(INVALID_SCHEMA, f"{key} must be a list of strings", path=f"schema.{key}")
            )
    columns = schema.get("additionalPrinterColumns")
    if columns is not None and not (
        isinstance(columns, list)
        and all(
            isinstance(c, Mapping) and all(isinstance(c.get(k), str) for k in ("name", "type", "jsonPath"))
            for c in columns
        )
    ):
        errors.append(
            GraphError(
                INVALID_SCHEMA,
                "additionalPrinterColumns must be a list of {name, type, jsonPath}",
                path="schema.additionalPrinterColumns",
            )
        )
    metadata = schema.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, Mapping)
        and all(metadata.get(k) is None or _string_map(metadata[k]) for k in ("labels", "annotations"))
    ):
        errors.append(
            GraphError(
                INVALID_SCHEMA,
                "metadata.labels/annotations must map strings to strings",
                path="schema.metadata",
            )
        )
    return errors


def check_resources(resources: Any) -> list[GraphError]:
    """Ids (valid, not reserved, unique), exactly one of template/externalRef, forEach shape."""
    if resources is None:
        return []
    if not isinstance(resources, list):
        return [GraphError(INVALID_RESOURCE, "spec.resources must be a list", path="spec.resources")]
    if len(resources) > MAX_RESOURCES:
        return [GraphError(LIMIT_EXCEEDED, f"{len(resources)} resources, over the limit of {MAX_RESOURCES}")]
    errors: list[GraphError] = []
    seen: set[str] = set()
    for position, resource in enumerate(resources):
        where = f"spec.resources[{position}]"
        if not isinstance(resource, Mapping):
            errors.append(GraphError(INVALID_RESOURCE, "a resource must be an object", path=where))
            continue
        rid = resource.get("id")
        if not isinstance(rid, str) or not RESOURCE_ID.match(rid):
            errors.append(
                GraphError(
                    INVALID_ID, f"id {rid!r} must be lowerCamelCase ({RESOURCE_ID.pattern})", path=where
                )
            )
            continue
        if rid in RESERVED:
            errors.append(GraphError(INVALID_ID, f"id {rid!r} is a reserved word", rid, where))
            continue
        if rid in seen:
            errors.append(GraphError(DUPLICATE_ID, f"id {rid!r} is declared twice", rid, where))
            continue
        seen.add(rid)
        errors += _check_body(rid, resource)
    return errors


def _check_body(rid: str, resource: Mapping[str, Any]) -> list[GraphError]:
    has_template = resource.get("template") is not None
    has_ref = resource.get("externalRef") is not None
    if has_template == has_ref:
        return [GraphError(INVALID_RESOURCE, "exactly one of template or externalRef is required", rid)]
    errors: list[GraphError] = []
    body = resource["template"] if has_template else resource["externalRef"]
    if not isinstance(body, Mapping):
        return [GraphError(INVALID_RESOURCE, "template/externalRef must be an object", rid)]
    if nesting_depth(body) > MAX_TEMPLATE_DEPTH:
        return [GraphError(LIMIT_EXCEEDED, f"template nests deeper than {MAX_TEMPLATE_DEPTH} levels", rid)]
    for key in ("apiVersion", "kind"):
        value = body.get(key)
        if not isinstance(value, str) or not value or "${" in value:
            errors.append(
                GraphError(INVALID_RESOURCE, f"{key} must be a literal, non-empty string", rid, key)
            )
    if has_ref:
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, Mapping) or bool(metadata.get("name")) == bool(metadata.get("selector")):
            errors.append(
                GraphError(
                    INVALID_RESOURCE,
                    "externalRef needs exactly one of metadata.name or metadata.selector",
                    rid,
                    "metadata",
                )
            )
    for key in ("readyWhen", "includeWhen"):
        conditions = resource.get(key)
        if conditions is not None and (
            not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions)
        ):
            errors.append(GraphError(INVALID_RESOURCE, f"{key} must be a list of ${{...}} strings", rid, key))
    errors += _check_for_each(rid, resource.get("forEach"), has_ref)
    return errors


def _check_for_each(rid: str, for_each: Any, external: bool) -> list[GraphError]:
    if for_each is None or for_each == []:
        return []
    if external:
        return [GraphError(INVALID_FOREACH, "forEach cannot be used with externalRef", rid, "forEach")]
    if not isinstance(for_each, list):
        return [
            GraphError(INVALID_FOREACH, "forEach must be a list of {name: ${expr}} entries", rid, "forEach")
        ]
    if len(for_each) > MAX_COLLECTION_DIMENSIONS:
        return [
            GraphError(
                INVALID_FOREACH,
                f"forEach has {len(for_each)} iterators, over the limit of {MAX_COLLECTION_DIMENSIONS}",
                rid,
                "forEach",
            )
        ]
    errors: list[GraphError] = []
    names: set[str] = set()
    for position, entry in enumerate(for_each):
        where = f"forEach[{position}]"
        if not isinstance(entry, Mapping) or len(entry) != 1:
            errors.append(GraphError(INVALID_FOREACH, "each forEach entry has exactly one key", rid, where))
            continue
        ((name, expression),) = entry.items()
        errors += [
            GraphError(INVALID_FOREACH, e.message, rid, where)
            for e in check_identifier(name, "iterator", rid, where)
        ]
        if name in names:
            errors.append(GraphError(INVALID_FOREACH, f"iterator {name!r} is declared twice", rid, where))
        names.add(name)
        if not isinstance(expression, str) or not expression.strip().startswith("${"):
            errors.append(
                GraphError(INVALID_FOREACH, "the iterator value must be a ${...} expression", rid, where)
            )
    return errors
