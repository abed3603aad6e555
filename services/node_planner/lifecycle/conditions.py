"""Status conditions that keep their lastTransitionTime while their status holds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def set_condition(
    conditions: Sequence[dict[str, Any]],
    kind: str,
    status: bool,
    reason: str,
    message: str,
    now: str,
    generation: int,
) -> list[dict[str, Any]]:
    value = "True" if status else "False"
    out = [dict(c) for c in conditions if c.get("type") != kind]
    previous = next((c for c in conditions if c.get("type") == kind), None)
    transition = previous["lastTransitionTime"] if previous and previous.get("status") == value else now
    out.append(
        {
            "type": kind,
            "status": value,
            "reason": reason,
            "message": message,
            "lastTransitionTime": transition,
            "observedGeneration": generation,
        }
    )
    return sorted(out, key=lambda c: str(c["type"]))


def is_true(obj: dict[str, Any] | None, kind: str) -> bool:
    for condition in ((obj or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return bool(condition.get("status") == "True")
    return False
