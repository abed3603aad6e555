"""Who may publish where on the bus: one NATS user per service, as DESIGN.md lays out.

Only the informer writes STATE and CHANGES; only planners (and the cloud-actuator,
whose sim provider registers nodes) write plans, each under its own name; only
actuators write outcomes. Everyone may use the JetStream API (consumers, acks,
flow control), dead-letter, and replies on `_INBOX`. The JetStream API is coarse:
a user allowed `$JS.API.>` could also manage streams, so production overlays
provision streams with an admin user and may narrow `$JS.API` further.
"""

from __future__ import annotations

from dataclasses import dataclass

COMMON_PUBLISH = ("$JS.API.>", "$JS.ACK.>", "$JS.FC.>", "deadletter.>", "_INBOX.>")
COMMON_SUBSCRIBE = ("_INBOX.>",)


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...] = COMMON_SUBSCRIBE


SERVICE_PERMISSIONS: dict[str, Permissions] = {
    "informer": Permissions(publish=("state.>", "changes.>", "$KV.schemas.>", "$KV.watches.>")),
    "graph-planner": Permissions(
        publish=("plans.k8s.graph-planner.>", "$KV.watches.>", "$KV.members-graph-planner.>")
    ),
    "node-planner": Permissions(publish=("plans.k8s.node-planner.>", "plans.cloud.>", "$KV.leases.>")),
    "k8s-actuator": Permissions(publish=("outcomes.k8s.>", "$KV.plan-fences.>")),
    "cloud-actuator": Permissions(
        publish=(
            "outcomes.cloud.>",
            "plans.k8s.cloud-actuator.>",
            "$KV.catalog.>",
            "$KV.sim-instances.>",
            "$KV.leases.>",
            "$KV.plan-fences.>",
        )
    ),
}


def allowed_publish(service: str) -> tuple[str, ...]:
    return (*SERVICE_PERMISSIONS[service].publish, *COMMON_PUBLISH)
