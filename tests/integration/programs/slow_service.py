"""A service built on the runner: each ObjectChange takes 2 s, then an Outcome is published."""

from __future__ import annotations

import asyncio
import sys

from bosun_common.bus import Delivery
from bosun_common.codec import Message
from bosun_common.messages import Outcome
from bosun_common.service import ServiceContext, run_service


def main(token: str) -> None:
    async def body(ctx: ServiceContext) -> None:
        async def handle(message: Message, delivery: Delivery) -> None:
            print("STARTED", delivery.envelope.key, flush=True)
            await asyncio.sleep(2.0)
            await ctx.bus.publish(
                f"outcomes.slow.{token}",
                Outcome(planKey=delivery.envelope.key, planId=delivery.envelope.id, actor="slow", ok=True),
                key=delivery.envelope.key,
            )

        consumer = ctx.bus.consume(
            stream="CHANGES", durable=f"slow-{token}", filter_subjects=[f"changes.{token}.>"], handler=handle
        )
        consumer.start()
        await consumer.ready.wait()
        ctx.ready.set()
        await ctx.stop.wait()

    run_service("slow-service", body)


if __name__ == "__main__":
    main(sys.argv[1])
