"""A consumer in its own OS process: it consumes ObjectChange messages on
`changes.<subject-token>.>` and, for each, publishes an Outcome carrying the
trace id it sees, to `outcomes.relay.<token>`. Exits after `count` messages."""

from __future__ import annotations

import asyncio
import os
import sys

from opentelemetry import trace

from bosun_common.bus import Bus, Delivery
from bosun_common.codec import Message
from bosun_common.messages import ObjectChange, Outcome
from bosun_common.telemetry import setup_tracing


async def main(token: str, count: int) -> None:
    setup_tracing("relay")
    bus = await Bus.connect(os.environ["NATS_URL"], service="relay")
    done = asyncio.Event()
    seen = 0

    async def handle(message: Message, delivery: Delivery) -> None:
        nonlocal seen
        assert isinstance(message, ObjectChange)
        span = trace.get_current_span().get_span_context()
        await bus.publish(
            f"outcomes.relay.{token}",
            Outcome(
                planKey=message.name,
                planId=delivery.envelope.id,
                actor="relay",
                ok=True,
                results=[
                    {"trace_id": f"{span.trace_id:032x}", "traceparent": delivery.headers.get("traceparent")}
                ],
            ),
            key=message.name,
        )
        seen += 1
        if seen >= count:
            done.set()

    consumer = bus.consume(
        stream="CHANGES", durable=f"relay-{token}", filter_subjects=[f"changes.{token}.>"], handler=handle
    )
    consumer.start()
    await asyncio.wait_for(done.wait(), timeout=60)
    await bus.drain()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
