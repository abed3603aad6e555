"""Property tests: random well-formed RGDs compile in a valid order; random malformed ones only ever
produce validation errors, never an exception; planning random instances never crashes."""

from __future__ import annotations

import copy
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_planner.errors import GraphError
from graph_planner.graph import compile_graph
from graph_planner.runtime import plan_instance
from graph_planner.schemas import builtin_schemas

# BOSUN_HYPOTHESIS_EXAMPLES=2000 for a longer hunt.
SETTINGS = settings(
    max_examples=int(os.environ.get("BOSUN_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def well_formed_rgds(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, set[str]]]:
    """A random DAG of ConfigMaps (edges only to nodes earlier in a random permutation), declared in random order."""
    count = draw(st.integers(min_value=1, max_value=8))
    ids = [f"r{i}" for i in range(count)]
    topo = draw(st.permutations(ids))
    deps: dict[str, set[str]] = {}
    for position, rid in enumerate(topo):
        deps[rid] = set(draw(st.lists(st.sampled_from(topo[:position]), unique=True))) if position else set()
    declared = draw(st.permutations(ids))
    resources = []
    for rid in declared:
        data = {f"from_{d}": f"${{{d}.metadata.name}}" for d in sorted(deps[rid])}
        data["greeting"] = "hello-${schema.spec.name}"
        resource: dict[str, Any] = {
            "id": rid,
            "template": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"${{schema.spec.name}}-{rid}"},
                "data": data,
            },
        }
        if draw(st.booleans()):
            resource["includeWhen"] = ["${schema.spec.enabled}"]
        resources.append(resource)
    spec_fields = {
        "name": "string",
        "enabled": "boolean | default=true",
        "count": draw(st.sampled_from(["integer | default=1", "integer | minimum=0 maximum=9", "integer"])),
        "tags": draw(st.sampled_from(["[]string", "map[string]string", "[]map[string]integer"])),
    }
    rgd = {
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": "random"},
        "spec": {
            "schema": {"apiVersion": "v1alpha1", "kind": "Random", "spec": spec_fields},
            "resources": resources,
        },
    }
    return rgd, deps


@SETTINGS
@given(well_formed_rgds())
def test_well_formed_rgds_compile_in_a_valid_deterministic_order(
    case: tuple[dict[str, Any], dict[str, set[str]]],
) -> None:
    rgd, deps = case
    result = compile_graph(rgd, builtin_schemas())
    assert result.errors == ()
    assert result.graph is not None
    order = list(result.graph.topological_order)
    declared = [r["id"] for r in rgd["spec"]["resources"]]
    assert sorted(order) == sorted(declared)
    placed: set[str] = set()
    for rid in order:
        assert set(result.graph.nodes[rid].dependencies) == deps[rid]
        ready = [d for d in declared if d not in placed and deps[d] <= placed]
        assert rid == ready[0]  # Kahn's choice: the earliest declared among the ready ones
        placed.add(rid)
    again = compile_graph(copy.deepcopy(rgd), builtin_schemas())
    assert again.graph is not None and again.graph.topological_order == result.graph.topological_order
    assert again.graph.crd == result.graph.crd


JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=12)
    | st.sampled_from(
        ["${", "${}", "${nope}", "${schema.spec.missing}", "${1 +}", "[]strng", "integer | x=1", "${r0}"]
    ),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*prefix, index))
    return out


@SETTINGS
@given(well_formed_rgds(), st.data())
def test_malformed_rgds_give_errors_never_exceptions(
    case: tuple[dict[str, Any], Any], data: st.DataObject
) -> None:
    rgd = copy.deepcopy(case[0])
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        paths = [p for p in _paths(rgd) if p]
        path = data.draw(st.sampled_from(paths))
        target: Any = rgd
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = data.draw(JUNK)
    result = compile_graph(rgd, builtin_schemas())
    if result.graph is None:
        assert result.errors
    assert all(isinstance(e, GraphError) and e.reason and e.message for e in result.errors)


@SETTINGS
@given(
    well_formed_rgds(),
    st.dictionaries(st.sampled_from(["name", "enabled", "count", "tags"]), JUNK, max_size=4),
)
def test_planning_random_instances_never_crashes(
    case: tuple[dict[str, Any], Any], spec: dict[str, Any]
) -> None:
    result = compile_graph(case[0], builtin_schemas())
    assert result.graph is not None
    instance = {
        "apiVersion": "kro.run/v1alpha1",
        "kind": "Random",
        "metadata": {"name": "x", "uid": "u"},
        "spec": spec,
    }
    plan = plan_instance(result.graph, instance, [])
    assert plan.status["state"] in ("IN_PROGRESS", "ACTIVE", "ERROR")
    assert len(plan.nodes) == len(result.graph.nodes)
