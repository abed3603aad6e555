"""A reflector: list, then watch; resume on disconnect; re-list on 410 Gone.

It keeps the resourceVersion of every object it has emitted, so that a re-list
emits only real differences (no duplicates) and synthesises DELETED for objects
that vanished while the watch was down (nothing lost).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from bosun_common.kube.client import KubeClient, KubeError

log = logging.getLogger("bosun.kube.watch")

EventType = Literal["ADDED", "MODIFIED", "DELETED", "SYNCED"]


@dataclass(frozen=True)
class WatchEvent:
    """A change; `SYNCED` (no object) marks the end of a (re-)list."""

    type: EventType
    object: dict[str, Any]
    resource_version: str


def object_key(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return f"{meta.get('namespace') or ''}/{meta.get('name')}"


async def list_and_watch(
    client: KubeClient,
    api_version: str,
    kind: str,
    *,
    namespace: str | None = None,
    resource_version: str | None = None,
    watch_timeout: int = 290,
    stop: asyncio.Event | None = None,
    known: dict[str, str] | None = None,
) -> AsyncIterator[WatchEvent]:
    """Yield every change to `kind` forever (until `stop`), starting with a list.

    `resource_version` resumes a watch without listing first (a restart with a
    remembered position); if it is too old, the API server answers 410 and the
    reflector re-lists. `known` ("namespace/name" -> resourceVersion, e.g. rebuilt
    from what was published before a restart) makes the first list emit only
    the differences.
    """
    known = dict(known or {})
    rv = resource_version
    failures = 0
    while stop is None or not stop.is_set():
        try:
            if rv is None:
                items, rv = await client.list(api_version, kind, namespace)
                for event in _diff(known, items, api_version, kind):
                    yield event
                yield WatchEvent("SYNCED", {}, rv)
            res = await client.resource(api_version, kind)
            params = {
                "watch": "1",
                "allowWatchBookmarks": "true",
                "resourceVersion": rv,
                "timeoutSeconds": str(watch_timeout),
            }
            async for raw in client.stream(res.path(namespace), params, timeout=watch_timeout + 30):
                failures = 0
                etype = raw.get("type")
                obj = raw.get("object", {})
                if etype == "BOOKMARK":
                    rv = obj.get("metadata", {}).get("resourceVersion", rv)
                    continue
                if etype == "ERROR":
                    if obj.get("code") == 410:
                        raise KubeError(410, "Expired", str(obj.get("message", "")))
                    raise KubeError(
                        int(obj.get("code", 500)), str(obj.get("reason", "")), str(obj.get("message", ""))
                    )
                obj.setdefault("apiVersion", api_version)
                obj.setdefault("kind", kind)
                meta = obj.get("metadata", {})
                rv = meta.get("resourceVersion", rv)
                key = object_key(obj)
                if etype == "DELETED":
                    known.pop(key, None)
                else:
                    if known.get(key) == rv:
                        continue  # already emitted (a resumed watch replays nothing new)
                    known[key] = rv or ""
                yield WatchEvent(etype, obj, rv or "")  # type: ignore[arg-type]
        except KubeError as exc:
            if exc.gone:
                log.info("watch %s %s: 410 Gone, re-listing", api_version, kind)
                rv = None
                continue
            if exc.not_found:
                client.forget_discovery(api_version)
            failures += 1
            log.warning("watch %s %s: %s", api_version, kind, exc)
            await _backoff(failures)
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            failures += 1
            log.warning("watch %s %s interrupted (%s); resuming from %s", api_version, kind, exc, rv)
            await _backoff(failures)
        except Exception:  # a reflector must outlive anything the server sends
            failures += 1
            log.exception("watch %s %s failed unexpectedly; re-listing", api_version, kind)
            rv = None
            await _backoff(failures)


def _diff(
    known: dict[str, str], items: list[dict[str, Any]], api_version: str, kind: str
) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    seen: set[str] = set()
    for obj in items:
        key = object_key(obj)
        seen.add(key)
        rv = obj.get("metadata", {}).get("resourceVersion", "")
        if key not in known:
            events.append(WatchEvent("ADDED", obj, rv))
        elif known[key] != rv:
            events.append(WatchEvent("MODIFIED", obj, rv))
        known[key] = rv
    for key in sorted(set(known) - seen):
        namespace, _, name = key.partition("/")
        gone = {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace or None},
        }
        events.append(WatchEvent("DELETED", gone, known.pop(key)))
    return events


async def _backoff(failures: int) -> None:
    delay = min(10.0, 0.2 * (2 ** min(failures, 6)))
    await asyncio.sleep(delay * (0.5 + random.random() / 2))  # jitter; not part of any plan
