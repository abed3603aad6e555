"""Read a checked expression (`cel.expr.CheckedExpr` in a `google.protobuf.Any`) without its .proto.

`Expression.serialize()` returns the Any's wire bytes. Only two things are read:
the identifiers the expression references (from `reference_map`: their `name`),
which are the expression's dependencies, and the AST's shape (node count,
comprehension nesting), which the limits need. Protobuf's wire format is
simple enough to walk by hand for this.
"""

from __future__ import annotations

from dataclasses import dataclass

# cel.expr field numbers.
CHECKED_REFERENCE_MAP = 2
CHECKED_EXPR = 4
REFERENCE_NAME = 1
REFERENCE_OVERLOAD = 3


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, int, bytes | int]]:
    """Top-level (field number, wire type, value) triples of one message."""
    out: list[tuple[int, int, bytes | int]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, wire, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((number, wire, data[pos : pos + length]))
            pos += length
        elif wire == 1:
            out.append((number, wire, data[pos : pos + 8]))
            pos += 8
        elif wire == 5:
            out.append((number, wire, data[pos : pos + 4]))
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return out


@dataclass(frozen=True)
class ExpressionFacts:
    identifiers: frozenset[str]
    nodes: int
    comprehension_depth: int


def _messages(data: bytes) -> list[tuple[int, bytes]]:
    return [(n, v) for n, w, v in fields(data) if w == 2 and isinstance(v, bytes)]


# Which fields of each Expr kind hold child Exprs (cel/expr/syntax.proto).
_SELECT_CHILDREN = {1}
_CALL_CHILDREN = {1, 3}
_LIST_CHILDREN = {1}
_STRUCT_ENTRIES = {2}
_ENTRY_CHILDREN = {3, 4}
_COMPREHENSION_CHILDREN = {2, 4, 5, 6, 7}


def _walk(expr: bytes, depth: int) -> tuple[int, int]:
    """(node count, max comprehension depth) of an Expr and its children."""
    nodes, deepest = 1, depth
    children: list[tuple[bytes, int]] = []
    for number, payload in _messages(expr):
        inner = _messages(payload)
        if number == 5:
            children += [(c, depth) for n, c in inner if n in _SELECT_CHILDREN]
        elif number == 6:
            children += [(c, depth) for n, c in inner if n in _CALL_CHILDREN]
        elif number == 7:
            children += [(c, depth) for n, c in inner if n in _LIST_CHILDREN]
        elif number == 8:
            for n, entry in inner:
                if n in _STRUCT_ENTRIES:
                    children += [(c, depth) for m, c in _messages(entry) if m in _ENTRY_CHILDREN]
        elif number == 9:
            children += [(c, depth + 1) for n, c in inner if n in _COMPREHENSION_CHILDREN]
            deepest = max(deepest, depth + 1)
    for child, child_depth in children:
        child_nodes, child_deepest = _walk(child, child_depth)
        nodes += child_nodes
        deepest = max(deepest, child_deepest)
    return nodes, deepest


def read_checked(serialized: bytes) -> ExpressionFacts:
    """Identifiers referenced, AST size and comprehension depth of a checked expression."""
    any_fields = dict((n, v) for n, _w, v in fields(serialized))
    checked = any_fields.get(2, b"")
    assert isinstance(checked, bytes)
    identifiers: set[str] = set()
    expr = b""
    for number, payload in _messages(checked):
        if number == CHECKED_REFERENCE_MAP:
            entry = dict((n, v) for n, _w, v in fields(payload))
            reference = entry.get(2, b"")
            if isinstance(reference, bytes):
                ref_fields = fields(reference)
                names = [v for n, _w, v in ref_fields if n == REFERENCE_NAME and isinstance(v, bytes)]
                has_overload = any(n == REFERENCE_OVERLOAD for n, _w, _v in ref_fields)
                if names and not has_overload:
                    identifiers.add(names[0].decode())
        elif number == CHECKED_EXPR:
            expr = payload
    nodes, depth = _walk(expr, 0) if expr else (0, 0)
    return ExpressionFacts(frozenset(identifiers), nodes, depth)
