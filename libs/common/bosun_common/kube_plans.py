"""Kubernetes plans: what a planner wants the k8s-actuator to make true.

Plans are declarative and idempotent ("object X should look like this"), so
executing one twice is harmless. The actuator runs a plan's actions in order
and stops at the first failure; planners express waves (for example, deletion
layers) by publishing the next plan only once the previous wave is observed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ObjectRef(BaseModel):
    """Names one Kubernetes object."""

    model_config = ConfigDict(frozen=True)

    apiVersion: str
    kind: str
    name: str
    namespace: str | None = None
    uid: str | None = None

    @property
    def key(self) -> str:
        """A stable, human-readable identity: `apiVersion/kind/namespace/name`."""
        return f"{self.apiVersion}/{self.kind}/{self.namespace or ''}/{self.name}"


class ApplyObject(BaseModel):
    """Server-side apply `object` (a full manifest) with the planner's field manager."""

    op: Literal["apply"] = "apply"
    object: dict[str, Any]
    fieldManager: str
    force: bool = True


class ApplyStatus(BaseModel):
    """Server-side apply `status` onto the object's status subresource."""

    op: Literal["status"] = "status"
    ref: ObjectRef
    status: dict[str, Any]
    fieldManager: str


class SetFinalizer(BaseModel):
    """Make `finalizer` present (or absent) in the object's metadata.finalizers."""

    op: Literal["finalizer"] = "finalizer"
    ref: ObjectRef
    finalizer: str
    present: bool = True


class DeleteObject(BaseModel):
    """Delete an object; with `ref.uid` set, only that incarnation (a precondition)."""

    op: Literal["delete"] = "delete"
    ref: ObjectRef
    propagationPolicy: Literal["Foreground", "Background", "Orphan"] = "Background"


class PatchObject(BaseModel):
    """A merge or JSON patch, for fields that apply cannot share (a Node's taints are an
    atomic list, so cordon and taint patch them). `ref.uid` is checked before patching."""

    op: Literal["patch"] = "patch"
    ref: ObjectRef
    patch: dict[str, Any] | list[dict[str, Any]]
    patchType: Literal["merge", "json"] = "merge"


class EvictPod(BaseModel):
    """Evict a pod through the Eviction API, which honours PodDisruptionBudgets (429)."""

    op: Literal["evict"] = "evict"
    ref: ObjectRef
    gracePeriodSeconds: int | None = None


KubeAction = Annotated[
    ApplyObject | ApplyStatus | SetFinalizer | DeleteObject | PatchObject | EvictPod,
    Field(discriminator="op"),
]


class KubePlan(BaseModel):
    """An ordered, idempotent list of actions for one partition key."""

    key: str
    planner: str
    reason: str = ""
    actions: list[KubeAction] = Field(default_factory=list)
