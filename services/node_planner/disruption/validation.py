"""Re-validation: Karpenter waits 15 s before executing a consolidation and checks it still holds.

`revalidate` re-runs the decision for the same candidates on a fresh snapshot:
the candidates must still be candidates (not blocked, not deleting), within
budget, still empty (emptiness) or drifted (drift), and a consolidation must
still find a delete or a replacement no dearer than the one it promised.
"""

from __future__ import annotations

from datetime import datetime

from node_planner.disruption.candidates import build_candidates, compute_budgets
from node_planner.disruption.engine import DisruptionOptions, drift_reason
from node_planner.disruption.simulation import Cluster, Command, consolidation_command
from node_planner.scheduling.objects import PodDisruptionBudget

VALIDATION_DELAY_SECONDS = 15.0


def revalidate(
    command: Command,
    cluster: Cluster,
    pdbs: list[PodDisruptionBudget],
    now: datetime,
    options: DisruptionOptions | None = None,
) -> str | None:
    """Why `command` should no longer run, or None when it still holds."""
    options = options or DisruptionOptions()
    pools = {p.name: p for p in cluster.nodepools}
    catalog = {it.name: it for it in cluster.catalog}
    fresh, _ = build_candidates(cluster.nodes, cluster.pods, pools, pdbs, catalog, now)
    by_name = {c.name: c for c in fresh}
    candidates = []
    for old in command.candidates:
        candidate = by_name.get(old.name)
        if candidate is None:
            return f"{old.name} is no longer a disruption candidate"
        if candidate.blocked:
            return f"{old.name}: {candidate.blocked}"
        candidates.append(candidate)
    budgets = compute_budgets(cluster.nodepools, cluster.nodes, now)
    if command.reason != "Expired":  # expiration is forceful: no budgets
        for candidate in candidates:
            if not budgets.take(candidate.nodepool.name, command.reason):
                return f"the {command.reason} budget of NodePool {candidate.nodepool.name} no longer allows {candidate.name}"
    if command.reason == "Empty":
        busy = [c.name for c in candidates if c.pods]
        return f"{', '.join(busy)} now run pods" if busy else None
    if command.reason == "Drifted":
        return None if all(drift_reason(c, cluster) for c in candidates) else "the node is no longer drifted"
    if command.reason != "Underutilized":
        return None
    again, why = consolidation_command(
        cluster, candidates, command.method, options.min_price_improvement_percent, options.spot_to_spot
    )
    if again is None:
        return why
    if again.decision != command.decision:
        return f"the decision changed from {command.decision} to {again.decision}"
    promised = sum(r.launch.price for r in command.replacements)
    now_costs = sum(r.launch.price for r in again.replacements)
    if now_costs > promised + 1e-9:
        return f"the replacement now costs ${now_costs:.4f}/h instead of ${promised:.4f}/h"
    return None
