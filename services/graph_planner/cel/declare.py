"""A tiny helper to declare CEL functions backed by Python callables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel

T = cel.Type
DYN_MAP = T.Map(T.STRING, T.DYN)
DYN_LIST = T.List(T.DYN)
STR_MAP = T.Map(T.STRING, T.STRING)


@dataclass(frozen=True)
class Fn:
    """One overload: `name(params) -> result`, a member function when `member`."""

    name: str
    overload_id: str
    result: Any
    params: Sequence[Any]
    impl: Callable[..., Any]
    member: bool = False


# The C++ runtime dispatches on the runtime kind of each argument and never matches a
# `dyn` parameter, so a dyn parameter is declared once per kind a value can have.
RUNTIME_KINDS = (
    ("map", T.Map(T.DYN, T.DYN)),
    ("list", T.List(T.DYN)),
    ("string", T.STRING),
    ("int", T.INT),
    ("uint", T.UINT),
    ("double", T.DOUBLE),
    ("bool", T.BOOL),
    ("bytes", T.BYTES),
    ("null", T.NULL),
)


def _expand(params: Sequence[Any]) -> list[tuple[str, list[Any]]]:
    """Every concrete parameter list for `params`, with an overload-id suffix."""
    combos: list[tuple[str, list[Any]]] = [("", [])]
    for param in params:
        if param == T.DYN:
            combos = [
                (suffix + "_" + name, [*types, kind])
                for suffix, types in combos
                for name, kind in RUNTIME_KINDS
            ]
        else:
            combos = [(suffix, [*types, param]) for suffix, types in combos]
    return combos


def to_decls(functions: Sequence[Fn]) -> list[Any]:
    """Group overloads by name into cel.FunctionDecls (dyn parameters expanded per kind)."""
    by_name: dict[str, list[Any]] = {}
    for fn in functions:
        for suffix, params in _expand(fn.params):
            by_name.setdefault(fn.name, []).append(
                cel.Overload(fn.overload_id + suffix, fn.result, params, is_member=fn.member, impl=fn.impl)
            )
    return [cel.FunctionDecl(name, overloads) for name, overloads in by_name.items()]


def opaque(kind: str, value: Any) -> dict[str, Any]:
    """Opaque library values (quantity, url, ip, cidr, semver) travel as tagged maps."""
    return {"@type": kind, "value": value}


def opaque_value(arg: Any, kind: str) -> Any:
    if isinstance(arg, dict) and arg.get("@type") == kind:
        return arg["value"]
    raise ValueError(f"expected a {kind}, got {type(arg).__name__}")


def opaque_kind(arg: Any) -> str:
    if isinstance(arg, dict) and isinstance(arg.get("@type"), str) and "value" in arg and len(arg) == 2:
        return str(arg["@type"])
    return ""


def unwrap_opaque(value: Any) -> Any:
    """Replace tagged opaque values by their string form, recursively (for rendered objects)."""
    if isinstance(value, dict):
        kind = opaque_kind(value)
        if kind == "omit":
            return value
        if kind:
            return str(value["value"]) if kind != "semver" else ".".join(map(str, value["value"][:3]))
        return {k: unwrap_opaque(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_opaque(v) for v in value]
    return value
