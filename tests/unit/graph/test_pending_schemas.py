"""A kind whose schema is not known yet is pending, not an error; the graph compiles when the CRD appears."""

from __future__ import annotations

from typing import Any

from graph_planner.graph import compile_graph, rgd_status
from graph_planner.schemas import ChainedSchemaSource, builtin_schemas, schema_source_from_crds

from .conftest import load_rgd

NOW = "2026-01-01T00:00:00Z"


def test_unknown_kind_is_pending_and_typed_dyn() -> None:
    rgd = load_rgd("saas-multi-tenant/tenant-rgd.yaml")
    result = compile_graph(rgd, builtin_schemas())
    assert result.errors == ()
    assert result.pending_kinds == (
        "kro.run/v1alpha1/TenantEnvironment",
        "kro.run/v1alpha1/TenantApplication",
    )
    assert result.graph is not None and result.graph.nodes["tenantEnvironment"].schema_pending
    status = rgd_status(result, generation=1, now=NOW)
    accepted = status["conditions"][0]
    assert (accepted["type"], accepted["status"], accepted["reason"]) == (
        "GraphAccepted",
        "Unknown",
        "SchemasPending",
    )
    assert "TenantEnvironment" in accepted["message"]
    assert status["state"] == "Inactive"


def crd_of(name: str) -> dict[str, Any]:
    result = compile_graph(load_rgd(name), builtin_schemas())
    assert result.graph is not None
    return result.graph.crd


def test_compiles_fully_once_the_crds_appear_and_then_checks_fields() -> None:
    source = ChainedSchemaSource(
        builtin_schemas(),
        schema_source_from_crds(
            [
                crd_of("saas-multi-tenant/tenant-environment-rgd.yaml"),
                crd_of("saas-multi-tenant/tenant-application-rgd.yaml"),
            ]
        ),
    )
    rgd = load_rgd("saas-multi-tenant/tenant-rgd.yaml")
    result = compile_graph(rgd, source)
    assert result.errors == () and result.pending_kinds == ()
    status = rgd_status(result, generation=2, now=NOW, kind_ready=True, controller_ready=True)
    assert status["state"] == "Active"
    assert status["topologicalOrder"] == ["tenantEnvironment", "tenantApplication"]
    assert [c["status"] for c in status["conditions"]] == ["True"] * 4
    # Now that the kind is known, a typo in its spec is caught.
    rgd["spec"]["resources"][0]["template"]["spec"]["tenantID"] = "${schema.spec.tenantId}"
    broken = compile_graph(rgd, source)
    assert [(e.reason, e.resource_id, e.path) for e in broken.errors] == [
        ("UnknownField", "tenantEnvironment", "spec.tenantID")
    ]
    status = rgd_status(broken, generation=3, now=NOW)
    accepted = status["conditions"][0]
    assert (accepted["status"], accepted["reason"]) == ("False", "InvalidResourceGraph")
    assert "spec.tenantID" in accepted["message"]
    assert "topologicalOrder" not in status


def test_rgd_status_lists_resources_and_dependencies() -> None:
    result = compile_graph(load_rgd("webapp/rg.yaml"), builtin_schemas())
    status = rgd_status(result, generation=1, now=NOW, kind_ready=True, controller_ready=True)
    assert status["resources"] == [
        {"id": "deployment", "dependencies": []},
        {"id": "service", "dependencies": [{"id": "deployment"}]},
        {"id": "ingress", "dependencies": [{"id": "deployment"}, {"id": "service"}]},
    ]
    assert result.graph is not None
    assert result.graph.deletion_layers == (("ingress",), ("service",), ("deployment",))
