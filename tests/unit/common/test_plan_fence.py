"""The fence's rule, alone: which plan for a subject runs, waits, or is skipped."""

from __future__ import annotations

import pytest

from bosun_common.plan_fence import FenceState, decide, fence_key


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
