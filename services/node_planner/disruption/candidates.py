"""Disruption candidates, their disruption cost, and NodePool disruption budgets.

A candidate is a managed, initialized node that is not being deleted, has no
`karpenter.sh/do-not-disrupt` annotation, and whose pods may all be evicted
(no `do-not-disrupt` pod, no PDB at zero allowed disruptions). Its disruption
cost is the sum of its pods' eviction costs (priority and
`controller.kubernetes.io/pod-deletion-cost`) times the fraction of its
lifetime that remains. Budgets: the minimum over the active budgets that
apply to a reason, a count or a percentage of the NodePool's nodes rounded
up, minus the nodes already disrupting; a cron schedule makes a budget active
for `duration` after each firing (UTC); an invalid schedule allows nothing.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from croniter import croniter

from bosun_common.catalog import LABEL_CAPACITY_TYPE, LABEL_INSTANCE_TYPE, LABEL_ZONE, InstanceType
from bosun_common.karpenter import TAINT_DISRUPTED, Budget, NodePool, parse_duration
from node_planner.scheduling.objects import Node, Pod, PodDisruptionBudget

POD_DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


def parse_time(text: str) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def eviction_cost(pod: Pod) -> float:
    """Karpenter's per-pod cost: 1 + deletion cost / 2^27 + priority / 2^25, clamped to [-10, 10]."""
    cost = 1.0
    deletion_cost = pod.annotations.get(POD_DELETION_COST)
    if deletion_cost:
        with contextlib.suppress(ValueError):
            cost += float(deletion_cost) / 2**27
    cost += pod.priority / 2**25
    return max(-10.0, min(10.0, cost))


@dataclass
class Candidate:
    node: Node
    nodepool: NodePool
    pods: list[Pod]  # the pods that must move (not DaemonSet pods, not finished)
    price: float
    instance_type: str
    capacity_type: str
    zone: str
    disruption_cost: float
    consolidatable: bool
    blocked: str | None = None  # why it may not be disrupted gracefully
    price_known: bool = True  # False when the instance type or offering is not in the catalog

    @property
    def name(self) -> str:
        return self.node.name


def node_price(node: Node, catalog: dict[str, InstanceType]) -> float | None:
    """The price of the offering the node runs on, from its instance type, zone and capacity type labels."""
    if node.price is not None:
        return node.price
    instance_type = catalog.get(node.labels.get(LABEL_INSTANCE_TYPE, ""))
    if instance_type is None:
        return None
    zone, kind = node.labels.get(LABEL_ZONE), node.labels.get(LABEL_CAPACITY_TYPE)
    prices = [
        o.price
        for o in instance_type.offerings
        if (zone is None or o.zone == zone) and (kind is None or o.capacityType == kind)
    ]
    return min(prices) if prices else None


def build_candidates(
    nodes: Sequence[Node],
    pods: Sequence[Pod],
    nodepools: dict[str, NodePool],
    pdbs: Sequence[PodDisruptionBudget],
    catalog: dict[str, InstanceType],
    now: datetime,
    last_pod_event: dict[str, datetime] | None = None,
) -> tuple[list[Candidate], dict[str, str]]:
    """Candidates, and for every managed node that is not one, why not."""
    by_node: dict[str, list[Pod]] = {}
    for pod in pods:
        if pod.node_name and not pod.is_terminal():
            by_node.setdefault(pod.node_name, []).append(pod)
    allowed = {(pdb.namespace, pdb.name): pdb.allowed(pods) for pdb in pdbs}
    candidates: list[Candidate] = []
    why_not: dict[str, str] = {}
    for node in sorted(nodes, key=lambda n: n.name):
        pool = nodepools.get(node.nodepool or "")
        if pool is None:
            continue
        if not node.initialized:
            why_not[node.name] = "not initialized"
            continue
        if node.deleting:
            why_not[node.name] = "already being deleted"
            continue
        movable = [p for p in by_node.get(node.name, []) if not p.is_daemon()]
        blocked = None
        if node.do_not_disrupt():
            blocked = "node has karpenter.sh/do-not-disrupt"
        for pod in movable:
            if blocked:
                break
            if pod.do_not_disrupt():
                blocked = f"pod {pod.key} has karpenter.sh/do-not-disrupt"
            for pdb in pdbs:
                if (
                    pdb.namespace == pod.namespace
                    and pdb.selector.matches(pod.labels)
                    and allowed[(pdb.namespace, pdb.name)] <= 0
                ):
                    blocked = f"pod {pod.key} is blocked by PDB {pdb.namespace}/{pdb.name}"
                    break
        price = node_price(node, catalog)
        created = parse_time(node.creation) or now
        expire = pool.spec.template.spec.expire_after_seconds()
        remaining = 1.0 if not expire else max(0.0, 1.0 - (now - created).total_seconds() / expire)
        cost = sum(eviction_cost(p) for p in movable) * remaining
        after = pool.spec.disruption.consolidate_after_seconds()
        last = (last_pod_event or {}).get(node.name) or created
        consolidatable = after is not None and (now - last).total_seconds() >= after
        candidates.append(
            Candidate(
                node,
                pool,
                movable,
                price if price is not None else 0.0,
                node.labels.get(LABEL_INSTANCE_TYPE, ""),
                node.labels.get(LABEL_CAPACITY_TYPE, ""),
                node.labels.get(LABEL_ZONE, ""),
                cost,
                consolidatable,
                blocked,
                price is not None,
            )
        )
        if blocked:
            why_not[node.name] = blocked
    return candidates, why_not


def budget_active(budget: Budget, now: datetime) -> bool | None:
    """Whether a budget applies now (None when its schedule is invalid)."""
    if budget.schedule is None or budget.duration is None:
        return True
    schedule = {
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    }.get(budget.schedule, budget.schedule)
    try:
        last = croniter(schedule, now + timedelta(seconds=1)).get_prev(datetime)
    except (ValueError, KeyError):
        return None
    return last <= now < last + timedelta(seconds=parse_duration(budget.duration))


@dataclass
class BudgetState:
    """Disruptions allowed now per NodePool and reason."""

    allowed: dict[tuple[str, str], int] = field(default_factory=dict)
    explanation: dict[tuple[str, str], str] = field(default_factory=dict)

    def take(self, nodepool: str, reason: str) -> bool:
        key = (nodepool, reason)
        if self.allowed.get(key, 0) <= 0:
            return False
        self.allowed[key] -= 1
        return True

    def left(self, nodepool: str, reason: str) -> int:
        return self.allowed.get((nodepool, reason), 0)


def compute_budgets(nodepools: Sequence[NodePool], nodes: Sequence[Node], now: datetime) -> BudgetState:
    state = BudgetState()
    for pool in nodepools:
        owned = [n for n in nodes if n.nodepool == pool.name]
        disrupting = sum(1 for n in owned if n.deleting or any(t.key == TAINT_DISRUPTED for t in n.taints))
        total = len(owned)
        for reason in ("Empty", "Drifted", "Underutilized"):
            limits: list[tuple[int, str]] = []
            for budget in pool.spec.disruption.budgets:
                if budget.reasons is not None and reason not in budget.reasons:
                    continue
                active = budget_active(budget, now)
                if active is None:
                    limits.append((0, f"budget schedule {budget.schedule!r} is invalid"))
                    continue
                if not active:
                    continue
                if budget.nodes.endswith("%"):
                    value = math.ceil(int(budget.nodes[:-1]) * total / 100)
                else:
                    value = int(budget.nodes)
                limits.append(
                    (
                        value,
                        f"budget nodes={budget.nodes}"
                        + (f" schedule={budget.schedule!r}" if budget.schedule else ""),
                    )
                )
            if not limits:
                state.allowed[(pool.name, reason)] = total
                state.explanation[(pool.name, reason)] = "no active budget applies"
                continue
            value, why = min(limits)
            state.allowed[(pool.name, reason)] = max(0, value - disrupting)
            state.explanation[(pool.name, reason)] = (
                f"{why} of {total} nodes, {disrupting} already disrupting"
            )
    return state
