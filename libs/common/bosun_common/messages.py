"""The message models: the contracts services exchange on the bus.

Streams (see `streams.py`): STATE carries `ObjectState`, CHANGES `ObjectChange`,
PLANS `KubePlanMessage`, OUTCOMES `Outcome`; `DeadLetter` wraps what could not be
processed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from bosun_common.codec import Message
from bosun_common.kube_plans import KubePlan


class ObjectState(Message):
    """The latest observed state of one Kubernetes object; `deleted` marks a tombstone."""

    KIND = "ObjectState"

    apiVersion: str
    kind: str
    namespace: str | None = None
    name: str
    resourceVersion: str = ""
    deleted: bool = False
    object: dict[str, Any] | None = None


class ObjectChange(Message):
    """One observed change (a watch event) to a Kubernetes object."""

    KIND = "ObjectChange"

    type: Literal["ADDED", "MODIFIED", "DELETED"]
    apiVersion: str
    kind: str
    namespace: str | None = None
    name: str
    resourceVersion: str = ""
    object: dict[str, Any] = Field(default_factory=dict)


class KubePlanMessage(Message):
    """A plan for the k8s-actuator."""

    KIND = "KubePlan"

    plan: KubePlan


class Outcome(Message):
    """What an actuator did about one plan: per-action results and errors."""

    KIND = "Outcome"

    planKey: str
    planId: str
    actor: str
    ok: bool
    results: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = None
    # Set when the plan was not executed: a newer plan for its key ran first.
    skipped: str | None = None


class DeadLetter(Message):
    """A message that could not be processed, with the reason; the payload is kept verbatim (base64)."""

    KIND = "DeadLetter"

    subject: str
    stream: str | None = None
    consumer: str | None = None
    reason: str
    payloadBase64: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
