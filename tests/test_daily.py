"""The everyday layer, told as a job seeker's weeks: who am I (`me`), what do I owe and when
(`due`), the same as a calendar (`calendar`), what happened lately (`log`), which ledger is
this (`info`), friendly dates in my time zone, and `verify -q`.

Ana asks Bob, who works at Acme, to introduce her to Carol. Bob accepts on 2 November and
introduces her on 3 November at 10:00 UTC: from then Ana owes Bob thanks (2 days: due 5
November) and Carol a follow-up (3 days: due 6 November); Bob owes both a check-in (14 days).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import orjson
import pytest

from ledger.testing import Cli

INTRODUCED = "2026-11-03T10:00:00Z"


def at(day: int, hour: int = 10) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00Z"


def story(cli: Cli) -> Cli:
    """Ana, Bob and Carol; Ana's request, Bob's acceptance and introduction."""
    cli.ok("person", "add", "ana", "--name", "Ana", "--at", at(1, 9))
    cli.ok("person", "add", "bob", "--name", "Bob", "--company", "Acme", "--at", at(1, 9))
    cli.ok("person", "add", "carol", "--name", "Carol", "--company", "Acme", "--at", at(1, 9))
    cli.ok(
        "request", "ana-acme", "--by", "ana", "--referrer", "bob", "--company", "Acme",
        "--target", "carol", "--at", at(1),
    )  # fmt: skip
    cli.ok("vet", "ana-acme", "--decision", "accept", "--knows-work", "--at", at(2))
    cli.ok("introduce", "ana-acme", "--to", "carol", "--at", INTRODUCED)
    return cli


def due(cli: Cli, *args: str) -> dict[str, list[dict[str, Any]]]:
    return cli.json("due", *args, "--json")


def owes(found: dict[str, list[dict[str, Any]]], side: str = "owes") -> list[tuple[Any, ...]]:
    return [(o["kind"], o["person"], o["owed_to"], o["overdue"]) for o in found[side]]


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return str(path)


# -- due ----------------------------------------------------------------------------------------


def test_due_shows_what_is_coming_before_it_is_overdue_and_drops_it_once_done(cli):
    story(cli)
    # The day after the introduction: nothing is overdue yet, both are coming due.
    early = due(cli, "ana", "--as-of", at(4))
    assert owes(early) == [
        ("thank-you-missing", "ana", "bob", False),
        ("follow-up-overdue", "ana", "carol", False),
    ]
    assert early["owed"] == []  # Bob's check-ins are 14 days out: past --within 7
    text = cli.ok("due", "ana", "--as-of", at(4)).stdout
    assert text.splitlines() == [
        "You owe, due within 7 days:",
        "  you owe bob thanks for the introduction for ana-acme at Acme, due 5 Nov (in 1 day)",
        "  you owe carol a follow-up since the introduction for ana-acme at Acme, due 6 Nov "
        "(in 2 days)",
    ]
    # A week on, both are overdue: listed first, and said so.
    late = due(cli, "ana", "--as-of", at(10))
    assert owes(late) == [
        ("thank-you-missing", "ana", "bob", True),
        ("follow-up-overdue", "ana", "carol", True),
    ]
    assert "You owe, overdue:" in cli.ok("due", "ana", "--as-of", at(10)).stdout
    assert "(5 days overdue)" in cli.ok("due", "ana", "--as-of", at(10)).stdout
    # Ana thanks Bob: that is done; the follow-up is still owed.
    cli.ok("thank", "ana-acme", "--by", "ana", "--to", "bob", "--at", at(10, 11))
    assert owes(due(cli, "ana", "--as-of", at(10, 12))) == [
        ("follow-up-overdue", "ana", "carol", True)
    ]
    cli.ok("follow-up", "ana-acme", "--by", "ana", "--to", "carol", "--at", at(10, 12))
    done = due(cli, "ana", "--as-of", at(10, 13))
    assert done["owes"] == []
    # Bob's check-in with Ana falls due on 17 November: within the week, owed to her.
    assert owes(done, "owed") == [("referrer-check-in-missing", "bob", "ana", False)]
    assert "Nothing due" in cli.ok("due", "ana", "--as-of", at(10, 13), "--within", "3").stdout


def test_due_shows_what_others_owe_you_in_its_own_section(cli):
    story(cli)
    bobs = due(cli, "bob", "--as-of", at(4))
    assert bobs["owes"] == []
    assert owes(bobs, "owed") == [("thank-you-missing", "ana", "bob", False)]
    text = cli.ok("due", "bob", "--as-of", at(4)).stdout
    assert text.splitlines() == [
        "Owed to you:",
        "  ana owes you thanks for the introduction for ana-acme at Acme, due 5 Nov (in 1 day)",
    ]
    # Carol is owed a follow-up and a check-in; she owes nothing.
    carols = due(cli, "carol", "--as-of", at(16))
    assert owes(carols, "owed") == [
        ("follow-up-overdue", "ana", "carol", True),
        ("referrer-check-in-missing", "bob", "carol", False),
    ]


def test_within_limits_only_what_is_not_yet_overdue(cli):
    story(cli)
    assert owes(due(cli, "ana", "--as-of", at(4), "--within", "1")) == [
        ("thank-you-missing", "ana", "bob", False)  # due in exactly a day: within 1
    ]
    assert due(cli, "ana", "--as-of", at(4), "--within", "0.99") == {"owes": [], "owed": []}
    # On 6 November at noon the thanks are overdue: shown whatever --within says.
    assert owes(due(cli, "ana", "--as-of", at(6, 12), "--within", "0")) == [
        ("thank-you-missing", "ana", "bob", True),
        ("follow-up-overdue", "ana", "carol", True),
    ]
    # Bob's check-ins are due on 17 November: in the window of 14 days, not of 13.
    assert [o["owed_to"] for o in due(cli, "bob", "--as-of", at(3, 11), "--within", "14")["owes"]]
    assert due(cli, "bob", "--as-of", at(3, 11), "--within", "13")["owes"] == []
    cli.refused("due", "ana", "--within", "-1")
    cli.refused("due", "ana", "--within", "soon")


def test_due_json_is_the_alert_fields_and_whether_overdue(cli):
    story(cli)
    found = due(cli, "ana", "--as-of", at(10))
    assert set(found) == {"owes", "owed"}
    alerts = cli.json("alerts", "--json", "--as-of", at(10), "--person", "ana")
    for item, alert in zip(found["owes"], alerts, strict=True):
        assert item["overdue"] is True
        assert {k: v for k, v in item.items() if k != "overdue"} == {
            k: v for k, v in alert.items() if k != "direction"
        }
    thanks = found["owes"][0]
    assert thanks["company"] == "Acme" and thanks["due"] == "2026-11-05T10:00:00Z"
    assert thanks["message"] == (
        "ana has not thanked bob for the introduction (due 2026-11-05T10:00:00Z)"
    )
    coming = due(cli, "ana", "--as-of", at(4))["owes"][0]
    assert coming["overdue"] is False and set(coming) == set(thanks)


def test_a_waived_obligation_is_not_due_from_the_waiver_on(cli):
    story(cli)
    cli.record(
        {
            "type": "obligation-waived",
            "referral": "ana-acme",
            "by": "bob",
            "kind": "thank-you-missing",
            "person": "ana",
            "at": at(4),
        }
    )
    assert owes(due(cli, "ana", "--as-of", at(3, 12))) == [
        ("thank-you-missing", "ana", "bob", False),
        ("follow-up-overdue", "ana", "carol", False),
    ]
    assert owes(due(cli, "ana", "--as-of", at(4))) == [("follow-up-overdue", "ana", "carol", False)]
    assert due(cli, "bob", "--as-of", at(10))["owed"] == []


def test_due_is_refused_for_nobody_and_for_an_unknown_person(cli):
    story(cli)
    assert "whose?" in cli.refused("due").stderr
    assert "unknown person 'zed'" in cli.refused("due", "zed").stderr


def test_alerts_for_a_person_say_what_to_do_with_the_company_beside_the_key(cli):
    story(cli)
    text = cli.ok("alerts", "--person", "ana", "--as-of", at(10)).stdout
    said = "ana-acme at Acme  you owe bob thanks for the introduction for ana-acme at Acme, "
    assert said in text
    assert "due 5 Nov [thank-you-missing]" in text
    # Without --person, the stored messages, as scripts know them.
    plain = cli.ok("alerts", "--as-of", at(10)).stdout
    assert "ana has not thanked bob for the introduction (due 2026-11-05T10:00:00Z)" in plain


# -- me -----------------------------------------------------------------------------------------


def test_me_is_the_default_by_and_the_default_person_of_due(cli, tmp_path, monkeypatch):
    story(cli)
    mine = config(tmp_path, 'me = "ana"\n')
    cli.ok("--config", mine, "thank", "ana-acme", "--to", "bob", "--at", at(4))
    assert cli.export()[-1]["by"] == "ana"
    found = cli.json("--config", mine, "due", "--json", "--as-of", at(4, 12))
    assert owes(found) == [("follow-up-overdue", "ana", "carol", False)]
    monkeypatch.setenv("REFERRAL_LEDGER_ME", "bob")  # the environment wins over the file
    assert cli.json("--config", mine, "due", "--json", "--as-of", at(4, 12))["owes"] == []
    cli.ok("follow-up", "ana-acme", "--to", "carol", "--at", at(5), "--by", "ana")
    assert cli.export()[-1]["by"] == "ana"  # an explicit --by still wins


def test_an_unknown_me_is_refused_when_used_and_nothing_is_stored(cli, tmp_path, monkeypatch):
    story(cli)
    before = cli.export()
    monkeypatch.setenv("REFERRAL_LEDGER_ME", "zed")
    refused = cli.refused("thank", "ana-acme", "--to", "bob")
    assert refused.stderr == (
        "Error: REFERRAL_LEDGER_ME names 'zed', who is not a person in this ledger\n"
    )
    cli.refused("due")
    assert cli.export() == before
    monkeypatch.delenv("REFERRAL_LEDGER_ME")
    assert "Missing option '--by'" in cli.refused("thank", "ana-acme", "--to", "bob").stderr
    bad = config(tmp_path, "me = 3\n")
    assert "`me` must be a person's handle" in cli.refused("--config", bad, "due", "ana").stderr


# -- friendly dates -----------------------------------------------------------------------------


def stored_at(cli: Cli) -> datetime:
    return datetime.fromisoformat(cli.export()[-1]["at"])


def test_at_takes_a_day_at_the_current_time_of_day_and_words(cli):
    cli.ok("person", "add", "ana", "--name", "Ana", "--at", "2026-11-04")
    moment = stored_at(cli)
    now = datetime.now(UTC)
    assert moment.date().isoformat() == "2026-11-04"  # the system's zone here is UTC
    assert abs((moment.hour * 60 + moment.minute) - (now.hour * 60 + now.minute)) <= 1
    cli.ok("person", "add", "bob", "--name", "Bob", "--at", "3 days ago")
    assert abs(stored_at(cli) - (now - timedelta(days=3))) < timedelta(minutes=1)
    cli.ok("person", "add", "carol", "--name", "Carol", "--at", "yesterday")
    assert abs(stored_at(cli) - (now - timedelta(days=1))) < timedelta(minutes=1)
    cli.ok("person", "add", "dan", "--name", "Dan", "--at", "today")
    assert abs(stored_at(cli) - now) < timedelta(minutes=1)
    # A day still to come is now: what git does with a date that has no time.
    later = cli.ok("person", "add", "erin", "--name", "Erin", "--at", "2099-01-01")
    assert abs(stored_at(cli) - now) < timedelta(minutes=1)
    assert "is a day still to come, read as now" in later.stderr  # said, not silent
    assert [e["at"].endswith("Z") for e in cli.export()] == [True] * 5


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("next tuesday", "is not an ISO 8601 timestamp"),
        ("2026-02-30", "is not a real day"),
        ("2026-11-04T09:00:00", "no UTC offset"),
        ("2099-01-01T00:00:00Z", "in the future"),
        ("-3 days ago", "is not an ISO 8601 timestamp"),
    ],
)
def test_bad_dates_are_refused_and_nothing_is_stored(cli, value, says):
    cli.ok("person", "add", "ana", "--name", "Ana", "--at", at(1))
    before = cli.export()
    assert says in cli.refused("person", "add", "bob", "--name", "Bob", "--at", value).stderr
    assert cli.export() == before
    if "future" not in says:
        assert says in cli.refused("alerts", "--as-of", value).stderr


def test_a_day_in_as_of_and_known_at_means_through_its_end(cli):
    story(cli)
    # The thanks fell due on 5 November at 10:00 UTC: overdue in a view through the 5th.
    assert [o["kind"] for o in cli.json("alerts", "--json", "--as-of", "2026-11-05")] == [
        "thank-you-missing"
    ]
    assert cli.json("alerts", "--json", "--as-of", "2026-11-04") == []
    # Ledger time: every event was recorded today; a view known through yesterday has none.
    assert cli.json("alerts", "--json", "--as-of", at(10), "--known-at", "yesterday") == []
    assert cli.json("alerts", "--json", "--as-of", at(10), "--known-at", "today") != []
    assert cli.json("alerts", "--json", "--as-of", "today") == cli.json("alerts", "--json")


def test_days_are_read_in_the_configured_time_zone(cli, tmp_path):
    """The answer is due at 2026-01-10T12:00Z. Kiritimati (UTC+14) has finished 10 January
    by 09:59:59Z, before it fell due; Pago Pago (UTC-11) only at 10:59:59Z on the 11th."""
    cli.ok("person", "add", "ana", "--name", "Ana", "--at", "2026-01-01T00:00:00Z")
    cli.ok("person", "add", "bob", "--name", "Bob", "--at", "2026-01-01T00:00:00Z")
    cli.ok(
        "request", "ana-acme", "--by", "ana", "--referrer", "bob", "--company", "Acme",
        "--at", "2026-01-03T12:00:00Z",
    )  # fmt: skip
    east = config(tmp_path, 'timezone = "Pacific/Kiritimati"\n')
    west = str(tmp_path / "west.toml")
    Path(west).write_text('timezone = "Pacific/Pago_Pago"\n')

    def overdue(*options: str) -> list[str]:
        return [a["kind"] for a in cli.json(*options, "alerts", "--json", "--as-of", "2026-01-10")]

    assert overdue("--config", east) == []
    assert overdue("--config", west) == ["request-unanswered"]
    assert overdue() == ["request-unanswered"]  # UTC: through 23:59:59Z
    # --at with a day: that day in the zone, at the zone's time of day.
    cli.ok("--config", east, "person", "add", "carol", "--name", "Carol", "--at", "2026-11-04")
    local = stored_at(cli).astimezone(ZoneInfo("Pacific/Kiritimati"))
    assert local.date().isoformat() == "2026-11-04"
    assert abs(local.hour - datetime.now(ZoneInfo("Pacific/Kiritimati")).hour) in (0, 1, 23)
    # due's "due 10 Jan" is a day in the zone too: 12:00Z is 11 January in Kiritimati.
    text = cli.ok("--config", east, "due", "bob", "--as-of", "2026-01-05").stdout
    assert "due 11 Jan" in text
    assert "due 10 Jan" in cli.ok("--config", west, "due", "bob", "--as-of", "2026-01-05").stdout
    bad = str(tmp_path / "bad.toml")
    Path(bad).write_text('timezone = "Mars/Olympus"\n')
    assert "IANA time zone" in cli.refused("--config", bad, "alerts").stderr


# -- calendar -----------------------------------------------------------------------------------


def todos(data: bytes) -> list[Any]:
    calendar = icalendar.Calendar.from_ical(data)
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    return list(calendar.walk("VTODO"))


def test_calendar_holds_every_open_obligation_with_stable_uids(cli, tmp_path):
    story(cli)
    first = todos(cli.ok("calendar", "--as-of", at(4)).stdout_bytes)
    # Ana's thanks and follow-up; Bob's two check-ins.
    assert len(first) == 4
    by_summary = {str(t["SUMMARY"]): t for t in first}
    thanks = by_summary["ana owes bob thanks for the introduction for ana-acme at Acme"]
    assert thanks["DUE"].dt == datetime(2026, 11, 5, 10, tzinfo=UTC)
    assert str(thanks["STATUS"]) == "NEEDS-ACTION"
    uids = {str(t["UID"]) for t in first}
    assert len(uids) == 4
    # A new event opens a new obligation; the old ones keep their UIDs.
    cli.ok("schedule", "ana-acme", "--on", at(20), "--by", "carol", "--at", at(4))
    cli.ok("interview", "ana-acme", "--by", "carol", "--at", at(5))
    second = todos(cli.ok("calendar", "--as-of", at(5, 12)).stdout_bytes)
    again = {str(t["UID"]) for t in second}
    assert uids <= again and len(again) > len(uids)
    assert todos(cli.ok("calendar", "--as-of", at(5, 12)).stdout_bytes) == second
    # Met, it leaves the calendar.
    cli.ok("thank", "ana-acme", "--by", "ana", "--to", "bob", "--at", at(5, 13))
    third = {str(t["UID"]) for t in todos(cli.ok("calendar", "--as-of", at(5, 14)).stdout_bytes)}
    assert str(thanks["UID"]) not in third and third < again


def test_calendar_of_one_person_speaks_to_them_and_writes_a_file_whole(cli, tmp_path):
    story(cli)
    out = tmp_path / "ana.ics"
    cli.ok("calendar", "--person", "ana", "--as-of", at(4), "-o", str(out))
    mine = todos(out.read_bytes())
    assert sorted(str(t["SUMMARY"]) for t in mine) == [
        "bob owes you a check-in since the introduction for ana-acme at Acme",
        "you owe bob thanks for the introduction for ana-acme at Acme",
        "you owe carol a follow-up since the introduction for ana-acme at Acme",
    ]
    assert out.read_bytes().count(b"\r\n") == out.read_bytes().count(b"\n")  # CRLF lines
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("ana")] == ["ana.ics"]
    link = tmp_path / "link.ics"
    link.symlink_to(out)
    assert "symbolic link" in cli.refused("calendar", "-o", str(link)).stderr
    if "://" not in cli.db:
        assert "ledger's own file" in cli.refused("calendar", "-o", cli.db).stderr
    assert "unknown person 'zed'" in cli.refused("calendar", "--person", "zed").stderr


def test_calendar_text_is_escaped_and_folded(cli):
    cli.ok("person", "add", "ana", "--name", "Ana", "--at", at(1, 9))
    cli.ok("person", "add", "bob", "--name", "Bob", "--at", at(1, 9))
    company = "Société Générale; Paris, “Défense” " + "é" * 60
    cli.ok(
        "request", "r1", "--by", "ana", "--referrer", "bob", "--company", company, "--at", at(1)
    )
    data = cli.ok("calendar", "--as-of", at(2)).stdout_bytes
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))
    data.decode("utf-8")  # no character cut in two by the folding
    [todo] = todos(data)
    assert str(todo["SUMMARY"]) == (
        f"bob owes ana an answer to their request for an introduction for r1 at {company}"
    )


# -- log ----------------------------------------------------------------------------------------


def test_log_lists_the_newest_first_with_filters(cli):
    story(cli)
    lines = cli.ok("log").stdout.splitlines()
    assert len(lines) == 6
    newest = lines[0].split()
    assert newest[0] == "6" and newest[3] == "introduction-made"
    # who stored it (the login name, here) is not the event's `by`: the line says so
    recorder = cli.export()[-1]["recorded_by"]
    assert recorder != "bob"
    assert lines[0].endswith(f"ana-acme: bob introduced ana to carol (recorded by {recorder})")
    assert [int(line.split()[0]) for line in lines] == [6, 5, 4, 3, 2, 1]
    assert len(cli.ok("log", "--limit", "2").stdout.splitlines()) == 2
    # the export's events, newest first, without the per-person keys only export carries
    exported = [{k: v for k, v in e.items() if k != "keys"} for e in cli.export()]
    assert cli.json("log", "--json") == exported[::-1]
    assert cli.json("log", "--json", "--limit", "1") == [exported[-1]]
    assert [e["seq"] for e in cli.json("log", "--json", "--referral", "ana-acme")] == [6, 5, 4]
    carol = [e["seq"] for e in cli.json("log", "--json", "--person", "carol")]
    assert carol == [6, 5, 4, 3]  # her referral's events, and her own addition
    short = exported[-1]["id"][:8]
    assert newest[1] == short
    assert "unknown person 'zed'" in cli.refused("log", "--person", "zed").stderr
    assert "unknown referral 'nope'" in cli.refused("log", "--referral", "nope").stderr
    cli.refused("log", "--limit", "0")


def test_log_marks_a_retracted_event(cli):
    story(cli)
    introduced = cli.export()[-1]["id"]
    cli.ok("retract", introduced, "--by", "bob", "--reason", "Sent to the wrong Carol")
    lines = cli.ok("log", "--limit", "2").stdout.splitlines()
    assert "event-retracted" in lines[0]
    assert lines[1].endswith("[retracted]")


# -- info, verify -q, no command ----------------------------------------------------------------


def test_info_says_which_ledger_and_that_a_missing_one_does_not_exist_yet(tmp_path, monkeypatch):
    from ledger.testing import isolate

    isolate(monkeypatch, tmp_path)
    missing = tmp_path / "nowhere" / "deeper" / "ledger.db"
    cli = Cli(str(missing))
    found = cli.json("info", "--json")
    assert found["exists"] is False and found["events"] is None
    assert found["ledger"] == str(missing) and found["backend"] == "sqlite"
    assert "alerts" in found["plugins"] and found["me"] is None
    assert "does not exist yet" in cli.ok("info").stdout
    assert not (tmp_path / "nowhere").exists()  # nothing created
    # Without --db: the default ledger in the data directory, not created either.
    plain = cli.runner.invoke(cli.cli, ["info", "--json"])
    assert plain.exit_code == 0 and orjson.loads(plain.stdout)["exists"] is False
    assert not (tmp_path / "data").exists()


def test_info_on_a_ledger(cli, tmp_path, monkeypatch):
    story(cli)
    monkeypatch.setenv("REFERRAL_LEDGER_ME", "ana")
    mine = config(tmp_path, 'timezone = "Asia/Tokyo"\n')
    found = cli.json("--config", mine, "info", "--json")
    assert found["exists"] is True and found["events"] == 6
    assert found["backend"] == ("postgres" if "://" in cli.db else "sqlite")
    assert (found["me"], found["me_known"], found["timezone"]) == ("ana", True, "Asia/Tokyo")
    assert (found["config"], found["config_exists"]) == (mine, True)
    text = cli.ok("--config", mine, "info").stdout
    assert "6 events" in text and "Me:       ana" in text


def test_verify_quiet_prints_nothing_when_all_is_well(cli):
    story(cli)
    quiet = cli.ok("verify", "-q")
    assert quiet.stdout == "" and quiet.stderr == ""
    assert cli.ok("verify").stdout.startswith("Chain ok")


def test_verify_quiet_still_reports_an_altered_ledger(sqlite_db):
    cli = story(Cli(sqlite_db))
    with sqlite3.connect(sqlite_db) as conn:
        conn.execute("UPDATE rl_log SET hash = ? WHERE seq = 3", ("0" * 64,))
    conn.close()
    result = cli("verify", "-q")
    assert result.exit_code == 1
    assert "Chain BROKEN" in result.stdout


def test_no_command_prints_the_help_and_exits_0(cli):
    result = cli.runner.invoke(cli.cli, [])
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage:") and "due" in result.stdout
    assert os.environ.get("REFERRAL_LEDGER_ME") is None  # isolated from the user's identity


def test_the_new_commands_help_ends_with_an_example(cli):
    for name in ("due", "calendar", "log", "info", "verify"):
        text = cli.ok(name, "--help").stdout
        assert "Example:" in text and "referral-ledger " + name in text.split("Example:")[1]
