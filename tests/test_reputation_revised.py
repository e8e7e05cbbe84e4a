"""Stories of reputation as 0.2 revised it: the interview's verdict on the match, passing on an
unprepared request, a flag with no referral, honest accounts compared by rank, waivers."""

from __future__ import annotations

from typing import Any

import pytest
from judging_story import FULL_PREPARATION, Story, day, kinds
from ledger_reputation.conduct import (
    BASE,
    GOOD_MATCH,
    HONEST_ACCOUNT,
    OVERDUE,
    PASSED_ON_UNPREPARED,
    POOR_MATCH,
    PREPARED_REQUEST,
    clamp,
    conduct,
)
from ledger_reputation.scores import scores

from ledger.api import Relationship, Row, micros
from ledger.relationships import referral_accounts


def assert_explained(people: list[dict[str, Any]]) -> None:
    """Every score is the documented base plus its explanation's points, clamped."""
    assert people
    for person in people:
        for role in ("requester", "referrer", "target"):
            part = person[f"as_{role}"]
            assert part["score"] == clamp(BASE + sum(e["points"] for e in part["explain"]))
            for entry in part["explain"]:
                assert set(entry) == {"event", "points", "reason"}
                assert entry["points"] != 0 and entry["reason"]


def entries(people: list[dict[str, Any]], handle: str, role: str, word: str) -> list[Any]:
    """(points, event) of the explanation entries of HANDLE as ROLE whose reason has WORD."""
    person = next(p for p in people if p["person"] == handle)
    return [
        (e["points"], e["event"]) for e in person[f"as_{role}"]["explain"] if word in e["reason"]
    ]


def score(people: list[dict[str, Any]], handle: str, role: str) -> float:
    return next(p for p in people if p["person"] == handle)[f"as_{role}"]["score"]


def interviewed(cli: Any) -> Story:
    """Ana, prepared, introduced by Carol to Bob, who interviews her on day 8."""
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.event("interview-held", 8, by="bob")
    return story


# The target's verdict on the match counts for the requester and for the referrer.


@pytest.mark.parametrize(
    "match, points", [(1, POOR_MATCH), (2, POOR_MATCH), (3, None), (4, GOOD_MATCH), (5, GOOD_MATCH)]
)
def test_the_targets_match_counts_for_requester_and_referrer(cli, match, points):
    story = interviewed(cli)
    feedback = story.send("feedback-given", "bob", "carol", 9, match=match)
    people = story.reputation(9)
    assert_explained(people)
    expected = [(points, feedback["id"])] if points is not None else []
    assert entries(people, "ana", "requester", "match") == expected
    assert entries(people, "carol", "referrer", "match") == expected
    # The target giving feedback at all is still credited, whatever the verdict.
    assert [p for p, _ in entries(people, "bob", "target", "gave feedback")] == [3]
    assert entries(people, "bob", "target", "match") == []
    # Before the interview's verdict, nothing of it counts.
    assert entries(story.reputation(8.9), "ana", "requester", "match") == []


def test_a_match_of_1_no_longer_leaves_the_requester_where_a_perfect_story_does(cli):
    # The miss: 0.1 credited only the referrer, and only for 4 or 5.
    story = interviewed(cli)
    story.send("feedback-given", "bob", "carol", 9, match=1)
    poor = story.reputation(9)
    story.referral = "r2"
    story.request(0, by="eve", company="Acme")
    story.vet(1)
    story.introduce(2)
    story.event("interview-held", 8, by="bob")
    story.send("feedback-given", "bob", "carol", 9, match=5)
    people = story.reputation(9)
    assert_explained(people)
    eve, ana = score(people, "eve", "requester"), score(people, "ana", "requester")
    assert eve - ana == GOOD_MATCH - POOR_MATCH == 6
    assert score(poor, "ana", "requester") == score(people, "ana", "requester")
    # Carol introduced both: her one good and one poor match cancel out.
    assert [p for p, _ in entries(people, "carol", "referrer", "match")] == [POOR_MATCH, GOOD_MATCH]


def test_only_the_targets_first_feedback_is_the_verdict(cli):
    story = interviewed(cli)
    # Carol's own opinion of the match is not the interview's.
    story.send("feedback-given", "carol", "bob", 8.5, match=1)
    first = story.send("feedback-given", "bob", "carol", 9, match=2)
    story.send("feedback-given", "bob", "carol", 10, match=5)
    people = story.reputation(11)
    assert_explained(people)
    assert entries(people, "ana", "requester", "match") == [(POOR_MATCH, first["id"])]
    assert entries(people, "carol", "referrer", "match") == [(POOR_MATCH, first["id"])]


def test_a_retracted_feedback_counts_nothing(cli):
    story = interviewed(cli)
    wrong = story.send("feedback-given", "bob", "carol", 9, match=1)
    assert entries(story.reputation(9), "ana", "requester", "match") == [(POOR_MATCH, wrong["id"])]
    story.event("event-retracted", 9.5, by="bob", retracts=wrong["id"], reason="Wrong candidate")
    right = story.send("feedback-given", "bob", "carol", 9.6, match=4)
    people = story.reputation(10)
    assert_explained(people)
    assert entries(people, "ana", "requester", "match") == [(GOOD_MATCH, right["id"])]
    assert entries(people, "carol", "referrer", "match") == [(GOOD_MATCH, right["id"])]
    # A view that does not know the retraction yet still counts the first verdict.
    before = story.reputation(10, "--known-at", wrong["recorded_at"])
    assert entries(before, "ana", "requester", "match") == [(POOR_MATCH, wrong["id"])]


# Passing on a request that was unprepared at that moment costs the referrer.


def test_introducing_an_unprepared_request_costs_the_referrer(cli):
    story = Story(cli)
    story.request(0, preparation={"researched_company": True})
    story.vet(1)
    intro = story.introduce(2)
    people = story.reputation(3)
    assert_explained(people)
    [(points, event)] = entries(people, "carol", "referrer", "lacked")
    assert (points, event) == (PASSED_ON_UNPREPARED, intro["id"])
    [carol] = story.reputation(3, "carol")
    [reason] = [e["reason"] for e in carol["as_referrer"]["explain"] if e["points"] < 0]
    assert reason == (
        "introduced ana to bob in r1, though the request lacked research on the person, "
        "a question to ask, a follow-up plan, qualifications for the role"
    )
    # The requester pays for the preparation itself, through the flag, as before.
    assert ("unprepared-request", "r1", "ana") in kinds(story.flags(3))
    assert entries(people, "ana", "requester", "prepared the request") == []
    # Before the introduction, Carol had passed nothing on.
    assert entries(story.reputation(1.9), "carol", "referrer", "lacked") == []


def test_forwarding_an_unprepared_request_costs_the_referrer_once(cli):
    story = Story(cli)
    story.request(0, preparation={})
    story.vet(1)
    forward = story.event("resume-forwarded", 2, by="carol", to="bob")
    story.introduce(3)
    people = story.reputation(4)
    assert_explained(people)
    assert entries(people, "carol", "referrer", "lacked") == [(PASSED_ON_UNPREPARED, forward["id"])]


@pytest.mark.parametrize(
    "role, lacks",
    [
        ("Backend engineer", True),  # a named role wants qualifications
        (None, False),  # no role named: qualifications are not asked for
    ],
)
def test_qualifications_count_only_when_a_role_is_named(cli, role, lacks):
    story = Story(cli)
    prep = {k: v for k, v in FULL_PREPARATION.items() if k != "qualifications"}
    story.request(0, preparation=prep, role=role)
    story.vet(1)
    story.introduce(2)
    people = story.reputation(3)
    assert_explained(people)
    cost = entries(people, "carol", "referrer", "lacked")
    assert [p for p, _ in cost] == ([PASSED_ON_UNPREPARED] if lacks else [])
    prepared = entries(people, "ana", "requester", "prepared the request")
    assert [p for p, _ in prepared] == ([] if lacks else [PREPARED_REQUEST])


def test_a_prepared_request_costs_the_referrer_nothing(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    people = story.reputation(3)
    assert_explained(people)
    assert entries(people, "carol", "referrer", "lacked") == []
    assert [p for p, _ in entries(people, "ana", "requester", "prepared the request")] == [
        PREPARED_REQUEST
    ]


def test_a_request_never_passed_on_and_someone_elses_forward_cost_the_referrer_nothing(cli):
    story = Story(cli)
    story.request(0, preparation={})
    story.vet(1, decision="needs-preparation")
    assert entries(story.reputation(5), "carol", "referrer", "lacked") == []
    # Dan, who is none of the parties, forwards it: that is no hand-over of Carol's.
    story.event("resume-forwarded", 6, by="dan", to="bob")
    people = story.reputation(7)
    assert_explained(people)
    assert entries(people, "carol", "referrer", "lacked") == []


def _amended_story(amended_at: float, intro_at: float = 2) -> list[dict[str, Any]]:
    """A referral whose request lacks a follow-up plan until an amendment adds one (as the
    events a View gives; `request-amended` is a core event type from 0.2)."""
    prep = {k: v for k, v in FULL_PREPARATION.items() if k != "follow_up_plan"}
    events = [
        {"type": "referral-requested", "at": day(0), "by": "ana", "referrer": "carol",
         "company": "Acme", "target": "bob", "role": "Backend engineer", "preparation": prep},
        {"type": "request-vetted", "at": day(1), "by": "carol", "decision": "accept",
         "knows_work": True},
        {"type": "request-amended", "at": day(amended_at), "by": "ana",
         "preparation": {"follow_up_plan": "Write to Bob on Friday"}},
        {"type": "introduction-made", "at": day(intro_at), "by": "carol", "to": "bob"},
    ]  # fmt: skip
    events.sort(key=lambda e: micros(e["at"]))
    for seq, event in enumerate(events, 1):
        event.update(referral="r1", seq=seq, id=f"e{seq}")
    return events


def _rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(conduct("r1", events, Relationship("ana", "carol", referral_accounts(events))))


@pytest.mark.parametrize("amended_at, passed_on", [(1.5, False), (2, False), (2.5, True)])
def test_the_preparation_as_amended_by_the_hand_over_is_what_counts(amended_at, passed_on):
    events = _amended_story(amended_at)
    rows = _rows(events)
    cost = [r for r in rows if r["kind"] == "passed-on-unprepared"]
    bonus = [r for r in rows if r["kind"] == "prepared-request"]
    amendment = next(e["id"] for e in events if e["type"] == "request-amended")
    if passed_on:
        [row] = cost
        assert row["points"] == PASSED_ON_UNPREPARED and row["person"] == "carol"
        assert row["reason"].endswith("lacked a follow-up plan")
        assert bonus == []  # preparation added after the hand-over helped nobody
    else:
        assert cost == []
        [row] = bonus
        assert (row["points"], row["event"], row["start"]) == (
            PREPARED_REQUEST,
            amendment,
            day(amended_at),
        )
        assert row["reason"] == "prepared the request in r1 (as amended)"


# A flag with no referral costs in each role the person has held.


def test_a_flag_with_no_referral_costs_in_the_roles_held_by_then(cli):
    story = Story(cli)
    story.declare("ana", "carol", "family", -10)
    story.declare("carol", "ana", "linkedin-only", -9)
    # Before Ana takes any part, the flag costs her as requester only.
    [ana] = story.reputation(-5, "ana")
    assert [p for p, _ in entries([ana], "ana", "requester", "misrepresented")] == [-10]
    assert entries([ana], "ana", "referrer", "misrepresented") == []
    assert entries([ana], "ana", "target", "misrepresented") == []
    assert "ana" not in {p["person"] for p in story.reputation(-5)}  # she took no part yet
    # Eve asks Ana (her referrer) on day 5, without saying how they know each other.
    story.referral = "r2"
    story.request(5, by="eve", referrer="ana", target="bob", relationship=None)
    for on, held in ((4, {"requester"}), (6, {"referrer"})):
        people = story.reputation(on, "ana")
        assert_explained(people)
        costs = {
            role
            for role in ("requester", "referrer", "target")
            if entries(people, "ana", role, "misrepresented")
        }
        # Once she has been a referrer (and never a requester), the flag costs her as a
        # referrer only: "as requester only, if none" is for someone who has held no role.
        assert costs == held, on
    people = story.reputation(6)
    assert_explained(people)


def test_a_flag_with_no_referral_costs_a_requester_and_referrer_in_both(cli):
    story = Story(cli)
    story.declare("ana", "carol", "family", -10)
    story.declare("carol", "ana", "linkedin-only", -9)
    story.request(0, relationship=None)
    story.referral = "r2"
    story.request(1, by="eve", referrer="ana", target="bob", relationship=None)
    people = story.reputation(2)
    assert_explained(people)
    for role, cost in (("requester", [-10]), ("referrer", [-10]), ("target", [])):
        assert [p for p, _ in entries(people, "ana", role, "misrepresented")] == cost, role


# Honest accounts: current accounts, compared by strength rank.


@pytest.mark.parametrize(
    "mine, theirs, honest",
    [
        ("reported-to", "worked-together", True),  # the same rank: 0.1 said 3 kinds apart
        ("managed", "worked-together", True),
        ("friend", "worked-together", True),  # one rank
        ("family", "acquaintance", False),  # two ranks: that is misrepresentation
        ("met-once", "acquaintance", True),
        ("linkedin-only", "acquaintance", False),
    ],
)
def test_honest_accounts_are_compared_by_rank(cli, mine, theirs, honest):
    story = Story(cli)
    story.request(0, relationship=mine)
    vetting = story.vet(1, relationship=theirs)
    people = story.reputation(2)
    assert_explained(people)
    expected = [(HONEST_ACCOUNT, vetting["id"])] if honest else []
    assert entries(people, "ana", "requester", "agree") == expected
    assert entries(people, "carol", "referrer", "agree") == expected
    misrepresented = any(f["kind"] == "misrepresented-relationship" for f in story.flags(2))
    assert misrepresented is not honest


def test_honest_accounts_read_the_current_account(cli):
    # Ana's request calls Carol a LinkedIn contact; before Carol vets, Ana declares that they
    # worked together. Her current account is the declaration, and it agrees with Carol's.
    story = Story(cli)
    story.request(0, relationship="linkedin-only")
    declared = story.declare("ana", "carol", "worked-together", 0.5)
    vetting = story.vet(1, relationship="worked-together")
    people = story.reputation(2)
    assert_explained(people)
    assert entries(people, "ana", "requester", "agree") == [(HONEST_ACCOUNT, vetting["id"])]
    [ana] = story.reputation(2, "ana")
    [reason] = [e["reason"] for e in ana["as_requester"]["explain"] if "agree" in e["reason"]]
    assert reason == "both accounts of the tie agree (worked-together / worked-together)"
    # A view that does not know the declaration compares the request's account.
    before = story.reputation(2, "--known-at", declared["recorded_at"][:-1] + "0Z")
    assert entries(before, "ana", "requester", "agree") == []
    # Retracting the declaration re-derives the referral: the bonus goes.
    story.event(
        "event-retracted", 3, by="ana", retracts=declared["id"], reason="Mixed up", referral=None
    )
    assert entries(story.reputation(4), "ana", "requester", "agree") == []


def test_a_declaration_given_after_the_vetting_does_not_earn_the_bonus(cli):
    story = Story(cli)
    story.request(0, relationship="linkedin-only")
    story.vet(1, relationship="worked-together")
    story.declare("ana", "carol", "worked-together", 1.5)
    assert entries(story.reputation(2), "ana", "requester", "agree") == []


# A waived obligation counts nothing, from the waiver's `at` on.


def _alert(kind: str, person: str, owed_to: str, since: float, due: float, end: float | None):
    data = {
        "kind": kind,
        "referral": "r1",
        "person": person,
        "owed_to": owed_to,
        "role": "requester",
        "since": day(since),
        "message": f"{person} owes {owed_to}",
        "opened_by": "e1",
    }
    end_us = micros(day(end)) if end is not None else None
    return Row("alerts", "alert", kind, "r1", person, owed_to, micros(day(due)), end_us, data)


def _conduct_rows(events: list[dict[str, Any]], as_of: float) -> list[Row]:
    return [
        Row(
            "reputation",
            "reputation",
            r["kind"],
            r["referral"],
            r["person"],
            r.get("owed_to"),
            micros(r["start"]),
            None,
            r,
        )
        for r in _rows(events)
        if micros(r["start"]) <= micros(day(as_of))
    ]


def _waived_story(waived_at: float) -> list[dict[str, Any]]:
    events = [
        {"type": "referral-requested", "at": day(0), "by": "ana", "referrer": "carol",
         "company": "Acme", "target": "bob", "preparation": FULL_PREPARATION},
        {"type": "request-vetted", "at": day(1), "by": "carol", "decision": "accept",
         "knows_work": True},
        {"type": "introduction-made", "at": day(2), "by": "carol", "to": "bob"},
        {"type": "obligation-waived", "at": day(waived_at), "by": "bob",
         "kind": "follow-up-overdue", "person": "ana", "note": "No need, we met"},
    ]  # fmt: skip
    for seq, event in enumerate(events, 1):
        event.update(referral="r1", seq=seq, id=f"e{seq}")
    return events


def _overdue(people: list[dict[str, Any]]) -> list[Any]:
    return [p for p, _ in entries(people, "ana", "requester", "overdue")]


def test_a_waived_obligation_counts_nothing_from_the_waivers_at_on():
    # Ana owed Bob a follow-up (due day 9), which Bob waived on day 20; the alerts plugin ends
    # the alert at the waiver. Views from day 20 on count nothing of it; earlier views show
    # the overdue obligation, as the contract says.
    events = _waived_story(20)
    alert = _alert("follow-up-overdue", "ana", "bob", since=2, due=9, end=20)
    for as_of, expected in ((15, [OVERDUE]), (19.9, [OVERDUE]), (20, []), (400, [])):
        people = scores(_conduct_rows(events, as_of), [alert], [], ["ana"])
        assert_explained(people)
        assert _overdue(people) == expected, as_of
    # Whichever way the alerts plugin shows a waived obligation (ended at the waiver, still
    # open, or not at all), it costs nothing once the waiver is in the view.
    still_open = _alert("follow-up-overdue", "ana", "bob", since=2, due=9, end=None)
    assert _overdue(scores(_conduct_rows(events, 30), [still_open], [], ["ana"])) == []
    assert _overdue(scores(_conduct_rows(events, 30), [], [], ["ana"])) == []


def test_a_waiver_ends_only_the_obligation_it_names():
    events = _waived_story(20)
    rows = _conduct_rows(events, 30)
    others = [
        _alert("thank-you-missing", "ana", "bob", since=2, due=9, end=None),  # another kind
        _alert("follow-up-overdue", "ana", "dan", since=2, due=9, end=None),  # owed to another
        _alert("follow-up-overdue", "ana", "bob", since=2, due=9, end=12),  # met before it
        _alert("follow-up-overdue", "ana", "bob", since=25, due=32, end=None),  # opened after
    ]
    people = scores(rows, others, [], ["ana"])
    assert_explained(people)
    assert _overdue(people) == [OVERDUE] * 4
    # The waiver row itself is not conduct: it moves no score and lists nobody.
    waiver = [r for r in rows if r.kind == "waived"]
    assert [(w.person, w.owed_to, w.data["alert"]) for w in waiver] == [
        ("ana", "bob", "follow-up-overdue")
    ]
    assert [p["person"] for p in scores(rows, [], [], ["ana"])] == ["ana"]
    assert scores(rows, [], [], ["ana"])[0]["as_requester"]["score"] == BASE + PREPARED_REQUEST


# Through the CLI: the readable explanation and the table agree with the JSON.


def test_the_revised_entries_read_the_same_everywhere(cli):
    story = Story(cli)
    story.request(0, preparation={}, relationship="reported-to")
    story.vet(1)
    story.introduce(2)
    story.event("interview-held", 8, by="bob")
    story.send("feedback-given", "bob", "carol", 9, match=1)
    people = story.reputation(10)
    assert_explained(people)
    [carol] = story.reputation(10, "carol")
    assert carol == next(p for p in people if p["person"] == "carol")
    text = cli.ok("reputation", "carol", "--as-of", day(10)).stdout
    assert f"{PASSED_ON_UNPREPARED:+g}  introduced ana to bob in r1, though" in text
    assert f"{POOR_MATCH:+g}  bob rated ana a poor match (1/5) in r1" in text
    assert (
        f"{HONEST_ACCOUNT:+g}  both accounts of the tie agree (reported-to / worked-together)"
        in text
    )
    table = cli.ok("reputation", "--as-of", day(10)).stdout.splitlines()
    row = next(line.split() for line in table if line.startswith("carol"))
    assert float(row[-2]) == carol["as_referrer"]["score"]  # PERSON (name) REQUESTER REFERRER TARGET


def test_the_documentation_gives_every_point_value():
    """docs/reputation.md's tables list exactly the point values of the formula, one row each."""
    import re
    from pathlib import Path

    import ledger_reputation.conduct as formula

    doc = (Path(__file__).parent.parent / "docs" / "reputation.md").read_text(encoding="utf-8")
    shown = [
        int(m.group(1).replace("−", "-").replace("+", ""))
        for m in re.finditer(r"^\| ([+−-]\d+) \|", doc, flags=re.MULTILINE)
    ]
    values = [
        value
        for name, value in vars(formula).items()
        if name.isupper()
        and isinstance(value, int)
        and name not in ("BASE", "LOW", "HIGH")
        and not name.endswith("_US")
    ]
    assert sorted(shown) == sorted(values)
