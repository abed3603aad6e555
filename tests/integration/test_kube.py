"""The Kubernetes helpers against a real kube-apiserver: CRDs, server-side apply, watch, 410."""

from __future__ import annotations

import asyncio
from typing import Any

from bosun_common.kube import KubeClient, WatchEvent, list_and_watch

GROUP = "test.bosun.dev"


def widget_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                            },
                        }
                    },
                }
            ],
        },
    }


def widget(name: str, size: int) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"size": size},
    }


async def ensure_widget_crd(kube: KubeClient) -> None:
    await kube.apply(widget_crd(), field_manager="bosun-tests")
    async with asyncio.timeout(30):
        while True:
            crd = await kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"widgets.{GROUP}")
            conditions = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
            if conditions.get("Established") == "True":
                break
            await asyncio.sleep(0.1)
    kube.forget_discovery(f"{GROUP}/v1")


async def test_crd_and_server_side_apply_twice_is_a_no_op(kube: KubeClient, unique: str) -> None:
    await ensure_widget_crd(kube)
    first = await kube.apply(widget(f"w-{unique}", 1), field_manager="bosun-tests")
    second = await kube.apply(widget(f"w-{unique}", 1), field_manager="bosun-tests")
    assert first["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]
    third = await kube.apply(widget(f"w-{unique}", 2), field_manager="bosun-tests")
    assert third["metadata"]["resourceVersion"] != second["metadata"]["resourceVersion"]
    assert third["spec"] == {"size": 2}
    managers = {m["manager"] for m in third["metadata"]["managedFields"]}
    assert managers == {"bosun-tests"}


async def next_events(stream, count: int, skip_synced: bool = False) -> list[WatchEvent]:  # type: ignore[no-untyped-def]
    out: list[WatchEvent] = []
    async with asyncio.timeout(30):
        while len(out) < count:
            event = await anext(stream)
            if skip_synced and event.type == "SYNCED":
                continue
            out.append(event)
    return out


async def test_watch_sees_changes_and_relists_after_410(kube: KubeClient, unique: str) -> None:
    await ensure_widget_crd(kube)
    name = f"watched-{unique}"
    await kube.apply(widget(name, 1), field_manager="bosun-tests")

    stream = list_and_watch(kube, f"{GROUP}/v1", "Widget", namespace="default")
    listed = await next_events(stream, 1)
    while listed[-1].type != "SYNCED":
        listed += await next_events(stream, 1)
    assert name in {e.object["metadata"]["name"] for e in listed if e.type == "ADDED"}

    await kube.apply(widget(name, 5), field_manager="bosun-tests")
    [modified] = await next_events(stream, 1)
    assert (modified.type, modified.object["spec"]["size"]) == ("MODIFIED", 5)
    await kube.delete(f"{GROUP}/v1", "Widget", name, "default")
    [deleted] = await next_events(stream, 1)
    assert (deleted.type, deleted.object["metadata"]["name"]) == ("DELETED", name)
    await stream.aclose()

    # Resume from a resourceVersion the API server no longer has: it answers
    # 410 Gone, and the reflector re-lists instead of failing or going quiet.
    survivor = f"survivor-{unique}"
    await kube.apply(widget(survivor, 3), field_manager="bosun-tests")
    resumed = list_and_watch(kube, f"{GROUP}/v1", "Widget", namespace="default", resource_version="1")
    relisted = await next_events(resumed, 1)
    while relisted[-1].type != "SYNCED":
        relisted += await next_events(resumed, 1)
    names = [e.object["metadata"]["name"] for e in relisted if e.type == "ADDED"]
    assert survivor in names and name not in names
    assert len(names) == len(set(names))  # nothing duplicated
    await kube.apply(widget(survivor, 4), field_manager="bosun-tests")
    [after] = await next_events(resumed, 1)
    assert (after.type, after.object["metadata"]["name"], after.object["spec"]["size"]) == (
        "MODIFIED",
        survivor,
        4,
    )
    await resumed.aclose()


async def test_delete_with_a_stale_uid_precondition_is_refused(kube: KubeClient, unique: str) -> None:
    await ensure_widget_crd(kube)
    obj = await kube.apply(widget(f"pre-{unique}", 1), field_manager="bosun-tests")
    try:
        await kube.delete(f"{GROUP}/v1", "Widget", f"pre-{unique}", "default", uid="not-the-uid")
        raise AssertionError("delete with a wrong uid precondition succeeded")
    except Exception as exc:
        assert getattr(exc, "status", None) == 409
    await kube.delete(f"{GROUP}/v1", "Widget", f"pre-{unique}", "default", uid=obj["metadata"]["uid"])
