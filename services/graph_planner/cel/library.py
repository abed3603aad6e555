"""kro's own CEL functions: hash, json, random (seeded), maps, lists, runtime."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from graph_planner.cel.declare import DYN_LIST, DYN_MAP, STR_MAP, Fn, T
from graph_planner.cel.limits import MAX_LIST_ITEMS, MAX_STRING_BYTES, LimitError

ALPHANUMERIC = "0123456789abcdefghijklmnopqrstuvwxyz"


def _fnv64a(data: str) -> bytes:
    value = 0xCBF29CE484222325
    for byte in data.encode():
        value ^= byte
        value = (value * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value.to_bytes(8, "big")


def seeded_string(length: int, seed: str) -> str:
    """Deterministic alphanumeric string: characters picked from sha256(seed), 4 bytes each."""
    if length <= 0:
        raise ValueError("random.seededString length must be positive")
    if length > MAX_STRING_BYTES:
        raise LimitError(f"random.seededString length {length} is over {MAX_STRING_BYTES}")
    digest = hashlib.sha256(seed.encode()).digest()
    chars = []
    for index in range(length):
        start = (index * 4) % len(digest)
        number = int.from_bytes(digest[start : start + 4], "big")
        chars.append(ALPHANUMERIC[number % len(ALPHANUMERIC)])
    return "".join(chars)


def seeded_int(low: int, high: int, seed: str) -> int:
    """Deterministic integer in [low, high) from the first 8 bytes of sha256(seed)."""
    if low >= high:
        raise ValueError("random.seededInt min must be less than max")
    number = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    return low + number % (high - low)


def json_unmarshal(text: str) -> Any:
    if len(text) > MAX_STRING_BYTES:
        raise LimitError("json.unmarshal input is too large")
    return json.loads(text)


def json_marshal(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        import base64

        return base64.b64encode(bytes(value)).decode()
    return str(value)


def merge(left: dict[Any, Any], right: dict[Any, Any]) -> dict[Any, Any]:
    """`a.merge(b)`: keys of `a` win."""
    result = dict(right)
    result.update(left)
    return result


def deep_merge(left: dict[Any, Any], right: dict[Any, Any]) -> dict[Any, Any]:
    """`a.deepMerge(b)`: nested maps merged recursively; values of `a` win."""
    result = dict(right)
    for key, value in left.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(value, result[key])
        else:
            result[key] = value
    return result


def _index(items: list[Any], index: int, allow_end: bool) -> int:
    limit = len(items) + (1 if allow_end else 0)
    if index < 0 or index >= limit:
        raise IndexError(f"index {index} out of range for a list of {len(items)}")
    return index


def set_at_index(items: list[Any], index: int, value: Any) -> list[Any]:
    result = list(items)
    result[_index(items, index, False)] = value
    return result


def insert_at_index(items: list[Any], index: int, value: Any) -> list[Any]:
    if len(items) >= MAX_LIST_ITEMS:
        raise LimitError("list too large")
    result = list(items)
    result.insert(_index(items, index, True), value)
    return result


def remove_at_index(items: list[Any], index: int) -> list[Any]:
    result = list(items)
    del result[_index(items, index, False)]
    return result


CONDITION_KEYS = ("type", "status", "reason", "message")


def new_condition(_runtime: Any, fields: dict[str, Any]) -> dict[str, str]:
    unknown = sorted(set(fields) - set(CONDITION_KEYS))
    if unknown:
        raise ValueError(f"runtime.newCondition: unknown key {unknown[0]!r}")
    if not fields.get("type"):
        raise ValueError("runtime.newCondition: 'type' is required")
    if fields.get("status") not in ("True", "False", "Unknown"):
        raise ValueError("runtime.newCondition: status must be one of True, False, Unknown")
    return {key: str(fields.get(key, "")) for key in CONDITION_KEYS}


def find_condition(_runtime: Any, obj: Any, wanted: str) -> dict[str, str]:
    conditions = ((obj or {}).get("status") or {}).get("conditions") or [] if isinstance(obj, dict) else []
    for condition in conditions:
        if isinstance(condition, dict) and condition.get("type") == wanted:
            return {key: str(condition.get(key, "")) for key in CONDITION_KEYS}
    return dict.fromkeys(CONDITION_KEYS, "")


OMIT: dict[str, Any] = {"@type": "omit", "value": True}
"""What `omit()` evaluates to: the renderer drops a field whose value is this."""


KRO_FUNCTIONS = [
    Fn("omit", "omit_field", T.DYN, [], lambda: dict(OMIT)),
    Fn("hash.fnv64a", "hash_fnv64a_string", T.BYTES, [T.STRING], _fnv64a),
    Fn(
        "hash.sha256",
        "hash_sha256_string",
        T.BYTES,
        [T.STRING],
        lambda s: hashlib.sha256(s.encode()).digest(),
    ),
    Fn("hash.md5", "hash_md5_string", T.BYTES, [T.STRING], lambda s: hashlib.md5(s.encode()).digest()),
    Fn("json.marshal", "json_marshal_dyn", T.STRING, [T.DYN], json_marshal),
    Fn("json.unmarshal", "json_unmarshal_string", T.DYN, [T.STRING], json_unmarshal),
    Fn("random.seededString", "random_seeded_string", T.STRING, [T.INT, T.STRING], seeded_string),
    Fn("random.seededInt", "random_seeded_int", T.INT, [T.INT, T.INT, T.STRING], seeded_int),
    Fn("merge", "map_merge", DYN_MAP, [DYN_MAP, DYN_MAP], merge, member=True),
    Fn("deepMerge", "map_deep_merge", DYN_MAP, [DYN_MAP, DYN_MAP], deep_merge, member=True),
    Fn("map.merge", "map_merge_global", DYN_MAP, [DYN_MAP, DYN_MAP], merge),
    Fn("map.deepMerge", "map_deep_merge_global", DYN_MAP, [DYN_MAP, DYN_MAP], deep_merge),
    Fn("lists.setAtIndex", "lists_set_at_index", DYN_LIST, [DYN_LIST, T.INT, T.DYN], set_at_index),
    Fn("lists.insertAtIndex", "lists_insert_at_index", DYN_LIST, [DYN_LIST, T.INT, T.DYN], insert_at_index),
    Fn("lists.removeAtIndex", "lists_remove_at_index", DYN_LIST, [DYN_LIST, T.INT], remove_at_index),
    Fn("newCondition", "runtime_new_condition", STR_MAP, [T.DYN, DYN_MAP], new_condition, member=True),
    Fn("condition", "runtime_condition", STR_MAP, [T.DYN, T.DYN, T.STRING], find_condition, member=True),
]
