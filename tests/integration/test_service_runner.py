"""The service runner in a real process: health, readiness, metrics, graceful SIGTERM."""

from __future__ import annotations

import asyncio
import signal

import aiohttp

from bosun_common.bus import Bus
from bosun_common.codec import decode
from bosun_common.messages import ObjectChange, Outcome
from bosun_devstack.procs import free_port
from tests.integration.conftest import start_program


async def wait_http(url: str, status: int, timeout: float = 30.0) -> str:
    async with aiohttp.ClientSession() as session, asyncio.timeout(timeout):
        while True:
            try:
                async with session.get(url) as resp:
                    if resp.status == status:
                        return await resp.text()
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def test_health_metrics_and_sigterm_finishes_in_flight_work(
    bus: Bus, nats_url: str, unique: str
) -> None:
    port = free_port()
    proc = start_program(
        "slow_service",
        unique,
        env={"NATS_URL": nats_url, "BOSUN_HTTP_PORT": str(port), "BOSUN_HTTP_HOST": "127.0.0.1"},
    )
    outcomes = await bus.js.subscribe(f"outcomes.slow.{unique}", stream="OUTCOMES", ordered_consumer=True)
    try:
        assert await wait_http(f"http://127.0.0.1:{port}/healthz", 200) == "ok"
        assert await wait_http(f"http://127.0.0.1:{port}/readyz", 200) == "ready"
        await bus.publish(
            f"changes.{unique}.x",
            ObjectChange(type="ADDED", apiVersion="v1", kind="ConfigMap", name="x"),
            key="in-flight",
        )
        line = await asyncio.to_thread(proc.stdout.readline)  # type: ignore[union-attr]
        assert line.strip() == "STARTED in-flight"
        proc.send_signal(signal.SIGTERM)  # while the handler is still sleeping
        msg = await outcomes.next_msg(timeout=15)
        outcome = decode(msg.data)[1]
        assert isinstance(outcome, Outcome) and outcome.planKey == "in-flight"
        assert await asyncio.to_thread(proc.wait, 20) == 0
        # Acked before exit: nothing is redelivered to the durable consumer.
        info = await bus.js.consumer_info("CHANGES", f"slow-{unique}")
        assert info.num_ack_pending == 0 and info.num_pending == 0
    finally:
        proc.kill()
        await outcomes.unsubscribe()


async def test_metrics_endpoint_counts_messages(bus: Bus, nats_url: str, unique: str) -> None:
    port = free_port()
    proc = start_program(
        "slow_service",
        unique,
        env={"NATS_URL": nats_url, "BOSUN_HTTP_PORT": str(port), "BOSUN_HTTP_HOST": "127.0.0.1"},
    )
    try:
        await wait_http(f"http://127.0.0.1:{port}/readyz", 200)
        await bus.publish(
            f"changes.{unique}.m",
            ObjectChange(type="ADDED", apiVersion="v1", kind="ConfigMap", name="m"),
            key="m",
        )
        async with asyncio.timeout(20):
            while True:
                text = await wait_http(f"http://127.0.0.1:{port}/metrics", 200)
                if 'bosun_messages_consumed_total{kind="ObjectChange",service="slow-service"} 1.0' in text:
                    break
                await asyncio.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 20) == 0
    finally:
        proc.kill()
