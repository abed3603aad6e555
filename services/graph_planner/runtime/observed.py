"""The objects the informer reported, indexed for lookups by name and by label selector."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Key = tuple[str, str, str, str]


def object_key(obj: Mapping[str, Any]) -> Key:
    metadata = obj.get("metadata") or {}
    return (
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(metadata.get("namespace") or ""),
        str(metadata.get("name", "")),
    )


def matches_selector(labels: Mapping[str, str], selector: Mapping[str, Any]) -> bool:
    """A LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist)."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


class ObservedIndex:
    def __init__(self, objects: Iterable[Mapping[str, Any]]) -> None:
        self._by_key: dict[Key, Mapping[str, Any]] = {}
        for obj in objects:
            self._by_key[object_key(obj)] = obj

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._by_key.get((api_version, kind, namespace, name))

    def select(
        self, api_version: str, kind: str, namespace: str | None, selector: Mapping[str, Any]
    ) -> list[Mapping[str, Any]]:
        """Objects of a kind matching a selector; namespace None means all namespaces. Sorted by key."""
        found = []
        for key in sorted(self._by_key):
            if key[0] != api_version or key[1] != kind or (namespace is not None and key[2] != namespace):
                continue
            obj = self._by_key[key]
            if matches_selector((obj.get("metadata") or {}).get("labels") or {}, selector):
                found.append(obj)
        return found

    def labelled(self, label: str, value: str) -> list[Mapping[str, Any]]:
        """Objects carrying `label=value` (the recorded inventory of an instance), sorted by key."""
        return [
            self._by_key[key]
            for key in sorted(self._by_key)
            if ((self._by_key[key].get("metadata") or {}).get("labels") or {}).get(label) == value
        ]
