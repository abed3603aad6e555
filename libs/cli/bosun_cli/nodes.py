"""`bosun nodes`: what Karpenter would do, as a dry run over YAML files.

`bosun nodes simulate` packs pending pods onto existing nodes and new
NodeClaims; `bosun nodes consolidate` prints the disruption commands one
pass would issue. Inputs are the manifests users `kubectl apply` (Pods,
Deployments/ReplicaSets/StatefulSets/Jobs expanded to pods, NodePools, Nodes,
NodeClaims, DaemonSets, PodDisruptionBudgets, and PersistentVolumeClaims,
PersistentVolumes and StorageClasses for volume zones and CSI limits; `List`s
are flattened), in any of the files. The JSON output shape is a contract; the table is for people.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from bosun_common.catalog import (
    Catalog,
    load_catalog,
)
from bosun_common.karpenter import NodePool, parse_nodeclaim, parse_nodepool
from cloud_actuator.catalogs import BUILTIN_CATALOGS, builtin_catalog
from node_planner.disruption.candidates import parse_time
from node_planner.disruption.engine import DisruptionOptions, disrupt, expiration
from node_planner.disruption.simulation import Cluster, Command
from node_planner.provisioning.claims import NewNodeClaim
from node_planner.provisioning.scheduler import SchedulingResult
from node_planner.scheduling.objects import (
    Node,
    Pod,
    PodDisruptionBudget,
    daemonset_pod,
    parse_node,
    parse_pdb,
    parse_pod,
)
from node_planner.scheduling.volumes import VolumeCatalog, resolve_volumes
from node_planner.snapshot import Snapshot, fill_from_catalog, inflight_node, schedule_pods

WORKLOAD_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "Job", "ReplicationController")


class InputError(Exception):
    """A manifest Bosun cannot use; the message says which file and why."""


class Inputs:
    """Everything read from the files, sorted by kind."""

    def __init__(self) -> None:
        self.nodepools: list[NodePool] = []
        self.pods: list[Pod] = []
        self.nodes: list[Node] = []
        self.nodeclaims: list[dict[str, Any]] = []
        self.daemon_pods: list[Pod] = []
        self.pdbs: list[PodDisruptionBudget] = []
        self.volumes = VolumeCatalog()


def _documents(paths: Iterable[str]) -> Iterable[tuple[str, dict[str, Any]]]:
    for path in paths:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
        try:
            for document in yaml.safe_load_all(text):
                if not document:
                    continue
                if not isinstance(document, dict):
                    raise InputError(f"{path}: expected Kubernetes objects, got {type(document).__name__}")
                if document.get("kind") == "List" or str(document.get("kind", "")).endswith("List"):
                    for item in document.get("items") or []:
                        yield path, item
                else:
                    yield path, document
        except yaml.YAMLError as exc:
            raise InputError(f"{path}: {exc}") from exc


def expand_workload(document: dict[str, Any]) -> list[dict[str, Any]]:
    """A workload's pods: `replicas` (or Job `parallelism`) copies of its template, named `<name>-<i>`."""
    metadata = document.get("metadata") or {}
    spec = document.get("spec") or {}
    replicas = spec.get("parallelism", 1) if document.get("kind") == "Job" else spec.get("replicas", 1)
    template = spec.get("template") or {}
    name = metadata.get("name", "workload")
    namespace = metadata.get("namespace") or "default"
    pods = []
    for i in range(int(replicas if replicas is not None else 1)):
        pod_meta = dict(template.get("metadata") or {})
        pod_meta.update(
            name=f"{name}-{i}",
            namespace=namespace,
            uid=f"{namespace}/{name}-{i}",
            creationTimestamp=metadata.get("creationTimestamp") or "",
            ownerReferences=[{"kind": document.get("kind"), "name": name, "controller": True}],
        )
        pods.append(
            {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template.get("spec") or {}}
        )
    return pods


def load_inputs(paths: Iterable[str], catalog: Catalog) -> Inputs:
    inputs = Inputs()
    types = catalog.by_name()
    for path, document in _documents(paths):
        kind = document.get("kind")
        try:
            if kind == "NodePool":
                inputs.nodepools.append(parse_nodepool(document))
            elif kind == "Pod":
                inputs.pods.append(parse_pod(document))
            elif kind in WORKLOAD_KINDS:
                inputs.pods.extend(parse_pod(p) for p in expand_workload(document))
            elif kind == "Node":
                inputs.nodes.append(fill_from_catalog(parse_node(document), types))
            elif kind == "NodeClaim":
                parse_nodeclaim(document)
                inputs.nodeclaims.append(document)
            elif kind == "DaemonSet":
                inputs.daemon_pods.append(daemonset_pod(document))
            elif kind == "PodDisruptionBudget":
                inputs.pdbs.append(parse_pdb(document))
            elif inputs.volumes.add(document):
                pass
            else:
                raise InputError(f"unsupported kind {kind!r}")
        except InputError as exc:
            raise InputError(
                f"{path}: {kind} {(document.get('metadata') or {}).get('name', '')}: {exc}"
            ) from exc
        except ValueError as exc:
            raise InputError(
                f"{path}: {kind} {(document.get('metadata') or {}).get('name', '')}: {exc}"
            ) from exc
    inputs.pods = [resolve_volumes(p, inputs.volumes) for p in inputs.pods]
    node_names = {n.name for n in inputs.nodes}
    for document in inputs.nodeclaims:
        claim = parse_nodeclaim(document)
        if claim.status.nodeName in node_names or claim.name in node_names:
            continue
        inputs.nodes.append(inflight_node(claim.model_dump(), types))
    return inputs


def resolve_catalog(name: str) -> Catalog:
    return builtin_catalog(name) if name in BUILTIN_CATALOGS else load_catalog(name)


# -- simulate --------------------------------------------------------------------------


def _claim_json(claim: NewNodeClaim) -> dict[str, Any]:
    return {
        "nodepool": claim.nodepool,
        "instanceTypes": claim.instance_types,
        "launch": {
            "instanceType": claim.launch.instance_type,
            "zone": claim.launch.zone,
            "capacityType": claim.launch.capacity_type,
            "price": claim.launch.price,
        },
        "pods": sorted(p.key for p in claim.pods),
    }


def simulation_json(result: SchedulingResult) -> dict[str, Any]:
    return {
        "nodeclaims": [_claim_json(c) for c in result.new_claims],
        "existing": {node: sorted(p.key for p in pods) for node, pods in sorted(result.existing.items())},
        "unschedulable": [
            {"pod": pod, "reason": reason} for pod, reason in sorted(result.unschedulable.items())
        ],
        "totalPrice": round(result.total_price(), 6),
    }


def run_simulation(inputs: Inputs, catalog: Catalog, karpenter_exact: bool = False) -> SchedulingResult:
    if not inputs.nodepools:
        raise InputError("no NodePool given (--nodepool)")
    snapshot = Snapshot(
        nodepools=inputs.nodepools,
        pods=inputs.pods,
        nodes=inputs.nodes,
        daemon_pods=inputs.daemon_pods,
        pdbs=inputs.pdbs,
        instance_types=list(catalog.instanceTypes),
    )
    return schedule_pods(snapshot, karpenter_exact=karpenter_exact)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows)


def simulation_table(data: dict[str, Any], relaxed: dict[str, list[str]] | None = None) -> str:
    out = []
    if data["nodeclaims"]:
        rows = [["NODEPOOL", "INSTANCE TYPE", "ZONE", "CAPACITY", "$/H", "PODS", "OPTIONS"]]
        for claim in data["nodeclaims"]:
            launch = claim["launch"]
            rows.append(
                [
                    claim["nodepool"],
                    launch["instanceType"],
                    launch["zone"],
                    launch["capacityType"],
                    f"{launch['price']:.4f}",
                    str(len(claim["pods"])),
                    str(len(claim["instanceTypes"])),
                ]
            )
        out.append(_table(rows))
    if data["existing"]:
        out.append(
            _table([["EXISTING NODE", "PODS"]] + [[n, str(len(p))] for n, p in data["existing"].items()])
        )
    if relaxed:
        rows = [["POD", "PREFERENCES RELAXED"]] + [
            [pod, "; ".join(what)] for pod, what in sorted(relaxed.items())
        ]
        out.append(_table(rows))
    if data["unschedulable"]:
        out.append(
            _table(
                [["UNSCHEDULABLE POD", "REASON"]] + [[u["pod"], u["reason"]] for u in data["unschedulable"]]
            )
        )
    out.append(f"new nodes: {len(data['nodeclaims'])}, total ${data['totalPrice']:.4f}/h")
    return "\n\n".join(out)


def simulate_command(args: argparse.Namespace) -> int:
    try:
        catalog = resolve_catalog(args.catalog)
        inputs = load_inputs([*args.nodepool, *args.pods, *(args.nodes or [])], catalog)
        result = run_simulation(inputs, catalog, args.karpenter_exact)
        data = simulation_json(result)
    except (InputError, OSError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(data, indent=2) if args.output == "json" else simulation_table(data, result.relaxed))
    return 0 if not data["unschedulable"] else 1


# -- consolidate -----------------------------------------------------------------------


def command_json(command: Command) -> dict[str, Any]:
    return {
        "method": command.method,
        "reason": command.reason,
        "decision": command.decision,
        "candidates": [
            {
                "node": c.name,
                "nodepool": c.nodepool.name,
                "instanceType": c.instance_type,
                "zone": c.zone,
                "capacityType": c.capacity_type,
                "price": c.price,
                "pods": sorted(p.key for p in c.pods),
            }
            for c in command.candidates
        ],
        "replacements": [_claim_json(r) for r in command.replacements],
        "savings": round(command.savings(), 6),
        "explanation": command.explanation,
    }


def consolidate_command(args: argparse.Namespace) -> int:
    try:
        catalog = resolve_catalog(args.catalog)
        inputs = load_inputs([*args.nodepool, *args.nodes, *args.pods], catalog)
        now = parse_time(args.now) if args.now else datetime.now(UTC)
        assert now is not None
        cluster = Cluster(
            inputs.nodepools, inputs.nodes, inputs.pods, catalog.instanceTypes, inputs.daemon_pods
        )
        events = {}
        for document in inputs.nodeclaims:
            claim = parse_nodeclaim(document)
            when = parse_time(claim.status.lastPodEventTime or "")
            if when is not None:
                events[claim.status.nodeName or claim.name] = when
        options = DisruptionOptions(args.min_price_improvement, args.spot_to_spot)
        result = disrupt(cluster, inputs.pdbs, now, options, events)
        expired = expiration(cluster, now)
    except (InputError, OSError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = {
        "commands": [command_json(c) for c in [*expired, *result.commands]],
        "skipped": [{"node": node, "reason": why} for node, why in sorted(result.skipped.items())],
    }
    if args.output == "json":
        print(json.dumps(data, indent=2))
        return 0
    if not data["commands"]:
        print("no disruption: nothing to do")
    for command in data["commands"]:
        nodes = ", ".join(c["node"] for c in command["candidates"])
        print(
            f"{command['method']} ({command['reason']}): {command['decision']} {nodes}; saves ${command['savings']:.4f}/h"
        )
        for replacement in command["replacements"]:
            launch = replacement["launch"]
            print(
                f"  replacement: {launch['instanceType']} {launch['zone']} {launch['capacityType']} ${launch['price']:.4f}/h"
            )
        print(f"  why: {command['explanation']}")
    for skipped in data["skipped"]:
        print(f"left alone: {skipped['node']}: {skipped['reason']}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "nodes", help="Karpenter-compatible scheduling and consolidation, as a dry run"
    )
    sub = parser.add_subparsers(dest="nodes_command", required=True)
    catalog_help = (
        f"instance-type catalog: {' or '.join(BUILTIN_CATALOGS)} (built in) or a catalog file (default kwok)"
    )

    simulate = sub.add_parser(
        "simulate", help="where pending pods would go, and which NodeClaims would be created"
    )
    simulate.add_argument("--nodepool", nargs="+", required=True, metavar="FILE", help="NodePool manifests")
    simulate.add_argument(
        "--pods", nargs="+", required=True, metavar="FILE", help="Pods or workloads (Deployments, ...)"
    )
    simulate.add_argument(
        "--nodes", nargs="+", metavar="FILE", help="existing Nodes and NodeClaims (and their pods)"
    )
    simulate.add_argument("--catalog", default="kwok", help=catalog_help)
    simulate.add_argument(
        "--karpenter-exact",
        action="store_true",
        help="decide exactly as Karpenter would (no re-packing onto cheaper nodes; spread counts every NodePool's zones)",
    )
    simulate.add_argument("-o", "--output", choices=("json", "table"), default="table")
    simulate.set_defaults(handler=simulate_command)

    consolidate = sub.add_parser(
        "consolidate", help="the disruption commands one pass would issue, with reasons"
    )
    consolidate.add_argument("--nodepool", nargs="+", required=True, metavar="FILE")
    consolidate.add_argument("--nodes", nargs="+", required=True, metavar="FILE", help="Nodes and NodeClaims")
    consolidate.add_argument(
        "--pods", nargs="+", required=True, metavar="FILE", help="the pods bound to those nodes"
    )
    consolidate.add_argument("--catalog", default="kwok", help=catalog_help)
    consolidate.add_argument("--now", help="evaluate at this RFC 3339 time (default: now)")
    consolidate.add_argument(
        "--min-price-improvement",
        type=float,
        default=0.0,
        metavar="PERCENT",
        help="replace only when the replacement is at least this much cheaper (default 0)",
    )
    consolidate.add_argument(
        "--spot-to-spot", action="store_true", help="allow spot-to-spot replacement (feature gate)"
    )
    consolidate.add_argument("-o", "--output", choices=("json", "table"), default="table")
    consolidate.set_defaults(handler=consolidate_command)
