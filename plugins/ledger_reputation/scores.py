"""Scores from conduct, alert and flag rows. Pure: the command fetches the rows."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.api import Row, micros

from .conduct import BASE, FLAG, OVERDUE, ROLES, clamp


def _order(item: tuple[int, dict[str, Any]]) -> tuple[int, str, str]:
    """When, then what: entries of the same moment in one order, however the rows were read."""
    start_us, entry = item
    return start_us, entry["reason"], str(entry["event"] or "")


def _waived(alert: Row, waivers: list[Row]) -> bool:
    """Whether a waiver in the view ended the obligation behind the alert: the same referral,
    kind, person and person owed, and the obligation open (opened, not yet met) at the
    waiver's `at`. Such an obligation counts nothing from the waiver's `at` on."""
    since = alert.data.get("since")
    opened = micros(since) if isinstance(since, str) else alert.start_us
    return any(
        w.referral == alert.referral
        and w.data.get("alert") == alert.kind
        and w.person == alert.person
        and w.data.get("owed_to") == alert.owed_to
        and opened <= w.start_us
        and (alert.end_us is None or alert.end_us >= w.start_us)
        for w in waivers
    )


def scores(
    conduct: Iterable[Row], alerts: Iterable[Row], flags: Iterable[Row], people: Iterable[str]
) -> list[dict[str, Any]]:
    """One object per person: `as_requester`, `as_referrer`, `as_target`, each a score and the
    explanation it is the sum of.

    A judgement (alert or flag) counts in the role its row names. One that names none counts
    in each role the person held in its referral, or, without a referral or a role held in
    it, in each role they have held in any referral of the view; as requester if none."""
    items: dict[str, dict[str, list[tuple[int, dict[str, Any]]]]] = {
        handle: {role: [] for role in ROLES} for handle in people
    }
    conduct = list(conduct)
    held: dict[str | None, set[tuple[str | None, str]]] = {}
    waivers: list[Row] = []
    for row in conduct:
        if row.kind == "took-part" and row.role in ROLES:
            held.setdefault(row.person, set()).add((row.referral, row.role))
        elif row.kind == "waived":
            waivers.append(row)

    def roles(row: Row) -> tuple[str, ...]:
        if row.role in ROLES:
            return (row.role,)
        mine = held.get(row.person, set())
        here = {role for referral, role in mine if row.referral and referral == row.referral}
        anywhere = here or {role for _, role in mine} or {"requester"}
        return tuple(role for role in ROLES if role in anywhere)

    def add(row: Row, entry: dict[str, Any]) -> None:
        if row.person not in items:
            return
        for role in roles(row):
            items[row.person][role].append((row.start_us, entry))

    for row in conduct:
        if row.data.get("points"):
            add(
                row,
                {
                    "event": row.data.get("event"),
                    "points": row.data["points"],
                    "reason": row.data.get("reason") or row.kind,
                },
            )
    for row in alerts:
        if _waived(row, waivers):
            continue
        where = f" in {row.referral}" if row.referral else ""
        add(
            row,
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
