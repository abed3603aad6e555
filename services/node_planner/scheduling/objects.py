"""Plain-data views of the Kubernetes objects scheduling needs: Pods, Nodes, DaemonSets, PDBs.

Each is parsed once from its manifest (a dict, as `kubectl get -o yaml` prints
it) into the few fields the scheduler reads, with requests already summed in
milli-units and node affinity already turned into `Requirements`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bosun_common.catalog import RESOURCE_PODS, add_resources, parse_resource_list
from bosun_common.karpenter import ANNOTATION_DO_NOT_DISRUPT, normalize_label_key
from node_planner.scheduling.requirements import Requirement, Requirements
from node_planner.scheduling.taints import Taint, Toleration


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """`matchLabels` and `matchExpressions` (In, NotIn, Exists, DoesNotExist)."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @staticmethod
    def parse(data: Mapping[str, Any] | None) -> LabelSelector:
        data = data or {}
        labels = tuple(sorted((str(k), str(v)) for k, v in (data.get("matchLabels") or {}).items()))
        expressions = tuple(
            sorted(
                (str(e["key"]), str(e["operator"]), tuple(sorted(str(v) for v in e.get("values") or [])))
                for e in data.get("matchExpressions") or []
            )
        )
        return LabelSelector(labels, expressions)

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match_labels:
            if labels.get(key) != value:
                return False
        for key, operator, values in self.match_expressions:
            present = key in labels
            if operator == "In" and (not present or labels[key] not in values):
                return False
            if operator == "NotIn" and present and labels[key] in values:
                return False
            if operator == "Exists" and not present:
                return False
            if operator == "DoesNotExist" and present:
                return False
        return True

    def with_labels(self, extra: Mapping[str, str]) -> LabelSelector:
        return LabelSelector(
            tuple(sorted({**dict(self.match_labels), **extra}.items())), self.match_expressions
        )


@dataclass(frozen=True, slots=True)
class TopologySpreadConstraint:
    max_skew: int
    topology_key: str
    when_unsatisfiable: str
    selector: LabelSelector
    min_domains: int | None = None
    node_affinity_policy: str = "Honor"
    node_taints_policy: str = "Ignore"
    match_label_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PodAffinityTerm:
    topology_key: str
    selector: LabelSelector
    namespaces: tuple[str, ...] = ()
    weight: int = 0  # 0 for required terms


@dataclass(frozen=True, slots=True)
class HostPort:
    ip: str
    port: int
    protocol: str

    def conflicts(self, other: HostPort) -> bool:
        if self.port != other.port or self.protocol != other.protocol:
            return False
        unspecified = ("", "0.0.0.0", "::")
        return self.ip == other.ip or self.ip in unspecified or other.ip in unspecified


@dataclass(slots=True)
class Pod:
    """What scheduling reads from a pod. `requests` are milli-units and include one `pods`."""

    namespace: str
    name: str
    uid: str
    labels: dict[str, str]
    annotations: dict[str, str]
    creation: str
    requests: dict[str, int]
    node_name: str = ""
    owner_kind: str = ""
    owner_name: str = ""
    node_requirement_terms: list[Requirements] = field(default_factory=list)  # ORed required terms
    preferred_node_terms: list[tuple[int, Requirements]] = field(default_factory=list)
    tolerations: list[Toleration] = field(default_factory=list)
    spread: list[TopologySpreadConstraint] = field(default_factory=list)
    affinity: list[PodAffinityTerm] = field(default_factory=list)
    preferred_affinity: list[PodAffinityTerm] = field(default_factory=list)
    anti_affinity: list[PodAffinityTerm] = field(default_factory=list)
    preferred_anti_affinity: list[PodAffinityTerm] = field(default_factory=list)
    host_ports: list[HostPort] = field(default_factory=list)
    volumes: dict[str, int] = field(default_factory=dict)  # CSI driver -> volumes
    claims: list[str] = field(
        default_factory=list
    )  # PersistentVolumeClaim names (see `volumes.resolve_volumes`)
    priority: int = 0
    phase: str = "Pending"
    unschedulable: bool = True
    deleting: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def do_not_disrupt(self) -> bool:
        return self.annotations.get(ANNOTATION_DO_NOT_DISRUPT) == "true"

    def is_daemon(self) -> bool:
        return self.owner_kind in ("DaemonSet", "Node")

    def is_terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    def provisionable(self) -> bool:
        """Karpenter's rule: marked Unschedulable by kube-scheduler, unbound, not a DaemonSet or static pod."""
        return self.unschedulable and not self.node_name and not self.is_daemon() and not self.deleting

    def node_requirements(self) -> Requirements:
        """The first required node-affinity term merged with the node selector (terms are ORed)."""
        return self.node_requirement_terms[0] if self.node_requirement_terms else Requirements()

    def cpu(self) -> int:
        return self.requests.get("cpu", 0)

    def memory(self) -> int:
        return self.requests.get("memory", 0)


def _terms_to_requirements(expressions: Sequence[Mapping[str, Any]]) -> Requirements:
    result = Requirements()
    for expression in expressions:
        result.add(
            Requirement.new(
                str(expression["key"]),
                str(expression["operator"]),
                [str(v) for v in expression.get("values") or []],
            )
        )
    return result


def _affinity_terms(items: Sequence[Mapping[str, Any]], weighted: bool) -> list[PodAffinityTerm]:
    result = []
    for item in items:
        term = item.get("podAffinityTerm", item) if weighted else item
        result.append(
            PodAffinityTerm(
                normalize_label_key(str(term.get("topologyKey", ""))),
                LabelSelector.parse(term.get("labelSelector")),
                tuple(sorted(term.get("namespaces") or [])),
                int(item.get("weight", 0)) if weighted else 0,
            )
        )
    return result


def effective_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """Kubernetes' effective pod request: max(sum of containers + sidecars, largest init container) + overhead."""
    containers = add_resources(
        *(
            parse_resource_list((c.get("resources") or {}).get("requests"))
            for c in spec.get("containers") or []
        )
    )
    sidecars: dict[str, int] = {}
    for init in spec.get("initContainers") or []:
        requests = parse_resource_list((init.get("resources") or {}).get("requests"))
        if init.get("restartPolicy") == "Always":
            sidecars = add_resources(sidecars, requests)
            continue
        for name, value in add_resources(sidecars, requests).items():
            if value > containers.get(name, 0) + sidecars.get(name, 0):
                containers[name] = value - sidecars.get(name, 0)
    total = add_resources(containers, sidecars, parse_resource_list(spec.get("overhead")))
    total[RESOURCE_PODS] = 1000
    return total


def parse_pod(document: Mapping[str, Any]) -> Pod:
    """A Pod manifest as scheduling sees it."""
    metadata = document.get("metadata") or {}
    spec = document.get("spec") or {}
    status = document.get("status") or {}
    owners = metadata.get("ownerReferences") or []
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else {})
    affinity = spec.get("affinity") or {}
    node_affinity = affinity.get("nodeAffinity") or {}
    selector_requirements = Requirements.from_labels(
        {str(k): str(v) for k, v in (spec.get("nodeSelector") or {}).items()}
    )
    required = (node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms"
    ) or []
    terms = [
        selector_requirements.merged(_terms_to_requirements(t.get("matchExpressions") or []))
        for t in required
    ]
    if not terms and selector_requirements:
        terms = [selector_requirements]
    preferred = [
        (
            int(p.get("weight", 1)),
            _terms_to_requirements((p.get("preference") or {}).get("matchExpressions") or []),
        )
        for p in node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
    ]
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    spread = []
    for constraint in spec.get("topologySpreadConstraints") or []:
        selector = LabelSelector.parse(constraint.get("labelSelector"))
        match_keys = tuple(constraint.get("matchLabelKeys") or [])
        if match_keys:
            selector = selector.with_labels({k: labels[k] for k in match_keys if k in labels})
        spread.append(
            TopologySpreadConstraint(
                max_skew=int(constraint.get("maxSkew", 1)),
                topology_key=normalize_label_key(str(constraint.get("topologyKey", ""))),
                when_unsatisfiable=str(constraint.get("whenUnsatisfiable", "DoNotSchedule")),
                selector=selector,
                min_domains=constraint.get("minDomains"),
                node_affinity_policy=str(constraint.get("nodeAffinityPolicy") or "Honor"),
                node_taints_policy=str(constraint.get("nodeTaintsPolicy") or "Ignore"),
                match_label_keys=match_keys,
            )
        )
    pod_affinity = affinity.get("podAffinity") or {}
    pod_anti = affinity.get("podAntiAffinity") or {}
    host_ports = [
        HostPort(str(port.get("hostIP") or ""), int(port["hostPort"]), str(port.get("protocol") or "TCP"))
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        for port in container.get("ports") or []
        if port.get("hostPort")
    ]
    volumes: dict[str, int] = {}
    claims = [
        str(v["persistentVolumeClaim"]["claimName"])
        for v in spec.get("volumes") or []
        if (v.get("persistentVolumeClaim") or {}).get("claimName")
    ]
    for volume in spec.get("volumes") or []:
        driver = (volume.get("csi") or {}).get("driver")
        if driver:
            volumes[str(driver)] = volumes.get(str(driver), 0) + 1
    conditions = status.get("conditions") or []
    scheduled = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
    unschedulable = scheduled is None or (
        scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable"
    )
    return Pod(
        namespace=str(metadata.get("namespace") or "default"),
        name=str(metadata.get("name", "")),
        uid=str(
            metadata.get("uid") or f"{metadata.get('namespace') or 'default'}/{metadata.get('name', '')}"
        ),
        labels=labels,
        annotations={str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()},
        creation=str(metadata.get("creationTimestamp") or ""),
        requests=effective_requests(spec),
        node_name=str(spec.get("nodeName") or ""),
        owner_kind=str(owner.get("kind", "")),
        owner_name=str(owner.get("name", "")),
        node_requirement_terms=terms,
        preferred_node_terms=sorted(preferred, key=lambda p: -p[0]),
        tolerations=[Toleration.parse(t) for t in spec.get("tolerations") or []],
        spread=spread,
        affinity=_affinity_terms(
            pod_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or [], False
        ),
        preferred_affinity=sorted(
            _affinity_terms(pod_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or [], True),
            key=lambda t: -t.weight,
        ),
        anti_affinity=_affinity_terms(
            pod_anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [], False
        ),
        preferred_anti_affinity=sorted(
            _affinity_terms(pod_anti.get("preferredDuringSchedulingIgnoredDuringExecution") or [], True),
            key=lambda t: -t.weight,
        ),
        host_ports=host_ports,
        volumes=volumes,
        claims=claims,
        priority=int(spec.get("priority") or 0),
        phase=str(status.get("phase") or "Pending"),
        unschedulable=unschedulable,
        deleting=bool(metadata.get("deletionTimestamp")),
    )


@dataclass(slots=True)
class Node:
    """An existing node (or an in-flight NodeClaim standing in for one)."""

    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    taints: list[Taint]
    allocatable: dict[str, int]
    capacity: dict[str, int]
    creation: str = ""
    ready: bool = True
    initialized: bool = True
    unschedulable: bool = False
    deleting: bool = False
    volume_limits: dict[str, int] = field(default_factory=dict)
    nodeclaim: str = ""
    price: float | None = None

    @property
    def nodepool(self) -> str | None:
        return self.labels.get("karpenter.sh/nodepool")

    def do_not_disrupt(self) -> bool:
        return self.annotations.get(ANNOTATION_DO_NOT_DISRUPT) == "true"


def parse_node(document: Mapping[str, Any]) -> Node:
    metadata = document.get("metadata") or {}
    spec = document.get("spec") or {}
    status = document.get("status") or {}
    capacity = parse_resource_list(status.get("capacity"))
    allocatable = parse_resource_list(status.get("allocatable")) or dict(capacity)
    conditions = status.get("conditions") or []
    ready = next((c.get("status") == "True" for c in conditions if c.get("type") == "Ready"), True)
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    volume_limits = {
        name.removeprefix("attachable-volumes-csi-"): value // 1000
        for name, value in allocatable.items()
        if name.startswith("attachable-volumes-csi-")
    }
    return Node(
        name=str(metadata.get("name", "")),
        labels={normalize_label_key(k): v for k, v in labels.items()} | labels,
        annotations={str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()},
        taints=[Taint.parse(t) for t in spec.get("taints") or []],
        allocatable=allocatable,
        capacity=capacity,
        creation=str(metadata.get("creationTimestamp") or ""),
        ready=ready,
        initialized=ready and labels.get("karpenter.sh/initialized", "true") == "true",
        unschedulable=bool(spec.get("unschedulable")),
        deleting=bool(metadata.get("deletionTimestamp")),
        volume_limits=volume_limits,
    )


@dataclass(frozen=True, slots=True)
class PodDisruptionBudget:
    namespace: str
    name: str
    selector: LabelSelector
    min_available: str | None
    max_unavailable: str | None
    disruptions_allowed: int | None

    def allowed(self, pods: Sequence[Pod]) -> int:
        """How many matching pods may be evicted now."""
        if self.disruptions_allowed is not None:
            return self.disruptions_allowed
        matching = [p for p in pods if p.namespace == self.namespace and self.selector.matches(p.labels)]
        healthy = sum(1 for p in matching if p.phase == "Running" or p.node_name)
        if self.max_unavailable is not None:
            return max(0, _absolute(self.max_unavailable, len(matching)) - (len(matching) - healthy))
        if self.min_available is not None:
            return max(0, healthy - _absolute(self.min_available, len(matching), round_up=True))
        return healthy


def _absolute(value: str, total: int, round_up: bool = False) -> int:
    if value.endswith("%"):
        numerator = int(value[:-1]) * total
        return -(-numerator // 100) if round_up else numerator // 100
    return int(value)


def parse_pdb(document: Mapping[str, Any]) -> PodDisruptionBudget:
    metadata = document.get("metadata") or {}
    spec = document.get("spec") or {}
    status = document.get("status") or {}
    allowed = status.get("disruptionsAllowed")
    return PodDisruptionBudget(
        namespace=str(metadata.get("namespace") or "default"),
        name=str(metadata.get("name", "")),
        selector=LabelSelector.parse(spec.get("selector")),
        min_available=None if spec.get("minAvailable") is None else str(spec["minAvailable"]),
        max_unavailable=None if spec.get("maxUnavailable") is None else str(spec["maxUnavailable"]),
        disruptions_allowed=None if allowed is None else int(allowed),
    )


def daemonset_pod(document: Mapping[str, Any]) -> Pod:
    """The pod a DaemonSet would run on each node."""
    metadata = document.get("metadata") or {}
    template = dict((document.get("spec") or {}).get("template") or {})
    template_meta = dict(template.get("metadata") or {})
    template_meta.setdefault("name", f"{metadata.get('name', '')}-daemon")
    template_meta.setdefault("namespace", metadata.get("namespace") or "default")
    template_meta["ownerReferences"] = [
        {"kind": "DaemonSet", "name": metadata.get("name", ""), "controller": True}
    ]
    pod = parse_pod({"metadata": template_meta, "spec": template.get("spec") or {}})
    return pod
