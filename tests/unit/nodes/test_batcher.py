"""The batch window: 1 s idle, 10 s max, with an injected clock; which pods are provisionable."""

from __future__ import annotations

from node_planner.provisioning.batcher import Batcher, provisionable
from node_planner.scheduling.objects import parse_pod
from tests.unit.nodes.builders import pod


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_window_closes_after_one_idle_second() -> None:
    clock = FakeClock()
    batcher = Batcher(clock)
    assert not batcher.ready() and batcher.deadline() is None
    batcher.add(pod("a"))
    clock.now += 0.9
    batcher.add(pod("b"))
    clock.now += 0.9
    assert not batcher.ready()
    clock.now += 0.2
    assert batcher.ready()
    assert [p.name for p in batcher.take()] == ["a", "b"]
    assert batcher.deadline() is None


def test_window_closes_after_ten_seconds_however_busy() -> None:
    clock = FakeClock()
    batcher = Batcher(clock)
    for _ in range(20):
        batcher.add(pod(f"p{clock.now}"))
        clock.now += 0.5
        if batcher.ready():
            break
    assert batcher.ready()
    assert clock.now - 100.0 == 10.0


def test_provisionable_pods() -> None:
    pending = pod("pending")
    bound = pod("bound", node="n1")
    daemon = parse_pod(
        {
            "metadata": {
                "name": "d",
                "ownerReferences": [{"kind": "DaemonSet", "name": "x", "controller": True}],
            },
            "spec": {"containers": []},
        }
    )
    scheduled_elsewhere = parse_pod(
        {
            "metadata": {"name": "s"},
            "spec": {"containers": []},
            "status": {
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]
            },
        }
    )
    unschedulable = parse_pod(
        {
            "metadata": {"name": "u"},
            "spec": {"containers": []},
            "status": {
                "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]
            },
        }
    )
    assert [p.name for p in provisionable([pending, bound, daemon, scheduled_elsewhere, unschedulable])] == [
        "pending",
        "u",
    ]
    batcher = Batcher(FakeClock())
    batcher.add(bound)
    assert batcher.deadline() is None
