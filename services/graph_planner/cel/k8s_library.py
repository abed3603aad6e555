"""The Kubernetes CEL libraries (quantity, url, regex, ip/cidr, lists, semver) and cel-go list extensions.

Opaque values (quantity, url, ip, cidr, semver) are tagged maps (see `declare.opaque`);
each member function takes DYN receivers and dispatches on the tag, because the
C++ runtime registers overloads by argument kind, not by declared type.
List `indexOf`, `lastIndexOf` and `reverse` are not available: the strings
extension already declares those names and a name cannot be declared twice.
"""

from __future__ import annotations

import ipaddress
import re
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

from bosun_common.quantity import parse_quantity_exact
from graph_planner.cel.declare import DYN_LIST, DYN_MAP, Fn, T, opaque, opaque_kind, opaque_value
from graph_planner.cel.limits import MAX_LIST_ITEMS, MAX_REGEX_LENGTH, MAX_STRING_BYTES, LimitError

# -- quantity ---------------------------------------------------------------
parse_quantity = parse_quantity_exact


def _q(arg: Any) -> Fraction:
    if isinstance(arg, int):
        return Fraction(arg)
    return parse_quantity(str(opaque_value(arg, "quantity")))


def _qty(value: Fraction) -> dict[str, Any]:
    text = str(value.numerator) if value.denominator == 1 else f"{float(value)!r}"
    return opaque("quantity", text)


def _is_valid(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _cmp(left: Any, right: Any) -> int:
    kind = opaque_kind(left)
    if kind == "quantity":
        a, b = _q(left), _q(right)
        return (a > b) - (a < b)
    if kind == "semver":
        x, y = _semver_key(opaque_value(left, "semver")), _semver_key(opaque_value(right, "semver"))
        return (x > y) - (x < y)
    raise ValueError(f"cannot compare {kind or type(left).__name__}")


# -- semver -----------------------------------------------------------------
_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


def parse_semver(text: str) -> list[Any]:
    match = _SEMVER.match(text)
    if not match:
        raise ValueError(f"invalid semver {text!r}")
    return [int(match.group(1)), int(match.group(2)), int(match.group(3)), match.group(4) or ""]


def _semver_key(parts: list[Any]) -> tuple[int, int, int, int, str]:
    return (parts[0], parts[1], parts[2], 0 if parts[3] else 1, parts[3])


# -- url --------------------------------------------------------------------
def parse_url(text: str) -> dict[str, Any]:
    parts = urlsplit(text)
    if not parts.scheme and not text.startswith("/"):
        raise ValueError(f"invalid url {text!r}")
    return opaque("url", text)


def _url_part(arg: Any, part: str) -> str:
    parts = urlsplit(str(opaque_value(arg, "url")))
    if part == "scheme":
        return parts.scheme
    if part == "host":
        return parts.netloc.rsplit("@", 1)[-1]
    if part == "hostname":
        return parts.hostname or ""
    if part == "port":
        return str(parts.port or "")
    if part == "path":
        return parts.path
    raise ValueError(part)


def _url_query(arg: Any) -> dict[str, list[str]]:
    from urllib.parse import parse_qs

    return {k: v for k, v in parse_qs(urlsplit(str(opaque_value(arg, "url"))).query).items()}


# -- regex ------------------------------------------------------------------
def _regex(pattern: str, text: str) -> re.Pattern[str]:
    if len(pattern) > MAX_REGEX_LENGTH or len(text) > MAX_STRING_BYTES:
        raise LimitError("regex pattern or input too large")
    return re.compile(pattern)


def find(text: str, pattern: str) -> str:
    match = _regex(pattern, text).search(text)
    return match.group(0) if match else ""


def find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    found = [m.group(0) for m in _regex(pattern, text).finditer(text)]
    return found if limit < 0 else found[:limit]


# -- ip / cidr --------------------------------------------------------------
def parse_ip(text: str) -> dict[str, Any]:
    if "/" in text or "%" in text:
        raise ValueError(f"invalid ip {text!r}")
    return opaque("ip", str(ipaddress.ip_address(text)))


def parse_cidr(text: str) -> dict[str, Any]:
    ipaddress.ip_interface(text)
    return opaque("cidr", text)


def _ip(arg: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(arg, str):
        return ipaddress.ip_address(arg)
    return ipaddress.ip_address(str(opaque_value(arg, "ip")))


def _cidr(arg: Any) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    if isinstance(arg, str):
        return ipaddress.ip_interface(arg)
    return ipaddress.ip_interface(str(opaque_value(arg, "cidr")))


def contains_ip(cidr: Any, ip: Any) -> bool:
    return _ip(ip) in _cidr(cidr).network


def contains_cidr(cidr: Any, other: Any) -> bool:
    inner = _cidr(other).network
    outer = _cidr(cidr).network
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


# -- lists ------------------------------------------------------------------
def _number_list(items: list[Any]) -> list[Any]:
    if not items:
        raise ValueError("empty list")
    return items


def list_sum(items: list[Any]) -> Any:
    if items and opaque_kind(items[0]) == "quantity":
        return _qty(sum((_q(i) for i in items), Fraction(0)))
    return sum(items) if items else 0


def is_sorted(items: list[Any]) -> bool:
    return all(items[i] <= items[i + 1] for i in range(len(items) - 1))


def list_range(count: int) -> list[int]:
    if count > MAX_LIST_ITEMS:
        raise LimitError(f"lists.range({count}) is over {MAX_LIST_ITEMS} items")
    return list(range(count))


def flatten(items: list[Any], depth: int = 1) -> list[Any]:
    result: list[Any] = []
    for item in items:
        if isinstance(item, list) and depth > 0:
            result.extend(flatten(item, depth - 1))
        else:
            result.append(item)
    return result


def distinct(items: list[Any]) -> list[Any]:
    result: list[Any] = []
    for item in items:
        if item not in result:
            result.append(item)
    return result


def slice_list(items: list[Any], start: int, end: int) -> list[Any]:
    if start < 0 or end < start or end > len(items):
        raise IndexError(f"slice({start}, {end}) out of range for a list of {len(items)}")
    return items[start:end]


def _method(name: str, oid: str, result: Any, params: list[Any], impl: Any) -> Fn:
    return Fn(name, oid, result, params, impl, member=True)


K8S_FUNCTIONS = [
    Fn(
        "quantity",
        "quantity_string",
        DYN_MAP,
        [T.STRING],
        lambda s: opaque("quantity", str(s).strip()) if parse_quantity(s) is not None else None,
    ),
    Fn("isQuantity", "is_quantity_string", T.BOOL, [T.STRING], lambda s: _is_valid(parse_quantity, s)),
    _method("isLessThan", "opaque_is_less_than", T.BOOL, [T.DYN, T.DYN], lambda a, b: _cmp(a, b) < 0),
    _method("isGreaterThan", "opaque_is_greater_than", T.BOOL, [T.DYN, T.DYN], lambda a, b: _cmp(a, b) > 0),
    _method("compareTo", "opaque_compare_to", T.INT, [T.DYN, T.DYN], _cmp),
    _method("add", "quantity_add", DYN_MAP, [T.DYN, T.DYN], lambda a, b: _qty(_q(a) + _q(b))),
    _method("sub", "quantity_sub", DYN_MAP, [T.DYN, T.DYN], lambda a, b: _qty(_q(a) - _q(b))),
    _method("asInteger", "quantity_as_integer", T.INT, [T.DYN], lambda a: int(_q(a))),
    _method("asApproximateFloat", "quantity_as_float", T.DOUBLE, [T.DYN], lambda a: float(_q(a))),
    _method("isInteger", "quantity_is_integer", T.BOOL, [T.DYN], lambda a: _q(a).denominator == 1),
    _method("sign", "quantity_sign", T.INT, [T.DYN], lambda a: (_q(a) > 0) - (_q(a) < 0)),
    Fn("semver", "semver_string", DYN_MAP, [T.STRING], lambda s: opaque("semver", parse_semver(s))),
    Fn("isSemver", "is_semver_string", T.BOOL, [T.STRING], lambda s: _is_valid(parse_semver, s)),
    _method("major", "semver_major", T.INT, [T.DYN], lambda v: opaque_value(v, "semver")[0]),
    _method("minor", "semver_minor", T.INT, [T.DYN], lambda v: opaque_value(v, "semver")[1]),
    _method("patch", "semver_patch", T.INT, [T.DYN], lambda v: opaque_value(v, "semver")[2]),
    Fn("url", "url_string", DYN_MAP, [T.STRING], parse_url),
    Fn("isURL", "is_url_string", T.BOOL, [T.STRING], lambda s: _is_valid(parse_url, s)),
    _method("getScheme", "url_scheme", T.STRING, [T.DYN], lambda u: _url_part(u, "scheme")),
    _method("getHost", "url_host", T.STRING, [T.DYN], lambda u: _url_part(u, "host")),
    _method("getHostname", "url_hostname", T.STRING, [T.DYN], lambda u: _url_part(u, "hostname")),
    _method("getPort", "url_port", T.STRING, [T.DYN], lambda u: _url_part(u, "port")),
    _method("getEscapedPath", "url_path", T.STRING, [T.DYN], lambda u: _url_part(u, "path")),
    _method("getQuery", "url_query", T.Map(T.STRING, T.List(T.STRING)), [T.DYN], _url_query),
    _method("find", "string_find", T.STRING, [T.STRING, T.STRING], find),
    _method("findAll", "string_find_all", T.List(T.STRING), [T.STRING, T.STRING], find_all),
    _method("findAll", "string_find_all_n", T.List(T.STRING), [T.STRING, T.STRING, T.INT], find_all),
    Fn("ip", "ip_string", DYN_MAP, [T.STRING], parse_ip),
    Fn("isIP", "is_ip_string", T.BOOL, [T.STRING], lambda s: _is_valid(parse_ip, s)),
    Fn("cidr", "cidr_string", DYN_MAP, [T.STRING], parse_cidr),
    Fn("isCIDR", "is_cidr_string", T.BOOL, [T.STRING], lambda s: _is_valid(parse_cidr, s)),
    _method("family", "ip_family", T.INT, [T.DYN], lambda i: _ip(i).version),
    _method("isLoopback", "ip_is_loopback", T.BOOL, [T.DYN], lambda i: _ip(i).is_loopback),
    _method("isUnspecified", "ip_is_unspecified", T.BOOL, [T.DYN], lambda i: _ip(i).is_unspecified),
    _method("containsIP", "cidr_contains_ip", T.BOOL, [T.DYN, T.DYN], contains_ip),
    _method("containsCIDR", "cidr_contains_cidr", T.BOOL, [T.DYN, T.DYN], contains_cidr),
    _method("prefixLength", "cidr_prefix_length", T.INT, [T.DYN], lambda c: _cidr(c).network.prefixlen),
    _method("masked", "cidr_masked", DYN_MAP, [T.DYN], lambda c: opaque("cidr", str(_cidr(c).network))),
    _method("sum", "list_sum", T.DYN, [DYN_LIST], list_sum),
    _method("min", "list_min", T.DYN, [DYN_LIST], lambda items: min(_number_list(items))),
    _method("max", "list_max", T.DYN, [DYN_LIST], lambda items: max(_number_list(items))),
    _method("isSorted", "list_is_sorted", T.BOOL, [DYN_LIST], is_sorted),
    _method("slice", "list_slice", DYN_LIST, [DYN_LIST, T.INT, T.INT], slice_list),
    _method("flatten", "list_flatten", DYN_LIST, [DYN_LIST], flatten),
    _method("flatten", "list_flatten_depth", DYN_LIST, [DYN_LIST, T.INT], flatten),
    _method("distinct", "list_distinct", DYN_LIST, [DYN_LIST], distinct),
    _method("sort", "list_sort", DYN_LIST, [DYN_LIST], sorted),
    Fn("lists.range", "lists_range_int", T.List(T.INT), [T.INT], list_range),
]
