"""The CloudProvider protocol: what the cloud-actuator needs from a cloud, and its typed errors.

A provider creates an instance for a NodeClaim (idempotently: a claim that
already has an instance gets that instance back), deletes, gets and lists
instances, reports its instance-type catalog (including offerings that are
currently unavailable) and says whether an instance has drifted from its claim.

Errors carry Karpenter's error kinds, which become `CloudOutcome.reason`:
`InsufficientCapacity` (with the offerings found unavailable), `NodeClassNotReady`,
`NotFound`, `CreateError`, `DeleteError` and `InvalidRequest`. `TransientError`
means "try again later" (throttling, the cloud API unreachable).

May import: the standard library and bosun_common.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from bosun_common.catalog import Catalog, InstanceType
from bosun_common.cloud_plans import CloudErrorReason, Instance
from bosun_common.karpenter import NodeClaim

# (zone, capacity type, instance type): the order of CloudOutcome.unavailableOfferings.
OfferingKey = tuple[str, str, str]


class CloudError(Exception):
    """A provider error with Karpenter's error kind."""

    reason: CloudErrorReason = "CreateError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InsufficientCapacity(CloudError):
    """No compatible offering had capacity; `unavailable` lists the offerings that failed."""

    reason: CloudErrorReason = "InsufficientCapacity"

    def __init__(self, message: str, unavailable: Sequence[OfferingKey] = ()) -> None:
        super().__init__(message)
        self.unavailable = list(unavailable)


class NodeClassNotReady(CloudError):
    reason: CloudErrorReason = "NodeClassNotReady"


class NotFound(CloudError):
    reason: CloudErrorReason = "NotFound"


class CreateError(CloudError):
    reason: CloudErrorReason = "CreateError"


class DeleteError(CloudError):
    reason: CloudErrorReason = "DeleteError"


class InvalidRequest(CloudError):
    reason: CloudErrorReason = "InvalidRequest"


class TransientError(Exception):
    """The cloud could not be asked right now (throttled, unreachable): retry later."""


@runtime_checkable
class CloudProvider(Protocol):
    """One cloud. Implementations: `providers.sim.SimProvider`, `providers.aws.AwsProvider`."""

    @property
    def name(self) -> str: ...

    async def create(
        self, nodeclaim: NodeClaim, unavailable: builtins.list[OfferingKey] | None = None
    ) -> Instance:
        """Launch (or find) the instance for `nodeclaim`.

        Offerings that turned out to have no capacity are appended to `unavailable`
        (when given), also when a fallback offering then succeeded.
        """
        ...

    async def delete(self, provider_id: str) -> None:
        """Terminate the instance; raises NotFound when it is already gone."""
        ...

    async def get(self, provider_id: str) -> Instance:
        """The instance, or NotFound."""
        ...

    async def list(self) -> builtins.list[Instance]:
        """Every live instance this provider launched for this cluster, ordered by providerID."""
        ...

    def catalog(self) -> Catalog:
        """The catalog (every instance type, unavailable offerings flagged `available: false`)."""
        ...

    def instance_types(self) -> builtins.list[InstanceType]:
        """`catalog().instanceTypes`."""
        ...

    async def is_drifted(self, nodeclaim: NodeClaim) -> str | None:
        """A drift reason when the claim's instance no longer matches what it would launch now."""
        ...

    async def close(self) -> None: ...
