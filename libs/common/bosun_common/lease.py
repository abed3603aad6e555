"""A leader lease in a JetStream KV bucket.

The bucket's TTL is the lease's TTL. A holder creates the key (only if absent)
and renews it with compare-and-set on the revision it holds, every TTL/3. If the
holder dies, the key expires at most a TTL later, and a standby, which retries
every TTL/10, takes it within the TTL of the kill (plus the server's expiry sweep).
A holder that fails to renew (someone else holds the key) steps down at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from bosun_common import metrics

log = logging.getLogger("bosun.lease")


class Lease:
    def __init__(
        self,
        kv: KeyValue,
        name: str,
        holder: str,
        ttl: float,
        *,
        service: str = "",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kv = kv
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.service = service
        self._monotonic = monotonic
        self._revision: int | None = None
        self._renewed_at = 0.0
        self.changed = asyncio.Event()

    @property
    def is_leader(self) -> bool:
        # Never claim leadership past the TTL since the last successful renewal,
        # even if the renew loop is starved: another holder may have it by then.
        return self._revision is not None and self._monotonic() - self._renewed_at < self.ttl

    async def try_acquire(self) -> bool:
        """Acquire or renew once. Returns whether this holder leads now."""
        was = self.is_leader
        started = self._monotonic()
        try:
            if self._revision is None:
                self._revision = await self.kv.create(self.name, self.holder.encode())
            else:
                self._revision = await self.kv.update(self.name, self.holder.encode(), last=self._revision)
            self._renewed_at = started
        except KeyWrongLastSequenceError:
            if self._revision is not None:
                log.warning("lease %s lost by %s", self.name, self.holder)
            self._revision = None
        now = self.is_leader
        metrics.LEADER.labels(self.service, self.name).set(1 if now else 0)
        if now != was:
            self.changed.set()
        return now

    async def holder_now(self) -> str | None:
        try:
            entry = await self.kv.get(self.name)
        except KeyNotFoundError:
            return None
        return entry.value.decode() if entry.value else None

    async def keep(self, stop: asyncio.Event) -> None:
        """Acquire and renew until `stop` is set; then release if held."""
        try:
            while not stop.is_set():
                try:
                    await self.try_acquire()
                except Exception as exc:  # the bus is down: we cannot prove we lead
                    log.warning("lease %s: %s", self.name, exc)
                    self._revision = None
                    metrics.LEADER.labels(self.service, self.name).set(0)
                # Leaders renew at TTL/3; standbys poll faster so a handover is quick.
                interval = self.ttl / 3 if self.is_leader else self.ttl / 10
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval)
        finally:
            await self.release()

    async def release(self) -> None:
        if self._revision is None:
            return
        revision, self._revision = self._revision, None
        metrics.LEADER.labels(self.service, self.name).set(0)
        self.changed.set()
        try:
            await self.kv.delete(self.name, last=revision)
        except Exception as exc:  # someone took it already, or the bus is gone
            log.info("lease %s release: %s", self.name, exc)
