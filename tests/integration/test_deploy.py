"""The kustomize deployment, checked against the real local control plane.

- Both overlays render with `kubectl kustomize`, and say what they promise:
  one Deployment per service, probes, limits, a locked-down securityContext,
  the 3-server NATS StatefulSet, the dev/prod differences.
- The dev overlay's CRDs, Namespace, ServiceAccounts and RBAC are applied for
  real (server-side); then every service account is asked what it may do
  (`kubectl auth can-i --as`, and SelfSubjectRulesReview for the whole list),
  so a role that grants too much or too little fails a test. An impersonated
  server-side apply shows the grants work on real requests.
- A server-side dry-run of the rendered workloads passes, with no Pod Security
  warning, and their pod templates are admitted as Pods by the namespace's
  `restricted` Pod Security enforcement.
- The informer and the k8s-actuator run as real processes on their service
  accounts' own tokens and do their whole job (watch the core and a generated
  kind, fetch OpenAPI; apply, status, finalizers, delete, cordon, evict), and a
  write beyond the role (a Secret) comes back as a 403 outcome.
- Each overlay's nats.conf runs as a real 3-server JetStream cluster (prod:
  mutual TLS for clients and routes), and the services' settings from the
  overlay's ConfigMap connect to it and provision the bus.
- Every dev Deployment's container runs as its pod would (read-only root,
  tmpfs /tmp, the manifest's command and environment, no kubeconfig): all five
  become ready; the informer and the k8s-actuator find the in-cluster
  credentials a pod gets and act as their service accounts.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

from bosun_common.bus import Bus
from bosun_common.codec import decode
from bosun_common.kube import KubeClient, KubeError
from bosun_common.kube.client import MERGE_PATCH
from bosun_common.kube_plans import (
    ApplyObject,
    ApplyStatus,
    DeleteObject,
    EvictPod,
    ObjectRef,
    PatchObject,
    SetFinalizer,
)
from bosun_common.messages import ObjectState
from bosun_common.permissions import allowed_publish
from bosun_common.service import ServiceSettings
from bosun_common.streams import SCHEMAS, WATCHES, openapi_schema_key, state_subject_filter
from bosun_devstack import certs
from bosun_devstack.kube_cluster import kubectl_binary
from bosun_devstack.nats_security import certificate_common_name, certificate_users_config
from bosun_devstack.nats_server import nats_server_binary
from bosun_devstack.procs import Proc, free_port
from bosun_devstack.procs import wait_until as wait_for_process
from bosun_devstack.services import ServiceProcess, read_metric
from bosun_devstack.stack import LocalStack
from tests.integration.test_cluster import kwok_node, wait_for
from tests.integration.test_k8s_actuator import Plans

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KUSTOMIZE = REPO / "deploy" / "kustomize"
NAMESPACE = "bosun-system"
FIELD_MANAGER = "bosun-deploy-test"

# service -> (python package, service account, talks to Kubernetes)
SERVICES: dict[str, tuple[str, str, bool]] = {
    "informer": ("informer", "bosun-informer", True),
    "graph-planner": ("graph_planner", "bosun-graph-planner", False),
    "node-planner": ("node_planner", "bosun-node-planner", False),
    "k8s-actuator": ("k8s_actuator", "bosun-k8s-actuator", True),
    "cloud-actuator": ("cloud_actuator", "bosun-cloud-actuator", False),
}
NO_KUBERNETES = ("bosun-graph-planner", "bosun-node-planner", "bosun-cloud-actuator")
RBAC_KINDS = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
# Stands for a CRD the graph-planner generates from an RGD (group kro.run, the default).
GENERATED_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "deploychecks.kro.run"},
    "spec": {
        "group": "kro.run",
        "names": {
            "kind": "DeployCheck",
            "plural": "deploychecks",
            "singular": "deploycheck",
            "listKind": "DeployCheckList",
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1alpha1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}
WORKLOAD_KINDS = ("ConfigMap", "Service", "Deployment", "StatefulSet", "PodDisruptionBudget", "NetworkPolicy")


def kubectl(stack: LocalStack, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = stack.kube.binaries["kubectl"] if stack.kube else kubectl_binary()
    assert binary is not None, "no kubectl"
    return subprocess.run(
        [str(binary), f"--kubeconfig={stack.kubeconfig}", *args],
        input=input_text,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def dump(objs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objs, sort_keys=False)


@pytest.fixture(scope="module")
def rendered(stack: LocalStack) -> dict[str, list[dict[str, Any]]]:
    """`kubectl kustomize` of each overlay (the kubectl built for the local stack embeds kustomize)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for overlay in ("dev", "prod"):
        result = kubectl(stack, "kustomize", str(KUSTOMIZE / "overlays" / overlay))
        assert result.returncode == 0, f"kubectl kustomize {overlay}: {result.stderr}"
        out[overlay] = [d for d in yaml.safe_load_all(result.stdout) if d]
    return out


def of_kind(objs: list[dict[str, Any]], *kinds: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] in kinds]


def named(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def mebibytes(quantity: str) -> int:
    units = {"Mi": 1, "Gi": 1024}
    return int(quantity[:-2]) * units[quantity[-2:]]


# --- rendering ------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlay_renders_every_piece(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    objs = rendered[overlay]
    crds = {o["metadata"]["name"] for o in of_kind(objs, "CustomResourceDefinition")}
    assert crds == {
        "resourcegraphdefinitions.kro.run",
        "nodepools.karpenter.sh",
        "nodeclaims.karpenter.sh",
        "kwoknodeclasses.karpenter.kwok.sh",
    }
    namespaced = [o for o in objs if o["kind"] not in ("CustomResourceDefinition", "Namespace")]
    namespaced = [o for o in namespaced if not o["kind"].startswith("Cluster")]
    assert {o["metadata"].get("namespace") for o in namespaced} == {NAMESPACE}
    assert named(objs, "Namespace", NAMESPACE)["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"
    ] == ("restricted")

    config = named(objs, "ConfigMap", "bosun-config")["data"]
    services_policy = named(objs, "NetworkPolicy", "bosun-services")["spec"]
    [selected] = services_policy["podSelector"]["matchExpressions"]
    assert [p["ports"] for p in services_policy["ingress"]] == [[{"port": 8080}]]
    images = set()
    for service, (package, account, talks_to_kube) in SERVICES.items():
        deployment = named(objs, "Deployment", f"bosun-{service}")
        pod = deployment["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == account
        assert pod["automountServiceAccountToken"] is talks_to_kube
        named(objs, "ServiceAccount", account)
        pdb = named(objs, "PodDisruptionBudget", f"bosun-{service}")
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert pdb["spec"].get("maxUnavailable") == 1, "minAvailable would block drains of one replica"

        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] in selected["values"], "inside the NetworkPolicy"
        assert labels["app.kubernetes.io/part-of"] == "bosun", "allowed to reach NATS"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        [container] = pod["containers"]
        images.add(container["image"])
        assert container["command"] == ["python", "-m", package]
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/tmp"}
        tmp = next(m["name"] for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
        assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp)
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["ports"][0]["containerPort"] == int(config["BOSUN_HTTP_PORT"])
        for part in ("requests", "limits"):
            assert set(container["resources"][part]) == {"cpu", "memory"}, f"{service} {part}"
        assert container["envFrom"][0] == {"configMapRef": {"name": "bosun-config"}}

        expected_replicas = 1 if overlay == "dev" or service == "informer" else 2
        assert deployment["spec"]["replicas"] == expected_replicas, service
    assert len(images) == 1, f"one image for every service, got {images}"
    assert images == {"bosun:dev" if overlay == "dev" else "registry.example.com/bosun:0.1.0"}

    # Only the services that talk to Kubernetes are bound to a role.
    bound = {
        s["name"] for b in of_kind(objs, "ClusterRoleBinding", "RoleBinding") for s in b.get("subjects", [])
    }
    assert bound == {"bosun-informer", "bosun-k8s-actuator"}

    nats = named(objs, "StatefulSet", "bosun-nats")
    assert nats["spec"]["replicas"] == 3
    assert nats["spec"]["serviceName"] == "bosun-nats-headless"
    assert named(objs, "Service", "bosun-nats-headless")["spec"]["clusterIP"] == "None"
    assert named(objs, "Service", "bosun-nats")["spec"]["ports"][0]["port"] == 4222
    assert [t["metadata"]["name"] for t in nats["spec"]["volumeClaimTemplates"]] == ["data"]
    [nats_container] = nats["spec"]["template"]["spec"]["containers"]
    gomemlimit = env_of(nats_container)["GOMEMLIMIT"]
    assert gomemlimit.endswith("MiB") and int(gomemlimit[:-3]) < mebibytes(
        nats_container["resources"]["limits"]["memory"]
    )
    nats_policy = named(objs, "NetworkPolicy", "bosun-nats")["spec"]
    assert nats_policy["podSelector"]["matchLabels"] == nats["spec"]["selector"]["matchLabels"]
    clients = next(rule for rule in nats_policy["ingress"] if rule["ports"] == [{"port": 4222}])
    assert clients["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "bosun"}}}]
    nats_config = next(
        o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"].startswith("bosun-nats-config")
    )
    volumes = nats["spec"]["template"]["spec"]["volumes"]
    assert {"name": nats_config["metadata"]["name"]} == next(v for v in volumes if v["name"] == "config")[
        "configMap"
    ]
    conf = nats_config["data"]["nats.conf"]
    assert "store_dir: /data/jetstream" in conf
    routes = [f"nats://bosun-nats-{i}.bosun-nats-headless:6222" for i in range(3)]
    assert all(r in conf for r in routes)
    assert config["NATS_URL"].endswith("://bosun-nats:4222")

    if overlay == "dev":
        assert config["BOSUN_CLOUD_PROVIDER"] == "sim"
        assert "tls {" not in conf
        assert not any(k.startswith("BOSUN_NATS_TLS") for k in config)
    else:
        assert config["BOSUN_CLOUD_PROVIDER"] == "aws"
        assert config["NATS_URL"] == "tls://bosun-nats:4222"
        assert conf.count("tls {") == 2, "client and route TLS"
        assert "verify_and_map: true" in conf and "include ./nats-users.conf" in conf
        assert nats_config["data"]["nats-users.conf"] == certificate_users_config(), (
            "regenerate: bosun deploy nats-users > deploy/kustomize/overlays/prod/nats-users.conf"
        )
        mounts = {
            m["mountPath"]: m["name"]
            for m in nats["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        }
        assert mounts["/etc/nats/tls"] == "tls"
        for key in ("CA", "CERT", "KEY"):
            path = config[f"BOSUN_NATS_TLS_{key}"]
            for service in SERVICES:
                pod = named(objs, "Deployment", f"bosun-{service}")["spec"]["template"]["spec"]
                [mount] = [m for m in pod["containers"][0]["volumeMounts"] if path.startswith(m["mountPath"])]
                volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
                assert volume["secret"]["secretName"] == f"bosun-nats-{service}-tls"


# --- RBAC -----------------------------------------------------------------------------------------


def wait_until(what: str, check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def installed(stack: LocalStack, rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The dev overlay's CRDs, Namespace, ServiceAccounts and RBAC, applied server-side."""
    objs = rendered["dev"]
    crds = [*of_kind(objs, "CustomResourceDefinition"), GENERATED_CRD]
    rbac = of_kind(objs, *RBAC_KINDS)
    for batch in (crds, rbac):
        result = kubectl(
            stack,
            "apply",
            "--server-side",
            f"--field-manager={FIELD_MANAGER}",
            "-f",
            "-",
            input_text=dump(batch),
        )
        assert result.returncode == 0, result.stderr
    names = [f"crd/{c['metadata']['name']}" for c in crds]
    result = kubectl(stack, "wait", "--for=condition=Established", "--timeout=60s", *names)
    assert result.returncode == 0, result.stderr

    # The controller-manager fills in the aggregated ClusterRoles.
    def aggregated() -> bool:
        for role in ("bosun-informer", "bosun-k8s-actuator"):
            got = kubectl(stack, "get", "clusterrole", role, "-o", "json")
            if got.returncode != 0 or not json.loads(got.stdout).get("rules"):
                return False
        return True

    wait_until("the aggregated ClusterRoles", aggregated)
    return objs


def sa(account: str) -> str:
    return f"system:serviceaccount:{NAMESPACE}:{account}"


YES, NO = True, False
# (service account, verb, resource (with --subresource=... where needed), namespace or None for all, expected)
CAN_I: list[tuple[str, str, str, str | None, bool]] = [
    # The informer reads (list + watch) what it watches, and the dynamic kinds RGDs use.
    *[
        ("bosun-informer", verb, resource, None, YES)
        for verb in ("get", "list", "watch")
        for resource in (
            "pods",
            "nodes",
            "namespaces",
            "daemonsets.apps",
            "poddisruptionbudgets.policy",
            "customresourcedefinitions.apiextensions.k8s.io",
            "resourcegraphdefinitions.kro.run",
            "nodepools.karpenter.sh",
            "nodeclaims.karpenter.sh",
            "kwoknodeclasses.karpenter.kwok.sh",
            "deployments.apps",
            "configmaps",
            "deploychecks.kro.run",  # an RGD-generated kind (GENERATED_CRD)
        )
    ],
    ("bosun-informer", "get", "/openapi/v3", None, YES),
    ("bosun-informer", "get", "/openapi/v3/apis/apps/v1", None, YES),
    # ... and writes nothing, nor reads Secrets.
    *[
        ("bosun-informer", verb, resource, "default", NO)
        for verb in ("create", "update", "patch", "delete", "deletecollection")
        for resource in (
            "pods",
            "nodes",
            "deployments.apps",
            "nodeclaims.karpenter.sh",
            "customresourcedefinitions.apiextensions.k8s.io",
            "deploychecks.kro.run",
        )
    ],
    ("bosun-informer", "create", "pods --subresource=eviction", "default", NO),
    ("bosun-informer", "patch", "nodeclaims.karpenter.sh --subresource=status", None, NO),
    ("bosun-informer", "get", "secrets", "default", NO),
    ("bosun-informer", "list", "secrets", None, NO),
    ("bosun-informer", "list", "roles.rbac.authorization.k8s.io", None, NO),
    # The k8s-actuator writes what plans ask for: apply (create + patch), status, finalizers, delete ...
    *[
        ("bosun-k8s-actuator", verb, resource, "default", YES)
        for verb in ("get", "create", "patch", "delete")
        for resource in (
            "deployments.apps",
            "configmaps",
            "services",
            "nodes",
            "nodeclaims.karpenter.sh",
            "deploychecks.kro.run",
        )
    ],
    ("bosun-k8s-actuator", "create", "pods --subresource=eviction", "default", YES),
    ("bosun-k8s-actuator", "get", "pods", "default", YES),
    ("bosun-k8s-actuator", "patch", "nodeclaims.karpenter.sh --subresource=status", None, YES),
    ("bosun-k8s-actuator", "patch", "nodepools.karpenter.sh --subresource=status", None, YES),
    ("bosun-k8s-actuator", "patch", "resourcegraphdefinitions.kro.run --subresource=status", None, YES),
    ("bosun-k8s-actuator", "patch", "deploychecks.kro.run --subresource=status", "default", YES),
    ("bosun-k8s-actuator", "create", "customresourcedefinitions.apiextensions.k8s.io", None, YES),
    ("bosun-k8s-actuator", "patch", "customresourcedefinitions.apiextensions.k8s.io", None, YES),
    # ... but never lists or watches (only the informer reads), and cannot reach beyond its job.
    *[
        ("bosun-k8s-actuator", verb, resource, None, NO)
        for verb in ("list", "watch")
        for resource in (
            "pods",
            "nodes",
            "deployments.apps",
            "nodeclaims.karpenter.sh",
            "deploychecks.kro.run",
        )
    ],
    ("bosun-k8s-actuator", "delete", "pods", "default", NO),  # drains evict, never delete
    ("bosun-k8s-actuator", "create", "pods", "default", NO),
    ("bosun-k8s-actuator", "update", "deployments.apps", "default", NO),
    ("bosun-k8s-actuator", "patch", "nodepools.karpenter.sh", None, NO),
    ("bosun-k8s-actuator", "delete", "customresourcedefinitions.apiextensions.k8s.io", None, NO),
    ("bosun-k8s-actuator", "get", "secrets", "default", NO),
    ("bosun-k8s-actuator", "create", "secrets", "default", NO),
    ("bosun-k8s-actuator", "create", "serviceaccounts --subresource=token", "default", NO),
    ("bosun-k8s-actuator", "create", "roles.rbac.authorization.k8s.io", "default", NO),
    ("bosun-k8s-actuator", "create", "clusterrolebindings.rbac.authorization.k8s.io", None, NO),
    ("bosun-k8s-actuator", "escalate", "clusterroles.rbac.authorization.k8s.io", None, NO),
    ("bosun-k8s-actuator", "bind", "clusterroles.rbac.authorization.k8s.io", None, NO),
    ("bosun-k8s-actuator", "impersonate", "users", None, NO),
    ("bosun-k8s-actuator", "patch", "namespaces", None, NO),
    # The planners and the cloud-actuator: nothing at all.
    *[
        (account, verb, resource, namespace, NO)
        for account in NO_KUBERNETES
        for verb, resource, namespace in (
            ("get", "pods", "default"),
            ("list", "pods", None),
            ("watch", "nodes", None),
            ("list", "nodeclaims.karpenter.sh", None),
            ("create", "nodeclaims.karpenter.sh", None),
            ("patch", "nodes", None),
            ("create", "pods --subresource=eviction", "default"),
            ("patch", "deployments.apps", "default"),
            ("*", "*", None),
        )
    ],
]


def can_i(stack: LocalStack, account: str, verb: str, resource: str, namespace: str | None) -> bool:
    scope = ["--all-namespaces"] if namespace is None else ["-n", namespace]
    if resource.startswith("/"):
        scope = []
    result = kubectl(stack, "auth", "can-i", verb, *resource.split(), *scope, f"--as={sa(account)}")
    answer = result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""
    assert answer in ("yes", "no"), f"can-i {verb} {resource}: {result.stdout} {result.stderr}"
    assert result.returncode == (0 if answer == "yes" else 1)
    return answer == "yes"


def test_each_service_account_can_do_what_it_needs_and_nothing_more(
    stack: LocalStack, installed: list[dict[str, Any]]
) -> None:
    wrong = [
        f"{account} {verb} {resource} ({namespace or 'all namespaces'}): expected {'yes' if want else 'no'}"
        for account, verb, resource, namespace, want in CAN_I
        if can_i(stack, account, verb, resource, namespace) is not want
    ]
    assert not wrong, "\n".join(wrong)


def rules_of(stack: LocalStack, account: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """SelfSubjectRulesReview as the account: (resource rules, non-resource rules) in namespace default."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": "default"},
    }
    result = kubectl(
        stack,
        "create",
        "--validate=false",
        "-o",
        "json",
        f"--as={sa(account)}",
        "-f",
        "-",
        input_text=json.dumps(review),
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)["status"]
    assert not status.get("incomplete"), status
    return status.get("resourceRules", []), status.get("nonResourceRules", [])


def expand(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
    }


def expand_urls(rules: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(url, verb) for rule in rules for url in rule["nonResourceURLs"] for verb in rule["verbs"]}


def test_the_whole_list_of_grants(stack: LocalStack, installed: list[dict[str, Any]]) -> None:
    """Beyond the table: the full rule set of each account, against one with no bindings at all."""
    baseline_resources, baseline_urls = rules_of(stack, "bosun-no-such-account")
    baseline = expand(baseline_resources)
    assert {r for _, r, _ in baseline} <= {
        "selfsubjectaccessreviews",
        "selfsubjectrulesreviews",
        "selfsubjectreviews",
    }, "every authenticated user's defaults"

    for account in NO_KUBERNETES:
        resources, urls = rules_of(stack, account)
        assert expand(resources) == baseline, account
        assert expand_urls(urls) == expand_urls(baseline_urls), account

    informer = expand(rules_of(stack, "bosun-informer")[0]) - baseline
    assert informer, "the informer has its grants"
    assert {verb for _, _, verb in informer} == {"get", "list", "watch"}

    actuator = expand(rules_of(stack, "bosun-k8s-actuator")[0]) - baseline
    assert {verb for _, _, verb in actuator} == {"get", "create", "patch", "delete"}
    forbidden = {
        "secrets",
        "roles",
        "rolebindings",
        "clusterroles",
        "clusterrolebindings",
        "serviceaccounts/token",
    }
    assert not {r for _, r, _ in actuator} & forbidden
    assert not [g for g, r, _ in actuator if r == "*" and g != "kro.run"], (
        "a wildcard only for generated kinds"
    )
    assert ("", "pods/eviction", "create") in actuator
    assert ("", "pods", "delete") not in actuator


def test_impersonated_server_side_apply_follows_the_roles(
    stack: LocalStack, installed: list[dict[str, Any]], unique: str
) -> None:
    """Real requests, not just reviews: a server-side apply (dry-run) as each account."""
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"deploy-{unique}", "namespace": "default"},
        "data": {"a": "b"},
    }
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": f"deploy-{unique}", "annotations": {"kwok.x-k8s.io/node": "fake"}},
    }
    for obj in (config_map, node):
        for account, allowed in (
            ("bosun-k8s-actuator", True),
            ("bosun-informer", False),
            ("bosun-graph-planner", False),
            ("bosun-cloud-actuator", False),
        ):
            result = kubectl(
                stack,
                "apply",
                "--server-side",
                "--dry-run=server",
                f"--field-manager={FIELD_MANAGER}",
                f"--as={sa(account)}",
                "-f",
                "-",
                input_text=json.dumps(obj),
            )
            if allowed:
                assert result.returncode == 0, f"{account} {obj['kind']}: {result.stderr}"
            else:
                assert result.returncode != 0, f"{account} may apply a {obj['kind']}"
                assert "forbidden" in result.stderr.lower(), result.stderr


# --- workloads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_server_side_dry_run_of_the_workloads(
    stack: LocalStack,
    rendered: dict[str, list[dict[str, Any]]],
    installed: list[dict[str, Any]],
    overlay: str,
) -> None:
    workloads = of_kind(rendered[overlay], *WORKLOAD_KINDS)
    assert {o["kind"] for o in workloads} == set(WORKLOAD_KINDS)
    result = kubectl(
        stack,
        "apply",
        "--server-side",
        "--dry-run=server",
        f"--field-manager={FIELD_MANAGER}",
        "-f",
        "-",
        input_text=dump(workloads),
    )
    assert result.returncode == 0, result.stderr
    assert "PodSecurity" not in result.stderr, result.stderr
    assert result.stdout.count("(server dry run)") == len(workloads), result.stdout


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_pod_templates_pass_the_restricted_pod_security_standard(
    stack: LocalStack,
    rendered: dict[str, list[dict[str, Any]]],
    installed: list[dict[str, Any]],
    overlay: str,
) -> None:
    """The namespace enforces `restricted` on Pods: each template, as a Pod, must be admitted."""
    pods = []
    for owner in of_kind(rendered[overlay], "Deployment", "StatefulSet"):
        template = owner["spec"]["template"]
        spec = json.loads(json.dumps(template["spec"]))
        for claim in owner["spec"].get("volumeClaimTemplates", []):
            spec["volumes"].append({"name": claim["metadata"]["name"], "emptyDir": {}})
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{owner['metadata']['name']}-template",
                    "namespace": NAMESPACE,
                    "labels": template["metadata"]["labels"],
                },
                "spec": spec,
            }
        )
    result = kubectl(stack, "create", "--dry-run=server", "-f", "-", input_text=dump(pods))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(pods) == 6, result.stdout

    # And the check bites: a template that runs as root is refused.
    pods[0]["spec"]["securityContext"]["runAsNonRoot"] = False
    result = kubectl(stack, "create", "--dry-run=server", "-f", "-", input_text=dump(pods[:1]))
    assert result.returncode != 0
    assert "violates PodSecurity" in result.stderr, result.stderr


# --- the services, with their own service accounts -----------------------------------------------


def service_account_kubeconfig(stack: LocalStack, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the service account (a bound token), as in a pod."""
    result = kubectl(stack, "create", "token", account, "-n", NAMESPACE, "--duration=1h")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(stack.kubeconfig.read_text())
    context = config["contexts"][0]
    config["users"] = [{"name": account, "user": {"token": result.stdout.strip()}}]
    context["context"]["user"] = account
    config["current-context"] = context["name"]
    path.write_text(yaml.safe_dump(config))
    return path


async def test_informer_and_k8s_actuator_work_with_only_their_roles(
    stack: LocalStack,
    installed: list[dict[str, Any]],
    bus: Bus,
    kube: KubeClient,
    services: Callable[..., ServiceProcess],
    tmp_path: Path,
    unique: str,
) -> None:
    """Enough, in practice: each runs on its own token and does its whole job; a write beyond it is refused."""
    informer = services(
        "informer", KUBECONFIG=str(service_account_kubeconfig(stack, "bosun-informer", tmp_path / "informer"))
    )
    services(
        "k8s_actuator",
        KUBECONFIG=str(service_account_kubeconfig(stack, "bosun-k8s-actuator", tmp_path / "actuator")),
    )
    watches = await bus.ensure_bucket(WATCHES)
    schemas = await bus.ensure_bucket(SCHEMAS)
    generated = ("kro.run/v1alpha1", "DeployCheck")
    await watches.put(f"{generated[0]}/{generated[1]}", json.dumps({"requestedBy": "tests"}).encode())
    try:
        # The k8s-actuator writes what the planners ask for, on its own token.
        node, pod = f"deploy-{unique}", f"deploy-{unique}"
        await kube.create(kwok_node(node))
        await kube.create(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod, "namespace": "default"},
                "spec": {
                    "nodeName": node,
                    "containers": [{"name": "c", "image": "nginx"}],
                    "tolerations": [{"operator": "Exists"}],
                    "terminationGracePeriodSeconds": 0,
                },
            }
        )
        plans = Plans(bus, "deploy-tests")
        check = {
            "apiVersion": generated[0],
            "kind": generated[1],
            "metadata": {"name": f"check-{unique}", "namespace": "default"},
            "spec": {"size": 1},
        }
        check_ref = ObjectRef(
            apiVersion=generated[0], kind=generated[1], name=f"check-{unique}", namespace="default"
        )
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"deploy-{unique}", "namespace": "default"},
        }
        cm_ref = ObjectRef(apiVersion="v1", kind="ConfigMap", name=f"deploy-{unique}", namespace="default")
        node_ref = ObjectRef(apiVersion="v1", kind="Node", name=node)
        outcome = await plans.run(
            f"deploy-{unique}",
            ApplyObject(object=check, fieldManager="deploy-tests"),
            SetFinalizer(ref=check_ref, finalizer="kro.run/finalizer"),
            ApplyStatus(ref=check_ref, status={"state": "ACTIVE"}, fieldManager="deploy-tests"),
            ApplyObject(object=config_map, fieldManager="deploy-tests"),
            DeleteObject(ref=cm_ref),
            PatchObject(ref=node_ref, patch={"spec": {"unschedulable": True}}),
            EvictPod(ref=ObjectRef(apiVersion="v1", kind="Pod", name=pod, namespace="default")),
            DeleteObject(ref=node_ref),
        )
        assert outcome.ok, outcome.error
        live = await kube.get(*generated, f"check-{unique}", "default")
        assert live["status"] == {"state": "ACTIVE"} and live["metadata"]["finalizers"] == [
            "kro.run/finalizer"
        ]

        # ... and nothing beyond: a Secret is refused, and the outcome says so.
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"deploy-{unique}", "namespace": "default"},
            "stringData": {"a": "b"},
        }
        refused = await plans.run(f"secret-{unique}", ApplyObject(object=secret, fieldManager="deploy-tests"))
        assert not refused.ok
        assert refused.error is not None and "403 Forbidden" in refused.error, refused.error

        # The informer, on its token, saw the generated kind's instance and published its API's schema.
        async def observed() -> bool:
            sub = await bus.js.subscribe(
                state_subject_filter(*generated), stream="STATE", ordered_consumer=True
            )
            try:
                while True:
                    try:
                        msg = await sub.next_msg(timeout=0.5)
                    except TimeoutError:
                        return False
                    state = decode(msg.data)[1]
                    if isinstance(state, ObjectState) and state.name == f"check-{unique}":
                        return (state.object or {}).get("status") == {"state": "ACTIVE"}
            finally:
                await sub.unsubscribe()

        await wait_for(observed, timeout=30)
        assert await schemas.get(openapi_schema_key(generated[0]))
        assert "403" not in informer.log(500) and "forbidden" not in informer.log(500).lower()
    finally:
        await watches.delete(f"{generated[0]}/{generated[1]}")
        with contextlib.suppress(KubeError):  # the instance may not exist if the test failed early
            await kube.patch(
                *generated,
                f"check-{unique}",
                "default",
                {"metadata": {"finalizers": None}},
                content_type=MERGE_PATCH,
            )
            await kube.delete(*generated, f"check-{unique}", "default")


# --- the NATS configuration ---------------------------------------------------------------------


def replace_exactly(text: str, old: str, new: str, count: int = 1) -> str:
    """Replace, insisting the rendered config still has `old` exactly `count` times (so drift fails)."""
    assert text.count(old) == count, f"{old!r} appears {text.count(old)} times, expected {count}"
    return text.replace(old, new)


def monitor(port: int, endpoint: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{endpoint}", timeout=2) as response:
        return json.load(response)


@pytest.mark.parametrize("overlay", ["dev", "prod"])
async def test_the_rendered_nats_config_forms_a_jetstream_cluster_the_services_can_use(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path, overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three real nats-servers from the overlay's nats.conf (addresses and paths moved to loopback and
    tmp, nothing else), with certificates shaped like the prod Secrets; the services' settings from
    the overlay's ConfigMap connect and provision the bus. In prod every service's own certificate
    maps to its own NATS user: it may publish where DESIGN.md says and is refused elsewhere, and a
    client with no certificate, or one that names no service, is refused."""
    objs = rendered[overlay]
    nats_files = next(
        o for o in of_kind(objs, "ConfigMap") if o["metadata"]["name"].startswith("bosun-nats-config")
    )["data"]
    conf = nats_files["nats.conf"]
    config = named(objs, "ConfigMap", "bosun-config")["data"]
    tls = overlay == "prod"
    for name, content in nats_files.items():  # the ConfigMap's files, side by side as mounted
        (tmp_path / name).write_text(content)

    ca = certs.make_ca(tmp_path, "ca")

    def as_secret(name: str, pair: certs.KeyPair) -> Path:
        """A kubernetes.io/tls Secret's files, as a pod sees them."""
        directory = tmp_path / name
        directory.mkdir()
        (directory / "ca.crt").write_bytes(ca.cert_pem())
        (directory / "tls.crt").write_bytes(pair.cert_pem())
        (directory / "tls.key").write_bytes(pair.key_pem())
        return directory

    server_tls = as_secret(
        "bosun-nats-server-tls",
        certs.issue(
            ca,
            tmp_path,
            "server",
            common_name="bosun-nats",
            dns=("bosun-nats", "*.bosun-nats-headless", "localhost"),
            ips=("127.0.0.1",),
            server=True,
            client=True,  # the routes between servers are mutual TLS too
        ),
    )
    client_tls = {  # one Secret per service: CN=bosun-<service> is its NATS user
        service: as_secret(
            f"bosun-nats-{service}-tls",
            certs.issue(ca, tmp_path, service, common_name=certificate_common_name(service), client=True),
        )
        for service in SERVICES
    }
    stranger_tls = as_secret(
        "stranger-tls", certs.issue(ca, tmp_path, "stranger", common_name="bosun-stranger", client=True)
    )

    ports = [{"client": free_port(), "cluster": free_port(), "http": free_port()} for _ in range(3)]
    servers: list[Proc] = []
    try:
        for i, port in enumerate(ports):
            local = replace_exactly(conf, "listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{port['client']}")
            local = replace_exactly(local, "http: 0.0.0.0:8222", f"http: 127.0.0.1:{port['http']}")
            local = replace_exactly(local, "listen: 0.0.0.0:6222", f"listen: 127.0.0.1:{port['cluster']}")
            for j, other in enumerate(ports):
                local = replace_exactly(
                    local,
                    f"nats://bosun-nats-{j}.bosun-nats-headless:6222",
                    f"nats://127.0.0.1:{other['cluster']}",
                )
            local = replace_exactly(local, "/data/jetstream", str(tmp_path / f"data-{i}"))
            local = replace_exactly(local, "/var/run/nats/nats.pid", str(tmp_path / f"nats-{i}.pid"))
            local = replace_exactly(local, "/etc/nats/tls/", f"{server_tls}/", count=6 if tls else 0)
            path = tmp_path / f"nats-{i}.conf"  # next to nats-users.conf, as in the pod's /etc/nats
            path.write_text(local)
            servers.append(
                Proc(
                    f"nats-{i}",
                    [nats_server_binary(), "--config", str(path)],
                    tmp_path / f"nats-{i}.log",
                    env={"POD_NAME": f"bosun-nats-{i}"},
                ).start()
            )

        def healthy() -> bool:
            try:
                return all(monitor(port["http"], "healthz").get("status") == "ok" for port in ports)
            except OSError:
                return False

        wait_until("a healthy JetStream cluster", healthy, timeout=60)
        jsz = monitor(ports[0]["http"], "jsz")
        assert jsz["meta_cluster"]["cluster_size"] == 3, jsz["meta_cluster"]
        varz = monitor(ports[0]["http"], "varz")
        assert varz["server_name"] == "bosun-nats-0" and varz["cluster"]["name"] == "bosun"
        assert varz.get("tls_required", False) is tls and varz.get("tls_verify", False) is tls

        def settings_of(service: str) -> ServiceSettings:
            """The service's settings, exactly as the ConfigMap gives them (the Secret's mount moved)."""
            in_cluster_url = "tls://bosun-nats:4222" if tls else "nats://bosun-nats:4222"
            for name, value in config.items():
                value = value.replace("/etc/bosun/nats-tls/", f"{client_tls[service]}/")
                if name == "NATS_URL":
                    value = replace_exactly(
                        value, in_cluster_url, in_cluster_url.replace("bosun-nats:4222", "localhost:{}")
                    )
                    value = value.format(ports[1]["client"])
                monkeypatch.setenv(name, value)
            return ServiceSettings()

        settings = settings_of("informer")
        assert (settings.nats_tls_ca is not None) is tls
        bus = await Bus.connect(settings.nats_url, service="informer", tls=settings.tls_context())
        try:
            await bus.provision()
            stream = await bus.js.stream_info("PLANS")
            assert stream.cluster is not None and stream.cluster.name == "bosun"
        finally:
            await bus.close()

        if tls:
            await check_each_service_publishes_only_where_it_may(settings_of, client_tls)
            url = f"tls://localhost:{ports[2]['client']}"
            without_certificate = ssl.create_default_context(cafile=str(server_tls / "ca.crt"))
            for context in (without_certificate, client_context(stranger_tls)):
                with pytest.raises(Exception):  # noqa: B017 - the handshake or the first read fails, by timing
                    nc = await nats.connect(
                        url, tls=context, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3
                    )
                    await nc.flush(timeout=3)
                    await nc.close()
    finally:
        for proc in servers:
            proc.stop()


def client_context(secret: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(secret / "ca.crt"))
    context.load_cert_chain(str(secret / "tls.crt"), str(secret / "tls.key"))
    return context


async def check_each_service_publishes_only_where_it_may(
    settings_of: Callable[[str], ServiceSettings], client_tls: dict[str, Path]
) -> None:
    """Each service, on its own certificate, publishes once on each service's first subject: its
    own goes through, every other one is refused as a permissions violation."""
    subjects = {s: allowed_publish(s)[0].replace(">", "deploy-check") for s in SERVICES}
    for service in SERVICES:
        settings = settings_of(service)
        errors = await publish_once_each(settings.nats_url, client_context(client_tls[service]), subjects)
        refused = {s for s, subject in subjects.items() if any(f'"{subject}"' in e for e in errors)}
        assert refused == set(SERVICES) - {service}, (service, errors)
        assert all("permissions violation for publish" in e.lower() for e in errors), errors


async def publish_once_each(url: str, context: ssl.SSLContext, subjects: dict[str, str]) -> list[str]:
    """Publish on each subject over one connection; the errors the server sent back."""
    errors: list[str] = []

    async def collect(error: Exception) -> None:
        errors.append(str(error))

    nc = await nats.connect(
        url, tls=context, error_cb=collect, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=3
    )
    try:
        for subject in subjects.values():
            await nc.publish(subject, b"deploy check")
        await nc.flush(timeout=3)
        await asyncio.sleep(0.2)  # a refusal comes back as -ERR, after the flush's PONG at worst
    finally:
        await nc.close()
    return errors


# --- as pods ----------------------------------------------------------------------------------------


def can_fake_a_pod() -> str | None:
    """Why a private mount namespace (a pod's filesystem: read-only root, tmpfs, token) is impossible, or None."""
    if os.geteuid() != 0:
        return "needs root, to remount / read-only and mount a pod's files in a private mount namespace"
    if shutil.which("unshare") is None:
        return "needs unshare(1)"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", "mount -o remount,bind,ro /"],
        capture_output=True,
        check=False,
    )
    return None if probe.returncode == 0 else f"unshare --mount refused: {probe.stderr!r}"


def start_as_pod(
    stack: LocalStack, deployment: dict[str, Any], config: dict[str, str], workdir: Path
) -> tuple[Proc, int]:
    """A Deployment's container, run the way its pod runs it, in a private mount namespace (nothing on
    the machine changes): the root filesystem read-only, a tmpfs on /tmp (the emptyDir), the command
    and the environment of the rendered manifests (NATS_URL and the port moved to the local stack),
    no kubeconfig; and only where `automountServiceAccountToken` is true, a bound token and the CA at
    /var/run/secrets/kubernetes.io/serviceaccount with KUBERNETES_SERVICE_HOST/PORT."""
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/tmp"], "the dev overlay mounts only /tmp"
    name = container["name"]
    port = free_port()
    cluster = yaml.safe_load(stack.kubeconfig.read_text())["clusters"][0]["cluster"]
    server = urllib.parse.urlsplit(cluster["server"])
    env = {
        **config,
        **{e["name"]: e["value"] for e in container.get("env", []) if "value" in e},
        "BOSUN_REPLICA_ID": f"{name}-pod",  # the manifest's fieldRef: the pod's name
        "NATS_URL": stack.nats_url,
        "BOSUN_HTTP_PORT": str(port),
        "BOSUN_HTTP_HOST": "127.0.0.1",
        "OTEL_TRACES_EXPORTER": "none",
        # What the kubelet always sets, enableServiceLinks or not.
        "KUBERNETES_SERVICE_HOST": str(server.hostname),
        "KUBERNETES_SERVICE_PORT": str(server.port),
    }
    steps = ["mount -t tmpfs -o size=1m tmpfs /run"]
    if pod["automountServiceAccountToken"]:
        files = workdir / f"{name}-sa"
        files.mkdir()
        token = kubectl(stack, "create", "token", pod["serviceAccountName"], "-n", NAMESPACE, "--duration=1h")
        assert token.returncode == 0, token.stderr
        (files / "token").write_text(token.stdout.strip())
        (files / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        (files / "namespace").write_text(NAMESPACE)
        secrets = "/var/run/secrets/kubernetes.io/serviceaccount"
        steps += [f"mkdir -p {secrets}", f"cp {files}/* {secrets}/"]
    command = " ".join([sys.executable, *container["command"][1:]])  # `python` is the image's interpreter
    assert container["command"][0] == "python"
    # The emptyDir on /tmp would hide a checkout that lives under /tmp (CI may clone there):
    # keep it visible at its own path, read-only like the rest of the image.
    repo = Path(__file__).resolve().parents[2]
    keep_repo = repo.is_relative_to("/tmp")
    if keep_repo:
        steps += ["mkdir -p /run/bosun-repo", f"mount --bind {repo} /run/bosun-repo"]
    steps += [
        "mount -o remount,bind,ro /",
        "mount -t tmpfs -o size=64m tmpfs /tmp",
    ]
    if keep_repo:
        steps += [f"mkdir -p {repo}", f"mount --bind /run/bosun-repo {repo}"]
    steps += [
        "cd /",
        "unset KUBECONFIG",
        f"exec {command}",
    ]
    proc = Proc(
        name,
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", " && ".join(steps)],
        workdir / f"{name}.log",
        env=env,
    ).start()

    def ready() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)

    wait_for_process(ready, timeout=30, what=f"{name} /readyz", proc=proc)
    return proc, port


async def test_every_service_runs_as_its_pod_would(
    stack: LocalStack,
    rendered: dict[str, list[dict[str, Any]]],
    installed: list[dict[str, Any]],
    bus: Bus,
    kube: KubeClient,
    tmp_path: Path,
    unique: str,
) -> None:
    """The five dev Deployments' containers on a read-only root filesystem with only /tmp writable: all
    become ready. The informer and the k8s-actuator find the in-cluster credentials a pod gets and act as
    their service accounts; the others have none and need none."""
    reason = can_fake_a_pod()
    if reason is not None:
        pytest.skip(reason)
    objs = rendered["dev"]
    config = named(objs, "ConfigMap", "bosun-config")["data"]
    procs: dict[str, tuple[Proc, int]] = {}
    try:
        for service in SERVICES:
            procs[service] = start_as_pod(
                stack, named(objs, "Deployment", f"bosun-{service}"), config, tmp_path
            )
        informer_port = procs["informer"][1]

        namespace = f"deploy-{unique}"
        before = read_metric(informer_port, "bosun_informer_events_total", kind="Namespace")
        outcome = await Plans(bus, "deploy-tests").run(
            f"in-cluster-{unique}",
            ApplyObject(
                object={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
                fieldManager="deploy-tests",
            ),
        )
        # The k8s-actuator may not create namespaces: a 403 for its service account, from the real token.
        assert not outcome.ok and outcome.error is not None and "403" in outcome.error, outcome.error
        assert "system:serviceaccount:bosun-system:bosun-k8s-actuator" in outcome.error

        await kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": namespace},
        }
        done = await Plans(bus, "deploy-tests").run(
            f"in-cluster-cm-{unique}", ApplyObject(object=config_map, fieldManager="deploy-tests")
        )
        assert done.ok, done.error
        assert (await kube.get("v1", "ConfigMap", "c", namespace))["metadata"]["name"] == "c"

        async def informer_saw_it() -> bool:
            return read_metric(informer_port, "bosun_informer_events_total", kind="Namespace") > before

        await wait_for(informer_saw_it, timeout=30)
        for service, (proc, _) in procs.items():
            assert proc.alive(), f"{service}:\n{proc.tail()}"
            log = proc.tail(1000)
            assert "Read-only file system" not in log, f"{service} wrote outside /tmp:\n{log}"
            assert "forbidden" not in log.lower() or service == "k8s-actuator", f"{service}:\n{log}"
    finally:
        for proc, _ in procs.values():
            proc.stop()
