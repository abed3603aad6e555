"""The k8s-actuator as a real process against the real API server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bosun_common.bus import Bus
from bosun_common.codec import decode
from bosun_common.kube import KubeClient, KubeError
from bosun_common.kube_plans import (
    ApplyObject,
    ApplyStatus,
    DeleteObject,
    EvictPod,
    KubePlan,
    ObjectRef,
    PatchObject,
    SetFinalizer,
)
from bosun_common.messages import KubePlanMessage, Outcome
from bosun_common.streams import k8s_outcome_subject, k8s_plan_subject
from tests.integration.conftest import ServiceProcess
from tests.integration.test_cluster import kwok_node, wait_for

GROUP = "actuator.bosun.dev"


def gadget_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {"kind": "Gadget", "plural": "gadgets", "singular": "gadget", "listKind": "GadgetList"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                        }
                    },
                }
            ],
        },
    }


class Plans:
    """Publishes plans as a planner would and waits for their outcomes."""

    def __init__(self, bus: Bus, planner: str) -> None:
        self.bus = bus
        self.planner = planner

    async def run(self, key: str, *actions: Any, timeout: float = 60) -> Outcome:
        sub = await self.bus.js.subscribe(
            k8s_outcome_subject(self.planner, key),
            stream="OUTCOMES",
            ordered_consumer=True,
            deliver_policy="new",  # type: ignore[arg-type]
        )
        try:
            ack = await self.bus.publish(
                k8s_plan_subject(self.planner, key),
                KubePlanMessage(plan=KubePlan(key=key, planner=self.planner, actions=list(actions))),
                key=key,
            )
            assert not ack.duplicate
            msg = await sub.next_msg(timeout=timeout)
            outcome = decode(msg.data)[1]
            assert isinstance(outcome, Outcome)
            return outcome
        finally:
            await sub.unsubscribe()


async def test_plans_are_executed_idempotently_with_an_outcome_each(
    bus: Bus, kube: KubeClient, services: Callable[..., ServiceProcess], unique: str
) -> None:
    services("k8s_actuator")
    plans = Plans(bus, "tests")
    await kube.apply(gadget_crd(), field_manager="bosun-tests")
    await asyncio.sleep(1.0)  # let the CRD become established before the actuator's discovery
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"cm-{unique}", "namespace": "default"},
        "data": {"a": "1"},
    }
    gadget = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Gadget",
        "metadata": {"name": f"g-{unique}", "namespace": "default"},
        "spec": {"size": 1},
    }
    cm_ref = ObjectRef(apiVersion="v1", kind="ConfigMap", name=f"cm-{unique}", namespace="default")
    g_ref = ObjectRef(apiVersion=f"{GROUP}/v1", kind="Gadget", name=f"g-{unique}", namespace="default")
    actions = [
        ApplyObject(object=cm, fieldManager="tests"),
        SetFinalizer(ref=cm_ref, finalizer="bosun.dev/test"),
        ApplyObject(object=gadget, fieldManager="tests"),
        ApplyStatus(ref=g_ref, status={"state": "ACTIVE"}, fieldManager="tests"),
    ]
    first = await plans.run(f"apply-{unique}", *actions)
    assert first.ok, first.error
    assert [r["op"] for r in first.results] == ["apply", "finalizer", "apply", "status"]
    live = await kube.get("v1", "ConfigMap", f"cm-{unique}", "default")
    assert live["data"] == {"a": "1"} and live["metadata"]["finalizers"] == ["bosun.dev/test"]
    g = await kube.get(f"{GROUP}/v1", "Gadget", f"g-{unique}", "default")
    assert g["status"] == {"state": "ACTIVE"}

    again = await plans.run(f"apply-{unique}", *actions)  # a second, identical plan changes nothing
    assert again.ok
    final = {r["ref"]: r["resourceVersion"] for r in first.results}  # the last write to each object wins
    assert [r["resourceVersion"] for r in again.results] == [final[r["ref"]] for r in again.results]
    assert [r.get("detail") for r in again.results][1] == "unchanged"

    uid = live["metadata"]["uid"]
    gone = await plans.run(
        f"delete-{unique}",
        SetFinalizer(ref=cm_ref, finalizer="bosun.dev/test", present=False),
        DeleteObject(ref=cm_ref.model_copy(update={"uid": uid})),
        DeleteObject(ref=cm_ref.model_copy(update={"uid": uid})),  # already gone: still fine
    )
    assert gone.ok, gone.error
    assert gone.results[-1]["detail"] == "already gone"
    try:
        await kube.get("v1", "ConfigMap", f"cm-{unique}", "default")
        raise AssertionError("the ConfigMap survived its deletion")
    except KubeError as exc:
        assert exc.not_found


async def test_invalid_objects_get_a_precise_error_and_the_actuator_goes_on(
    bus: Bus, kube: KubeClient, services: Callable[..., ServiceProcess], unique: str
) -> None:
    actuator = services("k8s_actuator")
    plans = Plans(bus, "tests")
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"svc-{unique}", "namespace": "default"},
        "spec": {"ports": [{"port": 70000}]},
    }
    outcome = await plans.run(f"bad-{unique}", ApplyObject(object=bad, fieldManager="tests"))
    assert not outcome.ok
    assert (
        outcome.error is not None and "422 Invalid" in outcome.error and "spec.ports[0].port" in outcome.error
    )
    ok = await plans.run(
        f"after-{unique}",
        ApplyObject(
            object={
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"after-{unique}", "namespace": "default"},
            },
            fieldManager="tests",
        ),
    )
    assert ok.ok and actuator.proc.alive()


async def test_cordon_and_pdb_respecting_eviction(
    bus: Bus, kube: KubeClient, services: Callable[..., ServiceProcess], unique: str
) -> None:
    services("k8s_actuator")
    plans = Plans(bus, "tests")
    node = f"evict-{unique}"
    await kube.create(kwok_node(node))
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"p-{unique}", "namespace": "default", "labels": {"pdb": unique}},
        "spec": {
            "nodeName": node,
            "containers": [{"name": "c", "image": "nginx"}],
            "tolerations": [{"operator": "Exists"}],
            "terminationGracePeriodSeconds": 0,
        },
    }
    await kube.create(pod)
    await kube.apply(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": f"pdb-{unique}", "namespace": "default"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"pdb": unique}}},
        },
        field_manager="tests",
    )

    async def pdb_observed() -> bool:
        pdb = await kube.get("policy/v1", "PodDisruptionBudget", f"pdb-{unique}", "default")
        status = pdb.get("status", {})
        return status.get("observedGeneration") == 1 and status.get("currentHealthy") == 1

    await wait_for(pdb_observed)
    node_ref = ObjectRef(apiVersion="v1", kind="Node", name=node)
    pod_ref = ObjectRef(apiVersion="v1", kind="Pod", name=f"p-{unique}", namespace="default")
    cordon = PatchObject(ref=node_ref, patch={"spec": {"unschedulable": True}})
    blocked = await plans.run(f"drain-{unique}", cordon, EvictPod(ref=pod_ref))
    assert not blocked.ok
    assert blocked.results[0]["ok"] and "blocked by a PodDisruptionBudget" in blocked.results[1]["detail"]
    assert (await kube.get("v1", "Node", node))["spec"]["unschedulable"] is True

    await kube.delete("policy/v1", "PodDisruptionBudget", f"pdb-{unique}", "default")
    evicted = await plans.run(f"drain2-{unique}", EvictPod(ref=pod_ref))
    assert evicted.ok and evicted.results[0]["detail"] == "evicted"
    await kube.delete("v1", "Node", node)
