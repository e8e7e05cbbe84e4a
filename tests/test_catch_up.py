"""How `catch_up` reads and writes: projections at one position derived together, in chunks,
from views that read people in batches. Whatever the chunking, the rows are what deriving every
part at once gives."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli

from ledger import config, plugins, projections, views
from ledger.app import Ledger

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import synth


def _stored_rows(ledger: Ledger) -> Counter[bytes]:
    with ledger.store.read() as cur:
        found = cur.all(
            "SELECT projection, category, kind, referral, person, owed_to, start_us, end_us, "
            "data FROM {p}rl_rows"
        )
    return Counter(orjson.dumps([r["projection"], *projections._stored_values(r)]) for r in found)


def _derived_rows(ledger: Ledger) -> Counter[bytes]:
    """Every part of every projection derived at once, from one view, without storing."""
    return Counter(
        orjson.dumps(
            [
                r.projection,
                r.category,
                r.kind,
                r.referral,
                r.person,
                r.owed_to,
                r.start_us,
                r.end_us,
                r.data,
            ]
        )
        for r in projections.derive_all(ledger, None, on_error=_raise)
    )


def _raise(error: BaseException) -> None:
    raise error


@pytest.fixture
def synthetic(db: str) -> Any:
    ledger = Ledger(db)
    ledger.import_lines(list(synth.lines(1500, seed=7)))
    yield ledger
    ledger.close()


def test_small_chunks_pages_and_batches_derive_what_one_view_does(
    synthetic: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projections, "CHUNK", 7)  # parts per chunk
    monkeypatch.setattr(projections, "PAGE", 40)  # events per view while collecting parts
    monkeypatch.setattr(views, "BATCH", 3)  # people per query
    monkeypatch.setattr(views, "TOLD", 5)
    done = projections.catch_up(synthetic, on_error=_raise)
    assert set(done) == {"alerts", "flags", "reputation", "summaries"} and all(done.values())
    rows = _stored_rows(synthetic)
    assert rows == _derived_rows(synthetic)
    # the synthetic ledger has what the batches are for: declarations, retractions
    kinds = {orjson.loads(key)[2] for key in rows}
    assert {"took-part", "thank-you-missing", "misrepresented-relationship"} <= kinds


def test_a_view_renewed_past_its_budget_derives_what_one_view_does(
    synthetic: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projections, "KEPT", 50)  # a new view every page and chunk or so
    monkeypatch.setattr(projections, "PAGE", 100)
    monkeypatch.setattr(projections, "CHUNK", 40)
    made = 0
    real = projections.View

    def counted(*args: Any, **kwargs: Any) -> views.View:
        nonlocal made
        made += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(projections, "View", counted)
    projections.catch_up(synthetic, on_error=_raise)
    assert made > 10  # renewed again and again
    assert _stored_rows(synthetic) == _derived_rows(synthetic)


def test_a_catch_up_reads_each_referral_once_for_every_page_and_projection(
    synthetic: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The referrals of a page of events are read together, once for the whole catch-up
    (scan and derive, every projection), not once per page or chunk that names them, nor one
    query per referral or person."""
    monkeypatch.setattr(projections, "PAGE", 100)  # 15 pages
    monkeypatch.setattr(projections, "CHUNK", 50)
    store = synthetic.store
    read: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for name in ("referral_events", "person_events", "referrals_events", "people_events"):
        real = getattr(store, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls[_name] += 1
            if _name == "referrals_events":
                read.update(args[0])
            return _real(*args, **kwargs)

        monkeypatch.setattr(store, name, counted)
    projections.catch_up(synthetic, on_error=_raise)
    assert calls["referral_events"] == calls["person_events"] == 0
    assert calls["referrals_events"] <= 15 + 30  # a query a page, a few for the chunks
    assert read and set(read.values()) == {1}, read.most_common(3)  # each referral once
    assert _stored_rows(synthetic) == _derived_rows(synthetic)


def test_an_import_leaves_the_derived_state_caught_up(cli: Cli, tmp_path: Path) -> None:
    """The first read after an import has nothing to catch up: the import did it."""
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(synth.lines(400, seed=5)) + b"\n")
    cli.ok("import", str(source))
    ledger = Ledger(cli.db)
    try:
        head, _ = ledger.store.tail()
        assert head == 400
        names = [projection.name for _plugin, projection in projections.registered(ledger)]
        assert {"alerts", "flags", "reputation"} <= set(names)
        for projection_name in names:
            assert ledger.store.position(projection_name)[0] == head, projection_name
        assert set(projections.catch_up(ledger, on_error=_raise).values()) == {0}
        assert _stored_rows(ledger) == _derived_rows(ledger)
    finally:
        ledger.close()


def test_catching_up_again_from_the_start_replaces_the_rows_it_has(synthetic: Ledger) -> None:
    projections.catch_up(synthetic, on_error=_raise)
    before = _stored_rows(synthetic)
    with synthetic.store.write() as cur:
        cur.run("UPDATE {p}rl_positions SET seq = 0")  # the rows stay
    projections.catch_up(synthetic, on_error=_raise)
    assert _stored_rows(synthetic) == before


def test_events_are_read_past_a_gap_in_seq(sqlite_db: str) -> None:
    ledger = Ledger(sqlite_db)
    try:
        ledger.import_lines(list(synth.lines(60, seed=3)))
        with ledger.store.write() as cur:  # what `verify` reports as a broken ledger
            cur.run("DELETE FROM {p}rl_log WHERE seq IN (5, 6, 7, 31, 60)")
        expected = [s for s in range(1, 61) if s not in (5, 6, 7, 31, 60)]
        assert [e.seq for e in ledger.store.events(page=4)] == expected
        assert [e.seq for e in ledger.store.events(after=2, until=40, page=3)] == [
            s for s in expected if 2 < s <= 40
        ]
    finally:
        ledger.close()


def test_settings_are_read_once_within_read_once(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[due]\nrequest-unanswered = 3\n")
    config.choose(str(path))
    try:
        with config.read_once():
            assert plugins.settings().due["request-unanswered"] == 3
            path.write_text("[due]\nrequest-unanswered = 4.5\n")
            assert plugins.settings().due["request-unanswered"] == 3
        assert plugins.settings().due["request-unanswered"] == 4.5
    finally:
        config.choose(None)
