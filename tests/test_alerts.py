"""Stories of what people owe each other, and when the ledger says so."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from judging_story import Story, day, owed

from ledger import hookimpl
from ledger.app import Ledger
from ledger.plugins import Plugins
from ledger.projections import Projection, catch_up, timestamp
from ledger.views import micros


def test_the_referral_done_right_raises_no_alert_ever(cli):
    story = Story(cli)
    story.done_right()
    for on in (1, 4, 9, 30, 400):
        assert story.alerts(on) == [], on
    assert cli.ok("alerts", "--as-of", day(400)).stdout.strip() == "Nothing overdue."


def test_a_politely_declined_request_raises_nothing(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1, decision="decline", note="I haven't seen your work; try Dan instead")
    story.send("thank-you-sent", "ana", "carol", 1.5)
    story.event("referral-closed", 2, by="ana", reason="Declined")
    assert story.alerts(400) == []
    assert story.flags(400) == []


def test_an_unanswered_request_is_the_referrers_debt_until_vetted(cli):
    story = Story(cli)
    request = story.request(0)
    assert story.alerts(6.9) == []
    [alert] = story.alerts(7.5)
    assert alert["kind"] == "request-unanswered"
    assert (alert["referral"], alert["person"], alert["owed_to"]) == ("r1", "carol", "ana")
    assert alert["due"] == day(7)
    assert alert["evidence"] == [request["id"]]
    assert "carol" in alert["message"] and "ana" in alert["message"]
    story.vet(9)
    assert owed(story.alerts(8.5)) == {("request-unanswered", "carol", "ana")}
    assert story.alerts(9) == []


def test_closing_the_referral_ends_the_request_alert(cli):
    story = Story(cli)
    story.request(0)
    story.event("referral-closed", 3, by="ana", reason="Found another way in")
    assert story.alerts(30) == []


def test_after_an_introduction_the_requester_owes_a_follow_up_and_thanks(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    assert story.alerts(3.9) == []
    assert owed(story.alerts(4.5)) == {("thank-you-missing", "ana", "carol")}
    assert owed(story.alerts(5.5)) == {
        ("thank-you-missing", "ana", "carol"),
        ("follow-up-overdue", "ana", "bob"),
    }
    # The referrer owes both sides a check-in two weeks after the introduction.
    assert owed(story.alerts(16.5)) >= {
        ("referrer-check-in-missing", "carol", "ana"),
        ("referrer-check-in-missing", "carol", "bob"),
    }
    story.send("thank-you-sent", "ana", "carol", 6)
    story.send("follow-up-sent", "ana", "bob", 6)
    story.send("follow-up-sent", "carol", "ana", 17)
    assert owed(story.alerts(16.5)) == {
        ("referrer-check-in-missing", "carol", "ana"),
        ("referrer-check-in-missing", "carol", "bob"),
    }
    assert owed(story.alerts(18)) == {("referrer-check-in-missing", "carol", "bob")}


def test_a_forwarded_resume_also_earns_the_referrer_thanks(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.event("resume-forwarded", 2, by="carol", to="bob")
    assert owed(story.alerts(4.5)) == {("thank-you-missing", "ana", "carol")}


def test_a_resume_forwarded_by_someone_else_earns_the_referrer_nothing(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.event("resume-forwarded", 2, by="dan", to="bob")
    assert story.alerts(4.5) == []


def test_closing_ends_the_follow_up_but_not_the_thanks(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.event("referral-closed", 2.5, by="ana", reason="Took another offer")
    assert owed(story.alerts(30)) == {("thank-you-missing", "ana", "carol")}


def test_after_an_interview_everyone_owes_someone(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.send("thank-you-sent", "ana", "carol", 2)
    story.send("follow-up-sent", "ana", "bob", 3)
    story.event("interview-held", 5, by="bob")
    assert owed(story.alerts(11.9)) == set()
    assert owed(story.alerts(12.5)) == {
        ("thank-you-missing", "carol", "bob"),  # the referrer thanks the target
        ("thank-you-missing", "bob", "carol"),  # the target thanks the referrer ...
        ("thank-you-missing", "bob", "ana"),  # ... and the requester
        ("feedback-missing", "bob", "carol"),
        ("outcome-not-shared", "ana", "carol"),
    }
    story.send("thank-you-sent", "carol", "bob", 13)
    story.send("thank-you-sent", "bob", "carol", 13)
    story.send("feedback-given", "bob", "carol", 13, match=3)
    story.send("follow-up-sent", "ana", "carol", 13, note="The interview went well")
    assert owed(story.alerts(14)) == {("thank-you-missing", "bob", "ana")}


def test_an_outcome_the_referrer_never_heard_opens_outcome_not_shared(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.send("thank-you-sent", "ana", "carol", 2)
    story.send("follow-up-sent", "ana", "bob", 3)
    story.send("follow-up-sent", "carol", "ana", 4)
    story.send("follow-up-sent", "carol", "bob", 4)
    story.send("outcome-reported", "bob", "ana", 6, outcome="no-opening")
    assert owed(story.alerts(13.5)) == {("outcome-not-shared", "ana", "carol")}
    story.send("outcome-reported", "ana", "carol", 15, outcome="no-opening")
    assert story.alerts(16) == []


def test_an_outcome_told_to_the_referrer_opens_nothing(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.send("outcome-reported", "bob", "carol", 3, outcome="no-opening")
    # (The referrer accepted and never introduced: that is their debt, not an outcome's.)
    assert owed(story.alerts(30)) == {("introduction-pending", "carol", "ana")}


def test_a_retraction_reopens_what_the_retracted_event_had_met(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    thanks = story.send("thank-you-sent", "ana", "carol", 2.5)
    story.send("follow-up-sent", "ana", "bob", 3)
    assert story.alerts(5) == []
    story.event(
        "event-retracted", 6, by="ana", retracts=thanks["id"], reason="Sent to the wrong person"
    )
    # Whatever the retraction's own `at`, the thanks never counted.
    assert owed(story.alerts(4.5)) == {("thank-you-missing", "ana", "carol")}
    assert owed(story.alerts(5)) == {("thank-you-missing", "ana", "carol")}


def test_as_of_and_known_at_on_a_history_recorded_after_the_fact(cli):
    story = Story(cli)
    request = story.request(0)
    vetting = story.vet(9)
    known_request, known_vetting = request["recorded_at"], vetting["recorded_at"]
    assert known_request < known_vetting
    # What the ledger knew before the vetting was recorded: Carol still owes an answer.
    before = story.alerts(8, "--known-at", known_request)
    assert owed(before) == {("request-unanswered", "carol", "ana")}
    assert story.alerts(20, "--known-at", known_request) == before
    # Once it knew: the obligation was open from day 7 to day 9 of the world's time.
    assert owed(story.alerts(8, "--known-at", known_vetting)) == owed(before)
    assert story.alerts(10, "--known-at", known_vetting) == []
    assert story.alerts(6, "--known-at", known_vetting) == []
    # Before anything about the referral was recorded there was nothing to owe.
    people_known = cli.export()[0]["recorded_at"]
    assert story.alerts(8, "--known-at", people_known) == []


def test_known_at_sees_a_retraction_only_from_its_recording(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    thanks = story.send("thank-you-sent", "ana", "carol", 2.5)
    retraction = story.event(
        "event-retracted", 3, by="ana", retracts=thanks["id"], reason="Recorded by mistake"
    )
    assert owed(story.alerts(5.5, "--known-at", thanks["recorded_at"])) == {
        ("follow-up-overdue", "ana", "bob")
    }
    assert owed(story.alerts(5.5, "--known-at", retraction["recorded_at"])) == {
        ("follow-up-overdue", "ana", "bob"),
        ("thank-you-missing", "ana", "carol"),
    }


def test_person_shows_what_i_owe_and_what_is_owed_to_me(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    mine = story.alerts(5.5, "--person", "ana")
    assert {(a["kind"], a["direction"]) for a in mine} == {
        ("thank-you-missing", "owes"),
        ("follow-up-overdue", "owes"),
    }
    bobs = story.alerts(5.5, "--person", "bob")
    assert {(a["kind"], a["person"], a["direction"]) for a in bobs} == {
        ("follow-up-overdue", "ana", "owed")
    }
    text = cli.ok("alerts", "--as-of", day(5.5), "--person", "bob").stdout
    assert "ana owes you a follow-up since the introduction for r1 at Acme" in text
    assert story.alerts(5.5, "--person", "dan") == []
    cli.refused("alerts", "--person", "nobody")


def test_alerts_are_listed_most_overdue_first(cli):
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    listed = story.alerts(30)
    dues = [a["due"] for a in listed]
    assert dues == sorted(dues)
    assert listed[0]["kind"] == "thank-you-missing"
    lines = cli.ok("alerts", "--as-of", day(30)).stdout.splitlines()
    assert "26 days overdue" in lines[0] and "thank-you-missing" in lines[0]


def test_check_exits_1_only_when_something_is_overdue(cli):
    story = Story(cli)
    story.request(0)
    assert cli("alerts", "--check", "--as-of", day(3)).exit_code == 0
    late = cli("alerts", "--check", "--as-of", day(8))
    assert late.exit_code == 1
    assert "request-unanswered" in late.stdout
    story.vet(9, decision="decline")
    assert cli("alerts", "--check", "--as-of", day(30)).exit_code == 0


# A bare day and `yesterday` are friendly dates from 0.2 on (tests/test_daily.py); a time of day
# without an offset, or a word that is none of the friendly forms, stays refused.
@pytest.mark.parametrize("bad", ["2026-09-01T09:00:00", "next tuesday", "2026-02-30"])
def test_times_need_an_offset(cli, bad):
    assert "--as-of" in cli.refused("alerts", "--as-of", bad).stderr
    assert "--known-at" in cli.refused("alerts", "--known-at", bad).stderr


def test_due_days_come_from_the_config_file(cli, tmp_path):
    story = Story(cli)
    story.request(0)
    assert story.alerts(2) == []
    quick = tmp_path / "quick.toml"
    quick.write_text('[due]\nrequest-unanswered = 1\n"follow-up-overdue" = 0.5\n')
    [alert] = cli.json("--config", str(quick), "alerts", "--json", "--as-of", day(2))
    assert alert["due"] == day(1)
    # The stored alerts are rebuilt for each setting, in both directions.
    assert story.alerts(2) == []
    # The default file in the user's config directory (XDG_CONFIG_HOME in these tests).
    home = tmp_path / "config" / "referral-ledger"
    home.mkdir(parents=True)
    (home / "config.toml").write_text("[due]\nrequest-unanswered = 1.5\n")
    [alert] = story.alerts(2)
    assert alert["due"] == day(1.5)


@pytest.mark.parametrize(
    "text, complaint",
    [
        ("[due]\nrequest-unanswered = 'soon'\n", "number of days"),
        ("[due]\nrequest-unanswered = -1\n", "between 0"),
        ("[due]\nthank-you = 3\n", "no key 'thank-you'"),
        ("[due]\nrequest-unanswered = true\n", "number of days"),
        ("due = 3\n", "table"),
        ("[due\n", "not valid TOML"),
    ],
)
def test_a_broken_config_file_is_refused(sqlite_cli, tmp_path, text, complaint):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    result = sqlite_cli.refused("--config", str(bad), "alerts")
    assert complaint in result.stderr


def test_a_missing_config_file_is_refused(sqlite_cli, tmp_path):
    result = sqlite_cli.refused("--config", str(tmp_path / "nope.toml"), "alerts")
    assert "does not exist" in result.stderr


def test_one_new_event_rederives_only_its_referral(cli):
    story = Story(cli, referral="r1")
    story.request(0)
    story.referral = "r2"
    story.request(0, by="eve")
    story.referral = "r1"
    ledger = Ledger(cli.db)
    try:
        catch_up(ledger)
        assert catch_up(ledger) == {
            name: 0 for name in ("alerts", "flags", "reputation", "summaries")
        }
        story.vet(1)
        # The vetting's `relationship` is Carol's account of Ana, which counts everywhere (0.2):
        # the flags of both people's referrals (r1, and Carol's r2) and of their accounts.
        assert catch_up(ledger) == {"alerts": 1, "flags": 4, "reputation": 1, "summaries": 1}
        # A declaration bears on the flags of both people's referrals and their accounts, and
        # on the honest-accounts credit of the referral between the two (Eve's r2 to Carol).
        story.declare("eve", "carol", "friend", 2)
        assert catch_up(ledger) == {"alerts": 0, "flags": 4, "reputation": 1, "summaries": 0}
    finally:
        ledger.close()


def test_alerts_json_is_the_contract_array(cli):
    story = Story(cli)
    story.request(0)
    out = cli.ok("alerts", "--json", "--as-of", day(8)).stdout
    [alert] = orjson.loads(out)
    for field in ("kind", "referral", "person", "owed_to", "due", "message"):
        assert field in alert
    assert "start" not in alert and "end" not in alert


class CoffeeDebts:
    """A third-party plugin: whoever was interviewed owes the target a coffee within a day."""

    @staticmethod
    @hookimpl
    def register_projections():
        return [CoffeeProjection()]


class CoffeeProjection(Projection):
    name = "coffee-debts"
    category = "alert"

    def parts(self, event, view):
        return [event["referral"]] if event.get("referral") else []

    def derive(self, part, view):
        parties = view.parties(part)
        for event in view.referral(part):
            if event["type"] == "interview-held" and parties.target:
                due = micros(event["at"]) + 86_400_000_000
                yield {
                    "kind": "coffee-owed",
                    "referral": part,
                    "person": parties.requester,
                    "owed_to": parties.target,
                    "role": "requester",
                    "due": timestamp(due),
                    "message": f"{parties.requester} owes {parties.target} a coffee",
                    "start": timestamp(due + 1),
                }


def test_alerts_of_other_plugins_are_listed_and_cost_reputation(cli, monkeypatch):
    import ledger.plugins

    monkeypatch.setattr(ledger.plugins, "_default", Plugins(extra={"coffee-debts": CoffeeDebts}))
    story = Story(cli)
    story.request(0)
    story.vet(1)
    story.introduce(2)
    story.send("thank-you-sent", "ana", "carol", 2)
    story.send("follow-up-sent", "ana", "bob", 2)
    story.event("interview-held", 3, by="bob")
    assert owed(story.alerts(4.5)) == {("coffee-owed", "ana", "bob")}
    assert story.alerts(4.5, "--person", "bob")[0]["direction"] == "owed"
    [ana] = story.reputation(4.5, "ana")
    coffee = [e for e in ana["as_requester"]["explain"] if "coffee-owed" in e["reason"]]
    assert [e["points"] for e in coffee] == [-5]


@pytest.mark.parametrize("known", [False, True])
def test_check_quiet_prints_nothing_and_agrees_with_the_full_check(cli, known):
    story = Story(cli)
    story.request(0)

    # --known-at takes the replay path; without it the count comes from the stored rows.
    def known_now() -> list[str]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return ["--known-at", now] if known else []

    extra = known_now()
    for as_of, status in ((day(3), 0), (day(8), 1)):
        full = cli("alerts", "--check", "--as-of", as_of, *extra)
        quiet = cli("alerts", "--check", "--quiet", "--as-of", as_of, *extra)
        assert (full.exit_code, quiet.exit_code) == (status, status)
        assert quiet.stdout == ""
    assert cli("alerts", "-q", "--check", "--person", "ana", "--as-of", day(8)).exit_code == 1
    story.vet(9, decision="decline")
    assert cli("alerts", "--check", "-q", "--as-of", day(30), *known_now()).exit_code == 0


def test_quiet_refuses_json(cli):
    result = cli("alerts", "--quiet", "--json")
    assert result.exit_code == 2
    assert "Error:" in result.stderr and "--quiet" in result.stderr
