"""The kwok Node a sim instance becomes: a pure function of the NodeClaim and the chosen offering.

The Node is named after the NodeClaim, has `spec.providerID: kwok://<name>`, the
annotation kwok watches (`kwok.x-k8s.io/node: fake`), Karpenter's well-known
labels (plus the instance type's, the claim's and the claim's single-valued
requirements), the claim's taints and startup taints plus
`karpenter.sh/unregistered:NoExecute`, and the instance type's capacity and
allocatable in its status (the API server keeps a Node's status on create).

May import: the standard library and bosun_common.
"""

from __future__ import annotations

from typing import Any

from bosun_common.catalog import (
    LABEL_CAPACITY_TYPE,
    LABEL_HOSTNAME,
    LABEL_INSTANCE_TYPE,
    LABEL_NODEPOOL,
    LABEL_REGION,
    LABEL_ZONE,
    InstanceType,
    Offering,
    format_resource_list,
)
from bosun_common.karpenter import (
    TAINT_UNREGISTERED,
    WELL_KNOWN_LABELS,
    NodeClaim,
    label_key_restriction,
    normalize_label_key,
)

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
PROVIDER_ID_PREFIX = "kwok://"


def provider_id(name: str) -> str:
    return f"{PROVIDER_ID_PREFIX}{name}"


def node_labels(
    nodeclaim: NodeClaim, instance_type: InstanceType, offering: Offering, region: str | None
) -> dict[str, str]:
    """Instance type labels < single-valued claim requirements < claim labels < launch facts."""
    labels: dict[str, str] = dict(instance_type.labels)
    for requirement in nodeclaim.spec.requirements:
        key = normalize_label_key(requirement.key)
        single = requirement.operator == "In" and len(set(requirement.values)) == 1
        if single and (key in WELL_KNOWN_LABELS or label_key_restriction(key) is None):
            labels[key] = requirement.values[0]
    labels.update(nodeclaim.metadata.labels)
    labels[LABEL_INSTANCE_TYPE] = instance_type.name
    labels[LABEL_ZONE] = offering.zone
    labels[LABEL_CAPACITY_TYPE] = offering.capacityType
    labels[LABEL_HOSTNAME] = nodeclaim.name
    if region and LABEL_REGION not in labels:
        labels[LABEL_REGION] = region
    if nodeclaim.nodepool:
        labels[LABEL_NODEPOOL] = nodeclaim.nodepool
    return dict(sorted(labels.items()))


def node_taints(nodeclaim: NodeClaim) -> list[dict[str, str]]:
    """The claim's taints, its startup taints, then the unregistered taint (each key/effect once)."""
    taints: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for taint in [*nodeclaim.spec.taints, *nodeclaim.spec.startupTaints]:
        if (taint.key, taint.effect) in seen:
            continue
        seen.add((taint.key, taint.effect))
        entry = {"key": taint.key, "effect": taint.effect}
        if taint.value:
            entry["value"] = taint.value
        taints.append(entry)
    if (TAINT_UNREGISTERED, "NoExecute") not in seen:
        taints.append({"key": TAINT_UNREGISTERED, "effect": "NoExecute"})
    return taints


def kwok_node(
    nodeclaim: NodeClaim, instance_type: InstanceType, offering: Offering, region: str | None
) -> dict[str, Any]:
    """The Node manifest (for a server-side apply) of a sim instance."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": nodeclaim.name,
            "labels": node_labels(nodeclaim, instance_type, offering, region),
            "annotations": {KWOK_ANNOTATION: "fake"},
        },
        "spec": {"providerID": provider_id(nodeclaim.name), "taints": node_taints(nodeclaim)},
        "status": {
            "capacity": format_resource_list(instance_type.capacity_milli()),
            "allocatable": format_resource_list(instance_type.allocatable()),
        },
    }
