"""PlanFence on a real KV bucket: replicas take turns on a subject, a dead holder's turn lapses,
and a retried plan leaves its turn without being marked finished."""

from __future__ import annotations

import asyncio
import time

import pytest

from bosun_common.bus import Bus, Retry
from bosun_common.plan_fence import FenceState, PlanFence, fence_key
from bosun_common.streams import PLAN_FENCES


async def test_replicas_take_turns_and_never_run_an_older_plan(bus: Bus, unique: str) -> None:
    kv = await bus.ensure_bucket(PLAN_FENCES)
    a, b = PlanFence(kv, "a"), PlanFence(kv, "b")
    subject = f"plans.k8s.fence-tests.{unique}"
    ran: list[str] = []
    a_inside = asyncio.Event()

    async def first() -> None:
        async with a.hold(subject, 10) as turn:
            assert turn.verdict == "run"
            a_inside.set()
            await asyncio.sleep(0.5)
            ran.append("a:10")

    async def second() -> None:
        await a_inside.wait()
        started = time.monotonic()
        async with b.hold(subject, 11) as turn:
            assert turn.verdict == "run" and time.monotonic() - started >= 0.3, "b waited for a"
            ran.append("b:11")

    await asyncio.gather(first(), second())
    assert ran == ["a:10", "b:11"]
    async with a.hold(subject, 10) as turn:  # a late copy of the older plan
        assert turn.verdict == "superseded"
    async with b.hold(subject, 11) as turn:  # a redelivery of the finished one
        assert turn.verdict == "done"
    state = FenceState.decode((await kv.get(fence_key(subject))).value)
    assert state == FenceState(done=11)


async def test_a_dead_holders_turn_lapses_and_a_retry_is_not_finished(bus: Bus, unique: str) -> None:
    kv = await bus.ensure_bucket(PLAN_FENCES)
    subject = f"plans.cloud.{unique}"
    await kv.create(fence_key(subject), FenceState(3, "dead-replica", time.time() + 0.6).encode())
    fence = PlanFence(kv, "alive", max_wait=5.0)
    started = time.monotonic()
    with pytest.raises(Retry):
        async with fence.hold(subject, 4) as turn:
            assert turn.verdict == "run"
            assert time.monotonic() - started >= 0.4, "waited for the dead holder's turn to lapse"
            raise Retry("the cloud is briefly away")
    assert FenceState.decode((await kv.get(fence_key(subject))).value) == FenceState(done=3)
    async with fence.hold(subject, 4) as turn:  # the retry
        assert turn.verdict == "run"
    assert FenceState.decode((await kv.get(fence_key(subject))).value) == FenceState(done=4)

    busy = PlanFence(kv, "impatient", max_wait=0.2)
    async with fence.hold(subject, 5):
        with pytest.raises(Retry, match="being executed by alive"):
            async with busy.hold(subject, 6):
                pass
