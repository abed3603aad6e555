"""SchemaSource and its adapters."""

from __future__ import annotations

import functools
import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Protocol

_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
OBJECT_META_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "annotations": _STRING_MAP,
        "creationTimestamp": {"type": "string", "format": "date-time"},
        "deletionTimestamp": {"type": "string", "format": "date-time"},
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "generateName": {"type": "string"},
        "generation": {"type": "integer", "format": "int64"},
        "labels": _STRING_MAP,
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "ownerReferences": {
            "type": "array",
            "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        "resourceVersion": {"type": "string"},
        "uid": {"type": "string"},
    },
}
"""The parts of ObjectMeta templates and expressions use (managedFields left out)."""


@dataclass(frozen=True)
class KindSchema:
    """The OpenAPI schema of one kind; `$ref`s inside name entries of `components`."""

    api_version: str
    kind: str
    root: Mapping[str, Any]
    components: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    namespaced: bool | None = None

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow `$ref` (and single-element `allOf`) until a concrete schema."""
        seen = 0
        while seen < 64:
            seen += 1
            if "$ref" in schema:
                name = str(schema["$ref"]).removeprefix("#/components/schemas/")
                schema = self.components.get(name, {})
            elif list(schema) == ["allOf"] and len(schema["allOf"]) == 1:
                schema = schema["allOf"][0]
            else:
                return schema
        return {}


class SchemaSource(Protocol):
    """kind -> schema. None means "not known yet": the resource is pending, not invalid."""

    def schema_for(self, api_version: str, kind: str) -> KindSchema | None: ...


class StaticSchemaSource:
    """Schemas held in memory, keyed by (apiVersion, kind)."""

    def __init__(self, schemas: Iterable[KindSchema] = ()) -> None:
        self._schemas: dict[tuple[str, str], KindSchema] = {}
        for schema in schemas:
            self.add(schema)

    def add(self, schema: KindSchema) -> None:
        self._schemas[(schema.api_version, schema.kind)] = schema

    def schema_for(self, api_version: str, kind: str) -> KindSchema | None:
        return self._schemas.get((api_version, kind))

    def kinds(self) -> list[tuple[str, str]]:
        return sorted(self._schemas)


class ChainedSchemaSource:
    """Ask each source in turn; the first that knows the kind wins."""

    def __init__(self, *sources: SchemaSource) -> None:
        self.sources = sources

    def schema_for(self, api_version: str, kind: str) -> KindSchema | None:
        for source in self.sources:
            found = source.schema_for(api_version, kind)
            if found is not None:
                return found
        return None


class _BundledSource:
    def __init__(self, snapshot: Mapping[str, Any]) -> None:
        self.kinds: Mapping[str, str] = snapshot["kinds"]
        self.namespaced: Mapping[str, bool] = snapshot.get("namespaced", {})
        self.components: Mapping[str, Mapping[str, Any]] = snapshot["schemas"]
        self.origin = str(snapshot.get("source", ""))
        self._cache: dict[tuple[str, str], KindSchema | None] = {}

    def schema_for(self, api_version: str, kind: str) -> KindSchema | None:
        key = (api_version, kind)
        if key not in self._cache:
            name = self.kinds.get(f"{api_version}/{kind}")
            self._cache[key] = (
                None
                if name is None
                else KindSchema(
                    api_version,
                    kind,
                    {"$ref": name},
                    self.components,
                    namespaced=self.namespaced.get(f"{api_version}/{kind}"),
                )
            )
        return self._cache[key]


@functools.cache
def builtin_schemas() -> _BundledSource:
    """The bundled snapshot of built-in kinds (GA groups of Kubernetes 1.35)."""
    raw = resources.files("graph_planner.schemas").joinpath("builtin.json.gz").read_bytes()
    return _BundledSource(json.loads(gzip.decompress(raw)))


def schema_source_from_crds(crds: Iterable[Mapping[str, Any]]) -> StaticSchemaSource:
    """One schema per served version of each CRD (e.g. CRDs that RGDs generate)."""
    source = StaticSchemaSource()
    for crd in crds:
        spec = crd.get("spec", {})
        group = spec.get("group", "")
        kind = spec.get("names", {}).get("kind", "")
        for version in spec.get("versions", []):
            if not version.get("served", True):
                continue
            root = version.get("schema", {}).get("openAPIV3Schema", {"type": "object"})
            api_version = f"{group}/{version['name']}" if group else version["name"]
            root = dict(root)
            props = dict(root.get("properties", {}))
            if props.get("metadata", {"type": "object"}) == {"type": "object"}:
                props["metadata"] = OBJECT_META_SCHEMA
            root["properties"] = props
            source.add(
                KindSchema(
                    api_version, kind, root, {}, namespaced=spec.get("scope", "Namespaced") == "Namespaced"
                )
            )
    return source


def schema_source_from_openapi(documents: Iterable[Mapping[str, Any]]) -> StaticSchemaSource:
    """Kinds from `/openapi/v3/apis/<group>/<version>` documents, as the API server serves them.

    Each document's `components.schemas` resolves its `$ref`s; kinds are the schemas carrying
    `x-kubernetes-group-version-kind`; scope comes from the document's paths.
    """
    source = StaticSchemaSource()
    for document in documents:
        components: Mapping[str, Mapping[str, Any]] = (document.get("components") or {}).get("schemas") or {}
        namespaced: dict[tuple[str, str], bool] = {}
        for url, operations in (document.get("paths") or {}).items():
            for operation in (operations or {}).values() if isinstance(operations, Mapping) else ():
                gvk = (
                    operation.get("x-kubernetes-group-version-kind")
                    if isinstance(operation, Mapping)
                    else None
                )
                if gvk and str(url).endswith("{name}"):
                    version = f"{gvk['group']}/{gvk['version']}" if gvk.get("group") else gvk["version"]
                    namespaced.setdefault((version, gvk["kind"]), "{namespace}" in url)
        for name in sorted(components):
            for gvk in components[name].get("x-kubernetes-group-version-kind") or []:
                version = f"{gvk['group']}/{gvk['version']}" if gvk.get("group") else gvk["version"]
                if source.schema_for(version, gvk["kind"]) is None:
                    key = (version, gvk["kind"])
                    source.add(
                        KindSchema(version, gvk["kind"], {"$ref": name}, components, namespaced.get(key))
                    )
    return source
