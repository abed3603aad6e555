"""The KV lease across real processes: one leader; a killed leader is replaced within the TTL."""

from __future__ import annotations

import select
import time

from tests.integration.conftest import start_program

TTL = 3.0


def wait_line(procs, timeout: float) -> tuple[int, str] | None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    streams = {p.stdout.fileno(): i for i, p in enumerate(procs)}
    while time.monotonic() < deadline:
        ready, _, _ = select.select(list(streams), [], [], max(0.0, deadline - time.monotonic()))
        for fd in ready:
            i = streams[fd]
            line = procs[i].stdout.readline()
            if line.startswith("LEADER"):
                return i, line.strip()
    return None


def test_one_leader_and_handover_within_ttl(nats_url: str, unique: str) -> None:
    env = {"NATS_URL": nats_url}
    bucket = f"lease-test-{unique}"
    a = start_program("lease_holder", bucket, "node-planner", "holder-a", str(TTL), env=env)
    b = start_program("lease_holder", bucket, "node-planner", "holder-b", str(TTL), env=env)
    procs = [a, b]
    try:
        first = wait_line(procs, timeout=30)
        assert first is not None, "nobody became leader"
        # Only one leads while both are alive.
        assert wait_line(procs, timeout=TTL) is None
        leader, standby = procs[first[0]], procs[1 - first[0]]
        leader.kill()
        killed_at = time.monotonic()
        second = wait_line([standby], timeout=TTL + 3)
        took = time.monotonic() - killed_at
        assert second is not None, "the standby never took over"
        # The key expires TTL after the last renewal (so at most TTL after the kill), and
        # the standby retries every TTL/10; half a second covers the server's expiry sweep.
        print(f"lease handover took {took:.2f}s (ttl {TTL}s)")
        assert took <= TTL + 0.5, took
    finally:
        for p in procs:
            p.kill()
            p.communicate()
