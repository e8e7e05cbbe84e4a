"""Stories of the 0.2 alerts: a referrer who accepts owes an introduction, a `needs-preparation`
answer obliges the requester, an outcome told to the referrer first is not asked for again,
withdrawing frees the target of thanks, and whoever is owed something may waive it."""

from __future__ import annotations

from typing import Any

import orjson
from judging_story import Story, day, owed


def _another(story: Story, referral: str) -> Story:
    """A second referral of the same people, in the same ledger."""
    other = Story.__new__(Story)
    other.cli, other.referral = story.cli, referral
    return other


def _in(story: Story, on: float) -> list[dict[str, Any]]:
    """The alerts of the story's own referral."""
    return [a for a in story.alerts(on) if a["referral"] == story.referral]


def _of(kind: str, alerts: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    return {o for o in owed(alerts) if o[0] == kind}


# introduction-pending: a referrer who accepts and then goes silent owed nothing in 0.1.


def test_a_referrer_who_accepts_and_goes_silent_owes_the_introduction(cli):
    story = Story(cli)
    story.request(0)
    vetting = story.vet(1)
    assert story.alerts(7.9) == []  # due 7 days after the acceptance: day 8
    [alert] = story.alerts(8.5)
    assert (alert["kind"], alert["person"], alert["owed_to"]) == (
        "introduction-pending",
        "carol",
        "ana",
    )
    assert alert["role"] == "referrer" and alert["due"] == day(8)
    assert alert["evidence"] == [vetting["id"]]
    assert "carol" in alert["message"] and "ana" in alert["message"]
    assert owed(story.alerts(400)) == {("introduction-pending", "carol", "ana")}


def test_the_introduction_the_resume_or_a_word_to_the_requester_meets_it(cli):
    first = Story(cli)
    for n, meet in enumerate(
        (
            lambda s: s.introduce(7.9),
            lambda s: s.send("resume-forwarded", "carol", "bob", 7.9),
            lambda s: s.send("follow-up-sent", "carol", "ana", 7.9, note="Still on it"),
        )
    ):
        story = _another(first, f"r{n}")
        story.request(0)
        story.vet(1)
        meet(story)
        assert _of("introduction-pending", _in(story, 400)) == set()


def test_a_late_introduction_ends_the_alert_and_a_word_to_someone_else_does_not(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.send("follow-up-sent", "carol", "bob", 3)  # not to the requester
    assert owed(story.alerts(9)) == {("introduction-pending", "carol", "ana")}
    story.introduce(10)
    assert _of("introduction-pending", story.alerts(9.9)) == {
        ("introduction-pending", "carol", "ana")
    }
    assert _of("introduction-pending", story.alerts(10)) == set()


def test_a_decline_or_a_close_owes_no_introduction(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1, decision="decline")
    assert story.alerts(400) == []
    closed = _another(story, "r2")
    closed.request(0)
    closed.vet(1)
    closed.event("referral-closed", 4, by="ana", reason="Found another way in")
    assert _in(closed, 400) == []


# preparation-missing: in 0.1 a `needs-preparation` answer obliged nobody.


def test_needs_preparation_obliges_the_requester_to_amend(cli):
    story = Story(cli)
    story.request(0, preparation={})
    vetting = story.vet(1, decision="needs-preparation")
    assert story.alerts(7.9) == []
    [alert] = story.alerts(8.5)
    assert (alert["kind"], alert["person"], alert["owed_to"], alert["role"]) == (
        "preparation-missing",
        "ana",
        "carol",
        "requester",
    )
    assert alert["due"] == day(8) and alert["evidence"] == [vetting["id"]]
    story.event(
        "request-amended",
        10,
        by="ana",
        preparation={"researched_company": True, "questions": ["What does the team own?"]},
    )
    assert owed(story.alerts(9.9)) == {("preparation-missing", "ana", "carol")}
    assert story.alerts(10) == []


def test_preparation_added_in_time_or_a_close_leaves_nothing_owed(cli):
    story = Story(cli)
    story.request(0, preparation={})
    story.vet(1, decision="needs-preparation")
    story.event("request-amended", 7.9, by="ana", preparation={"researched_person": True})
    assert story.alerts(400) == []
    closed = _another(story, "r2")
    closed.request(0, preparation={})
    closed.vet(1, decision="needs-preparation")
    closed.event("referral-closed", 3, by="ana", reason="Not ready after all")
    assert _in(closed, 400) == []


# thank-you-missing target → requester ends when the requester withdraws.


def _interviewed(cli: Any) -> Story:
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.send("thank-you-sent", "ana", "carol", 2.5)
    story.send("follow-up-sent", "ana", "bob", 3)
    story.send("follow-up-sent", "carol", "ana", 4)
    story.send("follow-up-sent", "carol", "bob", 4)
    story.event("interview-held", 8, by="bob")
    return story


def test_a_requester_who_withdrew_is_owed_no_thanks_by_the_target(cli):
    story = _interviewed(cli)
    story.send("outcome-reported", "ana", "carol", 10, outcome="withdrawn")
    thanks = _of("thank-you-missing", story.alerts(30))
    # The target still owes the referrer their thanks; not the requester who withdrew.
    assert ("thank-you-missing", "bob", "ana") not in thanks
    assert ("thank-you-missing", "bob", "carol") in thanks


def test_withdrawing_after_the_thanks_fell_due_ends_the_alert_from_then(cli):
    story = _interviewed(cli)
    assert ("thank-you-missing", "bob", "ana") not in owed(story.alerts(14.9))  # due day 15
    assert ("thank-you-missing", "bob", "ana") in owed(story.alerts(15.5))
    story.send("outcome-reported", "ana", "carol", 20, outcome="withdrawn")
    assert ("thank-you-missing", "bob", "ana") in owed(story.alerts(19.9))
    assert ("thank-you-missing", "bob", "ana") not in owed(story.alerts(20))


def test_another_outcome_leaves_the_targets_thanks_owed(cli):
    story = _interviewed(cli)
    story.send("outcome-reported", "ana", "carol", 10, outcome="rejected")
    assert ("thank-you-missing", "bob", "ana") in owed(story.alerts(30))


# outcome-not-shared: telling the referrer first, then the target, was a false alarm.


def _introduced(cli: Any) -> Story:
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    return story


def test_a_requester_who_told_the_referrer_then_the_target_owes_nothing(cli):
    story = _introduced(cli)
    story.send("outcome-reported", "ana", "carol", 10, outcome="offer-declined")
    story.send("outcome-reported", "ana", "bob", 11, outcome="offer-declined")
    assert _of("outcome-not-shared", story.alerts(400)) == set()


def test_telling_both_at_the_same_moment_counts_as_telling_the_referrer_first(cli):
    story = _introduced(cli)
    story.send("outcome-reported", "ana", "bob", 11, outcome="rejected")
    story.send("outcome-reported", "ana", "carol", 11, outcome="rejected")
    assert _of("outcome-not-shared", story.alerts(400)) == set()


def test_telling_the_target_first_still_owes_the_referrer_the_outcome(cli):
    story = _introduced(cli)
    story.send("outcome-reported", "ana", "bob", 11, outcome="rejected")
    assert _of("outcome-not-shared", story.alerts(17.9)) == set()  # due day 18
    assert _of("outcome-not-shared", story.alerts(18.5)) == {("outcome-not-shared", "ana", "carol")}
    story.send("outcome-reported", "ana", "carol", 20, outcome="rejected")
    assert _of("outcome-not-shared", story.alerts(20)) == set()


def test_only_an_outcome_report_counts_as_having_told_the_referrer(cli):
    story = _introduced(cli)
    story.send("follow-up-sent", "ana", "carol", 10, note="It went well, I think")
    story.send("outcome-reported", "ana", "bob", 11, outcome="hired")
    assert _of("outcome-not-shared", story.alerts(30)) == {("outcome-not-shared", "ana", "carol")}


# obligation-waived: the one owed may let the other off, only while it is open.


def _waive(story: Story, on: float, **fields: Any) -> dict[str, Any]:
    base = {"by": "bob", "kind": "follow-up-overdue", "person": "ana"}
    event = {"type": "obligation-waived", "at": day(on), "referral": story.referral}
    return {**event, **base, **fields}


def _stored(cli: Any) -> int:
    return len(cli.ok("export").stdout.splitlines())


def test_a_waiver_of_nothing_open_is_refused_and_nothing_is_stored(cli):
    story = _introduced(cli)  # Ana owes Bob a follow-up from day 2 on
    story.send("follow-up-sent", "ana", "bob", 6)
    count = _stored(cli)
    refusals = {
        "before it opened": _waive(story, 1.5),
        "after it was met": _waive(story, 7),
        "by someone it is not owed to": _waive(story, 4, by="dan"),
        "of someone who does not owe it": _waive(story, 4, person="eve"),
        "of a kind nobody owes here": _waive(story, 4, kind="feedback-missing"),
        "of an unknown kind": _waive(story, 4, kind="follow-up-overdu"),
    }
    for why, waiver in refusals.items():
        result = cli.refused("record", orjson.dumps(waiver).decode())
        assert "follow-up-overdu" in result.stderr or "open" in result.stderr, why
    assert "unknown alert kind" in cli.refused(
        "record", orjson.dumps(refusals["of an unknown kind"]).decode()
    ).stderr
    assert _stored(cli) == count


def test_an_import_with_a_waiver_of_nothing_open_stores_nothing(cli, tmp_path):
    story = _introduced(cli)
    count = _stored(cli)
    thanks = {"type": "thank-you-sent", "at": day(2.5), "referral": "r1", "by": "ana", "to": "carol"}
    path = tmp_path / "events.jsonl"
    path.write_bytes(orjson.dumps(thanks) + b"\n" + orjson.dumps(_waive(story, 4, by="carol")))
    assert "Error: " in cli.refused("import", str(path)).stderr
    assert _stored(cli) == count
    path.write_bytes(orjson.dumps(thanks) + b"\n" + orjson.dumps(_waive(story, 4)))
    cli.ok("import", str(path))
    assert _stored(cli) == count + 2
    assert _of("follow-up-overdue", story.alerts(400)) == set()


def test_a_waived_obligation_is_gone_from_its_at_and_still_seen_before(cli):
    story = _introduced(cli)
    story.send("thank-you-sent", "ana", "carol", 2.5)
    before = story.send("follow-up-sent", "carol", "ana", 4)
    waiver = cli.record(_waive(story, 20, note="We met at the meetup; no need"))
    assert waiver["type"] == "obligation-waived"
    follow_up = ("follow-up-overdue", "ana", "bob")
    assert follow_up in owed(story.alerts(19.9))  # due day 5, overdue until the waiver
    assert follow_up not in owed(story.alerts(20))
    assert follow_up not in owed(story.alerts(400))
    # A view that does not know the waiver yet still shows the obligation.
    assert follow_up in owed(story.alerts(400, "--known-at", before["recorded_at"]))
    assert follow_up not in owed(story.alerts(400, "--known-at", waiver["recorded_at"]))
    # Once waived it is no longer open: a second waiver is refused.
    cli.refused("record", orjson.dumps(_waive(story, 21)).decode())


def test_a_waiver_before_the_due_time_means_no_alert_ever(cli):
    story = _introduced(cli)
    cli.record(_waive(story, 4))
    assert ("follow-up-overdue", "ana", "bob") not in owed(story.alerts(400))
    assert ("follow-up-overdue", "ana", "bob") not in owed(story.alerts(4.5))


def test_reputation_does_not_count_a_waived_obligation(cli):
    story = _introduced(cli)
    story.send("thank-you-sent", "ana", "carol", 2.5)
    cli.record(_waive(story, 20))

    def overdue(on: float) -> list[dict[str, Any]]:
        [ana] = story.reputation(on, "ana")
        return [e for e in ana["as_requester"]["explain"] if "follow-up-overdue" in e["reason"]]

    [cost] = overdue(19)
    assert cost["points"] < 0
    assert overdue(20) == [] and overdue(400) == []
    text = cli.ok("reputation", "ana", "--as-of", day(400)).stdout
    assert "overdue follow-up-overdue" not in text
    assert "overdue follow-up-overdue" in cli.ok("reputation", "ana", "--as-of", day(19)).stdout


def test_an_obligation_that_outlasts_the_close_can_still_be_waived(cli):
    story = _introduced(cli)
    story.event("referral-closed", 5, by="ana", reason="Hired elsewhere")
    thanks = ("thank-you-missing", "ana", "carol")
    assert thanks in owed(story.alerts(30))  # the close does not end it
    cli.record(_waive(story, 20, by="carol", kind="thank-you-missing", note="No thanks needed"))
    assert thanks in owed(story.alerts(19.9))
    assert thanks not in owed(story.alerts(30))


def test_a_waiver_judged_with_the_earlier_lines_of_its_import(cli, tmp_path):
    # The obligation opens in the file itself: the introduction is a line before the waiver.
    story = Story(cli)
    story.request(0)
    story.vet(1)
    count = _stored(cli)
    intro = {"type": "introduction-made", "at": day(2), "referral": "r1", "by": "carol", "to": "bob"}
    met = {"type": "follow-up-sent", "at": day(3), "referral": "r1", "by": "ana", "to": "bob"}
    path = tmp_path / "events.jsonl"
    # met by a line of the file before the waiver: nothing is open, nothing is stored
    lines = [intro, met, _waive(story, 4)]
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in lines) + b"\n")
    refused = cli.refused("import", str(path))
    assert "line 3" in refused.stderr and "no open follow-up-overdue" in refused.stderr
    assert _stored(cli) == count
    # opened by a line of the file, and still open at the waiver: stored
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in [intro, _waive(story, 4)]) + b"\n")
    cli.ok("import", str(path))
    assert _stored(cli) == count + 2
    assert _of("follow-up-overdue", story.alerts(400)) == set()


def test_a_ledger_with_a_waiver_restores_from_its_export(cli, tmp_path):
    story = _introduced(cli)
    story.send("thank-you-sent", "ana", "carol", 2.5)
    cli.record(_waive(story, 20, note="We met at the meetup; no need"))
    exported = cli.ok("export").stdout
    source = tmp_path / "backup.jsonl"
    source.write_text(exported, encoding="utf-8")
    restored = type(cli)(str(tmp_path / "restored.db"))
    restored.ok("import", str(source))
    assert restored.ok("export").stdout == exported  # the same seq, hashes and waiver
    assert restored.ok("verify").stdout.startswith("Chain ok")
