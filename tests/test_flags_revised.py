"""Stories of the 0.2 flags: the clear case, each side of every threshold, and the false alarms
0.1 raised against honest people (the stories of issue [10])."""

from __future__ import annotations

import pytest
from judging_story import FULL_PREPARATION, Story, day, kinds
from ledger_reputation.conduct import BASE, clamp


def of_kind(flags, kind):
    return [f for f in flags if f["kind"] == kind]


def since(by, with_, kind, on, since_date, story):
    return story.event(
        "connection-declared", on, by=by, kind=kind, since=since_date, **{"with": with_}
    )


# -- weak-tie ----------------------------------------------------------------------------------


def test_weak_tie_a_relationship_that_grew_taints_only_what_was_done_while_it_was_weak(cli):
    # Ana and Carol were LinkedIn contacts, then colleagues. 0.1 counted every account ever
    # given, and flagged every introduction since; 0.2 reads the current accounts.
    story = Story(cli)
    story.declare("ana", "carol", "linkedin-only", -400)
    story.declare("carol", "ana", "linkedin-only", -400)
    story.referral = "r0"
    story.request(-300, relationship="linkedin-only", company="Globex", target="dan")
    early = story.introduce(-299, to="dan")
    story.declare("ana", "carol", "worked-together", -30)
    story.declare("carol", "ana", "worked-together", -29)
    story.referral = "r1"
    story.request(0)
    story.vet(1)
    story.introduce(2)
    [flag] = of_kind(story.flags(3), "weak-tie")
    assert flag["referral"] == "r0" and early["id"] in flag["evidence"]
    assert "linkedin-only" in flag["message"]


@pytest.mark.parametrize(("when", "flagged"), [(1.9, True), (2, True), (2.001, False)])
def test_weak_tie_is_judged_on_the_accounts_at_the_first_introduction(cli, when, flagged):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    # Carol's account turns weak just before, at, or just after the introduction.
    weak = story.declare("carol", "ana", "met-once", when)
    intro = story.introduce(2)
    found = of_kind(story.flags(30), "weak-tie")
    assert bool(found) == flagged
    if flagged:
        assert found[0]["evidence"] == [intro["id"], weak["id"]]
        assert "carol called it 'met-once' at the time" in found[0]["message"]


def test_weak_tie_the_requesters_own_weak_account_counts_too(cli):
    story = Story(cli)
    story.request(0, relationship="met-once")
    story.vet(1, relationship="acquaintance")
    story.introduce(2)
    [flag] = of_kind(story.flags(3), "weak-tie")
    assert "ana called it 'met-once' at the time" in flag["message"]
    assert "acquaintance" not in flag["message"]


def test_weak_tie_a_requester_forwarding_their_own_resume_hands_nothing_over(cli):
    story = Story(cli)
    story.request(0, relationship=None)
    story.event("resume-forwarded", 1, by="ana", to="bob")
    assert of_kind(story.flags(2), "weak-tie") == []
    story.introduce(3)
    [flag] = of_kind(story.flags(4), "weak-tie")
    assert "never said" in flag["message"]


# -- unprepared-request ------------------------------------------------------------------------


def test_unprepared_request_never_introduced_raises_nothing(cli):
    # 0.1 flagged the request the moment it was made; nobody has been asked to vouch for it.
    story = Story(cli)
    story.request(0, preparation={})
    story.vet(1, decision="needs-preparation")
    assert story.flags(60) == []


def test_unprepared_request_is_judged_at_the_first_forward(cli):
    story = Story(cli)
    request = story.request(0, preparation={"researched_company": True})
    story.vet(1)
    assert story.flags(2.9) == []
    forward = story.event("resume-forwarded", 3, by="carol", to="bob")
    story.introduce(4)
    [flag] = story.flags(3)
    assert flag["kind"] == "unprepared-request"
    assert flag["evidence"] == [request["id"], forward["id"]]
    assert "carol forwarded ana's resume to bob" in flag["message"]


def test_unprepared_request_a_named_role_needs_qualifications(cli):
    story = Story(cli)
    prep = {k: v for k, v in FULL_PREPARATION.items() if k != "qualifications"}
    story.request(0, preparation=prep)  # names the role "Backend engineer"
    story.vet(1)
    story.introduce(2)
    [flag] = story.flags(2)
    assert flag["kind"] == "unprepared-request"
    assert flag["lacking"] == ["qualifications for the role"]


def test_unprepared_request_fully_prepared_raises_nothing(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    assert of_kind(story.flags(3), "unprepared-request") == []


# -- slow-follow-up ----------------------------------------------------------------------------


def test_slow_follow_up_not_for_a_referral_closed_the_day_after_the_introduction(cli):
    # 0.1: "did not follow up within 14 days" about a referral that was over on day 3.
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.send("thank-you-sent", "ana", "carol", 2)
    story.event("referral-closed", 3, by="ana", reason="Bob's team froze hiring")
    assert story.flags(60) == []


@pytest.mark.parametrize(("closed", "flagged"), [(16, False), (16.001, True)])
def test_slow_follow_up_a_close_counts_only_before_the_14_days_ran_out(cli, closed, flagged):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    intro = story.introduce(2)  # the 14 days run out on day 16
    story.send("thank-you-sent", "ana", "carol", 2)
    story.event("referral-closed", closed, by="ana", reason="No news")
    found = story.flags(60)
    assert bool(found) == flagged
    if flagged:
        assert kinds(found) == {("slow-follow-up", "r1", "ana")}
        assert found[0]["evidence"] == [intro["id"]]


@pytest.mark.parametrize(("withdrew", "flagged"), [(10, False), (16, False), (20, True)])
def test_slow_follow_up_nothing_once_the_requester_withdrew_in_time(cli, withdrew, flagged):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.send("thank-you-sent", "ana", "carol", 2)
    story.send("outcome-reported", "ana", "carol", withdrew, outcome="withdrawn")
    assert bool(of_kind(story.flags(60), "slow-follow-up")) == flagged


def test_slow_follow_up_someone_elses_withdrawn_is_not_the_requesters(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.send("outcome-reported", "carol", "ana", 5, outcome="withdrawn")
    assert of_kind(story.flags(60), "slow-follow-up") != []


# -- last-minute-networking --------------------------------------------------------------------
# Eve, at no company, is the referrer: the request's account of an Acme referrer would count.
POSTED = "2026-08-30"  # 00:00 UTC is day -2.375


def lmn(story, on=10):
    return of_kind(story.flags(on), "last-minute-networking")


def test_last_minute_networking_known_since_2019_but_recorded_after_the_posting(cli):
    # 0.1 looked at when the declaration was recorded (its `at`), not at its `since`.
    story = Story(cli)
    request = story.request(0, referrer="eve", posting_at=POSTED)
    since("ana", "bob", "friend", 3, "2019-03-01", story)
    assert lmn(story) == []
    # The account counts from its `at` on (the contract's rule): before Ana gave it, the
    # ledger held no relationship of hers at Acme, and the flag stands in those views.
    [flag] = lmn(story, on=1)
    assert flag["evidence"] == [request["id"]]


def test_last_minute_networking_the_insiders_own_account_counts(cli):
    # 0.1 read only the requester's declarations.
    story = Story(cli)
    story.declare("bob", "ana", "acquaintance", -30)
    story.request(0, referrer="eve", posting_at=POSTED)
    assert lmn(story) == []


def test_last_minute_networking_a_linkedin_link_is_no_inside_connection(cli):
    # 0.1 counted any declaration, LinkedIn-only included.
    story = Story(cli)
    story.declare("ana", "bob", "linkedin-only", -30)
    story.declare("bob", "ana", "met-once", -30)
    story.request(0, referrer="eve", posting_at=POSTED)
    [flag] = lmn(story)
    assert "Acme" in flag["message"] and POSTED in flag["message"]


@pytest.mark.parametrize(("started", "flagged"), [("2026-08-29", False), (POSTED, True)])
def test_last_minute_networking_since_on_each_side_of_the_posting_day(cli, started, flagged):
    story = Story(cli)
    since("ana", "bob", "acquaintance", -1, started, story)
    story.request(0, referrer="eve", posting_at=POSTED)
    assert bool(lmn(story)) == flagged


@pytest.mark.parametrize(
    ("declared", "flagged"), [("2026-08-29T23:59:59Z", False), ("2026-08-30T00:00:00Z", True)]
)
def test_last_minute_networking_declared_at_each_side_of_midnight(cli, declared, flagged):
    story = Story(cli)
    cli.record(
        {
            "type": "connection-declared",
            "at": declared,
            "by": "ana",
            "with": "bob",
            "kind": "friend",
        }
    )
    story.request(0, referrer="eve", posting_at=POSTED)
    assert bool(lmn(story)) == flagged


def test_last_minute_networking_a_relationship_that_both_now_call_weak_does_not_count(cli):
    story = Story(cli)
    since("ana", "bob", "friend", -40, "2019-03-01", story)
    story.declare("bob", "ana", "linkedin-only", -10)
    story.request(0, referrer="eve", posting_at=POSTED)
    assert lmn(story) == []  # Ana's current account is still `friend`, since 2019
    story.declare("ana", "bob", "met-once", 5)
    assert lmn(story, on=4) == []
    assert len(lmn(story, on=6)) == 1


def test_last_minute_networking_the_requests_own_account_of_an_insider_counts(cli):
    # Carol is at Acme: Ana's account of her in this very request started before the
    # posting only if given before it.
    story = Story(cli)
    story.referral = "r0"
    story.request(-20, company="Globex", target="dan", posting_at=None)
    story.referral = "r1"
    story.request(0, posting_at=POSTED)
    assert lmn(story) == []  # r0's `worked-together` (day -20) is Ana's account of Carol
    story.referral = "r2"
    story.request(0, by="eve", posting_at=POSTED, relationship="friend")
    assert [f["referral"] for f in lmn(story)] == ["r2"]


# -- stranger-forward --------------------------------------------------------------------------


def test_stranger_forward_not_the_hiring_manager_passing_the_resume_to_hr(cli):
    # 0.1: Bob "has no declared relationship with ana".
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.event("resume-forwarded", 3, by="bob", to="eve", note="For HR")
    assert of_kind(story.flags(4), "stranger-forward") == []


def test_stranger_forward_not_a_friend_of_ten_years(cli):
    # 0.1: Dan "made no introduction in this referral first".
    story = Story(cli)
    since("dan", "ana", "friend", -1, "2016-05-01", story)
    story.request(0)
    story.vet(1)
    story.event("resume-forwarded", 2, by="dan", to="bob")
    assert of_kind(story.flags(3), "stranger-forward") == []


def test_stranger_forward_the_hiring_managers_colleague_passing_it_on_is_flagged(cli):
    # As the contract has it: Eve (HR, say) is none of the three parties and has no account
    # of Ana, so her passing the resume on inside the company is a stranger-forward.
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.event("resume-forwarded", 3, by="bob", to="eve")
    story.event("resume-forwarded", 4, by="eve", to="dan")
    found = of_kind(story.flags(5), "stranger-forward")
    assert [f["person"] for f in found] == ["eve"]


def test_stranger_forward_the_requesters_account_of_the_forwarder_counts(cli):
    story = Story(cli)
    story.declare("ana", "dan", "worked-together", -5)
    story.request(0)
    story.event("resume-forwarded", 2, by="dan", to="bob")
    assert of_kind(story.flags(3), "stranger-forward") == []


def test_stranger_forward_by_someone_who_met_the_requester_once(cli):
    story = Story(cli)
    met = story.declare("dan", "ana", "met-once", -5)
    story.request(0)
    forward = story.event("resume-forwarded", 2, by="dan", to="bob")
    # Dan knowing Ana better later does not change what the forward was.
    story.declare("dan", "ana", "friend", 4)
    [flag] = of_kind(story.flags(5), "stranger-forward")
    assert (flag["person"], flag["role"]) == ("dan", "referrer")
    assert flag["evidence"] == [forward["id"], met["id"]]
    # quoted as it stood at the forward, never as Dan's current account
    assert "dan called it 'met-once' at the time" in flag["message"]
    assert "friend" not in flag["message"]
    assert story.flags(1.9) == []


# -- referrer-does-not-know-work ---------------------------------------------------------------


def test_referrer_who_met_the_candidate_once_and_vouches_for_their_work(cli):
    # 0.1 missed it: knows_work was true.
    story = Story(cli)
    story.request(0, relationship=None)
    vetting = story.vet(1, knows_work=True, relationship="met-once")
    assert story.flags(1.5) == []  # a vetting alone raises nothing
    intro = story.introduce(2)
    [flag] = of_kind(story.flags(3), "referrer-does-not-know-work")
    assert (flag["person"], flag["role"]) == ("carol", "referrer")
    assert flag["evidence"] == [vetting["id"], intro["id"]]
    assert "'met-once'" in flag["message"]


def test_referrer_vouching_on_a_weak_declared_account_is_judged_at_the_vetting(cli):
    story = Story(cli)
    met = story.declare("carol", "ana", "met-once", -3)
    story.request(0, relationship=None)
    vetting = story.event("request-vetted", 1, by="carol", decision="accept", knows_work=True)
    # Carol's account grows before the introduction; the vetting was given on a weak one, and
    # the contract judges it so.
    story.declare("carol", "ana", "worked-together", 1.5)
    intro = story.introduce(2)
    [flag] = of_kind(story.flags(3), "referrer-does-not-know-work")
    assert flag["evidence"] == [vetting["id"], met["id"], intro["id"]]


@pytest.mark.parametrize(("kind", "flagged"), [("met-once", True), ("acquaintance", False)])
def test_referrer_vouching_on_each_side_of_weak(cli, kind, flagged):
    story = Story(cli)
    story.request(0, relationship=None)
    story.vet(1, knows_work=True, relationship=kind)
    story.introduce(2)
    assert bool(of_kind(story.flags(3), "referrer-does-not-know-work")) == flagged


def test_referrer_does_not_know_work_reads_the_latest_vetting(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1, knows_work=False)
    story.vet(1.5, knows_work=True)  # saw the portfolio
    story.introduce(2)
    assert story.flags(3) == []
    story.referral = "r2"
    story.request(0, company="Globex", target="dan")
    story.vet(1, knows_work=True)
    story.vet(1.5, knows_work=False)
    forward = story.event("resume-forwarded", 2, by="carol", to="dan")
    [flag] = story.flags(3)
    assert (flag["kind"], flag["referral"]) == ("referrer-does-not-know-work", "r2")
    assert forward["id"] in flag["evidence"]


# -- misrepresented-relationship ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("claimed", "answered", "stronger"),
    [
        ("reported-to", "worked-together", None),  # both true: 0.1 called it misrepresentation
        ("managed", "worked-together", None),
        ("friend", "worked-together", None),  # one rank
        ("family", "acquaintance", "ana"),  # two ranks
        ("acquaintance", "linkedin-only", "ana"),
        ("met-once", "acquaintance", None),
        ("linkedin-only", "worked-together", "carol"),
    ],
)
def test_misrepresented_relationship_by_strength_rank(cli, claimed, answered, stronger):
    story = Story(cli)
    story.request(0, relationship=claimed)
    story.vet(1, relationship=answered)
    found = of_kind(story.flags(2), "misrepresented-relationship")
    assert [(f["person"], f["referral"]) for f in found] == ([(stronger, "r1")] if stronger else [])
    if stronger:
        assert found[0]["role"] == ("requester" if stronger == "ana" else "referrer")


def test_misrepresented_relationship_a_declaration_against_a_vetting_belongs_to_the_referral(cli):
    story = Story(cli)
    mine = story.declare("ana", "carol", "family", -10)
    story.request(0, relationship=None)
    theirs = story.vet(1, relationship="acquaintance")
    [flag] = story.flags(2)
    assert (flag["kind"], flag["referral"], flag["person"], flag["role"]) == (
        "misrepresented-relationship",
        "r1",
        "ana",
        "requester",
    )
    assert flag["evidence"] == [mine["id"], theirs["id"]]
    assert story.flags(0.5) == []  # before Carol's vetting there was nothing to compare
    # The referral's audit shows it, kept or derived afresh for a past --known-at.
    for known in ([], ["--known-at", theirs["recorded_at"]]):
        audit = cli.json("audit", "r1", "--json", "--as-of", day(2), *known)
        assert [f["kind"] for f in audit["flags"]] == ["misrepresented-relationship"], known


def test_misrepresented_relationship_belongs_to_the_later_referral(cli):
    story = Story(cli)
    story.request(0, relationship="family")
    story.referral = "r2"
    story.request(5, company="Globex", target="dan", relationship=None)
    story.vet(6, relationship="acquaintance")
    found = of_kind(story.flags(7), "misrepresented-relationship")
    assert [(f["referral"], f["person"]) for f in found] == [("r2", "ana")]
    assert "'family'" in found[0]["message"] and "'acquaintance'" in found[0]["message"]


def test_misrepresented_relationship_a_superseded_account_is_never_quoted(cli):
    story = Story(cli)
    story.declare("ana", "carol", "friend", -10)
    story.declare("carol", "ana", "linkedin-only", -9)
    [before] = story.flags(-1)
    assert before["referral"] is None and "'friend'" in before["message"]
    story.request(0, relationship="acquaintance")
    [after] = story.flags(1)
    assert after["referral"] == "r1" and "'acquaintance'" in after["message"]
    assert "friend" not in after["message"]


def test_misrepresented_relationship_a_retracted_vetting_stops_counting(cli):
    story = Story(cli)
    story.request(0, relationship="family")
    wrong = story.vet(1, relationship="met-once")
    assert len(story.flags(2)) == 1
    story.event("event-retracted", 2, by="carol", retracts=wrong["id"], reason="Wrong person")
    assert story.flags(3) == []
    assert len(story.flags(3, "--known-at", wrong["recorded_at"])) == 1


# -- multiple-referrers-same-target ------------------------------------------------------------


def two_routes(cli, later=10, **fields):
    """Ana asks Carol (r1, day 0), then Eve (r2), for an introduction to Bob."""
    story = Story(cli)
    ids = {"r1": story.request(0)}
    story.vet(1)
    story.referral = "r2"
    ids["r2"] = story.request(later, referrer="eve", **fields)
    return story, ids


def test_multiple_referrers_same_target_flags_the_later_request(cli):
    story, ids = two_routes(cli)
    [flag] = of_kind(story.flags(11), "multiple-referrers-same-target")
    assert (flag["referral"], flag["person"], flag["role"]) == ("r2", "ana", "requester")
    assert flag["evidence"] == [ids["r1"]["id"], ids["r2"]["id"]]
    assert "carol" in flag["message"] and "eve" in flag["message"]
    assert of_kind(story.flags(9.9), "multiple-referrers-same-target") == []


@pytest.mark.parametrize(("later", "flagged"), [(30, True), (30.001, False)])
def test_multiple_referrers_same_target_within_30_days(cli, later, flagged):
    story, _ = two_routes(cli, later=later)
    assert bool(of_kind(story.flags(40), "multiple-referrers-same-target")) == flagged


@pytest.mark.parametrize(("closed", "flagged"), [(5, False), (10, False), (15, True)])
def test_multiple_referrers_same_target_not_once_the_earlier_was_closed(cli, closed, flagged):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.event("referral-closed", closed, by="ana", reason="Carol could not help")
    story.referral = "r2"
    story.request(10, referrer="eve")
    assert bool(of_kind(story.flags(20), "multiple-referrers-same-target")) == flagged


def test_multiple_referrers_same_target_not_once_the_earlier_was_declined(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1, decision="decline")
    story.referral = "r2"
    story.request(10, referrer="eve")
    assert of_kind(story.flags(20), "multiple-referrers-same-target") == []


def test_multiple_referrers_same_target_needs_another_referrer_and_the_same_target(cli):
    story = Story(cli)
    story.request(0)
    story.referral = "r2"
    story.request(5)  # Carol again: asking twice is no second route
    story.referral = "r3"
    story.request(6, referrer="eve", target="dan", company="Globex")
    assert of_kind(story.flags(20), "multiple-referrers-same-target") == []


def test_multiple_referrers_same_target_from_when_the_later_has_its_target(cli):
    story, ids = two_routes(cli, target=None)
    intro = story.event("introduction-made", 12, by="eve", to="bob")
    assert of_kind(story.flags(11), "multiple-referrers-same-target") == []
    [flag] = of_kind(story.flags(13), "multiple-referrers-same-target")
    assert flag["evidence"] == [ids["r1"]["id"], ids["r2"]["id"]]
    assert intro["id"] not in flag["evidence"]


def test_multiple_referrers_same_target_costs_the_requester_and_is_explained(cli):
    story, _ = two_routes(cli)
    people = story.reputation(11)
    for person in people:
        for role in ("requester", "referrer", "target"):
            part = person[f"as_{role}"]
            assert part["score"] == clamp(BASE + sum(e["points"] for e in part["explain"]))
    [ana] = [p for p in people if p["person"] == "ana"]
    assert any(
        "multiple-referrers-same-target" in e["reason"] and e["points"] < 0
        for e in ana["as_requester"]["explain"]
    )
