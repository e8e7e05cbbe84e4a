"""Scores from conduct, alert and flag rows. Pure: the command fetches the rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.api import Row

from .conduct import BASE, FLAG, OVERDUE, ROLES, clamp


def _roles(role: str | None) -> tuple[str, ...]:
    """The roles a judgement counts in: its own, or every role when it names none (the host
    stores no row whose role is not one of them)."""
    return (role,) if role in ROLES else ROLES


def _order(item: tuple[int, dict[str, Any]]) -> tuple[int, str, str]:
    """When, then what: entries of the same moment in one order, however the rows were read."""
    start_us, entry = item
    return start_us, entry["reason"], str(entry["event"] or "")


def scores(
    conduct: Iterable[Row], alerts: Iterable[Row], flags: Iterable[Row], people: Iterable[str]
) -> list[dict[str, Any]]:
    """One object per person: `as_requester`, `as_referrer`, `as_target`, each a score and the
    explanation it is the sum of."""
    items: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]] = {
        handle: {role: [] for role in ROLES} for handle in people
    }

    def add(row: Row, roles: Iterable[str], entry: dict[str, Any]) -> None:
        if row.person not in items:
            return
        for role in roles:
            items[row.person][role].append((row.start_us, entry))

    for row in conduct:
        if row.data.get("points"):
            add(
                row,
                _roles(row.role),
                {
                    "event": row.data.get("event"),
                    "points": row.data["points"],
                    "reason": row.data.get("reason") or row.kind,
                },
            )
    for row in alerts:
        where = f" in {row.referral}" if row.referral else ""
        add(
            row,
            _roles(row.role),
            {
                "event": row.data.get("opened_by")
                or next(iter(row.data.get("evidence") or []), None),
                "points": OVERDUE,
                "reason": f"overdue {row.kind}{where}: {row.data.get('message') or ''}".rstrip(
                    ": "
                ),
            },
        )
    for row in flags:
        evidence = row.data.get("evidence") or []
        add(
            row,
            _roles(row.role),
            {
                "event": evidence[-1] if evidence else None,
                "points": FLAG,
                "reason": f"flag {row.kind}: {row.data.get('message') or ''}".rstrip(": "),
            },
        )
    out = []
    for handle in sorted(items):
        person: dict[str, Any] = {"person": handle}
        for role in ROLES:
            explain = [entry for _, entry in sorted(items[handle][role], key=_order)]
            score = clamp(BASE + sum(entry["points"] for entry in explain))
            person[f"as_{role}"] = {"score": score, "explain": explain}
        out.append(person)
    return out
