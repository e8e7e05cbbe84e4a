"""`list` and `list --person` read the kept summaries (the commands plugin's `summaries`
projection: a row per referral) instead of every referral's events, and print what the events
give, byte for byte."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli

from ledger.app import Ledger
from ledger.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import synth
from ledger_commands import reading


def _from_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """List as before the index: from every referral's events."""
    monkeypatch.setattr(reading, "indexed", lambda ledger: False)


def _listed(ledger: Ledger, person: str | None = None, stage: str | None = None) -> list[Any]:
    return [s.as_json() for s in reading.iter_summaries(ledger, person, stage)]


@pytest.fixture
def story(db: str) -> Iterator[Ledger]:
    """Synthetic referrals, some of whose requests are retracted (one requested again under
    the same key), a person forgotten, and a referral's events retracted."""
    ledger = Ledger(db)
    ledger.import_lines(list(synth.lines(1200, seed=31)))
    events = list(ledger.export())
    requests = [e for e in events if e["type"] == "referral-requested"]
    gone = {e["retracts"] for e in events if e["type"] == "event-retracted"}
    for request in requests[2:40:9]:
        # a request is retracted once nothing else of its referral is live
        theirs = [e for e in events if e.get("referral") == request["referral"]]
        for event in [*reversed(theirs[1:]), request]:
            if event["type"] == "event-retracted" or event["id"] in gone:
                continue
            ledger.record(
                {
                    "type": "event-retracted",
                    "by": event["by"],
                    "retracts": event["id"],
                    "referral": request["referral"],
                    "reason": "asked by mistake",
                }
            )
    again = dict(requests[2])
    for key in ("id", "seq", "hash", "recorded_at", "recorded_by", "keys"):
        again.pop(key, None)
    again["at"] = "2021-06-01T10:00:00Z"
    again["role"] = "asked again"
    ledger.record(again)
    vetting = next(e for e in events if e["type"] == "request-vetted")
    ledger.record(
        {
            "type": "event-retracted",
            "by": vetting["by"],
            "retracts": vetting["id"],
            "referral": vetting["referral"],
            "reason": "the wrong answer",
        }
    )
    ledger.record(
        {"type": "person-forgotten", "handle": requests[5]["by"], "at": "2021-06-02T10:00:00Z"}
    )
    yield ledger
    ledger.close()


def test_the_index_lists_what_the_events_give(story: Ledger, monkeypatch):
    people = [None, *story.store.handles()[::7]]
    asked = [(person, stage) for person in people for stage in (None, "closed", "introduced")]
    indexed = [_listed(story, person, stage) for person, stage in asked]
    assert reading.indexed(story)
    assert story.store.position("summaries")[0] == story.store.tail()[0]
    everything = indexed[0]
    assert len(everything) > 80
    assert any(s["retracted"] for s in everything)
    assert any(isinstance(s["role"], dict) for s in everything)  # a forgotten requester's
    assert sum(map(len, indexed)) > 2 * len(everything)
    _from_events(monkeypatch)
    for (person, stage), found in zip(asked, indexed, strict=True):
        assert found == _listed(story, person, stage), (person, stage)


def test_the_index_is_read_instead_of_the_events(story: Ledger, monkeypatch):
    everything = _listed(story)
    mine = _listed(story, story.store.handles()[3])
    assert mine

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a referral's events were read")

    monkeypatch.setattr(Store, "referrals_events", refused)
    monkeypatch.setattr(Store, "referral_events", refused)
    assert _listed(story) == everything
    assert _listed(story, story.store.handles()[3]) == mine


def test_the_printed_list_is_the_same_from_the_index(db: str, monkeypatch):
    """The same bytes from the index as from the events, and again once the index is
    dropped and built anew; `replay` rebuilds and checks it like any projection."""
    ledger = Ledger(db)
    ledger.import_lines(list(synth.lines(700, seed=32)))
    ledger.close()
    cli = Cli(db)
    person = "p4"
    commands = [("list",), ("list", "--json"), ("list", "--person", person)]
    commands += [("list", "--person", person, "--json"), ("list", "--stage", "closed")]
    indexed = [cli.ok(*args).stdout_bytes for args in commands]
    assert b"r10 " in indexed[0] and b'"referral":"r10"' in indexed[1].replace(b" ", b"")
    # the index dropped (derived state) is built again on the next read
    ledger = Ledger(db)
    try:
        with ledger.store.write() as cur:
            cur.run("DELETE FROM {p}rl_rows WHERE projection = 'summaries'")
            cur.run("DELETE FROM {p}rl_positions WHERE projection = 'summaries'")
    finally:
        ledger.close()
    assert [cli.ok(*args).stdout_bytes for args in commands] == indexed
    # and what the events give (the CLI runs in this process)
    _from_events(monkeypatch)
    assert [cli.ok(*args).stdout_bytes for args in commands] == indexed


def test_the_index_follows_each_new_event(cli: Cli):
    cli.record({"type": "person-added", "handle": "ana", "name": "Ana"})
    cli.record({"type": "person-added", "handle": "bob", "name": "Bob"})
    request = cli.record(
        {
            "type": "referral-requested",
            "referral": "ana-acme",
            "by": "ana",
            "referrer": "bob",
            "company": "Acme",
            "at": "2026-01-05T10:00:00Z",
        }
    )
    [shown] = cli.json("list", "--json")
    assert (shown["stage"], shown["events"], shown["retracted"]) == ("requested", 1, 0)
    vetting = cli.record(
        {
            "type": "request-vetted",
            "referral": "ana-acme",
            "by": "bob",
            "decision": "accept",
            "knows_work": True,
            "at": "2026-01-06T10:00:00Z",
        }
    )
    [shown] = cli.json("list", "--person", "bob", "--json")
    assert (shown["stage"], shown["events"]) == ("vetted", 2)
    cli.ok("retract", vetting["id"], "--by", "bob", "--reason", "not yet")
    [shown] = cli.json("list", "--json")
    assert (shown["stage"], shown["events"], shown["retracted"]) == ("requested", 1, 1)
    cli.ok("retract", request["id"], "--by", "ana", "--reason", "by mistake")
    assert cli.json("list", "--json") == []
    assert cli.json("list", "--person", "ana", "--json") == []


def test_a_read_only_ledger_behind_its_events_lists_from_the_events(sqlite_cli: Cli, monkeypatch):
    cli = sqlite_cli
    cli.record({"type": "person-added", "handle": "ana", "name": "Ana"})
    cli.record({"type": "person-added", "handle": "bob", "name": "Bob"})
    assert cli.json("list", "--json") == []  # the index is current, and empty
    cli.record(
        {
            "type": "referral-requested",
            "referral": "ana-acme",
            "by": "ana",
            "referrer": "bob",
            "company": "Acme",
            "at": "2026-01-05T10:00:00Z",
        }
    )
    import ledger.store.sqlite

    monkeypatch.setattr(ledger.store.sqlite, "_writable", lambda path: False)
    ledger_ = Ledger(cli.db)
    try:
        assert ledger_.store.read_only
        assert not reading.indexed(ledger_)
        [shown] = _listed(ledger_)
        assert shown["referral"] == "ana-acme"
        assert ledger_.store.position("summaries")[0] < ledger_.store.tail()[0]
    finally:
        ledger_.close()
    # a process that can write brings the index up to date
    assert orjson.loads(cli.ok("list", "--json").stdout)[0]["referral"] == "ana-acme"
