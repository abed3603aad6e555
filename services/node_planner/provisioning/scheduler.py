"""The scheduling simulation (Karpenter's Solve): which node each pod goes to, and which NodeClaims to open.

Pods are taken in queue order (CPU desc, memory desc, creation, uid). Each is
tried on existing nodes and in-flight NodeClaims (initialized first, then by
name), then on NodeClaims this simulation opened (fewest pods first), then on
a new NodeClaim per NodePool in weight order. A pod that fails has one
preference relaxed and goes to the back of the queue; the loop ends when a
whole cycle places nothing. Every pod left over gets a reason per NodePool.

Unless `improve_packing` is off (Karpenter's exact behaviour, and always in
consolidation), the NodeClaims are then re-packed when cheaper nodes hold the
same pods (see `packing`).

Simulated NodeClaims are also kept in numpy arrays (pods, largest free
resources per option, topology counts, domain bits) so one vectorised pass
discards the NodeClaims that cannot take a pod before the exact check runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bosun_common.catalog import LABEL_CAPACITY_TYPE, LABEL_HOSTNAME, LABEL_ZONE, InstanceType
from bosun_common.karpenter import WELL_KNOWN_LABELS, NodePool
from node_planner.provisioning.claim_index import ClaimIndex
from node_planner.provisioning.claims import NewNodeClaim, SimClaim, SimNode, finalize, min_values_error
from node_planner.provisioning.existing import existing_capacity, topology_domains
from node_planner.provisioning.instance_types import (
    FloatArray,
    IntArray,
    PoolTypes,
    ResourceIndex,
    build_pool_types,
)
from node_planner.provisioning.packing import absorb, repack
from node_planner.provisioning.preferences import relax
from node_planner.provisioning.reasons import explain_pool_failure
from node_planner.provisioning.topology import Topology, TopologyGroup
from node_planner.scheduling.objects import Node, Pod
from node_planner.scheduling.requirements import Requirement, Requirements
from node_planner.scheduling.taints import untolerated_taint


@dataclass
class PodData:
    """What the scheduler derives from a pod once (until a preference is relaxed)."""

    pod: Pod
    requests: IntArray
    requirements: Requirements  # strict, plus the heaviest preferred node-affinity term
    strict: Requirements
    owned: list[TopologyGroup]
    pool_errors: list[str | None]
    topology_domains: Requirements  # strict, narrowed to the domains the pod can reach (for spread minimums)


@dataclass
class SchedulingResult:
    new_claims: list[NewNodeClaim] = field(default_factory=list)
    existing: dict[str, list[Pod]] = field(default_factory=dict)
    unschedulable: dict[str, str] = field(default_factory=dict)  # pod key -> reason
    relaxed: dict[str, list[str]] = field(default_factory=dict)  # pod key -> preferences relaxed
    timed_out: bool = False

    def total_price(self) -> float:
        return sum(claim.launch.price for claim in self.new_claims)


def queue_order(pod: Pod) -> tuple[int, int, str, str]:
    return (-pod.cpu(), -pod.memory(), pod.creation, pod.uid)


class Scheduler:
    """One simulation over a snapshot: NodePools, instance types, DaemonSets and existing nodes.

    Build one per simulation and call `solve` once: it records placements as it goes. Pass every
    pod the solve will see as `pending_pods`, so topology groups exist before the first placement.
    """

    def __init__(
        self,
        nodepools: Sequence[NodePool],
        instance_types: Sequence[InstanceType] | dict[str, Sequence[InstanceType]],
        daemon_pods: Sequence[Pod] = (),
        nodes: Sequence[Node] = (),
        bound_pods: Sequence[Pod] = (),
        pending_pods: Sequence[Pod] = (),
        pool_usage: dict[str, dict[str, int]] | None = None,
        strict_min_values: bool = True,
        improve_packing: bool = True,
        reachable_domains_only: bool = True,
        tolerate_prefer_no_schedule: bool = True,
        timeout_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self.timeout_seconds = timeout_seconds
        self.strict_min_values = strict_min_values
        self.improve_packing = improve_packing
        self.reachable_domains_only = reachable_domains_only
        self.tolerate_prefer_no_schedule = tolerate_prefer_no_schedule
        ordered_pools = sorted(nodepools, key=lambda p: (-(p.spec.weight or 0), p.name))
        types_for = (
            instance_types
            if isinstance(instance_types, dict)
            else {p.name: instance_types for p in ordered_pools}
        )
        all_types = [it for p in ordered_pools for it in types_for.get(p.name, [])]
        names = {n for it in all_types for n in it.capacity} | {
            n for p in [*pending_pods, *daemon_pods] for n in p.requests
        }
        names |= {n for node in nodes for n in node.allocatable}
        self.resources = ResourceIndex(names)
        self.allow_undefined = WELL_KNOWN_LABELS | {k for it in all_types for k in it.labels}
        self.pools: list[PoolTypes] = [
            build_pool_types(p, types_for.get(p.name, []), daemon_pods, self.resources, self.allow_undefined)
            for p in ordered_pools
        ]
        # What each NodePool's limits leave, per resource and (last) nodes; float64 so that huge
        # limits (10,000,000Gi is 1e19 milli-bytes) neither overflow nor get clamped.
        self.remaining: list[FloatArray | None] = []
        for pool in self.pools:
            limits = pool.nodepool.limits_milli()
            if not limits:
                self.remaining.append(None)
                continue
            used = dict((pool_usage or {}).get(pool.nodepool.name, {}))
            vector = np.full(len(self.resources.names) + 1, np.inf)
            for name, value in limits.items():
                position = len(self.resources.names) if name == "nodes" else self.resources.index.get(name)
                if position is not None:
                    vector[position] = float(value - used.get(name, 0))
            self.remaining.append(vector)
        self.pool_domains = [topology_domains([pool], []) for pool in self.pools]
        domains = topology_domains([], nodes)
        for pool_domains in self.pool_domains:
            for key, values in pool_domains.items():
                domains.setdefault(key, set()).update(values)
        self.topology = Topology(domains)
        self._reachable_cache: dict[tuple[object, ...], frozenset[str]] = {}
        self.nodes = existing_capacity(nodes, bound_pods, self.resources)
        for pod in pending_pods:
            self.topology.owned_groups(pod)
            self.topology.inverse_owned(pod)
        for sim in self.nodes:
            for pod in sim.pods:
                self.topology.inverse_owned(pod)
        for sim in self.nodes:
            for pod in sim.pods:
                self.topology.record(pod, sim.requirements, sim.taints, sim.name, None)
        self.claims: list[SimClaim] = []
        tracked = sorted({LABEL_ZONE, LABEL_CAPACITY_TYPE} | set(self.topology.bits))
        self.index = ClaimIndex(self.topology, tracked, len(self.resources.names))
        self._pod_data: dict[str, PodData] = {}

    def pod_data(self, pod: Pod) -> PodData:
        cached = self._pod_data.get(pod.uid)
        if cached is not None and cached.pod is pod:
            return cached
        strict = pod.node_requirements()
        requirements = strict.merged(pod.preferred_node_terms[0][1]) if pod.preferred_node_terms else strict
        pool_errors: list[str | None] = []
        for pool in self.pools:
            taint = untolerated_taint(pool.taints, pod.tolerations)
            if taint is not None:
                pool_errors.append(f"did not tolerate taint {taint.describe()}")
                continue
            pool_errors.append(pool.requirements.compatible_error(requirements, self.allow_undefined))
        owned = self.topology.owned_groups(pod)
        topology_domains = strict
        if self.reachable_domains_only:
            topology_domains = strict.copy()
            for key in sorted({g.key for g in owned if g.key != LABEL_HOSTNAME}):
                topology_domains.add(Requirement(key, False, self._reachable(key, strict, pod, pool_errors)))
        data = PodData(
            pod,
            self.resources.vector(pod.requests),
            requirements,
            strict,
            owned,
            pool_errors,
            topology_domains,
        )
        self._pod_data[pod.uid] = data
        return data

    def _reachable(
        self, key: str, strict: Requirements, pod: Pod, pool_errors: list[str | None]
    ) -> frozenset[str]:
        """Domains of `key` the pod could land in: its compatible NodePools' and its compatible existing nodes'.

        Beyond Karpenter, which counts every NodePool's domains, so that a zone only another
        NodePool offers holds a spread minimum at zero (karpenter "zonal spread polluted").
        """
        cache_key = (key, strict.signature(), tuple(pod.tolerations), tuple(e is None for e in pool_errors))
        cached = self._reachable_cache.get(cache_key)
        if cached is not None:
            return cached
        domains: set[str] = set()
        for pool_index, error in enumerate(pool_errors):
            if error is None:
                domains |= self.pool_domains[pool_index].get(key, set())
        for sim in self.nodes:
            value = sim.node.labels.get(key)
            tolerated = value is not None and untolerated_taint(sim.taints, pod.tolerations) is None
            if tolerated and value is not None and sim.requirements.compatible(strict, frozenset()):
                domains.add(value)
        result = frozenset(domains)
        self._reachable_cache[cache_key] = result
        return result

    # -- the loop ---------------------------------------------------------------
    def solve(self, pods: Sequence[Pod]) -> SchedulingResult:
        result = SchedulingResult()
        queue = sorted(pods, key=queue_order)
        last_length: dict[str, int] = {}
        errors: dict[str, str] = {}
        deadline = self.clock() + self.timeout_seconds
        position = 0
        while position < len(queue):
            pod = queue[position]
            position += 1
            remaining = len(queue) - position + 1
            if last_length.get(pod.uid) == remaining:
                position -= 1
                break
            if self.clock() > deadline:
                result.timed_out = True
                position -= 1
                break
            error = self._add(pod, result)
            if error is None:
                errors.pop(pod.uid, None)
                continue
            errors[pod.uid] = error
            relaxed = relax(pod, self.tolerate_prefer_no_schedule)
            if relaxed is not None:
                new_pod, what = relaxed
                self.topology.owned_groups(new_pod)
                result.relaxed.setdefault(pod.key, []).append(what)
                queue.append(new_pod)
                last_length.clear()
            else:
                queue.append(pod)
                last_length[pod.uid] = len(queue) - position
        for pod in queue[position:]:
            result.unschedulable[pod.key] = errors.get(
                pod.uid, "scheduling timed out before this pod was tried"
            )
        claims = self._repack(self.claims) if self.improve_packing else self.claims
        for claim in claims:
            final = finalize(claim, self.resources.names, self.strict_min_values)
            if isinstance(final, str):
                for pod in claim.pods:
                    result.unschedulable[pod.key] = final
            else:
                result.new_claims.append(final)
        return result

    def _movable(self, pod: Pod) -> bool:
        """A pod no topology constraint looks at, so it may change nodes without changing any count."""
        constrained = any(
            (
                pod.spread,
                pod.affinity,
                pod.preferred_affinity,
                pod.anti_affinity,
                pod.preferred_anti_affinity,
                pod.host_ports,
            )
        )
        return not (constrained or self.topology.counting(pod) or self.topology.inverse_selecting(pod))

    def _repack(self, claims: list[SimClaim]) -> list[SimClaim]:
        """Beyond Karpenter: cheaper claims for the same pods (see `packing`)."""
        requests = {uid: data.requests for uid, data in self._pod_data.items()}
        groups: dict[tuple[object, ...], list[SimClaim]] = {}
        result: list[SimClaim] = []
        for claim in claims:
            if all(self._movable(p) for p in claim.pods):
                groups.setdefault((claim.pool_index, claim.requirements.signature()), []).append(claim)
            else:
                groups[("alone", claim.index)] = [claim]
        for group in groups.values():
            pieces = repack(group, requests, self.strict_min_values)
            result.extend(pieces if pieces is group or self._within_limits(group, pieces) else group)
        movable = {p.uid for c in result for p in c.pods if self._movable(p)}
        if movable:
            result = absorb(result, movable, requests)
        return sorted(result, key=lambda c: (c.index, c.hostname))

    def _within_limits(self, before: list[SimClaim], after: list[SimClaim]) -> bool:
        """Whether re-packing `before` into `after` stays within the NodePool's limits (then charge it)."""
        remaining = self.remaining[before[0].pool_index]
        if remaining is None:
            return True
        pool = before[0].pool
        refund = sum(pool.capacity[c.options].max(axis=0) for c in before)
        needed = sum(pool.capacity[c.options].max(axis=0) for c in after)
        extra_nodes = (len(after) - len(before)) * 1000
        if bool((needed - refund > remaining[:-1]).any()) or extra_nodes > remaining[-1]:
            return False
        remaining[:-1] -= needed - refund
        remaining[-1] -= extra_nodes
        return True

    # -- placement --------------------------------------------------------------
    def _add(self, pod: Pod, result: SchedulingResult) -> str | None:
        data = self.pod_data(pod)
        for sim in self.nodes:
            if self._try_node(sim, data) is None:
                result.existing.setdefault(sim.name, []).append(pod)
                return None
        if self._add_to_claims(data):
            return None
        return self._new_claim(data)

    def _try_node(self, sim: SimNode, data: PodData) -> str | None:
        pod = data.pod
        taint = untolerated_taint(sim.taints, pod.tolerations)
        if taint is not None:
            return f"did not tolerate taint {taint.describe()}"
        if any(a.conflicts(b) for a in pod.host_ports for b in sim.host_ports):
            return "host port conflict"
        for driver, count in pod.volumes.items():
            limit = sim.node.volume_limits.get(driver)
            if limit is not None and sim.volumes.get(driver, 0) + count > limit:
                return f"volume limit for {driver} exceeded"
        if bool((data.requests > sim.free).any()):
            return "insufficient resources"
        error = sim.requirements.compatible_error(data.requirements, frozenset())
        if error:
            return error
        topology = self.topology.add_requirements(
            pod, data.owned, data.topology_domains, sim.requirements, sim.name
        )
        if isinstance(topology, str):
            return topology
        sim.free = sim.free - data.requests
        sim.pods.append(pod)
        sim.host_ports.extend(pod.host_ports)
        for driver, count in pod.volumes.items():
            sim.volumes[driver] = sim.volumes.get(driver, 0) + count
        self.topology.record(pod, sim.requirements, sim.taints, sim.name, None)
        return None

    def _add_to_claims(self, data: PodData) -> bool:
        if not self.claims:
            return False
        pool_ok = np.array([e is None for e in data.pool_errors], dtype=np.bool_)
        mask = self.index.candidates(
            len(self.claims),
            data.pod,
            data.requests,
            data.requirements,
            data.topology_domains,
            data.owned,
            pool_ok,
        )
        order = self.index.order[: len(self.claims)]
        while True:
            keyed = np.where(mask, order, np.inf)
            index = int(np.argmin(keyed))
            if not np.isfinite(keyed[index]):
                return False
            if self._try_claim(self.claims[index], data) is None:
                return True
            mask[index] = False

    def _try_claim(self, claim: SimClaim, data: PodData) -> str | None:
        pod = data.pod
        error = data.pool_errors[claim.pool_index]
        if error:
            return error
        if any(a.conflicts(b) for a in pod.host_ports for b in claim.host_ports):
            return "host port conflict"
        error = claim.requirements.compatible_error(data.requirements, self.allow_undefined)
        if error:
            return error
        merged = claim.requirements.merged(data.requirements)
        narrowed = self.topology.add_requirements(
            pod, data.owned, data.topology_domains, merged, claim.hostname
        )
        if isinstance(narrowed, str):
            return narrowed
        pool = claim.pool
        total = claim.requests + data.requests
        options = claim.options & pool.compatible_mask(narrowed) & pool.fit_mask(total)
        if not options.any():
            return "no instance type fits"
        relaxed = False
        error = min_values_error(pool, narrowed, options)
        if error:
            if self.strict_min_values:
                return error
            relaxed = True
        claim.requirements = narrowed
        claim.options = options
        claim.requests = total
        claim.pods.append(pod)
        claim.host_ports.extend(pod.host_ports)
        claim.min_values_relaxed = claim.min_values_relaxed or relaxed
        self.index.refresh(claim)
        self.topology.record(pod, narrowed, pool.taints, claim.hostname, claim.index)
        return None

    def _new_claim(self, data: PodData) -> str | None:
        reasons = []
        for pool_index, pool in enumerate(self.pools):
            name = pool.nodepool.name
            if data.pool_errors[pool_index]:
                reasons.append(f"incompatible with nodepool {name!r}: {data.pool_errors[pool_index]}")
                continue
            options = np.ones(pool.size, dtype=np.bool_)
            remaining = self.remaining[pool_index]
            if remaining is not None:
                if remaining[-1] < 1000:
                    reasons.append(f"nodepool {name!r} has reached its node limit")
                    continue
                options &= (pool.capacity <= remaining[:-1]).all(axis=1)
                if not options.any():
                    reasons.append(f"all available instance types exceed limits for nodepool {name!r}")
                    continue
            index = len(self.claims)
            hostname = f"hostname-placeholder-{index:04d}"
            self.topology.register_claim(index, hostname)
            claim = SimClaim(
                index,
                pool,
                pool_index,
                hostname,
                pool.requirements.copy(),
                options,
                self.resources.vector({}),
            )
            error = self._try_claim_new(claim, data, None if remaining is None else options)
            if error is not None:
                reasons.append(f"incompatible with nodepool {name!r}: {error}")
                continue
            if remaining is not None:
                remaining[:-1] -= pool.capacity[claim.options].max(axis=0)
                remaining[-1] -= 1000
            return None
        return "; ".join(reasons) or "no NodePool to launch a node from"

    def _try_claim_new(self, claim: SimClaim, data: PodData, within_limits: np.ndarray | None) -> str | None:
        self.claims.append(claim)
        self.index.opened(claim)
        error = self._try_claim(claim, data)
        if error is not None:
            self.claims.pop()
            self.index.dropped(claim)
            return explain_pool_failure(
                claim.pool,
                claim.requirements,
                data.requirements,
                data.requests,
                self.resources.names,
                error,
                within_limits,
            )
        return None
