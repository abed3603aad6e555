"""Table tests: every rejection the engine reports, with reason, resource id, path and expression."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from graph_planner.graph import compile_graph
from graph_planner.schemas import builtin_schemas


def base_rgd() -> dict[str, Any]:
    return {
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": "app.kro.run"},
        "spec": {
            "schema": {
                "apiVersion": "v1alpha1",
                "kind": "App",
                "spec": {
                    "name": "string",
                    "replicas": "integer | default=1",
                    "enabled": "boolean | default=true",
                },
                "status": {"ready": "${deployment.status.availableReplicas}"},
            },
            "resources": [
                {
                    "id": "config",
                    "template": {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "${schema.spec.name}"},
                        "data": {"name": "${schema.spec.name}"},
                    },
                },
                {
                    "id": "deployment",
                    "readyWhen": ["${deployment.status.availableReplicas == deployment.spec.replicas}"],
                    "template": {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "metadata": {"name": "${config.metadata.name}"},
                        "spec": {
                            "replicas": "${schema.spec.replicas}",
                            "selector": {"matchLabels": {"app": "x"}},
                            "template": {
                                "metadata": {"labels": {"app": "x"}},
                                "spec": {"containers": [{"name": "app", "image": "nginx"}]},
                            },
                        },
                    },
                },
            ],
        },
    }


def res(rgd: dict[str, Any], index: int) -> dict[str, Any]:
    resource: dict[str, Any] = rgd["spec"]["resources"][index]
    return resource


def set_path(target: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value


Mutation = Callable[[dict[str, Any]], None]

# (case, mutation, reason, resource id, path fragment, expression fragment)
CASES: list[tuple[str, Mutation, str, str, str, str]] = [
    (
        "unknown id in a template",
        lambda r: set_path(res(r, 1)["template"], "metadata.name", "${nope.metadata.name}"),
        "UnknownResource", "deployment", "metadata.name", "nope.metadata.name",
    ),
    (
        "unknown field of an upstream resource",
        lambda r: set_path(res(r, 1)["template"], "metadata.name", "${config.metadata.nmae}"),
        "UnknownField", "deployment", "metadata.name", "config.metadata.nmae",
    ),
    (
        "unknown field of the instance spec",
        lambda r: set_path(res(r, 0)["template"], "data.name", "${schema.spec.nmae}"),
        "UnknownField", "config", "data.name", "schema.spec.nmae",
    ),
    (
        "unknown field in a static template",
        lambda r: set_path(res(r, 1)["template"], "spec.replica", 3),
        "UnknownField", "deployment", "spec.replica", "",
    ),
    (
        "type mismatch: string into an integer field",
        lambda r: set_path(res(r, 1)["template"], "spec.replicas", "${schema.spec.name}"),
        "TypeMismatch", "deployment", "spec.replicas", "schema.spec.name",
    ),
    (
        "type mismatch: structure of an object",
        lambda r: r["spec"]["resources"].append(
            {
                "id": "service",
                "template": {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": "${schema.spec.name}"},
                    "spec": {"selector": "${deployment.spec.selector}", "ports": [{"port": 80}]},
                },
            }
        ),
        "TypeMismatch", "service", "spec.selector", "deployment.spec.selector",
    ),
    (
        "type mismatch: integer in a string template",
        lambda r: set_path(res(r, 0)["template"], "metadata.name", "app-${schema.spec.replicas}"),
        "TypeMismatch", "config", "metadata.name", "schema.spec.replicas",
    ),
    (
        "type mismatch: operator on incompatible types",
        lambda r: set_path(res(r, 0)["template"], "data.name", "${schema.spec.name + schema.spec.replicas}"),
        "TypeMismatch", "config", "data.name", "schema.spec.name + schema.spec.replicas",
    ),
    (
        "cycle",
        lambda r: set_path(res(r, 0)["template"], "data.name", "${deployment.metadata.name}"),
        "Cycle", "config", "", "",
    ),
    (
        "self reference",
        lambda r: set_path(res(r, 0)["template"], "data.name", "${config.metadata.name}"),
        "SelfReference", "config", "", "",
    ),
    (
        "unknown marker",
        lambda r: set_path(r["spec"]["schema"]["spec"], "replicas", "integer | defualt=1"),
        "InvalidMarker", "", "schema.spec.replicas", "",
    ),
    (
        "marker on the wrong type",
        lambda r: set_path(r["spec"]["schema"]["spec"], "name", "string | minimum=1"),
        "InvalidMarker", "", "schema.spec.name", "",
    ),
    (
        "default that does not parse",
        lambda r: set_path(r["spec"]["schema"]["spec"], "replicas", "integer | default=many"),
        "InvalidMarker", "", "schema.spec.replicas", "",
    ),
    (
        "unknown simple schema type",
        lambda r: set_path(r["spec"]["schema"]["spec"], "name", "strnig"),
        "InvalidType", "", "schema.spec.name", "",
    ),
    (
        "bad id (not lowerCamel)",
        lambda r: res(r, 0).__setitem__("id", "Config-Map"),
        "InvalidId", "", "spec.resources[0]", "",
    ),
    (
        "reserved id",
        lambda r: res(r, 0).__setitem__("id", "schema"),
        "InvalidId", "schema", "spec.resources[0]", "",
    ),
    (
        "duplicate id",
        lambda r: res(r, 1).__setitem__("id", "config"),
        "DuplicateId", "config", "spec.resources[1]", "",
    ),
    (
        "non-bool readyWhen",
        lambda r: res(r, 1).__setitem__("readyWhen", ["${deployment.spec.replicas}"]),
        "InvalidCondition", "deployment", "readyWhen[0]", "deployment.spec.replicas",
    ),
    (
        "readyWhen referencing another resource",
        lambda r: res(r, 1).__setitem__("readyWhen", ["${config.metadata.name == 'x'}"]),
        "InvalidCondition", "deployment", "readyWhen[0]", "config.metadata.name",
    ),
    (
        "non-bool includeWhen",
        lambda r: res(r, 0).__setitem__("includeWhen", ["${schema.spec.name}"]),
        "InvalidCondition", "config", "includeWhen[0]", "schema.spec.name",
    ),
    (
        "includeWhen that is not an expression",
        lambda r: res(r, 0).__setitem__("includeWhen", ["true"]),
        "InvalidCondition", "config", "includeWhen[0]", "true",
    ),
    (
        "forEach over a non-list",
        lambda r: res(r, 0).__setitem__("forEach", [{"name": "${schema.spec.name}"}]),
        "InvalidForEach", "config", "forEach[0]", "schema.spec.name",
    ),
    (
        "forEach entry with two keys",
        lambda r: res(r, 0).__setitem__("forEach", [{"a": "${[1]}", "b": "${[2]}"}]),
        "InvalidForEach", "config", "forEach[0]", "",
    ),
    (
        "forEach iterator with a reserved name",
        lambda r: res(r, 0).__setitem__("forEach", [{"schema": "${[1]}"}]),
        "InvalidForEach", "config", "forEach[0]", "",
    ),
    (
        "forEach with externalRef",
        lambda r: r["spec"]["resources"].append(
            {
                "id": "ext",
                "forEach": [{"x": "${[1]}"}],
                "externalRef": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n"}},
            }
        ),
        "InvalidForEach", "ext", "forEach", "",
    ),
    (
        "forEach with more than 10 iterators",
        lambda r: res(r, 0).__setitem__("forEach", [{f"i{n}": "${[1]}"} for n in range(11)]),
        "InvalidForEach", "config", "forEach", "",
    ),
    (
        "both template and externalRef",
        lambda r: res(r, 0).__setitem__("externalRef", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}),
        "InvalidResource", "config", "", "",
    ),
    (
        "static status field",
        lambda r: set_path(r["spec"]["schema"], "status", {"phase": "Running"}),
        "InvalidStatus", "", "schema.status.phase", "",
    ),
    (
        "unknown function",
        lambda r: set_path(res(r, 0)["template"], "data.name", "${schema.spec.name.shout()}"),
        "UnknownFunction", "config", "data.name", "shout",
    ),
    (
        "comprehensions nested too deep",
        lambda r: set_path(
            res(r, 0)["template"], "data.name", "${string(size([1].map(a, [1].map(b, [1].map(c, [1].map(d, d))))))}"
        ),
        "LimitExceeded", "config", "data.name", "",
    ),
    (
        "unterminated expression",
        lambda r: set_path(res(r, 0)["template"], "data.name", "${schema.spec.name"),
        "InvalidTemplate", "config", "data.name", "",
    ),
    (
        "bad kind name",
        lambda r: set_path(r["spec"]["schema"], "kind", "my-app"),
        "InvalidSchema", "", "schema.kind", "",
    ),
    (
        "bad apiVersion",
        lambda r: set_path(r["spec"]["schema"], "apiVersion", "1.0"),
        "InvalidSchema", "", "schema.apiVersion", "",
    ),
    (
        "custom types in a cycle",
        lambda r: set_path(r["spec"]["schema"], "types", {"A": {"b": "B"}, "B": {"a": "A"}}),
        "InvalidType", "", "schema.types", "",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "mutation", "reason", "resource_id", "path", "expression"), CASES, ids=[c[0] for c in CASES]
)
def test_rejection(
    case: str, mutation: Mutation, reason: str, resource_id: str, path: str, expression: str
) -> None:
    rgd = base_rgd()
    mutation(rgd)
    result = compile_graph(rgd, builtin_schemas())
    assert result.graph is None, case
    matching = [e for e in result.errors if e.reason == reason]
    assert matching, [e.render() for e in result.errors]
    error = matching[0]
    assert error.resource_id == resource_id
    assert path in error.path
    assert expression in error.expression
    assert error.message


def test_base_rgd_is_valid() -> None:
    result = compile_graph(base_rgd(), builtin_schemas())
    assert result.errors == ()
    assert result.graph is not None
    assert result.graph.topological_order == ("config", "deployment")
    assert result.graph.nodes["deployment"].dependencies == ("config",)


def test_cycle_message_has_the_path() -> None:
    rgd = base_rgd()
    set_path(res(rgd, 0)["template"], "data.name", "${deployment.metadata.name}")
    result = compile_graph(rgd, builtin_schemas())
    cycles = [e for e in result.errors if e.reason == "Cycle"]
    assert [e.message for e in cycles] == ["dependency cycle: config -> deployment -> config"]


def test_every_error_is_reported_not_just_the_first() -> None:
    rgd = base_rgd()
    set_path(res(rgd, 0)["template"], "data.name", "${nope}")
    set_path(res(rgd, 1)["template"], "spec.replicas", "${schema.spec.name}")
    result = compile_graph(rgd, builtin_schemas())
    assert {(e.resource_id, e.reason) for e in result.errors} >= {
        ("config", "UnknownResource"),
        ("deployment", "TypeMismatch"),
    }


def test_includewhen_may_reference_upstream_resources() -> None:
    rgd = base_rgd()
    res(rgd, 1)["includeWhen"] = ["${config.data.name != ''}"]
    result = compile_graph(rgd, builtin_schemas())
    assert result.errors == ()
    assert result.graph is not None and result.graph.nodes["deployment"].dependencies == ("config",)


def test_escape_form_is_a_literal() -> None:
    rgd = base_rgd()
    set_path(res(rgd, 0)["template"], "data.name", '${"${VAR}"}')
    result = compile_graph(rgd, builtin_schemas())
    assert result.errors == ()


def test_garbage_input_is_rejected_not_raised() -> None:
    for rgd in [{}, {"spec": None}, {"spec": {"schema": "x"}}, {"spec": {"schema": {}, "resources": "x"}}]:
        result = compile_graph(copy.deepcopy(rgd), builtin_schemas())
        assert result.graph is None and result.errors


def test_deeply_nested_templates_are_rejected_not_a_stack_overflow() -> None:
    rgd = base_rgd()
    deep: dict[str, object] = {"leaf": "x"}
    for _ in range(5000):
        deep = {"n": deep}
    res(rgd, 0)["template"]["data"] = deep
    result = compile_graph(rgd, builtin_schemas())
    assert [(e.reason, e.resource_id) for e in result.errors] == [("LimitExceeded", "config")]


def test_for_each_iterators_are_typed_from_the_list() -> None:
    rgd = base_rgd()
    rgd["spec"]["schema"]["spec"]["ports"] = "[]integer"
    res(rgd, 0)["forEach"] = [{"port": "${schema.spec.ports}"}]
    res(rgd, 0)["template"]["metadata"]["name"] = "${schema.spec.name + '-' + port}"
    res(rgd, 1)["template"]["metadata"]["name"] = "${config[0].metadata.name}"  # a collection is a list
    result = compile_graph(rgd, builtin_schemas())
    assert [(e.reason, e.resource_id, e.path) for e in result.errors] == [
        ("TypeMismatch", "config", "metadata.name")
    ]
    res(rgd, 0)["template"]["metadata"]["name"] = "${schema.spec.name + '-' + string(port)}"
    assert compile_graph(rgd, builtin_schemas()).errors == ()
