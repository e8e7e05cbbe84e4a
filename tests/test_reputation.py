"""Stories of whose word and whose referrals can be trusted."""

from __future__ import annotations

import pytest
from judging_story import Story, day
from ledger_reputation.conduct import BASE, clamp

from ledger.app import Ledger


def score(people, handle, role):
    return next(p for p in people if p["person"] == handle)[f"as_{role}"]["score"]


def assert_explained(people):
    """Every score is the documented base plus its explanation's points, clamped."""
    for person in people:
        for role in ("requester", "referrer", "target"):
            part = person[f"as_{role}"]
            assert part["score"] == clamp(BASE + sum(e["points"] for e in part["explain"]))
            for entry in part["explain"]:
                assert set(entry) == {"event", "points", "reason"}
                assert entry["points"] != 0 and entry["reason"]


def two_referrals(cli):
    """ana's referral done right, and eve's: unprepared, vetted by a referrer who met her once."""
    story = Story(cli)
    story.done_right()
    story.referral = "r2"
    story.request(0, by="eve", target=None, preparation={}, relationship="friend")
    story.vet(9, knows_work=False, relationship="met-once")
    story.introduce(10, to="dan")
    return story


def test_every_score_is_base_plus_its_explanation(cli):
    story = two_referrals(cli)
    for on in (0, 5, 30, 400):
        people = story.reputation(on)
        assert_explained(people)
    people = story.reputation(400)
    assert [p["person"] for p in people] == ["ana", "bob", "carol", "dan", "eve"]


def test_scores_are_clamped_to_0_and_100(cli):
    story = Story(cli)
    # Eve asks carelessly, again and again, and never follows up on anything.
    for n in range(4):
        story.referral = f"r{n}"
        story.request(n, by="eve", preparation={}, relationship="family")
        story.vet(n + 1, knows_work=False, relationship="linkedin-only")
        story.introduce(n + 2)
    people = story.reputation(400)
    assert_explained(people)
    assert score(people, "eve", "requester") == 0


def test_a_diligent_requester_outscores_a_careless_one(cli):
    story = Story(cli)
    story.done_right()  # Ana: prepared, thanked, followed up, kept Carol informed
    story.referral = "r2"
    story.request(0, by="eve", preparation={"researched_company": True})
    story.vet(1)
    story.introduce(2)
    story.event("interview-held", 8, by="bob")
    people = story.reputation(60)
    assert score(people, "ana", "requester") > BASE > score(people, "eve", "requester")
    reasons = [e["reason"] for e in people[-1]["as_requester"]["explain"]]
    assert any("unprepared-request" in r for r in reasons)
    assert any("overdue follow-up-overdue" in r for r in reasons)


def test_a_careful_referrer_outscores_one_who_does_not_know_the_work(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1, knows_work=True)
    story.introduce(2)
    story.referral = "r2"
    story.request(0, by="eve", referrer="dan", target=None, company="Globex")
    story.event(
        "request-vetted",
        1,
        by="dan",
        decision="accept",
        knows_work=False,
        relationship="worked-together",
    )
    story.event("introduction-made", 2, by="dan", to="carol")
    people = story.reputation(3)
    assert score(people, "carol", "referrer") > score(people, "dan", "referrer")
    dans = next(p for p in people if p["person"] == "dan")["as_referrer"]["explain"]
    assert [e["points"] for e in dans if "referrer-does-not-know-work" in e["reason"]] == [-10]


def test_an_obligation_met_late_still_costs(cli):
    story = Story(cli)
    request = story.request(0)
    story.vet(9, decision="decline")  # (an accept would leave her an introduction to make)
    [carol] = story.reputation(30, "carol")
    late = [e for e in carol["as_referrer"]["explain"] if e["points"] < 0]
    assert late == [
        {
            "event": request["id"],
            "points": -5,
            "reason": late[0]["reason"],
        }
    ]
    assert "request-unanswered" in late[0]["reason"]
    # Before it fell due, there was nothing to hold against Carol.
    [carol] = story.reputation(6, "carol")
    assert [e for e in carol["as_referrer"]["explain"] if e["points"] < 0] == []


def test_a_flag_without_a_referral_lowers_each_role_held(cli):
    # Since 0.2 a flag with no referral costs in each role the person has held, not in every
    # role: Ana has only ever asked, so it costs her as requester only.
    story = Story(cli)
    story.declare("ana", "carol", "family", -10)
    story.declare("carol", "ana", "linkedin-only", -9)
    # No `relationship` in the request: since 0.2 it would be Ana's current account of Carol,
    # and the comparison would belong to the referral.
    story.request(0, relationship=None)
    [ana] = story.reputation(1, "ana")

    def misrepresented(person, role):
        return [
            e["points"] for e in person[f"as_{role}"]["explain"] if "misrepresented" in e["reason"]
        ]

    assert misrepresented(ana, "requester") == [-10]
    assert misrepresented(ana, "referrer") == misrepresented(ana, "target") == []
    assert_explained([ana])


def test_reputation_follows_as_of_and_known_at(cli):
    story = Story(cli)
    story.request(0)
    thanks_due = story.vet(1)
    intro = story.introduce(2)
    [ana_then] = story.reputation(5, "ana", "--known-at", thanks_due["recorded_at"])
    # Prepared, and her account of the tie matches Carol's; nothing owed yet.
    assert ana_then["as_requester"]["score"] == BASE + 5 + 2
    [ana_now] = story.reputation(5, "ana")
    assert ana_now["as_requester"]["score"] < ana_then["as_requester"]["score"]
    assert intro["id"] in {e["event"] for e in ana_now["as_requester"]["explain"]}


def test_one_person_explained_in_readable_form(cli):
    story = Story(cli)
    story.done_right()
    text = cli.ok("reputation", "ana", "--as-of", day(30)).stdout
    assert text.splitlines()[0] == "ana (Ana Ruiz)"  # the name beside the handle
    assert "as requester:" in text and "+5" in text and "prepared" in text
    table = cli.ok("reputation", "--as-of", day(30)).stdout.splitlines()
    assert table[0].split() == ["PERSON", "REQUESTER", "REFERRER", "TARGET"]


def test_unknown_person_is_refused(cli):
    Story(cli)
    cli.refused("reputation", "nobody")
    cli.refused("reputation", "--as-of", "soon")


def test_a_person_who_took_no_part_scores_the_base(cli):
    Story(cli)
    [dan] = cli.json("reputation", "dan", "--json")
    assert {dan[f"as_{r}"]["score"] for r in ("requester", "referrer", "target")} == {BASE}
    assert cli.json("reputation", "--json") == []


@pytest.mark.parametrize("value, expected", [(-30, 0), (130, 100), (57, 57)])
def test_clamp(value, expected):
    assert clamp(value) == expected


def test_a_stranger_who_forwards_a_resume_pays_as_a_referrer(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    forward = story.event("resume-forwarded", 2, by="dan", to="bob")
    [dan] = story.reputation(3, "dan")
    assert dan["as_referrer"]["score"] == BASE - 10
    assert [e["event"] for e in dan["as_referrer"]["explain"]] == [forward["id"]]
    # Dan is none of the three parties, so the full list leaves him out.
    assert "dan" not in {p["person"] for p in story.reputation(3)}


def test_forgetting_a_person_changes_no_judgement(cli):
    story = Story(cli)
    story.request(0, preparation={"researched_company": True, "questions": ["Why Acme?"]})
    story.vet(1, knows_work=False)
    story.introduce(2)
    story.event("interview-held", 5, by="bob")
    before = [story.alerts(30), story.flags(30), story.reputation(30)]
    cli.ok("forget", "ana", "--yes")
    assert [story.alerts(30), story.flags(30), story.reputation(30)] == before


@pytest.mark.parametrize("page", [1, 2, 500])
def test_everyone_a_page_at_a_time_is_everyone_one_by_one(cli, monkeypatch, page):
    # The full list is scored a page of people at a time and streamed; each person's entry
    # must be what `reputation HANDLE` shows, with every page size, text and JSON alike.
    import ledger_reputation.command

    two_referrals(cli)
    monkeypatch.setattr(ledger_reputation.command, "PAGE", page)
    everyone = cli.json("reputation", "--json", "--as-of", day(400))
    assert [p["person"] for p in everyone] == ["ana", "bob", "carol", "dan", "eve"]
    for person in everyone:
        assert cli.json("reputation", person["person"], "--json", "--as-of", day(400)) == [person]
    table = cli.ok("reputation", "--as-of", day(400)).stdout.splitlines()
    assert table[0].split() == ["PERSON", "REQUESTER", "REFERRER", "TARGET"]
    assert [line.split()[0] for line in table[1:]] == ["ana", "bob", "carol", "dan", "eve"]
    scores_shown = [[float(x) for x in line.split()[-3:]] for line in table[1:]]
    assert scores_shown == [
        [p[f"as_{role}"]["score"] for role in ("requester", "referrer", "target")] for p in everyone
    ]


def test_nobody_yet(cli):
    Ledger(cli.db).close()  # an empty ledger
    assert cli.ok("reputation").stdout == "Nobody has taken part in a referral yet.\n"
    assert cli.json("reputation", "--json") == []
