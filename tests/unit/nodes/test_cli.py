"""`bosun nodes simulate` and `bosun nodes consolidate`: the JSON contract and the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bosun_cli.main import main

FIXTURES = Path(__file__).parent / "fixtures"

NODES = """
apiVersion: v1
kind: Node
metadata:
  name: big-node
  creationTimestamp: "2026-01-01T00:00:00Z"
  labels:
    karpenter.sh/nodepool: default
    node.kubernetes.io/instance-type: c-16x-amd64-linux
    topology.kubernetes.io/zone: test-zone-a
    karpenter.sh/capacity-type: on-demand
    kubernetes.io/arch: amd64
    kubernetes.io/os: linux
---
apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata:
  name: default-abcde
  labels: {karpenter.sh/nodepool: default}
spec:
  nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}
  requirements:
    - {key: node.kubernetes.io/instance-type, operator: In, values: [c-16x-amd64-linux]}
    - {key: topology.kubernetes.io/zone, operator: In, values: [test-zone-a]}
    - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
status:
  nodeName: big-node
  lastPodEventTime: "2026-01-01T00:00:00Z"
"""

BOUND_PODS = """
apiVersion: v1
kind: Pod
metadata: {name: small, namespace: shop}
spec:
  nodeName: big-node
  containers:
    - name: c
      resources: {requests: {cpu: 500m, memory: 512Mi}}
"""


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_simulate_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(
        capsys,
        "nodes",
        "simulate",
        "--nodepool",
        str(FIXTURES / "nodepool.yaml"),
        "--pods",
        str(FIXTURES / "deployment.yaml"),
        "-o",
        "json",
    )
    data = json.loads(out)
    assert code == 1  # one pod cannot be scheduled
    assert set(data) == {"nodeclaims", "existing", "unschedulable", "totalPrice"}
    claim = data["nodeclaims"][0]
    assert set(claim) == {"nodepool", "instanceTypes", "launch", "pods"}
    assert set(claim["launch"]) == {"instanceType", "zone", "capacityType", "price"}
    assert sorted(c["launch"]["zone"] for c in data["nodeclaims"]) == [
        "test-zone-a",
        "test-zone-b",
        "test-zone-c",
        "test-zone-d",
    ]
    assert all(c["launch"]["capacityType"] == "on-demand" for c in data["nodeclaims"])
    assert sum(len(c["pods"]) for c in data["nodeclaims"]) == 6
    assert data["unschedulable"] == [
        {
            "pod": "shop/gpu-job",
            "reason": "incompatible with nodepool 'default': "
            "incompatible requirements, label 'team' does not have known values",
        }
    ]
    assert data["totalPrice"] == pytest.approx(sum(c["launch"]["price"] for c in data["nodeclaims"]))


def test_simulate_uses_existing_nodes_and_prints_a_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "nodes.yaml").write_text(NODES)
    (tmp_path / "pods.yaml").write_text(
        BOUND_PODS + "---\n" + (FIXTURES / "deployment.yaml").read_text().split("---")[0]
    )
    code, out = run_cli(
        capsys,
        "nodes",
        "simulate",
        "--nodepool",
        str(FIXTURES / "nodepool.yaml"),
        "--pods",
        str(tmp_path / "pods.yaml"),
        "--nodes",
        str(tmp_path / "nodes.yaml"),
        "-o",
        "json",
    )
    data = json.loads(out)
    assert code == 0
    assert len(data["existing"]["big-node"]) >= 1
    code, out = run_cli(
        capsys,
        "nodes",
        "simulate",
        "--nodepool",
        str(FIXTURES / "nodepool.yaml"),
        "--pods",
        str(tmp_path / "pods.yaml"),
        "--nodes",
        str(tmp_path / "nodes.yaml"),
    )
    assert "EXISTING NODE" in out and "big-node" in out


def test_simulate_reports_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: x}\nspec: {template: {spec: {}}}\n"
    )
    code = main(["nodes", "simulate", "--nodepool", str(bad), "--pods", str(FIXTURES / "deployment.yaml")])
    assert code == 2
    assert "nodeClassRef" in capsys.readouterr().err


def test_consolidate_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nodes.yaml").write_text(NODES)
    (tmp_path / "pods.yaml").write_text(BOUND_PODS)
    code, out = run_cli(
        capsys,
        "nodes",
        "consolidate",
        "--nodepool",
        str(FIXTURES / "nodepool.yaml"),
        "--nodes",
        str(tmp_path / "nodes.yaml"),
        "--pods",
        str(tmp_path / "pods.yaml"),
        "--now",
        "2026-01-02T00:00:00Z",
        "-o",
        "json",
    )
    data = json.loads(out)
    assert code == 0
    [command] = data["commands"]
    assert command["method"] == "single-node-consolidation" and command["decision"] == "replace"
    assert command["candidates"][0]["node"] == "big-node" and command["candidates"][0]["pods"] == [
        "shop/small"
    ]
    assert command["replacements"][0]["launch"]["instanceType"] == "c-1x-amd64-linux"
    assert command["savings"] == pytest.approx(0.432 - 0.027)
    code, out = run_cli(
        capsys,
        "nodes",
        "consolidate",
        "--nodepool",
        str(FIXTURES / "nodepool.yaml"),
        "--nodes",
        str(tmp_path / "nodes.yaml"),
        "--pods",
        str(tmp_path / "pods.yaml"),
        "--now",
        "2026-01-02T00:00:00Z",
        "--min-price-improvement",
        "99",
    )
    assert "left alone: big-node" in out and "99%" in out


def test_simulate_karpenter_exact(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_cli(
        capsys,
        "nodes",
        "simulate",
        "--nodepool",
        str(FIXTURES / "nodepool.yaml"),
        "--pods",
        str(FIXTURES / "deployment.yaml"),
        "--karpenter-exact",
        "-o",
        "json",
    )
    assert code == 1 and len(json.loads(out)["nodeclaims"]) == 4


def test_simulate_table_lists_relaxed_preferences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    picky = tmp_path / "picky.yaml"
    picky.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: picky}\nspec:\n  affinity:\n    nodeAffinity:\n"
        "      preferredDuringSchedulingIgnoredDuringExecution:\n        - weight: 5\n"
        "          preference: {matchExpressions: [{key: topology.kubernetes.io/zone, operator: In, values: [mars-1]}]}\n"
        "  containers: [{name: c, resources: {requests: {cpu: 500m}}}]\n"
    )
    code, out = run_cli(
        capsys, "nodes", "simulate", "--nodepool", str(FIXTURES / "nodepool.yaml"), "--pods", str(picky)
    )
    assert code == 0
    assert "PREFERENCES RELAXED" in out and "In [mars-1] (weight 5)" in out


def test_pods_on_a_disrupted_node_are_rescheduled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    disrupted = NODES.replace("  name: big-node\n", "  name: big-node\n").replace(
        "    kubernetes.io/os: linux\n---",
        "    kubernetes.io/os: linux\nspec:\n  taints: [{key: karpenter.sh/disrupted, effect: NoSchedule}]\n---",
        1,
    )
    (tmp_path / "nodes.yaml").write_text(disrupted)
    (tmp_path / "pods.yaml").write_text(BOUND_PODS)
    code, out = run_cli(
        capsys,
        "nodes",
        "simulate",
        "--nodepool",
        str(FIXTURES / "nodepool.yaml"),
        "--pods",
        str(tmp_path / "pods.yaml"),
        "--nodes",
        str(tmp_path / "nodes.yaml"),
        "-o",
        "json",
    )
    data = json.loads(out)
    assert code == 0 and data["existing"] == {}
    assert data["nodeclaims"][0]["pods"] == ["shop/small"]
