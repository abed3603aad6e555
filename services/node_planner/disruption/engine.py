"""One disruption pass: the first method that finds commands wins.

Order: emptiness, drift, multi-node consolidation, single-node consolidation.
Expiration is separate and forceful (no budgets). Every command says why it
was taken, and every node considered but left alone says why not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bosun_common.catalog import LABEL_CAPACITY_TYPE, LABEL_INSTANCE_TYPE, LABEL_ZONE
from bosun_common.karpenter import (
    ANNOTATION_NODEPOOL_HASH,
    ANNOTATION_NODEPOOL_HASH_VERSION,
    NODEPOOL_HASH_VERSION,
)
from node_planner.disruption.candidates import (
    BudgetState,
    Candidate,
    build_candidates,
    compute_budgets,
    parse_time,
)
from node_planner.disruption.simulation import Cluster, Command, consolidation_command, simulate
from node_planner.provisioning.instance_types import nodepool_requirements
from node_planner.scheduling.objects import PodDisruptionBudget

MAX_MULTI_NODE_CANDIDATES = 100


@dataclass
class DisruptionOptions:
    min_price_improvement_percent: float = 0.0
    spot_to_spot: bool = False


@dataclass
class DisruptionResult:
    commands: list[Command] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # node -> why it was left alone


def drift_reason(candidate: Candidate, cluster: Cluster) -> str | None:
    """Why a node has drifted from its NodePool, or None."""
    node, pool = candidate.node, candidate.nodepool
    if node.name in cluster.provider_drift:
        return f"the cloud provider reports drift: {cluster.provider_drift[node.name]}"
    recorded = node.annotations.get(ANNOTATION_NODEPOOL_HASH)
    version = node.annotations.get(ANNOTATION_NODEPOOL_HASH_VERSION, NODEPOOL_HASH_VERSION)
    if recorded is not None and version == NODEPOOL_HASH_VERSION and recorded != pool.hash():
        return f"NodePool {pool.name} template changed (hash {recorded} -> {pool.hash()})"
    for key, requirement in nodepool_requirements(pool).items():
        value = node.labels.get(key)
        if value is None:
            if requirement.operator() == "In":
                return f"label {key} missing but required by NodePool ({requirement.describe()})"
            continue
        if not requirement.has(value):
            return f"label {key}={value} no longer satisfies NodePool requirement {requirement.describe()}"
    catalog = {it.name: it for it in cluster.catalog}
    instance_type = catalog.get(node.labels.get(LABEL_INSTANCE_TYPE, ""))
    if instance_type is None:
        return f"instance type {node.labels.get(LABEL_INSTANCE_TYPE, '?')} is no longer offered"
    zone, kind = node.labels.get(LABEL_ZONE), node.labels.get(LABEL_CAPACITY_TYPE)
    if not any(
        (zone is None or o.zone == zone) and (kind is None or o.capacityType == kind)
        for o in instance_type.offerings
    ):
        return f"offering {instance_type.name} {zone} {kind} is no longer offered"
    return None


def expiration(cluster: Cluster, now: datetime) -> list[Command]:
    """Forceful: every node past `creationTimestamp + expireAfter` is replaced, regardless of budgets."""
    pools = {p.name: p for p in cluster.nodepools}
    candidates, _ = build_candidates(
        cluster.nodes, cluster.pods, pools, [], {it.name: it for it in cluster.catalog}, now
    )
    commands = []
    for candidate in candidates:
        expire = candidate.nodepool.spec.template.spec.expire_after_seconds()
        created = parse_time(candidate.node.creation)
        if expire is None or created is None or (now - created).total_seconds() < expire:
            continue
        replacements, error = simulate(cluster, [candidate])
        explanation = f"created {candidate.node.creation}, expireAfter {candidate.nodepool.spec.template.spec.expireAfter}"
        if error:
            explanation += f"; deleted anyway (forceful) although {error}"
        commands.append(Command("expiration", "Expired", [candidate], replacements, explanation))
    return commands


def disrupt(
    cluster: Cluster,
    pdbs: list[PodDisruptionBudget],
    now: datetime,
    options: DisruptionOptions | None = None,
    last_pod_event: dict[str, datetime] | None = None,
) -> DisruptionResult:
    """One pass of graceful disruption."""
    options = options or DisruptionOptions()
    pools = {p.name: p for p in cluster.nodepools}
    catalog = {it.name: it for it in cluster.catalog}
    candidates, skipped = build_candidates(
        cluster.nodes, cluster.pods, pools, pdbs, catalog, now, last_pod_event
    )
    result = DisruptionResult(skipped=dict(skipped))
    budgets = compute_budgets(cluster.nodepools, cluster.nodes, now)
    graceful = sorted((c for c in candidates if c.blocked is None), key=lambda c: (c.disruption_cost, c.name))
    for method in (_emptiness, _drift, _multi_node, _single_node):
        commands = method(cluster, graceful, budgets, options, result.skipped)
        if commands:
            result.commands = commands
            break
    return result


def _emptiness(
    cluster: Cluster,
    candidates: list[Candidate],
    budgets: BudgetState,
    options: DisruptionOptions,
    skipped: dict[str, str],
) -> list[Command]:
    chosen = []
    for c in candidates:
        if c.pods or not c.consolidatable or c.nodepool.spec.disruption.consolidateAfter == "Never":
            continue
        if not budgets.take(c.nodepool.name, "Empty"):
            skipped[c.name] = (
                f"empty, but the Empty budget of NodePool {c.nodepool.name} allows no more ({budgets.explanation.get((c.nodepool.name, 'Empty'))})"
            )
            continue
        chosen.append(c)
    if not chosen:
        return []
    names = ", ".join(c.name for c in chosen)
    return [Command("emptiness", "Empty", chosen, [], f"{names} run no pods other than DaemonSets")]


def _drift(
    cluster: Cluster,
    candidates: list[Candidate],
    budgets: BudgetState,
    options: DisruptionOptions,
    skipped: dict[str, str],
) -> list[Command]:
    for c in candidates:
        why = drift_reason(c, cluster)
        if why is None:
            continue
        if budgets.left(c.nodepool.name, "Drifted") <= 0:
            skipped[c.name] = f"drifted ({why}), but the Drifted budget allows no more"
            continue
        replacements, error = simulate(cluster, [c])
        if error:
            skipped[c.name] = f"drifted ({why}), but {error}"
            continue
        budgets.take(c.nodepool.name, "Drifted")
        return [Command("drift", "Drifted", [c], replacements, why)]
    return []


def _consolidatable(candidates: list[Candidate], skipped: dict[str, str]) -> list[Candidate]:
    result = []
    for c in candidates:
        policy = c.nodepool.spec.disruption.consolidationPolicy
        if policy != "WhenEmptyOrUnderutilized":
            skipped.setdefault(c.name, f"NodePool {c.nodepool.name} consolidates only when empty")
        elif not c.price_known:
            skipped.setdefault(
                c.name, "its instance type or offering is not in the catalog, so its price is unknown"
            )
        elif not c.consolidatable:
            skipped.setdefault(
                c.name,
                f"not consolidatable yet (consolidateAfter {c.nodepool.spec.disruption.consolidateAfter})",
            )
        else:
            result.append(c)
    return result


def _within_budget(
    candidates: list[Candidate], budgets: BudgetState, skipped: dict[str, str]
) -> list[Candidate]:
    left = {name: budgets.left(name, "Underutilized") for name in {c.nodepool.name for c in candidates}}
    result = []
    for c in candidates:
        if left[c.nodepool.name] <= 0:
            skipped.setdefault(
                c.name, f"the Underutilized budget of NodePool {c.nodepool.name} allows no more"
            )
            continue
        left[c.nodepool.name] -= 1
        result.append(c)
    return result


def _multi_node(
    cluster: Cluster,
    candidates: list[Candidate],
    budgets: BudgetState,
    options: DisruptionOptions,
    skipped: dict[str, str],
) -> list[Command]:
    pool = _within_budget(_consolidatable(candidates, skipped), budgets, skipped)[:MAX_MULTI_NODE_CANDIDATES]
    if len(pool) < 2:
        return []
    low, high, best = 2, len(pool), None
    while low <= high:
        middle = (low + high) // 2
        command, _ = consolidation_command(
            cluster,
            pool[:middle],
            "multi-node-consolidation",
            options.min_price_improvement_percent,
            options.spot_to_spot,
        )
        if command is not None:
            best, low = command, middle + 1
        else:
            high = middle - 1
    if best is None:
        return []
    best.explanation = f"binary search over {len(pool)} candidates by disruption cost: {best.explanation}"
    return [best]


def _single_node(
    cluster: Cluster,
    candidates: list[Candidate],
    budgets: BudgetState,
    options: DisruptionOptions,
    skipped: dict[str, str],
) -> list[Command]:
    for c in _within_budget(_consolidatable(candidates, skipped), budgets, skipped):
        command, why = consolidation_command(
            cluster,
            [c],
            "single-node-consolidation",
            options.min_price_improvement_percent,
            options.spot_to_spot,
        )
        if command is not None:
            return [command]
        skipped[c.name] = why
    return []
