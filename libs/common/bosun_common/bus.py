"""The bus: a typed JetStream wrapper.

- `Bus.provision` declares streams and KV buckets idempotently.
- `Bus.publish` / `Bus.publish_many` send typed messages with a `Nats-Msg-Id`
  (JetStream drops duplicates within the stream's window) and the W3C trace
  context in the headers; `publish_many` pipelines with `publish_async`.
- `Bus.consume` runs a durable pull consumer: every message is decoded and
  handed to a typed handler. Success acks; `Retry` (or an unexpected error)
  naks with backoff; `Reject`, an undecodable payload, an unknown kind or
  version, or the last allowed delivery sends the message to the dead-letter
  subject with the reason and terms it. A consumer never crashes on bad input.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import logging
import ssl
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from bosun_common import metrics, telemetry
from bosun_common.codec import DecodeError, Envelope, Message, decode, encode, wrap
from bosun_common.messages import DeadLetter
from bosun_common.streams import (
    DEFAULT_LAYOUT,
    BusLayout,
    KVSpec,
    StreamSpec,
    dead_letter_subject,
)

log = logging.getLogger("bosun.bus")

MSG_ID_HEADER = "Nats-Msg-Id"


class Retry(Exception):
    """Raise from a handler: try this message again later (nak with backoff)."""

    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay


class Reject(Exception):
    """Raise from a handler: this message can never be processed; dead-letter it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Delivery:
    """What a handler knows about the message it is processing."""

    subject: str
    envelope: Envelope
    headers: dict[str, str]
    num_delivered: int
    stream_sequence: int = 0


Handler = Callable[[Message, Delivery], Awaitable[None]]


def dead_letter_id(msg: Msg) -> str | None:
    """One dead letter per stored message, however many consumers or replicas refuse it."""
    if msg.metadata is None:
        return None
    return f"dl:{msg.metadata.stream}:{msg.metadata.sequence.stream}"


async def dead_letter_undecodable(bus: Bus, msg: Msg) -> Message | None:
    """Decode a message read without acks (ordered consumers); dead-letter it if it cannot be."""
    try:
        return decode(msg.data)[1]
    except DecodeError as exc:
        stream = msg.metadata.stream if msg.metadata else None
        try:
            await bus.dead_letter(
                msg.subject,
                msg.data,
                exc.reason,
                headers=dict(msg.headers or {}),
                stream=stream,
                msg_id=dead_letter_id(msg),
            )
        except Exception as publish_error:  # the bus is down; the message stays in its stream
            log.warning("could not dead-letter %s: %s", msg.subject, publish_error)
        return None


def backoff_delay(num_delivered: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff for redeliveries: 0.5 s, 1 s, 2 s, ... capped."""
    return float(min(cap, base * (2 ** max(0, num_delivered - 1))))


@dataclass
class Bus:
    nc: NATS
    js: JetStreamContext
    service: str
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    replicas: int = 1  # stream and KV replicas (3 on a 3-server NATS cluster)
    _consumers: list[Consumer] = field(default_factory=list)

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        service: str,
        tls: ssl.SSLContext | None = None,
        user: str | None = None,
        password: str | None = None,
        connect_timeout: float = 5.0,
    ) -> Bus:
        """Connect to NATS and JetStream; reconnects forever while the process lives."""

        async def on_error(exc: Exception) -> None:
            log.warning("nats error: %s", exc)

        options: dict[str, Any] = {
            "name": service,
            "connect_timeout": connect_timeout,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.5,
            "error_cb": on_error,
        }
        if tls is not None:
            options["tls"] = tls
        if user is not None:
            options["user"] = user
            options["password"] = password
        nc = await nats.connect(url, **options)
        return cls(nc=nc, js=nc.jetstream(timeout=10.0), service=service)

    # -- provisioning ---------------------------------------------------------

    async def provision(self, layout: BusLayout = DEFAULT_LAYOUT) -> None:
        for stream in layout.streams:
            await self.ensure_stream(stream)
        for bucket in layout.buckets:
            await self.ensure_bucket(bucket)

    async def ensure_stream(self, spec: StreamSpec) -> None:
        config = js_api.StreamConfig(
            name=spec.name,
            description=spec.description or None,
            subjects=list(spec.subjects),
            retention=js_api.RetentionPolicy(spec.retention),
            max_age=spec.max_age_seconds or None,
            max_msgs_per_subject=spec.max_msgs_per_subject,
            max_bytes=spec.max_bytes,
            duplicate_window=spec.duplicate_window_seconds,
            storage=js_api.StorageType.FILE,
            allow_direct=True,
            num_replicas=self.replicas,
        )
        try:
            await self.js.add_stream(config)
        except BadRequestError:
            # Exists with another configuration: converge it to the declared one.
            await self.js.update_stream(config)

    async def ensure_bucket(self, spec: KVSpec) -> KeyValue:
        try:
            return await self.js.key_value(spec.bucket)
        except BucketNotFoundError:
            return await self.js.create_key_value(
                bucket=spec.bucket,
                description=spec.description or None,
                ttl=spec.ttl_seconds or None,
                history=spec.history,
                replicas=self.replicas,
            )

    async def kv(self, bucket: str) -> KeyValue:
        return await self.js.key_value(bucket)

    # -- publishing -----------------------------------------------------------

    def _prepare(
        self, subject: str, message: Message, key: str, msg_id: str | None
    ) -> tuple[bytes, dict[str, str]]:
        msg_id = msg_id or uuid.uuid4().hex
        headers: dict[str, str] = {MSG_ID_HEADER: msg_id}
        telemetry.inject_headers(headers)
        envelope = wrap(
            message, key=key, msg_id=msg_id, now=self.clock(), traceparent=headers.get("traceparent")
        )
        metrics.MESSAGES_PUBLISHED.labels(self.service, message.KIND).inc()
        return encode(envelope), headers

    async def publish(
        self,
        subject: str,
        message: Message,
        *,
        key: str,
        msg_id: str | None = None,
        timeout: float | None = None,
    ) -> js_api.PubAck:
        """Publish and wait for JetStream's ack. A duplicate `msg_id` is acked, not stored twice."""
        with telemetry.tracer().start_as_current_span(
            f"publish {message.KIND}", kind=SpanKind.PRODUCER
        ) as span:
            span.set_attribute("messaging.destination.name", subject)
            payload, headers = self._prepare(subject, message, key, msg_id)
            return await self.js.publish(subject, payload, headers=headers, timeout=timeout)

    async def publish_many(
        self, items: Iterable[tuple[str, Message, str, str | None]], *, timeout: float = 10.0
    ) -> list[js_api.PubAck]:
        """Pipeline many publishes (`publish_async`); returns acks in input order.

        Raises TimeoutError if JetStream does not ack them all in `timeout` (a message sent
        just before the server died is never acked): callers retry, and message ids make a
        retry harmless."""
        futures: list[asyncio.Future[js_api.PubAck]] = []
        try:
            for subject, message, key, msg_id in items:
                payload, headers = self._prepare(subject, message, key, msg_id)
                futures.append(
                    await self.js.publish_async(subject, payload, headers=headers, wait_stall=timeout)
                )
            return list(await asyncio.wait_for(asyncio.gather(*futures), timeout=timeout))
        finally:
            for future in futures:
                future.cancel()  # no-op when done; frees nats-py's pending slot otherwise

    async def publish_raw(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> None:
        """Publish bytes as they are (tests and tools use it to inject bad input)."""
        await self.js.publish(subject, payload, headers=headers)

    async def dead_letter(
        self,
        subject: str,
        payload: bytes,
        reason: str,
        *,
        headers: dict[str, str] | None = None,
        stream: str | None = None,
        consumer: str | None = None,
        msg_id: str | None = None,
    ) -> None:
        """Publish a DeadLetter with the reason. `msg_id` (e.g. from the stream sequence) makes
        replicas that all saw the same bad message record it once."""
        letter = DeadLetter(
            subject=subject,
            stream=stream,
            consumer=consumer,
            reason=reason,
            payloadBase64=base64.b64encode(payload).decode(),
            headers={k: v for k, v in (headers or {}).items() if isinstance(v, str)},
        )
        metrics.DEAD_LETTERS.labels(self.service, stream or "", reason.split(":")[0][:40]).inc()
        log.warning("dead-lettered a message from %s: %s", subject, reason)
        await self.publish(dead_letter_subject(subject), letter, key=subject, msg_id=msg_id)

    # -- consuming ------------------------------------------------------------

    def consume(
        self,
        *,
        stream: str,
        durable: str,
        filter_subjects: Sequence[str],
        handler: Handler,
        batch: int = 64,
        max_deliver: int = 8,
        ack_wait: float = 30.0,
        concurrency: int = 1,
    ) -> Consumer:
        """A durable consumer. With `concurrency` > 1, messages on different subjects are
        handled at the same time (up to that many); one subject's stay in order."""
        consumer = Consumer(
            bus=self,
            stream=stream,
            durable=durable,
            filter_subjects=tuple(filter_subjects),
            handler=handler,
            batch=batch,
            max_deliver=max_deliver,
            ack_wait=ack_wait,
            concurrency=concurrency,
        )
        self._consumers.append(consumer)
        return consumer

    async def drain(self) -> None:
        """Stop consumers after their in-flight message, flush publishes, close."""
        await asyncio.gather(*(c.stop() for c in self._consumers), return_exceptions=True)
        if not self.nc.is_closed:
            try:
                await asyncio.wait_for(self.js.publish_async_completed(), timeout=5)
            except TimeoutError:
                log.warning("closing with unacknowledged async publishes")
            await self.nc.drain()

    async def close(self) -> None:
        if not self.nc.is_closed:
            await self.nc.close()


@dataclass
class Consumer:
    bus: Bus
    stream: str
    durable: str
    filter_subjects: tuple[str, ...]
    handler: Handler
    batch: int
    max_deliver: int
    ack_wait: float
    concurrency: int = 1
    _task: asyncio.Task[None] | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self.run(), name=f"consumer {self.durable}")
        return self._task

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.wait({self._task}, timeout=self.ack_wait)

    async def run(self) -> None:
        config = js_api.ConsumerConfig(
            durable_name=self.durable,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliver,
            filter_subject=self.filter_subjects[0] if len(self.filter_subjects) == 1 else None,
            filter_subjects=list(self.filter_subjects) if len(self.filter_subjects) > 1 else None,
            max_ack_pending=max(1000, self.batch * 4),
        )
        while not self._stopping.is_set():
            try:
                await self._ensure_consumer(config)
                sub = await self.bus.js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
                self.ready.set()
                await self._pull(sub)
                await sub.unsubscribe()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection loss, server restart: resubscribe
                if self._stopping.is_set():
                    break
                log.warning("consumer %s: %s; resubscribing", self.durable, exc)
                await asyncio.sleep(1.0)

    async def _ensure_consumer(self, config: js_api.ConsumerConfig) -> None:
        try:
            await self.bus.js.consumer_info(self.stream, self.durable)
        except NotFoundError:
            await self.bus.js.add_consumer(self.stream, config)

    async def _pull(self, sub: JetStreamContext.PullSubscription) -> None:
        while not self._stopping.is_set():
            try:
                msgs = await sub.fetch(self.batch, timeout=1.0)
            except TimeoutError:
                continue
            if self.concurrency <= 1:
                for msg in msgs:
                    await self._process(msg)
            else:
                await self._process_concurrently(msgs)

    async def _process_concurrently(self, msgs: list[Msg]) -> None:
        by_subject: dict[str, list[Msg]] = {}
        for msg in msgs:
            by_subject.setdefault(msg.subject, []).append(msg)
        slots = asyncio.Semaphore(self.concurrency)

        async def in_order(group: list[Msg]) -> None:
            async with slots:
                for msg in group:
                    await self._process(msg)

        # Let every group finish (each acks its own messages) before a failure resubscribes.
        results = await asyncio.gather(*(in_order(g) for g in by_subject.values()), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _process(self, msg: Msg) -> None:
        headers = dict(msg.headers or {})
        delivered = msg.metadata.num_delivered if msg.metadata else 1
        try:
            envelope, message = decode(msg.data)
        except DecodeError as exc:
            await self._dead_letter(msg, headers, exc.reason)
            return
        ctx = telemetry.extract_context(headers)
        with telemetry.tracer().start_as_current_span(
            f"process {message.KIND}", context=ctx, kind=SpanKind.CONSUMER
        ) as span:
            span.set_attribute("messaging.destination.name", msg.subject)
            span.set_attribute("messaging.consumer.group.name", self.durable)
            delivery = Delivery(
                subject=msg.subject,
                envelope=envelope,
                headers=headers,
                num_delivered=delivered,
                stream_sequence=msg.metadata.sequence.stream if msg.metadata else 0,
            )
            try:
                await self.handler(message, delivery)
            except Reject as exc:
                span.set_status(trace.StatusCode.ERROR, exc.reason)
                await self._dead_letter(msg, headers, f"rejected: {exc.reason}")
                return
            except Exception as exc:
                reason = exc.reason if isinstance(exc, Retry) else f"{exc.__class__.__name__}: {exc}"
                span.set_status(trace.StatusCode.ERROR, reason)
                if delivered >= self.max_deliver:
                    await self._dead_letter(msg, headers, f"gave up after {delivered} deliveries: {reason}")
                    return
                if not isinstance(exc, Retry):
                    log.exception("consumer %s: handler failed on %s", self.durable, msg.subject)
                delay = (
                    exc.delay
                    if isinstance(exc, Retry) and exc.delay is not None
                    else backoff_delay(delivered)
                )
                metrics.MESSAGES_RETRIED.labels(self.bus.service, message.KIND).inc()
                await msg.nak(delay=delay)
                return
        metrics.MESSAGES_CONSUMED.labels(self.bus.service, message.KIND).inc()
        await msg.ack()

    async def _dead_letter(self, msg: Msg, headers: dict[str, str], reason: str) -> None:
        await self.bus.dead_letter(
            msg.subject,
            msg.data,
            reason,
            headers=headers,
            stream=self.stream,
            consumer=self.durable,
            msg_id=dead_letter_id(msg),
        )
        await msg.term()
