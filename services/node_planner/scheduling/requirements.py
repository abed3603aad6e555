"""The requirements algebra: sets of allowed label values, their intersections and compatibility.

A `Requirement` is either a finite set of allowed values (`In`, and
`DoesNotExist` as the empty set) or the complement of a finite set (`NotIn`,
and `Exists` as the complement of nothing), optionally bounded by integers
(`Gt`, `Lt`, `Gte`, `Lte`; bounds are stored exclusive). Intersections stay in
that form, so any combination of operators composes exactly.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from bosun_common.karpenter import WELL_KNOWN_LABELS, normalize_label_key

_INFINITE = sys.maxsize


def _as_int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Requirement:
    """The values a label may take. `complement` means "anything except `values`"."""

    key: str
    complement: bool
    values: frozenset[str]
    greater_than: int | None = None
    less_than: int | None = None
    min_values: int | None = None

    @staticmethod
    def new(
        key: str, operator: str, values: Iterable[str] = (), min_values: int | None = None
    ) -> Requirement:
        """A requirement from a node selector term (`key`, `operator`, `values`)."""
        key = normalize_label_key(key)
        items = frozenset(values)
        if operator == "In":
            return Requirement(key, False, items, min_values=min_values)
        if operator == "NotIn":
            return Requirement(key, True, items, min_values=min_values)
        if operator == "Exists":
            return Requirement(key, True, frozenset(), min_values=min_values)
        if operator == "DoesNotExist":
            return Requirement(key, False, frozenset(), min_values=min_values)
        number = _as_int(next(iter(items), "")) if len(items) == 1 else None
        if number is None:
            raise ValueError(f"requirement {key!r}: {operator} needs one integer value")
        bounds = {
            "Gt": (number, None),
            "Gte": (number - 1, None),
            "Lt": (None, number),
            "Lte": (None, number + 1),
        }
        if operator not in bounds:
            raise ValueError(f"requirement {key!r}: unknown operator {operator!r}")
        greater, less = bounds[operator]
        return Requirement(key, True, frozenset(), greater, less, min_values)

    def operator(self) -> str:
        """The node selector operator this requirement reads as (bounded complements read as Exists)."""
        if self.complement:
            return "NotIn" if self.values else "Exists"
        return "In" if self.values else "DoesNotExist"

    def _within_bounds(self, value: str) -> bool:
        if self.greater_than is None and self.less_than is None:
            return True
        number = _as_int(value)
        if number is None:
            return False
        if self.greater_than is not None and number <= self.greater_than:
            return False
        return not (self.less_than is not None and number >= self.less_than)

    def _bounds_empty(self) -> bool:
        return (
            self.greater_than is not None
            and self.less_than is not None
            and self.greater_than + 1 >= self.less_than
        )

    def has(self, value: str) -> bool:
        """True when `value` is allowed."""
        if self.complement:
            return value not in self.values and self._within_bounds(value)
        return value in self.values and self._within_bounds(value)

    def __len__(self) -> int:
        if self.complement:
            if self._bounds_empty():
                return 0
            return _INFINITE - len(self.values)
        return len(self.values)

    def any_value(self) -> bool:
        return len(self) > 0

    def sorted_values(self) -> list[str]:
        return sorted(self.values)

    def intersection(self, other: Requirement) -> Requirement:
        """The values allowed by both."""
        greater = _max_opt(self.greater_than, other.greater_than)
        less = _min_opt(self.less_than, other.less_than)
        min_values = _max_opt(self.min_values, other.min_values)
        if self.complement and other.complement:
            complement, values = True, self.values | other.values
        elif self.complement:
            complement, values = False, other.values - self.values
        elif other.complement:
            complement, values = False, self.values - other.values
        else:
            complement, values = False, self.values & other.values
        result = Requirement(self.key, complement, values, greater, less, min_values)
        if not complement and (greater is not None or less is not None):
            values = frozenset(v for v in values if result._within_bounds(v))
            result = Requirement(self.key, False, values, greater, less, min_values)
        if complement and result._bounds_empty():
            result = Requirement(self.key, False, frozenset(), None, None, min_values)
        return result

    def intersects(self, other: Requirement) -> bool:
        return self.intersection(other).any_value()

    def describe(self) -> str:
        operator = self.operator()
        parts = [f"{self.key} {operator}"]
        if self.values:
            parts.append("[" + ",".join(sorted(self.values)) + "]")
        if self.greater_than is not None:
            parts.append(f">{self.greater_than}")
        if self.less_than is not None:
            parts.append(f"<{self.less_than}")
        return " ".join(parts)


def _max_opt(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _min_opt(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


class IncompatibleError(Exception):
    """Two sets of requirements admit no common node; the message says which key and why."""


class Requirements(Mapping[str, Requirement]):
    """Requirements per label key (each key at most once; adding a key again intersects)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[Requirement] = ()) -> None:
        self._items: dict[str, Requirement] = {}
        for requirement in items:
            self.add(requirement)

    @staticmethod
    def from_labels(labels: Mapping[str, str]) -> Requirements:
        """Each label as `key In [value]`."""
        result = Requirements()
        for key, value in labels.items():
            result.add(Requirement(normalize_label_key(key), False, frozenset((value,))))
        return result

    @staticmethod
    def from_terms(terms: Iterable[Mapping[str, object]]) -> Requirements:
        """From node selector requirements (`{key, operator, values, minValues}` dicts)."""
        result = Requirements()
        for term in terms:
            values = term.get("values") or []
            min_values = term.get("minValues")
            result.add(
                Requirement.new(
                    str(term["key"]),
                    str(term["operator"]),
                    [str(v) for v in values] if isinstance(values, list) else [],
                    int(min_values) if isinstance(min_values, int) else None,
                )
            )
        return result

    def copy(self) -> Requirements:
        result = Requirements()
        result._items = dict(self._items)
        return result

    def __getitem__(self, key: str) -> Requirement:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def get_or_exists(self, key: str) -> Requirement:
        """The requirement for `key`, or `Exists` when there is none."""
        return self._items.get(key) or Requirement(key, True, frozenset())

    def add(self, requirement: Requirement) -> None:
        existing = self._items.get(requirement.key)
        self._items[requirement.key] = existing.intersection(requirement) if existing else requirement

    def add_all(self, other: Requirements) -> None:
        for requirement in other.values():
            self.add(requirement)

    def merged(self, other: Requirements) -> Requirements:
        result = self.copy()
        result.add_all(other)
        return result

    def labels(self) -> dict[str, str]:
        """The labels implied: keys whose requirement allows exactly one value."""
        return {
            k: next(iter(r.values)) for k, r in self._items.items() if not r.complement and len(r.values) == 1
        }

    def intersects_error(self, incoming: Requirements) -> str | None:
        """Why the shared keys admit no common value (NotIn/DoesNotExist on both sides may be empty)."""
        for key, existing in self._items.items():
            other = incoming._items.get(key)
            if other is None:
                continue
            if existing.intersection(other).any_value():
                continue
            if other.operator() in ("NotIn", "DoesNotExist") and existing.operator() in (
                "NotIn",
                "DoesNotExist",
            ):
                continue
            return f"incompatible requirements, key {key}, {other.describe()} not in {existing.describe()}"
        return None

    def compatible_error(
        self, incoming: Requirements, allow_undefined: frozenset[str] = WELL_KNOWN_LABELS
    ) -> str | None:
        """Why `incoming` (a pod's requirements) cannot be met by these (a node's), or None.

        Custom labels must be defined by the node; well-known labels may be left open.
        """
        for key, other in incoming._items.items():
            if key in self._items or key in allow_undefined:
                continue
            if other.operator() in ("NotIn", "DoesNotExist"):
                continue
            return f"incompatible requirements, label {key!r} does not have known values"
        return self.intersects_error(incoming)

    def compatible(self, incoming: Requirements, allow_undefined: frozenset[str] = WELL_KNOWN_LABELS) -> bool:
        return self.compatible_error(incoming, allow_undefined) is None

    def signature(self) -> tuple[tuple[object, ...], ...]:
        """A hashable identity, for caches."""
        return tuple(
            (r.key, r.complement, tuple(sorted(r.values)), r.greater_than, r.less_than, r.min_values)
            for r in sorted(self._items.values(), key=lambda r: r.key)
        )

    def describe(self) -> str:
        return ", ".join(r.describe() for r in sorted(self._items.values(), key=lambda r: r.key))

    def to_terms(self) -> list[dict[str, object]]:
        """As node selector requirements with minValues (the NodeClaim spec form)."""
        terms: list[dict[str, object]] = []
        for key in sorted(self._items):
            r = self._items[key]
            if r.greater_than is not None:
                terms.append({"key": key, "operator": "Gt", "values": [str(r.greater_than)]})
            if r.less_than is not None:
                terms.append({"key": key, "operator": "Lt", "values": [str(r.less_than)]})
            if (r.greater_than is not None or r.less_than is not None) and r.complement and not r.values:
                continue
            term: dict[str, object] = {"key": key, "operator": r.operator()}
            if r.values:
                term["values"] = sorted(r.values)
            if r.min_values is not None:
                term["minValues"] = r.min_values
            terms.append(term)
        return terms
