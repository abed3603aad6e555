"""The kwok Node a sim instance becomes, the GC decision, and plan execution against a fake provider."""

from __future__ import annotations

import builtins
import datetime as dt
from types import SimpleNamespace

import pytest
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from bosun_common.bus import Delivery, Reject, Retry
from bosun_common.catalog import Catalog
from bosun_common.cloud_plans import CloudOutcome, CloudPlan, Instance, LaunchInstance, TerminateInstance
from bosun_common.codec import Envelope, Message
from bosun_common.karpenter import NodeClaim
from bosun_common.messages import Outcome
from bosun_common.plan_fence import PlanFence
from cloud_actuator.catalogs import builtin_catalog
from cloud_actuator.gc import orphans
from cloud_actuator.provider import (
    InsufficientCapacity,
    NodeClassNotReady,
    NotFound,
    OfferingKey,
    TransientError,
)
from cloud_actuator.providers.kwok_node import kwok_node
from cloud_actuator.service import Handler, execute


def nodeclaim(name: str = "default-abc12") -> NodeClaim:
    return NodeClaim.model_validate(
        {
            "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": "default", "team": "web"}},
            "spec": {
                "requirements": [
                    {
                        "key": "node.kubernetes.io/instance-type",
                        "operator": "In",
                        "values": ["c-2x-arm64-linux"],
                    },
                    {"key": "example.com/tier", "operator": "In", "values": ["gold"]},
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["ignored"]},
                ],
                "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}],
                "startupTaints": [{"key": "example.com/booting", "effect": "NoExecute"}],
                "nodeClassRef": {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": "default"},
            },
        }
    )


def test_kwok_node_shape() -> None:
    catalog = builtin_catalog("kwok")
    instance_type = catalog.by_name()["c-2x-arm64-linux"]
    offering = next(
        o for o in instance_type.offerings if o.zone == "test-zone-b" and o.capacityType == "spot"
    )
    node = kwok_node(nodeclaim(), instance_type, offering, catalog.region)
    assert node == {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": "default-abc12",
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {
                "example.com/tier": "gold",
                "karpenter.kwok.sh/instance-cpu": "2",
                "karpenter.kwok.sh/instance-family": "c",
                "karpenter.kwok.sh/instance-memory": "4096",
                "karpenter.kwok.sh/instance-size": "2x",
                "karpenter.sh/capacity-type": "spot",
                "karpenter.sh/nodepool": "default",
                "kubernetes.io/arch": "arm64",
                "kubernetes.io/hostname": "default-abc12",
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "c-2x-arm64-linux",
                "team": "web",
                "topology.kubernetes.io/region": "test-region",
                "topology.kubernetes.io/zone": "test-zone-b",
            },
        },
        "spec": {
            "providerID": "kwok://default-abc12",
            "taints": [
                {"key": "dedicated", "value": "web", "effect": "NoSchedule"},
                {"key": "example.com/booting", "effect": "NoExecute"},
                {"key": "karpenter.sh/unregistered", "effect": "NoExecute"},
            ],
        },
        "status": {
            "capacity": {"cpu": "2", "ephemeral-storage": "20Gi", "memory": "4Gi", "pods": "32"},
            "allocatable": {"cpu": "2", "ephemeral-storage": "20Gi", "memory": "4Gi", "pods": "32"},
        },
    }


def instance(name: str, launched: str | None, state: str = "running") -> Instance:
    return Instance(
        providerID=f"kwok://{name}",
        nodeClaim=name,
        instanceType="t",
        zone="z",
        capacityType="spot",
        price=0.1,
        launchedAt=launched,
        state=state,  # type: ignore[arg-type]
    )


def test_gc_takes_old_instances_without_a_nodeclaim() -> None:
    now = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    instances = [
        instance("kept", "2027-01-15T07:00:00Z"),
        instance("orphan-old", "2027-01-15T07:58:00Z"),
        instance("orphan-young", "2027-01-15T07:59:30Z"),
        instance("orphan-unknown-age", None),
        instance("gone", "2027-01-15T07:00:00Z", state="terminated"),
    ]
    result = orphans(instances, {"kept"}, now, grace=60)
    assert [i.nodeClaim for i in result] == ["orphan-old", "orphan-unknown-age"]


class FakeProvider:
    """Answers from a script, to test the plan executor alone."""

    name = "fake"

    def __init__(self) -> None:
        self.instances: dict[str, Instance] = {}
        self.error: Exception | None = None
        self.unavailable: list[OfferingKey] = []

    async def create(
        self, nodeclaim: NodeClaim, unavailable: builtins.list[OfferingKey] | None = None
    ) -> Instance:
        if unavailable is not None:
            unavailable.extend(self.unavailable)
        if self.error is not None:
            raise self.error
        return self.instances.setdefault(nodeclaim.name, instance(nodeclaim.name, "2027-01-01T00:00:00Z"))

    async def delete(self, provider_id: str) -> None:
        name = provider_id.removeprefix("kwok://")
        if name not in self.instances:
            raise NotFound(f"{provider_id} not found")
        del self.instances[name]

    async def get(self, provider_id: str) -> Instance:
        return self.instances[provider_id.removeprefix("kwok://")]

    async def list(self) -> builtins.list[Instance]:
        return sorted(self.instances.values(), key=lambda i: i.providerID)

    def catalog(self) -> Catalog:
        return Catalog(name="fake", instanceTypes=[])

    def instance_types(self) -> builtins.list[object]:
        return []

    async def is_drifted(self, nodeclaim: NodeClaim) -> str | None:
        return None

    async def close(self) -> None:
        return None


def launch(name: str) -> CloudPlan:
    return CloudPlan(key=name, action=LaunchInstance(nodeClaim=nodeclaim(name)))


async def test_execute_launch_reports_instance_and_unavailable_offerings() -> None:
    provider = FakeProvider()
    provider.unavailable = [("z", "spot", "b"), ("z", "spot", "a"), ("z", "spot", "a")]
    outcome = await execute(provider, launch("n1"))  # type: ignore[arg-type]
    assert outcome.ok and outcome.op == "launch" and outcome.instance is not None
    assert outcome.instance.providerID == "kwok://n1"
    assert outcome.unavailableOfferings == [("z", "spot", "a"), ("z", "spot", "b")]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (InsufficientCapacity("no capacity", [("z", "spot", "a")]), "InsufficientCapacity"),
        (NodeClassNotReady("no such class"), "NodeClassNotReady"),
    ],
)
async def test_execute_launch_errors_become_outcomes(error: Exception, reason: str) -> None:
    provider = FakeProvider()
    provider.error = error
    outcome = await execute(provider, launch("n2"))  # type: ignore[arg-type]
    assert not outcome.ok and outcome.reason == reason and outcome.message == str(error)
    if reason == "InsufficientCapacity":
        assert outcome.unavailableOfferings == [("z", "spot", "a")]


async def test_execute_terminate_is_idempotent() -> None:
    provider = FakeProvider()
    await execute(provider, launch("n3"))  # type: ignore[arg-type]
    plan = CloudPlan(key="n3", action=TerminateInstance(nodeClaim="n3", providerID="kwok://n3"))
    first = await execute(provider, plan)  # type: ignore[arg-type]
    again = await execute(provider, plan)  # type: ignore[arg-type]
    assert first.ok and first.message == "terminated kwok://n3"
    assert again.ok and again.message == "kwok://n3 is already gone"
    unknown = CloudPlan(key="n4", action=TerminateInstance(nodeClaim="n4", providerID=""))
    assert (await execute(provider, unknown)).ok  # type: ignore[arg-type]


class RecordingBus:
    def __init__(self) -> None:
        self.published: list[tuple[str, Message, str, str | None]] = []

    async def publish(self, subject: str, message: Message, *, key: str, msg_id: str | None = None) -> None:
        self.published.append((subject, message, key, msg_id))


class MemoryKV:
    """Just what PlanFence uses of a KV bucket, in memory (revisions and compare-and-set)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[bytes, int]] = {}
        self.revision = 0

    async def get(self, key: str) -> SimpleNamespace:
        if key not in self.entries:
            raise KeyNotFoundError
        value, revision = self.entries[key]
        return SimpleNamespace(value=value, revision=revision)

    async def create(self, key: str, value: bytes) -> int:
        return await self.update(key, value, last=None)

    async def update(self, key: str, value: bytes, last: int | None) -> int:
        if (self.entries[key][1] if key in self.entries else None) != last:
            raise KeyWrongLastSequenceError
        self.revision += 1
        self.entries[key] = (value, self.revision)
        return self.revision


def fence() -> PlanFence:
    return PlanFence(MemoryKV(), "replica-a")  # type: ignore[arg-type]


def delivery(num_delivered: int, sequence: int = 1) -> Delivery:
    envelope = Envelope(v=1, kind="CloudPlan", key="n5", time=dt.datetime(2027, 1, 1, tzinfo=dt.UTC), id="m1")
    return Delivery(
        subject="plans.cloud.n5",
        envelope=envelope,
        headers={},
        num_delivered=num_delivered,
        stream_sequence=sequence,
    )


async def test_handler_retries_transient_errors_then_reports_them() -> None:
    provider = FakeProvider()
    provider.error = TransientError("RequestLimitExceeded")
    bus = RecordingBus()
    handler = Handler(bus, provider, fence(), max_deliver=3)  # type: ignore[arg-type]
    with pytest.raises(Retry):
        await handler(launch("n5"), delivery(1))
    assert bus.published == []
    await handler(launch("n5"), delivery(2))  # the last delivery before the bus gives up
    [(subject, outcome, key, msg_id)] = bus.published
    assert (subject, key, msg_id) == ("outcomes.cloud.n5", "n5", "m1.outcome")
    assert isinstance(outcome, CloudOutcome) and not outcome.ok and outcome.reason == "CreateError"
    assert outcome.message == "gave up after 2 attempts: RequestLimitExceeded"


async def test_handler_reports_unexpected_errors_and_rejects_other_messages() -> None:
    provider = FakeProvider()
    provider.error = KeyError("boom")
    bus = RecordingBus()
    handler = Handler(bus, provider, fence(), max_deliver=3)  # type: ignore[arg-type]
    await handler(launch("n5"), delivery(1))
    outcome = bus.published[0][1]
    assert (
        isinstance(outcome, CloudOutcome)
        and outcome.reason == "CreateError"
        and outcome.message == "KeyError: 'boom'"
    )
    with pytest.raises(Reject, match="not Outcome"):
        await handler(Outcome(planKey="k", planId="p", actor="a", ok=True), delivery(1))


async def test_handler_skips_a_plan_that_a_newer_one_overtook() -> None:
    """A launch (sequence 1) that arrives after its claim's terminate (sequence 2) ran is not executed."""
    provider = FakeProvider()
    bus = RecordingBus()
    handler = Handler(bus, provider, fence(), max_deliver=3)  # type: ignore[arg-type]
    terminate = CloudPlan(key="n5", action=TerminateInstance(nodeClaim="n5", providerID="kwok://n5"))
    await handler(terminate, delivery(1, sequence=2))
    await handler(launch("n5"), delivery(1, sequence=1))
    await handler(terminate, delivery(2, sequence=2))  # redelivered after it finished: nothing again
    assert provider.instances == {}
    [(_, terminated, _, _), (_, skipped, _, _)] = bus.published
    assert isinstance(terminated, CloudOutcome) and terminated.ok and not terminated.skipped
    assert isinstance(skipped, CloudOutcome) and skipped.op == "launch" and skipped.skipped == "superseded"
