"""Live replicas of a service, as keys in a KV bucket whose TTL expires the dead ones."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from nats.js.kv import KeyValue

from bosun_common.bus import Bus
from bosun_common.streams import KVSpec

log = logging.getLogger("bosun.membership")


class Membership:
    def __init__(self, bus: Bus, service: str, member: str, ttl: float = 6.0) -> None:
        self.bus = bus
        self.spec = KVSpec(
            bucket=f"members-{service}", ttl_seconds=ttl, description=f"live {service} replicas"
        )
        self.member = member
        self.ttl = ttl
        self.members: tuple[str, ...] = ()
        self.changed = asyncio.Event()
        self._kv: KeyValue | None = None

    async def refresh(self) -> tuple[str, ...]:
        """Heartbeat, then read who is alive."""
        if self._kv is None:
            self._kv = await self.bus.ensure_bucket(self.spec)
        await self._kv.put(self.member, b"alive")
        try:
            keys = await self._kv.keys()
        except Exception:  # no keys at all
            keys = []
        members = tuple(sorted(set(keys)))
        if members != self.members:
            log.info("members of %s: %s", self.spec.bucket, ", ".join(members))
            self.members = members
            self.changed.set()
        return members

    async def keep(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception as exc:  # the bus is down: keep the last view, retry
                log.warning("membership heartbeat failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.ttl / 3)
        if self._kv is not None:
            try:
                await self._kv.delete(self.member)
            except Exception as exc:
                log.info("membership leave: %s", exc)
