"""Kubernetes-style conditions, with stable lastTransitionTime.

May import: the standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def condition(
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int,
    now: str,
    previous: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """One condition; lastTransitionTime is kept from `previous` when the status did not change."""
    text = "Unknown" if status is None else ("True" if status else "False")
    transition = now
    for old in previous:
        if old.get("type") == type_ and old.get("status") == text and old.get("lastTransitionTime"):
            transition = str(old["lastTransitionTime"])
    return {
        "type": type_,
        "status": text,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": transition,
    }


def condition_from_text(
    type_: str,
    status: str,
    reason: str,
    message: str,
    generation: int,
    now: str,
    previous: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A condition whose status is given as text (`True`, `False` or `Unknown`)."""
    flag = {"True": True, "False": False}.get(status)
    return condition(type_, flag, reason, message, generation, now, previous)


def all_true(*statuses: bool | None) -> bool | None:
    """True if all are True, False if any is False, else None (Unknown)."""
    if any(s is False for s in statuses):
        return False
    if all(s is True for s in statuses):
        return True
    return None
