"""The kinds of relationship, weakest first. A module of its own so that commands can offer
them as choices without importing the event models (pydantic) at startup."""

from __future__ import annotations

KINDS = (
    "linkedin-only",
    "met-once",
    "acquaintance",
    "worked-together",
    "friend",
    "managed",
    "reported-to",
    "family",
)
WEAK_KINDS = frozenset(KINDS[:2])
KIND_RANK = {kind: rank for rank, kind in enumerate(KINDS)}
