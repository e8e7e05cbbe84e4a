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


def test_a_view_trimmed_past_its_budget_derives_what_one_view_does(
    synthetic: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projections, "KEPT", 50)  # trimmed every page and chunk or so
    monkeypatch.setattr(projections, "WHOLE", 1000)  # a ledger this small: trimmed all the same
    monkeypatch.setattr(projections, "PAGE", 100)
    monkeypatch.setattr(projections, "CHUNK", 40)
    held: list[tuple[tuple[int, int], tuple[int, int]]] = []  # (referrals, people) before, after
    memos: list[tuple[int, int]] = []  # what the plugins keep in the view's memos
    real = views.View._trim

    def measured(self: views.View, budget: int) -> None:
        before, memo = self._held(), sum(map(len, self._memos.values()))
        real(self, budget)
        held.append((before, self._held()))
        memos.append((memo, sum(map(len, self._memos.values()))))

    monkeypatch.setattr(views.View, "_trim", measured)
    projections.catch_up(synthetic, on_error=_raise)
    trimmed = [(before[0], after[0]) for before, after in held if after[0] < before[0]]
    assert len(trimmed) > 10  # trimmed again and again
    assert all(after <= 37 for _, after in trimmed)  # down to three quarters of the budget
    # people have their own budget, twice the referrals': past it, down to about half of it
    forgot = [(before[1], after[1]) for before, after in held if after[1] < before[1]]
    assert forgot and all(before > 100 and after <= 60 for before, after in forgot)
    assert all(after[1] <= 100 for _, after in held)
    # the relationships and companies the plugins worked out went too, and were worked out again
    assert max(before for before, _ in memos) > 50 and all(after <= 50 for _, after in memos)
    assert _stored_rows(synthetic) == _derived_rows(synthetic)


def test_a_small_ledgers_catch_up_keeps_its_view_whole(
    synthetic: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projections, "KEPT", 50)
    trimmed: list[int] = []
    monkeypatch.setattr(views.View, "_trim", lambda self, budget: trimmed.append(budget))
    projections.catch_up(synthetic, on_error=_raise)  # 1,500 events: no more than WHOLE
    assert trimmed == []
    monkeypatch.setattr(projections, "WHOLE", 1499)
    with synthetic.store.write() as cur:
        cur.run("DELETE FROM {p}rl_rows")
        cur.run("DELETE FROM {p}rl_positions")
    projections.catch_up(synthetic, on_error=_raise)
    assert trimmed and set(trimmed) == {50}


def test_a_views_memo_lasts_until_the_view_forgets() -> None:
    view = views.View(_NoLedger())  # type: ignore[arg-type]
    memo = view.memo("mine")
    memo.update(a=1, b=2)
    assert view.memo("mine") is memo and view.memo("theirs") == {}
    view._trim(10)  # under the budget: kept
    assert memo == {"a": 1, "b": 2}
    memo.update({n: n for n in range(20)})  # the memos alone past the budget: emptied
    view._trim(10)
    assert memo == {} and view.memo("mine") is memo
    memo["c"] = 3
    # the view past it: emptied too; the referral's roles are kept
    view._referrals["r"] = [{"seq": n, "type": "follow-up-sent", "at": "x"} for n in range(11)]
    view._trim(10)
    assert memo == {} and view._referrals == {}
    assert view._roles == {"r": views.Roles(None, None, None, None, None, None)}


def test_a_views_roles_are_its_parties_less_the_request_and_outlast_its_events(
    synthetic: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = views.View(synthetic)
    keys = view.referral_keys()
    roles = {}
    for key in keys:
        p = view.parties(key)
        request = p.request
        roles[key] = view.roles(key)
        assert roles[key] == views.Roles(
            p.requester,
            p.referrer,
            p.target,
            p.target_since,
            None if request is None else views.micros(request["at"]),
            None if request is None else request["seq"],
        )
    assert any(r.target is not None for r in roles.values())
    view._trim(len(keys))  # forgets the events of most referrals, not their roles
    assert len(view._referrals) < len(keys) // 2
    read: list[Any] = []
    for name in ("referral_events", "referrals_events"):
        monkeypatch.setattr(view.store, name, lambda *a, **k: read.append(a) or {})
    assert {key: view.roles(key) for key in keys} == roles and read == []


def test_a_view_past_its_budget_forgets_the_people_it_read_first() -> None:
    view = views.View(_NoLedger())  # type: ignore[arg-type]
    for n in range(60):  # 60 people, each with one update: 120 events, past a budget of 100
        view._keep_person(f"p{n}", [_added(n), _updated(n)])
        view._declarations[f"p{n}"] = []
    view._trim(1000)  # people may hold twice the budget of referrals: kept
    assert len(view._people) == 60
    view._trim(1000, people=100)
    # down to half their budget: the last ones read are those kept, in each cache
    assert 0 < len(view._people) < 60 and view._held() == (0, 2 * len(view._people)) <= (0, 50)
    assert list(view._people) == [f"p{n}" for n in range(60 - len(view._people), 60)]
    assert set(view._updates) == set(view._update_times) == set(view._people)
    assert list(view._declarations)[-1] == "p59" and "p0" not in view._declarations


def _added(n: int) -> dict[str, Any]:
    return {"type": "person-added", "handle": f"p{n}", "at": "2026-01-01T00:00:00Z", "seq": n}


def _updated(n: int) -> dict[str, Any]:
    return {"type": "person-updated", "handle": f"p{n}", "at": "2026-01-02T00:00:00Z", "seq": n}


class _NoLedger:
    store = None


def test_a_catch_up_in_windows_derives_what_one_view_does(
    synthetic: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A catch-up over more events than a window reads, derives and writes a window at a time
    (referrals and people named on both sides of a boundary are derived in both): the rows are
    the same, and each window's end is a position the projections reach."""
    monkeypatch.setattr(projections, "WINDOW", 170)  # 1500 events: nine windows, uneven
    monkeypatch.setattr(projections, "PAGE", 60)
    reached: Counter[int] = Counter()
    real = synthetic.store.set_position

    def recorded(cur: Any, name: str, seq: int, version: str) -> None:
        reached[seq] += 1
        real(cur, name, seq, version)

    monkeypatch.setattr(synthetic.store, "set_position", recorded)
    done = projections.catch_up(synthetic, on_error=_raise)
    assert set(done) == {"alerts", "flags", "reputation", "summaries"} and all(done.values())
    ends = sorted(reached)
    assert ends[-1] == 1500 and {170, 340, 1360} <= set(ends)
    assert set(reached.values()) == {4}  # every projection, at every window's end
    assert _stored_rows(synthetic) == _derived_rows(synthetic)
    # More events later: caught up from the last window's end, in windows again.
    synthetic.import_lines(list(synth.lines(300, seed=7, prefix="b")))
    projections.catch_up(synthetic, on_error=_raise)
    assert _stored_rows(synthetic) == _derived_rows(synthetic)


def test_a_projection_failing_in_a_later_window_keeps_what_the_earlier_ones_wrote(
    synthetic: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(projections, "WINDOW", 500)
    flags = next(p for _, p in projections.registered(synthetic) if p.name == "flags")
    real = type(flags).parts
    seen = 0

    def failing_late(self: Any, event: Any, view: Any) -> Any:
        nonlocal seen
        seen += 1
        if seen > 700:
            raise RuntimeError("boom")
        return real(self, event, view)

    monkeypatch.setattr(type(flags), "parts", failing_late)
    failures: list[projections.ProjectionFailed] = []
    done = projections.catch_up(synthetic, on_error=failures.append)
    assert [f.projection for f in failures] == ["flags"]
    assert "flags" not in done and {"alerts", "reputation", "summaries"} <= set(done)
    assert synthetic.store.position("flags")[0] == 500  # the first window stands
    assert synthetic.store.position("alerts")[0] == 1500


def test_a_catch_up_collects_garbage_less_often_and_restores_how_often_after(
    synthetic: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    flags = next(p for _, p in projections.registered(synthetic) if p.name == "flags")
    real = type(flags).derive
    seen: set[int] = set()

    def watched(self: Any, part: str, view: Any) -> Any:
        seen.add(gc.get_threshold()[0])
        return real(self, part, view)

    monkeypatch.setattr(type(flags), "derive", watched)
    before = gc.get_threshold()
    try:
        gc.set_threshold(500, *before[1:])
        projections.catch_up(synthetic, on_error=_raise)
        assert seen == {projections.YOUNG_COLLECTION}
        assert gc.get_threshold() == (500, *before[1:])  # as it was, after
        # a process that already collects less often is left as it is
        seen.clear()
        with synthetic.store.write() as cur:
            cur.run("DELETE FROM {p}rl_rows")
            cur.run("DELETE FROM {p}rl_positions")
        gc.set_threshold(10 * projections.YOUNG_COLLECTION, *before[1:])
        projections.catch_up(synthetic, on_error=_raise)
        assert seen == {10 * projections.YOUNG_COLLECTION}
    finally:
        gc.set_threshold(*before)


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
