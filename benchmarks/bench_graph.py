"""Graph engine: compile time for synthetic RGDs of 5, 50 and 500 resources, plan time for one webapp instance.

Fixed seeds; figures are medians in microseconds. Compile includes building the
OpenAPI-derived type pool, type-checking every expression and the DAG; the
bundled schema snapshot is loaded once before timing.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

import yaml

from graph_planner.graph import compile_graph
from graph_planner.runtime import plan_instance
from graph_planner.schemas import builtin_schemas

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "kro-examples"
SEED = 20261124


def synthetic_rgd(size: int, seed: int = SEED) -> dict[str, Any]:
    """`size` resources (Deployments, Services, ConfigMaps), each reading 0-2 earlier ones."""
    rng = random.Random(seed)
    resources: list[dict[str, Any]] = []
    for index in range(size):
        rid = f"r{index}"
        upstream = rng.sample(range(index), k=min(index, rng.randint(0, 2)))
        refs = {f"from{u}": f"${{r{u}.metadata.name}}" for u in sorted(upstream)}
        kind = ("Deployment", "Service", "ConfigMap")[index % 3]
        name = f"${{schema.spec.name}}-{rid}"
        if kind == "Deployment":
            template: dict[str, Any] = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "labels": refs},
                "spec": {
                    "replicas": "${schema.spec.replicas}",
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "app",
                                    "image": "${schema.spec.image}",
                                    "ports": [{"containerPort": 80}],
                                }
                            ]
                        },
                    },
                },
            }
        elif kind == "Service":
            template = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "annotations": refs},
                "spec": {
                    "selector": {"app": name},
                    "ports": [{"port": 80, "targetPort": "${schema.spec.port}"}],
                },
            }
        else:
            template = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": refs}
        resource: dict[str, Any] = {"id": rid, "template": template}
        if kind == "Deployment":
            resource["readyWhen"] = [f"${{{rid}.status.availableReplicas == {rid}.spec.replicas}}"]
        resources.append(resource)
    return {
        "apiVersion": "kro.run/v1alpha1",
        "kind": "ResourceGraphDefinition",
        "metadata": {"name": f"synthetic-{size}"},
        "spec": {
            "schema": {
                "apiVersion": "v1alpha1",
                "kind": "Synthetic",
                "spec": {
                    "name": "string",
                    "replicas": "integer | default=1",
                    "image": "string | default=nginx",
                    "port": "integer | default=8080",
                },
            },
            "resources": resources,
        },
    }


def _median_us(fn: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e6)
    return statistics.median(samples)


def _settled(obj: dict[str, Any]) -> dict[str, Any]:
    out = dict(obj)
    out["metadata"] = {**obj["metadata"], "uid": f"uid-{obj['metadata']['name']}"}
    if obj["kind"] == "Deployment":
        out["status"] = {
            "availableReplicas": obj["spec"]["replicas"],
            "conditions": [{"type": "Available", "status": "True"}],
        }
    if obj["kind"] == "Ingress":
        out["status"] = {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}
    return out


def run() -> list[str]:
    schemas = builtin_schemas()
    lines = ["| what | median µs | runs |", "|---|---:|---:|"]
    for size, repeat in ((5, 30), (50, 10), (500, 5)):
        rgd = synthetic_rgd(size)
        result = compile_graph(rgd, schemas)
        assert result.graph is not None, [e.render() for e in result.errors[:3]]
        lines.append(
            f"| compile RGD, {size} resources | {_median_us(lambda r=rgd: compile_graph(r, schemas), repeat):,.0f} | {repeat} |"
        )

    rgd = yaml.safe_load((EXAMPLES / "webapp" / "rg.yaml").read_text())
    instance = yaml.safe_load((EXAMPLES / "webapp" / "instance.yaml").read_text())
    instance["metadata"].update({"uid": "uid-1", "namespace": "default", "generation": 1})
    lines.append(f"| compile webapp RGD | {_median_us(lambda: compile_graph(rgd, schemas), 30):,.0f} | 30 |")
    graph = compile_graph(rgd, schemas).graph
    assert graph is not None
    observed: dict[str, dict[str, Any]] = {}
    for _ in range(4):  # converge: what is desired becomes observed
        for obj in plan_instance(graph, instance, list(observed.values())).desired:
            observed[f"{obj['kind']}/{obj['metadata']['name']}"] = _settled(obj)
    objects = list(observed.values())
    final = plan_instance(graph, instance, objects)
    assert final.status["state"] == "ACTIVE", final.status
    lines.append(
        f"| plan webapp instance (3 objects, converged) | {_median_us(lambda: plan_instance(graph, instance, objects), 200):,.0f} | 200 |"
    )
    lines.append(
        f"| plan webapp instance (first reconcile) | {_median_us(lambda: plan_instance(graph, instance, []), 200):,.0f} | 200 |"
    )
    return lines
