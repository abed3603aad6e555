"""Schema sources (API server documents, CRDs) and the CRD update check."""

from __future__ import annotations

import copy
from typing import Any

from graph_planner.graph import compile_graph
from graph_planner.schemas import ChainedSchemaSource, builtin_schemas, schema_source_from_openapi
from graph_planner.simple_schema import breaking_changes, update_allowed

from .conftest import compiled, load_rgd

WIDGETS = {
    "openapi": "3.0.0",
    "paths": {
        "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}": {
            "get": {
                "x-kubernetes-group-version-kind": {"group": "example.com", "version": "v1", "kind": "Widget"}
            }
        }
    },
    "components": {
        "schemas": {
            "com.example.v1.Widget": {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "metadata": {"allOf": [{"$ref": "#/components/schemas/meta.ObjectMeta"}]},
                    "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                },
                "x-kubernetes-group-version-kind": [
                    {"group": "example.com", "version": "v1", "kind": "Widget"}
                ],
            },
            "meta.ObjectMeta": {"type": "object", "properties": {"name": {"type": "string"}}},
        }
    },
}


def widget_rgd(size: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "w"},
        "spec": {
            "schema": {
                "apiVersion": "v1alpha1",
                "kind": "WidgetSet",
                "spec": {"name": "string", "size": "integer"},
            },
            "resources": [
                {
                    "id": "widget",
                    "template": {
                        "apiVersion": "example.com/v1",
                        "kind": "Widget",
                        "metadata": {"name": "${schema.spec.name}"},
                        "spec": {"size": size},
                    },
                }
            ],
        },
    }


def test_api_server_documents_type_check_custom_kinds() -> None:
    source = ChainedSchemaSource(builtin_schemas(), schema_source_from_openapi([WIDGETS]))
    widget = source.schema_for("example.com/v1", "Widget")
    assert widget is not None and widget.namespaced is True
    assert compile_graph(widget_rgd("${schema.spec.size}"), source).errors == ()
    errors = compile_graph(widget_rgd("${schema.spec.name}"), source).errors
    assert [(e.reason, e.path) for e in errors] == [("TypeMismatch", "spec.size")]
    pending = compile_graph(widget_rgd("${schema.spec.name}"), builtin_schemas())
    assert pending.errors == () and pending.pending_kinds == ("example.com/v1/Widget",)


def test_compatible_update_has_no_breaking_changes() -> None:
    old = compiled("webapp/rg.yaml").crd
    rgd = load_rgd("webapp/rg.yaml")
    rgd["spec"]["schema"]["spec"]["extra"] = "string | default=x"
    new = compile_graph(rgd, builtin_schemas()).graph
    assert new is not None
    assert breaking_changes(old, new.crd) == []


def test_breaking_updates_are_reported_unless_allowed() -> None:
    old = compiled("webapp/rg.yaml").crd
    new = copy.deepcopy(old)
    spec = new["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    del spec["properties"]["image"]
    spec["properties"]["port"] = {"type": "string"}
    spec["properties"]["mode"] = {"type": "string"}
    spec["required"] = ["mode"]
    spec["properties"]["serviceAccount"]["enum"] = ["default", "admin"]
    assert breaking_changes(old, new) == [
        "spec.image: field removed",
        "spec.port: type changed from integer to string",
        "spec.serviceAccount: enum narrowed",
        "spec.mode: newly required without a default",
    ]
    rgd = load_rgd("webapp/rg.yaml")
    assert update_allowed(rgd, old, new) == breaking_changes(old, new)
    rgd["metadata"]["annotations"] = {"kro.run/allow-breaking-changes": "true"}
    assert update_allowed(rgd, old, new) == []
