"""Every kro example compiles to the expected order and CRD, and every instance renders and converges."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
import yaml

from graph_planner.graph import compile_graph
from graph_planner.runtime import plan_instance

from .conftest import EXAMPLE_PAIRS, EXAMPLES, compiled, converge, load_rgd, load_yaml

EXPECTED = Path(__file__).parent / "expected"
UPDATE = os.environ.get("BOSUN_UPDATE_GOLDEN") == "1"

# Hand-checked: Kahn's algorithm, ties broken by declaration order.
ORDERS = {
    "additionalPrinterColumns/rg.yaml": ["deployment", "service"],
    "cel-functions/rg.yaml": ["deployment", "service"],
    "core-dns/core-dns.yaml": [
        "clusterRole",
        "configMap",
        "service",
        "serviceAccount",
        "clusterRoleBinding",
        "deployment",
    ],
    "defaults/rg.yaml": [],
    "dogsvscats/result-app/rg.yaml": ["deployment", "service", "ingress"],
    "dogsvscats/vote-app/rg.yaml": ["deployment", "service", "ingress"],
    "dogsvscats/worker-app/rg.yaml": ["deployment"],
    "job-example/rgd.yaml": ["job", "deployment"],
    "saas-multi-tenant/tenant-application-rgd.yaml": ["deployment", "service"],
    "saas-multi-tenant/tenant-environment-rgd.yaml": [
        "tenantNamespace",
        "tenantQuota",
        "tenantNetworkpolicy",
    ],
    "saas-multi-tenant/tenant-rgd.yaml": ["tenantEnvironment", "tenantApplication"],
    "webapp/rg.yaml": ["deployment", "service", "ingress"],
    "fixtures/conditional/rgd.yaml": ["configmap", "monitoring"],
    "fixtures/external-ref/rgd.yaml": ["extconfig", "configmap"],
    "fixtures/mixed-nil-empty/rgd.yaml": ["full", "minimal"],
    "fixtures/multi-dependency/rgd.yaml": ["config", "deployment", "service"],
    "fixtures/resources-reverse-order/rgd.yaml": ["zzsecond", "aafirst"],
    "fixtures/simple-deployment/rgd.yaml": ["deployment", "service"],
}
RGDS = [rgd for rgd, _ in EXAMPLE_PAIRS]


def test_every_example_is_listed() -> None:
    found = {
        str(p.relative_to(EXAMPLES))
        for p in EXAMPLES.rglob("*.yaml")
        if load_rgd(str(p.relative_to(EXAMPLES))).get("kind") == "ResourceGraphDefinition"
    }
    assert found == set(RGDS)


@pytest.mark.parametrize("rgd", RGDS)
def test_example_compiles_with_expected_order(rgd: str, source) -> None:
    result = compile_graph(load_rgd(rgd), source)
    assert result.errors == ()
    assert result.graph is not None
    assert result.pending_kinds == ()
    expected = ORDERS.get(rgd, ["configmap"])
    assert list(result.graph.topological_order) == expected
    # Every dependency comes before its dependent.
    position = {rid: i for i, rid in enumerate(result.graph.topological_order)}
    for node in result.graph.nodes.values():
        assert all(position[dep] < position[node.id] for dep in node.dependencies)


@pytest.mark.parametrize("rgd", RGDS)
def test_example_crd_matches_expected_file(rgd: str, source) -> None:
    graph = compiled(rgd, source)
    golden = EXPECTED / (rgd.replace("/", "__").removesuffix(".yaml") + ".crd.yaml")
    text = yaml.safe_dump(graph.crd, sort_keys=True)
    if UPDATE or not golden.exists():
        assert UPDATE, f"missing expected file {golden}; run with BOSUN_UPDATE_GOLDEN=1 and review it"
        golden.write_text(text)
    assert text == golden.read_text()


def test_webapp_crd_schema_details() -> None:
    crd = compiled("webapp/rg.yaml").crd
    assert crd["metadata"]["name"] == "webapps.kro.run"
    version = crd["spec"]["versions"][0]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["port"] == {"type": "integer", "default": 8080}
    assert spec["properties"]["service"] == {
        "type": "object",
        "properties": {"enabled": {"type": "boolean", "default": True}},
        "default": {},
    }
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["availableReplicas"]["type"] == "integer"
    assert status["url"] == {"type": "string"}
    assert status["deploymentConditions"]["type"] == "array"
    assert "reason" in status["deploymentConditions"]["items"]["properties"]
    assert {"state", "conditions"} <= set(status)
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["State", "Ready", "Age"]


def test_user_printer_columns_replace_defaults() -> None:
    crd = compiled("additionalPrinterColumns/rg.yaml").crd
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in columns] == ["Available replicas", "Image", "Enabled Ingress"]


def test_defaults_example_schema() -> None:
    spec = compiled("defaults/rg.yaml").crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"][
        "spec"
    ]
    assert spec["required"] == ["required"]
    assert spec["properties"]["elements"]["default"] == ["a", "b", "c", "d"]
    assert spec["properties"]["config"]["properties"]["field2"]["default"] == 200
    assert spec["properties"]["config"]["default"] == {}


FIXTURE_OBJECTS = load_yaml("fixtures/00-namespace.yaml") + load_yaml("fixtures/01-external-configmap.yaml")
INSTANCES = [(rgd, inst) for rgd, inst in EXAMPLE_PAIRS if inst is not None]
# Objects each instance ends up with (per instance document in the file).
OBJECT_COUNTS = {
    "webapp/instance.yaml": [3],
    "core-dns/coredns-instance.yaml": [6],
    "fixtures/conditional/instance.yaml": [1, 2],
    "fixtures/external-ref/instance.yaml": [1],
    "fixtures/multi-dependency/instance.yaml": [3],
    "fixtures/mixed-nil-empty/instance.yaml": [2],
    "defaults/instance.yaml": [0],
    "dogsvscats/worker-app/instance.yaml": [1],
}


@pytest.mark.parametrize(("rgd", "instance_file"), INSTANCES)
def test_every_instance_renders_and_converges(rgd: str, instance_file: str, source) -> None:
    graph = compiled(rgd, source)
    instances = [doc for doc in load_yaml(instance_file) if doc.get("kind") == graph.kind]
    assert instances
    counts = []
    for number, instance in enumerate(instances):
        instance = {**instance, "metadata": {**instance["metadata"], "uid": f"uid-{number}", "generation": 1}}
        first = plan_instance(graph, instance, FIXTURE_OBJECTS)
        assert [n.id for n in first.nodes if n.state == "Error"] == []
        result, _ = converge(graph, instance, FIXTURE_OBJECTS)
        assert [n.as_status() for n in result.nodes if n.state not in ("Ready", "Excluded")] == []
        assert result.status["state"] == "ACTIVE"
        ready = {c["type"]: c["status"] for c in result.status["conditions"]}
        assert ready == {
            "InstanceManaged": "True",
            "GraphResolved": "True",
            "ResourcesReady": "True",
            "Ready": "True",
        }
        assert all(c["observedGeneration"] == 1 for c in result.status["conditions"])
        for obj in result.desired:
            labels = obj["metadata"]["labels"]
            assert labels["kro.run/instance-id"] == f"uid-{number}"
            assert labels["kro.run/node-id"] in graph.nodes
            assert labels["app.kubernetes.io/managed-by"] == "kro"
        counts.append(len(result.desired))
    if instance_file in OBJECT_COUNTS:
        assert counts == OBJECT_COUNTS[instance_file]


def test_cel_functions_example_values() -> None:
    graph = compiled("cel-functions/rg.yaml")
    instance = load_yaml("cel-functions/instance.yaml")[0]
    instance["metadata"]["uid"] = "1234"
    deployment = plan_instance(graph, instance, []).desired[0]
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    fnv = 0xCBF29CE484222325
    for byte in b"app":
        fnv = ((fnv ^ byte) * 0x100000001B3) % 2**64
    assert env == {
        "FULL_DNS_NAME": "a.b.c.d.example.com",
        "DNS_FIRST_PART": "a",
        "DNS_PARTIALS": "a",
        "RANDOM_SEEDED_STRING": env["RANDOM_SEEDED_STRING"],
        "LISTS_SUM": "600",
        "JSON_UNMARSHAL_EXAMPLE": "exampleJSONValue",
        "JSON_MARSHAL_EXAMPLE": '{"name":"app"}',
        "QUANTITY_COMPARISON": "small",
        "HASH_FNV64A_BASE64": base64.b64encode(fnv.to_bytes(8, "big")).decode(),
        "HASH_SHA256_BASE64": base64.b64encode(hashlib.sha256(b"app").digest()).decode(),
    }
    assert len(env["RANDOM_SEEDED_STRING"]) == 10 and env["RANDOM_SEEDED_STRING"].isalnum()
    service = plan_instance(graph, instance, []).desired[1]
    assert service["metadata"]["labels"]["partials"] == "a.b.c"


def test_webapp_status_soft_resolves() -> None:
    graph = compiled("webapp/rg.yaml")
    instance = load_yaml("webapp/instance.yaml")[0]
    result, _ = converge(graph, instance)
    assert result.status["availableReplicas"] == 1
    assert result.status["url"] == "lb.example.com"
    assert result.status["deploymentConditions"] == [{"type": "Available", "status": "True"}]


@pytest.mark.parametrize(("rgd", "instance_file"), INSTANCES)
def test_converged_objects_match_expected_file(rgd: str, instance_file: str, source) -> None:
    """What each example instance ends up with (objects and status), reviewed and checked in."""
    graph = compiled(rgd, source)
    documents = []
    for number, instance in enumerate(
        doc for doc in load_yaml(instance_file) if doc.get("kind") == graph.kind
    ):
        instance = {**instance, "metadata": {**instance["metadata"], "uid": f"uid-{number}", "generation": 1}}
        result, _ = converge(graph, instance, FIXTURE_OBJECTS)
        documents += result.desired
        documents.append({"instanceStatus": result.status})
    golden = EXPECTED / (instance_file.replace("/", "__").removesuffix(".yaml") + ".converged.yaml")
    text = yaml.safe_dump_all(documents, sort_keys=True)
    if UPDATE or not golden.exists():
        assert UPDATE, f"missing expected file {golden}; run with BOSUN_UPDATE_GOLDEN=1 and review it"
        golden.write_text(text)
    assert text == golden.read_text()
