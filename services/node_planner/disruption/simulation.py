"""Simulate removing nodes: where would their pods go, and what would have to be launched?

The same scheduler as provisioning runs over the cluster without the
candidates: the remaining nodes (with their pods) are existing capacity, the
candidates' pods are pending. The outcome is delete (no new node), replace
(exactly one new node, every option strictly cheaper than the candidates
together, and at least the configured price improvement), or nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from bosun_common.catalog import CAPACITY_TYPE_SPOT, InstanceType
from bosun_common.karpenter import NodePool
from node_planner.disruption.candidates import Candidate
from node_planner.provisioning.claims import NewNodeClaim
from node_planner.provisioning.scheduler import Scheduler
from node_planner.scheduling.objects import Node, Pod

SPOT_TO_SPOT_MIN_OPTIONS = 15


@dataclass
class Cluster:
    """The snapshot disruption decides over."""

    nodepools: list[NodePool]
    nodes: list[Node]
    pods: list[Pod]
    catalog: list[InstanceType]
    daemon_pods: list[Pod] = field(default_factory=list)
    provider_drift: dict[str, str] = field(
        default_factory=dict
    )  # node -> why the cloud provider says it drifted
    unready_nodepools: frozenset[str] = frozenset()  # replacements never launch from these


@dataclass
class Command:
    """One disruption decision: delete the candidates, launching the replacements first."""

    method: str
    reason: str
    candidates: list[Candidate]
    replacements: list[NewNodeClaim]
    explanation: str

    @property
    def decision(self) -> str:
        return "replace" if self.replacements else "delete"

    def savings(self) -> float:
        return sum(c.price for c in self.candidates) - sum(r.launch.price for r in self.replacements)


def simulate(cluster: Cluster, candidates: Sequence[Candidate]) -> tuple[list[NewNodeClaim], str | None]:
    """Reschedule the candidates' pods without them: the new NodeClaims needed, or why it fails.

    Pods still pending take their place in the simulation too, as in Karpenter: they compete
    for the capacity the candidates' pods would move into (a node that only looks empty
    because its pods are not bound yet is not a place to move to). Only the candidates' pods
    must fit; any NodeClaim the simulation opens counts as a replacement, so consolidation
    does not churn while a scale-out is still landing."""
    removed = {c.name for c in candidates}
    nodes = [n for n in cluster.nodes if n.name not in removed and not n.deleting]
    bound = [p for p in cluster.pods if p.node_name and p.node_name not in removed]
    moving = [dataclasses.replace(p, node_name="") for c in candidates for p in c.pods]
    pending = [p for p in cluster.pods if not p.node_name and not p.is_daemon() and not p.is_terminal()]
    usage: dict[str, dict[str, int]] = {}
    for node in nodes:
        if node.nodepool:
            pool_usage = usage.setdefault(node.nodepool, {})
            for name, value in node.capacity.items():
                pool_usage[name] = pool_usage.get(name, 0) + value
            pool_usage["nodes"] = pool_usage.get("nodes", 0) + 1000
    scheduler = Scheduler(
        [p for p in cluster.nodepools if p.name not in cluster.unready_nodepools],
        cluster.catalog,
        cluster.daemon_pods,
        nodes,
        bound,
        [*moving, *pending],
        pool_usage=usage,
        improve_packing=False,
    )
    result = scheduler.solve([*moving, *pending])
    moving_keys = {p.key for p in moving}
    stuck = sorted((pod, reason) for pod, reason in result.unschedulable.items() if pod in moving_keys)
    if stuck:
        pod, reason = stuck[0]
        return [], f"pod {pod} could not be rescheduled: {reason}"
    return result.new_claims, None


def consolidation_command(
    cluster: Cluster,
    candidates: Sequence[Candidate],
    method: str,
    min_price_improvement_percent: float = 0.0,
    spot_to_spot: bool = False,
) -> tuple[Command | None, str]:
    """A delete or replace command for `candidates`, or None with the reason it is not worth it."""
    replacements, error = simulate(cluster, candidates)
    names = ", ".join(c.name for c in candidates)
    if error:
        return None, error
    total = sum(c.price for c in candidates)
    if not replacements:
        return Command(
            method,
            "Underutilized",
            list(candidates),
            [],
            f"the pods of {names} fit on other nodes; delete saves ${total:.4f}/h",
        ), ""
    if len(replacements) > 1:
        return (
            None,
            f"rescheduling needs {len(replacements)} new nodes; consolidation replaces with at most one",
        )
    replacement = replacements[0]
    limit = total * (1 - min_price_improvement_percent / 100.0)
    catalog = {it.name: it for it in cluster.catalog}
    cheaper = []
    for name in replacement.instance_types:
        prices = [
            o.price
            for o in catalog[name].offerings
            if o.available
            and replacement.requirements.get_or_exists("topology.kubernetes.io/zone").has(o.zone)
            and replacement.requirements.get_or_exists("karpenter.sh/capacity-type").has(o.capacityType)
        ]
        if prices and min(prices) < total and min(prices) <= limit:
            cheaper.append(name)
    if not cheaper:
        why = f"no replacement is cheaper than ${total:.4f}/h"
        if min_price_improvement_percent:
            why += f" by at least {min_price_improvement_percent:g}% (at most ${limit:.4f}/h)"
        return None, why
    all_spot = all(c.capacity_type == CAPACITY_TYPE_SPOT for c in candidates)
    if all_spot and replacement.launch.capacity_type == CAPACITY_TYPE_SPOT:
        if not spot_to_spot:
            return (
                None,
                "spot-to-spot consolidation is disabled (Karpenter's SpotToSpotConsolidation feature gate)",
            )
        if len(cheaper) < SPOT_TO_SPOT_MIN_OPTIONS:
            return (
                None,
                f"spot-to-spot replacement needs at least {SPOT_TO_SPOT_MIN_OPTIONS} cheaper instance types, found {len(cheaper)}",
            )
    replacement.instance_types = [n for n in replacement.instance_types if n in cheaper]
    launch_price = min(
        o.price
        for n in replacement.instance_types
        for o in catalog[n].offerings
        if o.available
        and replacement.requirements.get_or_exists("karpenter.sh/capacity-type").has(o.capacityType)
        and replacement.requirements.get_or_exists("topology.kubernetes.io/zone").has(o.zone)
    )
    if replacement.launch.instance_type not in cheaper:
        best = min(
            (o.price, n, o.zone, o.capacityType)
            for n in replacement.instance_types
            for o in catalog[n].offerings
            if o.available and o.price == launch_price
        )
        replacement.launch = dataclasses.replace(
            replacement.launch, instance_type=best[1], zone=best[2], capacity_type=best[3], price=best[0]
        )
    saving = total - replacement.launch.price
    return Command(
        method,
        "Underutilized",
        list(candidates),
        [replacement],
        f"replace {names} (${total:.4f}/h) with {replacement.launch.instance_type} (${replacement.launch.price:.4f}/h), saving ${saving:.4f}/h",
    ), ""
