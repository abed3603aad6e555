"""What plan_instance returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bosun_common.kube_plans import KubePlan

# Node states, from the instance's point of view.
READY = "Ready"  # observed, and its readyWhen holds
NOT_READY = "NotReady"  # observed, readyWhen not (yet) true
CREATING = "Creating"  # desired, not observed yet
PENDING = "Pending"  # inputs not available yet: not rendered
EXCLUDED = "Excluded"  # includeWhen false (or a dependency excluded)
ERROR = "Error"  # cannot be rendered (evaluation error, collection too large...)
DELETING = "Deleting"


@dataclass
class NodeState:
    """One resource's state on the instance, with why it is not ready yet."""

    id: str
    state: str
    reason: str = ""
    message: str = ""
    objects: list[dict[str, Any]] = field(default_factory=list)  # desired objects (rendered)

    @property
    def determined(self) -> bool:
        """Whether the node's desired objects are known (so pruning around it is safe)."""
        return self.state not in (PENDING, ERROR)

    def as_status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "state": self.state}
        if self.reason:
            out["reason"] = self.reason
        if self.message:
            out["message"] = self.message
        return out


@dataclass
class InstancePlan:
    """The plan for one instance, plus what it was derived from (for the CLI and tests)."""

    plan: KubePlan
    status: dict[str, Any]
    nodes: list[NodeState]
    desired: list[dict[str, Any]]
    pruned: list[dict[str, Any]]

    @property
    def pending(self) -> list[NodeState]:
        return [node for node in self.nodes if node.state == PENDING]
