"""Reasons a person can act on: which requirement, resource or limit stopped a pod on a NodePool."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from bosun_common.catalog import LABEL_CAPACITY_TYPE, LABEL_NODEPOOL, LABEL_ZONE, format_quantity
from node_planner.provisioning.instance_types import IntArray, PoolTypes
from node_planner.scheduling.requirements import Requirements


def _format(names: list[str], vector: IntArray) -> str:
    return ", ".join(
        f"{name}={format_quantity(name, int(vector[i]))}" for i, name in enumerate(names) if vector[i]
    )


def explain_pool_failure(
    pool: PoolTypes,
    claim_requirements: Requirements,
    pod_requirements: Requirements,
    requests: IntArray,
    names: list[str],
    error: str,
    within_limits: npt.NDArray[np.bool_] | None = None,
) -> str:
    """Turn "no instance type fits" into which requirement or resource eliminated the last types."""
    if error != "no instance type fits":
        return error
    if pool.size == 0:
        return "no instance type in the catalog is compatible with the nodepool's requirements"
    requirements = claim_requirements.merged(pod_requirements)
    mask = np.ones(pool.size, dtype=np.bool_)
    offerings = np.isfinite(pool.offering_prices(requirements))
    if not offerings.any():
        zone = requirements.get_or_exists(LABEL_ZONE).describe()
        kind = requirements.get_or_exists(LABEL_CAPACITY_TYPE).describe()
        return f"no available offering matches {zone} and {kind}"
    mask &= offerings
    for key, requirement in sorted(requirements.items()):
        if key in (LABEL_ZONE, LABEL_CAPACITY_TYPE, LABEL_NODEPOOL):
            continue
        narrowed = mask & pool.requirement_mask(requirement)
        if not narrowed.any():
            return f"no instance type satisfies requirement {requirement.describe()}"
        mask = narrowed
    fit = mask & pool.fit_mask(requests)
    if within_limits is not None and fit.any() and not (fit & within_limits).any():
        return f"no instance type within the remaining limits of nodepool {pool.nodepool.name!r} fits requests {{{_format(names, requests)}}}"
    if not fit.any():
        largest = pool.alloc[mask].max(axis=0)
        short = [name for i, name in enumerate(names) if requests[i] > largest[i]]
        return (
            f"no instance type has enough {', '.join(short) or 'resources'} for requests {{{_format(names, requests)}}}"
            f" (largest compatible allocatable after DaemonSet overhead: {{{_format(names, largest)}}})"
        )
    return "the instance types that fit do not satisfy the pod's requirements together"
