"""Prometheus metrics shared by every service (served on `/metrics` by the runner)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_PUBLISHED = Counter("bosun_messages_published_total", "Messages published", ["service", "kind"])
MESSAGES_CONSUMED = Counter(
    "bosun_messages_consumed_total", "Messages processed and acked", ["service", "kind"]
)
MESSAGES_RETRIED = Counter(
    "bosun_messages_retried_total", "Messages nak'ed for redelivery", ["service", "kind"]
)
DEAD_LETTERS = Counter(
    "bosun_dead_letters_total", "Messages sent to dead-letter", ["service", "stream", "reason"]
)
LEADER = Gauge("bosun_leader", "1 while this process holds the named lease", ["service", "lease"])
HANDLER_SECONDS = Histogram("bosun_handler_seconds", "Time spent in message handlers", ["service", "kind"])
PLANS_PUBLISHED = Counter(
    "bosun_plans_published_total",
    "Plans a planner published (identical plans are not republished)",
    ["service", "target"],
)
