"""The write rules, told as stories: what a closed referral still takes, how a retraction stops
an event counting, where the edges of time lie."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.app import Ledger
from ledger.errors import LedgerError
from ledger.plugins import Plugins

BASE = Path(__file__).parent / "fixtures" / "base.jsonl"
# r2 was closed at this moment (base.jsonl)
CLOSED = "2026-09-13T09:00:00Z"
AFTER = "2026-09-20T09:00:00Z"


@pytest.fixture
def ledger(cli):
    cli.ok("import", str(BASE))
    return cli


def try_record(cli, event: dict[str, Any]):
    return cli("record", orjson.dumps(event).decode())


# -- a closed referral ---------------------------------------------------------------------------

AFTER_CLOSE_OK = [
    {"type": "thank-you-sent", "referral": "r2", "by": "dan", "to": "carol"},
    {"type": "follow-up-sent", "referral": "r2", "by": "carol", "to": "dan"},
    {
        "type": "outcome-reported",
        "referral": "r2",
        "by": "dan",
        "to": "carol",
        "outcome": "no-opening",
    },
]
AFTER_CLOSE_REFUSED = [
    {
        "type": "request-vetted",
        "referral": "r2",
        "by": "carol",
        "decision": "accept",
        "knows_work": True,
    },
    {"type": "introduction-made", "referral": "r2", "by": "carol", "to": "bob"},
    {"type": "resume-forwarded", "referral": "r2", "by": "carol", "to": "bob"},
    {"type": "interview-scheduled", "referral": "r2", "on": "2026-10-01T09:00:00Z"},
    {"type": "interview-held", "referral": "r2"},
    {"type": "referral-closed", "referral": "r2", "by": "dan", "reason": "Again"},
]


def test_a_closed_referral_takes_only_what_may_follow_a_close(ledger, subtests):
    for event in AFTER_CLOSE_REFUSED:
        with subtests.test(event["type"]):
            for at in (CLOSED, AFTER):
                result = try_record(ledger, {**event, "at": at})
                assert result.exit_code == 2 and "closed" in result.stderr, (at, result.stderr)
    for event in AFTER_CLOSE_OK:
        with subtests.test(event["type"]):
            assert ledger.record({**event, "at": CLOSED})["type"] == event["type"]


def test_what_happened_before_the_close_can_still_be_recorded(ledger):
    # history is often written down after the fact
    before = "2026-09-12T18:00:00Z"
    ledger.record(
        {
            "type": "request-vetted",
            "referral": "r2",
            "by": "carol",
            "decision": "accept",
            "knows_work": True,
            "at": before,
        }
    )
    ledger.record(
        {"type": "introduction-made", "referral": "r2", "by": "carol", "to": "bob", "at": before}
    )


def test_feedback_after_a_close_needs_an_interview_too(ledger):
    interview = {"type": "interview-held", "referral": "r2", "at": "2026-09-12T18:00:00Z"}
    feedback = {
        "type": "feedback-given",
        "referral": "r2",
        "by": "bob",
        "to": "carol",
        "match": 2,
        "at": AFTER,
    }
    assert "needs an interview-held" in try_record(ledger, feedback).stderr
    ledger.record(interview)
    assert ledger.record(feedback)["match"] == 2


def test_a_retracted_close_reopens_the_referral(ledger):
    intro = {"type": "introduction-made", "referral": "r2", "by": "carol", "to": "bob", "at": AFTER}
    assert try_record(ledger, intro).exit_code == 2
    ledger.record(
        {
            "type": "event-retracted",
            "referral": "r2",
            "by": "carol",
            "retracts": "close-r2",
            "reason": "Closed the wrong referral",
            "at": AFTER,
        }
    )
    ledger.record(intro)
    ledger.record(
        {
            "type": "referral-closed",
            "referral": "r2",
            "by": "carol",
            "reason": "Now it is done",
            "at": "2026-09-21T09:00:00Z",
        }
    )
    assert try_record(ledger, {**intro, "at": "2026-09-22T09:00:00Z"}).exit_code == 2


def test_a_retraction_is_accepted_after_a_close(ledger):
    thanks = ledger.record(
        {
            "type": "thank-you-sent",
            "referral": "r2",
            "by": "dan",
            "to": "carol",
            "at": AFTER,
            "id": "ty-r2",
        }
    )
    retraction = ledger.record(
        {
            "type": "event-retracted",
            "referral": "r2",
            "by": "dan",
            "retracts": thanks["id"],
            "reason": "Never sent",
            "at": AFTER,
        }
    )
    assert retraction["retracts"] == "ty-r2"


# -- retractions stop counting -------------------------------------------------------------------


def test_a_retracted_interview_does_not_count_for_feedback(ledger):
    feedback = {
        "type": "feedback-given",
        "referral": "r1",
        "by": "bob",
        "to": "carol",
        "match": 5,
        "at": AFTER,
    }
    ledger.record(
        {
            "type": "event-retracted",
            "referral": "r1",
            "by": "bob",
            "retracts": "held-r1",
            "reason": "It was rescheduled",
            "at": "2026-09-16T09:00:00Z",
        }
    )
    assert "needs an interview-held" in try_record(ledger, feedback).stderr
    ledger.record(
        {"type": "interview-held", "referral": "r1", "by": "bob", "at": "2026-09-18T09:00:00Z"}
    )
    assert ledger.record(feedback)["match"] == 5


def test_feedback_at_the_same_moment_as_the_interview(ledger):
    ledger.record(
        {
            "type": "feedback-given",
            "referral": "r1",
            "by": "bob",
            "to": "carol",
            "match": 3,
            "at": "2026-09-15T11:00:00+02:00",
        }
    )


def test_an_event_at_the_very_moment_of_its_request(ledger):
    ledger.record(
        {
            "type": "request-vetted",
            "referral": "r3",
            "by": "carol",
            "decision": "accept",
            "knows_work": False,
            "at": "2026-09-12T09:00:00Z",
        }
    )
    late = try_record(
        ledger,
        {
            "type": "follow-up-sent",
            "referral": "r3",
            "by": "erin",
            "to": "carol",
            "at": "2026-09-12T08:59:59.999999Z",
        },
    )
    assert late.exit_code == 2 and "earlier than the referral was requested" in late.stderr


def test_an_event_of_another_referral_is_not_held_to_this_ones_rules(ledger):
    # r2 is closed, r1 and r3 are not
    ledger.record(
        {"type": "introduction-made", "referral": "r3", "by": "carol", "to": "bob", "at": AFTER}
    )


def test_a_retracted_declaration_can_be_retracted_no_further(ledger):
    ledger.record(
        {
            "type": "event-retracted",
            "by": "ana",
            "retracts": "decl-ana-carol",
            "reason": "We only met once",
            "at": AFTER,
        }
    )
    again = try_record(
        ledger,
        {
            "type": "event-retracted",
            "by": "ana",
            "retracts": "decl-ana-carol",
            "reason": "Twice",
            "at": AFTER,
        },
    )
    assert again.exit_code == 2 and "already retracted" in again.stderr


# -- the order of one import ---------------------------------------------------------------------


def test_a_person_is_added_before_anyone_names_them_in_one_import(cli, tmp_path):
    events = [
        {"type": "person-added", "handle": "ana", "name": "Ana"},
        {"type": "connection-declared", "by": "ana", "with": "zoe", "kind": "friend"},
        {"type": "person-added", "handle": "zoe", "name": "Zoe"},
    ]
    path = tmp_path / "order.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    result = cli.refused("import", str(path))
    assert "line 2" in result.stderr and "unknown person 'zoe'" in result.stderr
    assert cli.stored() == []
    events[1], events[2] = events[2], events[1]
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    cli.ok("import", str(path))
    assert [e["type"] for e in cli.export()] == [
        "person-added",
        "person-added",
        "connection-declared",
    ]


def test_one_import_sees_its_own_earlier_lines(cli, tmp_path):
    story = [
        {"type": "person-added", "handle": "ana", "name": "Ana"},
        {"type": "person-added", "handle": "carol", "name": "Carol"},
        {"type": "person-added", "handle": "bob", "name": "Bob"},
        {
            "type": "referral-requested",
            "referral": "k",
            "by": "ana",
            "referrer": "carol",
            "company": "Acme",
            "at": "2026-09-01T00:00:00Z",
        },
        {
            "type": "referral-closed",
            "referral": "k",
            "by": "ana",
            "reason": "Changed my mind",
            "at": "2026-09-02T00:00:00Z",
        },
        {
            "type": "introduction-made",
            "referral": "k",
            "by": "carol",
            "to": "bob",
            "at": "2026-09-03T00:00:00Z",
        },
    ]
    path = tmp_path / "story.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in story))
    result = cli.refused("import", str(path))
    assert "line 6" in result.stderr and "closed" in result.stderr
    assert cli.stored() == []


# -- a property: whatever is thrown at it, the ledger stays whole ---------------------------------

STEPS = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                [
                    "introduction-made",
                    "follow-up-sent",
                    "interview-held",
                    "feedback-given",
                    "referral-closed",
                    "event-retracted",
                    "thank-you-sent",
                    "request-vetted",
                ]
            ),
            "referral": st.sampled_from(["r1", "r2", "r3"]),
            "by": st.sampled_from(["ana", "carol", "bob", "dan", "erin"]),
            "to": st.sampled_from(["ana", "carol", "bob", "dan", "erin"]),
            "day": st.integers(9, 25),
        }
    ),
    min_size=1,
    max_size=12,
)


def as_event(step: dict[str, Any], stored_ids: list[str]) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": step["type"],
        "referral": step["referral"],
        "by": step["by"],
        "at": f"2026-09-{step['day']:02d}T12:00:00Z",
    }
    kind = step["type"]
    if kind in ("introduction-made", "follow-up-sent", "feedback-given", "thank-you-sent"):
        event["to"] = step["to"]
    if kind == "interview-held":
        del event["by"]
    if kind == "feedback-given":
        event["match"] = 3
    if kind == "referral-closed":
        event["reason"] = "Done"
    if kind == "event-retracted":
        event["retracts"] = stored_ids[step["day"] % len(stored_ids)]
        event["reason"] = "Wrong"
    if kind == "request-vetted":
        event |= {"decision": "accept", "knows_work": True}
    return event


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_every_write_is_whole_or_nothing_and_the_chain_holds(steps):
    with tempfile.TemporaryDirectory() as directory:
        ledger = Ledger(str(Path(directory) / "l.db"), plugins=Plugins(load_entry_points=False))
        try:
            ledger.import_lines(BASE.read_bytes().splitlines())
            ids = [s.event_id for s in ledger.store.events()]
            for step in steps:
                count = ledger.store.count()
                try:
                    stored = ledger.record(as_event(step, ids))
                except LedgerError:
                    assert ledger.store.count() == count
                else:
                    assert stored["seq"] == count + 1
                    ids.append(stored["id"])
            exported = list(ledger.export())
            assert [e["seq"] for e in exported] == list(range(1, len(exported) + 1))
            retracted = [e["retracts"] for e in exported if e["type"] == "event-retracted"]
            assert len(retracted) == len(set(retracted))
            types = {e["id"]: e["type"] for e in exported}
            assert all(types[r] != "event-retracted" for r in retracted)
        finally:
            ledger.close()
