"""End to end: invalid RGDs get GraphAccepted=False with the precise reason; nothing else breaks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bosun_common.kube import KubeClient
from tests.integration.conftest import ServiceProcess
from tests.integration.e2e.test_kro_webapp import until


def rgd(
    name: str, kind: str, resources: list[dict[str, Any]], spec: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": name},
        "spec": {
            "schema": {"apiVersion": "v1alpha1", "kind": kind, "spec": spec or {"name": "string"}},
            "resources": resources,
        },
    }


def configmap(rid: str, name_expr: str, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "id": rid,
        "template": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name_expr},
            "data": data or {},
        },
    }


async def graph_accepted(kube: KubeClient, name: str) -> dict[str, Any] | None:
    live = await kube.get("kro.run/v1alpha1", "ResourceGraphDefinition", name)
    for condition in (live.get("status") or {}).get("conditions") or []:
        if condition["type"] == "GraphAccepted" and condition["status"] in ("True", "False"):
            return dict(condition) | {"state": live["status"].get("state")}
    return None


async def test_cycle_and_type_error_are_reported_and_valid_rgds_still_work(
    kube: KubeClient, crds: list[str], services: Callable[..., ServiceProcess], unique: str
) -> None:
    procs = [services("informer"), services("graph_planner"), services("k8s_actuator")]
    cycle = rgd(
        f"cycle-{unique}",
        f"Cycle{unique.capitalize()}",
        [configmap("a", "${b.metadata.name}-a"), configmap("b", "${a.metadata.name}-b")],
    )
    mistyped = rgd(
        f"typed-{unique}",
        f"Typed{unique.capitalize()}",
        [
            {
                "id": "dep",
                "template": {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": "${schema.spec.name}"},
                    "spec": {"replicas": "${schema.spec.name}"},
                },
            }
        ],
    )
    valid = rgd(f"fine-{unique}", f"Fine{unique.capitalize()}", [configmap("cm", "${schema.spec.name}")])
    for manifest in (cycle, mistyped, valid):
        await kube.apply(manifest, field_manager="kubectl")

    bad_cycle = await until(lambda: graph_accepted(kube, f"cycle-{unique}"), what="the cycle to be reported")
    assert bad_cycle["status"] == "False" and bad_cycle["reason"] == "InvalidResourceGraph"
    assert "a -> b -> a" in bad_cycle["message"] or "b -> a -> b" in bad_cycle["message"]
    assert bad_cycle["state"] == "Inactive"

    bad_type = await until(
        lambda: graph_accepted(kube, f"typed-{unique}"), what="the type error to be reported"
    )
    assert bad_type["status"] == "False" and bad_type["reason"] == "InvalidResourceGraph"
    for part in ("resource dep", "spec.replicas", "expected integer, got string", "schema.spec.name"):
        assert part in bad_type["message"], bad_type["message"]

    good = await until(lambda: graph_accepted(kube, f"fine-{unique}"), what="the valid RGD to be accepted")
    assert good["status"] == "True" and good["state"] == "Active"
    instance = {
        "apiVersion": "kro.run/v1alpha1",
        "kind": f"Fine{unique.capitalize()}",
        "metadata": {"name": "one", "namespace": "default"},
        "spec": {"name": f"fine-{unique}"},
    }
    await kube.apply(instance, field_manager="kubectl")

    async def configmap_made() -> Any:
        try:
            return await kube.get("v1", "ConfigMap", f"fine-{unique}", "default")
        except Exception:
            return None

    await until(configmap_made, what="the valid RGD's instance to create its ConfigMap")
    assert all(p.proc.alive() for p in procs)


async def test_a_kind_known_only_from_the_api_servers_openapi_documents_compiles(
    bus: Any, kube: KubeClient, crds: list[str], services: Callable[..., ServiceProcess], unique: str
) -> None:
    """An aggregated API (no CRD, not in the bundled snapshot) is typed from the `/openapi/v3`
    documents the informer puts in KV `schemas`: pending until its document arrives, then accepted."""
    import gzip
    import json

    from bosun_common.streams import SCHEMAS, openapi_schema_key

    services("informer")
    services("graph_planner")
    services("k8s_actuator")
    group = f"agg{unique}.bosun.dev"
    manifest = rgd(
        f"agg-{unique}",
        f"Agg{unique.capitalize()}",
        [
            {
                "id": "gizmo",
                "template": {
                    "apiVersion": f"{group}/v1",
                    "kind": "Gizmo",
                    "metadata": {"name": "${schema.spec.name}"},
                    "spec": {"size": 3},
                },
            }
        ],
    )
    await kube.apply(manifest, field_manager="kubectl")

    async def condition() -> dict[str, Any] | None:
        live = await kube.get("kro.run/v1alpha1", "ResourceGraphDefinition", f"agg-{unique}")
        found = {c["type"]: c for c in (live.get("status") or {}).get("conditions") or []}
        return found.get("GraphAccepted")

    pending = await until(condition, what="the RGD's GraphAccepted condition")
    assert pending["status"] == "Unknown" and pending["reason"] == "SchemasPending"
    assert f"{group}/v1/Gizmo" in pending["message"]

    gvk = {"group": group, "version": "v1", "kind": "Gizmo"}
    document = {
        "openapi": "3.0.0",
        "paths": {
            f"/apis/{group}/v1/namespaces/{{namespace}}/gizmos/{{name}}": {
                "get": {"x-kubernetes-group-version-kind": gvk}
            }
        },
        "components": {
            "schemas": {
                f"dev.bosun.{unique}.v1.Gizmo": {
                    "type": "object",
                    "x-kubernetes-group-version-kind": [gvk],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object", "properties": {"name": {"type": "string"}}},
                        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                    },
                }
            }
        },
    }
    kv = await bus.ensure_bucket(SCHEMAS)
    await kv.put(openapi_schema_key(f"{group}/v1"), gzip.compress(json.dumps(document).encode()))

    async def accepted() -> dict[str, Any] | None:
        found = await condition()
        return found if found and found["status"] == "True" else None

    await until(accepted, what="the RGD to compile once the document is in KV schemas")
