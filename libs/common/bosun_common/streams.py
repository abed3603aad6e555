"""The bus layout, declared once: streams, KV buckets and subject naming.

Subjects carry the partition key as their last tokens so that replicas can
share work with ordering per key. Keys are escaped to be valid subject tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-:]")


def token(raw: str) -> str:
    """Escape any string into one NATS subject token (reversible, `%XX` escapes)."""
    if raw == "":
        return "%"  # a lone % is never produced by escaping, so it cannot collide
    return _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group(0).encode()), raw)


def untoken(tok: str) -> str:
    """Invert `token`."""
    if tok == "%":
        return ""
    return re.sub(r"(%[0-9A-F]{2})+", lambda m: bytes.fromhex(m.group(0).replace("%", "")).decode(), tok)


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    retention: Literal["limits", "workqueue", "interest"] = "limits"
    max_age_seconds: float = 0.0
    max_msgs_per_subject: int = -1
    max_bytes: int = -1
    duplicate_window_seconds: float = 120.0
    description: str = ""


@dataclass(frozen=True)
class KVSpec:
    bucket: str
    ttl_seconds: float = 0.0
    history: int = 1
    description: str = ""


@dataclass(frozen=True)
class BusLayout:
    streams: tuple[StreamSpec, ...] = field(default_factory=tuple)
    buckets: tuple[KVSpec, ...] = field(default_factory=tuple)


DEAD_LETTER_PREFIX = "deadletter"

STATE = StreamSpec(
    name="STATE",
    subjects=("state.>",),
    max_msgs_per_subject=1,
    description="latest object per key; deletes are tombstones",
)
CHANGES = StreamSpec(
    name="CHANGES",
    subjects=("changes.>",),
    max_age_seconds=24 * 3600,
    max_bytes=1 << 30,
    description="every observed change, for replay and audit",
)
PLANS = StreamSpec(
    name="PLANS",
    subjects=("plans.>",),
    retention="workqueue",
    description="what planners want done, per actuator",
)
OUTCOMES = StreamSpec(
    name="OUTCOMES",
    subjects=("outcomes.>",),
    max_age_seconds=24 * 3600,
    description="what actuators did, with errors",
)
DEAD_LETTERS = StreamSpec(
    name="DEADLETTER",
    subjects=(f"{DEAD_LETTER_PREFIX}.>",),
    max_age_seconds=7 * 24 * 3600,
    description="messages that could not be processed, with the reason",
)

LEASES = KVSpec(bucket="leases", ttl_seconds=10.0, description="leader leases")
CATALOG = KVSpec(bucket="catalog", description="the instance-type catalog")
SCHEMAS = KVSpec(bucket="schemas", description="resolved OpenAPI schemas")
WATCHES = KVSpec(bucket="watches", description="kinds the informer watches beyond its core set")
# Kept a week: far longer than a plan waits in PLANS (a few minutes of retries at most while
# its actuator runs), so a plan older than its subject's fence is always recognised.
PLAN_FENCES = KVSpec(
    bucket="plan-fences",
    ttl_seconds=7 * 24 * 3600,
    description="per plan subject: the last stream sequence an actuator finished, and who runs one now",
)

DEFAULT_LAYOUT = BusLayout(
    streams=(STATE, CHANGES, PLANS, OUTCOMES, DEAD_LETTERS),
    buckets=(LEASES, CATALOG, SCHEMAS, WATCHES, PLAN_FENCES),
)


def object_subject(prefix: str, api_version: str, kind: str, namespace: str | None, name: str) -> str:
    """`<prefix>.<apiVersion>.<kind>.<namespace>.<name>`, each part one escaped token."""
    return ".".join((prefix, token(api_version), token(kind), token(namespace or ""), token(name)))


def dead_letter_subject(original_subject: str) -> str:
    return f"{DEAD_LETTER_PREFIX}.{original_subject}"


# -- plans and outcomes ---------------------------------------------------------
# The k8s-actuator consumes `plans.k8s.>`, the cloud-actuator `plans.cloud.>`.
# The last token is the partition key, so one key's plans stay in order.


def k8s_plan_subject(planner: str, key: str) -> str:
    return f"plans.k8s.{token(planner)}.{token(key)}"


def cloud_plan_subject(key: str) -> str:
    return f"plans.cloud.{token(key)}"


def k8s_outcome_subject(planner: str, key: str) -> str:
    return f"outcomes.k8s.{token(planner)}.{token(key)}"


def cloud_outcome_subject(key: str) -> str:
    return f"outcomes.cloud.{token(key)}"


def state_subject_filter(api_version: str, kind: str) -> str:
    """Every object of one kind in STATE (or CHANGES, with prefix `changes`)."""
    return f"state.{token(api_version)}.{token(kind)}.>"


def openapi_schema_key(api_version: str) -> str:
    """The KV `schemas` key of a group-version's `/openapi/v3` document (gzip JSON, as served)."""
    return f"openapi/{api_version}"
