"""Taints and tolerations, with Kubernetes' matching rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str

    @staticmethod
    def parse(data: Mapping[str, object]) -> Taint:
        return Taint(str(data.get("key", "")), str(data.get("value") or ""), str(data.get("effect", "")))

    def describe(self) -> str:
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""

    @staticmethod
    def parse(data: Mapping[str, object]) -> Toleration:
        return Toleration(
            str(data.get("key") or ""),
            str(data.get("operator") or "Equal"),
            str(data.get("value") or ""),
            str(data.get("effect") or ""),
        )

    def tolerates(self, taint: Taint) -> bool:
        """Kubernetes' rule: empty effect matches all effects, empty key with Exists matches all keys."""
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        if not self.key and self.operator != "Exists":
            return False
        return self.value == taint.value


def untolerated_taint(
    taints: Iterable[Taint], tolerations: Sequence[Toleration], prefer_blocks: bool = True
) -> Taint | None:
    """The first taint no toleration tolerates.

    Like Karpenter's scheduler, PreferNoSchedule blocks too (`prefer_blocks`) until the
    preference relaxation tolerates it; kube-scheduler's view passes `prefer_blocks=False`.
    """
    for taint in taints:
        if taint.effect == "PreferNoSchedule" and not prefer_blocks:
            continue
        if not any(t.tolerates(taint) for t in tolerations):
            return taint
    return None


def tolerates_all(
    taints: Iterable[Taint], tolerations: Sequence[Toleration], prefer_blocks: bool = True
) -> bool:
    return untolerated_taint(taints, tolerations, prefer_blocks) is None


# Taints a node carries while it starts; pods need not tolerate them to be scheduled onto a new node.
EPHEMERAL_TAINTS = (
    Taint("node.kubernetes.io/not-ready", "", "NoSchedule"),
    Taint("node.kubernetes.io/unreachable", "", "NoSchedule"),
    Taint("node.cloudprovider.kubernetes.io/uninitialized", "true", "NoSchedule"),
    Taint("karpenter.sh/unregistered", "", "NoExecute"),
)
