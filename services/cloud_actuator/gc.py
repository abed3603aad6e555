"""Garbage collection: terminate instances whose NodeClaim no longer exists.

Every `interval` seconds, the replica holding the `cloud-actuator-gc` lease
reads a snapshot of the NodeClaims from the STATE stream (the last
`ObjectState` per NodeClaim subject; `deleted=True` is a tombstone), lists the
provider's instances, and terminates every instance older than `grace` seconds
whose NodeClaim is not in the snapshot (the grace period covers a claim that
was launched but is not in STATE yet). Each collection is published as a
`CloudOutcome` with `op: garbage-collect`.

`orphans` is the pure decision; `nodeclaim_names` and `GarbageCollector` are the shell.

May import: the standard library, third-party packages, bosun_common and cloud_actuator.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from nats.js import api as js_api

from bosun_common.bus import Bus, dead_letter_undecodable
from bosun_common.cloud_plans import CloudOutcome, Instance
from bosun_common.karpenter import API_VERSION
from bosun_common.lease import Lease
from bosun_common.messages import ObjectState
from bosun_common.streams import STATE, cloud_outcome_subject, state_subject_filter
from cloud_actuator.provider import CloudError, CloudProvider, NotFound

log = logging.getLogger("bosun.cloud.gc")

NODECLAIM_FILTER = state_subject_filter(API_VERSION, "NodeClaim")


def launched_at(instance: Instance) -> float | None:
    if not instance.launchedAt:
        return None
    try:
        return dt.datetime.fromisoformat(instance.launchedAt.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def orphans(instances: Sequence[Instance], nodeclaims: set[str], now: float, grace: float) -> list[Instance]:
    """Live instances with no NodeClaim, launched more than `grace` seconds ago (unknown launch time: old)."""
    result = []
    for instance in instances:
        if instance.nodeClaim in nodeclaims or instance.state in ("terminating", "terminated"):
            continue
        started = launched_at(instance)
        if started is not None and now - started < grace:
            continue
        result.append(instance)
    return sorted(result, key=lambda i: i.providerID)


async def nodeclaim_names(bus: Bus, *, fetch_timeout: float = 1.0) -> set[str]:
    """The NodeClaims that exist now, from the last ObjectState per NodeClaim in STATE."""
    config = js_api.ConsumerConfig(
        deliver_policy=js_api.DeliverPolicy.LAST_PER_SUBJECT,
        ack_policy=js_api.AckPolicy.NONE,
        inactive_threshold=30.0,
    )
    sub = await bus.js.pull_subscribe(NODECLAIM_FILTER, stream=STATE.name, config=config)
    names: dict[str, bool] = {}
    try:
        info = await sub.consumer_info()
        remaining = info.num_pending or 0
        while remaining > 0:
            try:
                msgs = await sub.fetch(min(remaining, 256), timeout=fetch_timeout)
            except TimeoutError:
                # A partial list would make live claims look gone: skip this round instead.
                raise TimeoutError(
                    f"read {len(names)} NodeClaims from STATE, {remaining} more did not arrive"
                ) from None
            for msg in msgs:
                remaining = msg.metadata.num_pending if msg.metadata else remaining - 1
                message = await dead_letter_undecodable(bus, msg)
                if isinstance(message, ObjectState) and message.kind == "NodeClaim":
                    names[message.name] = not message.deleted
    finally:
        name = sub._consumer
        await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await bus.js.delete_consumer(STATE.name, name)
    return {n for n, alive in names.items() if alive}


@dataclass
class GarbageCollector:
    bus: Bus
    provider: CloudProvider
    interval: float = 120.0
    grace: float = 60.0
    clock: Callable[[], float] = time.time
    collected: list[str] = field(default_factory=list)

    async def collect_once(self) -> list[Instance]:
        live = await nodeclaim_names(self.bus)
        instances = await self.provider.list()
        doomed = orphans(instances, live, self.clock(), self.grace)
        done: list[Instance] = []
        for instance in doomed:
            outcome = CloudOutcome(key=instance.nodeClaim, op="garbage-collect", ok=True, instance=instance)
            try:
                await self.provider.delete(instance.providerID)
                outcome.message = (
                    f"terminated {instance.providerID}: NodeClaim {instance.nodeClaim!r} does not exist"
                )
                done.append(instance)
            except NotFound:
                outcome.message = f"{instance.providerID} was already gone"
            except CloudError as exc:
                outcome.ok, outcome.reason, outcome.message = False, "DeleteError", exc.message
            log.info("gc: %s", outcome.message)
            await self.bus.publish(cloud_outcome_subject(instance.nodeClaim), outcome, key=instance.nodeClaim)
        self.collected.extend(i.providerID for i in done)
        return done

    async def run(self, stop: asyncio.Event, lease: Lease) -> None:
        """Collect every `interval` seconds while this replica holds the lease."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            if stop.is_set():
                break
            if not lease.is_leader:
                continue
            try:
                await self.collect_once()
            except Exception:  # the next pass tries again
                log.exception("gc pass failed")
