"""The CustomResourceDefinition kro generates for an RGD's new kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

CONDITION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "lastTransitionTime": {"type": "string"},
        "message": {"type": "string"},
        "observedGeneration": {"type": "integer"},
        "reason": {"type": "string"},
        "status": {"type": "string"},
        "type": {"type": "string"},
    },
}


RESOURCE_STATES_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "state": {"type": "string"},
            "reason": {"type": "string"},
            "message": {"type": "string"},
        },
    },
}


def default_printer_columns() -> list[dict[str, Any]]:
    """kro's columns when the RGD gives none: State, Ready, Age."""
    return [
        {
            "name": "State",
            "description": "The state of a ResourceGraphDefinition instance",
            "priority": 0,
            "type": "string",
            "jsonPath": ".status.state",
        },
        {
            "name": "Ready",
            "description": "Whether a ResourceGraphDefinition instance is ready",
            "priority": 0,
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        },
        {
            "name": "Age",
            "description": "Age of the resource",
            "priority": 0,
            "type": "date",
            "jsonPath": ".metadata.creationTimestamp",
        },
    ]


def pluralize(kind: str) -> str:
    """Lower-case English plural of a kind, as the CRD's `plural` name."""
    word = kind.lower()
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


@dataclass(frozen=True)
class CRDInput:
    kind: str
    api_version: str
    spec_schema: Mapping[str, Any]
    status_schema: Mapping[str, Any]
    group: str = "kro.run"
    scope: str = "Namespaced"
    short_names: Sequence[str] = ()
    categories: Sequence[str] = ()
    printer_columns: Sequence[Mapping[str, Any]] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    rgd_name: str = ""


def status_schema_with_defaults(inferred: Mapping[str, Any]) -> dict[str, Any]:
    """The user's inferred status fields plus kro's `state` and `conditions` (unless the user defines them)."""
    properties = dict(inferred.get("properties", {}))
    properties.setdefault("state", {"type": "string"})
    properties.setdefault("conditions", {"type": "array", "items": CONDITION_SCHEMA})
    # Bosun's addition: each resource's state and wait/error reason (kro #609, #1252).
    properties.setdefault("resources", RESOURCE_STATES_SCHEMA)
    return {"type": "object", "properties": dict(sorted(properties.items()))}


def build_crd(data: CRDInput) -> dict[str, Any]:
    """The generated CRD: `<plural>.<group>`, one served+storage version, status subresource."""
    plural = pluralize(data.kind)
    names: dict[str, Any] = {
        "kind": data.kind,
        "listKind": f"{data.kind}List",
        "plural": plural,
        "singular": data.kind.lower(),
    }
    if data.short_names:
        names["shortNames"] = list(data.short_names)
    if data.categories:
        names["categories"] = list(data.categories)
    columns = (
        default_printer_columns() if data.printer_columns is None else [dict(c) for c in data.printer_columns]
    )
    labels = {"kro.run/owned": "true", **dict(sorted(data.labels.items()))}
    if data.rgd_name:
        labels["kro.run/resource-graph-definition-name"] = data.rgd_name
    metadata: dict[str, Any] = {"name": f"{plural}.{data.group}", "labels": labels}
    if data.annotations:
        metadata["annotations"] = dict(sorted(data.annotations.items()))
    openapi = {
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
            "spec": dict(data.spec_schema),
            "status": status_schema_with_defaults(data.status_schema),
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {
            "group": data.group,
            "names": names,
            "scope": data.scope,
            "versions": [
                {
                    "name": data.api_version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": openapi},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": columns,
                }
            ],
        },
    }
