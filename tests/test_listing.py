"""`alerts` and `flags` list their rows in one order, whether they come from the kept state (read
as they are printed) or from a replay at `--known-at`, and alike on both databases."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli

from ledger import projections
from ledger.app import Ledger
from ledger.events import to_micros
from ledger.projections import Row, listed, rows
from ledger.views import View

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import synth

AS_OF = "2026-11-01T00:00:00Z"


@pytest.fixture
def story(db: str) -> Iterator[Ledger]:
    ledger = Ledger(db)
    ledger.import_lines(list(synth.lines(1500, seed=11)))
    yield ledger
    ledger.close()


def key(row: Row) -> tuple[Any, ...]:
    """The documented order: start, referral, kind, person; then projection and content."""
    return (
        row.start_us,
        row.referral or "",
        row.kind,
        row.person or "",
        row.projection,
        orjson.dumps(row.data),
    )


@pytest.mark.parametrize("category", ["alert", "flag"])
def test_rows_are_listed_in_the_documented_order(story: Ledger, category: str):
    as_of = to_micros(datetime(2026, 11, 1, tzinfo=UTC))
    found = list(listed(story, category, as_of=as_of, known_at=None))
    assert len(found) > 100
    assert found == sorted(rows(story, category, as_of=as_of, known_at=None), key=key)


def test_the_order_covers_ties(story: Ledger):
    # Alerts alike in start, referral, kind and person: their order comes from the rest of the
    # key, not from where the database happened to keep them.
    as_of = to_micros(datetime(2026, 11, 1, tzinfo=UTC))
    found = list(listed(story, "alert", as_of=as_of, known_at=None))
    heads = Counter(key(row)[:4] for row in found)
    assert max(heads.values()) > 1
    assert [key(row) for row in found] == sorted(key(row) for row in found)


@pytest.mark.parametrize("category", ["alert", "flag"])
def test_a_replay_at_known_at_lists_in_the_same_order(story: Ledger, category: str):
    as_of = to_micros(datetime(2026, 11, 1, tzinfo=UTC))
    kept = list(listed(story, category, as_of=as_of, known_at=None))
    known_at = to_micros(datetime.now(UTC))
    replayed = list(listed(story, category, as_of=as_of, known_at=known_at))
    assert replayed == kept


def test_the_printed_listings_do_not_depend_on_the_page_size(db: str, monkeypatch):
    ledger = Ledger(db)
    ledger.import_lines(list(synth.lines(600, seed=12)))
    ledger.close()
    cli = Cli(db)
    commands = [
        ("alerts", "--as-of", AS_OF),
        ("alerts", "--json", "--as-of", AS_OF),
        ("flags", "--as-of", AS_OF),
        ("flags", "--json", "--as-of", AS_OF),
    ]
    whole = [cli(*c) for c in commands]
    assert all(r.exit_code == 0 for r in whole), [r.stderr for r in whole]
    assert whole[0].stdout.count("\n") > 10 and whole[2].stdout.count("\n") > 10
    from ledger_alerts import command as alerts_command
    from ledger_flags import command as flags_command

    monkeypatch.setattr(alerts_command, "PAGE", 3)
    monkeypatch.setattr(flags_command, "PAGE", 3)
    monkeypatch.setattr(projections, "LIST_PAGE", 2)
    paged = [cli(*c) for c in commands]
    assert [r.stdout for r in paged] == [r.stdout for r in whole]


def test_a_stream_reads_every_row_whatever_the_page(db: str):
    ledger = Ledger(db)
    try:
        ledger.import_lines(list(synth.lines(200, seed=13)))
        select = "SELECT seq, event_id FROM {p}rl_log ORDER BY seq"
        with ledger.store.read() as cur:
            expected = [(r["seq"], r["event_id"]) for r in cur.all(select)]
        for page in (1, 7, 200, 1000):
            streamed = [(r["seq"], r["event_id"]) for r in ledger.store.stream(select, page=page)]
            assert streamed == expected
    finally:
        ledger.close()


def test_the_ledger_can_be_read_while_a_listing_is(story: Ledger):
    as_of = to_micros(datetime(2026, 11, 1, tzinfo=UTC))
    seen = 0
    for row in listed(story, "alert", as_of=as_of, known_at=None, on_error=_raise):
        view = View(story)  # a plugin's command looks things up as it prints
        assert view.person(row.person) is not None
        assert row.referral is None or view.referral_history(row.referral)
        seen += 1
    assert seen == len(rows(story, "alert", as_of=as_of, known_at=None))


def _raise(error: BaseException) -> None:
    raise error
