"""Pure helpers: what an observed object looks like on the bus, and its message ids."""

from __future__ import annotations

from typing import Any

from bosun_common.messages import ObjectChange, ObjectState
from bosun_common.secrets import protect_secret
from bosun_common.streams import object_subject


def normalize(obj: dict[str, Any], secret_key: bytes | None) -> dict[str, Any]:
    """Drop managedFields (noise, and most of an object's size); protect Secret data."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
        obj = protect_secret(obj, secret_key)
    return obj


def identity(obj: dict[str, Any]) -> tuple[str, str, str | None, str]:
    meta = obj.get("metadata", {})
    return obj["apiVersion"], obj["kind"], meta.get("namespace") or None, meta.get("name", "")


def state_of(event_type: str, obj: dict[str, Any], rv: str) -> tuple[str, ObjectState, str, str]:
    """(subject, message, key, msg id) for STATE: the latest object, or a tombstone."""
    api_version, kind, namespace, name = identity(obj)
    deleted = event_type == "DELETED"
    message = ObjectState(
        apiVersion=api_version,
        kind=kind,
        namespace=namespace,
        name=name,
        resourceVersion=rv,
        deleted=deleted,
        object=obj,
    )
    subject = object_subject("state", api_version, kind, namespace, name)
    uid = obj.get("metadata", {}).get("uid") or ""
    return subject, message, _key(namespace, name), f"state:{subject}:{uid}:{rv}:{int(deleted)}"


def change_of(event_type: str, obj: dict[str, Any], rv: str) -> tuple[str, ObjectChange, str, str]:
    """(subject, message, key, msg id) for CHANGES: one observed change."""
    api_version, kind, namespace, name = identity(obj)
    message = ObjectChange(
        type=event_type,  # type: ignore[arg-type]
        apiVersion=api_version,
        kind=kind,
        namespace=namespace,
        name=name,
        resourceVersion=rv,
        object=obj,
    )
    subject = object_subject("changes", api_version, kind, namespace, name)
    uid = obj.get("metadata", {}).get("uid") or ""
    return subject, message, _key(namespace, name), f"change:{subject}:{uid}:{rv}:{event_type}"


def _key(namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if namespace else name
