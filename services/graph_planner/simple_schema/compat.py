"""Is an updated CRD compatible with the one already installed? (kro's breaking-change check)

Breaking: a removed field, a changed type, a newly required field without a
default, a narrower enum, a new or changed pattern, a changed kind, group or
version name. The RGD annotation `kro.run/allow-breaking-changes: "true"` lets
the update through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ALLOW_BREAKING = "kro.run/allow-breaking-changes"


def _schema(crd: Mapping[str, Any]) -> Mapping[str, Any]:
    versions = (crd.get("spec") or {}).get("versions") or [{}]
    storage = next((v for v in versions if v.get("storage")), versions[0])
    return ((storage.get("schema") or {}).get("openAPIV3Schema")) or {}


def _compare(old: Mapping[str, Any], new: Mapping[str, Any], path: str, out: list[str]) -> None:
    if old.get("type") != new.get("type"):
        out.append(f"{path}: type changed from {old.get('type')} to {new.get('type')}")
        return
    old_enum, new_enum = old.get("enum"), new.get("enum")
    if new_enum is not None and (old_enum is None or set(map(str, old_enum)) - set(map(str, new_enum))):
        out.append(f"{path}: enum narrowed")
    if new.get("pattern") and new.get("pattern") != old.get("pattern"):
        out.append(f"{path}: pattern added or changed")
    old_props: Mapping[str, Any] = old.get("properties") or {}
    new_props: Mapping[str, Any] = new.get("properties") or {}
    for name in sorted(old_props):
        if name not in new_props:
            if not new.get("x-kubernetes-preserve-unknown-fields"):
                out.append(f"{path}.{name}: field removed")
            continue
        _compare(old_props[name], new_props[name], f"{path}.{name}", out)
    for name in sorted(set(new.get("required") or []) - set(old.get("required") or [])):
        if "default" not in (new_props.get(name) or {}):
            out.append(f"{path}.{name}: newly required without a default")
    for key in ("items", "additionalProperties"):
        if isinstance(old.get(key), Mapping) and isinstance(new.get(key), Mapping):
            _compare(old[key], new[key], f"{path}[]" if key == "items" else f"{path}{{}}", out)


def breaking_changes(old_crd: Mapping[str, Any], new_crd: Mapping[str, Any]) -> list[str]:
    """Each breaking difference between an installed CRD and its update, as `path: what`."""
    out: list[str] = []
    old_spec, new_spec = old_crd.get("spec") or {}, new_crd.get("spec") or {}
    if old_spec.get("group") != new_spec.get("group"):
        out.append("group changed")
    if (old_spec.get("names") or {}).get("kind") != (new_spec.get("names") or {}).get("kind"):
        out.append("kind changed")
    old_names = [v.get("name") for v in old_spec.get("versions") or []]
    new_names = [v.get("name") for v in new_spec.get("versions") or []]
    for name in old_names:
        if name not in new_names:
            out.append(f"version {name} removed")
    old_root, new_root = _schema(old_crd), _schema(new_crd)
    for part in ("spec", "status"):
        old_part = (old_root.get("properties") or {}).get(part)
        new_part = (new_root.get("properties") or {}).get(part)
        if isinstance(old_part, Mapping) and isinstance(new_part, Mapping):
            _compare(old_part, new_part, part, out)
    return out


def update_allowed(
    rgd: Mapping[str, Any], old_crd: Mapping[str, Any], new_crd: Mapping[str, Any]
) -> list[str]:
    """The breaking changes that block the update ([] when none, or when the RGD allows them)."""
    annotations = (rgd.get("metadata") or {}).get("annotations") or {}
    if str(annotations.get(ALLOW_BREAKING, "")).lower() == "true":
        return []
    return breaking_changes(old_crd, new_crd)
