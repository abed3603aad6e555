"""1,000 malformed or wrong-version messages on every subject the services consume: each lands
in dead-letter once, with its reason; every service stays healthy; real work continues."""

from __future__ import annotations

import asyncio
import random
import urllib.request
from collections.abc import Callable

import msgpack

from bosun_common.bus import Bus
from bosun_common.codec import decode
from bosun_common.kube import KubeClient
from bosun_common.kube_plans import ApplyObject
from bosun_common.messages import DeadLetter, Outcome
from tests.integration.conftest import ServiceProcess
from tests.integration.e2e.test_kro_webapp import until
from tests.integration.test_k8s_actuator import Plans

PER_SUBJECT = 1000


def garbage(rng: random.Random, i: int) -> bytes:
    if i % 2:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40)))
    envelope = {
        "v": 99,
        "kind": "ObjectState",
        "key": "k",
        "time": "2026-01-01T00:00:00Z",
        "id": f"g{i}",
        "data": {},
    }
    return bytes(msgpack.packb(envelope))


async def dead_letters(bus: Bus, prefix: str) -> int:
    info = await bus.js.stream_info("DEADLETTER", subjects_filter=f"deadletter.{prefix}.>")
    return sum((info.state.subjects or {}).values())


async def test_a_flood_of_bad_messages_is_dead_lettered_and_work_goes_on(
    bus: Bus, kube: KubeClient, crds: list[str], services: Callable[..., ServiceProcess], unique: str
) -> None:
    running = {
        name: services(name)
        for name in ("informer", "graph_planner", "node_planner", "k8s_actuator", "cloud_actuator")
    }
    rng = random.Random(7)
    # Every subject a service consumes; STATE keeps one message per subject, so names vary.
    targets = {
        "plans.k8s": lambda i: f"plans.k8s.fault-{unique}.k{i}",
        "plans.cloud": lambda i: f"plans.cloud.fault-{unique}-{i}",
        "state.v1.Pod": lambda i: f"state.v1.Pod.default.fault-{unique}-{i}",
        "state.kro%2Erun%2Fv1alpha1.ResourceGraphDefinition": lambda i: (
            f"state.kro%2Erun%2Fv1alpha1.ResourceGraphDefinition.%.fault-{unique}-{i}"
        ),
        "outcomes.k8s.graph-planner": lambda i: f"outcomes.k8s.graph-planner.fault-{unique}-{i}",
        "outcomes.cloud": lambda i: f"outcomes.cloud.fault-{unique}-{i}",
    }
    before = {prefix: await dead_letters(bus, prefix) for prefix in targets}
    for subject_of in targets.values():
        futures = [await bus.js.publish_async(subject_of(i), garbage(rng, i)) for i in range(PER_SUBJECT)]
        await asyncio.gather(*futures)

    async def all_dead_lettered() -> bool:
        counts = {p: await dead_letters(bus, p) - before[p] for p in targets}
        return all(c >= PER_SUBJECT for c in counts.values())

    await until(all_dead_lettered, timeout=180, what="every bad message in dead-letter")
    for prefix in targets:  # exactly once each, however many consumers saw it
        assert await dead_letters(bus, prefix) - before[prefix] == PER_SUBJECT, prefix
    sub = await bus.js.subscribe(
        f"deadletter.plans.k8s.fault-{unique}.>", stream="DEADLETTER", ordered_consumer=True
    )
    letter = decode((await sub.next_msg(timeout=10)).data)[1]
    await sub.unsubscribe()
    assert isinstance(letter, DeadLetter)
    assert letter.reason.startswith(
        ("not msgpack", "unsupported schema version 99", "bad envelope", "envelope must")
    )

    for name, svc in running.items():
        assert svc.proc.alive(), name
        health = await asyncio.to_thread(
            urllib.request.urlopen, f"http://127.0.0.1:{svc.port}/healthz", timeout=5
        )
        assert health.status == 200

    # Real work continues: a plan is executed and answered.
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"after-{unique}", "namespace": "default"},
    }
    outcome = await Plans(bus, "tests").run(f"after-{unique}", ApplyObject(object=cm, fieldManager="tests"))
    assert isinstance(outcome, Outcome) and outcome.ok
    # Leave STATE as we found it: the garbage would otherwise be replayed by later planners.
    for prefix in ("state.v1.Pod", "state.kro%2Erun%2Fv1alpha1.ResourceGraphDefinition"):
        await bus.js.purge_stream("STATE", subject=f"{prefix}.*.fault-{unique}-*")
