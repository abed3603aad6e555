"""One pass of the node-planner over its view; returns the plans to publish.

Everything here is synchronous and deterministic given the view, the clock and
the outcomes received; `service.py` owns the I/O.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bosun_common.catalog import Catalog, format_resource_list
from bosun_common.cloud_plans import CloudOutcome, CloudPlan, LaunchInstance, TerminateInstance
from bosun_common.karpenter import FINALIZER_TERMINATION, NodePool, parse_nodeclaim
from bosun_common.kube_plans import (
    ApplyObject,
    ApplyStatus,
    DeleteObject,
    EvictPod,
    KubeAction,
    KubePlan,
    ObjectRef,
    PatchObject,
    SetFinalizer,
)
from node_planner.disruption.candidates import budget_active
from node_planner.disruption.engine import DisruptionOptions, disrupt, expiration
from node_planner.disruption.simulation import Command
from node_planner.disruption.validation import VALIDATION_DELAY_SECONDS, revalidate
from node_planner.lifecycle import LaunchState, nodeclaim_manifest, nodeclaim_name, progress, terminate
from node_planner.lifecycle.conditions import is_true, set_condition
from node_planner.lifecycle.termination import disrupted_taints
from node_planner.provisioning.batcher import Batcher
from node_planner.provisioning.claims import NewNodeClaim
from node_planner.provisioning.unavailable import UnavailableOfferings
from node_planner.readiness import NodeClassReadiness, node_class_kind
from node_planner.scheduling.objects import parse_pod
from node_planner.snapshot import Snapshot, build_snapshot, cluster, schedule_pods

log = logging.getLogger("bosun.node_planner")

NAME = "node-planner"
POD: tuple[str, str] = ("v1", "Pod")
NODE: tuple[str, str] = ("v1", "Node")
NODECLAIM: tuple[str, str] = ("karpenter.sh/v1", "NodeClaim")
NODEPOOL: tuple[str, str] = ("karpenter.sh/v1", "NodePool")
DAEMONSET: tuple[str, str] = ("apps/v1", "DaemonSet")
PDB: tuple[str, str] = ("policy/v1", "PodDisruptionBudget")
KINDS = (POD, NODE, NODECLAIM, NODEPOOL, DAEMONSET, PDB)
DISRUPTION_INTERVAL = 10.0
STATUS_INTERVAL = 2.0  # NodePool status needs no faster refresh than this
RESEND_SECONDS = 10.0
# Emptiness and consolidation wait and re-validate; drift and expiration act at once.
VALIDATED_REASONS = frozenset({"Empty", "Underutilized"})


def what_provisioning_reads(obj: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """The parts of a NodePool or node class that can change where pods fit (not its status counts)."""
    if obj is None:
        return None
    status = obj.get("status") or {}
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    return (
        obj.get("spec"),
        (obj.get("metadata") or {}).get("deletionTimestamp"),
        [c.get("status") for c in ready],
    )


def claim_names(command: Command) -> list[str]:
    return [c.node.nodeclaim or c.name for c in command.candidates]


@dataclass
class PendingCommand:
    """A consolidation waiting out its validation delay."""

    command: Command
    since: float


@dataclass
class Orchestration:
    """A disruption command in flight: replacements first, then the candidates go."""

    method: str
    reason: str
    candidates: list[str]  # NodeClaim names
    replacements: list[str]
    started: float


@dataclass
class Plans:
    kube: list[KubePlan] = field(default_factory=list)
    cloud: list[CloudPlan] = field(default_factory=list)


@dataclass
class NodePlanner:
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    monotonic: Callable[[], float] = time.monotonic
    options: DisruptionOptions = field(default_factory=DisruptionOptions)
    objects: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)
    catalog: Catalog | None = None
    batcher: Batcher = field(default_factory=Batcher)
    launches: dict[str, LaunchState] = field(default_factory=dict)
    terminated: set[str] = field(default_factory=set)
    unavailable: UnavailableOfferings = field(init=False)  # offerings that just failed to launch
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # claims published, not yet observed
    orchestrations: list[Orchestration] = field(default_factory=list)
    validating: list[PendingCommand] = field(default_factory=list)
    last_pod_event: dict[str, dt.datetime] = field(default_factory=dict)
    sent: dict[str, tuple[str, float]] = field(default_factory=dict)
    last_disruption: float = 0.0
    last_status: float = 0.0
    decisions: list[str] = field(default_factory=list)  # explanations, newest last (bounded)
    node_class_kinds: tuple[tuple[str, str], ...] = ()  # (apiVersion, kind) the provider keeps as objects

    def __post_init__(self) -> None:
        self.unavailable = UnavailableOfferings(clock=self.monotonic)

    # -- inputs -------------------------------------------------------------------

    def on_change(self, kind: tuple[str, str], name: str, obj: dict[str, Any] | None) -> None:
        bucket = self.objects.setdefault(kind, {})
        previous = bucket.pop(name, None)
        if obj is not None:
            bucket[name] = obj
        if kind == NODECLAIM and obj is not None:
            self.created.pop(name, None)
        if kind == POD:
            for pod in (previous, obj):
                node = ((pod or {}).get("spec") or {}).get("nodeName")
                if node:
                    self.last_pod_event[node] = self.clock()
            if obj is not None:
                try:
                    self.batcher.add(parse_pod(obj))
                except ValueError as exc:
                    log.warning("pod %s cannot be parsed: %s", name, exc)
            else:
                self.batcher.remove(str(((previous or {}).get("metadata") or {}).get("uid", "")))
        if (kind == NODEPOOL or kind in self.node_class_kinds) and what_provisioning_reads(
            obj
        ) != what_provisioning_reads(previous):
            # Pods left pending may fit now (a NodePool appeared or changed, its node class
            # became ready): they get no event of their own, so batch them again.
            for pod_name, pod in self.objects.get(POD, {}).items():
                try:
                    self.batcher.add(parse_pod(pod))
                except ValueError as exc:
                    log.warning("pod %s cannot be parsed: %s", pod_name, exc)

    def on_cloud_outcome(self, outcome: CloudOutcome) -> None:
        if outcome.skipped:  # a newer plan for the claim ran first; its outcome is the one that counts
            return
        if outcome.op == "launch":
            if outcome.ok and outcome.instance is not None:
                self.launches[outcome.key] = LaunchState(instance=outcome.instance)
            elif not outcome.ok:
                self.launches[outcome.key] = LaunchState(error=f"{outcome.reason}: {outcome.message}")
            for zone, capacity_type, instance_type in outcome.unavailableOfferings:
                self.unavailable.mark(instance_type, zone, capacity_type)
        elif outcome.op == "terminate" and outcome.ok:
            self.terminated.add(outcome.key)

    def of_kind(self, kind: tuple[str, str]) -> list[dict[str, Any]]:
        bucket = self.objects.get(kind, {})
        return [bucket[name] for name in sorted(bucket)]

    # -- the snapshot ----------------------------------------------------------------

    def available_catalog(self) -> Catalog | None:
        """The catalog with offerings that recently failed to launch marked unavailable."""
        if self.catalog is None:
            return None
        if not self.unavailable.any():
            return self.catalog
        return Catalog(
            name=self.catalog.name, instanceTypes=self.unavailable.apply(self.catalog.instanceTypes)
        )

    def snapshot(self, catalog: Catalog) -> Snapshot:
        return build_snapshot(
            nodepools=[
                p for p in self.of_kind(NODEPOOL) if not (p.get("metadata") or {}).get("deletionTimestamp")
            ],
            pods=self.of_kind(POD),
            nodes=self.of_kind(NODE),
            nodeclaims=[*self.of_kind(NODECLAIM), *self.created.values()],
            daemonsets=self.of_kind(DAEMONSET),
            pdbs=self.of_kind(PDB),
            catalog=catalog,
            node_classes={
                (*node_class_kind(*kind), name): document
                for kind in self.node_class_kinds
                for name, document in self.objects.get(kind, {}).items()
            },
            kept_node_classes=tuple(node_class_kind(*kind) for kind in self.node_class_kinds),
        )

    # -- one pass ------------------------------------------------------------------------

    def step(self) -> Plans:
        plans = Plans()
        catalog = self.available_catalog()
        if catalog is None:
            return plans
        snapshot: Snapshot | None = None

        def current() -> Snapshot:  # built at most once per pass, and only when needed
            nonlocal snapshot
            if snapshot is None:
                snapshot = self.snapshot(catalog)
            return snapshot

        if self.batcher.ready():
            batch = self.batcher.take()
            batch_id = hashlib.sha256(",".join(sorted(p.uid for p in batch)).encode()).hexdigest()[:12]
            self.provision(current(), plans, batch_id)
            snapshot = None  # the claims just opened count as in flight from here on
        self.lifecycle(plans)
        if self.validation_due():
            self.validate(current(), plans)
        if self.monotonic() - self.last_disruption >= DISRUPTION_INTERVAL:
            self.last_disruption = self.monotonic()
            self.disruption(current(), plans)
        self.orchestrate(plans)
        if self.monotonic() - self.last_status >= STATUS_INTERVAL:
            self.last_status = self.monotonic()
            self.nodepool_status(current(), plans)
        return plans

    def provision(self, snapshot: Snapshot, plans: Plans, batch_id: str) -> None:
        if not snapshot.pending:
            return
        result = schedule_pods(snapshot)
        for pod, reason in sorted(result.unschedulable.items()):
            self.explain(f"pod {pod} cannot be scheduled: {reason}")
        for claim in result.new_claims:
            self.create_claim(claim, snapshot, plans, batch_id)

    def create_claim(self, claim: NewNodeClaim, snapshot: Snapshot, plans: Plans, batch_id: str) -> str:
        pool = next(p for p in snapshot.nodepools if p.name == claim.nodepool)
        name = nodeclaim_name(claim, batch_id)
        manifest = nodeclaim_manifest(claim, pool, name)
        self.created[name] = manifest | {
            "metadata": {**manifest["metadata"], "creationTimestamp": self.stamp()}
        }
        self.explain(
            f"NodeClaim {name} ({claim.nodepool}): {claim.launch.instance_type} {claim.launch.zone} "
            f"{claim.launch.capacity_type} ${claim.launch.price:.4f}/h for {len(claim.pods)} pod(s), "
            f"{len(claim.instance_types)} option(s)"
        )
        self.kube(plans, name, [ApplyObject(object=manifest, fieldManager=NAME)])
        return name

    def lifecycle(self, plans: Plans) -> None:
        nodes = self.of_kind(NODE)
        by_provider = {(n.get("spec") or {}).get("providerID"): n for n in nodes}
        by_name = {n["metadata"]["name"]: n for n in nodes}
        pods_by_node: dict[str, list[dict[str, Any]]] = {}
        for pod in self.of_kind(POD):
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name:
                pods_by_node.setdefault(node_name, []).append(pod)
        now = self.clock()
        for claim in self.of_kind(NODECLAIM):
            name = claim["metadata"]["name"]
            status = claim.get("status") or {}
            node = by_provider.get(status.get("providerID")) if status.get("providerID") else None
            node = node or by_name.get(status.get("nodeName") or "")
            ref = ObjectRef(
                apiVersion=NODECLAIM[0], kind=NODECLAIM[1], name=name, uid=claim["metadata"].get("uid")
            )
            if claim["metadata"].get("deletionTimestamp"):
                self.termination(
                    claim,
                    ref,
                    node,
                    pods_by_node.get((node or {}).get("metadata", {}).get("name", ""), []),
                    plans,
                    now,
                )
                continue
            decision = progress(claim, node, self.launches.get(name, LaunchState()), now)
            if decision.launch:
                self.launches[name] = LaunchState(requested_at=now)
                plans.cloud.append(
                    CloudPlan(key=name, action=LaunchInstance(nodeClaim=parse_nodeclaim(claim)))
                )
            actions: list[KubeAction] = []
            if decision.claim_labels:
                actions.append(PatchObject(ref=ref, patch={"metadata": {"labels": decision.claim_labels}}))
            if decision.status is not None:
                actions.append(ApplyStatus(ref=ref, status=decision.status, fieldManager=NAME))
            if decision.node_patch is not None and node is not None:
                node_ref = ObjectRef(
                    apiVersion="v1",
                    kind="Node",
                    name=node["metadata"]["name"],
                    uid=node["metadata"].get("uid"),
                )
                actions.append(PatchObject(ref=node_ref, patch=decision.node_patch))
            if decision.delete_reason:
                self.explain(f"NodeClaim {name} deleted: {decision.delete_reason}")
                actions.append(DeleteObject(ref=ref))
            if actions:
                self.kube(plans, f"lifecycle/{name}", actions)

    def termination(
        self,
        claim: dict[str, Any],
        ref: ObjectRef,
        node: dict[str, Any] | None,
        pods: list[dict[str, Any]],
        plans: Plans,
        now: dt.datetime,
    ) -> None:
        name = claim["metadata"]["name"]
        step = terminate(claim, node, pods, name in self.terminated, now)
        actions: list[KubeAction] = []
        if node is not None and step.taint_node is not None:
            actions.append(PatchObject(ref=_node_ref(node), patch={"spec": {"taints": step.taint_node}}))
        actions += [
            EvictPod(ref=ObjectRef(apiVersion="v1", kind="Pod", name=n, namespace=ns)) for ns, n in step.evict
        ]
        if step.terminate_instance is not None:
            plans.cloud.append(
                CloudPlan(
                    key=name, action=TerminateInstance(nodeClaim=name, providerID=step.terminate_instance)
                )
            )
        if step.delete_node:
            actions.append(DeleteObject(ref=ObjectRef(apiVersion="v1", kind="Node", name=step.delete_node)))
        if step.remove_finalizer:
            actions.append(SetFinalizer(ref=ref, finalizer=FINALIZER_TERMINATION, present=False))
            self.launches.pop(name, None)
            self.terminated.discard(name)
        if actions:
            self.kube(plans, f"terminate/{name}", actions)

    def disruption(self, snapshot: Snapshot, plans: Plans) -> None:
        state = cluster(snapshot)
        now = self.clock()
        busy = {name for o in self.orchestrations for name in (*o.candidates, *o.replacements)}
        busy |= {name for pending in self.validating for name in claim_names(pending.command)}
        commands = expiration(state, now)
        if not commands:
            commands = disrupt(state, snapshot.pdbs, now, self.options, self.last_pod_event).commands
        for command in commands:
            candidates = claim_names(command)
            if any(c in busy for c in candidates):
                continue
            busy.update(candidates)
            if command.reason in VALIDATED_REASONS:
                # Karpenter waits before acting on a consolidation and checks it again, so a
                # decision taken on a passing state (pods about to land) is dropped.
                self.validating.append(PendingCommand(command, self.monotonic()))
                self.explain(
                    f"{command.method}: would {command.decision} {', '.join(candidates)} ({command.reason}); "
                    f"validating for {VALIDATION_DELAY_SECONDS:.0f} s"
                )
                continue
            self.execute(command, snapshot, plans)

    def validation_due(self) -> bool:
        return any(self.monotonic() - p.since >= VALIDATION_DELAY_SECONDS for p in self.validating)

    def validate(self, snapshot: Snapshot, plans: Plans) -> None:
        """Run the commands whose wait is over and that still hold; drop the others, saying why."""
        state = cluster(snapshot)
        still: list[PendingCommand] = []
        for pending in self.validating:
            if self.monotonic() - pending.since < VALIDATION_DELAY_SECONDS:
                still.append(pending)
                continue
            command = pending.command
            why = revalidate(command, state, snapshot.pdbs, self.clock(), self.options)
            if why is not None:
                self.explain(
                    f"{command.method}: {command.decision} {', '.join(claim_names(command))} abandoned "
                    f"after validation: {why}"
                )
                continue
            self.execute(command, snapshot, plans)
        self.validating = still

    def execute(self, command: Command, snapshot: Snapshot, plans: Plans) -> None:
        """Taint the candidates and launch the replacements; `orchestrate` deletes the candidates."""
        candidates = claim_names(command)
        self.explain(
            f"{command.method}: {command.decision} {', '.join(candidates)} ({command.reason}): {command.explanation}"
        )
        for candidate in command.candidates:
            node = self.objects.get(NODE, {}).get(candidate.node.name)
            taints = disrupted_taints(node) if node is not None else None
            if node is not None and taints is not None:
                patch = PatchObject(ref=_node_ref(node), patch={"spec": {"taints": taints}})
                self.kube(plans, f"disrupt/{candidate.name}", [patch])
        batch = f"{command.method}-{int(self.monotonic())}"
        replacements = [self.create_claim(r, snapshot, plans, batch) for r in command.replacements]
        self.orchestrations.append(
            Orchestration(command.method, command.reason, candidates, replacements, self.monotonic())
        )

    def orchestrate(self, plans: Plans) -> None:
        claims = self.objects.get(NODECLAIM, {})
        still: list[Orchestration] = []
        for orchestration in self.orchestrations:
            replacements = [claims.get(r) for r in orchestration.replacements]
            if all(r is not None and is_true(r, "Initialized") for r in replacements):
                for name in orchestration.candidates:
                    claim = claims.get(name)
                    if claim is not None and not claim["metadata"].get("deletionTimestamp"):
                        ref = ObjectRef(
                            apiVersion=NODECLAIM[0],
                            kind=NODECLAIM[1],
                            name=name,
                            uid=claim["metadata"].get("uid"),
                        )
                        self.kube(plans, f"disrupt-delete/{name}", [DeleteObject(ref=ref)])
                continue
            if self.monotonic() - orchestration.started > 900 or any(
                r is None and name not in self.created
                for r, name in zip(replacements, orchestration.replacements, strict=True)
            ):
                self.explain(
                    f"{orchestration.method} of {', '.join(orchestration.candidates)} abandoned: replacements did not initialize"
                )
                continue
            still.append(orchestration)
        self.orchestrations = still

    def nodepool_status(self, snapshot: Snapshot, plans: Plans) -> None:
        now = self.stamp()
        pools = {p.name: p for p in snapshot.nodepools}
        for document in self.of_kind(NODEPOOL):
            name = document["metadata"]["name"]
            generation = int(document["metadata"].get("generation") or 1)
            previous = (document.get("status") or {}).get("conditions") or []
            error = snapshot.invalid_nodepools.get(name)
            conditions = set_condition(
                previous,
                "ValidationSucceeded",
                error is None,
                "Valid" if error is None else "Invalid",
                error or "",
                now,
                generation,
            )
            node_class = snapshot.unready_nodepools.get(name, NodeClassReadiness(True))
            conditions = set_condition(
                conditions,
                "NodeClassReady",
                node_class.ready,
                node_class.reason,
                node_class.message,
                now,
                generation,
            )
            invalid = invalid_budgets(pools.get(name), self.clock())
            conditions = set_condition(
                conditions,
                "DisruptionBudgetsValid",
                not invalid,
                "Valid" if not invalid else "InvalidSchedule",
                "; ".join(invalid),
                now,
                generation,
            )
            ready = error is None and node_class.ready
            conditions = set_condition(
                conditions,
                "Ready",
                ready,
                "Ready" if ready else "NotReady",
                error or ("" if node_class.ready else f"NodeClassReady=False: {node_class.message}"),
                now,
                generation,
            )
            nodes = [n for n in snapshot.nodes if n.nodepool == name]
            resources: dict[str, int] = {}
            for node in nodes:
                for resource, value in node.capacity.items():
                    resources[resource] = resources.get(resource, 0) + value
            status = {
                "conditions": conditions,
                "nodes": len(nodes),
                "resources": {**format_resource_list(resources), "nodes": str(len(nodes))},
            }
            if status != {k: (document.get("status") or {}).get(k) for k in status}:
                ref = ObjectRef(apiVersion=NODEPOOL[0], kind=NODEPOOL[1], name=name)
                self.kube(plans, f"nodepool/{name}", [ApplyStatus(ref=ref, status=status, fieldManager=NAME)])

    def publish_failed(self, plans: Plans) -> None:
        """The bus refused this pass's plans: forget them, so the next pass decides again."""
        for plan in plans.kube:
            self.sent.pop(plan.key, None)
            for action in plan.actions:
                if isinstance(action, ApplyObject) and action.object.get("kind") == "NodeClaim":
                    self.created.pop(action.object["metadata"]["name"], None)
        for cloud in plans.cloud:
            self.sent.pop(f"cloud/{cloud.key}/{cloud.action.op}", None)
            if cloud.action.op == "launch":
                self.launches.pop(cloud.key, None)
        for pod in self.of_kind(POD):
            try:
                self.batcher.add(parse_pod(pod))  # provisioning decides again for every pending pod
            except ValueError:
                continue

    # -- helpers ---------------------------------------------------------------------------

    def kube(self, plans: Plans, key: str, actions: list[KubeAction]) -> None:
        """Queue a plan unless the same one went out in the last few seconds (waiting for STATE)."""
        plan = KubePlan(key=key, planner=NAME, actions=actions)
        digest = hashlib.sha256(plan.model_dump_json().encode()).hexdigest()[:24]
        last = self.sent.get(key)
        if last is not None and last[0] == digest and self.monotonic() - last[1] < RESEND_SECONDS:
            return
        self.sent[key] = (digest, self.monotonic())
        plans.kube.append(plan)

    def cloud(self, plans: Plans, plan: CloudPlan) -> None:
        key = f"cloud/{plan.key}/{plan.action.op}"
        if key in self.sent and self.monotonic() - self.sent[key][1] < RESEND_SECONDS * 3:
            return
        self.sent[key] = ("", self.monotonic())
        plans.cloud.append(plan)

    def stamp(self) -> str:
        return self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")

    def explain(self, line: str) -> None:
        log.info(line)
        self.decisions = [*self.decisions[-199:], line]


def invalid_budgets(pool: NodePool | None, now: dt.datetime) -> list[str]:
    """Budgets whose cron schedule cannot be read. Like Karpenter, such a budget allows 0
    disruptions; unlike Karpenter, the NodePool's status says so."""
    if pool is None:
        return []
    return [
        f"budget {i}: schedule {budget.schedule!r} is not a valid cron expression, so it allows 0 disruptions"
        for i, budget in enumerate(pool.spec.disruption.budgets)
        if budget_active(budget, now) is None
    ]


def _node_ref(node: dict[str, Any]) -> ObjectRef:
    return ObjectRef(
        apiVersion="v1", kind="Node", name=node["metadata"]["name"], uid=node["metadata"].get("uid")
    )
