"""Beyond Karpenter: re-pack the simulation's NodeClaims onto cheaper nodes.

Karpenter grows a NodeClaim while any instance type still fits its pods and
then launches the cheapest type that holds them all, so a claim whose pods
need 9.5 vCPU becomes a 16-vCPU node. After the simulation, Bosun tries, for
each claim (and for claims of one NodePool with the same requirements whose
pods no topology constraint looks at, for all of them together), to fill a
cheaper type first-fit (largest pods first) and place the rest the same way (up to four nodes; the six dearest types cheaper than
the current launch are tried at each step), skipping claims whose price is
already at the per-resource lower bound. It keeps a split only when the
launches together are strictly cheaper.

Splitting never breaks a constraint the simulation checked: both halves keep
the claim's requirements (so zones and spread counts are unchanged), hostname
spread and anti-affinity only get easier with more hosts, and claims with pods
that need hostname affinity are left alone. The scheduler checks NodePool
limits before it accepts a re-packing.

Last, `absorb` removes a NodeClaim whose pods (all unconstrained) fit in the
spare room of other NodeClaims without narrowing their requirements, when
the launches get cheaper overall (typically the room left next to
anti-affinity pods). Consolidation turns all this off: a replacement must be
exactly one node.
"""

from __future__ import annotations

import numpy as np

from bosun_common.catalog import LABEL_HOSTNAME
from node_planner.provisioning.claims import SimClaim, choose_launch, min_values_error, order_options
from node_planner.provisioning.instance_types import FloatArray, IntArray
from node_planner.scheduling.objects import Pod

MAX_CANDIDATE_TYPES = 6
MIN_SAVING = 1e-6  # $/h; float noise is not a saving
MAX_DEPTH = 3


def _launch_price(claim: SimClaim) -> float:
    launch = choose_launch(
        claim.pool, claim.requirements, order_options(claim.pool, claim.requirements, claim.options)
    )
    return np.inf if launch is None else launch.price


def _splittable(claim: SimClaim) -> bool:
    if len(claim.pods) < 2:
        return False
    for pod in claim.pods:
        if any(term.topology_key == LABEL_HOSTNAME for term in [*pod.affinity, *pod.preferred_affinity]):
            return False
    return True


def unit_prices(alloc: IntArray, prices: FloatArray) -> FloatArray:
    """Per resource, the cheapest price per milli-unit among the priced types (inf when none has it)."""
    usable = np.isfinite(prices)[:, None] & (alloc > 0)
    per_unit = np.where(usable, prices[:, None] / np.maximum(alloc, 1), np.inf)
    result: FloatArray = per_unit.min(axis=0) if len(prices) else np.full(alloc.shape[1], np.inf)
    return result


def _lower_bound(total: IntArray, unit: FloatArray) -> float:
    """No packing of `total` costs less: per resource, the total times the cheapest price per unit."""
    needed = total > 0
    if not needed.any():
        return 0.0
    return float((total[needed] * unit[needed]).max())


def _ratio_split(
    stacked: IntArray, alloc: IntArray, prices: FloatArray
) -> tuple[list[int], list[int]] | None:
    """Split pods ordered by memory per CPU at the point where the two cheapest fitting types cost least."""
    count = len(stacked)
    ratio = stacked[:, 1] / np.maximum(stacked[:, 0], 1)
    order = np.argsort(ratio, kind="stable")
    prefix = np.cumsum(stacked[order], axis=0)[:-1]
    suffix = prefix[-1] + stacked[order[-1]] - prefix

    def cheapest(totals: IntArray) -> FloatArray:
        fits = (alloc[None, :, :] >= totals[:, None, :]).all(axis=2)
        cost: FloatArray = np.where(fits, prices[None, :], np.inf).min(axis=1)
        return cost

    costs = cheapest(prefix) + cheapest(suffix)
    if count < 2 or not np.isfinite(costs).any():
        return None
    k = int(np.argmin(costs)) + 1
    return [int(i) for i in order[:k]], [int(i) for i in order[k:]]


def _best_partition(
    vectors: list[IntArray],
    total: IntArray,
    alloc: IntArray,
    prices: FloatArray,
    unit: FloatArray,
    depth: int,
) -> tuple[float, list[list[int]]]:
    """The cheapest split found of `vectors` into nodes: (estimated $/h, groups of indices)."""
    fits = (alloc >= total).all(axis=1)
    single = float(prices[fits].min()) if fits.any() else np.inf
    best = (single, [list(range(len(vectors)))])
    if depth == 0 or len(vectors) < 2 or single - _lower_bound(total, unit) <= MIN_SAVING:
        return best
    stacked = np.stack(vectors)
    ratio_split = _ratio_split(stacked, alloc, prices)
    if ratio_split is not None:
        left, right = ratio_split
        bound = _lower_bound(stacked[left].sum(axis=0), unit) + _lower_bound(stacked[right].sum(axis=0), unit)
    if ratio_split is not None and bound < best[0] - MIN_SAVING:
        left, right = ratio_split
        cost_left, groups_left = _best_partition(
            [vectors[i] for i in left], stacked[left].sum(axis=0), alloc, prices, unit, depth - 1
        )
        cost_right, groups_right = _best_partition(
            [vectors[i] for i in right], stacked[right].sum(axis=0), alloc, prices, unit, depth - 1
        )
        if cost_left + cost_right < best[0] - MIN_SAVING:
            best = (
                cost_left + cost_right,
                [[left[i] for i in g] for g in groups_left] + [[right[i] for i in g] for g in groups_right],
            )
    largest = stacked.max(axis=0)
    candidates = np.flatnonzero((prices < single - MIN_SAVING) & (alloc >= largest).all(axis=1))
    candidates = candidates[np.argsort(-prices[candidates], kind="stable")][:MAX_CANDIDATE_TYPES]
    for t in candidates.tolist():
        used = np.zeros_like(total)
        first: list[int] = []
        rest: list[int] = []
        for i, vector in enumerate(vectors):
            if bool((used + vector <= alloc[t]).all()):
                used = used + vector
                first.append(i)
            else:
                rest.append(i)
        if not first or not rest:
            continue
        if float(prices[t]) + _lower_bound(total - used, unit) >= best[0] - MIN_SAVING:
            continue  # branch and bound: this split cannot beat the best found
        cost, groups = _best_partition(
            [vectors[i] for i in rest], total - used, alloc, prices, unit, depth - 1
        )
        cost += float(prices[t])
        if cost < best[0] - MIN_SAVING:
            best = (cost, [first, *[[rest[i] for i in group] for group in groups]])
    return best


def repack(claims: list[SimClaim], requests: dict[str, IntArray], strict_min_values: bool) -> list[SimClaim]:
    """`claims` (same NodePool and requirements), or cheaper claims holding the same pods.

    `requests` maps pod uid to its request vector. With one claim this splits it; with several
    (only pods no topology constraint looks at may be moved between claims) it re-partitions
    their pods together.
    """
    if not claims or not all(_splittable(c) or len(claims) > 1 for c in claims):
        return claims
    first = claims[0]
    pool = first.pool
    current = sum(_launch_price(c) for c in claims)
    compatible = pool.compatible_mask(first.requirements)
    prices = np.where(compatible, pool.offering_prices(first.requirements), np.inf)
    everything = [p for c in claims for p in c.pods]
    if len(everything) < 2:
        return claims
    total = np.sum(np.stack([requests[p.uid] for p in everything]), axis=0)
    pods = sorted(everything, key=lambda p: (-p.cpu(), -p.memory(), p.uid))
    cost, groups = _best_partition(
        [requests[p.uid] for p in pods], total, pool.alloc, prices, unit_prices(pool.alloc, prices), MAX_DEPTH
    )
    vectors = [requests[p.uid] for p in pods]
    if cost >= current - MIN_SAVING or (len(claims) == 1 and len(groups) < 2):
        return claims
    pieces = []
    for n, group in enumerate(groups):
        part = [pods[i] for i in group]
        part_total = np.sum(np.stack([vectors[i] for i in group]), axis=0)
        options = compatible & (pool.alloc >= part_total).all(axis=1)
        if strict_min_values and min_values_error(pool, first.requirements, options):
            return claims
        pieces.append(
            SimClaim(
                first.index,
                pool,
                first.pool_index,
                f"{first.hostname}-{n}",
                first.requirements.copy(),
                options,
                part_total,
                part,
                [hp for p in part for hp in p.host_ports],
                any(c.min_values_relaxed for c in claims),
            )
        )
    if sum(_launch_price(piece) for piece in pieces) >= current - MIN_SAVING:
        return claims
    return pieces


def absorb(claims: list[SimClaim], movable: set[str], requests: dict[str, IntArray]) -> list[SimClaim]:
    """Remove NodeClaims whose pods all fit in the spare room of the others, when that is cheaper.

    Only pods in `movable` (uids of pods no topology constraint looks at) move, and only onto a
    NodeClaim of the same NodePool whose requirements they would not narrow, so no decision the
    simulation made about the target's own pods changes.
    """
    alive = list(claims)
    prices = {id(c): _launch_price(c) for c in alive}
    for donor in sorted(claims, key=lambda c: (len(c.pods), prices[id(c)], c.hostname)):
        if any(p.uid not in movable for p in donor.pods):
            continue
        targets = [
            c
            for c in alive
            if c is not donor
            and c.pool_index == donor.pool_index
            and c.requirements.merged(donor.requirements).signature() == c.requirements.signature()
        ]
        totals = {id(t): t.requests.copy() for t in targets}
        moves: dict[int, list[Pod]] = {}
        for pod in sorted(donor.pods, key=lambda p: (-p.cpu(), -p.memory(), p.uid)):
            vector = requests[pod.uid]
            fitting = [
                t
                for t in targets
                if bool((t.options & (t.pool.alloc >= totals[id(t)] + vector).all(axis=1)).any())
            ]
            if not fitting:
                break
            target = min(
                fitting, key=lambda t: (len(t.pods) + len(moves.get(id(t), [])), t.index, t.hostname)
            )
            totals[id(target)] = totals[id(target)] + vector
            moves.setdefault(id(target), []).append(pod)
        if sum(len(m) for m in moves.values()) != len(donor.pods):
            continue
        trials = []
        for target in targets:
            if id(target) in moves:
                total = totals[id(target)]
                options = target.options & (target.pool.alloc >= total).all(axis=1)
                trial = SimClaim(
                    target.index,
                    target.pool,
                    target.pool_index,
                    target.hostname,
                    target.requirements,
                    options,
                    total,
                    [*target.pods, *moves[id(target)]],
                    target.host_ports,
                    target.min_values_relaxed,
                )
                trials.append((target, trial, _launch_price(trial)))
        if sum(price - prices[id(target)] for target, _, price in trials) >= prices[id(donor)] - MIN_SAVING:
            continue
        for target, trial, price in trials:
            target.options, target.requests, target.pods = trial.options, trial.requests, trial.pods
            prices[id(target)] = price
        alive.remove(donor)
    return alive
