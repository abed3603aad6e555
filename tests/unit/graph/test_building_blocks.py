"""Unit tests of the pieces: Simple Schema, markers, defaults, templates, DAG, CEL library and limits."""

from __future__ import annotations

import pytest

from graph_planner.cel.declare import T
from graph_planner.cel.environment import (
    CelEvaluationError,
    compile_expression,
    eval_env,
    new_env,
    preprocess,
)
from graph_planner.cel.library import seeded_int, seeded_string
from graph_planner.cel.limits import LimitError
from graph_planner.errors import GraphValidationError
from graph_planner.graph.dag import CycleError, deletion_layers, topological_order
from graph_planner.graph.templates import Expr, TemplateSyntaxError, parse_template, path_text
from graph_planner.simple_schema import apply_defaults, parse_markers, to_openapi
from graph_planner.simple_schema.crd import pluralize
from graph_planner.simple_schema.markers import MarkerError


def test_every_simple_schema_type_and_nesting() -> None:
    schema = to_openapi(
        {
            "s": "string",
            "i": "integer",
            "b": "boolean",
            "f": "float",
            "o": "object",
            "ls": "[]string",
            "ms": "map[string]integer",
            "lls": "[][]string",
            "mls": "map[string][]string",
            "lms": "[]map[string]boolean",
            "nested": {"deeper": {"x": "string"}},
        }
    )
    p = schema["properties"]
    assert p["f"] == {"type": "number"}
    assert p["o"] == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    assert p["lls"] == {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}
    assert p["mls"] == {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
    }
    assert p["lms"]["items"] == {"type": "object", "additionalProperties": {"type": "boolean"}}
    assert p["nested"]["properties"]["deeper"]["properties"]["x"] == {"type": "string"}


def test_every_marker() -> None:
    schema = to_openapi(
        {
            "name": 'string | required=true description="The name" pattern="^[a-z]+$" minLength=1 maxLength=10 immutable=true',
            "size": 'integer | minimum=1 maximum=5 enum="1,2,3" default=2',
            "tags": "[]string | uniqueItems=true minItems=1 maxItems=3",
            "ports": "[]map[string]integer | listType=map listMapKey=name listMapKey=protocol",
            "rule": "string | validation=\"self.startsWith('a')\"",
        }
    )
    p = schema["properties"]
    assert schema["required"] == ["name"]
    assert p["name"]["description"] == "The name"
    assert p["name"]["pattern"] == "^[a-z]+$"
    assert (p["name"]["minLength"], p["name"]["maxLength"]) == (1, 10)
    assert p["name"]["x-kubernetes-validations"] == [
        {"rule": "self == oldSelf", "message": "field is immutable"}
    ]
    assert (p["size"]["minimum"], p["size"]["maximum"], p["size"]["enum"], p["size"]["default"]) == (
        1,
        5,
        [1, 2, 3],
        2,
    )
    assert p["tags"]["x-kubernetes-list-type"] == "set"
    assert (p["tags"]["minItems"], p["tags"]["maxItems"]) == (1, 3)
    assert p["ports"]["x-kubernetes-list-map-keys"] == ["name", "protocol"]
    assert p["rule"]["x-kubernetes-validations"][0]["rule"] == "self.startsWith('a')"


def test_custom_types_expand_inline_and_may_reference_each_other() -> None:
    schema = to_openapi(
        {"server": "Server", "servers": "[]Server"},
        {"Server": {"port": "Port", "host": "string"}, "Port": "integer | default=80 required=true"},
    )
    server = schema["properties"]["server"]
    assert server["properties"]["port"] == {"type": "integer", "default": 80}
    assert server["required"] == ["port"]
    assert schema["properties"]["servers"]["items"] == server


@pytest.mark.parametrize(
    "text",
    ["required", "unknown=1", 'description="open', "default={", "default=[1", "=x"],
)
def test_bad_markers_raise_marker_errors(text: str) -> None:
    with pytest.raises(MarkerError):
        parse_markers(text)


def test_markers_allow_quotes_brackets_and_escapes() -> None:
    markers = parse_markers('default={"a": "b c"} description="say \\"hi\\"" enum="x,y"')
    assert [(m.key, m.value) for m in markers] == [
        ("default", '{"a": "b c"}'),
        ("description", 'say "hi"'),
        ("enum", "x,y"),
    ]


@pytest.mark.parametrize(
    "field",
    [
        "string | minLength=4 maxLength=3",
        "integer | minimum=5 maximum=1",
        "[]string | minItems=2 maxItems=1",
        "number",
    ],
)
def test_inconsistent_markers_and_unknown_types_are_rejected(field: str) -> None:
    with pytest.raises(GraphValidationError) as info:
        to_openapi({"a": field})
    assert info.value.errors[0].reason in ("InvalidMarker", "InvalidType")
    assert info.value.errors[0].path == "schema.spec.a"


def test_schema_errors_carry_the_field_path() -> None:
    with pytest.raises(GraphValidationError) as info:
        to_openapi({"a": {"b": "integer | minLength=1"}})
    assert info.value.errors[0].path == "schema.spec.a.b"


def test_defaults_fill_nested_objects() -> None:
    schema = to_openapi(
        {"service": {"enabled": "boolean | default=true"}, "port": "integer | default=80", "name": "string"}
    )
    assert apply_defaults(schema, {"name": "x"}) == {"name": "x", "service": {"enabled": True}, "port": 80}
    assert apply_defaults(schema, {"service": {"enabled": False}}) == {
        "service": {"enabled": False},
        "port": 80,
    }


def test_pluralize() -> None:
    assert [pluralize(k) for k in ("WebApp", "Policy", "Ingress", "Key", "Box")] == [
        "webapps",
        "policies",
        "ingresses",
        "keys",
        "boxes",
    ]


def test_template_parsing() -> None:
    assert parse_template("${a.b}") == [Expr("a.b")]
    assert parse_template("x-${a}-${b}") == ["x-", Expr("a"), "-", Expr("b")]
    assert parse_template('${"${VAR}"}') == [Expr('"${VAR}"')]
    assert parse_template("${ {'a': 1}['a'] }") == [Expr("{'a': 1}['a']")]
    assert parse_template("plain") == ["plain"]
    with pytest.raises(TemplateSyntaxError):
        parse_template("${a")
    with pytest.raises(TemplateSyntaxError):
        parse_template("${ }")
    assert path_text(("spec", "containers", 0, "image")) == "spec.containers[0].image"
    assert (
        path_text(("metadata", "labels", "app.kubernetes.io/name"))
        == 'metadata.labels["app.kubernetes.io/name"]'
    )


def test_kahn_breaks_ties_by_declaration_order() -> None:
    nodes = ["c", "a", "b", "d"]
    order = topological_order(nodes, {"d": ["a"], "b": ["c"]})
    assert order == ["c", "a", "b", "d"]
    assert topological_order(["x", "y"], {"x": ["y"]}) == ["y", "x"]


def test_cycles_are_reported_with_paths() -> None:
    with pytest.raises(CycleError) as info:
        topological_order(["a", "b", "c", "d"], {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["d"]})
    assert info.value.cycles == [["a", "b", "c", "a"], ["d", "d"]]


def test_deletion_layers_reverse_dependency_depth() -> None:
    deps = {"svc": ["deploy"], "ing": ["svc", "deploy"], "cm": []}
    order = ["deploy", "cm", "svc", "ing"]
    assert deletion_layers(order, deps) == [["ing"], ["svc"], ["deploy", "cm"]]


def evaluate(source: str, **data: object) -> object:
    names = frozenset(data) | {"x"}
    return compile_expression(source, eval_env(names), names).evaluate(dict(data))


def test_kubernetes_and_kro_libraries() -> None:
    assert evaluate("quantity('1Gi').isGreaterThan(quantity('1000Mi'))") is True
    assert evaluate("quantity('500m').add(quantity('1500m')).asInteger()") == 2
    assert evaluate("isQuantity('1.5Gi') && !isQuantity('1.5 Gi')") is True
    assert evaluate("url('https://example.com:8443/a?b=c').getPort()") == "8443"
    assert evaluate("'abc123def456'.findAll('[0-9]+')") == ["123", "456"]
    assert evaluate("cidr('10.0.0.0/16').containsIP(ip('10.0.3.4'))") is True
    assert evaluate("cidr('10.0.0.0/16').containsCIDR('10.0.1.0/24')") is True
    assert evaluate("isIP('::1') && ip('::1').isLoopback()") is True
    assert evaluate("semver('1.2.3').compareTo(semver('1.2.10'))") == -1
    assert evaluate("[3, 1, 2].min() + [3, 1, 2].max() + [1, 2].sum()") == 7
    assert evaluate("[1, 2, 3].isSorted() && ![2, 1].isSorted()") is True
    assert evaluate("[1, 2, 3, 4].slice(1, 3)") == [2, 3]
    assert evaluate("lists.range(3)") == [0, 1, 2]
    assert evaluate("lists.insertAtIndex([1, 3], 1, 2)") == [1, 2, 3]
    assert evaluate("lists.removeAtIndex([1, 2, 3], 0)") == [2, 3]
    assert evaluate("{'a': {'x': 1}}.deepMerge({'a': {'y': 2}, 'b': 3})") == {"a": {"x": 1, "y": 2}, "b": 3}
    assert evaluate("map.merge({'a': 1}, {'a': 2, 'b': 2})") == {"a": 1, "b": 2}
    assert evaluate("json.unmarshal(json.marshal({'b': [1, 'x'], 'a': true}))") == {"a": True, "b": [1, "x"]}
    assert evaluate("hash.md5('a').size()") == 16
    assert evaluate("runtime.newCondition({type: 'Synced', status: 'True', reason: 'Ok'})", runtime={}) == {
        "message": "",
        "reason": "Ok",
        "status": "True",
        "type": "Synced",
    }
    assert evaluate("'a-b'.split('-').join('+')") == "a+b"
    assert evaluate("schema.?spec.?missing.orValue('fallback')", schema={"spec": {}}) == "fallback"


def test_seeded_random_is_deterministic_and_bounded() -> None:
    assert seeded_string(12, "seed") == seeded_string(12, "seed")
    assert seeded_string(12, "seed") != seeded_string(12, "other")
    assert len(seeded_string(50, "s")) == 50 and seeded_string(50, "s").isalnum()
    assert all(30000 <= seeded_int(30000, 32768, f"s{i}") < 32768 for i in range(50))
    with pytest.raises(ValueError):
        seeded_int(5, 5, "x")


def test_library_limits() -> None:
    with pytest.raises(CelEvaluationError):
        evaluate("lists.range(100000)")
    with pytest.raises(CelEvaluationError):
        evaluate("random.seededString(10000000, 'x')")
    with pytest.raises(LimitError):
        compile_expression("1 + " * 3000 + "1", new_env({"x": T.DYN}), ["x"])


def test_comprehension_cost_estimate_rejects_blowups() -> None:
    env = new_env({"x": T.DYN})
    thousand = "[" + ",".join(["1"] * 1000) + "]"
    with pytest.raises(LimitError, match="iterations"):
        compile_expression(f"{thousand}.map(a, {thousand}.map(b, {thousand}.map(c, c)))", env, ["x"])
    with pytest.raises(LimitError, match="iterations"):
        compile_expression("lists.range(5000).map(a, lists.range(5000).map(b, b))", env, ["x"])
    compile_expression(f"{thousand}.map(a, {thousand}.map(b, b))", env, ["x"])
    compile_expression("x.map(a, x.map(b, x.filter(c, c > b)))", env, ["x"])


def test_missing_data_is_distinguished_from_failures() -> None:
    with pytest.raises(CelEvaluationError) as missing:
        evaluate("x.status.ready", x={"status": {}})
    assert missing.value.missing_data
    with pytest.raises(CelEvaluationError) as failure:
        evaluate("1 / x", x=0)
    assert not failure.value.missing_data


def test_new_condition_bare_keys_are_quoted() -> None:
    assert preprocess("runtime.newCondition({type: 'A', status: 'True'})") == (
        "runtime.newCondition({'type': 'A', 'status': 'True'})"
    )
    assert preprocess("{type: 1}") == "{type: 1}"
