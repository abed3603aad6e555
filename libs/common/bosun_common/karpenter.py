"""The Karpenter API (`karpenter.sh/v1`): NodePool and NodeClaim.

These models parse the same YAML users `kubectl apply` to Karpenter, fill the
same defaults (`expireAfter: 720h`, `consolidationPolicy:
WhenEmptyOrUnderutilized`, `consolidateAfter: 0s`, `budgets: [{nodes: 10%}]`,
`weight` unset) and reject what Karpenter's CRD validation rejects (an `In`
with no values, `Gt`/`Lt` without one non-negative integer, `minValues` out of
1..50 or above the number of `In` values, restricted label keys, more than 100
requirements, a budget `schedule` without a `duration`, ...).

May import: the standard library, third-party packages, and `bosun_common.catalog`.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bosun_common.catalog import (
    LABEL_ARCH,
    LABEL_CAPACITY_TYPE,
    LABEL_HOSTNAME,
    LABEL_INSTANCE_TYPE,
    LABEL_NODEPOOL,
    LABEL_OS,
    LABEL_REGION,
    LABEL_ZONE,
    parse_resource_list,
)

API_VERSION = "karpenter.sh/v1"
GROUP = "karpenter.sh"

LABEL_WINDOWS_BUILD = "node.kubernetes.io/windows-build"
LABEL_INITIALIZED = "karpenter.sh/initialized"
LABEL_REGISTERED = "karpenter.sh/registered"
ANNOTATION_DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
ANNOTATION_NODEPOOL_HASH = "karpenter.sh/nodepool-hash"
ANNOTATION_NODEPOOL_HASH_VERSION = "karpenter.sh/nodepool-hash-version"
# Bosun hashes the template its own way (not Go's hashstructure), so it writes its own version:
# a node annotated by Karpenter ("v3") is never compared against a Bosun hash and never
# reported as drifted for that reason alone (Karpenter, too, re-annotates on a version change).
NODEPOOL_HASH_VERSION = "bosun-v1"
FINALIZER_TERMINATION = "karpenter.sh/termination"
TAINT_DISRUPTED = "karpenter.sh/disrupted"
TAINT_UNREGISTERED = "karpenter.sh/unregistered"

WELL_KNOWN_LABELS = frozenset(
    {
        LABEL_NODEPOOL,
        LABEL_ZONE,
        LABEL_REGION,
        LABEL_INSTANCE_TYPE,
        LABEL_ARCH,
        LABEL_OS,
        LABEL_CAPACITY_TYPE,
        LABEL_WINDOWS_BUILD,
    }
)
# Deprecated beta labels and the stable label each one means.
NORMALIZED_LABELS = {
    "failure-domain.beta.kubernetes.io/zone": LABEL_ZONE,
    "failure-domain.beta.kubernetes.io/region": LABEL_REGION,
    "beta.kubernetes.io/arch": LABEL_ARCH,
    "beta.kubernetes.io/os": LABEL_OS,
    "beta.kubernetes.io/instance-type": LABEL_INSTANCE_TYPE,
    "topology.ebs.csi.aws.com/zone": LABEL_ZONE,
}
RESTRICTED_LABEL_DOMAINS = frozenset({"kubernetes.io", "k8s.io", GROUP})
LABEL_DOMAIN_EXCEPTIONS = frozenset({"kops.k8s.io", "node.kubernetes.io", "node-restriction.kubernetes.io"})
RESTRICTED_LABELS = frozenset({LABEL_NODEPOOL, LABEL_HOSTNAME})

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Gte", "Lte")
DISRUPTION_REASONS = ("Underutilized", "Empty", "Drifted")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_BUDGET_NODES = re.compile(r"^((100|[0-9]{1,2})%|[0-9]+)$")


def normalize_label_key(key: str) -> str:
    """The stable label a (possibly deprecated beta) label key stands for."""
    return NORMALIZED_LABELS.get(key, key)


def parse_duration(text: str) -> float:
    """A Go duration (`720h`, `1h30m`, `30s`) in seconds."""
    text = text.strip()
    if text in ("0", ""):
        return 0.0
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            raise ValueError(f"invalid duration {text!r}")
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError(f"invalid duration {text!r}")
    return total


def label_key_restriction(key: str) -> str | None:
    """Why a label key may not be used in a NodePool template, or None when it may."""
    if not _LABEL_KEY.match(key):
        return f"label key {key!r} is not a valid Kubernetes label key"
    key = normalize_label_key(key)
    if key in RESTRICTED_LABELS:
        return f"label {key!r} is restricted"
    if key in WELL_KNOWN_LABELS:
        return None
    domain = key.split("/", 1)[0] if "/" in key else ""
    if any(domain == d or domain.endswith("." + d) for d in LABEL_DOMAIN_EXCEPTIONS):
        return None
    if any(domain == d or domain.endswith("." + d) for d in RESTRICTED_LABEL_DOMAINS):
        return f"label domain {domain!r} is restricted"
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ObjectMeta(_Model):
    name: str = ""
    namespace: str | None = None
    uid: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    creationTimestamp: str | None = None
    deletionTimestamp: str | None = None
    resourceVersion: str | None = None
    finalizers: list[str] = Field(default_factory=list)


class NodeSelectorRequirementWithMinValues(_Model):
    """A node selector requirement, plus how many distinct values the options must keep."""

    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "Gte", "Lte"]
    values: list[str] = Field(default_factory=list)
    minValues: int | None = Field(default=None, ge=1, le=50)

    @model_validator(mode="after")
    def _check(self) -> NodeSelectorRequirementWithMinValues:
        if self.operator == "In" and not self.values:
            raise ValueError(f"requirement {self.key!r}: operator 'In' must have a value defined")
        bounded = self.operator in ("Gt", "Lt", "Gte", "Lte")
        if bounded and (len(self.values) != 1 or not self.values[0].isdigit()):
            raise ValueError(
                f"requirement {self.key!r}: operator {self.operator!r} must have a single non-negative integer value"
            )
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"requirement {self.key!r}: operator {self.operator!r} takes no values")
        if self.minValues is not None and self.operator == "In" and self.minValues > len(set(self.values)):
            raise ValueError(
                f"requirement {self.key!r}: minValues {self.minValues} is more than the {len(set(self.values))} values"
            )
        return self


class Taint(_Model):
    key: str
    value: str = ""
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class NodeClassReference(_Model):
    group: str
    kind: str
    name: str


class TemplateMetadata(_Model):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _labels_allowed(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            reason = label_key_restriction(key)
            if reason:
                raise ValueError(reason)
        return labels


class NodeClaimTemplateSpec(_Model):
    requirements: list[NodeSelectorRequirementWithMinValues] = Field(default_factory=list, max_length=100)
    taints: list[Taint] = Field(default_factory=list)
    startupTaints: list[Taint] = Field(default_factory=list)
    nodeClassRef: NodeClassReference
    expireAfter: str = "720h"
    terminationGracePeriod: str | None = None

    @field_validator("requirements")
    @classmethod
    def _requirement_keys_allowed(
        cls, requirements: list[NodeSelectorRequirementWithMinValues]
    ) -> list[NodeSelectorRequirementWithMinValues]:
        for requirement in requirements:
            reason = label_key_restriction(requirement.key)
            if reason:
                raise ValueError(reason)
        return requirements

    @field_validator("expireAfter")
    @classmethod
    def _expire_after(cls, value: str) -> str:
        if value != "Never":
            parse_duration(value)
        return value

    @field_validator("terminationGracePeriod")
    @classmethod
    def _grace(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    def expire_after_seconds(self) -> float | None:
        return None if self.expireAfter == "Never" else parse_duration(self.expireAfter)


class NodeClaimTemplate(_Model):
    metadata: TemplateMetadata = Field(default_factory=TemplateMetadata)
    spec: NodeClaimTemplateSpec


class Budget(_Model):
    """At most `nodes` (a count or a percentage, rounded up) disrupted at once, for `reasons`."""

    nodes: str = "10%"
    schedule: str | None = None
    duration: str | None = None
    reasons: list[Literal["Underutilized", "Empty", "Drifted"]] | None = None

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, value: str) -> str:
        if not _BUDGET_NODES.match(value):
            raise ValueError(f"budget nodes {value!r} must be a count or a percentage")
        return value

    @model_validator(mode="after")
    def _schedule_with_duration(self) -> Budget:
        if (self.schedule is None) != (self.duration is None):
            raise ValueError("budget 'schedule' and 'duration' must be set together")
        if self.duration is not None:
            parse_duration(self.duration)
        return self


class Disruption(_Model):
    consolidationPolicy: Literal["WhenEmpty", "WhenEmptyOrUnderutilized"] = "WhenEmptyOrUnderutilized"
    consolidateAfter: str = "0s"
    budgets: list[Budget] = Field(default_factory=lambda: [Budget(nodes="10%")], max_length=50)

    @field_validator("consolidateAfter")
    @classmethod
    def _after(cls, value: str) -> str:
        if value != "Never":
            parse_duration(value)
        return value

    def consolidate_after_seconds(self) -> float | None:
        return None if self.consolidateAfter == "Never" else parse_duration(self.consolidateAfter)


class NodePoolSpec(_Model):
    template: NodeClaimTemplate
    disruption: Disruption = Field(default_factory=Disruption)
    limits: dict[str, str | int] = Field(default_factory=dict)
    weight: int | None = Field(default=None, ge=1, le=100)

    @field_validator("limits")
    @classmethod
    def _limits(cls, value: dict[str, str | int]) -> dict[str, str | int]:
        parse_resource_list(value)
        return value


class Condition(_Model):
    type: str
    status: Literal["True", "False", "Unknown"] = "Unknown"
    reason: str = ""
    message: str = ""
    lastTransitionTime: str | None = None


class NodePoolStatus(_Model):
    resources: dict[str, str] = Field(default_factory=dict)
    nodes: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class NodePool(_Model):
    apiVersion: Literal["karpenter.sh/v1"] = "karpenter.sh/v1"
    kind: Literal["NodePool"] = "NodePool"
    metadata: ObjectMeta
    spec: NodePoolSpec
    status: NodePoolStatus = Field(default_factory=NodePoolStatus)

    @property
    def name(self) -> str:
        return self.metadata.name

    def limits_milli(self) -> dict[str, int]:
        """`spec.limits` in milli-units (`nodes` counts as a resource too)."""
        return parse_resource_list(self.spec.limits)

    def hash(self) -> str:
        """The drift hash: `spec.template` without requirements (they are compared separately)."""
        template = self.spec.template
        material = {
            "labels": template.metadata.labels,
            "annotations": template.metadata.annotations,
            "taints": [t.model_dump() for t in template.spec.taints],
            "startupTaints": [t.model_dump() for t in template.spec.startupTaints],
            "nodeClassRef": template.spec.nodeClassRef.model_dump(),
        }
        digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
        return str(int(digest[:15], 16))


class ResourceRequirements(_Model):
    requests: dict[str, str] = Field(default_factory=dict)


class NodeClaimSpec(_Model):
    taints: list[Taint] = Field(default_factory=list)
    startupTaints: list[Taint] = Field(default_factory=list)
    requirements: list[NodeSelectorRequirementWithMinValues] = Field(default_factory=list, max_length=100)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    nodeClassRef: NodeClassReference | None = None
    terminationGracePeriod: str | None = None
    expireAfter: str = "720h"


class NodeClaimStatus(_Model):
    nodeName: str | None = None
    providerID: str | None = None
    imageID: str | None = None
    capacity: dict[str, str] = Field(default_factory=dict)
    allocatable: dict[str, str] = Field(default_factory=dict)
    conditions: list[Condition] = Field(default_factory=list)
    lastPodEventTime: str | None = None

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == kind), None)

    def is_true(self, kind: str) -> bool:
        condition = self.condition(kind)
        return condition is not None and condition.status == "True"


class NodeClaim(_Model):
    apiVersion: Literal["karpenter.sh/v1"] = "karpenter.sh/v1"
    kind: Literal["NodeClaim"] = "NodeClaim"
    metadata: ObjectMeta
    spec: NodeClaimSpec = Field(default_factory=NodeClaimSpec)
    status: NodeClaimStatus = Field(default_factory=NodeClaimStatus)

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def nodepool(self) -> str | None:
        return self.metadata.labels.get(LABEL_NODEPOOL)

    def initialized(self) -> bool:
        return self.status.is_true("Initialized")


def parse_nodepool(document: dict[str, Any]) -> NodePool:
    """A NodePool from its manifest, with defaults filled and validation applied."""
    return NodePool.model_validate(document)


def parse_nodeclaim(document: dict[str, Any]) -> NodeClaim:
    """A NodeClaim from its manifest."""
    return NodeClaim.model_validate(document)
