"""Apply OpenAPI `default`s to a value, as the API server does for a CRD (structural defaulting)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """A copy of `value` with missing fields filled from `default`, recursively."""
    if isinstance(value, dict):
        out = dict(value)
        properties: Mapping[str, Any] = schema.get("properties") or {}
        for key, sub in properties.items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
            if key in out:
                out[key] = apply_defaults(sub, out[key])
        additional = schema.get("additionalProperties")
        if isinstance(additional, Mapping):
            for key in out:
                if key not in properties:
                    out[key] = apply_defaults(additional, out[key])
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [apply_defaults(schema["items"], item) for item in value]
    return value
