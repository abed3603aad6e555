"""forEach: iterator lists -> the cartesian product of bindings (first entry is the outer loop)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from graph_planner.cel.limits import MAX_COLLECTION_ITEMS
from graph_planner.graph.model import ResourceNode
from graph_planner.runtime.render import RenderError, evaluate


class CollectionTooLarge(RenderError):
    """A forEach expands to more than MAX_COLLECTION_ITEMS items."""


def expand(node: ResourceNode, activation: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One binding ({iterator: value}) per item; an empty list anywhere gives no items."""
    dimensions: list[tuple[str, list[Any]]] = []
    total = 1
    for dimension in node.for_each:
        values = evaluate(dimension.expression, activation)
        if values is None:
            values = []
        if not isinstance(values, list):
            raise RenderError(
                f"forEach {dimension.name!r} must be a list, got {type(values).__name__}",
                dimension.expression.source,
            )
        dimensions.append((dimension.name, values))
        total *= len(values)
        if total > MAX_COLLECTION_ITEMS:
            raise CollectionTooLarge(
                f"forEach expands to more than {MAX_COLLECTION_ITEMS} items", dimension.expression.source
            )
    names = [name for name, _ in dimensions]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(v for _, v in dimensions))]
