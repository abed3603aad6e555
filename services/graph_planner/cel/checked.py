"""Read a checked expression (`cel.expr.CheckedExpr` in a `google.protobuf.Any`).

`Expression.serialize()` returns the Any's bytes. cel-expr-python ships no
Python classes for cel.expr, so this module declares the few messages and fields
it reads (a subset of cel/expr/checked.proto and syntax.proto, same field
numbers; the parser skips the rest) and lets protobuf's C parser do the work.
It reads the identifiers the expression references (its dependencies) and the
AST's shape for the limits: node count, comprehension nesting, and an estimate
of comprehension iterations.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    message_factory,
)

FD = descriptor_pb2.FieldDescriptorProto
# Assumed length of a list whose size is not visible in the expression (data).
UNKNOWN_LIST_SIZE = 100

# message -> [(field name, number, type, message type or "", repeated)]
_SCHEMA: dict[str, list[tuple[str, int, int, str, bool]]] = {
    "CheckedExpr": [
        ("reference_map", 2, FD.TYPE_MESSAGE, "CheckedExpr.ReferenceMapEntry", True),
        ("expr", 4, FD.TYPE_MESSAGE, "Expr", False),
    ],
    "Reference": [("name", 1, FD.TYPE_STRING, "", False), ("overload_id", 3, FD.TYPE_STRING, "", True)],
    "Expr": [
        ("id", 2, FD.TYPE_INT64, "", False),
        ("const_expr", 3, FD.TYPE_MESSAGE, "Constant", False),
        ("ident_expr", 4, FD.TYPE_MESSAGE, "Ident", False),
        ("select_expr", 5, FD.TYPE_MESSAGE, "Select", False),
        ("call_expr", 6, FD.TYPE_MESSAGE, "Call", False),
        ("list_expr", 7, FD.TYPE_MESSAGE, "CreateList", False),
        ("struct_expr", 8, FD.TYPE_MESSAGE, "CreateStruct", False),
        ("comprehension_expr", 9, FD.TYPE_MESSAGE, "Comprehension", False),
    ],
    "Constant": [("int64_value", 3, FD.TYPE_INT64, "", False)],
    "Ident": [("name", 1, FD.TYPE_STRING, "", False)],
    "Select": [("operand", 1, FD.TYPE_MESSAGE, "Expr", False), ("field", 2, FD.TYPE_STRING, "", False)],
    "Call": [
        ("target", 1, FD.TYPE_MESSAGE, "Expr", False),
        ("function", 2, FD.TYPE_STRING, "", False),
        ("args", 3, FD.TYPE_MESSAGE, "Expr", True),
    ],
    "CreateList": [("elements", 1, FD.TYPE_MESSAGE, "Expr", True)],
    "CreateStruct": [("entries", 2, FD.TYPE_MESSAGE, "Entry", True)],
    "Entry": [("map_key", 3, FD.TYPE_MESSAGE, "Expr", False), ("value", 4, FD.TYPE_MESSAGE, "Expr", False)],
    "Comprehension": [
        ("iter_range", 2, FD.TYPE_MESSAGE, "Expr", False),
        ("accu_init", 4, FD.TYPE_MESSAGE, "Expr", False),
        ("loop_condition", 5, FD.TYPE_MESSAGE, "Expr", False),
        ("loop_step", 6, FD.TYPE_MESSAGE, "Expr", False),
        ("result", 7, FD.TYPE_MESSAGE, "Expr", False),
    ],
}


def _add_fields(message: Any, fields: list[tuple[str, int, int, str, bool]]) -> None:
    for name, number, kind, type_name, repeated in fields:
        field = message.field.add(name=name, number=number, type=kind, json_name=name)
        field.label = FD.LABEL_REPEATED if repeated else FD.LABEL_OPTIONAL
        if type_name:
            field.type_name = f".cel.expr.{type_name}"


@functools.cache
def _checked_expr_class() -> Any:
    proto = descriptor_pb2.FileDescriptorProto(
        name="bosun/cel_expr_subset.proto", package="cel.expr", syntax="proto3"
    )
    for name, fields in _SCHEMA.items():
        message = proto.message_type.add(name=name)
        _add_fields(message, fields)
        if name == "CheckedExpr":
            entry = message.nested_type.add(name="ReferenceMapEntry")
            entry.options.map_entry = True
            _add_fields(
                entry,
                [("key", 1, FD.TYPE_INT64, "", False), ("value", 2, FD.TYPE_MESSAGE, "Reference", False)],
            )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("cel.expr.CheckedExpr"))


@dataclass(frozen=True)
class ExpressionFacts:
    identifiers: frozenset[str]
    nodes: int
    comprehension_depth: int
    iterations: int = 0


def _children(expr: Any) -> list[Any]:
    if expr.HasField("select_expr"):
        return [expr.select_expr.operand]
    if expr.HasField("call_expr"):
        call = expr.call_expr
        return ([call.target] if call.HasField("target") else []) + list(call.args)
    if expr.HasField("list_expr"):
        return list(expr.list_expr.elements)
    if expr.HasField("struct_expr"):
        out = []
        for entry in expr.struct_expr.entries:
            if entry.HasField("map_key"):
                out.append(entry.map_key)
            out.append(entry.value)
        return out
    return []


def _shape(expr: Any, depth: int) -> tuple[int, int]:
    """(node count, deepest comprehension nesting)."""
    if expr.HasField("comprehension_expr"):
        loop = expr.comprehension_expr
        parts = [loop.iter_range, loop.accu_init, loop.loop_condition, loop.loop_step, loop.result]
        depth += 1
    else:
        parts = _children(expr)
    nodes, deepest = 1, depth
    for part in parts:
        child_nodes, child_deepest = _shape(part, depth)
        nodes += child_nodes
        deepest = max(deepest, child_deepest)
    return nodes, deepest


def _estimate(expr: Any, budget: int) -> tuple[int, int]:
    """(length if the expression yields a list, estimated comprehension iterations).

    Literal lists and `lists.range(<constant>)` have known lengths; any other
    list is assumed to hold UNKNOWN_LIST_SIZE items. A comprehension costs its
    range's length times (1 + its loop body's cost). Stops once over `budget`.
    """
    if expr.HasField("comprehension_expr"):
        loop = expr.comprehension_expr
        size, range_cost = _estimate(loop.iter_range, budget)
        if range_cost > budget:
            return size, range_cost
        body = _estimate(loop.loop_condition, budget)[1] + _estimate(loop.loop_step, budget)[1]
        once = _estimate(loop.accu_init, budget)[1] + _estimate(loop.result, budget)[1]
        return size, range_cost + once + size * (1 + body)
    size = UNKNOWN_LIST_SIZE
    if expr.HasField("list_expr"):
        size = len(expr.list_expr.elements)
    elif (
        expr.HasField("call_expr")
        and expr.call_expr.function == "lists.range"
        and len(expr.call_expr.args) == 1
    ):
        argument = expr.call_expr.args[0]
        if argument.HasField("const_expr"):
            size = max(argument.const_expr.int64_value, 0)
    cost = 0
    for child in _children(expr):
        cost += _estimate(child, budget)[1]
        if cost > budget:
            break
    return size, cost


def read_checked(serialized: bytes, budget: int = 10**12) -> ExpressionFacts:
    """Identifiers referenced, AST size, comprehension depth and iterations of a checked expression."""
    wrapper = any_pb2.Any()
    wrapper.ParseFromString(serialized)
    checked = _checked_expr_class()()
    checked.ParseFromString(wrapper.value)
    identifiers = frozenset(
        ref.name for ref in checked.reference_map.values() if ref.name and not ref.overload_id
    )
    nodes, depth = _shape(checked.expr, 0)
    return ExpressionFacts(identifiers, nodes, depth, _estimate(checked.expr, budget)[1])
