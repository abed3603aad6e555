"""Which replica plans which key: rendezvous (highest random weight) hashing.

Every replica computes the same owner from the same member list, and when a
member leaves, only its keys move, each to the member that ranks next.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def owner(key: str, members: Sequence[str]) -> str | None:
    if not members:
        return None
    return max(
        sorted(members),
        key=lambda member: hashlib.blake2b(f"{member}|{key}".encode(), digest_size=8).digest(),
    )
