"""Offerings the cloud just said it cannot fill (insufficient capacity), kept out for a while.

When a launch fails with an insufficient-capacity error, the offering (instance
type, zone, capacity type) is marked unavailable for three minutes, as
Karpenter's cache does; `apply` returns the catalog with those offerings set
`available: false`, so the next simulation picks something else. The clock is
injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bosun_common.catalog import InstanceType

UNAVAILABLE_OFFERINGS_TTL_SECONDS = 180.0


@dataclass
class UnavailableOfferings:
    clock: Callable[[], float] = time.monotonic
    ttl_seconds: float = UNAVAILABLE_OFFERINGS_TTL_SECONDS
    _until: dict[tuple[str, str, str], float] = field(default_factory=dict)

    def mark(self, instance_type: str, zone: str, capacity_type: str) -> None:
        self._until[(instance_type, zone, capacity_type)] = self.clock() + self.ttl_seconds

    def any(self) -> bool:
        """Whether any offering is still out (expired ones are dropped)."""
        now = self.clock()
        self._until = {k: v for k, v in self._until.items() if v > now}
        return bool(self._until)

    def is_unavailable(self, instance_type: str, zone: str, capacity_type: str) -> bool:
        until = self._until.get((instance_type, zone, capacity_type))
        if until is None:
            return False
        if self.clock() >= until:
            del self._until[(instance_type, zone, capacity_type)]
            return False
        return True

    def apply(self, instance_types: Sequence[InstanceType]) -> list[InstanceType]:
        """The catalog with every offering still in the cache marked unavailable."""
        result = []
        for it in instance_types:
            if not any(self.is_unavailable(it.name, o.zone, o.capacityType) for o in it.offerings):
                result.append(it)
                continue
            offerings = tuple(
                o.model_copy(update={"available": False})
                if self.is_unavailable(it.name, o.zone, o.capacityType)
                else o
                for o in it.offerings
            )
            result.append(it.model_copy(update={"offerings": offerings}))
        return result
