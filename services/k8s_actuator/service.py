"""The k8s-actuator's shell: consume `plans.k8s.>`, execute, publish an outcome for every plan.

Transient failures (API server down, throttled, conflicting) are retried with
backoff by redelivery; after the last delivery the plan's outcome reports the
error. Permanent failures are reported at once. Every plan gets an outcome; a
plan superseded by a newer one for its key (see `bosun_common.plan_fence`) gets
one that says so, and is not executed. Plans for different keys run
concurrently (`BOSUN_ACTUATOR_CONCURRENCY`), one key's in order.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import Field

from bosun_common.bus import Delivery, Reject, Retry
from bosun_common.codec import Message
from bosun_common.kube import KubeClient
from bosun_common.kube_plans import KubePlan
from bosun_common.messages import KubePlanMessage, Outcome
from bosun_common.plan_fence import PlanFence
from bosun_common.service import ServiceContext, ServiceSettings, run_service_async
from bosun_common.streams import PLAN_FENCES, k8s_outcome_subject
from k8s_actuator.execute import execute_plan

log = logging.getLogger("bosun.k8s_actuator")

NAME = "k8s-actuator"
MAX_DELIVER = 8
ACK_WAIT = 30.0


class K8sActuatorSettings(ServiceSettings):
    actuator_concurrency: int = Field(default=8, ge=1, le=64)


async def body(ctx: ServiceContext) -> None:
    settings = ctx.settings if isinstance(ctx.settings, K8sActuatorSettings) else K8sActuatorSettings()
    kube = await KubeClient.from_env(user_agent=NAME)
    fence = PlanFence(await ctx.bus.ensure_bucket(PLAN_FENCES), ctx.settings.replica_id)

    async def handle(message: Message, delivery: Delivery) -> None:
        if not isinstance(message, KubePlanMessage):
            raise Reject(f"the k8s-actuator executes KubePlan messages, not {message.KIND}")
        plan = message.plan
        await fence.run_in_turn(
            delivery,
            execute=lambda: execute(plan, delivery),
            superseded=lambda: Outcome(
                planKey=plan.key,
                planId=delivery.envelope.id,
                actor=NAME,
                ok=True,
                skipped=f"superseded: a newer plan for {plan.key} ran first",
            ),
            report=lambda outcome: ctx.bus.publish(
                k8s_outcome_subject(plan.planner, plan.key),
                outcome,
                key=plan.key,
                msg_id=f"outcome:{delivery.envelope.id}:{delivery.num_delivered}",
            ),
        )

    async def execute(plan: KubePlan, delivery: Delivery) -> Outcome:
        results = await execute_plan(kube, plan)
        failed = next((r for r in results if not r.ok), None)
        if failed is not None and failed.transient and delivery.num_delivered < MAX_DELIVER:
            raise Retry(f"{failed.ref}: {failed.detail}")
        if failed is not None:
            log.warning("plan %s failed: %s %s: %s", plan.key, failed.op, failed.ref, failed.detail)
        return Outcome(
            planKey=plan.key,
            planId=delivery.envelope.id,
            actor=NAME,
            ok=failed is None,
            results=[r.as_dict() for r in results],
            error=None if failed is None else f"{failed.op} {failed.ref}: {failed.detail}",
        )

    consumer = ctx.bus.consume(
        stream="PLANS",
        durable=NAME,
        filter_subjects=["plans.k8s.>"],
        handler=handle,
        max_deliver=MAX_DELIVER + 1,
        ack_wait=ACK_WAIT,
        concurrency=settings.actuator_concurrency,
    )
    consumer.start()
    await consumer.ready.wait()
    ctx.ready.set()
    try:
        await ctx.stop.wait()
    finally:
        await kube.close()


def main() -> None:
    asyncio.run(run_service_async(NAME, body, K8sActuatorSettings()))
