"""Topological order (Kahn, ties by declaration order), cycles with their path, deletion layers."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence


class CycleError(ValueError):
    """The graph has cycles; `cycles` holds each as a path `[a, b, ..., a]` (a needs b)."""

    def __init__(self, cycles: list[list[str]]) -> None:
        super().__init__("; ".join(" -> ".join(cycle) for cycle in cycles))
        self.cycles = cycles


def topological_order(nodes: Sequence[str], dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """The order; raises CycleError with every cycle found (each as a path) when there is none.

    `nodes` is in declaration order; `dependencies[n]` are the nodes n needs.
    Among nodes that are ready at the same time, the earlier declared goes first.
    """
    index = {node: position for position, node in enumerate(nodes)}
    indegree = {node: 0 for node in nodes}
    dependents: dict[str, list[str]] = {node: [] for node in nodes}
    for node in nodes:
        for dependency in dict.fromkeys(dependencies.get(node, ())):
            indegree[node] += 1
            dependents[dependency].append(node)
    ready = [index[node] for node in nodes if indegree[node] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for dependent in dependents[node]:
            indegree[dependent] -= 1
            if indegree[dependent] == 0:
                heapq.heappush(ready, index[dependent])
    if len(order) == len(nodes):
        return order
    raise CycleError(find_cycles([n for n in nodes if indegree[n] > 0], dependencies))


def _cycle_from(
    start: str, remaining: set[str], dependencies: Mapping[str, Sequence[str]]
) -> list[str] | None:
    """A cycle reachable from `start` (iterative DFS), as `[a, b, ..., a]`."""
    stack: list[tuple[str, int]] = [(start, 0)]
    path: list[str] = [start]
    on_path: set[str] = {start}
    visited: set[str] = {start}
    while stack:
        node, position = stack[-1]
        children = [d for d in dependencies.get(node, ()) if d in remaining]
        if position >= len(children):
            stack.pop()
            path.pop()
            on_path.discard(node)
            continue
        stack[-1] = (node, position + 1)
        child = children[position]
        if child in on_path:
            return [*path[path.index(child) :], child]
        if child not in visited:
            visited.add(child)
            stack.append((child, 0))
            path.append(child)
            on_path.add(child)
    return None


def find_cycles(candidates: Sequence[str], dependencies: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Distinct cycles among `candidates`, each as `[a, b, ..., a]` (a needs b), in declaration order."""
    remaining = set(candidates)
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    for start in candidates:
        cycle = _cycle_from(start, remaining, dependencies)
        if cycle and frozenset(cycle) not in seen:
            seen.add(frozenset(cycle))
            cycles.append(cycle)
    return cycles


def deletion_layers(order: Sequence[str], dependencies: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Waves for deletion: dependents before what they depend on.

    A node's depth is 0 without dependencies, else 1 + the deepest dependency;
    waves go from the deepest to depth 0, each in topological order.
    """
    depth: dict[str, int] = {}
    for node in order:
        depth[node] = 1 + max((depth[d] for d in dependencies.get(node, ()) if d in depth), default=-1)
    layers: dict[int, list[str]] = {}
    for node in order:
        layers.setdefault(depth[node], []).append(node)
    return [layers[level] for level in sorted(layers, reverse=True)]
