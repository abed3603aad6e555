"""`${...}` in template strings.

A string that is exactly one `${expr}` is *standalone*: the field takes the
expression's value and type. Anything else (`"a-${x}-${y}"`) is a *string
template*: every part must be a string and the parts are concatenated. Quotes
inside an expression are honoured, so the escape form `${"${VAR}"}` yields the
literal text `${VAR}`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


class TemplateSyntaxError(ValueError):
    """An unterminated `${` or an empty expression."""


@dataclass(frozen=True)
class Expr:
    """One `${...}` occurrence (the text between the braces)."""

    source: str


Segment = str | Expr


def parse_template(text: str) -> list[Segment]:
    """Split a string into literal text and expressions."""
    segments: list[Segment] = []
    literal: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith("${", index):
            end = _expression_end(text, index + 2)
            source = text[index + 2 : end].strip()
            if not source:
                raise TemplateSyntaxError(f"empty expression at offset {index} in {text!r}")
            if literal:
                segments.append("".join(literal))
                literal = []
            segments.append(Expr(source))
            index = end + 1
        else:
            literal.append(text[index])
            index += 1
    if literal:
        segments.append("".join(literal))
    return segments


def _expression_end(text: str, start: int) -> int:
    """Index of the `}` closing an expression that starts at `start`."""
    depth = 0
    quote = ""
    index = start
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 2
                continue
            if text.startswith(quote, index):
                index += len(quote)
                quote = ""
                continue
        elif char in "'\"":
            quote = char * 3 if text.startswith(char * 3, index) else char
            index += len(quote)
            continue
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return index
            depth -= 1
        index += 1
    raise TemplateSyntaxError(f"unterminated ${{ in {text!r}")


def is_standalone(segments: list[Segment]) -> bool:
    return len(segments) == 1 and isinstance(segments[0], Expr)


Path = tuple[str | int, ...]


def path_text(path: Path) -> str:
    """`("spec", "containers", 0, "image")` -> `spec.containers[0].image`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "." in part or "/" in part:
            out += f'["{part}"]'
        else:
            out += f".{part}" if out else part
    return out


def walk_strings(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every string leaf of a template with its path, in document order."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from walk_strings(child, (*path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk_strings(child, (*path, index))
