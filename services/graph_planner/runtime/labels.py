"""kro's labels on the children of an instance, and the instance's ApplySet id."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

FINALIZER = "kro.run/finalizer"
FIELD_MANAGER = "kro.run/applyset"
OWNED = "kro.run/owned"
INSTANCE_ID = "kro.run/instance-id"
INSTANCE_NAME = "kro.run/instance-name"
INSTANCE_NAMESPACE = "kro.run/instance-namespace"
INSTANCE_GROUP = "kro.run/instance-group"
INSTANCE_VERSION = "kro.run/instance-version"
INSTANCE_KIND = "kro.run/instance-kind"
NODE_ID = "kro.run/node-id"
RGD_NAME = "kro.run/resource-graph-definition-name"
COLLECTION_INDEX = "kro.run/collection-index"
COLLECTION_SIZE = "kro.run/collection-size"
MANAGED_BY = "app.kubernetes.io/managed-by"
APPLYSET_ID = "applyset.kubernetes.io/id"
APPLYSET_PART_OF = "applyset.kubernetes.io/part-of"
RECONCILE = "kro.run/reconcile"


def applyset_id(instance: Mapping[str, Any], group: str) -> str:
    """The ApplySet id (KEP-3659): base64url(sha256(name.namespace.kind.group)), `applyset-...-v1`."""
    metadata = instance.get("metadata") or {}
    text = f"{metadata.get('name', '')}.{metadata.get('namespace') or ''}.{instance.get('kind', '')}.{group}"
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode().rstrip("=")
    return f"applyset-{digest}-v1"


def child_labels(instance: Mapping[str, Any], rgd_name: str, group: str, node_id: str) -> dict[str, str]:
    metadata = instance.get("metadata") or {}
    labels = {
        OWNED: "true",
        INSTANCE_ID: str(metadata.get("uid") or ""),
        INSTANCE_NAME: str(metadata.get("name") or ""),
        INSTANCE_NAMESPACE: str(metadata.get("namespace") or ""),
        INSTANCE_GROUP: group,
        INSTANCE_VERSION: str(instance.get("apiVersion") or "").rpartition("/")[2],
        INSTANCE_KIND: str(instance.get("kind") or ""),
        NODE_ID: node_id,
        RGD_NAME: rgd_name,
        MANAGED_BY: "kro",
        APPLYSET_PART_OF: applyset_id(instance, group),
    }
    return {key: value for key, value in labels.items() if value}


def instance_labels(instance: Mapping[str, Any], rgd_name: str, group: str) -> dict[str, str]:
    labels = {OWNED: "true", RGD_NAME: rgd_name, APPLYSET_ID: applyset_id(instance, group)}
    return {key: value for key, value in labels.items() if value}
