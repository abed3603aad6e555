"""An asyncio Kubernetes REST client: config, discovery, CRUD, apply, evict."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio import config as kube_config
from kubernetes_asyncio.client import Configuration

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class KubeError(Exception):
    """A non-2xx answer from the API server, with its Status reason and message."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def gone(self) -> bool:
        return self.status == 410


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API: `group/version`, plural, and scope."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
        if subresource:
            base += f"/{subresource}"
        return base


def _json_or_empty(text: str) -> dict[str, Any]:
    """The API server answers JSON, except some errors (a 404 for a group not served is plain text)."""
    if not text.lstrip().startswith("{"):
        return {}
    try:
        payload = json.loads(text)
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


class KubeClient:
    def __init__(self, configuration: Configuration, *, user_agent: str = "bosun") -> None:
        self.configuration = configuration
        self.host = str(configuration.host).rstrip("/")
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._resources: dict[tuple[str, str], Resource] = {}

    @classmethod
    async def from_env(cls, kubeconfig: str | None = None, *, user_agent: str = "bosun") -> KubeClient:
        """In-cluster config inside a pod; otherwise the kubeconfig (`KUBECONFIG` or given)."""
        configuration = Configuration()
        path = kubeconfig or os.environ.get("KUBECONFIG")
        if path is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            kube_config.load_incluster_config(client_configuration=configuration)
        else:
            await kube_config.load_kube_config(
                config_file=path, client_configuration=configuration, persist_config=False
            )
        return cls(configuration, user_agent=user_agent)

    def _ssl(self) -> ssl.SSLContext | bool:
        c = self.configuration
        if not c.verify_ssl:
            return False
        context = (
            ssl.create_default_context(cafile=c.ssl_ca_cert)
            if c.ssl_ca_cert
            else ssl.create_default_context()
        )
        if c.cert_file and c.key_file:
            context.load_cert_chain(c.cert_file, c.key_file)
        return context

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl(), limit=64)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        if content_type:
            headers["Content-Type"] = content_type
        auth = await self.configuration.auth_settings()
        for setting in auth.values():
            if setting.get("value"):
                headers[setting["key"]] = setting["value"]
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        data = json.dumps(body) if body is not None else None
        headers = await self._headers(content_type if data is not None else None)
        async with self.session.request(
            method,
            self.host + path,
            params=params,
            data=data,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            text = await resp.text()
            payload = _json_or_empty(text)
            if resp.status >= 400:
                raise KubeError(
                    resp.status,
                    str(payload.get("reason", resp.reason)),
                    str(payload.get("message", text)),
                    payload,
                )
            return payload

    async def stream(
        self, path: str, params: Mapping[str, str], *, timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield JSON lines of a streaming response (a watch)."""
        headers = await self._headers(None)
        async with self.session.get(
            self.host + path,
            params=params,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout),
        ) as resp:
            if resp.status >= 400:
                text = await resp.text()
                payload = _json_or_empty(text)
                raise KubeError(
                    resp.status, str(payload.get("reason", resp.reason)), str(payload.get("message", text))
                )
            async for line in resp.content:
                if line.strip():
                    yield json.loads(line)

    # -- discovery ------------------------------------------------------------

    async def resource(self, api_version: str, kind: str) -> Resource:
        key = (api_version, kind)
        if key not in self._resources:
            await self._discover(api_version)
        if key not in self._resources:
            raise KubeError(
                404, "NotFound", f"the server has no resource for kind {kind!r} in {api_version!r}"
            )
        return self._resources[key]

    async def _discover(self, api_version: str) -> None:
        group, version = split_api_version(api_version)
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        listing = await self.request("GET", path)
        for entry in listing.get("resources", []):
            if "/" in entry["name"]:
                continue  # subresources
            self._resources[(api_version, entry["kind"])] = Resource(
                group=group,
                version=version,
                kind=entry["kind"],
                plural=entry["name"],
                namespaced=entry["namespaced"],
            )

    async def resources_in(self, api_version: str) -> list[Resource]:
        """Every kind the server serves in one group-version (freshly discovered)."""
        await self._discover(api_version)
        return [r for (av, _), r in sorted(self._resources.items()) if av == api_version]

    def forget_discovery(self, api_version: str | None = None) -> None:
        """Drop cached discovery (after a CRD changes)."""
        if api_version is None:
            self._resources.clear()
        else:
            self._resources = {k: v for k, v in self._resources.items() if k[0] != api_version}

    # -- objects --------------------------------------------------------------

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        res = await self.resource(api_version, kind)
        return await self.request("GET", res.path(namespace, name))

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None, *, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """All objects (paged) and the list's resourceVersion."""
        res = await self.resource(api_version, kind)
        items: list[dict[str, Any]] = []
        params: dict[str, str] = {"limit": "500"}
        if label_selector:
            params["labelSelector"] = label_selector
        while True:
            page = await self.request("GET", res.path(namespace), params=params)
            for item in page.get("items", []):
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                items.append(item)
            token = page.get("metadata", {}).get("continue")
            if not token:
                return items, str(page.get("metadata", {}).get("resourceVersion", ""))
            params["continue"] = token

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        res = await self.resource(obj["apiVersion"], obj["kind"])
        return await self.request("POST", res.path(obj["metadata"].get("namespace")), body=obj)

    async def apply(
        self,
        obj: dict[str, Any],
        *,
        field_manager: str,
        force: bool = True,
        subresource: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply. Applying the same manifest twice changes nothing."""
        res = await self.resource(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        params = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            params["dryRun"] = "All"
        return await self.request(
            "PATCH",
            res.path(meta.get("namespace"), meta["name"], subresource),
            params=params,
            body=obj,
            content_type=APPLY_PATCH,
        )

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Any,
        *,
        content_type: str = MERGE_PATCH,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        res = await self.resource(api_version, kind)
        return await self.request(
            "PATCH", res.path(namespace, name, subresource), body=patch, content_type=content_type
        )

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        uid: str | None = None,
        resource_version: str | None = None,
        propagation_policy: str = "Background",
        grace_period_seconds: int | None = None,
    ) -> dict[str, Any]:
        """Delete; `uid` / `resource_version` are preconditions (409 if they no longer match)."""
        res = await self.resource(api_version, kind)
        body: dict[str, Any] = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation_policy,
        }
        preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v}
        if preconditions:
            body["preconditions"] = preconditions
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        return await self.request("DELETE", res.path(namespace, name), body=body)

    async def evict(
        self, name: str, namespace: str, *, grace_period_seconds: int | None = None
    ) -> dict[str, Any]:
        """The Eviction API: 429 while a PodDisruptionBudget forbids it."""
        body: dict[str, Any] = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        if grace_period_seconds is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace_period_seconds}
        return await self.request("POST", f"/api/v1/namespaces/{namespace}/pods/{name}/eviction", body=body)
