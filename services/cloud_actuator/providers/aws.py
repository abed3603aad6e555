"""The `aws` provider: EC2 through aiobotocore.

- `create`: an `instant` CreateFleet with one launch template (`$Latest`) and
  overrides across the claim's compatible instance types x subnets (one subnet per
  zone), cheapest first, for one capacity type chosen by Karpenter's rule (spot
  when allowed and available, on-demand otherwise). Instances are tagged
  `karpenter.sh/nodeclaim`, `karpenter.sh/nodepool` and
  `kubernetes.io/cluster/<cluster>: owned`. Fleet errors with a capacity code mark
  the offering unavailable; no instance at all is `InsufficientCapacity` (all
  errors were capacity errors) or `CreateError`.
- Idempotent: an instance tagged with the claim's name is returned, not relaunched.
- `delete`: TerminateInstances (NotFound when gone); `get` / `list`: DescribeInstances
  by id or by the cluster and nodeclaim tags.
- The node class is the launch template plus subnets (`subnets`, or those tagged
  `subnet_tag`); either missing is `NodeClassNotReady`.

May import: the standard library, third-party packages, bosun_common and cloud_actuator.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from bosun_common.catalog import (
    CAPACITY_TYPE_ON_DEMAND,
    CAPACITY_TYPE_SPOT,
    LABEL_NODEPOOL,
    Catalog,
    InstanceType,
    format_resource_list,
)
from bosun_common.cloud_plans import Instance
from bosun_common.karpenter import NodeClaim
from cloud_actuator.offerings import (
    Candidate,
    RequestError,
    UnavailableOfferings,
    by_capacity_type,
    compatible_offerings,
    offering_labels,
)
from cloud_actuator.provider import (
    CreateError,
    DeleteError,
    InsufficientCapacity,
    InvalidRequest,
    NodeClassNotReady,
    NotFound,
    OfferingKey,
    TransientError,
)

log = logging.getLogger("bosun.cloud.aws")

TAG_NODECLAIM = "karpenter.sh/nodeclaim"
TAG_NODEPOOL = LABEL_NODEPOOL
MAX_OVERRIDES = 60
NODE_CLASS_TTL = 60.0
# CreateFleet error codes that mean "no capacity for this offering" (Karpenter's list).
CAPACITY_ERRORS = frozenset(
    {
        "InsufficientInstanceCapacity",
        "MaxSpotInstanceCountExceeded",
        "VcpuLimitExceeded",
        "UnfulfillableCapacity",
        "Unsupported",
        "InsufficientFreeAddressesInSubnet",
        "ReservationCapacityExceeded",
    }
)
TRANSIENT_ERRORS = frozenset(
    {"RequestLimitExceeded", "Throttling", "ThrottlingException", "InternalError", "Unavailable"}
)
LIVE_STATES = ("pending", "running", "stopping", "stopped", "shutting-down")
STATE_MAP = {
    "pending": "pending",
    "running": "running",
    "stopping": "terminating",
    "stopped": "terminating",
    "shutting-down": "terminating",
    "terminated": "terminated",
}


@dataclass(frozen=True)
class AwsSettings:
    region: str = "us-east-1"
    endpoint_url: str | None = None
    cluster_name: str = "bosun"
    launch_template: str = "bosun-nodes"
    subnets: tuple[str, ...] = ()
    subnet_tag: str = "karpenter.sh/discovery=bosun"

    @property
    def cluster_tag(self) -> str:
        return f"kubernetes.io/cluster/{self.cluster_name}"


def provider_id(zone: str, instance_id: str) -> str:
    return f"aws:///{zone}/{instance_id}"


def instance_id_from(provider_id_: str) -> str:
    if (
        not provider_id_.startswith("aws:///")
        or provider_id_.count("/") != 4
        or not provider_id_.rsplit("/", 1)[1]
    ):
        raise InvalidRequest(
            f"providerID {provider_id_!r} is not an EC2 instance (expected aws:///<zone>/<id>)"
        )
    return provider_id_.rsplit("/", 1)[1]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class AwsProvider:
    name = "aws"

    def __init__(
        self, catalog: Catalog, settings: AwsSettings, *, unavailable: UnavailableOfferings | None = None
    ):
        self.base_catalog = catalog
        self.settings = settings
        self.unavailable = unavailable or UnavailableOfferings()
        self._stack = contextlib.AsyncExitStack()
        self._ec2: Any = None
        self._node_class: tuple[float, dict[str, str]] | None = None

    async def start(self) -> None:
        session = get_session()
        self._ec2 = await self._stack.enter_async_context(
            session.create_client(
                "ec2", region_name=self.settings.region, endpoint_url=self.settings.endpoint_url
            )
        )

    async def close(self) -> None:
        await self._stack.aclose()

    async def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await getattr(self._ec2, operation)(**params)
        except ClientError as exc:
            if _code(exc) in TRANSIENT_ERRORS:
                raise TransientError(f"{operation}: {exc}") from None
            raise
        except BotoCoreError as exc:  # endpoint unreachable, connection reset, ...
            raise TransientError(f"{operation}: {exc}") from None
        return result

    # -- catalog --------------------------------------------------------------------

    def catalog(self) -> Catalog:
        return self.unavailable.apply(self.base_catalog)

    def instance_types(self) -> builtins.list[InstanceType]:
        return self.catalog().instanceTypes

    # -- node class -------------------------------------------------------------------

    async def subnets_by_zone(self) -> dict[str, str]:
        """One subnet per zone (the one with the most free addresses, then the lowest id)."""
        if self.settings.subnets:
            params: dict[str, Any] = {"SubnetIds": list(self.settings.subnets)}
        else:
            key, _, value = self.settings.subnet_tag.partition("=")
            params = {"Filters": [{"Name": f"tag:{key}", "Values": [value or "*"]}]}
        try:
            subnets = (await self._call("describe_subnets", **params)).get("Subnets", [])
        except ClientError as exc:
            raise NodeClassNotReady(f"subnets: {exc}") from None
        chosen: dict[str, tuple[int, str]] = {}
        for subnet in subnets:
            zone, ident = subnet["AvailabilityZone"], subnet["SubnetId"]
            rank = (-int(subnet.get("AvailableIpAddressCount", 0)), ident)
            if zone not in chosen or rank < chosen[zone]:
                chosen[zone] = rank
        return {zone: rank[1] for zone, rank in sorted(chosen.items())}

    async def node_class(self) -> dict[str, str]:
        """Check the launch template and resolve the subnets; a good answer is cached for a minute."""
        now = time.monotonic()
        if self._node_class is not None and now - self._node_class[0] < NODE_CLASS_TTL:
            return self._node_class[1]
        await self._check_launch_template()
        subnets = await self.subnets_by_zone()
        if not subnets:
            raise NodeClassNotReady(f"no subnets found ({self.settings.subnets or self.settings.subnet_tag})")
        self._node_class = (now, subnets)
        return subnets

    async def _check_launch_template(self) -> None:
        try:
            await self._call("describe_launch_templates", LaunchTemplateNames=[self.settings.launch_template])
        except ClientError as exc:
            raise NodeClassNotReady(f"launch template {self.settings.launch_template!r}: {exc}") from None

    # -- instances ----------------------------------------------------------------------

    def _to_instance(self, raw: dict[str, Any]) -> Instance:
        tags = {t["Key"]: t["Value"] for t in raw.get("Tags", [])}
        zone = raw.get("Placement", {}).get("AvailabilityZone", "")
        capacity_type = (
            CAPACITY_TYPE_SPOT if raw.get("InstanceLifecycle") == "spot" else CAPACITY_TYPE_ON_DEMAND
        )
        type_name = raw.get("InstanceType", "")
        instance_type = self.base_catalog.by_name().get(type_name)
        price, labels, capacity, allocatable = 0.0, {}, {}, {}
        if instance_type is not None:
            offering = next(
                (o for o in instance_type.offerings if o.zone == zone and o.capacityType == capacity_type),
                None,
            )
            if offering is not None:
                price = offering.price
                labels = offering_labels(instance_type, offering, self.base_catalog.region)
            capacity = format_resource_list(instance_type.capacity_milli())
            allocatable = format_resource_list(instance_type.allocatable())
        if tags.get(TAG_NODEPOOL):
            labels[LABEL_NODEPOOL] = tags[TAG_NODEPOOL]
        launched = raw.get("LaunchTime")
        return Instance(
            providerID=provider_id(zone, raw["InstanceId"]),
            nodeClaim=tags.get(TAG_NODECLAIM, ""),
            nodePool=tags.get(TAG_NODEPOOL),
            instanceType=type_name,
            zone=zone,
            capacityType=capacity_type,
            price=price,
            imageID=raw.get("ImageId"),
            labels=dict(sorted(labels.items())),
            capacity=capacity,
            allocatable=allocatable,
            state=STATE_MAP.get(raw.get("State", {}).get("Name", ""), "pending"),  # type: ignore[arg-type]
            launchedAt=launched.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if isinstance(launched, dt.datetime)
            else None,
        )

    async def _describe(self, **params: Any) -> builtins.list[Instance]:
        instances: builtins.list[Instance] = []
        token: str | None = None
        while True:
            page = await self._call("describe_instances", **params, **({"NextToken": token} if token else {}))
            for reservation in page.get("Reservations", []):
                instances.extend(self._to_instance(raw) for raw in reservation.get("Instances", []))
            token = page.get("NextToken")
            if not token:
                return sorted(instances, key=lambda i: i.providerID)

    def _filters(
        self, *extra: dict[str, Any], states: Sequence[str] = LIVE_STATES
    ) -> builtins.list[dict[str, Any]]:
        return [
            {"Name": f"tag:{self.settings.cluster_tag}", "Values": ["owned"]},
            {"Name": "tag-key", "Values": [TAG_NODECLAIM]},
            {"Name": "instance-state-name", "Values": list(states)},
            *extra,
        ]

    async def find(self, nodeclaim: str) -> Instance | None:
        """The live instance launched for this NodeClaim, if any."""
        found = await self._describe(
            Filters=self._filters(
                {"Name": f"tag:{TAG_NODECLAIM}", "Values": [nodeclaim]}, states=("pending", "running")
            )
        )
        return found[0] if found else None

    async def create(
        self, nodeclaim: NodeClaim, unavailable: builtins.list[OfferingKey] | None = None
    ) -> Instance:
        if not nodeclaim.name:
            raise InvalidRequest("the NodeClaim has no name")
        existing = await self.find(nodeclaim.name)
        if existing is not None:
            return existing
        subnets = await self.node_class()
        try:
            candidates = compatible_offerings(nodeclaim, self.catalog(), zones=subnets)
        except RequestError as exc:
            raise InvalidRequest(str(exc)) from None
        if not candidates:
            raise InsufficientCapacity(
                "no available offering satisfies the NodeClaim's requirements and requests in the subnets' zones"
            )
        capacity_type, chosen = by_capacity_type(candidates)
        if not chosen:
            raise InsufficientCapacity("no spot or on-demand offering is allowed and available")
        overrides = self._overrides(chosen[:MAX_OVERRIDES], subnets)
        response = await self._fleet(nodeclaim, capacity_type, overrides)
        zone_of = {subnet: zone for zone, subnet in subnets.items()}
        failed = self._capacity_failures(response, capacity_type, zone_of)
        if unavailable is not None:
            unavailable.extend(failed)
        launched = [i for item in response.get("Instances", []) for i in item.get("InstanceIds", [])]
        if not launched:
            errors = response.get("Errors", [])
            text = (
                "; ".join(f"{e.get('ErrorCode')}: {e.get('ErrorMessage')}" for e in errors) or "no instance"
            )
            if errors and all(e.get("ErrorCode") in CAPACITY_ERRORS for e in errors):
                raise InsufficientCapacity(f"CreateFleet: {text}", failed)
            raise CreateError(f"CreateFleet launched nothing: {text}")
        found = await self._describe(InstanceIds=[launched[0]])
        if not found:
            raise CreateError(f"instance {launched[0]} launched but not described")
        return found[0]

    def _overrides(
        self, chosen: Sequence[Candidate], subnets: dict[str, str]
    ) -> builtins.list[dict[str, Any]]:
        overrides: builtins.list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for candidate in chosen:
            pair = (candidate.instance_type.name, subnets[candidate.offering.zone])
            if pair in seen:
                continue
            seen.add(pair)
            overrides.append({"InstanceType": pair[0], "SubnetId": pair[1]})
        return overrides

    async def _fleet(
        self, nodeclaim: NodeClaim, capacity_type: str, overrides: builtins.list[dict[str, Any]]
    ) -> dict[str, Any]:
        tags = [
            {"Key": TAG_NODECLAIM, "Value": nodeclaim.name},
            {"Key": self.settings.cluster_tag, "Value": "owned"},
            {"Key": "Name", "Value": nodeclaim.name},
        ]
        if nodeclaim.nodepool:
            tags.append({"Key": TAG_NODEPOOL, "Value": nodeclaim.nodepool})
        params: dict[str, Any] = {
            "Type": "instant",
            "TargetCapacitySpecification": {
                "TotalTargetCapacity": 1,
                "DefaultTargetCapacityType": capacity_type,
            },
            "LaunchTemplateConfigs": [
                {
                    "LaunchTemplateSpecification": {
                        "LaunchTemplateName": self.settings.launch_template,
                        "Version": "$Latest",
                    },
                    "Overrides": overrides,
                }
            ],
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tags},
                {"ResourceType": "fleet", "Tags": tags},
            ],
        }
        if capacity_type == CAPACITY_TYPE_SPOT:
            params["SpotOptions"] = {"AllocationStrategy": "price-capacity-optimized"}
        else:
            params["OnDemandOptions"] = {"AllocationStrategy": "lowest-price"}
        try:
            return await self._call("create_fleet", **params)
        except ClientError as exc:
            raise CreateError(f"CreateFleet: {exc}") from None

    def _capacity_failures(
        self, response: dict[str, Any], capacity_type: str, zone_of: dict[str, str]
    ) -> builtins.list[OfferingKey]:
        failed: builtins.list[OfferingKey] = []
        for error in response.get("Errors", []):
            if error.get("ErrorCode") not in CAPACITY_ERRORS:
                continue
            override = error.get("LaunchTemplateAndOverrides", {}).get("Overrides", {})
            zone = override.get("AvailabilityZone") or zone_of.get(override.get("SubnetId", ""), "")
            key = (zone, error.get("Lifecycle") or capacity_type, override.get("InstanceType", ""))
            self.unavailable.mark(key)
            failed.append(key)
        return sorted(set(failed))

    async def delete(self, provider_id_: str) -> None:
        instance_id = instance_id_from(provider_id_)
        try:
            found = await self._describe(InstanceIds=[instance_id])
        except ClientError as exc:
            if _code(exc).startswith("InvalidInstanceID"):
                raise NotFound(f"{provider_id_}: {_code(exc)}") from None
            raise DeleteError(f"DescribeInstances: {exc}") from None
        if not found or found[0].state == "terminated":
            raise NotFound(f"{provider_id_} is terminated")
        try:
            await self._call("terminate_instances", InstanceIds=[instance_id])
        except ClientError as exc:
            if _code(exc).startswith("InvalidInstanceID"):
                raise NotFound(f"{provider_id_}: {_code(exc)}") from None
            raise DeleteError(f"TerminateInstances: {exc}") from None

    async def get(self, provider_id_: str) -> Instance:
        try:
            found = await self._describe(InstanceIds=[instance_id_from(provider_id_)])
        except ClientError as exc:
            raise NotFound(f"{provider_id_}: {_code(exc)}") from None
        if not found or found[0].state == "terminated":
            raise NotFound(f"{provider_id_} not found")
        return found[0]

    async def list(self) -> builtins.list[Instance]:
        return await self._describe(Filters=self._filters())

    async def is_drifted(self, nodeclaim: NodeClaim) -> str | None:
        """`AMIDrift` when the launch template's latest image differs from the instance's."""
        if not nodeclaim.status.providerID:
            return None
        try:
            instance = await self.get(nodeclaim.status.providerID)
            versions = await self._call(
                "describe_launch_template_versions",
                LaunchTemplateName=self.settings.launch_template,
                Versions=["$Latest"],
            )
        except (NotFound, ClientError):
            return None
        latest = versions.get("LaunchTemplateVersions", [{}])[0].get("LaunchTemplateData", {}).get("ImageId")
        if latest and instance.imageID and latest != instance.imageID:
            return "AMIDrift"
        return None
