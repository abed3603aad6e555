"""Bosun's CRDs on a real API server: kro's RGDs and Karpenter's NodePools apply unchanged,
and the API server refuses invalid ones with the rule's message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bosun_common.kube import KubeClient, KubeError

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "kro-examples"


def example_rgds() -> list[Path]:
    found = []
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "ResourceGraphDefinition":
                found.append(path)
    return found


async def test_every_kro_example_rgd_is_accepted_by_the_crd(kube: KubeClient, crds: list[str]) -> None:
    paths = example_rgds()
    assert len(paths) >= 25
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "ResourceGraphDefinition":
                applied = await kube.apply(doc, field_manager="bosun-tests", dry_run=True)
                assert applied["spec"]["schema"]["kind"] == doc["spec"]["schema"]["kind"], path


def nodepool(**spec_overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "template": {
            "spec": {
                "nodeClassRef": {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": "default"},
                "requirements": [
                    {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]}
                ],
            }
        }
    }
    spec.update(spec_overrides)
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "crd-test"},
        "spec": spec,
    }


async def test_nodepool_defaults_match_karpenter(kube: KubeClient, crds: list[str]) -> None:
    applied = await kube.apply(nodepool(), field_manager="bosun-tests", dry_run=True)
    assert applied["spec"]["disruption"] == {
        "consolidateAfter": "0s",
        "consolidationPolicy": "WhenEmptyOrUnderutilized",
        "budgets": [{"nodes": "10%"}],
    }
    assert applied["spec"]["template"]["spec"]["expireAfter"] == "720h"


def with_requirement(requirement: dict[str, Any]) -> dict[str, Any]:
    np = nodepool()
    np["spec"]["template"]["spec"]["requirements"] = [requirement]
    return np


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (with_requirement({"key": "a", "operator": "Matches"}), 'Unsupported value: "Matches"'),
        (
            with_requirement({"key": "a", "operator": "In", "values": []}),
            "operator 'In' must have a value defined",
        ),
        (
            with_requirement({"key": "a", "operator": "Gt", "values": ["1", "2"]}),
            "must have a single positive integer value",
        ),
        (
            with_requirement({"key": "a", "operator": "In", "values": ["x"], "minValues": 2}),
            "must have at least that many values",
        ),
        (nodepool(weight=101), "should be less than or equal to 100"),
        (
            nodepool(disruption={"budgets": [{"nodes": "10%", "schedule": "@daily"}]}),
            "'schedule' must be set with 'duration'",
        ),
        (nodepool(disruption={"budgets": [{"nodes": "ten"}]}), "spec.disruption.budgets[0].nodes"),
        (nodepool(disruption={"consolidateAfter": "soon"}), "spec.disruption.consolidateAfter"),
    ],
)
async def test_invalid_nodepools_are_refused_with_the_rule(
    kube: KubeClient, crds: list[str], manifest: dict[str, Any], message: str
) -> None:
    with pytest.raises(KubeError) as err:
        await kube.apply(manifest, field_manager="bosun-tests", dry_run=True)
    assert err.value.status == 422
    assert message in err.value.message
