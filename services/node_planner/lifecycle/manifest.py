"""The NodeClaim a scheduling decision creates."""

from __future__ import annotations

import hashlib
from typing import Any

from bosun_common.catalog import LABEL_CAPACITY_TYPE, LABEL_INSTANCE_TYPE, format_resource_list
from bosun_common.karpenter import (
    ANNOTATION_NODEPOOL_HASH,
    ANNOTATION_NODEPOOL_HASH_VERSION,
    API_VERSION,
    FINALIZER_TERMINATION,
    LABEL_NODEPOOL,
    NODEPOOL_HASH_VERSION,
    NodePool,
)
from node_planner.provisioning.claims import NewNodeClaim


def nodeclaim_name(claim: NewNodeClaim, batch: str) -> str:
    """`<nodepool>-<5 chars>`, like Karpenter's generateName, but derived from the decision,
    so that re-deciding the same batch after a restart names (and applies) the same claim."""
    material = f"{batch}|{claim.nodepool}|{claim.hostname}|{','.join(sorted(p.key for p in claim.pods))}"
    digest = hashlib.sha256(material.encode()).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    suffix = "".join(alphabet[int(digest[i : i + 2], 16) % len(alphabet)] for i in range(0, 10, 2))
    return f"{claim.nodepool}-{suffix}"


def nodeclaim_manifest(claim: NewNodeClaim, nodepool: NodePool, name: str) -> dict[str, Any]:
    template = nodepool.spec.template
    requirements = [
        term
        for term in claim.requirements.to_terms()
        if term["key"] not in (LABEL_INSTANCE_TYPE, LABEL_CAPACITY_TYPE, "kubernetes.io/hostname")
    ]
    requirements.append({"key": LABEL_INSTANCE_TYPE, "operator": "In", "values": list(claim.instance_types)})
    capacity_types = claim.requirements.get(LABEL_CAPACITY_TYPE)
    if capacity_types is not None and capacity_types.operator() == "In":
        requirements.append(
            {"key": LABEL_CAPACITY_TYPE, "operator": "In", "values": capacity_types.sorted_values()}
        )
    spec: dict[str, Any] = {
        "nodeClassRef": template.spec.nodeClassRef.model_dump(),
        "requirements": sorted(requirements, key=lambda r: str(r["key"])),
        "resources": {"requests": format_resource_list(claim.requests)},
        "taints": [t.model_dump(exclude_none=True) for t in template.spec.taints],
        "startupTaints": [t.model_dump(exclude_none=True) for t in template.spec.startupTaints],
        "expireAfter": template.spec.expireAfter,
    }
    if template.spec.terminationGracePeriod:
        spec["terminationGracePeriod"] = template.spec.terminationGracePeriod
    return {
        "apiVersion": API_VERSION,
        "kind": "NodeClaim",
        "metadata": {
            "name": name,
            "labels": {**template.metadata.labels, LABEL_NODEPOOL: nodepool.name},
            "annotations": {
                **template.metadata.annotations,
                ANNOTATION_NODEPOOL_HASH: nodepool.hash(),
                ANNOTATION_NODEPOOL_HASH_VERSION: NODEPOOL_HASH_VERSION,
            },
            "finalizers": [FINALIZER_TERMINATION],
        },
        "spec": spec,
    }
