"""Launched -> Registered -> Initialized, and the liveness timeouts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bosun_common.cloud_plans import Instance
from bosun_common.karpenter import LABEL_INITIALIZED, LABEL_REGISTERED, TAINT_UNREGISTERED
from node_planner.lifecycle.conditions import is_true, set_condition

LAUNCH_TIMEOUT = timedelta(minutes=5)
# A launch unanswered this long is asked again: launching is idempotent, and the answer may
# have been lost (a bus outage, a planner that took over from another).
RELAUNCH_AFTER = timedelta(seconds=30)
REGISTRATION_TIMEOUT = timedelta(minutes=15)
EPHEMERAL_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable", TAINT_UNREGISTERED)


@dataclass(frozen=True)
class LaunchState:
    """What the shell knows about the claim's launch: requested (and when), done, or failed."""

    requested_at: datetime | None = None
    instance: Instance | None = None
    error: str | None = None


@dataclass
class Decision:
    """What to do about one NodeClaim now. Empty means: nothing, wait."""

    launch: bool = False
    status: dict[str, Any] | None = None
    claim_labels: dict[str, str] | None = None
    node_patch: dict[str, Any] | None = None
    delete_reason: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.launch or self.status or self.claim_labels or self.node_patch or self.delete_reason)


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def progress(
    claim: dict[str, Any], node: dict[str, Any] | None, launch: LaunchState, now: datetime
) -> Decision:
    """The next step for a NodeClaim that is not being deleted."""
    decision = Decision()
    meta, status = claim.get("metadata") or {}, dict(claim.get("status") or {})
    generation = int(meta.get("generation") or 1)
    conditions = list(status.get("conditions") or [])
    stamp = _stamp(now)
    created = _parse(meta.get("creationTimestamp")) or now

    if not is_true(claim, "Launched"):
        if launch.instance is not None:
            instance = launch.instance
            status.update(
                providerID=instance.providerID,
                imageID=instance.imageID or "",
                capacity=instance.capacity,
                allocatable=instance.allocatable,
                conditions=set_condition(conditions, "Launched", True, "Launched", "", stamp, generation),
            )
            decision.status = status
            decision.claim_labels = dict(sorted(instance.labels.items()))
        elif launch.error is not None:
            decision.delete_reason = f"launch failed: {launch.error}"
        elif now - created > LAUNCH_TIMEOUT:
            decision.delete_reason = f"not launched within {int(LAUNCH_TIMEOUT.total_seconds() // 60)}m"
        elif launch.requested_at is None or now - launch.requested_at > RELAUNCH_AFTER:
            decision.launch = True
        return decision

    launched_at = _condition_time(claim, "Launched") or created
    if not is_true(claim, "Registered"):
        if node is None:
            if now - launched_at > REGISTRATION_TIMEOUT:
                decision.delete_reason = (
                    f"node did not register within {int(REGISTRATION_TIMEOUT.total_seconds() // 60)}m"
                )
            return decision
        node_meta = node.get("metadata") or {}
        status.update(
            nodeName=node_meta.get("name"),
            conditions=set_condition(conditions, "Registered", True, "Registered", "", stamp, generation),
        )
        decision.status = status
        # Registration hands the node over: the claim's labels, and the unregistered taint removed
        # (a merge patch replaces the whole taint list; None drops the field).
        taints = [
            t for t in (node.get("spec") or {}).get("taints") or [] if t.get("key") != TAINT_UNREGISTERED
        ]
        labels = {**(meta.get("labels") or {}), LABEL_REGISTERED: "true"}
        decision.node_patch = {"metadata": {"labels": labels}, "spec": {"taints": taints or None}}
        return decision

    if not is_true(claim, "Initialized"):
        if node is None:
            return decision
        reason = _not_initialized(claim, node)
        if reason is None:
            conditions = set_condition(conditions, "Initialized", True, "Initialized", "", stamp, generation)
            conditions = set_condition(conditions, "Ready", True, "Ready", "", stamp, generation)
            status["conditions"] = conditions
            decision.status = status
            decision.node_patch = {"metadata": {"labels": {LABEL_INITIALIZED: "true"}}}
        else:
            decision.notes.append(reason)
    return decision


def _condition_time(obj: dict[str, Any], kind: str) -> datetime | None:
    for condition in ((obj.get("status") or {}).get("conditions")) or []:
        if condition.get("type") == kind:
            return _parse(condition.get("lastTransitionTime"))
    return None


def _not_initialized(claim: dict[str, Any], node: dict[str, Any]) -> str | None:
    """Why the node is not initialized yet, or None when it is."""
    if not is_true(node, "Ready"):
        return "node is not Ready"
    taints = {t.get("key") for t in (node.get("spec") or {}).get("taints") or []}
    startup = {t.get("key") for t in (claim.get("spec") or {}).get("startupTaints") or []}
    waiting = sorted(k for k in taints if k in startup or k in EPHEMERAL_TAINTS)
    if waiting:
        return f"node still has taints {', '.join(str(k) for k in waiting)}"
    requested = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    missing = sorted(name for name in requested if "/" in name and name not in allocatable)
    if missing:
        return f"extended resources not registered: {', '.join(missing)}"
    return None
