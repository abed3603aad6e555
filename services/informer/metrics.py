"""The informer's metrics."""

from prometheus_client import Counter, Gauge

EVENTS = Counter("bosun_informer_events_total", "Watch events published", ["kind", "type"])
WATCHED_KINDS = Gauge("bosun_informer_watched_kinds", "Kinds being watched")
