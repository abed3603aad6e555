"""End to end: one change is followed by a single trace across the informer, the graph-planner
and the k8s-actuator. Each service exports over OTLP/HTTP (configured only by the standard
OTEL_* variables) to a receiver in this test that keeps the spans in memory."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from bosun_common.kube import KubeClient
from bosun_devstack.procs import free_port
from tests.integration.conftest import ServiceProcess
from tests.integration.e2e.test_kro_invalid import configmap, graph_accepted, rgd
from tests.integration.e2e.test_kro_webapp import until


@dataclass
class SpanSink:
    """trace id -> [(service.name, span name)]"""

    traces: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, request: ExportTraceServiceRequest) -> None:
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            service = attributes.get("service.name", "?")
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.traces[span.trace_id.hex()].append((service, span.name))


@pytest.fixture
async def otlp_receiver() -> AsyncIterator[tuple[str, SpanSink]]:
    sink = SpanSink()

    async def export(request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        sink.add(message)
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    app = web.Application()
    app.router.add_post("/v1/traces", export)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", sink
    await runner.cleanup()


async def test_a_change_is_one_trace_across_three_services(
    kube: KubeClient,
    crds: list[str],
    services: Callable[..., ServiceProcess],
    otlp_receiver: tuple[str, SpanSink],
    unique: str,
) -> None:
    endpoint, sink = otlp_receiver
    otel = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    services("informer", **otel)
    services("graph_planner", **otel)
    services("k8s_actuator", **otel)

    kind = f"Traced{unique.capitalize()}"
    await kube.apply(
        rgd(f"traced-{unique}", kind, [configmap("cm", "${schema.spec.name}")]), field_manager="kubectl"
    )
    await until(lambda: graph_accepted(kube, f"traced-{unique}"), what="the RGD to be accepted")
    await asyncio.sleep(1.0)  # let the planner follow the new kind before the change we trace
    await kube.apply(
        {
            "apiVersion": "kro.run/v1alpha1",
            "kind": kind,
            "metadata": {"name": "one", "namespace": "default"},
            "spec": {"name": f"traced-{unique}"},
        },
        field_manager="kubectl",
    )

    async def one_trace_through_all() -> list[tuple[str, str]] | None:
        for spans in sink.traces.values():
            names = {service for service, _ in spans}
            # Spans are exported as each one ends: the actuator's publish (a child) can arrive
            # before the process span that encloses it, so wait for the enclosing ones too.
            if {"informer", "graph-planner", "k8s-actuator"} <= names and {
                "plan instance",
                "process KubePlan",
            } <= {name for _, name in spans}:
                return spans
        return None

    spans = await until(one_trace_through_all, timeout=60, what="a trace spanning the three services")
    by_service = {service: sorted({name for s, name in spans if s == service}) for service, _ in spans}
    # The trace starts where the informer observed the instance (its creation or a later change).
    assert any(n.startswith("observe ") and n.endswith(kind) for n in by_service["informer"]), by_service
    assert "plan instance" in by_service["graph-planner"]
    assert "process KubePlan" in by_service["k8s-actuator"]
