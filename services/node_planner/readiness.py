"""Is a NodePool's node class ready? Karpenter's nodepool.readiness rule. Pure: no asyncio, no I/O.

A NodePool whose `nodeClassRef` names a node class kind the provider keeps as
objects (the sim provider's `KWOKNodeClass`) is `NodeClassReady` only while
that object exists, is not being deleted, and has no `Ready=False` condition
(whose reason and message are then copied). NodePools that are not ready are
left out of provisioning, as in Karpenter. A kind the provider does not keep as
objects (the aws provider reads its node settings from the environment) is
ready.

One difference: Karpenter treats a node class whose `Ready` condition is absent
as not ready (`NodeClassReadinessUnknown`), because its provider reconciles
every node class's status. Nothing resolves a `KWOKNodeClass` in Bosun, so an
absent `Ready` counts as ready.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

NodeClassKind = tuple[str, str]  # (group, kind)
NodeClassKey = tuple[str, str, str]  # (group, kind, name)

# The node class kinds each provider keeps as Kubernetes objects, as (apiVersion, kind).
PROVIDER_NODE_CLASSES: dict[str, tuple[tuple[str, str], ...]] = {
    "sim": (("karpenter.kwok.sh/v1alpha1", "KWOKNodeClass"),),
    "aws": (),
}


def node_class_kind(api_version: str, kind: str) -> NodeClassKind:
    return api_version.split("/")[0] if "/" in api_version else "", kind


@dataclass(frozen=True)
class NodeClassReadiness:
    ready: bool
    reason: str = "NodeClassReady"
    message: str = ""


def node_class_ref(nodepool: Mapping[str, Any]) -> NodeClassKey:
    spec = ((nodepool.get("spec") or {}).get("template") or {}).get("spec") or {}
    ref = spec.get("nodeClassRef") or {}
    return str(ref.get("group", "")), str(ref.get("kind", "")), str(ref.get("name", ""))


def node_class_readiness(
    nodepool: Mapping[str, Any],
    node_classes: Mapping[NodeClassKey, Mapping[str, Any]],
    kept_kinds: tuple[NodeClassKind, ...],
) -> NodeClassReadiness:
    group, kind, name = node_class_ref(nodepool)
    if (group, kind) not in kept_kinds:
        return NodeClassReadiness(True)
    node_class = node_classes.get((group, kind, name))
    if node_class is None:
        return NodeClassReadiness(False, "NodeClassNotFound", "NodeClass not found on cluster")
    if (node_class.get("metadata") or {}).get("deletionTimestamp"):
        return NodeClassReadiness(False, "NodeClassTerminating", "NodeClass is Terminating")
    conditions = (node_class.get("status") or {}).get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is not None and ready.get("status") == "False":
        return NodeClassReadiness(
            False, str(ready.get("reason") or "NodeClassNotReady"), str(ready.get("message") or "")
        )
    return NodeClassReadiness(True)
