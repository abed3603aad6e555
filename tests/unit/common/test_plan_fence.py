"""The fence's rule, alone: which plan for a subject runs, waits, or is skipped."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from nats.js.errors import KeyWrongLastSequenceError

from bosun_common.bus import Retry
from bosun_common.plan_fence import RELEASE_ATTEMPTS, FenceState, PlanFence, decide, fence_key


@pytest.mark.parametrize(
    ("state", "sequence", "verdict"),
    [
        (FenceState(), 1, "run"),  # nothing finished, nobody holds it
        (FenceState(done=5), 6, "run"),
        (FenceState(done=5), 5, "done"),  # a redelivery of the plan that finished
        (FenceState(done=5), 4, "superseded"),  # an older plan, after a newer one finished
        (FenceState(done=5, holder="b", until=200.0), 6, "wait"),  # another replica runs one now
        (FenceState(done=5, holder="b", until=200.0), 4, "superseded"),  # skipped, even while held
        (FenceState(done=5, holder="b", until=50.0), 6, "run"),  # b's hold lapsed (b died)
        (FenceState(done=5, holder="a", until=200.0), 6, "run"),  # our own hold, from before a restart
    ],
)
def test_decide(state: FenceState, sequence: int, verdict: str) -> None:
    assert decide(state, sequence, "a", now=100.0) == verdict


def test_state_round_trips_and_reads_an_absent_entry_as_empty() -> None:
    state = FenceState(done=7, holder="k8s-actuator-0", until=123.5)
    assert FenceState.decode(state.encode()) == state
    assert FenceState.decode(None) == FenceState() == FenceState.decode(b"")


def test_fence_keys_are_valid_kv_keys_and_distinct() -> None:
    subjects = [
        "plans.k8s.graph-planner.default/web:1",
        "plans.k8s.graph-planner.default/web:2",
        "plans.cloud.%",
    ]
    keys = [fence_key(s) for s in subjects]
    assert len(set(keys)) == len(keys)
    assert all(
        k and set(k) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") for k in keys
    )


class EverChangingKV:
    """A bucket whose entry changes under every compare-and-set (the worst contention)."""

    def __init__(self) -> None:
        self.writes = 0

    async def get(self, key: str) -> SimpleNamespace:
        return SimpleNamespace(value=FenceState(done=1).encode(), revision=7)

    async def update(self, key: str, value: bytes, last: int | None) -> int:
        self.writes += 1
        raise KeyWrongLastSequenceError

    async def create(self, key: str, value: bytes) -> int:
        return await self.update(key, value, last=None)


async def test_a_turn_that_cannot_be_taken_is_retried_later_instead_of_spinning() -> None:
    kv = EverChangingKV()
    fence = PlanFence(kv, "a", max_wait=0.2, poll=0.01)  # type: ignore[arg-type]
    with pytest.raises(Retry, match="contended"):
        async with fence.hold("plans.cloud.c1", 2):
            pass
    assert kv.writes > 1


async def test_a_release_that_cannot_be_written_gives_up() -> None:
    kv = EverChangingKV()
    fence = PlanFence(kv, "a", poll=0.0)  # type: ignore[arg-type]
    await fence._release(fence_key("plans.cloud.c1"), 2)  # returns: the hold lapses by itself
    assert kv.writes == RELEASE_ATTEMPTS
