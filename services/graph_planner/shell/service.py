"""The graph-planner service.

It rebuilds its view from STATE (ordered consumers replay each kind from the
start, then follow), compiles every RGD, and for the keys this replica owns
(rendezvous hashing over live replicas) publishes:
- per RGD: the generated CRD and the RGD's status;
- per instance: the plan from `plan_instance`, whenever the instance, one of
  its children, or one of its external kinds changes, and again on resync.
Identical plans are not republished; a failed outcome forces a re-plan.
It registers the kinds it needs (instance, child and external kinds) in KV
`watches`, which the informer follows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nats.aio.msg import Msg
from nats.js import api as js_api
from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind

from bosun_common import telemetry
from bosun_common.bus import dead_letter_undecodable
from bosun_common.kube_plans import ApplyObject, ApplyStatus, KubePlan, ObjectRef
from bosun_common.messages import KubePlanMessage, Outcome
from bosun_common.metrics import PLANS_PUBLISHED
from bosun_common.service import ServiceContext, run_service
from bosun_common.state import StateFollower
from bosun_common.streams import SCHEMAS, WATCHES, k8s_plan_subject
from graph_planner.graph import compile_graph
from graph_planner.graph.model import CompiledGraph, CompileResult
from graph_planner.graph.status import rgd_status
from graph_planner.runtime import plan_instance
from graph_planner.runtime.labels import INSTANCE_ID
from graph_planner.schemas.source import (
    ChainedSchemaSource,
    StaticSchemaSource,
    builtin_schemas,
    schema_source_from_crds,
    schema_source_from_openapi,
)
from graph_planner.shell.membership import Membership
from graph_planner.shell.partition import owner
from graph_planner.shell.view import ClusterView, Kind, object_name

log = logging.getLogger("bosun.graph_planner")

NAME = "graph-planner"
RGD: Kind = ("kro.run/v1alpha1", "ResourceGraphDefinition")
CRD: Kind = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
RESYNC_SECONDS = 30.0


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Dirty:
    since: float
    trace: otel_context.Context | None = None


@dataclass
class GraphPlanner:
    ctx: ServiceContext
    membership: Membership
    clock: Callable[[], str] = utc_now
    view: ClusterView = field(default_factory=ClusterView)
    results: dict[str, CompileResult] = field(default_factory=dict)
    rgd_by_instance_kind: dict[Kind, str] = field(default_factory=dict)
    followed: set[Kind] = field(default_factory=set)
    instance_by_uid: dict[str, tuple[Kind, str]] = field(default_factory=dict)
    dirty: dict[tuple[Kind, str], Dirty] = field(default_factory=dict)
    dirty_rgds: set[str] = field(default_factory=set)
    published: dict[str, tuple[str, float]] = field(default_factory=dict)
    follower: StateFollower = field(init=False)
    openapi_documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    openapi_source: StaticSchemaSource = field(default_factory=StaticSchemaSource)

    def __post_init__(self) -> None:
        self.follower = StateFollower(self.ctx.bus, self.on_change)

    # -- following STATE --------------------------------------------------------

    async def follow(self, kind: Kind) -> None:
        if kind not in (RGD, CRD) and kind not in self.followed:
            watches = await self.ctx.bus.ensure_bucket(WATCHES)
            await watches.put(f"{kind[0]}/{kind[1]}", json.dumps({"requestedBy": NAME}).encode())
        self.followed.add(kind)
        await self.follower.follow(kind)

    def on_change(
        self, kind: Kind, name: str, obj: dict[str, Any] | None, trace: otel_context.Context | None = None
    ) -> None:
        previous = self.view.put(kind, name, obj)
        if kind == RGD:
            self.dirty_rgds.add(name)
        elif kind == CRD:
            self.on_crd(obj or previous or {})
        if kind in self.rgd_by_instance_kind:
            uid = ((obj or previous or {}).get("metadata") or {}).get("uid")
            if uid:
                if obj is None:
                    self.instance_by_uid.pop(uid, None)
                else:
                    self.instance_by_uid[uid] = (kind, name)
            if obj is not None:
                self.mark(kind, name, trace)
        for current in (obj, previous):
            owner_uid = (((current or {}).get("metadata") or {}).get("labels") or {}).get(INSTANCE_ID)
            if owner_uid and owner_uid in self.instance_by_uid:
                self.mark(*self.instance_by_uid[owner_uid], trace)
        for rgd_name, result in self.results.items():
            graph = result.graph
            if graph is not None and kind in external_kinds(graph):
                self.mark_instances_of(rgd_name, trace)

    def on_crd(self, crd: dict[str, Any]) -> None:
        # A CRD appearing can complete an RGD waiting for a schema, or make its own kind ready.
        crd_name = (crd.get("metadata") or {}).get("name", "")
        for rgd_name, result in self.results.items():
            generated = result.graph.crd["metadata"]["name"] if result.graph is not None else None
            if generated == crd_name or result.pending_kinds:
                self.dirty_rgds.add(rgd_name)

    def mark(self, kind: Kind, name: str, trace: otel_context.Context | None = None) -> None:
        entry = self.dirty.get((kind, name))
        if entry is None:
            self.dirty[(kind, name)] = Dirty(time.monotonic(), trace)
        elif trace is not None:
            entry.trace = trace

    def mark_instances_of(self, rgd_name: str, trace: otel_context.Context | None = None) -> None:
        for kind, rgd in self.rgd_by_instance_kind.items():
            if rgd == rgd_name:
                for obj in self.view.of_kind(kind):
                    self.mark(kind, object_name(obj), trace)

    # -- RGDs ------------------------------------------------------------------

    def schema_source(self) -> ChainedSchemaSource:
        """CRDs as STATE has them, then the API server's documents, then the bundled snapshot."""
        return ChainedSchemaSource(
            schema_source_from_crds(self.view.of_kind(CRD)), self.openapi_source, builtin_schemas()
        )

    async def follow_schemas(self) -> None:
        """Keep the API server's `/openapi/v3` documents (KV `schemas`, from the informer)."""
        kv = await self.ctx.bus.ensure_bucket(SCHEMAS)
        watcher = await kv.watchall()
        async for entry in watcher:
            if self.ctx.stop.is_set():
                break
            if entry is None or not entry.key.startswith("openapi/"):
                continue
            if entry.operation in ("DEL", "PURGE") or not entry.value:
                self.openapi_documents.pop(entry.key, None)
            else:
                try:
                    self.openapi_documents[entry.key] = json.loads(gzip.decompress(entry.value))
                except (OSError, ValueError) as exc:
                    log.warning("schema %s is not gzip JSON: %s", entry.key, exc)
                    continue
            self.openapi_source = schema_source_from_openapi(
                self.openapi_documents[key] for key in sorted(self.openapi_documents)
            )
            # A kind that was pending may be known now.
            self.dirty_rgds.update(name for name, result in self.results.items() if result.pending_kinds)

    async def reconcile_rgd(self, name: str) -> None:
        rgd = self.view.get(RGD, name)
        if rgd is None:
            self.results.pop(name, None)
            self.rgd_by_instance_kind = {k: v for k, v in self.rgd_by_instance_kind.items() if v != name}
            return
        with telemetry.tracer().start_as_current_span("compile rgd", kind=SpanKind.INTERNAL) as span:
            span.set_attribute("kro.rgd", name)
            result = compile_graph(rgd, self.schema_source())
        self.results[name] = result
        graph = result.graph
        if graph is not None and not result.errors:
            instance_kind = (graph.instance_api_version, graph.kind)
            self.rgd_by_instance_kind[instance_kind] = name
            for kind in (instance_kind, *child_kinds(graph), *external_kinds(graph)):
                await self.follow(kind)
            self.mark_instances_of(name)
        if owner(f"rgd/{name}", self.membership.members) == self.membership.member:
            await self.publish_rgd(name, rgd, result)

    async def publish_rgd(self, name: str, rgd: dict[str, Any], result: CompileResult) -> None:
        graph = result.graph
        crd_ready = False
        if graph is not None and not result.errors:
            crd_name = graph.crd["metadata"]["name"]
            live = self.view.get(CRD, crd_name)
            conditions = ((live or {}).get("status") or {}).get("conditions") or []
            crd_ready = any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)
            await self.publish_plan(
                f"rgd/{name}",
                KubePlan(
                    key=f"rgd/{name}",
                    planner=NAME,
                    reason="crd",
                    actions=[ApplyObject(object=graph.crd, fieldManager=NAME)],
                ),
            )
        status = rgd_status(
            result,
            generation=int(rgd.get("metadata", {}).get("generation", 0)),
            now=self.clock(),
            kind_ready=crd_ready if graph is not None and not result.errors else False,
            controller_ready=crd_ready,
            previous=(rgd.get("status") or {}).get("conditions") or [],
        )
        ref = ObjectRef(apiVersion=RGD[0], kind=RGD[1], name=name)
        await self.publish_plan(
            f"rgd-status/{name}",
            KubePlan(
                key=f"rgd-status/{name}",
                planner=NAME,
                reason="rgd status",
                actions=[ApplyStatus(ref=ref, status=status, fieldManager=NAME)],
            ),
        )

    # -- instances ---------------------------------------------------------------

    async def reconcile_instance(self, kind: Kind, name: str, trace: otel_context.Context | None) -> None:
        instance = self.view.get(kind, name)
        rgd_name = self.rgd_by_instance_kind.get(kind)
        result = self.results.get(rgd_name or "")
        if instance is None or result is None or result.graph is None or result.errors:
            return
        graph = result.graph
        uid = instance.get("metadata", {}).get("uid", "")
        observed = self.view.observed_for(uid, external_kinds(graph))
        with telemetry.tracer().start_as_current_span(
            "plan instance", context=trace, kind=SpanKind.INTERNAL
        ) as span:
            span.set_attribute("kro.instance", f"{kind[1]}/{name}")
            planned = plan_instance(graph, instance, observed, now=self.clock())
            await self.publish_plan(planned.plan.key, planned.plan, observed=[instance, *observed])

    async def publish_plan(
        self, key: str, plan: KubePlan, observed: list[dict[str, Any]] | None = None
    ) -> None:
        content = plan.model_dump_json()
        # What the plan was made from, beyond its content: which objects exist (a child
        # deleted by hand must be re-created at once even though the plan is unchanged).
        facts = sorted(
            f"{o.get('kind')}/{object_name(o)}/{o.get('metadata', {}).get('uid')}/{o.get('metadata', {}).get('generation')}"
            for o in observed or []
        )
        digest = hashlib.sha256((content + "\n".join(facts)).encode()).hexdigest()[:32]
        last = self.published.get(key)
        now = time.monotonic()
        if last is not None and last[0] == digest and now - last[1] < RESYNC_SECONDS:
            return
        await self.ctx.bus.publish(
            k8s_plan_subject(NAME, key),
            KubePlanMessage(plan=plan),
            key=key,
            msg_id=f"{key}:{digest}:{int(now // RESYNC_SECONDS)}",
        )
        self.published[key] = (digest, now)
        PLANS_PUBLISHED.labels(NAME, "rgd" if key.startswith(("rgd/", "rgd-status/")) else "instance").inc()

    def on_outcome(self, outcome: Outcome) -> None:
        if outcome.ok:
            return
        log.warning("plan %s failed: %s", outcome.planKey, outcome.error)
        self.published.pop(outcome.planKey, None)  # the next reconcile republishes

    # -- the loop ----------------------------------------------------------------

    async def run(self) -> None:
        await self.follow(CRD)
        await self.follow(RGD)
        last_resync = time.monotonic()
        while not self.ctx.stop.is_set():
            if self.membership.changed.is_set():
                self.membership.changed.clear()
                self.dirty_rgds.update(self.results)
                for kind in self.rgd_by_instance_kind:
                    for obj in self.view.of_kind(kind):
                        self.mark(kind, object_name(obj))
            if time.monotonic() - last_resync > RESYNC_SECONDS:
                last_resync = time.monotonic()
                self.dirty_rgds.update(self.results)
                for rgd_name in list(self.results):
                    self.mark_instances_of(rgd_name)
            await self.drain_work()
            await asyncio.sleep(0.05)

    async def drain_work(self) -> None:
        if not self.ctx.bus.nc.is_connected:
            return  # keep the work marked until the bus is back
        for name in sorted(self.dirty_rgds):
            self.dirty_rgds.discard(name)
            try:
                await self.reconcile_rgd(name)
            except Exception:
                log.exception("rgd %s: reconcile failed", name)
                self.dirty_rgds.add(name)
                return
        me = self.membership.member
        for (kind, name), entry in sorted(self.dirty.items(), key=lambda item: item[1].since):
            del self.dirty[(kind, name)]
            instance_key = f"{kind[0]}/{kind[1]}/{name}"
            if owner(instance_key, self.membership.members) != me:
                continue
            try:
                await self.reconcile_instance(kind, name, entry.trace)
            except Exception:
                log.exception("instance %s: reconcile failed", instance_key)
                self.dirty.setdefault((kind, name), Dirty(time.monotonic(), entry.trace))
                return


def child_kinds(graph: CompiledGraph) -> list[Kind]:
    return sorted({(n.api_version, n.kind) for n in graph.nodes.values() if not n.is_external})


def external_kinds(graph: CompiledGraph) -> list[Kind]:
    return sorted({(n.api_version, n.kind) for n in graph.nodes.values() if n.is_external})


async def body(ctx: ServiceContext) -> None:
    membership = Membership(ctx.bus, NAME, ctx.settings.replica_id)
    await membership.refresh()
    planner = GraphPlanner(ctx=ctx, membership=membership)
    keeper = asyncio.create_task(membership.keep(ctx.stop))

    async def on_outcome(msg: Msg) -> None:
        message = await dead_letter_undecodable(ctx.bus, msg)
        if isinstance(message, Outcome):
            planner.on_outcome(message)

    outcomes = await ctx.bus.js.subscribe(
        f"outcomes.k8s.{NAME}.>",
        stream="OUTCOMES",
        cb=on_outcome,
        ordered_consumer=True,
        deliver_policy=js_api.DeliverPolicy.NEW,
    )
    loop = asyncio.create_task(planner.run())
    schemas = asyncio.create_task(planner.follow_schemas())
    ctx.ready.set()
    try:
        await ctx.stop.wait()
    finally:
        loop.cancel()
        schemas.cancel()
        await asyncio.gather(loop, schemas, return_exceptions=True)
        await planner.follower.close()
        try:
            await outcomes.unsubscribe()
        except Exception as exc:
            log.info("unsubscribe: %s", exc)
        await asyncio.gather(keeper, return_exceptions=True)


def main() -> None:
    run_service(NAME, body)
