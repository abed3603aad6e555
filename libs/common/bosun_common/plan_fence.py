"""One key's plans run one at a time and never go backwards, across actuator replicas.

`PLANS` is a work queue shared by an actuator's replicas, and a replica works on
several keys at once. Without a fence, two plans for one key could run at the
same time on two replicas, or an older plan that was retried could run after a
newer one: a deleted child re-created by a late apply, an instance launched after
its claim was terminated.

The fence is a KV entry per plan subject: the highest stream sequence finished
for that subject, and who runs one now. The holder renews its hold every third
of it while the plan runs, so the hold can be short (6 s): a replica that dies
holding a subject blocks it for no longer than that. A plan whose sequence is
below the finished one is superseded and not executed; one equal to it is a
redelivery of a plan already done. `decide` is the pure rule; `PlanFence` keeps
it in the bucket with compare-and-set.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from bosun_common.bus import Delivery, Retry

log = logging.getLogger("bosun.plan_fence")

Verdict = Literal["run", "wait", "superseded", "done"]
Outcome = TypeVar("Outcome")
RELEASE_ATTEMPTS = 20


@dataclass(frozen=True)
class FenceState:
    done: int = 0  # the highest stream sequence finished for this subject
    holder: str = ""  # the replica running a plan for it now, if any
    until: float = 0.0  # wall-clock time at which that hold lapses unless renewed

    def encode(self) -> bytes:
        return json.dumps({"done": self.done, "holder": self.holder, "until": self.until}).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> FenceState:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(int(data.get("done", 0)), str(data.get("holder", "")), float(data.get("until", 0.0)))


def decide(state: FenceState, sequence: int, replica: str, now: float) -> Verdict:
    """What to do with the plan at `sequence`, given the subject's fence."""
    if sequence == state.done:
        return "done"
    if sequence < state.done:
        return "superseded"
    if state.holder and state.holder != replica and state.until > now:
        return "wait"
    return "run"


def fence_key(subject: str) -> str:
    """A KV key for any plan subject (plan keys may hold characters KV keys may not)."""
    return base64.urlsafe_b64encode(subject.encode()).decode().rstrip("=")


@dataclass
class Turn:
    """The verdict a holder acts on: run the plan, or skip it (`superseded` or `done`)."""

    verdict: Verdict
    done: int


class PlanFence:
    def __init__(
        self,
        kv: KeyValue,
        replica: str,
        *,
        hold: float = 6.0,
        max_wait: float = 10.0,
        poll: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kv = kv
        self.replica = replica
        self.hold_seconds = hold
        self.max_wait = max_wait
        self.poll = poll
        self.clock = clock

    async def _read(self, key: str) -> tuple[FenceState, int | None]:
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return FenceState(), None
        return FenceState.decode(entry.value), entry.revision

    async def _write(self, key: str, state: FenceState, revision: int | None) -> int | None:
        """Compare-and-set; the new revision, or None if someone wrote first."""
        try:
            if revision is None:
                return await self.kv.create(key, state.encode())
            return await self.kv.update(key, state.encode(), last=revision)
        except KeyWrongLastSequenceError:
            return None

    @contextlib.asynccontextmanager
    async def hold(self, subject: str, sequence: int) -> AsyncIterator[Turn]:
        """Take the subject's turn for the plan at `sequence`.

        Yields a `Turn`. When its verdict is `run`, leaving the block normally marks the
        plan finished; leaving it with an exception (a `Retry`) releases the turn and
        leaves the plan to run again. A key held elsewhere, or whose entry keeps
        changing under compare-and-set, for longer than `max_wait` raises `Retry`.
        """
        if sequence < 1:
            raise ValueError(f"{subject}: a plan's stream sequence starts at 1, got {sequence}")
        key = fence_key(subject)
        deadline = self.clock() + self.max_wait
        while True:
            state, revision = await self._read(key)
            verdict = decide(state, sequence, self.replica, self.clock())
            if verdict in ("superseded", "done"):
                yield Turn(verdict, state.done)
                return
            if verdict == "run":
                held = replace(state, holder=self.replica, until=self.clock() + self.hold_seconds)
                revision = await self._write(key, held, revision)
                if revision is not None:
                    break
            if self.clock() > deadline:
                holder = f"being executed by {state.holder}" if verdict == "wait" else "contended"
                raise Retry(f"{subject} is {holder}", delay=1.0)
            await asyncio.sleep(self.poll)
        renewing = asyncio.create_task(self._renew(key, held, revision))
        finished = False
        try:
            yield Turn("run", state.done)
            finished = True
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            await self._release(key, sequence if finished else None)

    async def run_in_turn(
        self,
        delivery: Delivery,
        execute: Callable[[], Awaitable[Outcome]],
        superseded: Callable[[], Outcome],
        report: Callable[[Outcome], Awaitable[object]],
    ) -> None:
        """An actuator's handling of one plan: execute it in its turn and report the outcome, or
        report it superseded without executing it; a redelivery of a finished plan does nothing.
        The plan counts as finished only once its outcome is reported."""
        async with self.hold(delivery.subject, delivery.stream_sequence) as turn:
            if turn.verdict == "done":
                return
            await report(superseded() if turn.verdict == "superseded" else await execute())

    async def _renew(self, key: str, held: FenceState, revision: int) -> None:
        while True:
            await asyncio.sleep(self.hold_seconds / 3)
            held = replace(held, until=self.clock() + self.hold_seconds)
            try:
                renewed = await self._write(key, held, revision)
            except Exception as exc:  # the bus is briefly away: the hold may lapse, nothing worse
                log.warning("could not renew the fence on %s: %s", key, exc)
                continue
            if renewed is None:
                log.warning("lost the fence on %s while executing; another replica may run it", key)
                return
            revision = renewed

    async def _release(self, key: str, finished: int | None) -> None:
        """Clear our hold; record `finished` as done (never lowering it)."""
        for _ in range(RELEASE_ATTEMPTS):
            state, revision = await self._read(key)
            done = max(state.done, finished or 0)
            holder, until = ("", 0.0) if state.holder in ("", self.replica) else (state.holder, state.until)
            if await self._write(key, FenceState(done, holder, until), revision) is not None:
                return
            await asyncio.sleep(self.poll)
        # The hold lapses by itself; an unrecorded finish only lets a redelivery run again.
        log.warning("could not release the fence on %s after %d attempts", key, RELEASE_ATTEMPTS)
