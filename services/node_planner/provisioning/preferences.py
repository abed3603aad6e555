"""Preference relaxation: when a pod cannot be placed, drop one preference and try again.

Karpenter treats preferences as requirements until they fail, then relaxes
them one at a time in this order: extra required node-affinity OR terms (the
first term is dropped so the next is tried), preferred pod affinity, preferred
pod anti-affinity, preferred node affinity (heaviest first), ScheduleAnyway
topology spread, and finally tolerating PreferNoSchedule taints.
"""

from __future__ import annotations

import dataclasses

from node_planner.scheduling.objects import Pod
from node_planner.scheduling.taints import Toleration

TOLERATE_PREFER_NO_SCHEDULE = Toleration("", "Exists", "", "PreferNoSchedule")


def relax(pod: Pod, tolerate_prefer_no_schedule: bool = True) -> tuple[Pod, str] | None:
    """A copy of `pod` with one preference removed, and what was removed; None when nothing is left."""
    if len(pod.node_requirement_terms) > 1:
        return dataclasses.replace(pod, node_requirement_terms=pod.node_requirement_terms[1:]), (
            f"required node affinity term {pod.node_requirement_terms[0].describe()}"
        )
    if pod.preferred_affinity:
        term = pod.preferred_affinity[0]
        return dataclasses.replace(pod, preferred_affinity=pod.preferred_affinity[1:]), (
            f"preferred pod affinity on {term.topology_key} (weight {term.weight})"
        )
    if pod.preferred_anti_affinity:
        term = pod.preferred_anti_affinity[0]
        return dataclasses.replace(pod, preferred_anti_affinity=pod.preferred_anti_affinity[1:]), (
            f"preferred pod anti-affinity on {term.topology_key} (weight {term.weight})"
        )
    if pod.preferred_node_terms:
        weight, preferred = pod.preferred_node_terms[0]
        return dataclasses.replace(pod, preferred_node_terms=pod.preferred_node_terms[1:]), (
            f"preferred node affinity {preferred.describe()} (weight {weight})"
        )
    for i, constraint in enumerate(pod.spread):
        if constraint.when_unsatisfiable == "ScheduleAnyway":
            return dataclasses.replace(pod, spread=[*pod.spread[:i], *pod.spread[i + 1 :]]), (
                f"ScheduleAnyway topology spread on {constraint.topology_key}"
            )
    if tolerate_prefer_no_schedule and TOLERATE_PREFER_NO_SCHEDULE not in pod.tolerations:
        return dataclasses.replace(pod, tolerations=[*pod.tolerations, TOLERATE_PREFER_NO_SCHEDULE]), (
            "tolerated PreferNoSchedule taints"
        )
    return None
