"""Generate the bundled OpenAPI snapshot of built-in Kubernetes kinds.

Run from the repository root (it is a developer tool, not part of the core):

    .venv/bin/python -m graph_planner.schemas.generate \
        /root/go/pkg/mod/k8s.io/kubernetes@v1.35.4/api/openapi-spec/v3

It reads the official `/openapi/v3` documents of the stable (GA) API groups,
keeps only what type checking needs (type, format, properties, items,
additionalProperties, $ref, enum, nullable, required and the x-kubernetes-*
markers that change the shape), and writes `builtin.json.gz` beside this file:
`{"source": ..., "kinds": {"apps/v1/Deployment": "io.k8s.api.apps.v1.Deployment"},
"schemas": {name: schema}}`.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path
from typing import Any

# GA group-versions only: alpha/beta groups are not bundled.
STABLE_FILE = re.compile(r"^(api__v1|apis__[a-z0-9.\-]+__v[0-9]+)_openapi\.json$")

KEEP = (
    "type",
    "format",
    "properties",
    "items",
    "additionalProperties",
    "$ref",
    "allOf",
    "oneOf",
    "anyOf",
    "enum",
    "nullable",
    "required",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-int-or-string",
    "x-kubernetes-embedded-resource",
)


def trim(schema: Any) -> Any:
    """Drop descriptions, defaults and other documentation from one schema, recursively."""
    if isinstance(schema, list):
        return [trim(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key in KEEP:
        if key not in schema:
            continue
        value = schema[key]
        if key == "properties":
            out[key] = {name: trim(sub) for name, sub in sorted(value.items())}
        elif key in ("items", "additionalProperties", "allOf", "oneOf", "anyOf"):
            out[key] = trim(value)
        elif key == "$ref":
            out[key] = value.removeprefix("#/components/schemas/")
        else:
            out[key] = value
    # `allOf: [{$ref}]` is how the documents attach a description to a reference.
    if list(out) == ["allOf"] and len(out["allOf"]) == 1:
        return out["allOf"][0]
    return out


def generate(spec_dir: Path) -> dict[str, Any]:
    kinds: dict[str, str] = {}
    namespaced: dict[str, bool] = {}
    schemas: dict[str, Any] = {}
    for path in sorted(spec_dir.iterdir()):
        if not STABLE_FILE.match(path.name):
            continue
        document = json.loads(path.read_text())
        for url, operations in sorted(document.get("paths", {}).items()):
            for operation in operations.values():
                gvk = (
                    operation.get("x-kubernetes-group-version-kind") if isinstance(operation, dict) else None
                )
                if not gvk or "{name}" not in url or url.count("/") > url.index("{name}") + 7:
                    continue
                api_version = f"{gvk['group']}/{gvk['version']}" if gvk["group"] else gvk["version"]
                key = f"{api_version}/{gvk['kind']}"
                if url.endswith("{name}"):
                    namespaced.setdefault(key, "{namespace}" in url)
        for name, schema in sorted(document.get("components", {}).get("schemas", {}).items()):
            schemas[name] = trim(schema)
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                group, version, kind = gvk["group"], gvk["version"], gvk["kind"]
                if version.startswith("v") and ("alpha" in version or "beta" in version):
                    continue
                api_version = f"{group}/{version}" if group else version
                if kind in ("DeleteOptions", "WatchEvent", "Status", "APIResourceList", "APIGroupList"):
                    continue
                if kind.endswith("List") or kind.endswith("Options"):
                    continue
                kinds.setdefault(f"{api_version}/{kind}", name)
    return {
        "source": spec_dir.parent.parent.name,
        "kinds": dict(sorted(kinds.items())),
        "namespaced": {k: namespaced[k] for k in sorted(kinds) if k in namespaced},
        "schemas": schemas,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    snapshot = generate(Path(argv[0]))
    target = Path(__file__).with_name("builtin.json.gz")
    payload = json.dumps(snapshot, sort_keys=True, separators=(",", ":")).encode()
    target.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    print(
        f"{target}: {len(snapshot['kinds'])} kinds, {len(snapshot['schemas'])} schemas, {target.stat().st_size} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
