"""The cluster as STATE tells it: latest objects by kind and key, and who owns which child."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graph_planner.runtime.labels import INSTANCE_ID

Kind = tuple[str, str]  # (apiVersion, kind)


def object_name(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace") or ""
    return f"{namespace}/{meta.get('name', '')}" if namespace else str(meta.get("name", ""))


@dataclass
class ClusterView:
    objects: dict[Kind, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    # instance uid -> child keys (kind, name), from the kro.run/instance-id label
    children: dict[str, set[tuple[Kind, str]]] = field(default_factory=lambda: defaultdict(set))

    def put(self, kind: Kind, name: str, obj: dict[str, Any] | None) -> dict[str, Any] | None:
        """Record the latest object (None deletes). Returns the previous one."""
        previous = self.objects[kind].pop(name, None)
        if previous is not None:
            self._unindex(kind, name, previous)
        if obj is not None:
            self.objects[kind][name] = obj
            owner = ((obj.get("metadata") or {}).get("labels") or {}).get(INSTANCE_ID)
            if owner:
                self.children[owner].add((kind, name))
        return previous

    def _unindex(self, kind: Kind, name: str, obj: Mapping[str, Any]) -> None:
        owner = ((obj.get("metadata") or {}).get("labels") or {}).get(INSTANCE_ID)
        if owner and owner in self.children:
            self.children[owner].discard((kind, name))
            if not self.children[owner]:
                del self.children[owner]

    def get(self, kind: Kind, name: str) -> dict[str, Any] | None:
        return self.objects.get(kind, {}).get(name)

    def of_kind(self, kind: Kind) -> list[dict[str, Any]]:
        return [self.objects[kind][name] for name in sorted(self.objects.get(kind, {}))]

    def children_of(self, uid: str) -> list[dict[str, Any]]:
        found = []
        for kind, name in sorted(self.children.get(uid, ())):
            obj = self.get(kind, name)
            if obj is not None:
                found.append(obj)
        return found

    def observed_for(self, uid: str, external_kinds: Iterable[Kind]) -> list[dict[str, Any]]:
        """What an instance's plan may look at: its children and every object of its external kinds."""
        observed = self.children_of(uid)
        for kind in sorted(set(external_kinds)):
            observed.extend(self.of_kind(kind))
        return observed
