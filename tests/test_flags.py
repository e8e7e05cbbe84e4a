"""Stories of the ways networking goes bad, and of the same stories told right."""

from __future__ import annotations

from judging_story import FULL_PREPARATION, Story, day, kinds

from ledger import hookimpl
from ledger.plugins import Plugins
from ledger.projections import Projection, timestamp
from ledger.views import micros


def test_the_referral_done_right_raises_no_flag_ever(cli):
    story = Story(cli)
    story.done_right()
    for on in (0, 3, 20, 400):
        assert story.flags(on) == [], on
    assert cli.ok("flags", "--as-of", day(400)).stdout.strip() == "No flags."


def test_weak_tie_an_introduction_through_a_linkedin_contact(cli):
    story = Story(cli)
    story.request(0, relationship="linkedin-only")
    story.vet(1, relationship="linkedin-only")
    assert story.flags(1.5) == []
    intro = story.introduce(2)
    flags = story.flags(3)
    # Carol also vouched for Ana's work on a LinkedIn link alone (0.2's
    # referrer-does-not-know-work).
    assert kinds(flags) == {
        ("weak-tie", "r1", "ana"),
        ("referrer-does-not-know-work", "r1", "carol"),
    }
    [flag] = [f for f in flags if f["kind"] == "weak-tie"]
    assert intro["id"] in flag["evidence"]
    assert "weak tie" in flag["message"] and "'linkedin-only'" in flag["message"]


def test_weak_tie_when_the_referrer_never_said_how_they_know_the_requester(cli):
    # 0.1 flagged this even when Carol had vetted with knows_work: true; now only a referrer
    # who said nothing at all, neither the relationship nor that they know the work.
    story = Story(cli)
    story.request(0)
    forward = story.event("resume-forwarded", 2, by="carol", to="bob")
    flagged = [f for f in story.flags(3) if f["kind"] == "weak-tie"]
    assert len(flagged) == 1 and "never said" in flagged[0]["message"]
    assert flagged[0]["evidence"] == [forward["id"]]


def test_no_weak_tie_when_the_silent_referrer_vouched_for_the_work(cli):
    story = Story(cli)
    story.request(0)
    story.event("request-vetted", 1, by="carol", decision="accept", knows_work=True)
    story.event("resume-forwarded", 2, by="carol", to="bob")
    assert story.flags(3) == []


def test_no_weak_tie_when_both_know_each_other_well(cli):
    story = Story(cli)
    story.declare("carol", "ana", "friend", -3)
    story.request(0, relationship="friend")
    story.event("request-vetted", 1, by="carol", decision="accept", knows_work=True)
    story.introduce(2)
    assert story.flags(3) == []


def test_unprepared_request_names_what_it_lacks(cli):
    story = Story(cli)
    request = story.request(0, preparation={"researched_company": True, "questions": [""]})
    story.vet(1)
    intro = story.introduce(2)
    [flag] = story.flags(2)
    assert (flag["kind"], flag["person"], flag["evidence"]) == (
        "unprepared-request",
        "ana",
        [request["id"], intro["id"]],
    )
    for lack in (
        "research on the person",
        "a question to ask",
        "a follow-up plan",
        "qualifications for the role",
    ):
        assert lack in flag["message"]
    assert "research on the company" not in flag["message"]
    # 0.2 judges the request at its first introduction: before it there is nothing to flag.
    assert story.flags(1.9) == []


def test_a_prepared_request_without_a_role_needs_no_qualifications(cli):
    story = Story(cli)
    prep = {k: v for k, v in FULL_PREPARATION.items() if k != "qualifications"}
    story.event(
        "referral-requested",
        0,
        by="ana",
        referrer="carol",
        company="Acme",
        relationship="worked-together",
        preparation=prep,
    )
    assert story.flags(0) == []


def test_slow_follow_up_after_two_weeks_of_silence(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    intro = story.introduce(2)
    story.send("thank-you-sent", "ana", "carol", 2)
    assert story.flags(15.9) == []
    [flag] = story.flags(16.5)
    assert (flag["kind"], flag["person"], flag["evidence"]) == (
        "slow-follow-up",
        "ana",
        [intro["id"]],
    )
    late = story.send("follow-up-sent", "ana", "bob", 20)
    # The flag stays; from the late follow-up on, it is part of the evidence.
    assert story.flags(17)[0]["evidence"] == [intro["id"]]
    [flag] = story.flags(21)
    assert flag["evidence"] == [intro["id"], late["id"]]
    assert "18 days" in flag["message"]


def test_a_follow_up_within_two_weeks_is_not_slow(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.send("follow-up-sent", "ana", "bob", 12)
    assert "slow-follow-up" not in {f["kind"] for f in story.flags(60)}


def test_referrer_left_uninformed_after_the_interview(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.send("follow-up-sent", "ana", "bob", 3)
    interview = story.event("interview-held", 5, by="bob")
    assert story.flags(19) == []
    [flag] = story.flags(19.5)
    assert (flag["kind"], flag["person"], flag["evidence"]) == (
        "referrer-left-uninformed",
        "ana",
        [interview["id"]],
    )


def test_thanking_the_referrer_in_time_keeps_them_informed_enough(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.send("follow-up-sent", "ana", "bob", 3)
    story.event("interview-held", 5, by="bob")
    story.send("thank-you-sent", "ana", "carol", 18)
    assert story.flags(60) == []


def test_an_outcome_reported_elsewhere_also_opens_it(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    outcome = story.send("outcome-reported", "bob", "ana", 3, outcome="rejected")
    [flag] = story.flags(20)
    assert flag["kind"] == "referrer-left-uninformed" and flag["evidence"] == [outcome["id"]]


def test_last_minute_networking_no_one_at_the_company_before_the_posting(cli):
    story = Story(cli)
    story.declare("ana", "dan", "friend", -30)  # Dan is at Globex, not Acme
    request = story.request(0, posting_at="2026-08-30")
    [flag] = story.flags(1)
    assert (flag["kind"], flag["person"], flag["evidence"]) == (
        "last-minute-networking",
        "ana",
        [request["id"]],
    )
    assert "Acme" in flag["message"]


def test_a_connection_at_the_company_before_the_posting_is_networking_in_time(cli):
    story = Story(cli)
    story.declare("ana", "bob", "acquaintance", -30)  # Bob works at ACME (case aside)
    story.request(0, posting_at="2026-08-30", company="ACME")
    assert story.flags(1) == []


def test_a_connection_declared_after_the_request_ends_the_flag_from_then_on(cli):
    story = Story(cli)
    # Eve (at no company) is the referrer: Ana's account of Carol, who is at Acme, would count.
    story.request(0, posting_at="2026-09-10", referrer="eve")  # day 9
    story.declare("ana", "bob", "acquaintance", 4)
    assert kinds(story.flags(2)) == {("last-minute-networking", "r1", "ana")}
    assert story.flags(5) == []


def test_stranger_forward_by_someone_who_does_not_know_the_requester(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    forward = story.event("resume-forwarded", 2, by="dan", to="bob")
    flagged = [f for f in story.flags(3) if f["kind"] == "stranger-forward"]
    assert len(flagged) == 1
    assert flagged[0]["person"] == "dan" and flagged[0]["evidence"][0] == forward["id"]
    assert "neither has said how they know the other" in flagged[0]["message"]


def test_a_referrer_sending_the_resume_instead_of_an_introduction_is_no_stranger(cli):
    # 0.1 called this a stranger-forward ("made no introduction first"); 0.2 judges only
    # forwarders who are none of the three parties.
    # Carol gave no account of how she knows Ana, but vouched for her work.
    story = Story(cli)
    story.request(0, relationship=None)
    story.event("request-vetted", 1, by="carol", decision="accept", knows_work=True)
    story.event("resume-forwarded", 2, by="carol", to="bob")
    assert story.flags(3) == []


def test_forwarding_after_introducing_someone_you_know_is_fine(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.event("resume-forwarded", 2.5, by="carol", to="bob")
    assert story.flags(3) == []


def test_referrer_does_not_know_work_but_introduces_anyway(cli):
    story = Story(cli)
    story.request(0)
    vetting = story.vet(1, knows_work=False)
    assert story.flags(1.5) == []
    intro = story.introduce(2)
    [flag] = story.flags(3)
    assert (flag["kind"], flag["person"], flag["role"]) == (
        "referrer-does-not-know-work",
        "carol",
        "referrer",
    )
    assert flag["evidence"] == [vetting["id"], intro["id"]]


def test_a_referrer_who_declines_without_knowing_the_work_is_not_flagged(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1, knows_work=False, decision="decline")
    assert story.flags(30) == []


def test_misrepresented_relationship_between_two_accounts(cli):
    story = Story(cli)
    mine = story.declare("ana", "carol", "friend", -10)
    assert story.flags(0) == []
    theirs = story.declare("carol", "ana", "linkedin-only", -5)
    [flag] = story.flags(0)
    assert (flag["kind"], flag["referral"], flag["person"]) == (
        "misrepresented-relationship",
        None,
        "ana",
    )
    assert set(flag["evidence"]) == {mine["id"], theirs["id"]}
    assert story.flags(-7) == []  # before Carol's account there was nothing to compare
    # Ana corrects her account: from then on, there is nothing to flag.
    story.declare("ana", "carol", "met-once", -2)
    assert story.flags(0) == []
    assert kinds(story.flags(-3)) == {("misrepresented-relationship", None, "ana")}
    assert story.flags(0, "--person", "carol") == []


def test_misrepresented_relationship_in_a_request(cli):
    story = Story(cli)
    story.request(0, relationship="family")
    story.vet(1, relationship="acquaintance")
    [flag] = story.flags(2)
    assert (flag["kind"], flag["referral"], flag["person"], flag["role"]) == (
        "misrepresented-relationship",
        "r1",
        "ana",
        "requester",
    )
    assert "family" in flag["message"] and "acquaintance" in flag["message"]


def test_a_retracted_declaration_stops_counting(cli):
    story = Story(cli)
    story.declare("ana", "carol", "family", -10)
    wrong = story.declare("carol", "ana", "met-once", -5)
    assert len(story.flags(0)) == 1
    story.event(
        "event-retracted",
        -1,
        by="carol",
        retracts=wrong["id"],
        reason="Wrong person",
        referral=None,
    )
    assert story.flags(0) == []
    assert len(story.flags(0, "--known-at", wrong["recorded_at"])) == 1


def test_filters_and_refusals(cli):
    story = Story(cli)
    story.request(0, relationship="linkedin-only", preparation={})
    story.introduce(1)
    story.referral = "r2"
    story.request(0, by="eve", preparation={})
    story.introduce(1)
    assert {f["referral"] for f in story.flags(1)} == {"r1", "r2"}
    assert {f["referral"] for f in story.flags(1, "--referral", "r2")} == {"r2"}
    assert {f["person"] for f in story.flags(1, "--person", "eve")} == {"eve"}
    cli.refused("flags", "--person", "nobody")
    cli.refused("flags", "--referral", "nope")
    cli.refused("flags", "--as-of", "2026-09-01T09:00")


class GhostingProjection(Projection):
    """A third party's flag: a target who never answered an introduction within a week."""

    name = "ghosting"
    category = "flag"

    def parts(self, event, view):
        return [event["referral"]] if event.get("referral") else []

    def derive(self, part, view):
        events = view.referral(part)
        for intro in (e for e in events if e["type"] == "introduction-made"):
            answered = any(e.get("by") == intro["to"] for e in events)
            if not answered:
                yield {
                    "kind": "ghosting",
                    "referral": part,
                    "person": intro["to"],
                    "role": "target",
                    "message": f"{intro['to']} never answered the introduction",
                    "evidence": [intro["id"]],
                    "start": timestamp(micros(intro["at"]) + 7 * 86_400_000_000),
                }


class Ghosting:
    @staticmethod
    @hookimpl
    def register_projections():
        return [GhostingProjection()]


def test_flags_of_other_plugins_are_listed_and_cost_reputation(cli, monkeypatch):
    import ledger.plugins

    monkeypatch.setattr(ledger.plugins, "_default", Plugins(extra={"ghosting": Ghosting}))
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    assert story.flags(8) == []
    assert kinds(story.flags(10)) == {("ghosting", "r1", "bob")}
    [bob] = story.reputation(10, "bob")
    assert bob["as_target"]["score"] == 40
    assert bob["as_requester"]["score"] == bob["as_referrer"]["score"] == 50


def test_the_flags_version_derives_from_the_rules_source() -> None:
    """No literal to forget: the stored flags are rebuilt whenever the rules' code changes."""
    from ledger_flags import judgements
    from ledger_flags import projection as flags_projection
    from ledger_reputation import conduct
    from ledger_reputation import projection as reputation_projection

    from ledger.api import source_version

    assert flags_projection.FlagsProjection.version == source_version(judgements, flags_projection)
    assert reputation_projection.ConductProjection.version == source_version(
        conduct, reputation_projection
    )
