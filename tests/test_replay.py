"""`replay`: every plugin's derived state rebuilt from the first event, and compared with the
state kept incrementally as events arrived."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli
from test_verify import STORY

from ledger import hookimpl, terminal
from ledger.projections import Projection
from ledger.views import View


def test_replay_after_events_arrived_one_by_one_finds_no_difference(cli: Cli) -> None:
    for event in STORY:
        cli.record(event)
        cli.ok("alerts", "--json")  # a read brings the derived state up to date, step by step
        cli.ok("flags", "--json")
    out = cli.json("replay", "--json")
    assert out["ok"] is True and out["events"] == len(STORY)
    names = {p["name"] for p in out["projections"]}
    assert {"alerts", "flags"} <= names
    for projection in out["projections"]:
        assert projection["incremental_rows"] == projection["rebuilt_rows"]
        assert projection["only_incremental"] == projection["only_rebuilt"] == []
    text = cli.ok("replay").stdout
    assert "no difference" in text and f"Replayed {len(STORY)} events" in text


def test_replay_of_an_empty_ledger(cli: Cli) -> None:
    from ledger.app import Ledger

    Ledger(cli.db).close()  # an empty ledger
    assert cli.json("replay", "--json")["ok"] is True


class Counting(Projection):
    """A buggy projection: its rows depend on events outside the parts it names."""

    name = "test-counting"
    category = "test"

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        return [event["referral"]] if event["type"] == "referral-requested" else []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        events = view.referral(part)
        yield {"kind": "events", "referral": part, "count": len(events), "start": events[0]["at"]}


class _Buggy:
    @staticmethod
    @hookimpl
    def register_projections() -> list[Projection]:
        return [Counting()]


def test_replay_reports_a_projection_that_drifts_from_a_rebuild(sqlite_db: str) -> None:
    from ledger.app import Ledger
    from ledger.plugins import Plugins
    from ledger.projections import catch_up, replay

    ledger = Ledger(sqlite_db, plugins=Plugins(load_entry_points=False, extra={"buggy": _Buggy}))
    try:
        for event in STORY[:8]:
            ledger.record(event)
            catch_up(ledger)
        (result,) = replay(ledger)
        assert not result.same
        assert [r["data"]["count"] for r in result.only_incremental] == [1]
        assert [r["data"]["count"] for r in result.only_rebuilt] == [2]
        (again,) = replay(ledger)  # the rebuilt state is what stays
        assert again.same
    finally:
        ledger.close()


class Failing(Projection):
    """A projection whose plugin raises when it derives."""

    name = "test-failing"
    category = "test"

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        return [event["referral"]] if event.get("referral") else []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        raise RuntimeError("cannot derive")


class _Failing:
    @staticmethod
    @hookimpl
    def register_projections() -> list[Projection]:
        return [Failing()]


def test_replay_rebuilds_every_projection_in_one_pass_over_the_log(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One read of the log rebuilds every projection (not one read each), and each plugin is
    judged on its own: the buggy one's difference and the failing one's error, the others the
    same."""
    from ledger.app import Ledger
    from ledger.plugins import Plugins
    from ledger.projections import catch_up, replay

    extra = {"buggy": _Buggy, "failing": _Failing}
    ledger = Ledger(db, plugins=Plugins(extra=extra))
    try:
        for event in STORY[:8]:
            ledger.record(event)
            catch_up(ledger, on_error=lambda error: None)
        reads = 0
        # a catch-up goes through the log by its (seq, referral) pages, and reads whole only
        # the events its view does not hold
        scan = ledger.store.log_referrals

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal reads
            reads += 1
            return scan(*args, **kwargs)

        monkeypatch.setattr(ledger.store, "log_referrals", counted)
        results = {r.name: r for r in replay(ledger)}
        # one read to bring the rows up to date first (the failing one is behind: it fails
        # again), one to rebuild all five; not one per projection
        assert reads == 2
        assert {"alerts", "flags", "reputation", "test-counting", "test-failing"} <= set(results)
        assert all(results[name].same for name in ("alerts", "flags", "reputation"))
        assert results["alerts"].rebuilt == results["alerts"].incremental > 0
        counting = results["test-counting"]
        assert counting.error is None and not counting.same
        assert [r["data"]["count"] for r in counting.only_rebuilt] == [2]
        failing = results["test-failing"]
        assert failing.error is not None and "cannot derive" in failing.error
        assert failing.rebuilt == failing.incremental == 0
    finally:
        ledger.close()


def test_a_replay_reads_each_event_of_a_referral_once(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scan reads its referrals' events in bulk, for the view that derives them; it reads
    whole only the events it does not then hold (a person's own), not every event again."""
    from ledger.app import Ledger
    from ledger.projections import catch_up

    ledger = Ledger(db)
    try:
        for event in STORY:
            ledger.record(event)
        with ledger.store.read() as cur:
            found = cur.all("SELECT seq, referral FROM {p}rl_log ORDER BY seq")
        personal = [int(r["seq"]) for r in found if not r["referral"]]
        assert personal and len(personal) < len(found)  # the story has both kinds
        asked: list[int] = []
        referrals: list[str] = []
        events_at, referrals_events = ledger.store.events_at, ledger.store.referrals_events

        def counted_at(seqs: Any) -> Any:
            asked.extend(seqs)
            return events_at(seqs)

        def counted_referrals(keys: Any) -> Any:
            referrals.extend(keys)
            return referrals_events(keys)

        monkeypatch.setattr(ledger.store, "events_at", counted_at)
        monkeypatch.setattr(ledger.store, "referrals_events", counted_referrals)
        done = catch_up(ledger)
        assert done["alerts"] > 0 and done["flags"] > 0
        assert asked == personal
        assert sorted(referrals) == sorted({r["referral"] for r in found if r["referral"]})
    finally:
        ledger.close()


COLUMNS = "projection, part, category, kind, referral, person, owed_to, start_us, end_us, data"


def _stored(ledger: Any, name: str) -> list[tuple[Any, ...]]:
    with ledger.store.read() as cur:
        found = cur.all(f"SELECT {COLUMNS} FROM {{p}}rl_rows WHERE projection = ?", (name,))
    return [tuple(bytes(r[c]) if c == "data" else r[c] for c in COLUMNS.split(", ")) for r in found]


def _shown(rows: Iterable[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The rows that differ as the first version of replay showed them: each distinct row once,
    in the order of the index on (projection, part)."""
    from ledger.projections import _shown_row

    keys = [
        orjson.dumps([*row[1:9], orjson.loads(row[9])], option=orjson.OPT_SORT_KEYS)
        for row in sorted(rows, key=lambda row: row[1])
    ]
    return [_shown_row(key) for key in dict.fromkeys(keys)]


def test_replay_reports_duplicated_missing_extra_and_changed_rows(db: str) -> None:
    from ledger.app import Ledger
    from ledger.projections import catch_up, replay

    ledger = Ledger(db)
    try:
        for event in STORY:
            ledger.record(event)
        catch_up(ledger)
        good = _stored(ledger, "alerts")
        assert len(good) >= 4
        changed = (*good[2][:9], good[2][9].replace(b'"referral"', b'"x":1,"referral"', 1))
        extra = (*good[3][:7], good[3][7] + 1, *good[3][8:])
        # Three copies of the first row, the second missing, the third changed, and a row
        # that no rebuild makes, twice: each differing row is shown once.
        tampered = [good[0], good[0], good[0], changed, *good[3:], extra, extra]
        with ledger.store.write() as cur:
            cur.run("DELETE FROM {p}rl_rows WHERE projection = ?", ("alerts",))
            cur.many("INSERT INTO {p}rl_rows VALUES (?,?,?,?,?,?,?,?,?,?)", tampered)
        results = {r.name: r for r in replay(ledger)}
        alerts = results.pop("alerts")
        assert all(r.same for r in results.values()) and not alerts.same
        assert (alerts.incremental, alerts.rebuilt) == (len(good) + 3, len(good))
        only_incremental, only_rebuilt = _shown([good[0], changed, extra]), _shown(good[1:3])
        assert len(only_incremental) == 3 and len(only_rebuilt) == 2
        if db.endswith(".db"):  # SQLite reads a part's rows in the order they were written
            assert alerts.only_incremental == only_incremental
            assert alerts.only_rebuilt == only_rebuilt
        else:
            dump = orjson.dumps
            assert sorted(map(dump, alerts.only_incremental)) == sorted(map(dump, only_incremental))
            assert sorted(map(dump, alerts.only_rebuilt)) == sorted(map(dump, only_rebuilt))
        assert sorted(_stored(ledger, "alerts")) == sorted(good)  # the rebuilt state stays
    finally:
        ledger.close()


def big_story(total: int, people: int = 1000) -> Iterator[dict[str, Any]]:
    """A ledger of `total` events: people, then referrals that go more or less far."""
    base = datetime(2025, 1, 1, tzinfo=UTC)

    def at(minutes: int) -> str:
        return (base + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    count = 0
    for i in range(min(people, total)):
        yield {"type": "person-added", "handle": f"p{i}", "name": f"Person {i}",
               "company": f"Co{i % 50}", "at": at(0)}  # fmt: skip
        count += 1
    k = 0
    day = 60 * 24
    while count < total:
        req, ref, tgt = (f"p{(3 * k + j) % people}" for j in range(3))
        key, t = f"r{k}", 60 + (k * 7) % 400_000
        steps = [
            {"type": "referral-requested", "by": req, "referrer": ref, "company": f"Co{k % 50}",
             "target": tgt, "at": at(t)},
            {"type": "request-vetted", "by": ref, "decision": "accept", "knows_work": k % 5 != 0,
             "at": at(t + day * (k % 9))},
            {"type": "introduction-made", "by": ref, "to": tgt, "at": at(t + day * 10)},
            {"type": "follow-up-sent", "by": req, "to": tgt, "at": at(t + day * (11 + k % 20))},
            {"type": "interview-held", "by": tgt, "at": at(t + day * 40)},
            {"type": "feedback-given", "by": tgt, "to": ref, "match": 1 + k % 5,
             "at": at(t + day * 45)},
            {"type": "thank-you-sent", "by": req, "to": ref, "at": at(t + day * (11 + k % 3))},
            {"type": "outcome-reported", "by": req, "to": ref, "outcome": "hired",
             "at": at(t + day * 60)},
            {"type": "referral-closed", "by": req, "reason": "done", "at": at(t + day * 61)},
        ]  # fmt: skip
        for event in steps[: min(3 + k % 7, total - count)]:
            yield {**event, "referral": key}
            count += 1
        k += 1


@pytest.mark.slow
def test_replay_of_a_hundred_thousand_events(
    sqlite_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(terminal, "is_terminal", lambda stream: True)  # to show the bar's label
    total = int(os.environ.get("REFERRAL_LEDGER_REPLAY_EVENTS", "100000"))
    lines = [orjson.dumps(e) for e in big_story(total)]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_bytes(b"\n".join(lines[: total // 2]) + b"\n")
    second.write_bytes(b"\n".join(lines[total // 2 :]) + b"\n")
    started = time.monotonic()
    sqlite_cli.ok("import", str(first))
    sqlite_cli.ok("alerts", "--json")  # the incremental state, built in two steps
    sqlite_cli.ok("import", str(second))
    sqlite_cli.ok("flags", "--json")
    imported = time.monotonic() - started
    result = sqlite_cli("replay", "--json")
    assert result.exit_code == 0, result.output
    out = orjson.loads(result.stdout)
    assert out["ok"] is True and out["events"] == total
    bars = [line for line in result.stderr.splitlines() if line.startswith("Catching up ")]
    assert len(bars) == 1 and "alerts" in bars[0]  # one progress bar for every projection
    print(f"\n{total} events: import and catch-up {imported:.1f}s, replay {out['seconds']:.1f}s")
