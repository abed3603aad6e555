"""The informer as a real process: STATE and CHANGES from real watches, secrets protected,
schemas published, and no duplicates or losses across a restart."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections.abc import Callable
from typing import Any

from bosun_common.bus import Bus
from bosun_common.codec import decode
from bosun_common.kube import KubeClient, KubeError
from bosun_common.messages import ObjectChange, ObjectState
from bosun_common.streams import SCHEMAS, WATCHES, object_subject
from tests.integration.conftest import ServiceProcess, stream_messages


async def last_state(
    bus: Bus, api_version: str, kind: str, namespace: str | None, name: str
) -> ObjectState | None:
    subject = object_subject("state", api_version, kind, namespace, name)
    try:
        msg = await bus.js.get_last_msg("STATE", subject)
    except Exception:
        return None
    message = decode(msg.data or b"")[1]
    assert isinstance(message, ObjectState)
    return message


async def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.2)


async def changes(
    bus: Bus, api_version: str, kind: str, namespace: str | None, name: str
) -> list[ObjectChange]:
    subject = object_subject("changes", api_version, kind, namespace, name)
    found = [m for m, _ in await stream_messages(bus, subject, "CHANGES")]
    assert all(isinstance(m, ObjectChange) for m in found)
    return found


async def test_informer_publishes_state_changes_schemas_and_survives_restart(
    bus: Bus, kube: KubeClient, services: Callable[..., ServiceProcess], unique: str
) -> None:
    watches = await bus.ensure_bucket(WATCHES)
    await watches.put("v1/ConfigMap", b"{}")
    await watches.put("v1/Secret", b"{}")
    informer = services("informer")

    ns = f"inf-{unique}"
    await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kept", "namespace": ns},
            "data": {"k": "v"},
        },
        field_manager="bosun-tests",
    )
    await kube.apply(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "doomed", "namespace": ns}},
        field_manager="bosun-tests",
    )
    password = base64.b64encode(b"hunter2").decode()
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": ns},
            "data": {"password": password},
        },
        field_manager="bosun-tests",
    )

    kept = await eventually(lambda: last_state(bus, "v1", "ConfigMap", ns, "kept"))
    assert kept.object["data"] == {"k": "v"}
    assert "managedFields" not in kept.object["metadata"]
    ns_state = await eventually(lambda: last_state(bus, "v1", "Namespace", None, ns))  # the core set
    assert ns_state.object["metadata"]["name"] == ns

    secret = await eventually(lambda: last_state(bus, "v1", "Secret", ns, "creds"))
    assert secret.object["data"]["password"].startswith("sha256:")
    assert password not in json.dumps(secret.object) and "hunter2" not in json.dumps(secret.object)
    changes_of_secret = await changes(bus, "v1", "Secret", ns, "creds")
    assert changes_of_secret and all(password not in json.dumps(c.object) for c in changes_of_secret)
    informer_log = informer.log(100_000)
    assert "hunter2" not in informer_log and password not in informer_log  # never logged either

    schemas = await bus.ensure_bucket(SCHEMAS)
    entry = await eventually(lambda: _get(schemas, "openapi/v1"))
    document = json.loads(gzip.decompress(entry.value))  # the API server's document, as served
    config_map = document["components"]["schemas"]["io.k8s.api.core.v1.ConfigMap"]
    assert config_map["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "ConfigMap", "version": "v1"}
    ]
    assert "/api/v1/namespaces/{namespace}/configmaps/{name}" in document["paths"]

    before = await changes(bus, "v1", "ConfigMap", ns, "kept")
    assert [c.type for c in before] == ["ADDED"]

    # Down: one object changes, one is deleted. Up again: exactly those two are published.
    assert informer.stop() == 0
    await kube.delete("v1", "ConfigMap", "doomed", ns)
    await kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "kept", "namespace": ns},
            "data": {"k": "v2"},
        },
        field_manager="bosun-tests",
    )
    services("informer")

    async def doomed_tombstone() -> bool:
        state = await last_state(bus, "v1", "ConfigMap", ns, "doomed")
        return state is not None and state.deleted

    await eventually(doomed_tombstone)
    kept_after = await eventually(lambda: _changed(bus, ns))
    assert kept_after.object["data"] == {"k": "v2"}
    after = await changes(bus, "v1", "ConfigMap", ns, "kept")
    assert [c.type for c in after] == ["ADDED", "MODIFIED"]  # nothing duplicated by the restart
    assert [c.type for c in await changes(bus, "v1", "ConfigMap", ns, "doomed")] == ["ADDED", "DELETED"]


async def _get(kv, key: str):  # type: ignore[no-untyped-def]
    try:
        return await kv.get(key)
    except Exception:
        return None


async def _changed(bus: Bus, ns: str) -> ObjectState | None:
    state = await last_state(bus, "v1", "ConfigMap", ns, "kept")
    return state if state is not None and state.object and state.object.get("data") == {"k": "v2"} else None


async def test_a_kind_whose_crd_appears_later_is_picked_up(
    bus: Bus, kube: KubeClient, services: Callable[..., ServiceProcess], unique: str
) -> None:
    """The informer asked to watch a kind the API server does not serve yet (its group answers
    404 in plain text) keeps retrying, and publishes the objects once the CRD exists."""
    group = f"late{unique}.bosun.dev"
    watches = await bus.ensure_bucket(WATCHES)
    await watches.put(f"{group}/v1/Late", b"{}")
    services("informer")
    await asyncio.sleep(1.0)
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"lates.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": "Late", "plural": "lates", "singular": "late", "listKind": "LateList"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    await kube.apply(crd, field_manager="bosun-tests")
    await eventually(lambda: _established(kube, f"lates.{group}"))
    late = {"apiVersion": f"{group}/v1", "kind": "Late", "metadata": {"name": "x", "namespace": "default"}}

    async def applied() -> bool:  # discovery may lag a moment behind Established
        kube.forget_discovery()
        try:
            await kube.apply(late, field_manager="bosun-tests")
        except KubeError:
            return False
        return True

    await eventually(applied)

    state = await eventually(lambda: last_state(bus, f"{group}/v1", "Late", "default", "x"), timeout=60)
    assert state.object["metadata"]["name"] == "x"


async def _established(kube: KubeClient, name: str) -> bool:
    crd = await kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", name)
    return any(
        c["type"] == "Established" and c["status"] == "True"
        for c in (crd.get("status") or {}).get("conditions") or []
    )
