"""plan_instance: includeWhen, readyWhen, externalRef, forEach, pending, pruning, deletion, status."""

from __future__ import annotations

import json
import random
from typing import Any

import yaml

from graph_planner.graph import CompiledGraph, compile_graph
from graph_planner.runtime import plan_instance
from graph_planner.schemas import builtin_schemas

from .conftest import converge, simulate_status


def graph_of(text: str) -> CompiledGraph:
    result = compile_graph(yaml.safe_load(text), builtin_schemas())
    assert result.graph is not None, [e.render() for e in result.errors]
    return result.graph


def instance(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    meta = {"name": "demo", "namespace": "team", "uid": "uid-1", "generation": 3, **metadata}
    return {"apiVersion": "kro.run/v1alpha1", "kind": "App", "metadata": meta, "spec": spec}


def ops(result: Any) -> list[str]:
    out = []
    for action in result.plan.actions:
        if action.op == "apply":
            meta = action.object["metadata"]
            out.append(f"apply {action.object['kind']}/{meta['name']}")
        elif action.op == "delete":
            out.append(f"delete {action.ref.kind}/{action.ref.name}")
        elif action.op == "finalizer":
            out.append(f"finalizer {'+' if action.present else '-'}")
        else:
            out.append(action.op)
    return out


CHAIN = """
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: app}
spec:
  schema:
    apiVersion: v1alpha1
    kind: App
    spec:
      monitoring: boolean | default=false
    status:
      first: ${config.metadata.name}
      replicas: ${deployment.status.availableReplicas}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.metadata.name}-config"}
      data: {owner: "${schema.metadata.name}"}
  - id: deployment
    readyWhen: ["${deployment.status.availableReplicas == deployment.spec.replicas}"]
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: "${config.metadata.name}-app"}
      spec:
        replicas: 2
        selector: {matchLabels: {app: x}}
        template:
          metadata: {labels: {app: x}}
          spec: {containers: [{name: app, image: nginx}]}
  - id: monitor
    includeWhen: ["${schema.spec.monitoring}"]
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${deployment.metadata.name}-monitor"}
  - id: alert
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${monitor.metadata.name}-alert"}
"""


def test_first_plan_adds_finalizer_labels_and_first_layer() -> None:
    result = plan_instance(graph_of(CHAIN), instance({}), [])
    assert ops(result) == ["finalizer +", "apply App/demo", "apply ConfigMap/demo-config", "status"]
    states = {n.id: (n.state, n.reason) for n in result.nodes}
    assert states == {
        "config": ("Creating", "Creating"),
        "deployment": ("Pending", "WaitingForDependencies"),
        "monitor": ("Excluded", "IncludeWhenFalse"),
        "alert": ("Excluded", "DependencyExcluded"),
    }
    config = result.desired[0]
    assert config["metadata"]["namespace"] == "team"
    assert config["metadata"]["labels"]["kro.run/node-id"] == "config"
    assert result.status["state"] == "IN_PROGRESS"
    assert result.status["resources"][1]["message"] == "waiting for config (Creating) to be ready"


def test_dependents_wait_for_readiness_then_become_ready() -> None:
    graph = graph_of(CHAIN)
    config = simulate_status(plan_instance(graph, instance({}), []).desired[0])
    second = plan_instance(graph, instance({}), [config])
    deployment = second.desired[1]
    assert deployment["metadata"]["name"] == "demo-config-app"
    not_ready = {**deployment, "status": {"availableReplicas": 1}}
    third = plan_instance(graph, instance({}), [config, not_ready])
    assert {n.id: n.state for n in third.nodes}["deployment"] == "NotReady"
    assert third.status["state"] == "IN_PROGRESS"
    assert third.status["first"] == "demo-config"
    assert third.status["replicas"] == 1
    ready = {**deployment, "status": {"availableReplicas": 2}}
    fourth = plan_instance(graph, instance({}), [config, ready])
    assert fourth.status["state"] == "ACTIVE"
    assert [c["observedGeneration"] for c in fourth.status["conditions"]] == [3, 3, 3, 3]


def test_include_when_true_includes_and_exclusion_prunes_in_reverse_order() -> None:
    graph = graph_of(CHAIN)
    on, observed = converge(graph, instance({"monitoring": True}))
    assert {n.id: n.state for n in on.nodes} == dict.fromkeys(
        ["config", "deployment", "monitor", "alert"], "Ready"
    )
    off = plan_instance(graph, instance({"monitoring": False}), observed)
    assert [op for op in ops(off) if op.startswith("delete")] == [
        "delete ConfigMap/demo-config-app-monitor-alert",
        "delete ConfigMap/demo-config-app-monitor",
    ]
    assert len(off.pruned) == 2


def test_pending_nodes_disable_pruning() -> None:
    graph = graph_of(CHAIN)
    _, observed = converge(graph, instance({"monitoring": True}))
    # The deployment disappears: everything after it is pending, nothing may be pruned.
    without_deployment = [o for o in observed if o["kind"] != "Deployment"]
    stray = simulate_status(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "old",
                "namespace": "team",
                "labels": {"kro.run/instance-id": "uid-1", "kro.run/node-id": "gone"},
            },
        }
    )
    result = plan_instance(graph, instance({"monitoring": True}), [*without_deployment, stray])
    assert not [op for op in ops(result) if op.startswith("delete")]
    complete = plan_instance(graph, instance({"monitoring": True}), [*observed, stray])
    assert "delete ConfigMap/old" in ops(complete)


def test_deletion_goes_in_reverse_waves_without_cel() -> None:
    graph = graph_of(CHAIN)
    _, observed = converge(graph, instance({"monitoring": True}))
    # A spec that would not even evaluate: deletion must not need it.
    deleting = instance(
        {"monitoring": "not-a-bool"},
        deletionTimestamp="2026-01-01T00:00:00Z",
        finalizers=["kro.run/finalizer"],
    )
    waves = []
    remaining = list(observed)
    for _ in range(6):
        result = plan_instance(graph, deleting, remaining)
        deleted = [a.ref.name for a in result.plan.actions if a.op == "delete"]
        waves.append(deleted)
        assert result.status["state"] == "DELETING"
        if not deleted:
            assert ops(result)[-1] == "finalizer -"
            break
        assert "waiting for" in result.status["conditions"][2]["message"]
        remaining = [o for o in remaining if o["metadata"]["name"] not in deleted]
    assert waves == [
        ["demo-config-app-monitor-alert"],
        ["demo-config-app-monitor"],
        ["demo-config-app"],
        ["demo-config"],
        [],
    ]


def test_suspended_instance_is_left_alone() -> None:
    suspended = instance({}, annotations={"kro.run/reconcile": "suspended"}, finalizers=["kro.run/finalizer"])
    result = plan_instance(graph_of(CHAIN), suspended, [])
    assert [a.op for a in result.plan.actions] == ["apply"]  # only the instance's own labels
    assert result.plan.reason == "reconcile suspended"


EXTERNAL = """
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: ext}
spec:
  schema:
    apiVersion: v1alpha1
    kind: App
    spec: {team: string}
  resources:
  - id: settings
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: settings}
  - id: peers
    readyWhen: ["${each.data.ready == 'yes'}"]
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        selector:
          matchLabels: {team: "${schema.spec.team}"}
  - id: copy
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: copy}
      data:
        level: ${settings.data.level}
        peers: ${string(size(peers))}
"""


def cm(name: str, namespace: str = "team", **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        **fields,
    }


def test_external_ref_by_name_waits_then_is_read() -> None:
    graph = graph_of(EXTERNAL)
    waiting = plan_instance(graph, instance({"team": "a"}), [])
    states = {n.id: n for n in waiting.nodes}
    assert states["settings"].state == "Pending"
    assert states["settings"].message == "waiting for external ConfigMap team/settings"
    assert not waiting.desired
    found = plan_instance(graph, instance({"team": "a"}), [cm("settings", data={"level": "debug"})])
    assert found.desired[0]["data"] == {"level": "debug", "peers": "0"}
    assert all(
        a.object["kind"] != "ConfigMap" or a.object["metadata"]["name"] == "copy"
        for a in found.plan.actions
        if a.op == "apply" and a.object["kind"] == "ConfigMap"
    )


def test_external_ref_by_selector_is_a_collection_with_each_readiness() -> None:
    graph = graph_of(EXTERNAL)
    labelled = {"labels": {"team": "a"}}
    peer1 = cm("p1", data={"ready": "yes"})
    peer1["metadata"].update(labelled)
    peer2 = cm("p2", data={"ready": "no"})
    peer2["metadata"].update(labelled)
    other = cm("p3", data={"ready": "yes"})
    settings = cm("settings", data={"level": "info"})
    result = plan_instance(graph, instance({"team": "a"}), [settings, peer1, peer2, other])
    assert {n.id: n.state for n in result.nodes}["peers"] == "NotReady"
    peer2["data"]["ready"] = "yes"
    result = plan_instance(graph, instance({"team": "a"}), [settings, peer1, peer2, other])
    assert result.desired[0]["data"]["peers"] == "2"


FOREACH = """
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: fleet}
spec:
  schema:
    apiVersion: v1alpha1
    kind: App
    spec:
      regions: "[]string"
      sizes: "[]string"
  resources:
  - id: configs
    forEach:
    - region: ${schema.spec.regions}
    - size: ${schema.spec.sizes}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${region + '-' + size}"}
      data: {region: "${region}"}
  - id: secrets
    forEach:
    - config: ${configs}
    template:
      apiVersion: v1
      kind: Secret
      metadata: {name: "${config.metadata.name}"}
      stringData: {region: "${config.data.region}"}
"""


def test_for_each_is_a_cartesian_product_with_collection_labels() -> None:
    result = plan_instance(
        graph_of(FOREACH), instance({"regions": ["eu", "us"], "sizes": ["s", "m", "l"]}), []
    )
    names = [o["metadata"]["name"] for o in result.desired]
    assert names == ["eu-s", "eu-m", "eu-l", "us-s", "us-m", "us-l"]
    labels = result.desired[4]["metadata"]["labels"]
    assert (labels["kro.run/collection-index"], labels["kro.run/collection-size"]) == ("4", "6")


def test_collections_chain_once_every_item_exists() -> None:
    graph = graph_of(FOREACH)
    result, _ = converge(graph, instance({"regions": ["eu"], "sizes": ["s", "m"]}))
    secrets = [o for o in result.desired if o["kind"] == "Secret"]
    assert [(s["metadata"]["name"], s["stringData"]["region"]) for s in secrets] == [
        ("eu-s", "eu"),
        ("eu-m", "eu"),
    ]
    assert result.status["state"] == "ACTIVE"


def test_empty_collection_is_ready_and_has_no_objects() -> None:
    result = plan_instance(graph_of(FOREACH), instance({"regions": [], "sizes": ["s"]}), [])
    assert result.desired == []
    assert {n.id: n.state for n in result.nodes} == {"configs": "Ready", "secrets": "Ready"}


def test_collection_over_the_limit_is_an_error_on_the_instance() -> None:
    spec = {"regions": [f"r{i}" for i in range(40)], "sizes": [f"s{i}" for i in range(30)]}
    result = plan_instance(graph_of(FOREACH), instance(spec), [])
    configs = result.nodes[0]
    assert (configs.state, configs.reason) == ("Error", "CollectionTooLarge")
    assert "1000" in configs.message
    assert result.status["state"] == "ERROR"
    assert result.status["resources"][0]["reason"] == "CollectionTooLarge"


def test_evaluation_error_names_the_resource_and_expression() -> None:
    graph = graph_of(
        """
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: bad}
spec:
  schema:
    apiVersion: v1alpha1
    kind: App
    spec: {n: integer | default=0}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${string(10 / schema.spec.n)}"}
"""
    )
    result = plan_instance(graph, instance({}), [])
    node = result.nodes[0]
    assert node.state == "Error"
    assert "divide by zero" in node.message and "10 / schema.spec.n" in node.message
    graph_resolved = result.status["conditions"][1]
    assert (graph_resolved["status"], graph_resolved["reason"]) == ("False", "EvaluationFailed")


def test_same_input_gives_the_same_plan_byte_for_byte() -> None:
    graph = graph_of(CHAIN)
    _, observed = converge(graph, instance({"monitoring": True}))
    baseline = json.dumps(
        plan_instance(graph, instance({"monitoring": True}), observed).plan.model_dump(), sort_keys=False
    )
    for seed in range(5):
        shuffled = list(observed)
        random.Random(seed).shuffle(shuffled)
        again = plan_instance(graph, instance({"monitoring": True}), shuffled).plan.model_dump()
        assert json.dumps(again, sort_keys=False) == baseline


def test_last_transition_time_is_kept_when_status_does_not_change() -> None:
    graph = graph_of(CHAIN)
    first = plan_instance(graph, instance({}), [], now="2026-01-01T00:00:00Z")
    with_status = {**instance({}), "status": first.status}
    second = plan_instance(graph, with_status, [], now="2026-01-02T00:00:00Z")
    assert [c["lastTransitionTime"] for c in second.status["conditions"]] == ["2026-01-01T00:00:00Z"] * 4


def test_collection_ready_when_uses_each() -> None:
    text = FOREACH.replace(
        "  - id: secrets\n", "    readyWhen: [\"${each.data.region != ''}\"]\n  - id: secrets\n"
    )
    graph = graph_of(text)
    assert [e.source for e in graph.nodes["configs"].ready_when] == ["each.data.region != ''"]
    first = plan_instance(graph, instance({"regions": ["eu"], "sizes": ["s"]}), [])
    observed = [simulate_status({**obj, "data": {"region": ""}}) for obj in first.desired]
    waiting = plan_instance(graph, instance({"regions": ["eu"], "sizes": ["s"]}), observed)
    assert {n.id: n.state for n in waiting.nodes} == {"configs": "NotReady", "secrets": "Pending"}
    observed = [simulate_status(obj) for obj in first.desired]
    ready = plan_instance(graph, instance({"regions": ["eu"], "sizes": ["s"]}), observed)
    assert {n.id: n.state for n in ready.nodes} == {"configs": "Ready", "secrets": "Creating"}


CONDITIONS = CHAIN.replace(
    """    status:
      first: ${config.metadata.name}""",
    """    status:
      conditions:
      - "${runtime.newCondition({type: 'AppReady', status: deployment.status.availableReplicas > 0 ? 'True' : 'False', reason: 'Replicas', message: ''})}"
      - "${[runtime.newCondition({type: 'Configured', status: 'True'}), runtime.newCondition({type: 'Ready', status: 'False'})]}"
      first: ${config.metadata.name}""",
)


def test_custom_conditions_are_written_after_the_built_in_ones() -> None:
    graph = graph_of(CONDITIONS)
    assert len(graph.custom_conditions) == 2
    first = plan_instance(graph, instance({}), [], now="2026-01-01T00:00:00Z")
    assert [c["type"] for c in first.status["conditions"]] == [
        "InstanceManaged",
        "GraphResolved",
        "ResourcesReady",
        "Ready",
        "Configured",
    ]
    result, _ = converge(graph, instance({}))
    custom = {c["type"]: c for c in result.status["conditions"][4:]}
    assert set(custom) == {"AppReady", "Configured"}  # a custom "Ready" cannot override kro's
    assert (
        custom["AppReady"]["status"],
        custom["AppReady"]["reason"],
        custom["AppReady"]["observedGeneration"],
    ) == ("True", "Replicas", 3)
    crd_status = graph.crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"][
        "properties"
    ]
    assert crd_status["conditions"]["type"] == "array" and "first" in crd_status


def test_custom_conditions_must_be_conditions() -> None:
    rgd = yaml.safe_load(
        CHAIN.replace(
            "      first: ${config.metadata.name}", "      conditions:\n      - ${'not a condition'}"
        )
    )
    result = compile_graph(rgd, builtin_schemas())
    assert [(e.reason, e.path) for e in result.errors] == [("InvalidStatus", "schema.status.conditions[0]")]


def test_omit_leaves_a_field_out() -> None:
    graph = graph_of(
        """
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: omit}
spec:
  schema:
    apiVersion: v1alpha1
    kind: App
    spec: {replicas: integer | default=0}
  resources:
  - id: deployment
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: app}
      spec:
        replicas: "${schema.spec.replicas > 0 ? schema.spec.replicas : omit()}"
        selector: {matchLabels: {app: x}}
        template:
          metadata: {labels: {app: x}}
          spec: {containers: [{name: app, image: nginx}]}
"""
    )
    assert "replicas" not in plan_instance(graph, instance({}), []).desired[0]["spec"]
    assert plan_instance(graph, instance({"replicas": 2}), []).desired[0]["spec"]["replicas"] == 2


def test_rendered_objects_need_a_name() -> None:
    graph = graph_of(
        """
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: noname}
spec:
  schema:
    apiVersion: v1alpha1
    kind: App
    spec: {name: string | default=""}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.spec.name}"}
"""
    )
    node = plan_instance(graph, instance({}), []).nodes[0]
    assert (node.state, node.reason) == ("Error", "InvalidObject")
    assert "metadata.name" in node.message
