"""JSON logs carry the active trace; headers carry W3C trace context."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from bosun_common.telemetry import JsonFormatter, extract_context, inject_headers


def test_json_log_line_has_trace_ids_and_fields() -> None:
    tracer = TracerProvider().get_tracer("t")
    record = logging.LogRecord("bosun.x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.fields = {"key": "default/web"}
    with tracer.start_as_current_span("s") as span:
        line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "hello world"
    assert line["key"] == "default/web"
    assert line["trace_id"] == f"{span.get_span_context().trace_id:032x}"


def test_traceparent_round_trips_through_headers() -> None:
    tracer = TracerProvider().get_tracer("t")
    with tracer.start_as_current_span("s") as span:
        headers = inject_headers({})
    assert headers["traceparent"].split("-")[1] == f"{span.get_span_context().trace_id:032x}"
    ctx = extract_context(headers)
    with tracer.start_as_current_span("child", context=ctx) as child:
        assert child.get_span_context().trace_id == span.get_span_context().trace_id
