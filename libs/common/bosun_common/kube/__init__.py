"""Kubernetes access for the informer and the k8s-actuator (planners never touch it).

`client.KubeClient` is an aiohttp client configured by kubernetes-asyncio's
kubeconfig and in-cluster loaders, with discovery, server-side apply, status,
delete-with-preconditions and eviction. `watch.list_and_watch` is a reflector:
list, then watch with bookmarks, resume from the last resourceVersion on
disconnect, and re-list (emitting only the differences) on 410 Gone.
"""

from bosun_common.kube.client import KubeClient, KubeError, Resource
from bosun_common.kube.watch import WatchEvent, list_and_watch

__all__ = ["KubeClient", "KubeError", "Resource", "WatchEvent", "list_and_watch"]
