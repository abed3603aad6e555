"""The informer's shell: one reflector per kind, publishing to STATE and CHANGES.

Kinds: a fixed core set, plus the dynamic set other services ask for in the KV
bucket `watches` (key `<apiVersion>/<kind>`). After a restart the informer
rebuilds what it had published from STATE, so the first list emits only real
differences (deletions made while it was down included). Message ids carry the
object's uid and resourceVersion, so a republished event is stored once.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import os
from dataclasses import dataclass

from nats.js import api as js_api
from nats.js.kv import KeyValue
from opentelemetry.trace import SpanKind

from bosun_common import telemetry
from bosun_common.codec import DecodeError, decode
from bosun_common.kube import KubeClient, KubeError, list_and_watch
from bosun_common.kube.watch import WatchEvent
from bosun_common.messages import ObjectState
from bosun_common.service import ServiceContext, run_service
from bosun_common.streams import SCHEMAS, WATCHES, openapi_schema_key, state_subject_filter
from informer.metrics import EVENTS, WATCHED_KINDS
from informer.normalize import change_of, normalize, state_of

log = logging.getLogger("bosun.informer")
NAME = "informer"

CORE_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "Namespace"),
    ("v1", "Node"),
    ("v1", "Pod"),
    ("apps/v1", "DaemonSet"),
    ("policy/v1", "PodDisruptionBudget"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("kro.run/v1alpha1", "ResourceGraphDefinition"),
    ("karpenter.sh/v1", "NodePool"),
    ("karpenter.sh/v1", "NodeClaim"),
    # The sim provider's node class: NodePools are NodeClassReady only while theirs exists.
    ("karpenter.kwok.sh/v1alpha1", "KWOKNodeClass"),
)


@dataclass
class Informer:
    ctx: ServiceContext
    kube: KubeClient
    secret_key: bytes | None
    tasks: dict[tuple[str, str], asyncio.Task[None]]

    async def published_versions(self, api_version: str, kind: str) -> dict[str, str]:
        """What STATE holds for a kind: "namespace/name" -> resourceVersion (tombstones left out)."""
        known: dict[str, str] = {}
        sub = await self.ctx.bus.js.subscribe(
            state_subject_filter(api_version, kind),
            stream="STATE",
            ordered_consumer=True,
            deliver_policy=js_api.DeliverPolicy.LAST_PER_SUBJECT,
        )
        try:
            info = await sub.consumer_info()
            # Messages may already sit in the client's buffer: count them as well.
            remaining = (info.num_pending or 0) + (info.delivered.consumer_seq if info.delivered else 0)
            while remaining > 0:
                msg = await sub.next_msg(timeout=10)
                remaining = msg.metadata.num_pending
                try:
                    _, message = decode(msg.data)
                except DecodeError:
                    continue
                if isinstance(message, ObjectState) and not message.deleted:
                    known[f"{message.namespace or ''}/{message.name}"] = message.resourceVersion
        finally:
            await sub.unsubscribe()
        return known

    async def reflect(self, api_version: str, kind: str) -> None:
        known = await self.published_versions(api_version, kind)
        log.info("watching %s %s (%d known)", api_version, kind, len(known))
        async for event in list_and_watch(self.kube, api_version, kind, stop=self.ctx.stop, known=known):
            if event.type == "SYNCED":
                continue
            await self.publish(event)
            if kind == "CustomResourceDefinition":
                self.kube.forget_discovery()

    async def publish(self, event: WatchEvent) -> None:
        obj = normalize(event.object, self.secret_key)
        with telemetry.tracer().start_as_current_span(
            f"observe {event.type} {obj.get('kind')}", kind=SpanKind.CONSUMER
        ) as span:
            span.set_attribute("k8s.object", f"{obj.get('apiVersion')}/{obj.get('kind')}")
            messages = [
                state_of(event.type, obj, event.resource_version),
                change_of(event.type, obj, event.resource_version),
            ]
            # Block this kind's reflector until the bus takes the event: order per object matters,
            # and the message ids make a retry after a partial success harmless.
            failures = 0
            while True:
                try:
                    await self.ctx.bus.publish_many(messages)
                    break
                except Exception as exc:
                    if self.ctx.stop.is_set():
                        raise
                    failures += 1
                    log.warning("publishing %s failed (%s); retrying", obj.get("kind"), exc)
                    await asyncio.sleep(min(5.0, 0.2 * 2**failures))
        EVENTS.labels(obj.get("kind", ""), event.type).inc()

    def ensure_watch(self, api_version: str, kind: str) -> None:
        key = (api_version, kind)
        task = self.tasks.get(key)
        if task is None or task.done():
            self.tasks[key] = asyncio.create_task(
                self.reflect(api_version, kind), name=f"watch {api_version} {kind}"
            )
            WATCHED_KINDS.set(len(self.tasks))

    def drop_watch(self, api_version: str, kind: str) -> None:
        task = self.tasks.pop((api_version, kind), None)
        if task is not None and (api_version, kind) not in CORE_KINDS:
            task.cancel()
        elif task is not None:
            self.tasks[(api_version, kind)] = task  # the core set is never dropped
        WATCHED_KINDS.set(len(self.tasks))

    async def publish_schema(self, schemas: KeyValue, api_version: str) -> None:
        """The API server's OpenAPI v3 document for one group-version, as served, gzip JSON in KV
        `schemas` (key `openapi/<apiVersion>`)."""
        group, _, version = api_version.rpartition("/")
        path = f"/openapi/v3/apis/{group}/{version}" if group else f"/openapi/v3/api/{version}"
        try:
            document = await self.kube.request("GET", path, timeout=60)
        except KubeError as exc:
            log.info("no OpenAPI document for %s yet: %s", api_version, exc)
            return
        payload = json.dumps(document, sort_keys=True, separators=(",", ":"))
        await schemas.put(openapi_schema_key(api_version), gzip.compress(payload.encode(), mtime=0))

    async def follow_watch_requests(self) -> None:
        """Keep the dynamic set in step with KV `watches`; publish each new group-version's schema."""
        watches = await self.ctx.bus.ensure_bucket(WATCHES)
        schemas = await self.ctx.bus.ensure_bucket(SCHEMAS)
        published: set[str] = set()
        watcher = await watches.watchall()
        async for entry in watcher:
            if self.ctx.stop.is_set():
                break
            if entry is None:
                continue  # end of the initial values
            api_version, _, kind = entry.key.rpartition("/")
            if entry.operation in ("DEL", "PURGE"):
                self.drop_watch(api_version, kind)
                continue
            self.ensure_watch(api_version, kind)
            if api_version not in published:
                await self.publish_schema(schemas, api_version)
                published.add(api_version)


async def body(ctx: ServiceContext) -> None:
    kube = await KubeClient.from_env(user_agent=NAME)
    secret_key = os.environ.get("BOSUN_SECRET_KEY")
    informer = Informer(ctx=ctx, kube=kube, secret_key=secret_key.encode() if secret_key else None, tasks={})
    for api_version, kind in CORE_KINDS:
        informer.ensure_watch(api_version, kind)
    follower = asyncio.create_task(informer.follow_watch_requests())
    ctx.ready.set()
    try:
        await ctx.stop.wait()
    finally:
        follower.cancel()
        for task in informer.tasks.values():
            task.cancel()
        await asyncio.gather(follower, *informer.tasks.values(), return_exceptions=True)
        await kube.close()


def main() -> None:
    run_service(NAME, body)
