"""The cloud-actuator as a real process (`python -m cloud_actuator`) on the session's NATS.

Plans go in on `plans.cloud.<key>`; the tests watch outcomes and the kwok Node
KubePlans with plain NATS subscriptions (they see every publish, whoever
consumes the work queue), and clean their KubePlans and sim instances up so
that nothing leaks into other tests sharing the session.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiobotocore.session import get_session
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import BucketNotFoundError, KeyNotFoundError

from bosun_common.bus import Bus
from bosun_common.catalog import Catalog, InstanceType, Offering
from bosun_common.cloud_plans import CloudOutcome, CloudPlan, LaunchInstance, TerminateInstance
from bosun_common.codec import Message, decode
from bosun_common.karpenter import NodeClaim
from bosun_common.kube import KubeClient, KubeError
from bosun_common.kube_plans import ApplyObject, DeleteObject
from bosun_common.messages import DeadLetter, KubePlanMessage, ObjectState
from bosun_common.streams import (
    PLANS,
    cloud_outcome_subject,
    cloud_plan_subject,
    k8s_plan_subject,
    object_subject,
)
from bosun_devstack.procs import free_port
from bosun_devstack.stack import LocalStack
from cloud_actuator.catalogs import builtin_catalog
from cloud_actuator.gc import GarbageCollector
from cloud_actuator.provider import InsufficientCapacity, InvalidRequest, NodeClassNotReady, NotFound
from cloud_actuator.providers.aws import AwsProvider, AwsSettings

SIM_BUCKET = "sim-instances"


def spawn_actuator(
    nats_url: str, port: int, env: dict[str, str], module: str = "cloud_actuator"
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module],
        env={
            **os.environ,
            "NATS_URL": nats_url,
            "BOSUN_HTTP_PORT": str(port),
            "BOSUN_HTTP_HOST": "127.0.0.1",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


async def wait_ready(proc: subprocess.Popen[str], port: int) -> None:
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "exited"
            with suppress(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)


@asynccontextmanager
async def actuator(
    nats_url: str, module: str = "cloud_actuator", **env: str
) -> AsyncIterator[subprocess.Popen[str]]:
    """`python -m <module>` until the block ends (SIGTERM, so the GC lease is released)."""
    port = free_port()
    proc = spawn_actuator(nats_url, port, env, module)
    try:
        await wait_ready(proc, port)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.to_thread(proc.wait, 20)
        finally:
            proc.kill()
        assert code == 0, proc.stderr.read() if proc.stderr else code


class Watch:
    """Every message published on a subject (plain NATS), decoded."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, Message]] = asyncio.Queue()
        self.sub: Subscription | None = None

    async def start(self, bus: Bus, subject: str, last_token_prefix: str = "") -> Watch:
        async def on_msg(msg: Msg) -> None:
            if msg.subject.rsplit(".", 1)[-1].startswith(last_token_prefix):
                await self.queue.put((msg.subject, decode(msg.data)[1]))

        self.sub = await bus.nc.subscribe(subject, cb=on_msg)
        await bus.nc.flush()
        return self

    async def next(self, timeout: float = 15.0) -> Message:
        return (await asyncio.wait_for(self.queue.get(), timeout))[1]

    async def nothing(self, seconds: float = 1.0) -> bool:
        await asyncio.sleep(seconds)
        return self.queue.empty()

    async def stop(self) -> None:
        if self.sub is not None:
            await self.sub.unsubscribe()


@pytest.fixture
async def cleanup(bus: Bus) -> AsyncIterator[list[str]]:
    """NodeClaim names a test used: their KubePlans and sim instances are removed afterwards."""
    names: list[str] = []
    yield names
    try:
        kv = await bus.js.key_value(SIM_BUCKET)
    except BucketNotFoundError:  # no actuator ever started
        return
    for name in names:
        with suppress(Exception):
            await bus.js.purge_stream(PLANS.name, subject=k8s_plan_subject("cloud-actuator", name))
        with suppress(KeyNotFoundError):
            await kv.purge(name)


def nodeclaim(name: str, *requirements: dict[str, Any], **spec: Any) -> NodeClaim:
    return NodeClaim.model_validate(
        {
            "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": "pool-a"}},
            "spec": {
                "requirements": list(requirements),
                "nodeClassRef": {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": "default"},
                **spec,
            },
        }
    )


def types(*names: str) -> dict[str, Any]:
    return {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(names)}


def zones(*names: str) -> dict[str, Any]:
    return {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(names)}


def capacity_types(*names: str) -> dict[str, Any]:
    return {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(names)}


async def launch(bus: Bus, claim: NodeClaim) -> None:
    await bus.publish(
        cloud_plan_subject(claim.name),
        CloudPlan(key=claim.name, action=LaunchInstance(nodeClaim=claim)),
        key=claim.name,
    )


async def terminate(bus: Bus, name: str, provider_id: str) -> None:
    await bus.publish(
        cloud_plan_subject(name),
        CloudPlan(key=name, action=TerminateInstance(nodeClaim=name, providerID=provider_id)),
        key=name,
    )


async def watches(bus: Bus, name: str) -> tuple[Watch, Watch]:
    outcomes = await Watch().start(bus, cloud_outcome_subject(name))
    plans = await Watch().start(bus, k8s_plan_subject("cloud-actuator", name))
    return outcomes, plans


async def outcome_of(watch: Watch, timeout: float = 15.0) -> CloudOutcome:
    message = await watch.next(timeout)
    assert isinstance(message, CloudOutcome)
    return message


async def kube_plan_of(watch: Watch, timeout: float = 15.0) -> KubePlanMessage:
    message = await watch.next(timeout)
    assert isinstance(message, KubePlanMessage)
    return message


async def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.2)


async def test_launch_relaunch_terminate_through_the_service(
    bus: Bus, nats_url: str, unique: str, cleanup: list[str]
) -> None:
    name = f"pool-a-{unique}"
    cleanup.append(name)
    claim = nodeclaim(
        name,
        types("c-2x-amd64-linux", "c-4x-amd64-linux", "m-2x-amd64-linux"),
        zones("test-zone-b", "test-zone-c"),
        capacity_types("spot", "on-demand"),
        {"key": "team", "operator": "In", "values": ["web"]},
        resources={"requests": {"cpu": "1500m", "memory": "1Gi"}},
        taints=[{"key": "dedicated", "value": "web", "effect": "NoSchedule"}],
    )
    outcomes, plans = await watches(bus, name)
    async with actuator(nats_url):
        started = time.monotonic()
        await launch(bus, claim)
        outcome = await outcome_of(outcomes)
        latency = time.monotonic() - started
        assert outcome.ok and outcome.op == "launch" and outcome.key == name and outcome.reason is None
        instance = outcome.instance
        assert instance is not None
        # The cheapest: c-2x (2 vCPU, 4 GiB) spot, 0.7 x (0.05 + 0.004); zone b before c on a tie.
        assert (instance.providerID, instance.instanceType, instance.zone, instance.capacityType) == (
            f"kwok://{name}",
            "c-2x-amd64-linux",
            "test-zone-b",
            "spot",
        )
        assert instance.price == pytest.approx(0.0378)
        assert instance.nodeClaim == name and instance.nodePool == "pool-a" and instance.state == "running"
        assert outcome.unavailableOfferings == []

        plan = (await kube_plan_of(plans)).plan
        assert (plan.key, plan.planner) == (name, "cloud-actuator")
        assert len(plan.actions) == 1 and isinstance(plan.actions[0], ApplyObject)
        assert plan.actions[0].fieldManager == "cloud-actuator"
        assert plan.actions[0].object == {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": name,
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {
                    "karpenter.kwok.sh/instance-cpu": "2",
                    "karpenter.kwok.sh/instance-family": "c",
                    "karpenter.kwok.sh/instance-memory": "4096",
                    "karpenter.kwok.sh/instance-size": "2x",
                    "karpenter.sh/capacity-type": "spot",
                    "karpenter.sh/nodepool": "pool-a",
                    "kubernetes.io/arch": "amd64",
                    "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux",
                    "node.kubernetes.io/instance-type": "c-2x-amd64-linux",
                    "team": "web",
                    "topology.kubernetes.io/region": "test-region",
                    "topology.kubernetes.io/zone": "test-zone-b",
                },
            },
            "spec": {
                "providerID": f"kwok://{name}",
                "taints": [
                    {"key": "dedicated", "value": "web", "effect": "NoSchedule"},
                    {"key": "karpenter.sh/unregistered", "effect": "NoExecute"},
                ],
            },
            "status": {
                "capacity": {"cpu": "2", "ephemeral-storage": "20Gi", "memory": "4Gi", "pods": "32"},
                "allocatable": {"cpu": "2", "ephemeral-storage": "20Gi", "memory": "4Gi", "pods": "32"},
            },
        }
        assert instance.labels == plan.actions[0].object["metadata"]["labels"]

        # The catalog is in KV under the provider's name.
        entry = await (await bus.js.key_value("catalog")).get("sim")
        assert entry.value is not None
        catalog = Catalog.model_validate_json(entry.value)
        assert catalog.name == "kwok" and len(catalog.instanceTypes) == 144

        # Launching again returns the same instance and does not join it again.
        await launch(bus, claim)
        again = await outcome_of(outcomes)
        assert again.ok and again.instance == instance
        assert await plans.nothing(1.0)

        # Terminate: the Node goes through a KubePlan; terminating again succeeds.
        await terminate(bus, name, instance.providerID)
        gone = await outcome_of(outcomes)
        assert gone.ok and gone.op == "terminate" and gone.message == f"terminated kwok://{name}"
        delete = (await kube_plan_of(plans)).plan
        assert len(delete.actions) == 1 and isinstance(delete.actions[0], DeleteObject)
        assert delete.actions[0].ref.model_dump(exclude_none=True) == {
            "apiVersion": "v1",
            "kind": "Node",
            "name": name,
        }
        await terminate(bus, name, instance.providerID)
        twice = await outcome_of(outcomes)
        assert twice.ok and twice.message == f"kwok://{name} is already gone"
    print(f"launch outcome after {latency * 1000:.0f} ms")
    await outcomes.stop()
    await plans.stop()


async def test_insufficient_capacity_fallback_errors_and_bad_input(
    bus: Bus, nats_url: str, unique: str, cleanup: list[str]
) -> None:
    first, second, bad_class, bad_request = (f"{k}-{unique}" for k in ("ice-a", "ice-b", "ice-c", "ice-d"))
    cleanup.extend([first, second, bad_class, bad_request])
    env = {
        "BOSUN_SIM_UNAVAILABLE": "c-2x-amd64-linux:test-zone-b:spot,c-2x-amd64-linux:*:on-demand",
        "BOSUN_CATALOG_REFRESH": "0.3",
    }
    async with actuator(nats_url, **env):
        # Spot in zone b has no capacity: the same type's spot in zone c is next.
        outcomes, _ = await watches(bus, first)
        await launch(bus, nodeclaim(first, types("c-2x-amd64-linux"), zones("test-zone-b", "test-zone-c")))
        outcome = await outcome_of(outcomes)
        assert outcome.ok and outcome.instance is not None
        assert (outcome.instance.zone, outcome.instance.capacityType) == ("test-zone-c", "spot")
        assert outcome.unavailableOfferings == [("test-zone-b", "spot", "c-2x-amd64-linux")]

        # The catalog in KV now says so.
        kv = await bus.js.key_value("catalog")

        async def flagged() -> bool:
            entry = await kv.get("sim")
            assert entry.value is not None
            offerings = Catalog.model_validate_json(entry.value).by_name()["c-2x-amd64-linux"].offerings
            return any(
                o.zone == "test-zone-b" and o.capacityType == "spot" and not o.available for o in offerings
            )

        assert await wait_for(flagged)

        # Zone b only: spot b is known unavailable, on-demand b fails: InsufficientCapacity.
        outcomes, plans = await watches(bus, second)
        await launch(bus, nodeclaim(second, types("c-2x-amd64-linux"), zones("test-zone-b")))
        failed = await outcome_of(outcomes)
        assert not failed.ok and failed.reason == "InsufficientCapacity" and failed.instance is None
        assert failed.message == "insufficient capacity in all 1 compatible offerings"
        assert failed.unavailableOfferings == [("test-zone-b", "on-demand", "c-2x-amd64-linux")]
        assert await plans.nothing(0.5)

        # Not a sim node class.
        outcomes, _ = await watches(bus, bad_class)
        claim = nodeclaim(bad_class).model_copy(deep=True)
        claim.spec.nodeClassRef = claim.spec.nodeClassRef.model_copy(  # type: ignore[union-attr]
            update={"group": "karpenter.k8s.aws", "kind": "EC2NodeClass"}
        )
        await launch(bus, claim)
        wrong = await outcome_of(outcomes)
        assert not wrong.ok and wrong.reason == "NodeClassNotReady"
        assert "karpenter.k8s.aws/EC2NodeClass/default is not a sim node class" in wrong.message

        # A request that is not a quantity, and a name that cannot be a Node.
        outcomes, _ = await watches(bus, bad_request)
        await launch(bus, nodeclaim(bad_request, resources={"requests": {"cpu": "lots"}}))
        invalid = await outcome_of(outcomes)
        assert (
            not invalid.ok
            and invalid.reason == "InvalidRequest"
            and "not a quantity: 'lots'" in invalid.message
        )
        odd = "Not_A_Node"
        outcomes_odd, _ = await watches(bus, odd)
        await launch(bus, nodeclaim(odd))
        invalid_name = await outcome_of(outcomes_odd)
        assert invalid_name.reason == "InvalidRequest" and "not a valid Node name" in invalid_name.message

        # Bytes that are no message are dead-lettered; the service keeps working.
        letters = await Watch().start(bus, f"deadletter.{cloud_plan_subject(bad_request)}")
        await bus.publish_raw(cloud_plan_subject(bad_request), b"\x00 not msgpack")
        letter = await letters.next()
        assert isinstance(letter, DeadLetter) and letter.reason.startswith("not msgpack")
        await launch(bus, nodeclaim(bad_request, types("c-1x-amd64-linux")))
        recovered = await outcome_of(outcomes)
        assert recovered.ok and recovered.instance is not None
        assert recovered.instance.instanceType == "c-1x-amd64-linux"


async def test_launch_delay_joins_later(bus: Bus, nats_url: str, unique: str, cleanup: list[str]) -> None:
    name = f"slow-{unique}"
    cleanup.append(name)
    outcomes, plans = await watches(bus, name)
    async with actuator(nats_url, BOSUN_SIM_LAUNCH_DELAY="1.5"):
        started = time.monotonic()
        await launch(bus, nodeclaim(name, types("s-1x-arm64-linux")))
        outcome = await outcome_of(outcomes)
        assert outcome.ok and outcome.instance is not None and outcome.instance.state == "pending"
        assert time.monotonic() - started < 1.5
        plan = (await kube_plan_of(plans)).plan
        joined_after = time.monotonic() - started
        assert joined_after >= 1.5
        assert isinstance(plan.actions[0], ApplyObject) and plan.actions[0].object["metadata"]["name"] == name
        # The record says running now.
        await launch(bus, nodeclaim(name, types("s-1x-arm64-linux")))
        again = await outcome_of(outcomes)
        assert again.instance is not None and again.instance.state == "running"
    print(f"delayed join after {joined_after:.2f} s")


async def test_gc_terminates_instances_without_a_nodeclaim(
    bus: Bus, nats_url: str, unique: str, cleanup: list[str]
) -> None:
    kept, orphan, tombstoned = (f"{k}-{unique}" for k in ("kept", "orphan", "tomb"))
    cleanup.extend([kept, orphan, tombstoned])

    async def state(name: str, deleted: bool) -> None:
        subject = object_subject("state", "karpenter.sh/v1", "NodeClaim", None, name)
        message = ObjectState(
            apiVersion="karpenter.sh/v1",
            kind="NodeClaim",
            name=name,
            deleted=deleted,
            object={"metadata": {"name": name}},
        )
        await bus.publish(subject, message, key=name)

    await state(kept, deleted=False)
    await state(tombstoned, deleted=False)
    await state(tombstoned, deleted=True)
    watched = {name: await watches(bus, name) for name in (kept, orphan, tombstoned)}
    env = {"BOSUN_GC_INTERVAL": "1", "BOSUN_GC_GRACE": "2"}
    async with actuator(nats_url, **env):
        started = time.monotonic()
        for name in (kept, orphan, tombstoned):
            await launch(bus, nodeclaim(name, types("c-1x-amd64-linux")))
            launched = await outcome_of(watched[name][0])
            assert launched.ok
            await kube_plan_of(watched[name][1])
        for name in (orphan, tombstoned):
            collected = await outcome_of(watched[name][0], timeout=20)
            assert collected.op == "garbage-collect" and collected.ok
            assert collected.instance is not None and collected.instance.providerID == f"kwok://{name}"
            assert collected.message == f"terminated kwok://{name}: NodeClaim {name!r} does not exist"
            delete = (await kube_plan_of(watched[name][1])).plan
            assert isinstance(delete.actions[0], DeleteObject) and delete.actions[0].ref.name == name
        collected_after = time.monotonic() - started
        # Not before the grace period; the claim that exists keeps its instance.
        assert collected_after >= 2.0
        assert await watched[kept][0].nothing(1.5)
        kv = await bus.js.key_value(SIM_BUCKET)
        assert (await kv.get(kept)).value is not None
        for name in (orphan, tombstoned):
            with pytest.raises(KeyNotFoundError):
                await kv.get(name)
    print(f"orphans collected {collected_after:.2f} s after launch (grace 2 s, interval 1 s)")


async def test_a_second_replica_sees_the_first_ones_instances(
    bus: Bus, nats_url: str, unique: str, cleanup: list[str]
) -> None:
    name = f"shared-{unique}"
    cleanup.append(name)
    outcomes, plans = await watches(bus, name)
    async with actuator(nats_url):
        await launch(bus, nodeclaim(name, types("m-1x-amd64-linux")))
        first = await outcome_of(outcomes)
        await kube_plan_of(plans)
    async with actuator(nats_url):  # a restart: the KV record is the truth
        await launch(bus, nodeclaim(name, types("m-1x-amd64-linux")))
        again = await outcome_of(outcomes)
        assert again.instance == first.instance
        assert await plans.nothing(1.0)


async def test_two_replicas_share_a_burst_without_double_launches(
    bus: Bus, nats_url: str, unique: str, cleanup: list[str]
) -> None:
    """200 claims, each planned twice, on two replicas: one instance and one join per claim."""
    names = [f"burst-{unique}-{i:03d}" for i in range(200)]
    cleanup.extend(names)
    outcomes = await Watch().start(bus, "outcomes.cloud.*", f"burst-{unique}-")
    joins = await Watch().start(bus, "plans.k8s.cloud-actuator.*", f"burst-{unique}-")
    async with actuator(nats_url), actuator(nats_url):
        started = time.monotonic()
        plans = [
            (cloud_plan_subject(n), CloudPlan(key=n, action=LaunchInstance(nodeClaim=nodeclaim(n))), n, None)
            for n in names
        ]
        await bus.publish_many([*plans, *plans])  # every claim twice (new message ids)
        seen: dict[str, set[str]] = {}
        for _ in range(len(plans) * 2):
            outcome = await outcome_of(outcomes, timeout=60)
            assert outcome.ok and outcome.instance is not None, outcome
            seen.setdefault(outcome.key, set()).add(outcome.instance.model_dump_json())
        elapsed = time.monotonic() - started
        assert sorted(seen) == names and all(len(v) == 1 for v in seen.values())
        joined = [(await kube_plan_of(joins)).plan.key for _ in names]
        assert sorted(joined) == names
        assert await joins.nothing(1.0)
    print(f"400 launch plans (200 claims) on 2 replicas: {elapsed:.2f} s, {400 / elapsed:.0f} plans/s")
    await outcomes.stop()
    await joins.stop()


async def test_the_sim_node_goes_ready_on_kwok(
    bus: Bus, kube: KubeClient, nats_url: str, unique: str, cleanup: list[str]
) -> None:
    """Apply the KubePlan's Node as the k8s-actuator will: kwok makes it Ready with the declared capacity."""
    name = f"ready-{unique}"
    cleanup.append(name)
    _, plans = await watches(bus, name)
    async with actuator(nats_url):
        await launch(bus, nodeclaim(name, types("c-4x-arm64-linux")))
        plan = (await kube_plan_of(plans)).plan
    action = plan.actions[0]
    assert isinstance(action, ApplyObject)
    await kube.apply(action.object, field_manager=action.fieldManager, force=action.force)
    try:

        async def ready() -> dict[str, Any] | None:
            node = await kube.get("v1", "Node", name)
            conditions = {c["type"]: c["status"] for c in (node.get("status") or {}).get("conditions") or []}
            return node if conditions.get("Ready") == "True" else None

        node = await wait_for(ready, timeout=30)
        assert node["spec"]["providerID"] == f"kwok://{name}"
        assert node["status"]["capacity"]["cpu"] == "4" and node["status"]["allocatable"]["memory"] == "8Gi"
        assert node["metadata"]["labels"]["topology.kubernetes.io/zone"] == "test-zone-a"
        assert {"key": "karpenter.sh/unregistered", "effect": "NoExecute"} in node["spec"]["taints"]
    finally:
        await kube.delete("v1", "Node", name)


async def test_a_join_left_undone_by_a_killed_replica_is_finished_by_the_next(
    bus: Bus, nats_url: str, unique: str, cleanup: list[str]
) -> None:
    name = f"orphan-join-{unique}"
    cleanup.append(name)
    outcomes, plans = await watches(bus, name)
    port = free_port()
    first = spawn_actuator(nats_url, port, {"BOSUN_SIM_LAUNCH_DELAY": "2"})
    try:
        await wait_ready(first, port)
        await launch(bus, nodeclaim(name, types("c-1x-arm64-linux")))
        pending = await outcome_of(outcomes)
        assert pending.instance is not None and pending.instance.state == "pending"
    finally:
        first.kill()  # before the delay is over: the join is not published
        await asyncio.to_thread(first.wait)
    killed_at = time.monotonic()
    assert await plans.nothing(0.5)
    async with actuator(nats_url, BOSUN_SIM_LAUNCH_DELAY="2"):
        plan = (await kube_plan_of(plans, timeout=30)).plan
        recovered_after = time.monotonic() - killed_at
        assert isinstance(plan.actions[0], ApplyObject) and plan.actions[0].object["metadata"]["name"] == name
        await launch(bus, nodeclaim(name, types("c-1x-arm64-linux")))
        again = await outcome_of(outcomes)
        assert again.instance is not None and again.instance.state == "running"
        assert again.instance.providerID == pending.instance.providerID
    print(f"join finished by the next replica {recovered_after:.1f} s after the kill")


async def test_only_the_lease_holder_collects_and_a_standby_takes_over(
    bus: Bus, nats_url: str, unique: str, cleanup: list[str]
) -> None:
    first_orphan, second_orphan = f"gc1-{unique}", f"gc2-{unique}"
    cleanup.extend([first_orphan, second_orphan])
    env = {"BOSUN_GC_INTERVAL": "0.5", "BOSUN_GC_GRACE": "0"}
    leases = await bus.js.key_value("leases")
    ports = {f"a-{unique}": free_port(), f"b-{unique}": free_port()}
    procs = {
        rid: spawn_actuator(nats_url, port, {**env, "BOSUN_REPLICA_ID": rid}) for rid, port in ports.items()
    }
    try:
        for rid, proc in procs.items():
            await wait_ready(proc, ports[rid])

        async def holder() -> str | None:
            with suppress(KeyNotFoundError):
                entry = await leases.get("cloud-actuator-gc")
                return entry.value.decode() if entry.value else None
            return None

        async def our_leader() -> str | None:
            # A replica SIGKILLed by an earlier test may hold the lease until its TTL (10 s) runs out.
            current = await holder()
            return current if current in procs else None

        leader = await wait_for(our_leader, timeout=20)
        outcomes = await Watch().start(bus, cloud_outcome_subject(first_orphan))
        await launch(bus, nodeclaim(first_orphan))
        assert (await outcome_of(outcomes)).op == "launch"
        collected = await outcome_of(outcomes)
        assert collected.op == "garbage-collect" and collected.ok
        assert await outcomes.nothing(2.0)  # one collector: no second "already gone" outcome

        procs[leader].kill()
        await asyncio.to_thread(procs[leader].wait)
        killed_at = time.monotonic()
        outcomes = await Watch().start(bus, cloud_outcome_subject(second_orphan))
        await launch(bus, nodeclaim(second_orphan))
        assert (await outcome_of(outcomes)).op == "launch"
        collected = await outcome_of(outcomes, timeout=30)
        taken_over = time.monotonic() - killed_at
        assert collected.op == "garbage-collect" and collected.ok
        survivor = next(rid for rid in procs if rid != leader)
        assert await holder() == survivor
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)  # the survivor releases the lease for whoever is next
        for proc in procs.values():
            try:
                await asyncio.to_thread(proc.wait, 20)
            finally:
                proc.kill()
    print(f"standby collected an orphan {taken_over:.1f} s after the GC leader was killed (lease TTL 10 s)")


# -- the aws provider against a real moto_server on loopback ------------------------------

AWS_ZONES = ("us-east-1a", "us-east-1b")


def aws_catalog() -> Catalog:
    """Three EC2 shapes; spot is 0.3 x on-demand and zone b is 1 % dearer (moto has no prices)."""

    def shape(name: str, cpu: str, memory: str, price: float) -> InstanceType:
        return InstanceType(
            name=name,
            labels={"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"},
            capacity={"cpu": cpu, "memory": memory, "pods": "29"},
            offerings=tuple(
                Offering(
                    zone=zone,
                    capacityType=kind,
                    price=round(
                        price * (0.3 if kind == "spot" else 1.0) * (1.01 if zone.endswith("b") else 1.0), 6
                    ),
                )
                for zone in AWS_ZONES
                for kind in ("spot", "on-demand")
            ),
        )

    return Catalog(
        name="moto",
        region="us-east-1",
        instanceTypes=[
            shape("t3.small", "2", "2Gi", 0.0208),
            shape("m5.large", "2", "8Gi", 0.096),
            shape("c5.xlarge", "4", "8Gi", 0.17),
        ],
    )


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-p", str(port), "-H", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def aws_env(moto_url: str) -> Iterator[dict[str, str]]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_url,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture
async def node_class(aws_env: dict[str, str], unique: str) -> AsyncIterator[AwsSettings]:
    """A VPC with one tagged subnet per zone and a launch template: what an EC2NodeClass resolves to."""
    cluster = f"c{unique}"
    async with get_session().create_client(
        "ec2", region_name="us-east-1", endpoint_url=aws_env["AWS_ENDPOINT_URL"]
    ) as ec2:
        vpc = (await ec2.create_vpc(CidrBlock="10.0.0.0/16"))["Vpc"]["VpcId"]
        for index, zone in enumerate(AWS_ZONES):
            subnet = await ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{index}.0/24", AvailabilityZone=zone)
            await ec2.create_tags(
                Resources=[subnet["Subnet"]["SubnetId"]],
                Tags=[{"Key": "karpenter.sh/discovery", "Value": cluster}],
            )
        images = await ec2.describe_images(Owners=["amazon"])
        image = sorted(i["ImageId"] for i in images["Images"])[0]
        await ec2.create_launch_template(
            LaunchTemplateName=f"lt-{unique}", LaunchTemplateData={"ImageId": image}
        )
    yield AwsSettings(
        region="us-east-1",
        endpoint_url=aws_env["AWS_ENDPOINT_URL"],
        cluster_name=cluster,
        launch_template=f"lt-{unique}",
        subnet_tag=f"karpenter.sh/discovery={cluster}",
    )


@pytest.fixture
async def aws(node_class: AwsSettings) -> AsyncIterator[AwsProvider]:
    provider = AwsProvider(aws_catalog(), node_class)
    await provider.start()
    yield provider
    await provider.close()


def aws_claim(name: str, *requirements: dict[str, Any], memory: str = "4Gi") -> NodeClaim:
    return NodeClaim.model_validate(
        {
            "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": "general"}},
            "spec": {"requirements": list(requirements), "resources": {"requests": {"memory": memory}}},
        }
    )


async def test_aws_launch_list_relaunch_terminate(aws: AwsProvider, unique: str) -> None:
    spot = await aws.create(aws_claim(f"spot-{unique}", capacity_types("spot", "on-demand")))
    # 4Gi rules t3.small out; spot is allowed and cheapest; zone a is cheaper than b.
    assert (spot.instanceType, spot.zone, spot.capacityType) == ("m5.large", "us-east-1a", "spot")
    assert spot.providerID.startswith("aws:///us-east-1a/i-") and spot.state == "running"
    assert spot.nodeClaim == f"spot-{unique}" and spot.nodePool == "general"
    assert spot.price == pytest.approx(0.0288) and spot.imageID and spot.launchedAt
    assert spot.labels["karpenter.sh/capacity-type"] == "spot"

    on_demand = await aws.create(aws_claim(f"od-{unique}", capacity_types("on-demand"), zones("us-east-1b")))
    assert (on_demand.instanceType, on_demand.zone, on_demand.capacityType) == (
        "m5.large",
        "us-east-1b",
        "on-demand",
    )

    listed = await aws.list()
    assert [i.providerID for i in listed] == sorted([spot.providerID, on_demand.providerID])
    assert await aws.get(spot.providerID) == spot

    # Idempotent: the claim's instance is found by its tag, not launched again.
    assert await aws.create(aws_claim(f"spot-{unique}", capacity_types("spot", "on-demand"))) == spot
    assert len(await aws.list()) == 2

    await aws.delete(spot.providerID)
    assert [i.providerID for i in await aws.list()] == [on_demand.providerID]
    with pytest.raises(NotFound):
        await aws.delete(spot.providerID)
    with pytest.raises(NotFound):
        await aws.get(spot.providerID)
    with pytest.raises(NotFound, match="InvalidInstanceID"):
        await aws.delete("aws:///us-east-1a/i-0123456789abcdef0")
    await aws.delete(on_demand.providerID)
    assert await aws.list() == []


async def test_aws_errors(aws: AwsProvider, node_class: AwsSettings, unique: str) -> None:
    with pytest.raises(InsufficientCapacity, match="no available offering"):
        await aws.create(aws_claim(f"huge-{unique}", memory="64Gi"))
    with pytest.raises(InvalidRequest, match="not an EC2 instance"):
        await aws.delete("kwok://node-1")
    missing = AwsProvider(
        aws_catalog(), AwsSettings(**{**node_class.__dict__, "launch_template": "no-such-template"})
    )
    await missing.start()
    try:
        with pytest.raises(NodeClassNotReady, match="no-such-template"):
            await missing.create(aws_claim(f"lt-{unique}"))
    finally:
        await missing.close()
    nowhere = AwsProvider(aws_catalog(), AwsSettings(**{**node_class.__dict__, "subnet_tag": "no-such=tag"}))
    await nowhere.start()
    try:
        with pytest.raises(NodeClassNotReady, match="no subnets"):
            await nowhere.create(aws_claim(f"sn-{unique}"))
    finally:
        await nowhere.close()


async def test_aws_provider_through_the_service(
    bus: Bus, nats_url: str, node_class: AwsSettings, aws_env: dict[str, str], unique: str
) -> None:
    """`BOSUN_CLOUD_PROVIDER=aws` with the built-in AWS catalog: the cheapest spot offering in the subnets' zones."""
    name = f"svc-{unique}"
    outcomes, _ = await watches(bus, name)
    env = {
        **aws_env,
        "BOSUN_CLOUD_PROVIDER": "aws",
        "BOSUN_CLUSTER_NAME": node_class.cluster_name,
        "BOSUN_AWS_LAUNCH_TEMPLATE": node_class.launch_template,
    }
    wanted = ("m5.large", "c5.large", "m6g.large")
    catalog = builtin_catalog("aws").by_name()
    best = min(
        (o.price, t, o.zone)
        for t in wanted
        for o in catalog[t].offerings
        if o.capacityType == "spot" and o.zone in AWS_ZONES
    )
    async with actuator(nats_url, **env):
        await launch(bus, aws_claim(name, types(*wanted), memory="1Gi"))
        launched = await outcome_of(outcomes)
        assert launched.ok and launched.instance is not None
        instance = launched.instance
        assert (instance.price, instance.instanceType, instance.zone) == best
        assert instance.capacityType == "spot" and instance.providerID.startswith(f"aws:///{best[2]}/i-")
        entry = await (await bus.js.key_value("catalog")).get("aws")
        assert entry.value is not None and len(Catalog.model_validate_json(entry.value).instanceTypes) == len(
            catalog
        )
        await terminate(bus, name, instance.providerID)
        gone = await outcome_of(outcomes)
        assert gone.ok and gone.message == f"terminated {instance.providerID}"
        await terminate(bus, name, instance.providerID)
        again = await outcome_of(outcomes)
        assert again.ok and again.message == f"{instance.providerID} is already gone"


async def test_the_sim_node_joins_and_leaves_through_the_k8s_actuator(
    bus: Bus, kube: KubeClient, stack: LocalStack, nats_url: str, unique: str, cleanup: list[str]
) -> None:
    """Both actuators as processes: a launch becomes a Ready kwok Node, a terminate removes it."""
    name = f"e2e-{unique}"
    cleanup.append(name)
    outcomes, _ = await watches(bus, name)

    async def node() -> dict[str, Any] | None:
        try:
            return await kube.get("v1", "Node", name)
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    async def ready() -> dict[str, Any] | None:
        found = await node()
        conditions = {
            c["type"]: c["status"] for c in ((found or {}).get("status") or {}).get("conditions", [])
        }
        return found if conditions.get("Ready") == "True" else None

    async with (
        actuator(nats_url),
        actuator(nats_url, module="k8s_actuator", KUBECONFIG=str(stack.kubeconfig)),
    ):
        started = time.monotonic()
        await launch(bus, nodeclaim(name, types("m-8x-amd64-linux"), capacity_types("on-demand")))
        launched = await outcome_of(outcomes)
        assert launched.ok and launched.instance is not None
        joined = await wait_for(ready, timeout=30)
        ready_after = time.monotonic() - started
        assert joined["spec"]["providerID"] == f"kwok://{name}"
        assert (
            joined["status"]["allocatable"]["cpu"] == "8" and joined["status"]["capacity"]["memory"] == "64Gi"
        )
        assert joined["metadata"]["labels"]["karpenter.sh/capacity-type"] == "on-demand"
        await terminate(bus, name, launched.instance.providerID)
        assert (await outcome_of(outcomes)).ok

        async def gone() -> bool:
            return await node() is None

        assert await wait_for(gone, timeout=30)
    print(f"launch plan to Ready kwok Node through both actuators: {ready_after:.2f} s")


async def test_aws_garbage_collection(aws: AwsProvider, bus: Bus, unique: str) -> None:
    """The GC against EC2: the instance whose NodeClaim is in STATE stays, the orphan is terminated."""
    kept, orphan = f"aws-kept-{unique}", f"aws-orphan-{unique}"
    await bus.publish(
        object_subject("state", "karpenter.sh/v1", "NodeClaim", None, kept),
        ObjectState(
            apiVersion="karpenter.sh/v1", kind="NodeClaim", name=kept, object={"metadata": {"name": kept}}
        ),
        key=kept,
    )
    kept_instance = await aws.create(aws_claim(kept))
    orphan_instance = await aws.create(aws_claim(orphan))
    outcomes = await Watch().start(bus, cloud_outcome_subject(orphan))
    collector = GarbageCollector(bus, aws, grace=0.0)
    collected = await collector.collect_once()
    assert [i.providerID for i in collected] == [orphan_instance.providerID]
    assert [i.providerID for i in await aws.list()] == [kept_instance.providerID]
    outcome = await outcome_of(outcomes)
    assert outcome.op == "garbage-collect" and outcome.ok and outcome.instance == orphan_instance
    # Young instances are left alone.
    young = await aws.create(aws_claim(f"aws-young-{unique}"))
    assert await GarbageCollector(bus, aws, grace=300.0).collect_once() == []
    await aws.delete(young.providerID)
    await aws.delete(kept_instance.providerID)
    await outcomes.stop()


async def test_aws_ami_drift(
    aws: AwsProvider, node_class: AwsSettings, aws_env: dict[str, str], unique: str
) -> None:
    """A new launch template version with another image makes running instances drift."""
    instance = await aws.create(aws_claim(f"drift-{unique}"))
    claim = aws_claim(f"drift-{unique}")
    claim.status.providerID = instance.providerID
    assert await aws.is_drifted(claim) is None
    async with get_session().create_client(
        "ec2", region_name="us-east-1", endpoint_url=aws_env["AWS_ENDPOINT_URL"]
    ) as ec2:
        images = sorted(i["ImageId"] for i in (await ec2.describe_images(Owners=["amazon"]))["Images"])
        newer = next(image for image in images if image != instance.imageID)
        await ec2.create_launch_template_version(
            LaunchTemplateName=node_class.launch_template, LaunchTemplateData={"ImageId": newer}
        )
    assert await aws.is_drifted(claim) == "AMIDrift"
    await aws.delete(instance.providerID)
