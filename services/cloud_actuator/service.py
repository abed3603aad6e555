"""The cloud-actuator service: the shell around a CloudProvider.

- Consumes `CloudPlan`s from `plans.cloud.>` (durable `cloud-actuator`, shared by
  replicas), executes them through the provider and publishes a `CloudOutcome` to
  `outcomes.cloud.<key>` for every action, with Karpenter's error kind on failure.
  Launch is idempotent (a claim that has an instance gets it back); terminating a
  gone instance succeeds.
- Publishes the provider's catalog to KV `catalog` (key = provider name) at
  start and whenever it changes (offerings found unavailable, then available again).
- Garbage-collects instances without a NodeClaim while holding the
  `cloud-actuator-gc` lease (see `gc`).

Settings (environment): `BOSUN_CLOUD_PROVIDER` (`sim` | `aws`), `BOSUN_CLOUD_CATALOG`
(a built-in catalog name or a file; default `kwok` for sim, `aws` for aws),
`BOSUN_SIM_LAUNCH_DELAY`, `BOSUN_SIM_UNAVAILABLE`, `BOSUN_GC_INTERVAL`,
`BOSUN_GC_GRACE`, `BOSUN_UNAVAILABLE_TTL`, `BOSUN_CATALOG_REFRESH`,
`BOSUN_CLUSTER_NAME`, `BOSUN_AWS_LAUNCH_TEMPLATE`, `BOSUN_AWS_SUBNETS`,
`BOSUN_AWS_SUBNET_TAG`, and `AWS_ENDPOINT_URL` / `AWS_REGION` for aws.

May import: the standard library, third-party packages, bosun_common and cloud_actuator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Literal

from nats.errors import Error as NatsError
from pydantic import AliasChoices, Field

from bosun_common.bus import Bus, Delivery, Reject, Retry
from bosun_common.catalog import Catalog, load_catalog
from bosun_common.cloud_plans import CloudOutcome, CloudPlan, LaunchInstance, TerminateInstance
from bosun_common.codec import Message
from bosun_common.plan_fence import PlanFence
from bosun_common.service import ServiceContext, ServiceSettings
from bosun_common.streams import CATALOG, PLAN_FENCES, PLANS, cloud_outcome_subject
from cloud_actuator.catalogs import BUILTIN_CATALOGS, builtin_catalog
from cloud_actuator.gc import GarbageCollector
from cloud_actuator.offerings import UnavailableOfferings, UnavailablePatterns
from cloud_actuator.provider import CloudError, CloudProvider, NotFound, OfferingKey, TransientError

log = logging.getLogger("bosun.cloud")

SERVICE = "cloud-actuator"
DURABLE = "cloud-actuator"
PLAN_FILTER = "plans.cloud.>"
GC_LEASE = "cloud-actuator-gc"


class ConfigError(ValueError):
    """The settings do not describe a usable provider."""


class CloudActuatorSettings(ServiceSettings):
    cloud_provider: Literal["sim", "aws"] = "sim"
    cloud_catalog: str = ""
    sim_launch_delay: float = Field(default=0.0, ge=0)
    sim_unavailable: str = ""
    gc_interval: float = Field(default=120.0, gt=0)
    gc_grace: float = Field(default=60.0, ge=0)
    unavailable_ttl: float = Field(default=180.0, ge=0)
    catalog_refresh: float = Field(default=5.0, gt=0)
    actuator_concurrency: int = Field(default=16, ge=1, le=64)
    cluster_name: str = "bosun"
    aws_launch_template: str = "bosun-nodes"
    aws_subnets: str = ""
    aws_subnet_tag: str = ""
    aws_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("AWS_REGION", "AWS_DEFAULT_REGION", "BOSUN_AWS_REGION"),
    )
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=AliasChoices("AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL")
    )


def load_provider_catalog(settings: CloudActuatorSettings) -> Catalog:
    name = settings.cloud_catalog or ("kwok" if settings.cloud_provider == "sim" else "aws")
    if name in BUILTIN_CATALOGS:
        try:
            return builtin_catalog(name)
        except ImportError as exc:
            raise ConfigError(
                f"the built-in catalog {name!r} is not available ({exc}); set BOSUN_CLOUD_CATALOG"
            ) from None
    if not Path(name).is_file():
        raise ConfigError(
            f"BOSUN_CLOUD_CATALOG={name!r} is neither a built-in catalog {BUILTIN_CATALOGS} nor a file"
        )
    return load_catalog(name)


async def open_provider(settings: CloudActuatorSettings, bus: Bus) -> CloudProvider:
    catalog = load_provider_catalog(settings)
    unavailable = UnavailableOfferings(ttl=settings.unavailable_ttl)
    if settings.cloud_provider == "aws":
        from cloud_actuator.providers.aws import AwsProvider, AwsSettings

        aws = AwsProvider(
            catalog,
            AwsSettings(
                region=settings.aws_region,
                endpoint_url=settings.aws_endpoint_url,
                cluster_name=settings.cluster_name,
                launch_template=settings.aws_launch_template,
                subnets=tuple(s.strip() for s in settings.aws_subnets.split(",") if s.strip()),
                subnet_tag=settings.aws_subnet_tag or f"karpenter.sh/discovery={settings.cluster_name}",
            ),
            unavailable=unavailable,
        )
        await aws.start()
        return aws
    from cloud_actuator.providers.sim import SimProvider

    sim = SimProvider(
        bus,
        catalog,
        launch_delay=settings.sim_launch_delay,
        patterns=UnavailablePatterns.parse(settings.sim_unavailable),
        unavailable=unavailable,
    )
    await sim.start()
    return sim


async def execute(provider: CloudProvider, plan: CloudPlan) -> CloudOutcome:
    """Run one plan; every provider error becomes an outcome (TransientError propagates)."""
    action = plan.action
    if isinstance(action, LaunchInstance):
        unavailable: list[OfferingKey] = []
        try:
            instance = await provider.create(action.nodeClaim, unavailable)
        except CloudError as exc:
            extra = getattr(exc, "unavailable", [])
            return CloudOutcome(
                key=plan.key,
                op="launch",
                ok=False,
                reason=exc.reason,
                message=exc.message,
                unavailableOfferings=_unique([*unavailable, *extra]),
            )
        return CloudOutcome(
            key=plan.key,
            op="launch",
            ok=True,
            instance=instance,
            message=f"{instance.providerID}: {instance.instanceType} {instance.capacityType} in {instance.zone}",
            unavailableOfferings=_unique(unavailable),
        )
    assert isinstance(action, TerminateInstance)
    return await _terminate(provider, plan.key, action)


async def _terminate(provider: CloudProvider, key: str, action: TerminateInstance) -> CloudOutcome:
    provider_id = action.providerID
    try:
        if not provider_id:
            found = [i for i in await provider.list() if i.nodeClaim == action.nodeClaim]
            if not found:
                return CloudOutcome(
                    key=key,
                    op="terminate",
                    ok=True,
                    message=f"no instance for NodeClaim {action.nodeClaim!r}",
                )
            provider_id = found[0].providerID
        await provider.delete(provider_id)
    except NotFound:
        return CloudOutcome(key=key, op="terminate", ok=True, message=f"{provider_id} is already gone")
    except CloudError as exc:
        reason = "DeleteError" if exc.reason == "CreateError" else exc.reason
        return CloudOutcome(key=key, op="terminate", ok=False, reason=reason, message=exc.message)
    return CloudOutcome(key=key, op="terminate", ok=True, message=f"terminated {provider_id}")


def _unique(keys: list[OfferingKey]) -> list[tuple[str, str, str]]:
    return sorted(set(keys))


class Handler:
    """The consumer callback: execute, then publish the outcome (deduplicated per plan message).

    One claim's plans run one at a time and in order across replicas (`PlanFence`): a
    launch that a newer plan (its terminate) overtook is skipped, not run late.
    """

    def __init__(self, bus: Bus, provider: CloudProvider, fence: PlanFence, *, max_deliver: int) -> None:
        self.bus = bus
        self.provider = provider
        self.fence = fence
        self.max_deliver = max_deliver

    async def __call__(self, message: Message, delivery: Delivery) -> None:
        if not isinstance(message, CloudPlan):
            raise Reject(f"the cloud-actuator takes CloudPlan messages, not {message.KIND}")
        await self.fence.run_in_turn(
            delivery,
            execute=lambda: self.execute(message, delivery),
            superseded=lambda: CloudOutcome(
                key=message.key,
                op=message.action.op,
                ok=False,
                message="not executed: a newer plan for this claim ran first",
                skipped="superseded",
            ),
            report=lambda outcome: self.bus.publish(
                cloud_outcome_subject(message.key),
                outcome,
                key=message.key,
                msg_id=f"{delivery.envelope.id}.outcome",
            ),
        )

    async def execute(self, message: CloudPlan, delivery: Delivery) -> CloudOutcome:
        try:
            outcome = await execute(self.provider, message)
        except (TransientError, NatsError, TimeoutError) as exc:  # the cloud or the bus is briefly away
            if delivery.num_delivered < self.max_deliver - 1:
                raise Retry(str(exc)) from None
            outcome = CloudOutcome(
                key=message.key,
                op=message.action.op,
                ok=False,
                reason="CreateError" if message.action.op == "launch" else "DeleteError",
                message=f"gave up after {delivery.num_delivered} attempts: {exc}",
            )
        except Exception as exc:  # a bug or an unexpected cloud answer: report it, keep running
            log.exception("cloud plan %s failed", message.key)
            outcome = CloudOutcome(
                key=message.key,
                op=message.action.op,
                ok=False,
                reason="CreateError" if message.action.op == "launch" else "DeleteError",
                message=f"{exc.__class__.__name__}: {exc}",
            )
        log.info(
            "cloud %s %s: %s",
            outcome.op,
            outcome.key,
            "ok" if outcome.ok else f"{outcome.reason}: {outcome.message}",
        )
        return outcome


class CatalogPublisher:
    """Puts the provider's catalog into KV `catalog` when its JSON differs from the last one put."""

    def __init__(self, bus: Bus, provider: CloudProvider) -> None:
        self.bus = bus
        self.provider = provider
        self.last: str | None = None

    async def publish(self) -> bool:
        text = self.provider.catalog().to_json()
        if text == self.last:
            return False
        kv = await self.bus.ensure_bucket(CATALOG)
        await kv.put(self.provider.name, text.encode())
        self.last = text
        return True

    async def run(self, stop: asyncio.Event, every: float) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
            try:
                if await self.publish():
                    log.info("catalog %s republished", self.provider.name)
            except Exception as exc:
                log.warning("catalog publish failed: %s", exc)


async def body(ctx: ServiceContext) -> None:
    settings = ctx.settings
    if not isinstance(settings, CloudActuatorSettings):
        settings = CloudActuatorSettings()
    provider = await open_provider(settings, ctx.bus)
    tasks: list[asyncio.Task[None]] = []
    try:
        publisher = CatalogPublisher(ctx.bus, provider)
        await publisher.publish()
        max_deliver, ack_wait = 8, 60.0
        fence = PlanFence(await ctx.bus.ensure_bucket(PLAN_FENCES), settings.replica_id)
        consumer = ctx.bus.consume(
            stream=PLANS.name,
            durable=DURABLE,
            filter_subjects=[PLAN_FILTER],
            handler=Handler(ctx.bus, provider, fence, max_deliver=max_deliver),
            batch=32,
            max_deliver=max_deliver,
            ack_wait=ack_wait,
            concurrency=settings.actuator_concurrency,
        )
        tasks.append(consumer.start())
        lease = await ctx.lease(GC_LEASE)
        collector = GarbageCollector(
            ctx.bus, provider, interval=settings.gc_interval, grace=settings.gc_grace
        )
        tasks.append(asyncio.create_task(lease.keep(ctx.stop), name="gc lease"))
        tasks.append(asyncio.create_task(collector.run(ctx.stop, lease), name="gc"))
        tasks.append(asyncio.create_task(publisher.run(ctx.stop, settings.catalog_refresh), name="catalog"))
        runner = getattr(provider, "run", None)
        if runner is not None:
            tasks.append(asyncio.create_task(runner(ctx.stop), name=f"{provider.name} runner"))
        await consumer.ready.wait()
        ctx.ready.set()
        log.info("cloud-actuator ready", extra={"fields": {"provider": provider.name}})
        await ctx.stop.wait()
        await asyncio.wait([t for t in tasks if t is not tasks[0]], timeout=5.0)
    finally:
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks[1:], return_exceptions=True)
        await provider.close()
