"""The aws provider's CreateFleet request and its handling of fleet errors (which moto never returns).

A scripted EC2 client stands in for aiobotocore's: it records every call and
answers from the script, so the request shape and the capacity-error paths are
checked exactly; `tests/integration/test_cloud_actuator.py` runs the same
provider against a real moto_server.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from bosun_common.catalog import Catalog, InstanceType, Offering
from bosun_common.karpenter import NodeClaim
from cloud_actuator.offerings import UnavailableOfferings
from cloud_actuator.provider import CreateError, InsufficientCapacity, OfferingKey
from cloud_actuator.providers.aws import AwsProvider, AwsSettings

ZONES = ("us-east-1a", "us-east-1b")


def catalog() -> Catalog:
    def shape(name: str, price: float) -> InstanceType:
        return InstanceType(
            name=name,
            capacity={"cpu": "2", "memory": "8Gi", "pods": "29"},
            offerings=tuple(
                Offering(
                    zone=z, capacityType=k, price=round(price * (0.4 if k == "spot" else 1) + i * 0.001, 6)
                )
                for i, z in enumerate(ZONES)
                for k in ("spot", "on-demand")
            ),
        )

    return Catalog(
        name="t", region="us-east-1", instanceTypes=[shape("m5.large", 0.096), shape("c5.large", 0.085)]
    )


class ScriptedEC2:
    def __init__(self, fleet: dict[str, Any]) -> None:
        self.fleet = fleet
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, operation: str) -> Any:
        async def call(**params: Any) -> dict[str, Any]:
            self.calls.append((operation, params))
            if operation == "describe_subnets":
                return {
                    "Subnets": [
                        {
                            "SubnetId": "subnet-b",
                            "AvailabilityZone": "us-east-1b",
                            "AvailableIpAddressCount": 10,
                        },
                        {
                            "SubnetId": "subnet-a2",
                            "AvailabilityZone": "us-east-1a",
                            "AvailableIpAddressCount": 5,
                        },
                        {
                            "SubnetId": "subnet-a1",
                            "AvailabilityZone": "us-east-1a",
                            "AvailableIpAddressCount": 50,
                        },
                    ]
                }
            if operation == "create_fleet":
                return self.fleet
            if operation == "describe_instances" and "InstanceIds" in params:
                return {
                    "Reservations": [
                        {
                            "Instances": [
                                {
                                    "InstanceId": params["InstanceIds"][0],
                                    "InstanceType": "c5.large",
                                    "Placement": {"AvailabilityZone": "us-east-1b"},
                                    "InstanceLifecycle": "spot",
                                    "State": {"Name": "pending"},
                                    "LaunchTime": dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
                                    "Tags": [{"Key": "karpenter.sh/nodeclaim", "Value": "nc-1"}],
                                }
                            ]
                        }
                    ]
                }
            return {}

        return call


def provider(fleet: dict[str, Any]) -> tuple[AwsProvider, ScriptedEC2]:
    aws = AwsProvider(
        catalog(), AwsSettings(cluster_name="c1", launch_template="lt"), unavailable=UnavailableOfferings()
    )
    ec2 = ScriptedEC2(fleet)
    aws._ec2 = ec2
    return aws, ec2


def claim() -> NodeClaim:
    return NodeClaim.model_validate(
        {"metadata": {"name": "nc-1", "labels": {"karpenter.sh/nodepool": "general"}}}
    )


def ice(instance_type: str, subnet: str) -> dict[str, Any]:
    return {
        "ErrorCode": "InsufficientInstanceCapacity",
        "ErrorMessage": "no capacity",
        "Lifecycle": "spot",
        "LaunchTemplateAndOverrides": {"Overrides": {"InstanceType": instance_type, "SubnetId": subnet}},
    }


async def test_fleet_request_and_a_partial_capacity_error() -> None:
    aws, ec2 = provider({"Instances": [{"InstanceIds": ["i-1"]}], "Errors": [ice("c5.large", "subnet-a1")]})
    unavailable: list[OfferingKey] = []
    instance = await aws.create(claim(), unavailable)
    assert instance.providerID == "aws:///us-east-1b/i-1" and instance.capacityType == "spot"
    assert instance.price == pytest.approx(0.035) and instance.state == "pending"
    assert unavailable == [("us-east-1a", "spot", "c5.large")]
    assert aws.unavailable.is_unavailable(("us-east-1a", "spot", "c5.large"))
    fleet = next(params for op, params in ec2.calls if op == "create_fleet")
    assert fleet == {
        "Type": "instant",
        "TargetCapacitySpecification": {"TotalTargetCapacity": 1, "DefaultTargetCapacityType": "spot"},
        "LaunchTemplateConfigs": [
            {
                "LaunchTemplateSpecification": {"LaunchTemplateName": "lt", "Version": "$Latest"},
                # Cheapest first; the subnet with the most free addresses per zone.
                "Overrides": [
                    {"InstanceType": "c5.large", "SubnetId": "subnet-a1"},
                    {"InstanceType": "c5.large", "SubnetId": "subnet-b"},
                    {"InstanceType": "m5.large", "SubnetId": "subnet-a1"},
                    {"InstanceType": "m5.large", "SubnetId": "subnet-b"},
                ],
            }
        ],
        "TagSpecifications": [
            {
                "ResourceType": "instance",
                "Tags": [
                    {"Key": "karpenter.sh/nodeclaim", "Value": "nc-1"},
                    {"Key": "kubernetes.io/cluster/c1", "Value": "owned"},
                    {"Key": "Name", "Value": "nc-1"},
                    {"Key": "karpenter.sh/nodepool", "Value": "general"},
                ],
            },
            {
                "ResourceType": "fleet",
                "Tags": [
                    {"Key": "karpenter.sh/nodeclaim", "Value": "nc-1"},
                    {"Key": "kubernetes.io/cluster/c1", "Value": "owned"},
                    {"Key": "Name", "Value": "nc-1"},
                    {"Key": "karpenter.sh/nodepool", "Value": "general"},
                ],
            },
        ],
        "SpotOptions": {"AllocationStrategy": "price-capacity-optimized"},
    }
    # The next launch leaves the unavailable offering out of the overrides.
    await aws.create(claim())
    second = [params for op, params in ec2.calls if op == "create_fleet"][1]
    assert {"InstanceType": "c5.large", "SubnetId": "subnet-a1"} not in second["LaunchTemplateConfigs"][0][
        "Overrides"
    ]


async def test_only_capacity_errors_is_insufficient_capacity() -> None:
    aws, _ = provider(
        {"Instances": [], "Errors": [ice("c5.large", "subnet-a1"), ice("m5.large", "subnet-b")]}
    )
    with pytest.raises(InsufficientCapacity) as caught:
        await aws.create(claim())
    assert caught.value.unavailable == [
        ("us-east-1a", "spot", "c5.large"),
        ("us-east-1b", "spot", "m5.large"),
    ]


async def test_other_fleet_errors_are_create_errors() -> None:
    error = {"ErrorCode": "InvalidLaunchTemplateName.NotFoundException", "ErrorMessage": "no such template"}
    aws, _ = provider({"Instances": [], "Errors": [error]})
    with pytest.raises(
        CreateError, match=re.escape("InvalidLaunchTemplateName.NotFoundException: no such template")
    ):
        await aws.create(claim())
