"""Horizontal scale across real processes: partitioned graph-planners, a standby node-planner,
and actuator replicas sharing the work queue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bosun_common.bus import Bus
from bosun_common.codec import decode
from bosun_common.kube import KubeClient, KubeError
from bosun_common.kube_plans import ApplyObject, KubePlan
from bosun_common.messages import KubePlanMessage, Outcome
from bosun_common.streams import k8s_plan_subject
from tests.integration.conftest import ServiceProcess
from tests.integration.e2e.test_kro_invalid import configmap, graph_accepted, rgd
from tests.integration.e2e.test_kro_webapp import until
from tests.integration.e2e.test_nodes_scale import NODECLASS, deployment, nodepool, predicted


async def configmap_value(kube: KubeClient, name: str) -> str | None:
    try:
        return str((await kube.get("v1", "ConfigMap", name, "default")).get("data", {}).get("v"))
    except KubeError:
        return None


async def test_two_graph_planners_split_instances_and_survive_losing_one(
    kube: KubeClient, crds: list[str], services: Callable[..., ServiceProcess], unique: str
) -> None:
    services("informer")
    services("k8s_actuator")
    planners = [services("graph_planner", BOSUN_REPLICA_ID=f"gp-{i}-{unique}") for i in (1, 2)]
    kind = f"Split{unique.capitalize()}"
    spec = {"name": "string", "value": "string"}
    await kube.apply(
        rgd(
            f"split-{unique}",
            kind,
            [configmap("cm", "${schema.spec.name}", {"v": "${schema.spec.value}"})],
            spec,
        ),
        field_manager="kubectl",
    )
    await until(lambda: graph_accepted(kube, f"split-{unique}"), what="the RGD to be accepted")
    names = [f"split-{unique}-{i}" for i in range(12)]

    async def apply_all(value: str) -> None:
        for name in names:
            await kube.apply(
                {
                    "apiVersion": "kro.run/v1alpha1",
                    "kind": kind,
                    "metadata": {"name": name, "namespace": "default"},
                    "spec": {"name": name, "value": value},
                },
                field_manager="kubectl",
            )

    async def all_have(value: str) -> bool:
        return all([await configmap_value(kube, n) == value for n in names])

    await apply_all("one")
    await until(lambda: all_have("one"), what="every instance's ConfigMap")
    shares = [p.metric("bosun_plans_published_total", target="instance") for p in planners]
    assert all(share > 0 for share in shares), shares  # both replicas planned instances

    planners[0].kill()  # its partitions move to the survivor once its membership expires
    await apply_all("two")
    await until(
        lambda: all_have("two"), timeout=60, what="every instance reconciled by the surviving replica"
    )
    assert planners[1].proc.alive()


async def test_a_standby_node_planner_takes_over_without_provisioning_twice(
    kube: KubeClient, crds: list[str], services: Callable[..., ServiceProcess], unique: str, tmp_path: Path
) -> None:
    team = f"s{unique}"
    pool, workload = nodepool(f"standby-{unique}", team), deployment(f"standby-{unique}", team, 60)
    prediction = predicted(tmp_path, pool, workload)
    for name in ("informer", "k8s_actuator", "cloud_actuator"):
        services(name)
    first = services("node_planner", BOSUN_REPLICA_ID=f"np-1-{unique}")
    second = services("node_planner", BOSUN_REPLICA_ID=f"np-2-{unique}")
    await asyncio.sleep(2.0)
    leader = first if first.metric("bosun_leader", lease="node-planner") == 1 else second
    standby = second if leader is first else first
    assert standby.metric("bosun_leader", lease="node-planner") == 0
    leader.kill()
    await kube.apply(NODECLASS, field_manager="kubectl")
    await kube.apply(pool, field_manager="kubectl")
    await kube.apply(workload, field_manager="kubectl")

    async def all_running() -> bool:
        pods, _ = await kube.list("v1", "Pod", "default", label_selector=f"app=standby-{unique}")
        return len(pods) == 60 and all(p.get("status", {}).get("phase") == "Running" for p in pods)

    await until(all_running, timeout=180, what="the standby to take over and provision")
    assert standby.metric("bosun_leader", lease="node-planner") == 1
    claims, _ = await kube.list(
        "karpenter.sh/v1", "NodeClaim", label_selector=f"karpenter.sh/nodepool=standby-{unique}"
    )
    assert len(claims) == len(prediction["nodeclaims"])


async def test_two_actuator_replicas_share_the_work_queue(
    bus: Bus, services: Callable[..., ServiceProcess], unique: str
) -> None:
    actuators = [services("k8s_actuator", BOSUN_REPLICA_ID=f"ka-{i}-{unique}") for i in (1, 2)]
    outcomes = await bus.js.subscribe(
        f"outcomes.k8s.share-{unique}.>", stream="OUTCOMES", ordered_consumer=True
    )
    plans: list[tuple[str, Any, str, str | None]] = []
    for i in range(60):
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"share-{unique}-{i}", "namespace": "default"},
        }
        plan = KubePlan(
            key=f"k{i}", planner=f"share-{unique}", actions=[ApplyObject(object=cm, fieldManager="tests")]
        )
        plans.append(
            (k8s_plan_subject(f"share-{unique}", f"k{i}"), KubePlanMessage(plan=plan), f"k{i}", None)
        )
    await bus.publish_many(plans)
    seen: dict[str, int] = {}
    async with asyncio.timeout(60):
        while len(seen) < 60:
            outcome = decode((await outcomes.next_msg(timeout=30)).data)[1]
            assert isinstance(outcome, Outcome) and outcome.ok
            seen[outcome.planKey] = seen.get(outcome.planKey, 0) + 1
    await asyncio.sleep(1.0)
    while True:  # nothing executed twice
        try:
            extra = decode((await outcomes.next_msg(timeout=0.5)).data)[1]
        except TimeoutError:
            break
        assert isinstance(extra, Outcome)
        seen[extra.planKey] += 1
    assert set(seen.values()) == {1}
    # Both replicas took part (the shared session queue may also hold other tests' leftovers;
    # exactly-once is what the outcomes above show).
    counts = [a.metric("bosun_messages_consumed_total", kind="KubePlan") for a in actuators]
    assert sum(counts) >= 60 and all(c > 0 for c in counts), counts
    await outcomes.unsubscribe()


async def watch_values(
    kube: KubeClient, selector: str, since: str, want: dict[str, str], seen: dict[str, list[str]]
) -> None:
    """Record each ConfigMap's `n`, event by event (a watch never reorders), until all reach `want`."""
    params = {"watch": "true", "labelSelector": selector, "resourceVersion": since}
    async for event in kube.stream("/api/v1/namespaces/default/configmaps", params, timeout=60):
        obj = event["object"]
        if event["type"] in ("ADDED", "MODIFIED"):
            seen.setdefault(obj["metadata"]["name"], []).append(obj["data"]["n"])
        if all(values[-1:] == [want[name]] for name, values in seen.items()) and len(seen) == len(want):
            return


async def test_two_actuator_replicas_run_each_keys_plans_in_order(
    bus: Bus, kube: KubeClient, services: Callable[..., ServiceProcess], unique: str
) -> None:
    """40 plans for each of 4 keys, published in order, each setting its ConfigMap's `n` to the
    plan's number, taken by two k8s-actuators that run 8 keys at a time each. Every ConfigMap's `n`
    only goes up (a plan that a newer one overtook is skipped, never run late), ends at the last
    plan's, and every plan gets exactly one outcome."""
    actuators = [services("k8s_actuator", BOSUN_REPLICA_ID=f"ko-{i}-{unique}") for i in (1, 2)]
    planner, keys, rounds = f"order-{unique}", [f"key{k}" for k in range(4)], 40
    outcomes = await bus.js.subscribe(f"outcomes.k8s.{planner}.>", stream="OUTCOMES", ordered_consumer=True)
    since = (await kube.request("GET", "/api/v1/namespaces/default/configmaps"))["metadata"][
        "resourceVersion"
    ]
    plans: list[tuple[str, Any, str, str | None]] = []
    for n in range(rounds):
        for key in keys:
            cm = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{planner}-{key}", "namespace": "default", "labels": {"order": unique}},
                "data": {"n": str(n)},
            }
            plan = KubePlan(key=key, planner=planner, actions=[ApplyObject(object=cm, fieldManager="tests")])
            plans.append((k8s_plan_subject(planner, key), KubePlanMessage(plan=plan), key, None))
    seen: dict[str, list[str]] = {}
    want = {f"{planner}-{key}": str(rounds - 1) for key in keys}
    watching = asyncio.create_task(watch_values(kube, f"order={unique}", since, want, seen))
    await asyncio.sleep(0.5)  # the watch is open before the first plan runs
    await bus.publish_many(plans)

    per_plan: dict[str, int] = {}
    skipped = 0
    async with asyncio.timeout(90):
        while len(per_plan) < len(plans):
            outcome = decode((await outcomes.next_msg(timeout=60)).data)[1]
            assert isinstance(outcome, Outcome) and outcome.ok, outcome
            per_plan[outcome.planId] = per_plan.get(outcome.planId, 0) + 1
            skipped += outcome.skipped is not None
        await watching
    await asyncio.sleep(1.0)
    while True:
        try:
            extra = decode((await outcomes.next_msg(timeout=0.5)).data)[1]
        except TimeoutError:
            break
        assert isinstance(extra, Outcome)
        per_plan[extra.planId] += 1
    await outcomes.unsubscribe()

    assert set(per_plan.values()) == {1}, "exactly one outcome per plan"
    for name, values in seen.items():
        numbers = [int(v) for v in values]
        assert numbers == sorted(numbers), f"{name} went backwards: {numbers}"
        assert numbers[-1] == rounds - 1
    counts = [a.metric("bosun_messages_consumed_total", kind="KubePlan") for a in actuators]
    assert all(c > 0 for c in counts), counts
    print(f"in order: {len(plans)} plans, {skipped} skipped as superseded, consumed per replica {counts}")
