"""What keeps reads of a large ledger fast without changing what they return: a large write
(of events, or of plugins' rows) leaves PostgreSQL with statistics of its tables, and `verify` reads the log by ranges of `seq`
(gaps and all) rather than by LIMIT."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from ledger import store as store_module
from ledger.app import Ledger

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import synth

TABLES = ("rl_log", "rl_private", "rl_keys", "rl_mentions", "referral_ledger_events")


def analyzed(ledger: Ledger) -> set[str]:
    """The ledger's tables PostgreSQL holds column statistics of (only ANALYZE makes them)."""
    with ledger.store.read() as cur:
        rows = cur.all(
            "SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = ?",
            (ledger.store.datastore.schema,),
        )
    return {row["tablename"] for row in rows}


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_large_import_leaves_statistics_and_a_small_one_does_not(db: str) -> None:
    ledger = Ledger(db)
    try:
        ledger.import_lines(list(synth.lines(store_module.ANALYZE_AFTER - 1, seed=3)))
        assert analyzed(ledger) == set()  # a few rows: not worth an ANALYZE after every write
        more = synth.lines(store_module.ANALYZE_AFTER, seed=3, prefix="b")
        ledger.import_lines(list(more))
        assert analyzed(ledger) >= set(TABLES)
    finally:
        ledger.close()


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_plugins_rows_get_statistics_after_catching_up_over_many_events(db: str) -> None:
    from ledger.projections import catch_up

    ledger = Ledger(db)
    try:
        ledger.import_lines(list(synth.lines(40, seed=3)))
        assert sum(catch_up(ledger).values()) > 0
        assert "rl_rows" not in analyzed(ledger)  # 40 events: not worth an ANALYZE
        ledger.import_lines(list(synth.lines(store_module.ANALYZE_AFTER, seed=3, prefix="b")))
        assert sum(catch_up(ledger).values()) > 0
        assert "rl_rows" in analyzed(ledger)
    finally:
        ledger.close()


def seqs(rows: Any) -> list[int]:
    return [int(row["seq"]) for row in rows]


def test_verify_reads_every_row_across_gaps_at_any_page_size(db: str) -> None:
    ledger = Ledger(db)
    try:
        ledger.import_lines(list(synth.lines(30, seed=5)))
        with ledger.store.write() as cur:
            # gaps inside a page, on a page's edges, and at the end
            cur.run("DELETE FROM {p}rl_log WHERE seq IN (3, 6, 7, 12, 13, 14, 15, 16, 29, 30)")
        left = [s for s in range(1, 31) if s not in (3, 6, 7, 12, 13, 14, 15, 16, 29, 30)]
        whole = list(ledger.store.raw_rows())
        assert seqs(whole) == left
        for page in (1, 2, 3, 5, 28):
            paged = list(ledger.store.raw_rows(page=page))
            assert seqs(paged) == left, page
            assert [dict(row) for row in paged] == [dict(row) for row in whole]
        assert seqs(ledger.store.raw_rows(after=12, page=3)) == [s for s in left if s > 12]
    finally:
        ledger.close()


def test_verify_reads_a_row_whose_seq_is_no_number_last_at_any_page_size(sqlite_db: str) -> None:
    ledger = Ledger(sqlite_db)
    try:
        ledger.import_lines(list(synth.lines(10, seed=5)))
        with ledger.store.write() as cur:
            # SQLite keeps the text; `verify` must still see the row (and report it)
            cur.run("UPDATE rl_log SET seq = 'x' WHERE seq = 4")
        for page in (1, 3, 1000):
            rows = list(ledger.store.raw_rows(page=page))
            assert [row["seq"] for row in rows] == [1, 2, 3, 5, 6, 7, 8, 9, 10, "x"], page
    finally:
        ledger.close()
