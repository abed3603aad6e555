"""The wire format: a versioned envelope around a pydantic model, packed with msgpack.

Every message on the bus is an `Envelope` whose `data` is one registered model.
A reader that gets bytes it cannot decode, an unknown kind, or a schema version
it does not speak raises `DecodeError` with the reason; the bus sends those to
the dead-letter subject.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, TypeVar

import msgpack
from pydantic import BaseModel, Field, ValidationError


class Message(BaseModel):
    """Base for every bus message. Subclasses set KIND and SCHEMA_VERSION."""

    KIND: ClassVar[str] = ""
    SCHEMA_VERSION: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("KIND"):
            _REGISTRY[cls.KIND] = cls


_REGISTRY: dict[str, type[Message]] = {}
M = TypeVar("M", bound=Message)


class Envelope(BaseModel):
    """What travels: schema version, kind, partition key, time, trace context, payload."""

    v: int
    kind: str
    key: str
    time: dt.datetime
    id: str
    traceparent: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class DecodeError(Exception):
    """Bytes that are not a message this reader understands; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode(envelope: Envelope) -> bytes:
    packed: bytes = msgpack.packb(envelope.model_dump(mode="json"), use_bin_type=True)
    return packed


def wrap(message: Message, *, key: str, msg_id: str, now: dt.datetime, traceparent: str | None) -> Envelope:
    return Envelope(
        v=message.SCHEMA_VERSION,
        kind=message.KIND,
        key=key,
        time=now,
        id=msg_id,
        traceparent=traceparent,
        data=message.model_dump(mode="json"),
    )


def decode(payload: bytes) -> tuple[Envelope, Message]:
    """Decode bytes into the envelope and its typed message, or raise DecodeError."""
    try:
        raw = msgpack.unpackb(payload, raw=False)
    except Exception as exc:
        raise DecodeError(f"not msgpack: {exc.__class__.__name__}: {exc}") from None
    if not isinstance(raw, dict):
        raise DecodeError(f"envelope must be a map, got {type(raw).__name__}")
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as exc:
        raise DecodeError(f"bad envelope: {_first_error(exc)}") from None
    model = _REGISTRY.get(envelope.kind)
    if model is None:
        raise DecodeError(f"unknown message kind {envelope.kind!r}")
    if envelope.v != model.SCHEMA_VERSION:
        raise DecodeError(
            f"unsupported schema version {envelope.v} for kind {envelope.kind!r} "
            f"(this reader speaks version {model.SCHEMA_VERSION})"
        )
    try:
        message = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise DecodeError(f"bad {envelope.kind} payload: {_first_error(exc)}") from None
    return envelope, message


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "<root>"
    return f"{loc}: {err['msg']} ({exc.error_count()} error(s))"


def registered_kinds() -> dict[str, type[Message]]:
    return dict(_REGISTRY)
