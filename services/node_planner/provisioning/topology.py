"""Topology: spread constraints, pod affinity and anti-affinity, counted per domain.

A `TopologyGroup` counts the pods its selector matches in each domain of one
topology key. Pods *own* the groups of their own constraints; placing any pod
records it in every group that counts it. Inverse anti-affinity groups keep
pods away from domains where an existing pod's required anti-affinity would
be violated. Domains come from NodePool requirements x instance types plus
existing nodes; for `kubernetes.io/hostname` every node and every NodeClaim
opened in the simulation is a domain, and a new node always could be one, so
the minimum count there is zero.

For speed, hostname groups also keep a count per simulated NodeClaim in a
numpy array, and other keys give each domain a bit, so the scheduler can
discard whole sets of NodeClaims with one vectorised test.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bosun_common.catalog import LABEL_HOSTNAME
from node_planner.scheduling.objects import LabelSelector, Pod
from node_planner.scheduling.requirements import Requirement, Requirements
from node_planner.scheduling.taints import Taint, Toleration, tolerates_all

SPREAD = "topology spread"
AFFINITY = "pod affinity"
ANTI_AFFINITY = "pod anti-affinity"
MAX_BITS = 62


@dataclass(eq=False)
class TopologyGroup:
    kind: str
    key: str
    namespaces: frozenset[str]
    selector: LabelSelector
    max_skew: int = 1
    min_domains: int | None = None
    node_filter: Requirements | None = None
    taint_filter: tuple[Toleration, ...] | None = None
    inverse: bool = False
    counts: dict[str, int] = field(default_factory=dict)
    claim_counts: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(64, dtype=np.int64))
    owners: set[str] = field(default_factory=set)

    def selects(self, pod: Pod) -> bool:
        return pod.namespace in self.namespaces and self.selector.matches(pod.labels)

    def counts_on(self, requirements: Requirements, taints: Iterable[Taint]) -> bool:
        """Whether a pod landing on a node with these requirements and taints counts (node policies)."""
        if self.node_filter is not None and not requirements.compatible(self.node_filter):
            return False
        return self.taint_filter is None or tolerates_all(taints, self.taint_filter)

    def describe(self) -> str:
        selector = ",".join(f"{k}={v}" for k, v in self.selector.match_labels) or "<expressions>"
        return f"{self.kind} on {self.key} for pods {selector}"


class Topology:
    """Every topology group in one simulation, with its domains and counts."""

    def __init__(self, domains: Mapping[str, set[str]]) -> None:
        self.domains: dict[str, set[str]] = {k: set(v) for k, v in domains.items()}
        self.groups: dict[tuple[object, ...], TopologyGroup] = {}
        self.inverse_groups: dict[tuple[object, ...], TopologyGroup] = {}
        self._counting: dict[tuple[object, ...], list[TopologyGroup]] = {}
        self._inverse_selecting: dict[tuple[object, ...], list[TopologyGroup]] = {}
        self.bits: dict[str, dict[str, int]] = {}
        self.claim_capacity = 64
        self.hostnames: set[str] = set()

    # -- groups ---------------------------------------------------------------
    def _group(
        self,
        table: dict[tuple[object, ...], TopologyGroup],
        identity: tuple[object, ...],
        make: TopologyGroup,
    ) -> TopologyGroup:
        group = table.get(identity)
        if group is None:
            group = make
            group.claim_counts = np.zeros(self.claim_capacity, dtype=np.int64)
            table[identity] = group
            self._counting.clear()
            self._inverse_selecting.clear()
            if group.key != LABEL_HOSTNAME and group.key not in self.bits:
                values = sorted(self.domains.get(group.key, set()))
                if len(values) <= MAX_BITS:
                    self.bits[group.key] = {v: 1 << i for i, v in enumerate(values)}
        return group

    def owned_groups(self, pod: Pod) -> list[TopologyGroup]:
        """The groups that constrain `pod` (its spread constraints and pod (anti-)affinity terms)."""
        result = []
        for c in pod.spread:
            node_filter = pod.node_requirements() if c.node_affinity_policy == "Honor" else None
            taints = tuple(pod.tolerations) if c.node_taints_policy == "Honor" else None
            identity: tuple[object, ...] = (
                SPREAD,
                c.topology_key,
                pod.namespace,
                c.selector,
                c.max_skew,
                c.min_domains,
                node_filter.signature() if node_filter else None,
                taints,
            )
            result.append(
                self._group(
                    self.groups,
                    identity,
                    TopologyGroup(
                        SPREAD,
                        c.topology_key,
                        frozenset((pod.namespace,)),
                        c.selector,
                        c.max_skew,
                        c.min_domains,
                        node_filter,
                        taints,
                    ),
                )
            )
        for kind, terms in (
            (AFFINITY, [*pod.affinity, *pod.preferred_affinity]),
            (ANTI_AFFINITY, [*pod.anti_affinity, *pod.preferred_anti_affinity]),
        ):
            for term in terms:
                namespaces = frozenset(term.namespaces or (pod.namespace,))
                term_identity: tuple[object, ...] = (kind, term.topology_key, namespaces, term.selector)
                result.append(
                    self._group(
                        self.groups,
                        term_identity,
                        TopologyGroup(kind, term.topology_key, namespaces, term.selector),
                    )
                )
        for group in result:
            group.owners.add(pod.uid)
        return result

    def inverse_owned(self, pod: Pod) -> list[TopologyGroup]:
        """Inverse groups for the pod's required anti-affinity (others must keep away from it)."""
        result = []
        for term in pod.anti_affinity:
            namespaces = frozenset(term.namespaces or (pod.namespace,))
            identity: tuple[object, ...] = (term.topology_key, namespaces, term.selector)
            group = self._group(
                self.inverse_groups,
                identity,
                TopologyGroup(ANTI_AFFINITY, term.topology_key, namespaces, term.selector, inverse=True),
            )
            group.owners.add(pod.uid)
            result.append(group)
        return result

    def counting(self, pod: Pod) -> list[TopologyGroup]:
        """Groups whose selector matches `pod` (placing it changes their counts)."""
        identity = (pod.namespace, tuple(sorted(pod.labels.items())))
        cached = self._counting.get(identity)
        if cached is None:
            cached = [g for g in self.groups.values() if g.selects(pod)]
            self._counting[identity] = cached
        return cached

    def inverse_selecting(self, pod: Pod) -> list[TopologyGroup]:
        identity = (pod.namespace, tuple(sorted(pod.labels.items())))
        cached = self._inverse_selecting.get(identity)
        if cached is None:
            cached = [g for g in self.inverse_groups.values() if g.selects(pod)]
            self._inverse_selecting[identity] = cached
        return cached

    # -- claims ---------------------------------------------------------------
    def register_claim(self, index: int, hostname: str) -> None:
        self.hostnames.add(hostname)
        if index >= self.claim_capacity:
            self.claim_capacity *= 2
            for group in [*self.groups.values(), *self.inverse_groups.values()]:
                grown = np.zeros(self.claim_capacity, dtype=np.int64)
                grown[: len(group.claim_counts)] = group.claim_counts
                group.claim_counts = grown

    def domain_bits(self, key: str, requirement: Requirement | None) -> int:
        table = self.bits.get(key)
        if table is None:
            return -1
        if requirement is None:
            return sum(table.values())
        return sum(bit for value, bit in table.items() if requirement.has(value))

    # -- decisions ------------------------------------------------------------
    def _universe(self, key: str) -> set[str]:
        return self.domains.get(key, set())

    def next_domains(
        self,
        group: TopologyGroup,
        pod: Pod,
        self_selecting: bool,
        pod_domains: Requirement,
        node_domains: Requirement,
        hostname: str,
    ) -> Requirement:
        """The domains of `node_domains` where `pod` may go under `group` (empty when none)."""
        key = group.key
        if key == LABEL_HOSTNAME:
            count = group.counts.get(hostname, 0)
            if group.kind == SPREAD and not group.inverse:
                ok = count + (1 if self_selecting else 0) <= group.max_skew
            elif group.kind == AFFINITY:
                ok = count > 0 or (self_selecting and not any(group.counts.values()))
            else:
                ok = count == 0
            return Requirement(key, False, frozenset((hostname,) if ok else ()))
        universe = self._universe(key)
        candidates = sorted(d for d in universe if node_domains.has(d))
        if group.inverse or group.kind == ANTI_AFFINITY:
            return Requirement(key, False, frozenset(d for d in candidates if group.counts.get(d, 0) == 0))
        if group.kind == AFFINITY:
            options = [d for d in candidates if group.counts.get(d, 0) > 0]
            if not options and self_selecting and not any(group.counts.values()):
                options = [d for d in candidates if pod_domains.has(d)][:1]
            return Requirement(key, False, frozenset(options))
        eligible = [group.counts.get(d, 0) for d in universe if pod_domains.has(d)]
        minimum = min(eligible) if eligible else 0
        if group.min_domains is not None and len(eligible) < group.min_domains:
            minimum = 0
        extra = 1 if self_selecting else 0
        best: tuple[int, str] | None = None
        for domain in candidates:
            count = group.counts.get(domain, 0) + extra
            if count - minimum <= group.max_skew and (best is None or count < best[0]):
                best = (count, domain)
        return Requirement(key, False, frozenset(() if best is None else (best[1],)))

    def next_domains_all(
        self, group: TopologyGroup, pod: Pod, self_selecting: bool, pod_domains: Requirement
    ) -> Requirement:
        """Every domain (of a non-hostname key) where `pod` could go under `group`, for pre-filtering."""
        key = group.key
        universe = self._universe(key)
        if group.inverse or group.kind == ANTI_AFFINITY:
            return Requirement(key, False, frozenset(d for d in universe if group.counts.get(d, 0) == 0))
        if group.kind == AFFINITY:
            options = {d for d in universe if group.counts.get(d, 0) > 0}
            if not options and self_selecting and not any(group.counts.values()):
                options = {d for d in universe if pod_domains.has(d)}
            return Requirement(key, False, frozenset(options))
        eligible = [group.counts.get(d, 0) for d in universe if pod_domains.has(d)]
        minimum = min(eligible) if eligible else 0
        if group.min_domains is not None and len(eligible) < group.min_domains:
            minimum = 0
        extra = 1 if self_selecting else 0
        return Requirement(
            key,
            False,
            frozenset(d for d in universe if group.counts.get(d, 0) + extra - minimum <= group.max_skew),
        )

    def add_requirements(
        self,
        pod: Pod,
        owned: list[TopologyGroup],
        strict: Requirements,
        node_requirements: Requirements,
        hostname: str,
    ) -> Requirements | str:
        """`node_requirements` narrowed by every topology constraint on `pod`, or why it cannot go there."""
        result = node_requirements
        for group in [*owned, *self.inverse_selecting(pod)]:
            pod_domains = strict.get_or_exists(group.key)
            node_domains = result.get_or_exists(group.key)
            self_selecting = group.selects(pod)
            domains = self.next_domains(group, pod, self_selecting, pod_domains, node_domains, hostname)
            if not domains.values:
                return f"unsatisfiable {group.describe()}"
            if group.key != LABEL_HOSTNAME:
                if result is node_requirements:
                    result = node_requirements.copy()
                result.add(domains)
        return result

    def record(
        self, pod: Pod, requirements: Requirements, taints: Iterable[Taint], hostname: str, claim: int | None
    ) -> None:
        """Count `pod`, now placed on a node with `requirements`, in every group that selects it."""
        taints = list(taints)
        for group in self.counting(pod):
            if not group.counts_on(requirements, taints):
                continue
            self._record(group, requirements, hostname, claim, all_values=group.kind == ANTI_AFFINITY)
        for group in self.inverse_groups.values():
            if pod.uid in group.owners:
                self._record(group, requirements, hostname, claim, all_values=True)

    def _record(
        self,
        group: TopologyGroup,
        requirements: Requirements,
        hostname: str,
        claim: int | None,
        all_values: bool,
    ) -> None:
        if group.key == LABEL_HOSTNAME:
            group.counts[hostname] = group.counts.get(hostname, 0) + 1
            if claim is not None:
                group.claim_counts[claim] += 1
            return
        requirement = requirements.get_or_exists(group.key)
        if all_values:
            for domain in self._universe(group.key):
                if requirement.has(domain):
                    group.counts[domain] = group.counts.get(domain, 0) + 1
        elif not requirement.complement and len(requirement.values) == 1:
            domain = next(iter(requirement.values))
            group.counts[domain] = group.counts.get(domain, 0) + 1
