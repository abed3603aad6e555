"""NodeClassReady: a NodePool launches nothing while its node class is missing, terminating or not ready."""

from __future__ import annotations

from typing import Any

import pytest

from bosun_common.catalog import Catalog
from node_planner.readiness import NodeClassReadiness, node_class_kind, node_class_readiness
from node_planner.snapshot import build_snapshot, schedule_pods
from tests.unit.nodes.builders import ladder, nodepool_manifest

KWOK = ("karpenter.kwok.sh", "KWOKNodeClass")


def pool(name: str, node_class: dict[str, str]) -> dict[str, Any]:
    return nodepool_manifest(name, node_class=node_class)


def kwok_class(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.kwok.sh/v1alpha1",
        "kind": "KWOKNodeClass",
        "metadata": {"name": name},
        **extra,
    }


REF = {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": "default"}


@pytest.mark.parametrize(
    ("node_class", "expected"),
    [
        (kwok_class("default"), NodeClassReadiness(True)),
        (None, NodeClassReadiness(False, "NodeClassNotFound", "NodeClass not found on cluster")),
        (
            kwok_class("default", metadata={"name": "default", "deletionTimestamp": "2026-01-01T00:00:00Z"}),
            NodeClassReadiness(False, "NodeClassTerminating", "NodeClass is Terminating"),
        ),
        (
            kwok_class(
                "default",
                status={
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "False",
                            "reason": "SubnetsNotFound",
                            "message": "no subnets",
                        }
                    ]
                },
            ),
            NodeClassReadiness(False, "SubnetsNotFound", "no subnets"),
        ),
        (
            kwok_class(
                "default", status={"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]}
            ),
            NodeClassReadiness(True),
        ),
    ],
)
def test_node_class_readiness(node_class: dict[str, Any] | None, expected: NodeClassReadiness) -> None:
    classes = {} if node_class is None else {(*KWOK, "default"): node_class}
    assert node_class_readiness(pool("p", REF), classes, (KWOK,)) == expected


def test_a_kind_the_provider_does_not_keep_as_objects_is_ready() -> None:
    ec2 = {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}
    assert node_class_readiness(pool("p", ec2), {}, ()) == NodeClassReadiness(True)
    assert node_class_readiness(pool("p", REF), {}, ()) == NodeClassReadiness(True)
    assert node_class_kind("karpenter.kwok.sh/v1alpha1", "KWOKNodeClass") == KWOK


def test_pods_are_provisioned_only_from_nodepools_whose_node_class_is_ready() -> None:
    pending = {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]},
        "status": {"phase": "Pending"},
    }
    catalog = Catalog(name="test", instanceTypes=ladder())
    missing = {**REF, "name": "missing"}

    def snapshot(classes: list[dict[str, Any]]) -> Any:
        return build_snapshot(
            nodepools=[pool("orphan", missing)],
            pods=[pending],
            nodes=[],
            nodeclaims=[],
            catalog=catalog,
            node_classes={(*KWOK, c["metadata"]["name"]): c for c in classes},
            kept_node_classes=(KWOK,),
        )

    without = snapshot([kwok_class("default")])
    assert without.unready_nodepools["orphan"].reason == "NodeClassNotFound"
    assert [p.name for p in without.nodepools] == ["orphan"], "still known, for disruption"
    result = schedule_pods(without)
    assert result.new_claims == [] and list(result.unschedulable) == ["default/web"]

    with_class = snapshot([kwok_class("missing")])
    assert with_class.unready_nodepools == {}
    assert [c.nodepool for c in schedule_pods(with_class).new_claims] == ["orphan"]
