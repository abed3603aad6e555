"""Follow STATE: replay each kind's latest objects from the start, then every change.

`StateFollower.follow(kind)` subscribes an ordered consumer per kind and calls
`on_change(kind, name, object or None, trace context)` for each object (None for
a tombstone). `synced(kind)` turns true once the replay has caught up with what
the stream held at subscription, so a planner can wait for a complete view
before it decides anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from nats.aio.msg import Msg
from nats.js import api as js_api
from opentelemetry import context as otel_context

from bosun_common import telemetry
from bosun_common.bus import Bus, dead_letter_undecodable
from bosun_common.messages import ObjectState
from bosun_common.streams import state_subject_filter

log = logging.getLogger("bosun.state")

Kind = tuple[str, str]  # (apiVersion, kind)
OnChange = Callable[[Kind, str, dict[str, Any] | None, otel_context.Context], None]


def state_name(message: ObjectState) -> str:
    """`namespace/name` for namespaced objects, `name` otherwise."""
    return f"{message.namespace}/{message.name}" if message.namespace else message.name


class StateFollower:
    def __init__(self, bus: Bus, on_change: OnChange) -> None:
        self.bus = bus
        self.on_change = on_change
        self._subscriptions: dict[Kind, Any] = {}
        self._synced: dict[Kind, asyncio.Event] = {}

    def following(self) -> list[Kind]:
        return sorted(self._subscriptions)

    def synced(self, kind: Kind) -> bool:
        event = self._synced.get(kind)
        return event is not None and event.is_set()

    async def wait_synced(self, kinds: list[Kind] | None = None, timeout: float = 60.0) -> None:
        events = [self._synced[k] for k in (kinds or list(self._synced)) if k in self._synced]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), timeout=timeout)

    async def follow(self, kind: Kind) -> None:
        if kind in self._subscriptions:
            return
        synced = self._synced.setdefault(kind, asyncio.Event())

        async def on_message(msg: Msg) -> None:
            message = await dead_letter_undecodable(self.bus, msg)
            if isinstance(message, ObjectState):
                trace = telemetry.extract_context(dict(msg.headers or {}))
                try:
                    self.on_change(
                        kind, state_name(message), None if message.deleted else message.object, trace
                    )
                except Exception:
                    log.exception("state handler failed on %s", msg.subject)
            if msg.metadata.num_pending == 0:
                synced.set()

        sub = await self.bus.js.subscribe(
            state_subject_filter(*kind),
            stream="STATE",
            cb=on_message,
            ordered_consumer=True,
            deliver_policy=js_api.DeliverPolicy.ALL,
            idle_heartbeat=5.0,
        )
        self._subscriptions[kind] = sub
        info = await sub.consumer_info()
        # Empty only if nothing is pending *and* nothing was delivered yet; otherwise the
        # callback sees the last replayed message (num_pending == 0) and sets it.
        if not info.num_pending and not (info.delivered and info.delivered.consumer_seq):
            synced.set()

    async def close(self) -> None:
        for sub in self._subscriptions.values():
            try:
                await sub.unsubscribe()
            except Exception as exc:
                log.info("unsubscribe: %s", exc)
        self._subscriptions.clear()
