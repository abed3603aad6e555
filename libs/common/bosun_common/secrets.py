"""Secret data never travels in the clear.

With a key (`BOSUN_SECRET_KEY`, a Fernet key shared by the informer and the
planners that need secret values), each value of a Secret's `data` is
encrypted; without one, it is replaced by its SHA-256 digest, which still lets
planners notice a change but never reveals the value.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

ENCRYPTED_PREFIX = "bosun-enc:v1:"
DIGEST_PREFIX = "sha256:"


def protect_secret(obj: dict[str, Any], key: bytes | None) -> dict[str, Any]:
    """A copy of a Secret with `data` encrypted (or digested) and `stringData` dropped."""
    out = dict(obj)
    out.pop("stringData", None)
    data = obj.get("data") or {}
    fernet = Fernet(key) if key else None
    protected: dict[str, str] = {}
    for name, value in sorted(data.items()):
        raw = base64.b64decode(value or "")
        if fernet is not None:
            protected[name] = ENCRYPTED_PREFIX + fernet.encrypt(raw).decode()
        else:
            protected[name] = DIGEST_PREFIX + hashlib.sha256(raw).hexdigest()
    if data:
        out["data"] = protected
    annotations = dict(out.get("metadata", {}).get("annotations") or {})
    # kubectl keeps the whole manifest, data included, in this annotation.
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if "metadata" in out:
        out["metadata"] = (
            {**out["metadata"], "annotations": annotations}
            if annotations
            else {k: v for k, v in out["metadata"].items() if k != "annotations"}
        )
    return out


def reveal_secret_value(value: str, key: bytes | None) -> str | None:
    """The base64 value a Secret's `data` entry had, or None if it cannot be revealed."""
    if not value.startswith(ENCRYPTED_PREFIX) or key is None:
        return None
    try:
        return base64.b64encode(Fernet(key).decrypt(value.removeprefix(ENCRYPTED_PREFIX).encode())).decode()
    except InvalidToken:
        return None
