"""Pure: turn one `/openapi/v3/<group-version>` document into the graph engine's schema format.

The format is the one the graph-planner's bundled snapshot uses:
`{"kinds": {"apps/v1/Deployment": "<component>"}, "namespaced": {...}, "schemas": {<component>: schema}}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def schema_document(
    openapi: Mapping[str, Any], namespaced: Mapping[str, bool], source: str
) -> dict[str, Any]:
    components: dict[str, Any] = dict(openapi.get("components", {}).get("schemas", {}))
    kinds: dict[str, str] = {}
    for name, schema in sorted(components.items()):
        for gvk in schema.get("x-kubernetes-group-version-kind", []) or []:
            group, version, kind = gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")
            api_version = f"{group}/{version}" if group else version
            if kind.endswith("List") or kind in ("DeleteOptions", "WatchEvent", "Status", "APIResourceList"):
                continue
            kinds.setdefault(f"{api_version}/{kind}", name)
    return {
        "source": source,
        "kinds": kinds,
        "namespaced": {k: namespaced[k] for k in kinds if k in namespaced},
        "schemas": components,
    }


def schema_key(api_version: str) -> str:
    """The KV key of a group-version's schema document (KV keys allow `/` and `.`)."""
    return f"openapi/{api_version}"
