"""A view at `--known-at` that asks about one person or one referral derives only the parts that
concern them (`Projection.parts_about`), not the whole ledger: it must give exactly the rows the
whole derivation gives, restricted to that person or referral."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from ledger import projections
from ledger.app import Ledger
from ledger.errors import LedgerError
from ledger.projections import Row, derive_all, rows
from ledger.views import micros

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import synth

LATER = micros("2030-01-01T00:00:00Z")


def _try(ledger: Ledger, event: dict[str, Any]) -> dict[str, Any] | None:
    """Record an event if the rules take it (a synthetic pick may not fit): None otherwise."""
    try:
        return ledger.record(event)
    except LedgerError:
        return None


def _at(day: int, hour: int = 12) -> str:
    return f"2021-{3 + day // 28:02d}-{1 + day % 28:02d}T{hour:02d}:00:00Z"


@pytest.fixture
def story(db: str) -> Iterator[Ledger]:
    """A synthetic ledger of many people, imported in several batches (so that several
    `--known-at` fall between them), then corrected one event at a time: companies changed
    (person-updated), requests amended with a relationship, relationships declared, obligations
    waived, and events of every kind retracted."""
    ledger = Ledger(db)
    lines = list(synth.lines(600, seed=23))
    for start in range(0, len(lines), 200):
        ledger.import_lines(lines[start : start + 200])
    events = list(ledger.export())
    people = [e["handle"] for e in events if e["type"] == "person-added"]
    requests = [e for e in events if e["type"] == "referral-requested"]
    day = 0
    for index, handle in enumerate(people[:40:3]):
        day += 1
        company = synth.COMPANIES[index % len(synth.COMPANIES)].title()
        _try(
            ledger, {"type": "person-updated", "handle": handle, "company": company, "at": _at(day)}
        )
    closed = {e["referral"] for e in events if e["type"] == "referral-closed"}
    still_open = [r for r in requests if r["referral"] not in closed]
    for index, request in enumerate(still_open[:16]):
        day += 1
        kind = ("acquaintance", "close-friend", "former-colleague")[index % 3]
        _try(
            ledger,
            {
                "type": "request-amended",
                "referral": request["referral"],
                "by": request["by"],
                "relationship": kind,
                "at": _at(day),
            },
        )
    for index, request in enumerate(requests[1:30:3]):
        day += 1
        _try(
            ledger,
            {
                "type": "connection-declared",
                "by": request["referrer"],
                "with": request["by"],
                "kind": ("acquaintance", "close-friend")[index % 2],
                "at": _at(day),
            },
        )
    open_alerts = [
        row
        for row in rows(ledger, "alert", as_of=LATER, known_at=None)
        if row.end_us is None and row.referral and row.owed_to
    ]
    for row in open_alerts[::5][:12]:
        day += 1
        _try(
            ledger,
            {
                "type": "obligation-waived",
                "referral": row.referral,
                "by": row.owed_to,
                "kind": row.kind,
                "person": str(row.person),
                "at": _at(day),
            },
        )
    recorded = list(ledger.export())
    retractable = [
        e
        for e in recorded
        if e["type"]
        in (
            "connection-declared",
            "person-updated",
            "request-vetted",
            "request-amended",
            "obligation-waived",
            "introduction-made",
            "referral-requested",
        )
    ]
    for event in retractable[::4]:
        _try(
            ledger,
            {
                "type": "event-retracted",
                "by": event.get("by") or event.get("handle"),
                "retracts": event["id"],
                "reason": "a test of views",
                **({"referral": event["referral"]} if event.get("referral") else {}),
            },
        )
    yield ledger
    ledger.close()


def _key(row: Row) -> bytes:
    return orjson.dumps(
        [
            row.projection,
            row.category,
            row.kind,
            row.referral,
            row.person,
            row.owed_to,
            row.start_us,
            row.end_us,
            row.data,
        ],
        option=orjson.OPT_SORT_KEYS,
    )


def _rows(found: Iterable[Row]) -> Counter[bytes]:
    return Counter(map(_key, found))


def test_a_narrow_view_gives_the_rows_of_the_whole_derivation(story: Ledger):
    recorded = [micros(e["recorded_at"]) for e in story.export()]
    types = Counter(e["type"] for e in story.export())
    # the story has what it is meant to have
    for kind in (
        "event-retracted",
        "person-updated",
        "request-amended",
        "connection-declared",
        "obligation-waived",
    ):
        assert types[kind] >= 2, kind
    handles = story.store.handles()
    referrals = story.store.referral_keys()
    assert len(handles) > 40 and len(referrals) > 50
    # before the corrections, among them, and after every event
    chosen = [recorded[len(recorded) // 2], recorded[-30], recorded[-1]]
    compared = 0
    for known_at in chosen:
        whole = list(derive_all(story, known_at))
        assert len({row.projection for row in whole}) >= 3
        for handle in handles:
            narrow = list(derive_all(story, known_at, person=handle))
            involving = [r for r in whole if handle in (r.person, r.owed_to)]
            assert _rows(r for r in narrow if handle in (r.person, r.owed_to)) == _rows(
                involving
            ), (known_at, handle)
            compared += len(involving)
        for key in referrals:
            narrow = list(derive_all(story, known_at, referral=key))
            assert _rows(r for r in narrow if r.referral == key) == _rows(
                r for r in whole if r.referral == key
            ), (known_at, key)
    assert compared > 1000


def test_the_read_commands_rows_are_the_same_narrow_or_whole(story: Ledger, monkeypatch):
    """`rows` (what alerts, flags and reputation read) at a `--known-at`, with a person, a
    person involved or a referral: the same rows as with every projection derived whole."""
    recorded = [micros(e["recorded_at"]) for e in story.export()]
    known_at = recorded[-20]
    handles = story.store.handles()[::6]
    referrals = story.store.referral_keys()[::8]
    asked = [{"person": h} for h in handles] + [{"involving": h} for h in handles]
    asked += [{"referral": k} for k in referrals]
    categories = ("alert", "obligation", "flag", "reputation")
    asks = [(category, args) for category in categories for args in asked]

    def read(category: str, args: dict[str, str]) -> Counter[bytes]:
        return _rows(rows(story, category, as_of=LATER, known_at=known_at, ended=True, **args))

    narrow = [read(category, args) for category, args in asks]
    # every projection derived whole, as a third-party projection that cannot say is
    for cls in {type(p) for _, p in projections.registered(story)}:
        monkeypatch.setattr(cls, "parts_about", lambda self, view, **kw: None)
    for (category, args), found in zip(asks, narrow, strict=True):
        assert read(category, args) == found, (category, args)
    assert sum(map(len, narrow)) > 500


def test_a_narrow_view_derives_only_the_parts_asked_about(story: Ledger, monkeypatch):
    derived: list[tuple[str, str]] = []
    for _, projection in projections.registered(story):
        original = type(projection).derive

        def counting(self: Any, part: str, view: Any, original: Any = original) -> Any:
            derived.append((self.name, part))
            return original(self, part, view)

        monkeypatch.setattr(type(projection), "derive", counting)
    handle = story.store.handles()[5]
    known_at = micros(list(story.export())[-1]["recorded_at"])
    list(rows(story, "alert", as_of=LATER, known_at=known_at, involving=handle))
    mine = set(story.store.referrals_of(handle))
    assert derived and {part for _, part in derived} <= mine
    derived.clear()
    list(derive_all(story, known_at, category="flag"))
    assert len(derived) > 3 * len(mine)  # the whole derivation, for comparison
