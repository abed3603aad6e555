"""Restart kube-apiserver mid-run: watches resume (or re-list on 410) without duplicating
events, a plan published while it is down is retried with backoff until it succeeds, and
new work after the restart is reconciled."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from bosun_common.bus import Bus
from bosun_common.codec import decode
from bosun_common.kube import KubeClient
from bosun_common.kube_plans import ApplyObject, KubePlan
from bosun_common.messages import KubePlanMessage, Outcome
from bosun_common.streams import k8s_outcome_subject, k8s_plan_subject
from bosun_devstack.stack import LocalStack
from tests.integration.conftest import ServiceProcess
from tests.integration.e2e.test_kro_invalid import configmap, graph_accepted, rgd
from tests.integration.e2e.test_kro_webapp import until
from tests.integration.test_informer import changes


async def test_apiserver_restart(
    stack: LocalStack,
    bus: Bus,
    kube: KubeClient,
    crds: list[str],
    services: Callable[..., ServiceProcess],
    unique: str,
) -> None:
    if stack.kube is None:
        pytest.skip("KUBECONFIG points at a cluster this test cannot restart")
    for name in ("informer", "graph_planner", "k8s_actuator"):
        services(name)
    kind = f"Api{unique.capitalize()}"
    await kube.apply(
        rgd(f"api-{unique}", kind, [configmap("cm", "${schema.spec.name}")]), field_manager="kubectl"
    )
    await until(lambda: graph_accepted(kube, f"api-{unique}"), what="the RGD to be accepted")

    def instance(name: str) -> dict[str, object]:
        return {
            "apiVersion": "kro.run/v1alpha1",
            "kind": kind,
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"name": name},
        }

    async def active(name: str) -> bool:
        try:
            live = await kube.get("kro.run/v1alpha1", kind, name, "default")
        except Exception:
            return False
        return (live.get("status") or {}).get("state") == "ACTIVE"

    await kube.apply(instance(f"before-{unique}"), field_manager="kubectl")
    await until(lambda: active(f"before-{unique}"), what="the first instance")

    outcomes = await bus.js.subscribe(
        k8s_outcome_subject("tests", f"down-{unique}"), stream="OUTCOMES", ordered_consumer=True
    )
    stack.kube.procs["kube-apiserver"].stop()
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"down-{unique}", "namespace": "default"},
    }
    await bus.publish(
        k8s_plan_subject("tests", f"down-{unique}"),
        KubePlanMessage(
            plan=KubePlan(
                key=f"down-{unique}", planner="tests", actions=[ApplyObject(object=cm, fieldManager="tests")]
            )
        ),
        key=f"down-{unique}",
    )
    await asyncio.sleep(3.0)  # the actuator retries with backoff meanwhile
    await asyncio.to_thread(stack.kube.restart_apiserver)
    outcome = decode((await outcomes.next_msg(timeout=90)).data)[1]
    await outcomes.unsubscribe()
    assert isinstance(outcome, Outcome) and outcome.ok, outcome

    await kube.apply(instance(f"after-{unique}"), field_manager="kubectl")
    await until(lambda: active(f"after-{unique}"), timeout=120, what="an instance created after the restart")
    history = await changes(bus, "kro.run/v1alpha1", kind, "default", f"before-{unique}")
    assert [c.type for c in history].count("ADDED") == 1  # the re-list did not duplicate it
