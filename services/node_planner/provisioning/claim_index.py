"""A vectorised index over the NodeClaims a simulation has opened.

Per NodeClaim it keeps the placement order key (fewest pods first, then age),
the largest free amount of each resource over its remaining options, its
NodePool, and one bit per domain it allows for each tracked label (zone,
capacity type, topology keys with at most 62 domains). `candidates(pod)` then
discards, in a few numpy operations, every NodeClaim that certainly cannot
take the pod; the scheduler runs the exact check only on the survivors, in
order.
"""

from __future__ import annotations

import numpy as np

from bosun_common.catalog import LABEL_HOSTNAME
from node_planner.provisioning.claims import SimClaim
from node_planner.provisioning.instance_types import BoolArray, FloatArray, IntArray
from node_planner.provisioning.topology import AFFINITY, ANTI_AFFINITY, Topology, TopologyGroup
from node_planner.scheduling.objects import Pod
from node_planner.scheduling.requirements import Requirements


class ClaimIndex:
    def __init__(self, topology: Topology, tracked: list[str], resources: int, capacity: int = 64) -> None:
        self.topology = topology
        self.tracked = [k for k in tracked if topology.domain_bits(k, None) != -1]
        self.order: FloatArray = np.full(capacity, np.inf)
        self.maxfree: IntArray = np.zeros((capacity, resources), dtype=np.int64)
        self.pool_index: IntArray = np.zeros(capacity, dtype=np.int64)
        self.bits: dict[str, IntArray] = {k: np.zeros(capacity, dtype=np.int64) for k in self.tracked}

    def ensure(self, index: int) -> None:
        """Room for NodeClaim `index` (capacity doubles)."""
        if index < len(self.order):
            return
        capacity = len(self.order) * 2
        order = np.full(capacity, np.inf)
        order[: len(self.order)] = self.order
        self.order = order
        maxfree = np.zeros((capacity, self.maxfree.shape[1]), dtype=np.int64)
        maxfree[: len(self.maxfree)] = self.maxfree
        self.maxfree = maxfree
        pools = np.zeros(capacity, dtype=np.int64)
        pools[: len(self.pool_index)] = self.pool_index
        self.pool_index = pools
        for key, bits in self.bits.items():
            grown = np.zeros(capacity, dtype=np.int64)
            grown[: len(bits)] = bits
            self.bits[key] = grown

    def opened(self, claim: SimClaim) -> None:
        self.ensure(claim.index)
        self.pool_index[claim.index] = claim.pool_index

    def dropped(self, claim: SimClaim) -> None:
        self.order[claim.index] = np.inf

    def refresh(self, claim: SimClaim) -> None:
        """After a pod was added: new order key, free resources and domain bits."""
        i = claim.index
        self.order[i] = len(claim.pods) * 1_000_000 + i
        self.maxfree[i] = (claim.pool.alloc[claim.options] - claim.requests).max(axis=0)
        for key in self.tracked:
            self.bits[key][i] = self.topology.domain_bits(key, claim.requirements.get(key))

    def candidates(
        self,
        count: int,
        pod: Pod,
        requests: IntArray,
        requirements: Requirements,
        strict: Requirements,
        owned: list[TopologyGroup],
        pool_ok: BoolArray,
    ) -> BoolArray:
        """NodeClaims 0..count-1 that might take `pod` (a necessary condition, not a sufficient one)."""
        mask: BoolArray = np.asarray((self.maxfree[:count] >= requests).all(axis=1), dtype=np.bool_)
        mask &= pool_ok[self.pool_index[:count]]
        for group in [*owned, *self.topology.inverse_selecting(pod)]:
            self_selecting = group.selects(pod)
            if group.key == LABEL_HOSTNAME:
                counts = group.claim_counts[:count]
                if group.inverse or group.kind == ANTI_AFFINITY:
                    mask &= counts == 0
                elif group.kind == AFFINITY:
                    if not (self_selecting and not any(group.counts.values())):
                        mask &= counts > 0
                else:
                    mask &= counts + (1 if self_selecting else 0) <= group.max_skew
            elif group.key in self.bits:
                allowed = self.topology.next_domains_all(
                    group, pod, self_selecting, strict.get_or_exists(group.key)
                )
                mask &= (self.bits[group.key][:count] & self.topology.domain_bits(group.key, allowed)) != 0
        for key, requirement in requirements.items():
            if key in self.bits:
                mask &= (self.bits[key][:count] & self.topology.domain_bits(key, requirement)) != 0
        return mask
