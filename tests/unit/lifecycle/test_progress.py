"""NodeClaim lifecycle decisions: launch, register, initialize, time out, terminate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bosun_common.cloud_plans import Instance
from node_planner.lifecycle import LaunchState, progress, terminate
from node_planner.lifecycle.termination import disrupted_taints

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def claim(*conditions: str, created: datetime = NOW, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodeClaim",
        "metadata": {
            "name": "pool-abcde",
            "generation": 1,
            "creationTimestamp": stamp(created),
            "labels": {"karpenter.sh/nodepool": "pool"},
            "finalizers": ["karpenter.sh/termination"],
        },
        "spec": {
            "startupTaints": [{"key": "example.com/cni", "effect": "NoSchedule"}],
            "resources": {"requests": {"cpu": "1"}},
        },
        "status": {
            **status,
            "conditions": [
                {
                    "type": c,
                    "status": "True",
                    "reason": c,
                    "message": "",
                    "lastTransitionTime": stamp(created),
                }
                for c in conditions
            ],
        },
    }


def node(ready: bool = True, taints: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "pool-abcde", "uid": "n1", "labels": {"kubernetes.io/hostname": "pool-abcde"}},
        "spec": {"providerID": "kwok://pool-abcde", "taints": taints or []},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "allocatable": {"cpu": "4"},
        },
    }


INSTANCE = Instance(
    providerID="kwok://pool-abcde",
    nodeClaim="pool-abcde",
    instanceType="c-4x-amd64-linux",
    zone="test-zone-a",
    capacityType="on-demand",
    price=0.108,
    labels={"node.kubernetes.io/instance-type": "c-4x-amd64-linux"},
    capacity={"cpu": "4"},
    allocatable={"cpu": "4"},
)


def conditions_of(status: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


def test_a_new_claim_is_launched_once_and_asked_again_when_unanswered() -> None:
    assert progress(claim(), None, LaunchState(), NOW).launch
    assert progress(claim(), None, LaunchState(requested_at=NOW), NOW).empty
    assert progress(claim(), None, LaunchState(requested_at=NOW - timedelta(seconds=31)), NOW).launch


def test_a_launch_result_becomes_status_and_labels() -> None:
    decision = progress(claim(), None, LaunchState(instance=INSTANCE), NOW)
    assert decision.status is not None
    assert decision.status["providerID"] == "kwok://pool-abcde"
    assert conditions_of(decision.status) == {"Launched": "True"}
    assert decision.claim_labels == {"node.kubernetes.io/instance-type": "c-4x-amd64-linux"}


def test_a_failed_or_slow_launch_deletes_the_claim() -> None:
    failed = progress(claim(), None, LaunchState(error="InsufficientCapacity: none left"), NOW)
    assert failed.delete_reason == "launch failed: InsufficientCapacity: none left"
    slow = progress(claim(created=NOW - timedelta(minutes=6)), None, LaunchState(requested_at=NOW), NOW)
    assert slow.delete_reason == "not launched within 5m"


def test_registration_hands_the_node_over() -> None:
    launched = claim("Launched", providerID="kwok://pool-abcde")
    registering = node(
        taints=[
            {"key": "karpenter.sh/unregistered", "effect": "NoExecute"},
            {"key": "example.com/cni", "effect": "NoSchedule"},
        ]
    )
    decision = progress(launched, registering, LaunchState(), NOW)
    assert decision.status is not None and decision.status["nodeName"] == "pool-abcde"
    assert conditions_of(decision.status) == {"Launched": "True", "Registered": "True"}
    assert decision.node_patch == {
        "metadata": {"labels": {"karpenter.sh/nodepool": "pool", "karpenter.sh/registered": "true"}},
        "spec": {"taints": [{"key": "example.com/cni", "effect": "NoSchedule"}]},
    }


def test_no_node_within_15_minutes_deletes_the_claim() -> None:
    launched = claim("Launched", created=NOW - timedelta(minutes=16), providerID="kwok://x")
    assert progress(launched, None, LaunchState(), NOW).delete_reason == "node did not register within 15m"
    assert progress(launched, None, LaunchState(), NOW - timedelta(minutes=2)).empty


def test_initialized_waits_for_ready_and_startup_taints() -> None:
    registered = claim("Launched", "Registered", providerID="kwok://pool-abcde")
    waiting = progress(
        registered, node(taints=[{"key": "example.com/cni", "effect": "NoSchedule"}]), LaunchState(), NOW
    )
    assert waiting.empty and waiting.notes == ["node still has taints example.com/cni"]
    assert progress(registered, node(ready=False), LaunchState(), NOW).notes == ["node is not Ready"]
    done = progress(registered, node(), LaunchState(), NOW)
    assert done.status is not None
    assert conditions_of(done.status) == {
        "Launched": "True",
        "Registered": "True",
        "Initialized": "True",
        "Ready": "True",
    }
    # An unchanged condition keeps its transition time.
    launched_time = next(c for c in done.status["conditions"] if c["type"] == "Launched")[
        "lastTransitionTime"
    ]
    assert launched_time == stamp(NOW)


def pod(name: str, *, daemon: bool = False, critical: bool = False, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if daemon:
        meta["ownerReferences"] = [{"kind": "DaemonSet", "name": "ds"}]
    if deleting:
        meta["deletionTimestamp"] = stamp(NOW)
    spec: dict[str, Any] = {"nodeName": "pool-abcde"}
    if critical:
        spec["priorityClassName"] = "system-node-critical"
    return {"metadata": meta, "spec": spec, "status": {"phase": "Running"}}


def deleting(claim_doc: dict[str, Any], grace: str | None = None) -> dict[str, Any]:
    claim_doc["metadata"]["deletionTimestamp"] = stamp(NOW - timedelta(seconds=30))
    if grace:
        claim_doc["spec"]["terminationGracePeriod"] = grace
    return claim_doc


def test_termination_taints_and_evicts_non_critical_pods_first() -> None:
    doomed = deleting(claim("Launched", "Registered", "Initialized", providerID="kwok://pool-abcde"))
    pods = [pod("web"), pod("agent", daemon=True), pod("dns", critical=True)]
    step = terminate(doomed, node(), pods, instance_gone=False, now=NOW)
    assert step.taint_node == [{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}]
    assert step.evict == [("default", "web")]
    assert step.terminate_instance is None


def test_termination_terminates_then_deletes_the_node_then_drops_the_finalizer() -> None:
    doomed = deleting(claim("Launched", providerID="kwok://pool-abcde"))
    tainted = node(taints=[{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}])
    first = terminate(doomed, tainted, [], instance_gone=False, now=NOW)
    assert (first.taint_node, first.terminate_instance) == (None, "kwok://pool-abcde")
    second = terminate(doomed, tainted, [], instance_gone=True, now=NOW)
    assert second.delete_node == "pool-abcde"
    assert terminate(doomed, None, [], instance_gone=True, now=NOW).remove_finalizer


def test_a_claim_whose_launch_answer_was_lost_is_terminated_by_name() -> None:
    doomed = deleting(claim())  # never recorded a providerID
    step = terminate(doomed, None, [], instance_gone=False, now=NOW)
    assert step.terminate_instance == "" and not step.remove_finalizer
    assert terminate(doomed, None, [], instance_gone=True, now=NOW).remove_finalizer


def test_termination_waits_for_terminating_pods_until_the_grace_period() -> None:
    doomed = deleting(claim("Launched", providerID="kwok://pool-abcde"), grace="1m")
    tainted = node(taints=[{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}])
    waiting = terminate(doomed, tainted, [pod("web", deleting=True)], instance_gone=False, now=NOW)
    assert waiting.waiting == "waiting for 1 pod(s) to terminate" and waiting.terminate_instance is None
    forced = terminate(doomed, tainted, [pod("web", deleting=True)], False, NOW + timedelta(minutes=1))
    assert forced.terminate_instance == "kwok://pool-abcde"


def test_disrupted_taint_is_added_once() -> None:
    assert disrupted_taints(node()) == [{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}]
    assert disrupted_taints(node(taints=[{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}])) is None
