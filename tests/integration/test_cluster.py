"""The local cluster is a real one: kwok nodes go Ready, kube-scheduler binds, pods run."""

from __future__ import annotations

import asyncio
from typing import Any

from bosun_common.kube import KubeClient


def kwok_node(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {"kubernetes.io/hostname": name, "bosun.dev/test": "cluster"},
        },
        "spec": {"taints": [{"key": "bosun.dev/test-only", "value": name, "effect": "NoSchedule"}]},
        "status": {
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110"},
            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
        },
    }


def deployment(name: str, node: str) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "nginx", "resources": {"requests": {"cpu": "500m"}}}
                    ],
                    "tolerations": [{"key": "bosun.dev/test-only", "operator": "Equal", "value": node}],
                    "nodeSelector": {"kubernetes.io/hostname": node},
                },
            },
        },
    }


async def wait_for(check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.2)


async def test_kwok_node_becomes_ready_and_runs_a_scheduled_pod(kube: KubeClient, unique: str) -> None:
    node_name = f"kwok-{unique}"
    await kube.create(kwok_node(node_name))

    async def node_ready() -> bool:
        node = await kube.get("v1", "Node", node_name)
        return any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (node.get("status") or {}).get("conditions") or []
        )

    await wait_for(node_ready)
    await kube.apply(deployment(f"web-{unique}", node_name), field_manager="bosun-tests")

    async def running_pod() -> dict[str, Any] | None:
        pods, _ = await kube.list("v1", "Pod", "default", label_selector=f"app=web-{unique}")
        for pod in pods:
            if pod.get("status", {}).get("phase") == "Running":
                return pod
        return None

    pod = await wait_for(running_pod)
    assert pod["spec"]["nodeName"] == node_name  # bound by kube-scheduler
    scheduled = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert scheduled["PodScheduled"] == "True" and scheduled["Ready"] == "True"
    await kube.delete("apps/v1", "Deployment", f"web-{unique}", "default")
    await kube.delete("v1", "Node", node_name)
