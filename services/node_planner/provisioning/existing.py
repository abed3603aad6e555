"""What already exists: the existing nodes (and in-flight NodeClaims) as capacity, and the topology domains.

Existing nodes come first in placement, initialized ones before the others,
then by name; cordoned, deleting and disrupted (`karpenter.sh/disrupted`)
nodes take nothing. A node that is not
initialized yet ignores the taints every new node starts with. Topology
domains come from the NodePools' requirements crossed with their instance
types and offerings, plus the labels of existing nodes.
"""

from __future__ import annotations

from collections.abc import Sequence

from bosun_common.catalog import LABEL_CAPACITY_TYPE, LABEL_HOSTNAME, LABEL_ZONE
from bosun_common.karpenter import TAINT_DISRUPTED
from node_planner.provisioning.claims import SimNode
from node_planner.provisioning.instance_types import PoolTypes, ResourceIndex
from node_planner.scheduling.objects import Node, Pod
from node_planner.scheduling.requirements import Requirements
from node_planner.scheduling.taints import EPHEMERAL_TAINTS


def topology_domains(pools: Sequence[PoolTypes], nodes: Sequence[Node]) -> dict[str, set[str]]:
    """Every value each label can take on a node of these NodePools, or on an existing node."""
    domains: dict[str, set[str]] = {}
    for pool in pools:
        values: dict[str, set[str]] = {}
        for it in pool.types:
            for key, value in it.all_labels().items():
                values.setdefault(key, set()).add(value)
        for key, seen in values.items():
            requirement = pool.requirements.get_or_exists(key)
            domains.setdefault(key, set()).update(v for v in seen if requirement.has(v))
        for zone in pool.zones:
            if pool.requirements.get_or_exists(LABEL_ZONE).has(zone):
                domains.setdefault(LABEL_ZONE, set()).add(zone)
        for kind in pool.capacity_types:
            if pool.requirements.get_or_exists(LABEL_CAPACITY_TYPE).has(kind):
                domains.setdefault(LABEL_CAPACITY_TYPE, set()).add(kind)
        for key, requirement in pool.requirements.items():
            if not requirement.complement:
                domains.setdefault(key, set()).update(requirement.values)
    for node in nodes:
        for key, value in node.labels.items():
            domains.setdefault(key, set()).add(value)
    return domains


def existing_capacity(
    nodes: Sequence[Node], bound_pods: Sequence[Pod], resources: ResourceIndex
) -> list[SimNode]:
    """The nodes pods may still go to, in placement order, with what their pods already use."""
    by_node: dict[str, list[Pod]] = {}
    for pod in bound_pods:
        if pod.node_name and not pod.is_terminal():
            by_node.setdefault(pod.node_name, []).append(pod)
    result = []
    for node in sorted(nodes, key=lambda n: (not n.initialized, n.name)):
        if node.deleting or node.unschedulable or any(t.key == TAINT_DISRUPTED for t in node.taints):
            continue
        pods = by_node.get(node.name, [])
        used = resources.vector({})
        volumes: dict[str, int] = {}
        for pod in pods:
            used += resources.vector(pod.requests)
            for driver, count in pod.volumes.items():
                volumes[driver] = volumes.get(driver, 0) + count
        taints = node.taints if node.initialized else [t for t in node.taints if t not in EPHEMERAL_TAINTS]
        result.append(
            SimNode(
                node,
                Requirements.from_labels({**node.labels, LABEL_HOSTNAME: node.name}),
                resources.vector(node.allocatable) - used,
                taints,
                list(pods),
                [port for pod in pods for port in pod.host_ports],
                volumes,
            )
        )
    return result
