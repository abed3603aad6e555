"""Invalid NodePools and hostile or invalid RGDs get status conditions with clear messages,
and nothing crashes: the planners keep serving good objects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from bosun_common.kube import KubeClient
from tests.integration.conftest import ServiceProcess
from tests.integration.e2e.test_kro_invalid import configmap, graph_accepted, rgd
from tests.integration.e2e.test_kro_webapp import until
from tests.integration.e2e.test_nodes_scale import NODECLASS, nodepool


async def conditions(kube: KubeClient, name: str) -> dict[str, dict[str, Any]]:
    live = await kube.get("karpenter.sh/v1", "NodePool", name)
    return {c["type"]: c for c in (live.get("status") or {}).get("conditions") or []}


async def test_invalid_nodepools_get_clear_conditions(
    kube: KubeClient, crds: list[str], services: Callable[..., ServiceProcess], unique: str
) -> None:
    procs = [services(n) for n in ("informer", "node_planner", "k8s_actuator", "cloud_actuator")]
    await kube.apply(NODECLASS, field_manager="kubectl")
    bad_cron = nodepool(f"cron-{unique}", "x")
    bad_cron["spec"]["disruption"]["budgets"] = [{"nodes": "0", "schedule": "61 * * * *", "duration": "1h"}]
    restricted = nodepool(f"label-{unique}", "x")
    restricted["spec"]["template"]["metadata"]["labels"]["karpenter.sh/team"] = "a"
    good = nodepool(f"good-{unique}", "x")
    for manifest in (bad_cron, restricted, good):
        await kube.apply(manifest, field_manager="kubectl")

    async def reported() -> bool:
        found = [await conditions(kube, f"{p}-{unique}") for p in ("cron", "label", "good")]
        return all("Ready" in c for c in found)

    await until(reported, what="the NodePools' status conditions")
    cron = await conditions(kube, f"cron-{unique}")
    assert cron["DisruptionBudgetsValid"]["status"] == "False"
    assert cron["DisruptionBudgetsValid"]["message"] == (
        "budget 0: schedule '61 * * * *' is not a valid cron expression, so it allows 0 disruptions"
    )
    assert cron["Ready"]["status"] == "True"  # provisioning is not blocked, as in Karpenter
    label = await conditions(kube, f"label-{unique}")
    assert label["ValidationSucceeded"]["status"] == "False"
    assert label["ValidationSucceeded"]["message"] == (
        "spec.template.metadata.labels: label domain 'karpenter.sh' is restricted"
    )
    assert label["Ready"]["status"] == "False"
    assert (await conditions(kube, f"good-{unique}"))["Ready"]["status"] == "True"
    assert all(p.proc.alive() for p in procs)


async def test_a_hostile_rgd_is_refused_and_the_planner_stays_responsive(
    kube: KubeClient, crds: list[str], services: Callable[..., ServiceProcess], unique: str
) -> None:
    planner = services("graph_planner")
    services("informer")
    services("k8s_actuator")
    items = "[1,2,3,4,5,6,7,8,9,10]"
    nested = f"{items}.map(a, {items}.map(b, {items}.map(c, {items}.map(d, a+b+c+d))))"
    hostile = rgd(
        f"hostile-{unique}",
        f"Hostile{unique.capitalize()}",
        [configmap("cm", "${schema.spec.name}", {"boom": "${" + nested + ".size() > 0 ? 'x' : 'y'}"})],
    )
    await kube.apply(hostile, field_manager="kubectl")
    refused = await until(
        lambda: graph_accepted(kube, f"hostile-{unique}"), what="the hostile RGD's condition"
    )
    assert refused["status"] == "False" and refused["reason"] == "InvalidResourceGraph"
    assert "comprehensions nest 4 deep, over the limit of 3" in refused["message"]
    assert "resource cm" in refused["message"] and "data.boom" in refused["message"]

    good = rgd(f"after-{unique}", f"After{unique.capitalize()}", [configmap("cm", "${schema.spec.name}")])
    await kube.apply(good, field_manager="kubectl")
    accepted = await until(
        lambda: graph_accepted(kube, f"after-{unique}"), what="a good RGD after the hostile one"
    )
    assert accepted["status"] == "True" and planner.proc.alive()


async def nodeclaims_of(kube: KubeClient, pool: str) -> list[dict[str, Any]]:
    claims, _ = await kube.list(
        "karpenter.sh/v1", "NodeClaim", label_selector=f"karpenter.sh/nodepool={pool}"
    )
    return claims


async def test_a_nodepool_without_its_node_class_is_not_ready_and_launches_nothing(
    kube: KubeClient, crds: list[str], services: Callable[..., ServiceProcess], unique: str
) -> None:
    """As Karpenter's nodepool.readiness: NodeClassReady=False (NodeClassNotFound) and no NodeClaim for
    a pod only it could take; once the KWOKNodeClass exists, the pool is Ready and the pod gets a node."""
    for name in ("informer", "node_planner", "k8s_actuator", "cloud_actuator"):
        services(name)
    name = f"orphan-{unique}"
    orphan = nodepool(name, name)
    orphan["spec"]["template"]["spec"]["nodeClassRef"]["name"] = name
    await kube.apply(orphan, field_manager="kubectl")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeSelector": {"team": name},
            "containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "100m"}}}],
            "terminationGracePeriodSeconds": 0,
        },
    }
    await kube.apply(pod, field_manager="kubectl")
    try:

        async def not_ready() -> bool:
            return (await conditions(kube, name)).get("NodeClassReady", {}).get("status") == "False"

        await until(not_ready, what="NodeClassReady=False")
        found = await conditions(kube, name)
        assert found["NodeClassReady"]["reason"] == "NodeClassNotFound"
        assert found["NodeClassReady"]["message"] == "NodeClass not found on cluster"
        assert found["Ready"]["status"] == "False"
        assert found["ValidationSucceeded"]["status"] == "True"
        await asyncio.sleep(3)  # a batch window and more: the pod is pending, and nothing launches
        assert await nodeclaims_of(kube, name) == []

        node_class = {**NODECLASS, "metadata": {"name": name}}
        await kube.apply(node_class, field_manager="kubectl")

        async def ready() -> bool:
            return (await conditions(kube, name)).get("Ready", {}).get("status") == "True"

        await until(ready, what="Ready once the node class exists")
        assert (await conditions(kube, name))["NodeClassReady"]["status"] == "True"

        async def launched() -> bool:
            return bool(await nodeclaims_of(kube, name))

        await until(launched, what="a NodeClaim for the pod")
    finally:
        await kube.delete("v1", "Pod", name, "default")

        async def cleaned() -> bool:  # emptiness removes the node (consolidateAfter: 0s)
            return not await nodeclaims_of(kube, name)

        await until(cleaned, what="the empty node removed")
        await kube.delete("karpenter.sh/v1", "NodePool", name)
        await kube.delete("karpenter.kwok.sh/v1alpha1", "KWOKNodeClass", name)
