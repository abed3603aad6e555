"""The `sim` provider: instances that join the cluster as kwok Nodes.

Instances live in a JetStream KV bucket (`sim-instances`, key = NodeClaim
name), so a restarted or second replica sees them. `create` picks the cheapest
available compatible offering (see `offerings`), skipping offerings that match
an injected insufficient-capacity pattern (they are reported and remembered as
unavailable, like an EC2 fleet error); the instance "joins" by a KubePlan that
server-side applies its kwok Node (field manager `cloud-actuator`), at once or
after the launch delay. `delete` publishes a KubePlan deleting the Node and
drops the record.

May import: the standard library, third-party packages, bosun_common and cloud_actuator.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import datetime as dt
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ValidationError

from bosun_common.bus import Bus
from bosun_common.catalog import Catalog, InstanceType, format_resource_list
from bosun_common.cloud_plans import Instance
from bosun_common.karpenter import NodeClaim
from bosun_common.kube_plans import ApplyObject, DeleteObject, KubePlan, ObjectRef
from bosun_common.messages import KubePlanMessage
from bosun_common.streams import KVSpec, k8s_plan_subject
from cloud_actuator.offerings import (
    RequestError,
    UnavailableOfferings,
    UnavailablePatterns,
    compatible_offerings,
)
from cloud_actuator.provider import (
    InsufficientCapacity,
    InvalidRequest,
    NodeClassNotReady,
    NotFound,
    OfferingKey,
)
from cloud_actuator.providers.kwok_node import PROVIDER_ID_PREFIX, kwok_node, node_labels, provider_id

log = logging.getLogger("bosun.cloud.sim")

FIELD_MANAGER = "cloud-actuator"
PLANNER = "cloud-actuator"
SIM_BUCKET = KVSpec(bucket="sim-instances", description="instances of the sim cloud provider")
# The node class a sim NodePool points at (Karpenter's KWOK provider's group); any name.
NODE_CLASS_GROUPS = frozenset({"karpenter.kwok.sh"})
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class SimRecord(BaseModel):
    """What the sim cloud stores per instance."""

    uid: str
    instance: Instance
    node: dict[str, Any]
    joinAt: float
    joined: bool = False


def check_name(name: str) -> None:
    if not name or len(name) > 253 or not _NAME.match(name):
        raise InvalidRequest(f"NodeClaim name {name!r} is not a valid Node name (DNS-1123 subdomain)")


def name_from_provider_id(provider_id_: str) -> str:
    if not provider_id_.startswith(PROVIDER_ID_PREFIX):
        raise InvalidRequest(f"providerID {provider_id_!r} is not a sim instance (expected kwok://<name>)")
    return provider_id_[len(PROVIDER_ID_PREFIX) :]


def iso(seconds: float) -> str:
    """RFC 3339 with milliseconds, in UTC."""
    return (
        dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class SimProvider:
    """The default provider. `start()` before use; `run(stop)` joins delayed instances."""

    name = "sim"

    def __init__(
        self,
        bus: Bus,
        catalog: Catalog,
        *,
        launch_delay: float = 0.0,
        patterns: UnavailablePatterns | None = None,
        unavailable: UnavailableOfferings | None = None,
        bucket: KVSpec = SIM_BUCKET,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.base_catalog = catalog
        self.launch_delay = launch_delay
        self.patterns = patterns or UnavailablePatterns()
        self.unavailable = unavailable or UnavailableOfferings()
        self.bucket = bucket
        self.clock = clock
        self._kv: KeyValue | None = None
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._pending: dict[str, float] = {}

    async def start(self) -> None:
        self._kv = await self.bus.ensure_bucket(self.bucket)

    @property
    def kv(self) -> KeyValue:
        if self._kv is None:
            raise RuntimeError("SimProvider.start() was not called")
        return self._kv

    async def close(self) -> None:
        return None

    # -- catalog ----------------------------------------------------------------

    def catalog(self) -> Catalog:
        return self.unavailable.apply(self.base_catalog)

    def instance_types(self) -> builtins.list[InstanceType]:
        return self.catalog().instanceTypes

    # -- records ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked(self, name: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(name, (asyncio.Lock(), 0))
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users <= 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)

    async def _load(self, name: str) -> tuple[SimRecord, int] | None:
        try:
            entry = await self.kv.get(name)
        except KeyNotFoundError:
            return None
        if not entry.value or entry.revision is None:
            return None
        return SimRecord.model_validate_json(entry.value), entry.revision

    async def records(self) -> builtins.list[SimRecord]:
        """Every record, read in one pass over the bucket, ordered by name."""
        watcher = await self.kv.watchall(ignore_deletes=True)
        found: dict[str, SimRecord] = {}
        try:
            async for entry in watcher:
                if entry is None:  # the initial values are done
                    break
                if entry.value and entry.operation is None:
                    try:
                        found[entry.key] = SimRecord.model_validate_json(entry.value)
                    except ValidationError as exc:  # not ours to fix: leave it, say so
                        log.warning("sim: record %s is unreadable: %s", entry.key, exc.errors()[0]["msg"])
        finally:
            await watcher.stop()
        return [found[name] for name in sorted(found)]

    # -- the CloudProvider interface ---------------------------------------------

    async def create(
        self, nodeclaim: NodeClaim, unavailable: builtins.list[OfferingKey] | None = None
    ) -> Instance:
        name = nodeclaim.name
        check_name(name)
        async with self._locked(name):
            existing = await self._load(name)
            if existing is not None:
                record, revision = existing
                if not record.joined and record.joinAt <= self.clock():
                    await self._join(record, revision)
                return record.instance
            record = self._launch(nodeclaim, unavailable)
            try:
                revision = await self.kv.create(name, record.model_dump_json().encode())
            except KeyWrongLastSequenceError:  # another replica launched it meanwhile
                again = await self._load(name)
                if again is None:
                    raise
                return again[0].instance
            if record.joinAt <= self.clock():
                await self._join(record, revision)
            else:
                self._pending[name] = record.joinAt
            return record.instance

    def _launch(self, nodeclaim: NodeClaim, unavailable: list[OfferingKey] | None) -> SimRecord:
        ref = nodeclaim.spec.nodeClassRef
        if ref is not None and ref.group not in NODE_CLASS_GROUPS:
            raise NodeClassNotReady(
                f"nodeClassRef {ref.group}/{ref.kind}/{ref.name} is not a sim node class "
                f"(use group {', '.join(sorted(NODE_CLASS_GROUPS))})"
            )
        catalog = self.catalog()
        try:
            candidates = compatible_offerings(nodeclaim, catalog)
        except RequestError as exc:
            raise InvalidRequest(str(exc)) from None
        if not candidates:
            known = compatible_offerings(nodeclaim, catalog, include_unavailable=True)
            if known:
                keys = [c.key for c in known]
                if unavailable is not None:
                    unavailable.extend(keys)
                raise InsufficientCapacity(
                    f"all {len(known)} compatible offerings are marked unavailable", keys
                )
            raise InsufficientCapacity(
                "no instance type offering satisfies the NodeClaim's requirements and resource requests"
            )
        failed: list[OfferingKey] = []
        chosen = None
        for candidate in candidates:
            it, offering = candidate.instance_type, candidate.offering
            if self.patterns.matches(it.name, offering.zone, offering.capacityType):
                failed.append(candidate.key)
                self.unavailable.mark(candidate.key)
                continue
            chosen = candidate
            break
        if unavailable is not None:
            unavailable.extend(failed)
        if chosen is None:
            raise InsufficientCapacity(
                f"insufficient capacity in all {len(candidates)} compatible offerings", failed
            )
        it, offering = chosen.instance_type, chosen.offering
        now = self.clock()
        node = kwok_node(nodeclaim, it, offering, catalog.region)
        instance = Instance(
            providerID=provider_id(nodeclaim.name),
            nodeClaim=nodeclaim.name,
            nodePool=nodeclaim.nodepool,
            instanceType=it.name,
            zone=offering.zone,
            capacityType=offering.capacityType,
            price=offering.price,
            labels=node_labels(nodeclaim, it, offering, catalog.region),
            capacity=format_resource_list(it.capacity_milli()),
            allocatable=format_resource_list(it.allocatable()),
            state="pending",
            launchedAt=iso(now),
        )
        return SimRecord(uid=uuid.uuid4().hex, instance=instance, node=node, joinAt=now + self.launch_delay)

    async def _join(self, record: SimRecord, revision: int) -> None:
        """Publish the Node's apply plan, then mark the record joined (a crash in between re-joins)."""
        name = record.instance.nodeClaim
        plan = KubePlan(
            key=name,
            planner=PLANNER,
            reason=f"sim instance {record.instance.providerID} joins as a kwok Node",
            actions=[ApplyObject(object=record.node, fieldManager=FIELD_MANAGER)],
        )
        await self.bus.publish(
            k8s_plan_subject(PLANNER, name),
            KubePlanMessage(plan=plan),
            key=name,
            msg_id=f"sim-join-{record.uid}",
        )
        record.joined = True
        record.instance.state = "running"
        with contextlib.suppress(KeyWrongLastSequenceError):
            await self.kv.update(name, record.model_dump_json().encode(), last=revision)
        self._pending.pop(name, None)

    async def delete(self, provider_id_: str) -> None:
        name = name_from_provider_id(provider_id_)
        async with self._locked(name):
            loaded = await self._load(name)
            if loaded is None:
                raise NotFound(f"sim instance {provider_id_} not found")
            record, _ = loaded
            plan = KubePlan(
                key=name,
                planner=PLANNER,
                reason=f"sim instance {provider_id_} terminated",
                actions=[DeleteObject(ref=ObjectRef(apiVersion="v1", kind="Node", name=name))],
            )
            await self.bus.publish(
                k8s_plan_subject(PLANNER, name),
                KubePlanMessage(plan=plan),
                key=name,
                msg_id=f"sim-delete-{record.uid}",
            )
            await self.kv.delete(name)
            self._pending.pop(name, None)

    async def get(self, provider_id_: str) -> Instance:
        loaded = await self._load(name_from_provider_id(provider_id_))
        if loaded is None:
            raise NotFound(f"sim instance {provider_id_} not found")
        return loaded[0].instance

    async def list(self) -> builtins.list[Instance]:
        return sorted((r.instance for r in await self.records()), key=lambda i: i.providerID)

    async def is_drifted(self, nodeclaim: NodeClaim) -> str | None:
        loaded = await self._load(nodeclaim.name)
        if loaded is None:
            return None
        if loaded[0].instance.instanceType not in self.base_catalog.by_name():
            return "InstanceTypeNotFound"
        return None

    # -- delayed joins -------------------------------------------------------------

    async def run(self, stop: asyncio.Event, *, tick: float = 0.2, sweep_every: float = 10.0) -> None:
        """Join delayed instances when due; sweep the bucket for joins a dead replica left undone."""
        last_sweep = 0.0
        while not stop.is_set():
            now = self.clock()
            for name in [n for n, due in sorted(self._pending.items()) if due <= now]:
                await self._join_if_due(name)
            if now - last_sweep >= sweep_every:
                last_sweep = now
                try:
                    records = await self.records()
                except Exception as exc:  # the bus is briefly away: sweep again later
                    log.warning("sim: sweeping %s failed: %s", self.bucket.bucket, exc)
                    records = []
                for record in records:
                    # Another replica's launch (or a previous life's): join it if it is still
                    # not joined well past its time, which means that replica is gone.
                    name = record.instance.nodeClaim
                    if not record.joined and name not in self._pending:
                        self._pending[name] = record.joinAt + max(5.0, self.launch_delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=tick)

    async def _join_if_due(self, name: str) -> None:
        try:
            async with self._locked(name):
                loaded = await self._load(name)
                if loaded is None:
                    self._pending.pop(name, None)
                    return
                record, revision = loaded
                if record.joined:
                    self._pending.pop(name, None)
                elif record.joinAt <= self.clock():
                    await self._join(record, revision)
        except Exception as exc:  # the bus is briefly away: the next tick retries
            log.warning("sim: joining %s failed: %s", name, exc)
