"""The service runner: config, health and metrics endpoints, graceful shutdown.

`run_service(name, body)` connects the bus, provisions the layout, serves
`/healthz`, `/readyz` and `/metrics`, and runs `body(ctx)`. SIGTERM or SIGINT
sets `ctx.stop`; the runner then drains consumers (in-flight messages finish),
flushes publishes and exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bosun_common import telemetry
from bosun_common.bus import Bus
from bosun_common.lease import Lease
from bosun_common.streams import LEASES

log = logging.getLogger("bosun.service")


class ServiceSettings(BaseSettings):
    """Every service reads these from the environment (`BOSUN_*`, plus `NATS_URL`)."""

    model_config = SettingsConfigDict(env_prefix="BOSUN_", extra="ignore")

    nats_url: str = Field(
        default="nats://127.0.0.1:4222", validation_alias=AliasChoices("NATS_URL", "BOSUN_NATS_URL")
    )
    nats_user: str | None = None
    nats_password: str | None = None
    nats_tls_ca: str | None = None
    nats_tls_cert: str | None = None
    nats_tls_key: str | None = None
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    replica_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    log_level: str = "INFO"
    provision: bool = True
    stream_replicas: int = Field(default=1, ge=1, le=5)

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.nats_tls_ca:
            return None
        context = ssl.create_default_context(cafile=self.nats_tls_ca)
        if self.nats_tls_cert and self.nats_tls_key:
            context.load_cert_chain(self.nats_tls_cert, self.nats_tls_key)
        return context


@dataclass
class ServiceContext:
    name: str
    settings: ServiceSettings
    bus: Bus
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    http_port: int = 0

    async def lease(self, lease_name: str) -> Lease:
        kv = await self.bus.ensure_bucket(LEASES)
        return Lease(kv, lease_name, self.settings.replica_id, LEASES.ttl_seconds, service=self.name)


Body = Callable[[ServiceContext], Coroutine[object, object, None]]


async def serve_http(ctx: ServiceContext) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if ctx.ready.is_set() and ctx.bus.nc.is_connected and not ctx.stop.is_set():
            return web.Response(text="ready")
        return web.Response(status=503, text="not ready")

    async def metrics_handler(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, ctx.settings.http_host, ctx.settings.http_port)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    if sockets:
        ctx.http_port = sockets[0].getsockname()[1]
    return runner


async def run_service_async(name: str, body: Body, settings: ServiceSettings | None = None) -> None:
    settings = settings or ServiceSettings()
    telemetry.setup_logging(settings.log_level)
    telemetry.setup_tracing(name)
    bus = await Bus.connect(
        settings.nats_url,
        service=name,
        tls=settings.tls_context(),
        user=settings.nats_user,
        password=settings.nats_password,
    )
    bus.replicas = settings.stream_replicas
    if settings.provision:
        await bus.provision()
    ctx = ServiceContext(name=name, settings=settings, bus=bus)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, ctx.stop.set)
    runner = await serve_http(ctx)
    log.info("%s started", name, extra={"fields": {"http_port": ctx.http_port, "nats": settings.nats_url}})
    task: asyncio.Task[None] = asyncio.create_task(body(ctx), name=f"{name} body")
    stop_wait = asyncio.create_task(ctx.stop.wait())
    done, _ = await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    if task in done and task.exception() is not None:
        log.error("%s body failed", name, exc_info=task.exception())
    ctx.stop.set()
    log.info("%s stopping: draining consumers", name)
    await bus.drain()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await runner.cleanup()
    log.info("%s stopped", name)
    if task.done() and not task.cancelled() and task.exception() is not None:
        raise SystemExit(1)


def run_service(name: str, body: Body) -> None:
    asyncio.run(run_service_async(name, body))
