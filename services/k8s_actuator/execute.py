"""Execute one KubePlan against the API server, action by action.

Each action is idempotent: applying the same manifest is a no-op, deleting
something already gone succeeds, a finalizer already present (or absent) is
left alone. Errors are sorted into `transient` (the API server is unavailable,
throttling, a conflict on optimistic concurrency, a kind not served yet) and
`permanent` (the request itself is wrong); the shell retries the first and
reports the second.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any

import aiohttp

from bosun_common.kube import KubeClient, KubeError
from bosun_common.kube.client import JSON_PATCH, MERGE_PATCH
from bosun_common.kube_plans import (
    ApplyObject,
    ApplyStatus,
    DeleteObject,
    EvictPod,
    KubeAction,
    KubePlan,
    ObjectRef,
    PatchObject,
    SetFinalizer,
)

TRANSIENT_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class ActionResult:
    op: str
    ref: str
    ok: bool
    detail: str = ""
    resourceVersion: str | None = None
    transient: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "", False) or k == "ok"}


def _ref_of(action: KubeAction) -> ObjectRef:
    if isinstance(action, ApplyObject):
        meta = action.object.get("metadata", {})
        return ObjectRef(
            apiVersion=action.object.get("apiVersion", ""),
            kind=action.object.get("kind", ""),
            name=meta.get("name", ""),
            namespace=meta.get("namespace"),
        )
    return action.ref


def _failure(action: KubeAction, exc: Exception) -> ActionResult:
    ref = _ref_of(action).key
    if isinstance(exc, KubeError):
        transient = exc.status in TRANSIENT_STATUSES or (
            exc.status == 404 and "no resource for kind" in exc.message
        )
        if isinstance(action, EvictPod) and exc.status == 429:
            return ActionResult(action.op, ref, False, f"blocked by a PodDisruptionBudget: {exc.message}")
        return ActionResult(
            action.op, ref, False, f"{exc.status} {exc.reason}: {exc.message}", transient=transient
        )
    return ActionResult(action.op, ref, False, f"{exc.__class__.__name__}: {exc}", transient=True)


async def execute_action(kube: KubeClient, action: KubeAction) -> ActionResult:
    ref = _ref_of(action)
    try:
        if isinstance(action, ApplyObject):
            obj = await kube.apply(action.object, field_manager=action.fieldManager, force=action.force)
            return ActionResult(
                action.op, ref.key, True, resourceVersion=obj["metadata"].get("resourceVersion")
            )
        if isinstance(action, ApplyStatus):
            body: dict[str, Any] = {
                "apiVersion": ref.apiVersion,
                "kind": ref.kind,
                "metadata": {"name": ref.name, **({"namespace": ref.namespace} if ref.namespace else {})},
                "status": action.status,
            }
            obj = await kube.apply(body, field_manager=action.fieldManager, subresource="status")
            return ActionResult(
                action.op, ref.key, True, resourceVersion=obj["metadata"].get("resourceVersion")
            )
        if isinstance(action, SetFinalizer):
            return await _set_finalizer(kube, action)
        if isinstance(action, DeleteObject):
            return await _delete(kube, action)
        if isinstance(action, PatchObject):
            return await _patch(kube, action)
        if isinstance(action, EvictPod):
            return await _evict(kube, action)
    except KubeError as exc:
        return _failure(action, exc)
    except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
        return _failure(action, exc)
    raise TypeError(f"unknown action {action!r}")  # pragma: no cover - the union is closed


async def _set_finalizer(kube: KubeClient, action: SetFinalizer) -> ActionResult:
    ref = action.ref
    for _ in range(5):  # optimistic concurrency: re-read on conflict
        try:
            obj = await kube.get(ref.apiVersion, ref.kind, ref.name, ref.namespace)
        except KubeError as exc:
            if exc.not_found and not action.present:
                return ActionResult(action.op, ref.key, True, "already gone")
            raise
        meta = obj["metadata"]
        if ref.uid and meta.get("uid") != ref.uid:
            return ActionResult(action.op, ref.key, True, "skipped: a different object now has this name")
        finalizers: list[str] = list(meta.get("finalizers") or [])
        if (action.finalizer in finalizers) == action.present:
            return ActionResult(
                action.op, ref.key, True, "unchanged", resourceVersion=meta.get("resourceVersion")
            )
        finalizers = (
            [*finalizers, action.finalizer]
            if action.present
            else [f for f in finalizers if f != action.finalizer]
        )
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
        try:
            out = await kube.patch(
                ref.apiVersion, ref.kind, ref.name, ref.namespace, patch, content_type=MERGE_PATCH
            )
            return ActionResult(
                action.op, ref.key, True, resourceVersion=out["metadata"].get("resourceVersion")
            )
        except KubeError as exc:
            if not exc.conflict:
                raise
            await asyncio.sleep(0.05)
    raise KubeError(
        409, "Conflict", f"finalizer {action.finalizer!r} on {ref.key}: still conflicting after 5 tries"
    )


async def _delete(kube: KubeClient, action: DeleteObject) -> ActionResult:
    ref = action.ref
    try:
        await kube.delete(
            ref.apiVersion,
            ref.kind,
            ref.name,
            ref.namespace,
            uid=ref.uid,
            propagation_policy=action.propagationPolicy,
        )
    except KubeError as exc:
        if exc.not_found:
            return ActionResult(action.op, ref.key, True, "already gone")
        if exc.conflict and ref.uid:
            return ActionResult(action.op, ref.key, True, "skipped: a different object now has this name")
        raise
    return ActionResult(action.op, ref.key, True)


async def _patch(kube: KubeClient, action: PatchObject) -> ActionResult:
    ref = action.ref
    if ref.uid:
        current = await kube.get(ref.apiVersion, ref.kind, ref.name, ref.namespace)
        if current["metadata"].get("uid") != ref.uid:
            return ActionResult(action.op, ref.key, True, "skipped: a different object now has this name")
    content_type = MERGE_PATCH if action.patchType == "merge" else JSON_PATCH
    out = await kube.patch(
        ref.apiVersion, ref.kind, ref.name, ref.namespace, action.patch, content_type=content_type
    )
    return ActionResult(action.op, ref.key, True, resourceVersion=out["metadata"].get("resourceVersion"))


async def _evict(kube: KubeClient, action: EvictPod) -> ActionResult:
    ref = action.ref
    try:
        await kube.evict(ref.name, ref.namespace or "default", grace_period_seconds=action.gracePeriodSeconds)
    except KubeError as exc:
        if exc.not_found:
            return ActionResult(action.op, ref.key, True, "already gone")
        raise
    return ActionResult(action.op, ref.key, True, "evicted")


async def execute_plan(kube: KubeClient, plan: KubePlan) -> list[ActionResult]:
    """Run the actions in order; stop at the first failure (later actions may depend on it)."""
    results: list[ActionResult] = []
    for action in plan.actions:
        result = await execute_action(kube, action)
        results.append(result)
        if not result.ok:
            break
    return results
