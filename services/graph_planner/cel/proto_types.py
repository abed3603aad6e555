"""OpenAPI schemas -> protobuf message types, so cel's type checker knows every field.

Each object schema with named properties becomes a proto3 message; scalars
become wrapper types (nullable, as Kubernetes fields are); arrays become
repeated fields, maps map fields; shapes proto cannot express (int-or-string,
preserve-unknown-fields, arrays of arrays, property names that are not
identifiers) become `google.protobuf.Value` / `Struct` / `ListValue`, which CEL
treats as dyn. Only checking uses these types; evaluation uses plain dicts.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    struct_pb2,
    wrappers_pb2,
)

from graph_planner.schemas import KindSchema

PACKAGE = "bosun.types"
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FD = descriptor_pb2.FieldDescriptorProto

WRAPPER = {
    "string": ".google.protobuf.StringValue",
    "integer": ".google.protobuf.Int64Value",
    "number": ".google.protobuf.DoubleValue",
    "boolean": ".google.protobuf.BoolValue",
}
PLAIN = {
    "string": FD.TYPE_STRING,
    "integer": FD.TYPE_INT64,
    "number": FD.TYPE_DOUBLE,
    "boolean": FD.TYPE_BOOL,
}
DYN_VALUE = ".google.protobuf.Value"
DYN_STRUCT = ".google.protobuf.Struct"
DYN_LIST = ".google.protobuf.ListValue"


@dataclass(frozen=True)
class FieldShape:
    """How a schema is stored in a proto field."""

    type: int
    type_name: str = ""
    repeated: bool = False
    map_value: FieldShape | None = None


def _is_dyn(schema: Mapping[str, Any]) -> bool:
    return bool(
        schema.get("x-kubernetes-int-or-string")
        or schema.get("format") == "int-or-string"
        or "oneOf" in schema
        or "anyOf" in schema
        or (schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"))
    )


def _camel(name: str) -> str:
    """protobuf's map-entry name for a field: `node_selector` -> `NodeSelector`."""
    parts = name.split("_")
    return "".join(part[:1].upper() + part[1:] for part in parts if part)


class _FileBuilder:
    """Message types for some schemas, in one proto file of its own package."""

    def __init__(self, package: str, file_name: str) -> None:
        self.package = package
        self.file = descriptor_pb2.FileDescriptorProto(
            name=file_name,
            package=package,
            syntax="proto3",
            dependency=["google/protobuf/wrappers.proto", "google/protobuf/struct.proto"],
        )
        self._names: set[str] = set()
        self._by_ref: dict[tuple[int, str], str] = {}
        self._by_kind: dict[tuple[str, str], str] = {}
        # message full name -> (kind schema, OpenAPI schema): to map CEL types back to OpenAPI.
        self.schemas: dict[str, tuple[KindSchema, Mapping[str, Any]]] = {}
        self.labels: dict[str, str] = {}

    # -- public -------------------------------------------------------------
    def message_for_kind(self, kind_schema: KindSchema) -> str:
        """Full message name (e.g. `bosun.types.Deployment`) for a kind's root schema."""
        key = (kind_schema.api_version, kind_schema.kind)
        if key not in self._by_kind:
            root = kind_schema.resolve(kind_schema.root)
            self._by_kind[key] = self._message(
                kind_schema, root, kind_schema.kind, kind_schema.kind, ref=None
            )
        return self._by_kind[key]

    # -- internals ------------------------------------------------------------
    def _unique(self, hint: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", hint) or "M"
        if not base[0].isalpha():
            base = "M" + base
        name, counter = base, 1
        while name in self._names:
            counter += 1
            name = f"{base}{counter}"
        self._names.add(name)
        return name

    def _message(
        self, ks: KindSchema, schema: Mapping[str, Any], hint: str, label: str, ref: str | None
    ) -> str:
        if ref is not None and (id(ks.components), ref) in self._by_ref:
            return self._by_ref[(id(ks.components), ref)]
        name = self._unique(hint)
        full = f"{self.package}.{name}"
        if ref is not None:
            self._by_ref[(id(ks.components), ref)] = full
        self.schemas[full] = (ks, schema)
        self.labels[full] = label
        message = self.file.message_type.add(name=name)
        properties: Mapping[str, Any] = schema.get("properties", {})
        for number, (field_name, field_schema) in enumerate(sorted(properties.items()), start=1):
            shape = self._shape(ks, field_schema, f"{name}_{field_name}", f"{label}.{field_name}")
            self._add_field(message, field_name, number, shape)
        return full

    def _add_field(self, message: Any, field_name: str, number: int, shape: FieldShape) -> None:
        field = message.field.add(name=field_name, number=number, json_name=field_name)
        if shape.map_value is not None:
            entry_name = _camel(field_name) + "Entry"
            entry = message.nested_type.add(name=entry_name)
            entry.options.map_entry = True
            entry.field.add(
                name="key", number=1, type=FD.TYPE_STRING, label=FD.LABEL_OPTIONAL, json_name="key"
            )
            value = entry.field.add(name="value", number=2, label=FD.LABEL_OPTIONAL, json_name="value")
            value.type = shape.map_value.type
            if shape.map_value.type_name:
                value.type_name = shape.map_value.type_name
            field.type = FD.TYPE_MESSAGE
            field.type_name = f".{self.package}.{message.name}.{entry_name}"
            field.label = FD.LABEL_REPEATED
            return
        field.type = shape.type
        if shape.type_name:
            field.type_name = shape.type_name
        field.label = FD.LABEL_REPEATED if shape.repeated else FD.LABEL_OPTIONAL

    def _element(self, ks: KindSchema, schema: Mapping[str, Any], hint: str, label: str) -> FieldShape:
        """Shape of a list element or map value: no wrappers, no nested repetition."""
        ref = schema.get("$ref")
        resolved = ks.resolve(schema)
        kind = resolved.get("type")
        if _is_dyn(resolved):
            return FieldShape(FD.TYPE_MESSAGE, DYN_VALUE)
        if kind in PLAIN:
            return FieldShape(PLAIN[str(kind)])
        if kind == "array":
            return FieldShape(FD.TYPE_MESSAGE, DYN_LIST)
        if kind == "object" or "properties" in resolved:
            if resolved.get("properties") and all(IDENT.match(k) for k in resolved["properties"]):
                return FieldShape(FD.TYPE_MESSAGE, self._object(ks, resolved, ref, hint, label))
            return FieldShape(FD.TYPE_MESSAGE, DYN_STRUCT)
        return FieldShape(FD.TYPE_MESSAGE, DYN_VALUE)

    def _object(self, ks: KindSchema, resolved: Mapping[str, Any], ref: Any, hint: str, label: str) -> str:
        if isinstance(ref, str):
            ref_name = ref.removeprefix("#/components/schemas/")
            short = ref_name.rsplit(".", 1)[-1]
            return self._message(ks, resolved, short, short, ref=ref_name)
        return self._message(ks, resolved, hint, label, ref=None)

    def _shape(self, ks: KindSchema, schema: Mapping[str, Any], hint: str, label: str) -> FieldShape:
        resolved = ks.resolve(schema)
        kind = resolved.get("type")
        if _is_dyn(resolved):
            return FieldShape(FD.TYPE_MESSAGE, DYN_VALUE)
        if kind in WRAPPER:
            return FieldShape(FD.TYPE_MESSAGE, WRAPPER[str(kind)])
        if kind == "array":
            items = resolved.get("items") or {}
            element = self._element(ks, items, hint, label + "[]")
            return FieldShape(element.type, element.type_name, repeated=True)
        if kind == "object" or "properties" in resolved or "additionalProperties" in resolved:
            additional = resolved.get("additionalProperties")
            if isinstance(additional, Mapping) and not resolved.get("properties"):
                value = self._element(ks, additional, hint, label + "{}")
                return FieldShape(FD.TYPE_MESSAGE, "", map_value=value)
            return self._element(ks, schema, hint, label)
        return FieldShape(FD.TYPE_MESSAGE, DYN_VALUE)


# Message types of kinds with shared, long-lived components (the bundled snapshot, a
# schema source fed from the API server) are built once per process and reused by
# every compile; the cache keeps the components object alive so its id stays unique.
_KIND_FILES: dict[tuple[int, str, str], tuple[Any, _FileBuilder, str]] = {}
_KIND_FILE_NUMBERS = itertools.count(1)
_KIND_FILES_MAX = 512


class TypeRegistry:
    """Collects message types for many kinds into one descriptor pool (one per compile)."""

    def __init__(self) -> None:
        self.own = _FileBuilder(PACKAGE, "bosun/graph_types.proto")
        self.deps: dict[str, _FileBuilder] = {}
        self.schemas: dict[str, tuple[KindSchema, Mapping[str, Any]]] = self.own.schemas
        self.labels: dict[str, str] = self.own.labels
        self._pool: Any = None

    def message_for_kind(self, kind_schema: KindSchema) -> str:
        """Full message name (e.g. `bosun.types.k3.Deployment`) for a kind's root schema."""
        if not kind_schema.components:
            return self.own.message_for_kind(kind_schema)
        key = (id(kind_schema.components), kind_schema.api_version, kind_schema.kind)
        entry = _KIND_FILES.get(key)
        if entry is None or entry[0] is not kind_schema.components:
            if len(_KIND_FILES) >= _KIND_FILES_MAX:
                _KIND_FILES.clear()
            number = next(_KIND_FILE_NUMBERS)
            builder = _FileBuilder(f"{PACKAGE}.k{number}", f"bosun/kinds/{number}.proto")
            entry = (kind_schema.components, builder, builder.message_for_kind(kind_schema))
            _KIND_FILES[key] = entry
        builder = entry[1]
        if builder.file.name not in self.deps:
            self.deps[builder.file.name] = builder
            self.schemas.update(builder.schemas)
            self.labels.update(builder.labels)
        return entry[2]

    def pool(self) -> Any:
        """The descriptor pool (built once; register every type before asking for it)."""
        if self._pool is None:
            pool = descriptor_pool.DescriptorPool()
            for module in (wrappers_pb2, struct_pb2):
                proto = descriptor_pb2.FileDescriptorProto()
                module.DESCRIPTOR.CopyToProto(proto)
                pool.Add(proto)
            for name in sorted(self.deps):
                pool.Add(self.deps[name].file)
            own = descriptor_pb2.FileDescriptorProto()
            own.CopyFrom(self.own.file)
            own.dependency.extend(sorted(self.deps))
            pool.Add(own)
            self._pool = pool
        return self._pool

    def describe(self, text: str) -> str:
        """Replace generated message names in checker messages by `Kind.field.path`."""
        return re.sub(
            rf"{re.escape(PACKAGE)}\.(?:k\d+\.)?([A-Za-z0-9_]+)",
            lambda m: self.labels.get(m.group(0), m.group(1)),
            text,
        )
