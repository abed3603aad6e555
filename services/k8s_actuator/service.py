"""The k8s-actuator's shell: consume `plans.k8s.>`, execute, publish an outcome for every plan.

Transient failures (API server down, throttled, conflicting) are retried with
backoff by redelivery; after the last delivery the plan's outcome reports the
error. Permanent failures are reported at once. Every plan gets an outcome.
"""

from __future__ import annotations

import logging

from bosun_common.bus import Delivery, Reject, Retry
from bosun_common.codec import Message
from bosun_common.kube import KubeClient
from bosun_common.messages import KubePlanMessage, Outcome
from bosun_common.service import ServiceContext, run_service
from bosun_common.streams import k8s_outcome_subject
from k8s_actuator.execute import execute_plan

log = logging.getLogger("bosun.k8s_actuator")

NAME = "k8s-actuator"
MAX_DELIVER = 8


async def body(ctx: ServiceContext) -> None:
    kube = await KubeClient.from_env(user_agent=NAME)

    async def handle(message: Message, delivery: Delivery) -> None:
        if not isinstance(message, KubePlanMessage):
            raise Reject(f"the k8s-actuator executes KubePlan messages, not {message.KIND}")
        plan = message.plan
        results = await execute_plan(kube, plan)
        failed = next((r for r in results if not r.ok), None)
        if failed is not None and failed.transient and delivery.num_delivered < MAX_DELIVER:
            raise Retry(f"{failed.ref}: {failed.detail}")
        outcome = Outcome(
            planKey=plan.key,
            planId=delivery.envelope.id,
            actor=NAME,
            ok=failed is None,
            results=[r.as_dict() for r in results],
            error=None if failed is None else f"{failed.op} {failed.ref}: {failed.detail}",
        )
        if failed is not None:
            log.warning("plan %s failed: %s", plan.key, outcome.error)
        await ctx.bus.publish(
            k8s_outcome_subject(plan.planner, plan.key),
            outcome,
            key=plan.key,
            msg_id=f"outcome:{delivery.envelope.id}:{delivery.num_delivered}",
        )

    consumer = ctx.bus.consume(
        stream="PLANS",
        durable=NAME,
        filter_subjects=["plans.k8s.>"],
        handler=handle,
        max_deliver=MAX_DELIVER + 1,
    )
    consumer.start()
    await consumer.ready.wait()
    ctx.ready.set()
    try:
        await ctx.stop.wait()
    finally:
        await kube.close()


def main() -> None:
    run_service(NAME, body)
