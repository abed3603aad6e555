"""NATS with one user per service and TLS: a service publishes only where DESIGN.md says."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import nats
import pytest
from nats.errors import NoServersError

from bosun_common.bus import Bus
from bosun_common.codec import decode
from bosun_common.kube_plans import ApplyObject, KubePlan
from bosun_common.messages import KubePlanMessage, ObjectChange, Outcome
from bosun_common.streams import k8s_outcome_subject, k8s_plan_subject
from bosun_devstack.nats_security import ADMIN, NatsSecurity
from bosun_devstack.nats_server import NatsServer
from bosun_devstack.stack import LocalStack
from tests.integration.conftest import ServiceProcess


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NatsServer, NatsSecurity]]:
    workdir = tmp_path_factory.mktemp("secure-nats")
    security = NatsSecurity.generate(workdir / "pki", tls=True)
    server = NatsServer(workdir, config_file=security.write(workdir / "nats.conf")).start()
    yield server, security
    server.stop()


def tls_context(security: NatsSecurity) -> ssl.SSLContext:
    assert security.ca is not None
    return ssl.create_default_context(cafile=str(security.ca.cert))


async def connect(server: NatsServer, security: NatsSecurity, user: str) -> Bus:
    return await Bus.connect(
        server.url, service=user, tls=tls_context(security), user=user, password=security.passwords[user]
    )


async def test_a_forbidden_publish_is_refused(secured: tuple[NatsServer, NatsSecurity]) -> None:
    server, security = secured
    admin = await connect(server, security, ADMIN)
    await admin.provision()
    planner = await connect(server, security, "graph-planner")
    plan = KubePlanMessage(plan=KubePlan(key="k", planner="graph-planner"))
    ack = await planner.publish(k8s_plan_subject("graph-planner", "k"), plan, key="k")
    assert ack.stream == "PLANS"

    # The graph-planner may not write STATE (only the informer may), nor another planner's plans.
    change = ObjectChange(type="ADDED", apiVersion="v1", kind="Pod", name="forged")
    for subject in (
        "state.v1.Pod.%.forged",
        "changes.v1.Pod.%.forged",
        k8s_plan_subject("node-planner", "k"),
    ):
        with pytest.raises(Exception) as refused:
            await planner.publish(subject, change, key="forged", timeout=1.0)
        assert refused.type.__name__ in ("NoRespondersError", "TimeoutError", "NoStreamResponseError")
    info = await admin.js.stream_info("STATE", subjects_filter="state.v1.Pod.>")
    assert info.state.messages == 0  # nothing forged got in
    assert "permissions violation for publish" in str(planner.nc.last_error).lower()
    for bus in (admin, planner):
        await bus.close()


async def test_tls_is_required(secured: tuple[NatsServer, NatsSecurity]) -> None:
    server, security = secured
    with pytest.raises((NoServersError, ssl.SSLError, OSError, Exception)):
        await nats.connect(
            server.url,
            user="informer",
            password=security.passwords["informer"],
            allow_reconnect=False,
            connect_timeout=2,
            max_reconnect_attempts=0,
        )
    ok = await connect(server, security, "informer")
    assert ok.nc.is_connected
    await ok.close()


async def test_the_k8s_actuator_works_under_its_own_user(
    secured: tuple[NatsServer, NatsSecurity], stack: LocalStack, tmp_path: Path, unique: str
) -> None:
    server, security = secured
    assert security.ca is not None
    admin = await connect(server, security, ADMIN)
    await admin.provision()
    actuator = ServiceProcess(
        "k8s_actuator",
        {
            **stack.env(),
            "NATS_URL": server.url,
            "BOSUN_NATS_USER": "k8s-actuator",
            "BOSUN_NATS_PASSWORD": security.passwords["k8s-actuator"],
            "BOSUN_NATS_TLS_CA": str(security.ca.cert),
            "BOSUN_PROVISION": "false",
        },
        tmp_path,
    ).start()
    planner = await connect(server, security, "graph-planner")
    outcomes = await admin.js.subscribe(
        k8s_outcome_subject("graph-planner", unique), stream="OUTCOMES", ordered_consumer=True
    )
    try:
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"sec-{unique}", "namespace": "default"},
        }
        await planner.publish(
            k8s_plan_subject("graph-planner", unique),
            KubePlanMessage(
                plan=KubePlan(
                    key=unique,
                    planner="graph-planner",
                    actions=[ApplyObject(object=cm, fieldManager="tests")],
                )
            ),
            key=unique,
        )
        outcome = decode((await outcomes.next_msg(timeout=30)).data)[1]
        assert isinstance(outcome, Outcome) and outcome.ok, outcome
    finally:
        actuator.stop()
        await outcomes.unsubscribe()
        for bus in (admin, planner):
            await bus.close()
