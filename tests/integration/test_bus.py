"""JetStream across real OS processes: typed messages, trace context, dead letters, dedup."""

from __future__ import annotations

import asyncio
import json

import msgpack
from opentelemetry import trace

from bosun_common.bus import Bus
from bosun_common.codec import decode
from bosun_common.messages import DeadLetter, ObjectChange, Outcome
from bosun_common.telemetry import setup_tracing, tracer
from tests.integration.conftest import start_program


def change(name: str) -> ObjectChange:
    return ObjectChange(type="ADDED", apiVersion="v1", kind="ConfigMap", namespace="default", name=name)


async def collect(sub, count: int, timeout: float = 30.0) -> list:  # type: ignore[no-untyped-def]
    out = []
    async with asyncio.timeout(timeout):
        while len(out) < count:
            msg = await sub.next_msg(timeout=timeout)
            out.append(msg)
            await msg.ack()
    return out


async def test_typed_messages_cross_processes_with_trace_and_dead_letters(
    bus: Bus, nats_url: str, unique: str
) -> None:
    setup_tracing("tests")
    outcomes = await bus.js.subscribe(f"outcomes.relay.{unique}", stream="OUTCOMES", ordered_consumer=True)
    letters = await bus.js.subscribe(
        f"deadletter.changes.{unique}.>", stream="DEADLETTER", ordered_consumer=True
    )
    relay = start_program("relay", unique, "3", env={"NATS_URL": nats_url})
    try:
        with tracer().start_as_current_span("test-root") as root:
            root_trace = f"{root.get_span_context().trace_id:032x}"
            await bus.publish(f"changes.{unique}.a", change("first"), key="first")
            # Undecodable bytes, then a well-formed envelope of an unknown schema version.
            await bus.publish_raw(f"changes.{unique}.bad", b"\xc1 not msgpack")
            future = msgpack.packb(
                {
                    "v": 99,
                    "kind": "ObjectChange",
                    "key": "k",
                    "time": "2026-01-01T00:00:00Z",
                    "id": "x",
                    "data": {},
                }
            )
            await bus.publish_raw(f"changes.{unique}.future", future)
            await bus.publish_many([(f"changes.{unique}.b", change(n), n, None) for n in ("second", "third")])
        got = [decode(m.data)[1] for m in await collect(outcomes, 3)]
        assert all(isinstance(o, Outcome) for o in got)
        assert [o.planKey for o in got] == ["first", "second", "third"]  # type: ignore[attr-defined]
        # The consumer's span is a child of this test's span: one trace across two processes.
        assert {o.results[0]["trace_id"] for o in got} == {root_trace}  # type: ignore[attr-defined]

        dead = [decode(m.data)[1] for m in await collect(letters, 2)]
        reasons = {d.subject.rsplit(".", 1)[-1]: d.reason for d in dead if isinstance(d, DeadLetter)}
        assert reasons["bad"].startswith("not msgpack")
        assert "unsupported schema version 99" in reasons["future"]
        _stdout, stderr = relay.communicate(timeout=30)
        assert relay.returncode == 0, stderr
    finally:
        relay.kill()
        await outcomes.unsubscribe()
        await letters.unsubscribe()
    assert trace.get_current_span() is not None


async def test_same_message_id_is_stored_once(bus: Bus, unique: str) -> None:
    first = await bus.publish(f"changes.{unique}.dup", change("x"), key="x", msg_id=f"dup-{unique}")
    second = await bus.publish(f"changes.{unique}.dup", change("x"), key="x", msg_id=f"dup-{unique}")
    assert not first.duplicate
    assert second.duplicate
    assert second.seq == first.seq


async def test_handler_errors_are_retried_then_dead_lettered(bus: Bus, unique: str) -> None:
    attempts: list[int] = []

    async def always_fails(message, delivery):  # type: ignore[no-untyped-def]
        attempts.append(delivery.num_delivered)
        raise RuntimeError("boom")

    letters = await bus.js.subscribe(
        f"deadletter.changes.{unique}.>", stream="DEADLETTER", ordered_consumer=True
    )
    consumer = bus.consume(
        stream="CHANGES",
        durable=f"fails-{unique}",
        filter_subjects=[f"changes.{unique}.>"],
        handler=always_fails,
        max_deliver=3,
    )
    consumer.start()
    await bus.publish(f"changes.{unique}.x", change("x"), key="x")
    [letter] = await collect(letters, 1, timeout=30)
    dead = decode(letter.data)[1]
    assert isinstance(dead, DeadLetter)
    assert dead.reason == "gave up after 3 deliveries: RuntimeError: boom"
    assert attempts == [1, 2, 3]
    # The original payload is kept verbatim.
    import base64

    assert decode(base64.b64decode(dead.payloadBase64))[1] == change("x")
    await consumer.stop()
    await letters.unsubscribe()
    assert json.dumps(dead.headers)  # headers survive as plain strings
