"""The node-planner service: one leader (a KV lease) plans; standbys keep their view warm.

It follows STATE for Pods, Nodes, NodeClaims, NodePools, DaemonSets, PDBs and the
provider's node classes (`KWOKNodeClass` for sim),
reads the catalog the cloud-actuator publishes (KV `catalog`, key = provider),
consumes cloud outcomes, and every tick runs the controller and publishes its
plans: Kubernetes plans to the k8s-actuator, cloud plans to the cloud-actuator.
It decides nothing until its view has caught up with STATE.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from nats.aio.msg import Msg
from nats.js import api as js_api
from opentelemetry import context as otel_context

from bosun_common import telemetry
from bosun_common.bus import dead_letter_undecodable
from bosun_common.catalog import Catalog
from bosun_common.cloud_plans import CloudOutcome
from bosun_common.messages import KubePlanMessage
from bosun_common.service import ServiceContext, run_service
from bosun_common.state import Kind, StateFollower
from bosun_common.streams import CATALOG, cloud_plan_subject, k8s_plan_subject
from node_planner.disruption.engine import DisruptionOptions
from node_planner.readiness import PROVIDER_NODE_CLASSES
from node_planner.shell.controller import KINDS, NAME, NodePlanner

log = logging.getLogger("bosun.node_planner")
TICK_SECONDS = 0.2


async def follow_catalog(ctx: ServiceContext, planner: NodePlanner, provider: str) -> None:
    kv = await ctx.bus.ensure_bucket(CATALOG)
    watcher = await kv.watch(provider)
    async for entry in watcher:
        if ctx.stop.is_set():
            break
        if entry is None or entry.value is None or entry.operation in ("DEL", "PURGE"):
            continue
        try:
            planner.catalog = Catalog.model_validate_json(entry.value)
            log.info("catalog %s: %d instance types", provider, len(planner.catalog.instanceTypes))
        except ValueError as exc:
            log.error("catalog %s is not valid: %s", provider, exc)


async def body(ctx: ServiceContext) -> None:
    options = DisruptionOptions(
        min_price_improvement_percent=float(os.environ.get("BOSUN_MIN_PRICE_IMPROVEMENT_PERCENT", "0")),
        spot_to_spot=os.environ.get("BOSUN_SPOT_TO_SPOT", "false").lower() == "true",
    )
    provider = os.environ.get("BOSUN_CLOUD_PROVIDER", "sim")
    planner = NodePlanner(options=options, node_class_kinds=PROVIDER_NODE_CLASSES.get(provider, ()))

    def on_change(kind: Kind, name: str, obj: dict[str, object] | None, trace: otel_context.Context) -> None:
        planner.on_change(kind, name, obj)

    follower = StateFollower(ctx.bus, on_change)
    for kind in (*KINDS, *planner.node_class_kinds):
        await follower.follow(kind)

    async def on_outcome(msg: Msg) -> None:
        message = await dead_letter_undecodable(ctx.bus, msg)
        if isinstance(message, CloudOutcome):
            planner.on_cloud_outcome(message)

    # New outcomes only: a launch whose answer was missed is asked again (launching is idempotent).
    outcomes = await ctx.bus.js.subscribe(
        "outcomes.cloud.>",
        stream="OUTCOMES",
        cb=on_outcome,
        ordered_consumer=True,
        deliver_policy=js_api.DeliverPolicy.NEW,
    )
    catalog_task = asyncio.create_task(follow_catalog(ctx, planner, provider))
    lease = await ctx.lease(NAME)
    keeper = asyncio.create_task(lease.keep(ctx.stop))
    ctx.ready.set()
    was_leader = False
    try:
        while not ctx.stop.is_set():
            await asyncio.sleep(TICK_SECONDS)
            leader = lease.is_leader
            if leader and not was_leader:
                log.info("leading: %s", ctx.settings.replica_id)
                planner.sent.clear()  # re-evaluate everything a previous leader may have left
            was_leader = leader
            if not leader or not all(follower.synced(k) for k in (*KINDS, *planner.node_class_kinds)):
                continue
            if not ctx.bus.nc.is_connected:
                continue
            with telemetry.tracer().start_as_current_span("node-planner pass"):
                plans = planner.step()
                try:
                    await ctx.bus.publish_many(
                        [
                            (k8s_plan_subject(NAME, p.key), KubePlanMessage(plan=p), p.key, None)
                            for p in plans.kube
                        ]
                        + [(cloud_plan_subject(p.key), p, p.key, None) for p in plans.cloud]
                    )
                except Exception as exc:
                    log.warning("publishing %d plan(s) failed (%s); deciding again", len(plans.kube), exc)
                    planner.publish_failed(plans)
    finally:
        catalog_task.cancel()
        await asyncio.gather(catalog_task, return_exceptions=True)
        await follower.close()
        with contextlib.suppress(Exception):  # the connection may already be drained
            await outcomes.unsubscribe()
        await asyncio.gather(keeper, return_exceptions=True)


def main() -> None:
    run_service(NAME, body)
