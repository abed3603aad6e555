"""Parse one Simple Schema field: `type | marker=value marker="quoted value" ...`."""

from __future__ import annotations

from dataclasses import dataclass

MARKERS = frozenset(
    {
        "required",
        "default",
        "description",
        "minimum",
        "maximum",
        "validation",
        "enum",
        "immutable",
        "pattern",
        "uniqueItems",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "listType",
        "listMapKey",
    }
)


class MarkerError(ValueError):
    """A marker string that cannot be parsed, or an unknown marker."""


@dataclass(frozen=True)
class Marker:
    key: str
    value: str


def parse_field(text: str) -> tuple[str, list[Marker]]:
    """Split `integer | default=1 minimum=0` into the type and its markers."""
    type_part, sep, marker_part = text.partition("|")
    type_name = type_part.strip()
    if not type_name:
        raise MarkerError(f"empty type in {text!r}")
    markers = parse_markers(marker_part) if sep and marker_part.strip() else []
    return type_name, markers


def _unquote(raw: str) -> str:
    """`"a \\"b\\""` -> `a "b"`; unquoted values are trimmed."""
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        out: list[str] = []
        escaped = False
        for char in raw[1:-1]:
            if escaped:
                if char not in ('"', "\\"):
                    out.append("\\")
                out.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            else:
                out.append(char)
        return "".join(out)
    return raw


def parse_markers(text: str) -> list[Marker]:
    """Parse `k=v k2="v 2" k3={"a": 1}`: quotes and brackets may hold spaces."""
    result: list[Marker] = []
    key: str | None = None
    buffer: list[str] = []
    in_quotes = False
    escaped = False
    depth = 0

    def flush() -> None:
        nonlocal key
        if key is not None:
            result.append(Marker(key, _unquote("".join(buffer))))
            key = None
        elif "".join(buffer).strip():
            raise MarkerError(f"marker {''.join(buffer).strip()!r} has no value (expected key=value)")
        buffer.clear()

    for char in text:
        if char == "=" and key is None and not in_quotes and depth == 0:
            name = "".join(buffer).strip()
            if not name:
                raise MarkerError("empty marker key")
            if name not in MARKERS:
                raise MarkerError(f"unknown marker {name!r} (known: {', '.join(sorted(MARKERS))})")
            key = name
            buffer.clear()
            continue
        if char == '"' and not escaped:
            in_quotes = not in_quotes
        elif char == "\\" and in_quotes and not escaped:
            escaped = True
            buffer.append(char)
            continue
        elif char in "{[" and not in_quotes:
            depth += 1
        elif char in "}]" and not in_quotes:
            depth -= 1
            if depth < 0:
                raise MarkerError("unmatched closing bracket or brace")
        elif char.isspace() and not in_quotes and depth == 0:
            if key is not None:
                flush()
            elif "".join(buffer).strip():
                raise MarkerError(f"marker {''.join(buffer).strip()!r} has no value (expected key=value)")
            else:
                buffer.clear()
            continue
        escaped = False
        buffer.append(char)
    if in_quotes:
        raise MarkerError("unclosed quote")
    if depth > 0:
        raise MarkerError("unclosed bracket or brace")
    flush()
    return result
