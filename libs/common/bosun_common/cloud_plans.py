"""Cloud plans: what the node-planner asks the cloud-actuator to make true.

`LaunchInstance` carries the NodeClaim as written (requirements, resources,
taints, nodeClassRef): the provider picks the cheapest compatible offering among
the claim's instance types, zones and capacity types, and answers with an
`Instance`. `TerminateInstance` is idempotent: terminating an instance that is
already gone succeeds. Outcomes travel as `CloudOutcome`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from bosun_common.codec import Message
from bosun_common.karpenter import NodeClaim


class Instance(BaseModel):
    """A launched machine, as the provider reports it."""

    providerID: str
    nodeClaim: str
    nodePool: str | None = None
    instanceType: str
    zone: str
    capacityType: str
    price: float
    imageID: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    capacity: dict[str, str] = Field(default_factory=dict)
    allocatable: dict[str, str] = Field(default_factory=dict)
    state: Literal["pending", "running", "terminating", "terminated"] = "running"
    launchedAt: str | None = None


class LaunchInstance(BaseModel):
    op: Literal["launch"] = "launch"
    nodeClaim: NodeClaim


class TerminateInstance(BaseModel):
    op: Literal["terminate"] = "terminate"
    nodeClaim: str
    providerID: str


CloudAction = Annotated[LaunchInstance | TerminateInstance, Field(discriminator="op")]


class CloudPlan(Message):
    """One action for the cloud-actuator, keyed by NodeClaim name."""

    KIND = "CloudPlan"

    key: str
    action: CloudAction


CloudErrorReason = Literal[
    "InsufficientCapacity", "NodeClassNotReady", "NotFound", "CreateError", "DeleteError", "InvalidRequest"
]


class CloudOutcome(Message):
    """What the cloud-actuator did: the instance, or an error with Karpenter's error kind."""

    KIND = "CloudOutcome"

    key: str
    op: Literal["launch", "terminate", "garbage-collect"]
    ok: bool
    instance: Instance | None = None
    reason: CloudErrorReason | None = None
    message: str = ""
    # Offerings the provider found unavailable while launching (zone, capacity type,
    # instance type), so planners can avoid them for a while.
    unavailableOfferings: list[tuple[str, str, str]] = Field(default_factory=list)
    # Set when the plan was not executed: a newer plan for its key ran first.
    skipped: str | None = None
