"""The batch window: solve once pods stop arriving (1 s idle) or after 10 s at most.

A window opens on the first provisionable pod. Every further pod extends it by
the idle period, up to the maximum measured from the first pod. The clock is
injected, so tests and replays decide what time it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from node_planner.scheduling.objects import Pod

BATCH_IDLE_SECONDS = 1.0
BATCH_MAX_SECONDS = 10.0


def provisionable(pods: list[Pod]) -> list[Pod]:
    """Pods Karpenter would provision for: PodScheduled=False/Unschedulable, unbound, not DaemonSet or static."""
    return [p for p in pods if p.provisionable()]


@dataclass
class Batcher:
    """Collects pods into a batch; `ready()` says when the window has closed."""

    clock: Callable[[], float] = time.monotonic
    idle_seconds: float = BATCH_IDLE_SECONDS
    max_seconds: float = BATCH_MAX_SECONDS
    _opened: float | None = None
    _last: float = 0.0
    _pods: dict[str, Pod] = field(default_factory=dict)

    def add(self, pod: Pod) -> None:
        """Add (or update) a pod; the first one opens the window, each one extends the idle timer."""
        if not pod.provisionable():
            self._pods.pop(pod.uid, None)
            return
        now = self.clock()
        if self._opened is None:
            self._opened = now
        self._last = now
        self._pods[pod.uid] = pod

    def remove(self, uid: str) -> None:
        self._pods.pop(uid, None)

    def deadline(self) -> float | None:
        """When the window closes if nothing else arrives (None when no window is open)."""
        if self._opened is None:
            return None
        return min(self._last + self.idle_seconds, self._opened + self.max_seconds)

    def ready(self) -> bool:
        deadline = self.deadline()
        return deadline is not None and self.clock() >= deadline

    def take(self) -> list[Pod]:
        """The batch, in arrival order, closing the window."""
        pods = list(self._pods.values())
        self._pods.clear()
        self._opened = None
        return pods
