"""`audit`: a referral recorded after the fact, seen as it stood and as it was known."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli
from test_verify import STORY, sql, tell

from ledger import hookimpl
from ledger.events import format_timestamp, from_micros
from ledger.projections import Projection
from ledger.views import View, micros

REFERRAL_EVENTS = [e for e in STORY if e.get("referral") == "ana-acme"]


def audit(cli: Cli, *args: str) -> dict[str, Any]:
    return cli.json("audit", "ana-acme", "--json", *args)


def test_audit_lists_the_referrals_events_in_seq_order_with_both_times(cli: Cli) -> None:
    tell(cli)
    out = audit(cli)
    assert set(out) >= {"referral", "events", "flags", "alerts", "chain"}
    assert out["referral"] == "ana-acme" and out["chain"] == "ok"
    events = out["events"]
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    assert len(events) == len(REFERRAL_EVENTS)
    exported = {e["id"]: e for e in cli.export()}
    for event in events:
        expected = {k: v for k, v in exported[event["id"]].items() if k != "keys"}
        assert {k: v for k, v in event.items() if k != "retracted"} == expected
        assert "keys" not in event  # secrets are for export, never for an audit
    retracted = {e["id"] for e in events if e["retracted"]}
    assert retracted == {"fu-1"}
    # recorded after the fact: it happened weeks before the ledger heard of it
    request = next(e for e in events if e["type"] == "referral-requested")
    assert request["at"] == "2026-11-02T09:00:00.250000Z"
    assert micros(request["recorded_at"]) > micros(request["at"])


def test_the_timeline_shows_both_times_and_retractions_beside_what_they_retract(cli: Cli) -> None:
    tell(cli)
    text = cli.ok("audit", "ana-acme").stdout
    assert "requester: ana (Ana Ruiz)" in text and "referrer: carol" in text
    assert "target: bob" in text
    line = next(li for li in text.splitlines() if "2026-11-04 09:00Z" in li)
    assert "recorded " in line and "days later" in line
    lines = text.splitlines()
    retracted = next(i for i, li in enumerate(lines) if li.startswith("✗ 2026-11-06 09:00Z"))
    assert "follow-up-sent: ana followed up with bob" in lines[retracted + 1]
    assert lines[retracted + 2].strip().startswith("RETRACTED by ana")
    assert "wrong day" in lines[retracted + 2]
    assert "chain: ok" in text


def test_as_of_shows_the_world_at_a_time(cli: Cli) -> None:
    tell(cli)
    before_follow_up = audit(cli, "--as-of", "2026-11-05T00:00:00Z")
    assert [e["type"] for e in before_follow_up["events"]] == [
        "referral-requested",
        "request-vetted",
        "introduction-made",
    ]
    # The follow-up happened at 09:00 and its retraction at 10:00; between the two, the
    # retraction already counts: it applies whatever its own `at`, once it is known.
    between = audit(cli, "--as-of", "2026-11-06T09:30:00Z")
    follow_up = next(e for e in between["events"] if e["id"] == "fu-1")
    assert follow_up["retracted"] is True
    assert any(e["type"] == "event-retracted" for e in between["events"])
    assert len(audit(cli)["events"]) == len(REFERRAL_EVENTS)


def test_known_at_shows_what_the_ledger_knew(cli: Cli) -> None:
    first = REFERRAL_EVENTS[:4]  # request, vetting, introduction, the follow-up later retracted
    tell(cli, STORY[:10])
    known = cli.export()[-1]["recorded_at"]
    time.sleep(0.01)
    tell(cli, STORY[10:])
    then = audit(cli, "--known-at", known)
    assert [e["type"] for e in then["events"]] == [e["type"] for e in first]
    assert not any(e["retracted"] for e in then["events"])  # the retraction came later
    now = audit(cli)
    assert next(e for e in now["events"] if e["id"] == "fu-1")["retracted"] is True
    # both: what the ledger knew then about an earlier moment of the world
    both = audit(cli, "--known-at", known, "--as-of", "2026-11-03T12:00:00Z")
    assert [e["type"] for e in both["events"]] == ["referral-requested", "request-vetted"]
    assert both["known_at"] == known


def test_flags_and_alerts_are_those_of_the_referral_in_the_same_view(cli: Cli) -> None:
    tell(cli, STORY[:9])
    known = cli.export()[-1]["recorded_at"]
    time.sleep(0.01)
    tell(cli, STORY[9:])
    views: list[tuple[str, ...]] = [
        (),
        ("--as-of", "2026-11-12T00:00:00Z"),
        ("--as-of", "2026-11-08T00:00:00Z"),
        ("--known-at", known),
        ("--known-at", known, "--as-of", "2026-11-12T00:00:00Z"),
    ]
    seen = []
    for args in views:
        out = audit(cli, *args)
        alerts = [a for a in cli.json("alerts", "--json", *args) if a["referral"] == "ana-acme"]
        flags = [f for f in cli.json("flags", "--json", *args) if f["referral"] == "ana-acme"]
        assert sorted(out["alerts"], key=orjson.dumps) == sorted(alerts, key=orjson.dumps)
        assert sorted(out["flags"], key=orjson.dumps) == sorted(flags, key=orjson.dumps)
        seen.append((len(alerts), len(flags)))
    assert len(set(seen)) > 1  # the views do differ


def test_unknown_referral_and_bad_times_are_refused(cli: Cli) -> None:
    tell(cli, STORY[:7])
    assert "unknown referral" in cli.refused("audit", "nope", "--json").stderr
    cli.refused("audit", "ana-acme", "--as-of", "the day before")  # `yesterday` is a date since 0.2
    cli.refused("audit", "ana-acme", "--known-at", "2026-11-01T09:00:00")  # no offset


def test_a_broken_chain_shows_in_the_audit(sqlite_cli: Cli) -> None:
    tell(sqlite_cli)
    sql(sqlite_cli.db, "UPDATE rl_log SET recorded_us = recorded_us + 1 WHERE seq = 2")
    assert audit(sqlite_cli)["chain"] == "broken"
    assert "chain: broken" in sqlite_cli.ok("audit", "ana-acme").stdout


def test_forgotten_values_show_as_forgotten(cli: Cli, tmp_path: Path) -> None:
    tell(cli)
    cli.ok("forget", "ana", "--yes")
    out = audit(cli)
    request = next(e for e in out["events"] if e["type"] == "referral-requested")
    assert set(request["goal"]) == {"forgotten"}
    page = tmp_path / "page.html"
    text = cli.ok("audit", "ana-acme", "--html", str(page)).stdout
    assert "requester: ana (forgotten)" in text
    html = page.read_text()
    assert "An intro to the platform team" not in html and "Ana Ruiz" not in html
    assert '<span class="forgotten">forgotten</span>' in html


# -- the timeline's obligations and flags, with a projection of our own ------------------------


class Replies(Projection):
    """The referrer owes the requester a reply within a day; a late one is an alert."""

    name = "test-replies"
    category = "alert"

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        return [event["referral"]] if event.get("referral") else []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        events = view.referral(part)
        request = next(e for e in events if e["type"] == "referral-requested")
        opened = micros(request["at"])
        due = opened + 86_400_000_000
        reply = next((e for e in events if e["type"] == "request-vetted"), None)
        end = micros(reply["at"]) if reply else None
        if end is not None and end <= due:
            return
        yield {
            "kind": "reply-owed",
            "referral": part,
            "person": request["referrer"],
            "owed_to": request["by"],
            "since": request["at"],
            "due": stamp(due),
            "opened_by": request["id"],
            "evidence": [request["id"]],
            "message": "no reply",
            "start": stamp(due + 1),
            **({"end": stamp(end)} if end is not None else {}),
        }


class Intros(Projection):
    """A flag raised by every introduction."""

    name = "test-intros"
    category = "flag"

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        return [event["referral"]] if event.get("referral") else []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        for e in view.referral(part):
            if e["type"] == "introduction-made":
                yield {
                    "kind": "introduced",
                    "referral": part,
                    "person": e["by"],
                    "message": "an <introduction>",
                    "evidence": [e["id"]],
                    "start": e["at"],
                }


def stamp(value: int) -> str:
    return format_timestamp(from_micros(value))


class _Plugin:
    @staticmethod
    @hookimpl
    def register_projections() -> list[Projection]:
        return [Replies(), Intros()]


@pytest.fixture
def own_ledger(db: str) -> Any:
    from ledger.app import Ledger
    from ledger.plugins import Plugins

    ledger = Ledger(db, plugins=Plugins(load_entry_points=False, extra={"test-marks": _Plugin}))
    yield ledger
    ledger.close()


def late_story() -> list[dict[str, Any]]:
    story = [dict(e) for e in STORY if e["type"] != "person-forgotten"]
    vetting = next(e for e in story if e["type"] == "request-vetted")
    vetting["at"] = "2026-11-03T18:00:00Z"  # a day and a half after the request: late
    return story


def test_timeline_steps_name_obligations_opened_met_and_overdue_and_flags(own_ledger: Any) -> None:
    from ledger.audit import build_audit, steps, timeline

    for event in late_story():
        own_ledger.record(event)
    now = micros("2026-11-20T00:00:00Z")
    report = build_audit(own_ledger, "ana-acme", as_of=now, known_at=None, chain_ok=True)
    assert [a["kind"] for a in report.alerts] == []  # met by now
    assert [f["kind"] for f in report.flags] == ["introduced"]
    (obligation,) = report.obligations
    assert obligation.end == micros("2026-11-03T18:00:00Z")
    by_type = {s.event["type"]: s for s in steps(report) if s.event and not s.event["retracted"]}
    assert by_type["referral-requested"].opened == [obligation]
    assert by_type["request-vetted"].met == [obligation]
    assert [m.kind for m in by_type["introduction-made"].flags] == ["introduced"]
    overdue = [s for s in steps(report) if s.overdue]
    assert [s.at for s in overdue] == [micros("2026-11-03T09:00:00.250000Z")]
    text = "\n".join(timeline(report))
    assert "opens reply-owed (carol → ana), due 2026-11-03 09:00Z" in text
    assert "! overdue: reply-owed (carol → ana)" in text
    assert "meets reply-owed (carol → ana)" in text
    assert "⚑ flag introduced (carol): an <introduction>" in text

    # As of a moment while it was overdue: the alert is open, the obligation still unmet.
    during = build_audit(
        own_ledger, "ana-acme", as_of=micros("2026-11-03T12:00:00Z"), known_at=None, chain_ok=True
    )
    assert [a["kind"] for a in during.alerts] == ["reply-owed"]
    assert during.obligations[0].end is None
    assert during.raised == []  # the introduction has not happened yet


def test_known_at_derives_the_marks_from_what_was_known(own_ledger: Any) -> None:
    from ledger.audit import build_audit

    story = late_story()
    cut = next(i for i, e in enumerate(story) if e["type"] == "request-vetted")
    for event in story[:cut]:
        own_ledger.record(event)
    known = micros(own_ledger.export_record(own_ledger.store.get("req-1"))["recorded_at"])
    time.sleep(0.01)
    for event in story[cut:]:
        own_ledger.record(event)
    now = micros("2026-11-20T00:00:00Z")
    then = build_audit(own_ledger, "ana-acme", as_of=now, known_at=known, chain_ok=True)
    assert [a["kind"] for a in then.alerts] == ["reply-owed"]  # no reply known yet
    assert then.obligations[0].end is None and then.raised == []
    later = build_audit(own_ledger, "ana-acme", as_of=now, known_at=None, chain_ok=True)
    assert later.alerts == [] and later.obligations[0].end is not None


def test_the_timeline_shows_obligations_met_in_time_with_the_built_in_alerts(cli: Any) -> None:
    # The demo's referral done right: every obligation is opened and met, none falls overdue.
    from pathlib import Path

    story = Path(__file__).parent.parent / "examples" / "stories" / "demo.jsonl"
    cli.ok("import", str(story))
    text = cli.ok("audit", "ana-acme", "--as-of", "2026-10-20T00:00:00Z").stdout
    assert "opens thank-you-missing (ana → carol)" in text
    assert "meets thank-you-missing (ana → carol)" in text
    assert "! overdue:" not in text
    report = cli.json("audit", "ana-acme", "--as-of", "2026-10-20T00:00:00Z", "--json")
    assert report["alerts"] == []
