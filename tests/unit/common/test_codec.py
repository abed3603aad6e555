"""The wire format: round trips, and a precise reason for everything it refuses."""

from __future__ import annotations

import contextlib
import datetime as dt

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bosun_common.codec import DecodeError, Envelope, decode, encode, registered_kinds, wrap
from bosun_common.kube_plans import ApplyObject, DeleteObject, KubePlan, ObjectRef
from bosun_common.messages import KubePlanMessage, ObjectChange

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)


def roundtrip(message):  # type: ignore[no-untyped-def]
    envelope = wrap(
        message, key="k", msg_id="id-1", now=NOW, traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    )
    return decode(encode(envelope))


def test_round_trip_keeps_the_envelope_and_the_typed_message() -> None:
    plan = KubePlan(
        key="default/web",
        planner="graph-planner",
        actions=[
            ApplyObject(
                object={"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}},
                fieldManager="kro",
            ),
            DeleteObject(
                ref=ObjectRef(apiVersion="v1", kind="Service", name="old", namespace="default", uid="u1")
            ),
        ],
    )
    envelope, message = roundtrip(KubePlanMessage(plan=plan))
    assert message == KubePlanMessage(plan=plan)
    assert (envelope.v, envelope.kind, envelope.key, envelope.id, envelope.time) == (
        1,
        "KubePlan",
        "k",
        "id-1",
        NOW,
    )
    assert envelope.traceparent is not None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xc1", "not msgpack"),
        (msgpack.packb([1, 2]), "envelope must be a map, got list"),
        (msgpack.packb({"v": 1, "kind": "ObjectChange"}), "bad envelope: key: Field required"),
        (
            msgpack.packb(
                {"v": 1, "kind": "Nope", "key": "k", "time": NOW.isoformat(), "id": "i", "data": {}}
            ),
            "unknown message kind 'Nope'",
        ),
        (
            msgpack.packb(
                {"v": 2, "kind": "ObjectChange", "key": "k", "time": NOW.isoformat(), "id": "i", "data": {}}
            ),
            "unsupported schema version 2 for kind 'ObjectChange' (this reader speaks version 1)",
        ),
        (
            msgpack.packb(
                {
                    "v": 1,
                    "kind": "ObjectChange",
                    "key": "k",
                    "time": NOW.isoformat(),
                    "id": "i",
                    "data": {"type": "X"},
                }
            ),
            "bad ObjectChange payload: type: Input should be 'ADDED', 'MODIFIED' or 'DELETED'",
        ),
    ],
)
def test_refusals_name_the_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        decode(payload)
    assert err.value.reason.startswith(reason)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_decode_error_only(payload: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode(payload)


@given(name=st.text(max_size=40), namespace=st.one_of(st.none(), st.text(max_size=20)))
def test_object_change_round_trips(name: str, namespace: str | None) -> None:
    change = ObjectChange(
        type="MODIFIED", apiVersion="apps/v1", kind="Deployment", namespace=namespace, name=name
    )
    assert roundtrip(change)[1] == change


def test_every_message_kind_is_registered() -> None:
    assert {"ObjectState", "ObjectChange", "KubePlan", "Outcome", "DeadLetter"} <= set(registered_kinds())
    assert Envelope.model_fields.keys() >= {"v", "kind", "key", "time", "id", "traceparent", "data"}
