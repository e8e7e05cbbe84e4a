"""Current relationship accounts, as plugins read them through ledger.api."""

from __future__ import annotations

from judging_story import Story, day

from ledger.api import STRENGTH, View, micros, relationship, relationships, request_as_of
from ledger.app import Ledger
from ledger.kinds import KINDS
from ledger.relationships import AMENDED, referral_accounts


def test_strength_ranks_are_the_contracts():
    assert set(STRENGTH) == set(KINDS)
    assert [STRENGTH[k] for k in ("linkedin-only", "met-once", "acquaintance")] == [0, 1, 2]
    assert {STRENGTH[k] for k in ("worked-together", "managed", "reported-to")} == {3}
    assert STRENGTH["friend"] == STRENGTH["family"] == 4


def view_of(cli, known_at=None):
    ledger = Ledger(cli.db)
    return ledger, View(ledger, known_at)


def test_current_accounts_from_declarations_requests_and_vettings(cli):
    story = Story(cli)
    story.declare("ana", "carol", "linkedin-only", -400)
    story.event(
        "connection-declared", -30, by="carol", kind="friend", since="2019-04-02", **{"with": "ana"}
    )
    request = story.request(0, relationship="worked-together")
    vetting = story.vet(1, relationship="acquaintance")
    ledger, view = view_of(cli)
    try:
        known = relationship(view, "ana", "carol")
        mine = known.current("ana")
        assert (mine.kind, mine.event, mine.referral, mine.type) == (
            "worked-together",
            request["id"],
            "r1",
            "referral-requested",
        )
        assert known.current("carol").event == vetting["id"]
        # As of day -1 the request and the vetting had not happened.
        assert known.current("ana", micros(day(-1))).kind == "linkedin-only"
        assert known.current("carol", micros(day(-1))).kind == "friend"
        assert known.current("carol", micros(day(-31))) is None
        # It started with the friendship (since 2019), not with the request in September.
        assert known.start() == micros("2019-04-02T00:00:00Z")
        assert known.start(micros(day(-31))) is None  # only a LinkedIn link by then
        # The same relationship read from the other side.
        assert relationship(view, "carol", "ana").current("ana").event == request["id"]
        assert set(relationships(view, "ana")) == {"carol", "bob"}
    finally:
        ledger.close()


def test_retracted_accounts_do_not_count_and_views_keep_their_time(cli):
    story = Story(cli)
    first = story.declare("ana", "carol", "friend", -10)
    wrong = story.declare("ana", "carol", "met-once", -5)
    story.event("event-retracted", -4, by="ana", retracts=wrong["id"], reason="Typo", referral=None)
    ledger, view = view_of(cli)
    try:
        assert relationship(view, "ana", "carol").current("ana").event == first["id"]
    finally:
        ledger.close()
    ledger, then = view_of(cli, micros(wrong["recorded_at"]))
    try:
        assert relationship(then, "ana", "carol").current("ana").event == wrong["id"]
    finally:
        ledger.close()


def test_an_amendment_would_be_an_account_and_amend_the_request():
    """`request-amended` is not an event type yet: the accounts and the request read it the
    day it is (its fields replace the request's, the keys of `preparation` those keys)."""
    request = {
        "type": "referral-requested",
        "id": "q",
        "seq": 1,
        "at": day(0),
        "referral": "r1",
        "by": "ana",
        "referrer": "carol",
        "company": "Acme",
        "relationship": "met-once",
        "preparation": {"researched_company": True, "questions": []},
    }
    amended = {
        "type": AMENDED,
        "id": "a",
        "seq": 2,
        "at": day(3),
        "referral": "r1",
        "by": "ana",
        "relationship": "worked-together",
        "preparation": {"questions": ["Why Acme?"]},
    }
    events = [request, amended]
    accounts = referral_accounts(events)
    assert [(a.by, a.of, a.kind, a.event) for a in accounts] == [
        ("ana", "carol", "met-once", "q"),
        ("ana", "carol", "worked-together", "a"),
    ]
    assert request_as_of(events, micros(day(2)))["preparation"]["questions"] == []
    later = request_as_of(events, micros(day(3)))
    assert later["preparation"] == {"researched_company": True, "questions": ["Why Acme?"]}
    assert later["relationship"] == "worked-together" and later["id"] == "q"
    assert request_as_of([amended]) is None
