"""CEL environments and compiled expressions.

Every expression is compiled twice: once in a *checking* environment whose
variables carry message types built from OpenAPI schemas (so unknown fields
and type mismatches are found at compile time), and once in an *evaluation*
environment whose variables are DYN (evaluation takes plain dicts).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_bindings, ext_encoders, ext_math, ext_optional, ext_strings

from graph_planner.cel.checked import read_checked
from graph_planner.cel.declare import to_decls, unwrap_opaque
from graph_planner.cel.k8s_library import K8S_FUNCTIONS
from graph_planner.cel.library import KRO_FUNCTIONS
from graph_planner.cel.limits import (
    MAX_AST_NODES,
    MAX_COMPREHENSION_DEPTH,
    MAX_ESTIMATED_ITERATIONS,
    MAX_EXPRESSION_LENGTH,
    MAX_RESULT_BYTES,
    LimitError,
)
from graph_planner.cel.types import CelType, parse_type

# `runtime.newCondition({type: 'X', status: 'True'})`: kro rewrites the bare keys with
# a parser macro; cel-expr-python has no macros, so the keys are quoted textually.
_NEW_CONDITION = re.compile(r"runtime\s*\.\s*newCondition\s*\(\s*\{")
_BARE_KEY = re.compile(r"([{,]\s*)(type|status|reason|message)(\s*:)")


class CelCompileError(ValueError):
    """The expression does not parse or does not type-check; message from the checker."""


class CelEvaluationError(ValueError):
    """Evaluation failed. `missing_data` when it read a field, key or index not there (yet)."""

    def __init__(self, message: str, missing_data: bool = False) -> None:
        super().__init__(message)
        self.missing_data = missing_data


_MISSING = ("Key not found", "no such key", "No such key", "Index error", "non-message type", "no such field")


def _extensions() -> list[Any]:
    return [
        ext_strings.ExtStrings(),
        ext_optional.ExtOptional(),
        ext_bindings.ExtBindings(),
        ext_encoders.ExtEncoders(),
        ext_math.ExtMath(),
    ]


@functools.cache
def _function_decls() -> tuple[Any, ...]:
    return tuple(to_decls([*KRO_FUNCTIONS, *K8S_FUNCTIONS]))


def new_env(variables: Mapping[str, Any], descriptor_pool: Any = None) -> Any:
    """A cel.Env with Bosun's extensions and libraries and these typed variables."""
    return cel.NewEnv(
        descriptor_pool=descriptor_pool,
        variables=dict(variables),
        extensions=_extensions(),
        functions=list(_function_decls()),
    )


@functools.lru_cache(maxsize=256)
def eval_env(names: frozenset[str]) -> Any:
    """The evaluation environment: every variable DYN."""
    return new_env(dict.fromkeys(sorted(names), cel.Type.DYN))


def preprocess(source: str) -> str:
    """Source rewrites needed before compiling (runtime.newCondition's bare keys)."""
    match = _NEW_CONDITION.search(source)
    while match:
        depth, end = 0, match.end() - 1
        for index in range(match.end() - 1, len(source)):
            depth += {"{": 1, "}": -1}.get(source[index], 0)
            if depth == 0:
                end = index
                break
        body = _BARE_KEY.sub(
            lambda m: f"{m.group(1)}'{m.group(2)}'{m.group(3)}", source[match.end() - 1 : end + 1]
        )
        source = source[: match.end() - 1] + body + source[end + 1 :]
        match = _NEW_CONDITION.search(source, match.end() - 1 + len(body))
    return source


@dataclass(frozen=True)
class CompiledExpression:
    """A checked, evaluable CEL expression and what it refers to."""

    source: str
    references: frozenset[str]
    output_type: CelType
    program: Any

    def evaluate(self, activation: Mapping[str, Any]) -> Any:
        """Evaluate against plain data; only the referenced variables are passed in."""
        data = {name: activation[name] for name in self.references if name in activation}
        missing = sorted(self.references - data.keys())
        if missing:
            raise CelEvaluationError(f"no value for {', '.join(missing)}", missing_data=True)
        try:
            result_value = self.program.eval(data=data)
            if result_value.type() == cel.Type.ERROR:
                raise RuntimeError(str(result_value.plain_value()))
            value = result_value.plain_value()
        except Exception as exc:  # the C++ runtime raises RuntimeError and friends
            raw = str(exc)
            raise CelEvaluationError(_clean(raw), any(m in raw for m in _MISSING)) from exc
        result = _plain(value)
        if isinstance(result, str | list | dict) and _size(result) > MAX_RESULT_BYTES:
            raise CelEvaluationError(f"result is over {MAX_RESULT_BYTES} bytes")
        return result


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    return len(json.dumps(value, default=str))


def _plain(value: Any) -> Any:
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, dict):
        # Maps built by the C++ runtime come out in hash order; sort for stable plans.
        items = sorted(((_plain(k), _plain(v)) for k, v in value.items()), key=lambda kv: str(kv[0]))
        return unwrap_opaque(dict(items))
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


_ERROR_LINE = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)$")


def _clean(message: str) -> str:
    """`INVALID_ARGUMENT: ERROR: <input>:1:5: undeclared ... | snippet` -> `undeclared ... (column 5)`."""
    found = []
    for line in message.splitlines():
        match = _ERROR_LINE.search(line)
        if match:
            text = re.sub(r" \(in container ''\)", "", match.group(3))
            text = re.sub(r" \[[A-Z_]+\]$", "", text)
            found.append(f"{text} (column {match.group(2)})")
    if found:
        return "; ".join(dict.fromkeys(found))
    message = re.sub(r"^[A-Z_]+: ", "", message.strip())
    message = re.sub(r" \[[A-Z_]+\]$", "", message)
    return message.replace("\n", " ")


def compile_expression(
    source: str,
    check_env: Any,
    variables: Iterable[str],
    describe: Any = None,
) -> CompiledExpression:
    """Check `source` in `check_env`, enforce the limits, and compile it for evaluation."""
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise LimitError(f"expression is {len(source)} characters, over the limit of {MAX_EXPRESSION_LENGTH}")
    text = preprocess(source)
    try:
        checked = check_env.compile(text)
    except Exception as exc:
        message = _clean(str(exc))
        raise CelCompileError(describe(message) if describe else message) from exc
    serialized = checked.serialize()
    facts = read_checked(serialized, budget=MAX_ESTIMATED_ITERATIONS)
    if facts.nodes > MAX_AST_NODES:
        raise LimitError(f"expression has {facts.nodes} nodes, over the limit of {MAX_AST_NODES}")
    if facts.comprehension_depth > MAX_COMPREHENSION_DEPTH:
        raise LimitError(
            f"comprehensions nest {facts.comprehension_depth} deep, over the limit of {MAX_COMPREHENSION_DEPTH}"
        )
    if facts.iterations > MAX_ESTIMATED_ITERATIONS:
        raise LimitError(
            f"comprehensions would run about {facts.iterations:,} iterations, over the limit of "
            f"{MAX_ESTIMATED_ITERATIONS:,}"
        )
    names = frozenset(variables)
    references = facts.identifiers & names
    # The checked AST evaluates fine in the all-dyn environment: no second parse and check.
    program = eval_env(names).deserialize(serialized)
    return CompiledExpression(source, references, parse_type(checked.return_type().name()), program)
