"""End to end, kro side: the informer, graph-planner and k8s-actuator as separate processes
against the real control plane, driving kro's own webapp example."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from bosun_common.bus import Bus
from bosun_common.codec import decode
from bosun_common.kube import KubeClient, KubeError
from bosun_common.messages import ObjectChange
from bosun_common.streams import object_subject
from tests.integration.conftest import ServiceProcess, stream_messages
from tests.integration.test_cluster import kwok_node

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "kro-examples"


async def until(check: Callable[[], Any], timeout: float = 90.0, what: str = "") -> Any:
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = await check()
                if result:
                    return result
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def get_or_none(kube: KubeClient, api_version: str, kind: str, name: str, ns: str | None = None) -> Any:
    try:
        return await kube.get(api_version, kind, name, ns)
    except KubeError as exc:
        if exc.not_found:
            return None
        raise


def start_kro_services(services: Callable[..., ServiceProcess]) -> list[ServiceProcess]:
    return [services("informer"), services("graph_planner"), services("k8s_actuator")]


async def deletion_sequence(bus: Bus, api_version: str, kind: str, name: str) -> int:
    """The CHANGES stream sequence of an object's DELETED event (the informer saw them in order)."""
    subject = object_subject("changes", api_version, kind, "default", name)
    sub = await bus.js.subscribe(subject, stream="CHANGES", ordered_consumer=True)
    try:
        while True:
            msg = await sub.next_msg(timeout=10)
            change = decode(msg.data)[1]
            if isinstance(change, ObjectChange) and change.type == "DELETED":
                return int(msg.metadata.sequence.stream)
    finally:
        await sub.unsubscribe()


async def state_history(bus: Bus, api_version: str, kind: str, name: str) -> list[str]:
    """Successive distinct `status.state` values of an object, from CHANGES."""
    subject = object_subject("changes", api_version, kind, "default", name)
    history: list[str] = []
    for change, _ in await stream_messages(bus, subject, "CHANGES"):
        state = change.object.get("status", {}).get("state") if isinstance(change, ObjectChange) else None
        if state and (not history or history[-1] != state):
            history.append(state)
    return history


async def test_webapp_lifecycle(
    bus: Bus, kube: KubeClient, crds: list[str], services: Callable[..., ServiceProcess], unique: str
) -> None:
    procs = start_kro_services(services)
    rgd = yaml.safe_load((EXAMPLES / "webapp" / "rg.yaml").read_text())
    await kube.apply(rgd, field_manager="kubectl")

    async def rgd_active() -> Any:
        live = await kube.get("kro.run/v1alpha1", "ResourceGraphDefinition", "webapp.kro.run")
        return live if live.get("status", {}).get("state") == "Active" else None

    live_rgd = await until(rgd_active, what="the webapp RGD to become Active")
    assert live_rgd["status"]["topologicalOrder"] == ["deployment", "service", "ingress"]
    conditions = {c["type"]: c["status"] for c in live_rgd["status"]["conditions"]}
    assert conditions["GraphAccepted"] == "True" and conditions["Ready"] == "True"
    crd = await kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "webapps.kro.run")
    assert crd["spec"]["names"]["kind"] == "WebApp"

    # A node for the Deployment's pod, played by kwok.
    await kube.create(kwok_node(f"webapp-{unique}") | {"spec": {}})

    instance = yaml.safe_load((EXAMPLES / "webapp" / "instance.yaml").read_text())
    instance["metadata"]["namespace"] = "default"
    await kube.apply(instance, field_manager="kubectl")
    name = instance["metadata"]["name"]

    async def instance_active() -> Any:
        live = await kube.get("kro.run/v1alpha1", "WebApp", name, "default")
        return live if live.get("status", {}).get("state") == "ACTIVE" else None

    live = await until(instance_active, timeout=120, what="the WebApp instance to become ACTIVE")
    deployment = await kube.get("apps/v1", "Deployment", name, "default")
    service = await kube.get("v1", "Service", name, "default")
    labels = deployment["metadata"]["labels"]
    assert labels["kro.run/owned"] == "true"
    assert labels["kro.run/instance-name"] == name
    assert labels["kro.run/node-id"] == "deployment"
    assert labels["kro.run/resource-graph-definition-name"] == "webapp.kro.run"
    assert service["metadata"]["labels"]["kro.run/node-id"] == "service"
    assert "kro.run/finalizer" in live["metadata"]["finalizers"]
    # ACTIVE only once the pod runs on a kwok node and readyWhen holds.
    assert deployment["status"].get("availableReplicas") == 1
    assert live["status"]["availableReplicas"] == 1

    # The informer saw every status write: the instance was IN_PROGRESS before it was ACTIVE.
    async def history_with_active() -> list[str] | None:
        seen = await state_history(bus, "kro.run/v1alpha1", "WebApp", name)
        return seen if "ACTIVE" in seen else None

    history = await until(history_with_active, what="the informer to record ACTIVE")
    assert "IN_PROGRESS" in history[: history.index("ACTIVE")], history
    pods, _ = await kube.list("v1", "Pod", "default", label_selector=f"app={name}")
    assert [p["spec"]["nodeName"] for p in pods if p["status"].get("phase") == "Running"] == [
        f"webapp-{unique}"
    ]

    # Flip service.enabled off: the Service is pruned, the rest stays.
    changed = copy.deepcopy(instance)
    changed["spec"]["service"] = {"enabled": False}
    await kube.apply(changed, field_manager="kubectl")

    async def service_gone() -> bool:
        return await get_or_none(kube, "v1", "Service", name, "default") is None

    await until(service_gone, what="the Service to be pruned")
    assert await get_or_none(kube, "apps/v1", "Deployment", name, "default") is not None

    # Delete the instance: children go (reverse order), then the finalizer, then the instance.
    await kube.delete("kro.run/v1alpha1", "WebApp", name, "default")

    async def all_gone() -> bool:
        return all(
            [
                await get_or_none(kube, "kro.run/v1alpha1", "WebApp", name, "default") is None,
                await get_or_none(kube, "apps/v1", "Deployment", name, "default") is None,
                await get_or_none(kube, "networking.k8s.io/v1", "Ingress", name, "default") is None,
            ]
        )

    await until(all_gone, what="the instance and its children to be deleted")
    # Reverse topological layers: the ingress (which depends on the deployment) went first.
    ingress_gone = await deletion_sequence(bus, "networking.k8s.io/v1", "Ingress", name)
    deployment_gone = await deletion_sequence(bus, "apps/v1", "Deployment", name)
    instance_gone = await deletion_sequence(bus, "kro.run/v1alpha1", "WebApp", name)
    assert ingress_gone < deployment_gone < instance_gone
    for proc in procs:
        assert proc.proc.alive(), proc.log()
