"""Termination of a NodeClaim being deleted (the `karpenter.sh/termination` finalizer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bosun_common.karpenter import FINALIZER_TERMINATION, TAINT_DISRUPTED, parse_duration

CRITICAL_PRIORITY_CLASSES = ("system-cluster-critical", "system-node-critical")


@dataclass
class TerminationStep:
    """One step; the shell runs the non-empty parts and waits for the next observation."""

    taint_node: list[dict[str, Any]] | None = None  # the node's taints with `disrupted` added
    evict: list[tuple[str, str]] = field(default_factory=list)  # (namespace, name), in eviction order
    terminate_instance: str | None = None  # providerID; "" finds the claim's instance by name
    delete_node: str | None = None
    remove_finalizer: bool = False
    waiting: str = ""


def disrupted_taints(node: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The node's taints with `karpenter.sh/disrupted:NoSchedule` added, or None if it has it."""
    taints = list((node.get("spec") or {}).get("taints") or [])
    if any(t.get("key") == TAINT_DISRUPTED for t in taints):
        return None
    return [*taints, {"key": TAINT_DISRUPTED, "effect": "NoSchedule"}]


def _eviction_group(pod: dict[str, Any]) -> int:
    """Karpenter's order: non-critical, non-critical DaemonSet, critical, critical DaemonSet."""
    spec = pod.get("spec") or {}
    critical = spec.get("priorityClassName") in CRITICAL_PRIORITY_CLASSES
    daemon = any(
        o.get("kind") == "DaemonSet" for o in (pod.get("metadata") or {}).get("ownerReferences") or []
    )
    return (2 if critical else 0) + (1 if daemon else 0)


def _evictable(pod: dict[str, Any]) -> bool:
    meta = pod.get("metadata") or {}
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
        return False  # static pods go with the node
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    # Pods that tolerate the disrupted taint would come straight back (Karpenter leaves them).
    return not any(
        t.get("key") == TAINT_DISRUPTED or (t.get("operator") == "Exists" and not t.get("key"))
        for t in tolerations
    )


def terminate(
    claim: dict[str, Any],
    node: dict[str, Any] | None,
    pods_on_node: list[dict[str, Any]],
    instance_gone: bool,
    now: datetime,
) -> TerminationStep:
    step = TerminationStep()
    meta = claim.get("metadata") or {}
    if FINALIZER_TERMINATION not in (meta.get("finalizers") or []):
        step.waiting = "no termination finalizer: nothing to do"
        return step
    provider_id = (claim.get("status") or {}).get("providerID")
    if node is not None:
        step.taint_node = disrupted_taints(node)
        evictable = [
            p
            for p in pods_on_node
            if _evictable(p) and not (p.get("metadata") or {}).get("deletionTimestamp")
        ]
        if evictable and not _grace_expired(claim, now):
            first = min(_eviction_group(p) for p in evictable)
            group = [p for p in evictable if _eviction_group(p) == first]
            step.evict = sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in group)
            step.waiting = f"draining: {len(evictable)} pod(s) left on {node['metadata']['name']}"
            return step
        terminating = [p for p in pods_on_node if (p.get("metadata") or {}).get("deletionTimestamp")]
        if terminating and not _grace_expired(claim, now):
            step.waiting = f"waiting for {len(terminating)} pod(s) to terminate"
            return step
    if not instance_gone:
        # Without a providerID (its launch answer was lost), the provider finds the instance
        # by NodeClaim name; if there is none, terminating succeeds at once.
        step.terminate_instance = provider_id or ""
        step.waiting = "terminating the instance"
        return step
    if node is not None:
        step.delete_node = node["metadata"]["name"]
        step.waiting = "deleting the node"
        return step
    step.remove_finalizer = True
    return step


def _grace_expired(claim: dict[str, Any], now: datetime) -> bool:
    """terminationGracePeriod elapsed since deletion: stop waiting for pods (forceful)."""
    grace = (claim.get("spec") or {}).get("terminationGracePeriod")
    deleted = (claim.get("metadata") or {}).get("deletionTimestamp")
    if not grace or not deleted:
        return False
    started = datetime.fromisoformat(deleted.replace("Z", "+00:00"))
    return (now - started).total_seconds() >= parse_duration(grace)
