"""Stories of correcting mistakes and managing people (CONTRACT.md, Release 0.2: `person-updated`,
`person list/show/edit`, `amend`, `waive`, `retract` by prefix, `seq:N` and `last`), through the
friendly commands on each backend."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli

import ledger.plugins
from ledger import Projection, hookimpl
from ledger.api import View, micros, timestamp
from ledger.plugins import Plugins


def at(day: int, hour: int = 9) -> str:
    return f"2026-10-{day:02d}T{hour:02d}:00:00Z"



def refused(cli: Cli, *args: str, says: str) -> str:
    """The command is refused (exit 2, one `Error:` line) naming `says`, and nothing is stored."""
    before = cli.stored()
    result = cli.refused(*args)
    assert says in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert cli.stored() == before
    return result.stderr


def add(cli: Cli, handle: str, name: str, *more: str, day: int | None = 1) -> dict[str, Any]:
    when = ("--at", at(day)) if day is not None else ()
    return cli.json("person", "add", handle, "--name", name, *more, *when, "--json")


# -- the job seeker's first week --------------------------------------------------------------


def test_a_job_seekers_first_week_of_mistakes_each_corrected(cli: Cli, tmp_path: Path) -> None:
    # Ana adds herself with a typo, and the two people at Acme she knows.
    add(cli, "ana", "Anna Ruiz", day=None)
    add(cli, "carol", "Carol Chen", "--company", "Acme", day=None)
    add(cli, "bob", "Bob Okafor", "--company", "Acme", day=None)

    # A request recorded without --at, to the wrong referrer: retracted, and asked again under
    # the same key.
    first = cli.json(
        "request", "ana-acme", "--by", "ana", "--referrer", "carol", "--company", "Acme", "--json"
    )
    undone = cli.json(
        "retract", first["id"], "--by", "ana", "--reason", "wrong referrer", "--json"
    )
    assert undone["retracts"] == first["id"] and undone["referral"] == "ana-acme"
    again = cli.json(
        "request", "ana-acme", "--by", "ana", "--referrer", "bob", "--company", "Acme", "--json"
    )
    assert again["referral"] == "ana-acme" and again["id"] != first["id"]
    assert cli.json("show", "ana-acme", "--json")["referrer"] == "bob"

    # The misspelt name, fixed: shown everywhere after, the old one nowhere as current.
    fixed = cli.json("person", "edit", "ana", "--name", "Ana Ruiz", "--json")
    assert fixed["type"] == "person-updated" and fixed["name"] == "Ana Ruiz"
    shown = cli.json("person", "show", "ana", "--json")
    assert shown["person"]["name"] == "Ana Ruiz"
    assert shown["referrals"] == {"requester": ["ana-acme"], "referrer": [], "target": []}
    listed = {p["handle"]: p for p in cli.json("person", "list", "--json")}
    assert listed["ana"]["name"] == "Ana Ruiz" and listed["bob"]["company"] == "Acme"
    table = cli.ok("person", "list").stdout
    assert "Ana Ruiz" in table and "Anna Ruiz" not in table
    text = cli.ok("person", "show", "ana").stdout
    assert "Ana Ruiz" in text and "Anna Ruiz" not in text
    cli.ok("audit", "ana-acme", "--html", str(tmp_path / "audit.html"))
    html = (tmp_path / "audit.html").read_text(encoding="utf-8")
    assert "Ana Ruiz" in html and "Anna Ruiz" not in html

    # A declaration typed wrong, undone with `retract last`.
    wrong = cli.json("connect", "ana", "carol", "--kind", "family", "--json")
    last = cli.json("retract", "last", "--by", "ana", "--reason", "not family", "--json")
    assert last["retracts"] == wrong["id"] and "referral" not in last
    # The newest live event is now the name fix again (a retraction is never `last`).
    assert cli.json("retract", "last", "--by", "ana", "--reason", "x", "--json")["retracts"] == (
        fixed["id"]
    )
    assert cli.json("person", "show", "ana", "--json")["person"]["name"] == "Anna Ruiz"

    # By a short id: the first 8 characters of a random id are enough.
    edit = cli.json("person", "edit", "ana", "--name", "Ana Ruiz", "--json")
    short = cli.json("retract", edit["id"][:8], "--by", "ana", "--reason", "x", "--json")
    assert short["retracts"] == edit["id"]
    # and by its place in the ledger
    ask = cli.json("amend", "ana-acme", "--by", "ana", "--goal", "Data platform", "--json")
    by_seq = cli.json("retract", f"seq:{ask['seq']}", "--by", "ana", "--reason", "x", "--json")
    assert by_seq["retracts"] == ask["id"] and by_seq["referral"] == "ana-acme"

    # What is coming due, before and after acting. Bob accepts: he owes the introduction.
    cli.ok("vet", "ana-acme", "--by", "bob", "--decision", "accept", "--knows-work")
    owes = cli.json("due", "bob", "--json")["owes"]
    assert [(o["kind"], o["owed_to"], o["overdue"]) for o in owes] == [
        ("introduction-pending", "ana", False)
    ]
    assert "you owe ana the promised introduction for ana-acme at Acme, due" in (
        cli.ok("due", "bob").stdout
    )
    cli.ok("introduce", "ana-acme", "--by", "bob", "--to", "carol")
    assert cli.json("due", "bob", "--json")["owes"] == []
    ana = cli.json("due", "ana", "--json")
    assert {(o["kind"], o["owed_to"]) for o in ana["owes"]} == {
        ("thank-you-missing", "bob"),
        ("follow-up-overdue", "carol"),
    }
    # The calendar holds the same, parsed by a real iCalendar reader, with UIDs that stay put.
    icalendar = pytest.importorskip("icalendar", reason="icalendar is in the test extra")

    def todos() -> dict[str, str]:
        out = tmp_path / "ana.ics"
        cli.ok("calendar", "--person", "ana", "-o", str(out))
        parsed = icalendar.Calendar.from_ical(out.read_bytes())
        return {str(t["UID"]): str(t["SUMMARY"]) for t in parsed.walk("VTODO")}

    first_run = todos()
    coming = cli.json("due", "ana", "--within", "60", "--json")  # all that is open, here
    assert len(coming["owed"]) == 1 and len(ana["owed"]) == 0  # Bob's check-in: in 14 days
    assert len(first_run) == len(coming["owes"]) + len(coming["owed"]) == 3
    cli.ok("thank", "ana-acme", "--by", "ana", "--to", "bob")
    second_run = todos()
    assert set(second_run) < set(first_run)  # the thanks are done; the rest keep their UIDs
    cli.ok("follow-up", "ana-acme", "--by", "ana", "--to", "carol")
    assert cli.json("due", "ana", "--json")["owes"] == []
    assert "ana owes nothing" in cli.ok("due", "ana").stdout


def test_a_name_changes_from_the_updates_at_on(cli: Cli) -> None:
    add(cli, "ana", "Anna Ruiz", "--email", "anna@example.com", "--title", "Analyst")
    cli.ok("person", "edit", "ana", "--name", "Ana Ruiz", "--title", "Data Engineer",
           "--at", at(5))  # fmt: skip
    before = cli.json("person", "show", "ana", "--as-of", at(4), "--json")["person"]
    after = cli.json("person", "show", "ana", "--as-of", at(6), "--json")["person"]
    assert (before["name"], before["title"]) == ("Anna Ruiz", "Analyst")
    assert (after["name"], after["title"], after["email"]) == (
        "Ana Ruiz",
        "Data Engineer",
        "anna@example.com",  # a field not given keeps its value
    )
    update = next(e for e in cli.export() if e["type"] == "person-updated")
    assert "by" not in update and "company" not in update  # only what was given
    assert cli.json("verify", "--json")["ok"] is True


def test_an_update_is_sealed_erased_by_forget_and_survives_export_and_import(
    cli: Cli, empty: Cli
) -> None:
    add(cli, "ana", "Anna Ruiz")
    add(cli, "bob", "Bob Okafor")
    cli.ok("person", "edit", "ana", "--name", "Ana Ruiz", "--email", "ana@example.com",
           "--company", "Acme", "--by", "bob", "--at", at(2))  # fmt: skip
    exported = cli.ok("export").stdout_bytes
    empty.ok("import", "-", input=exported)
    assert empty.ok("export").stdout_bytes == exported
    assert empty.json("person", "show", "ana", "--json")["person"]["name"] == "Ana Ruiz"
    assert cli.json("replay", "--json")["ok"] is True

    cli.ok("forget", "ana", "--yes")
    update = next(e for e in cli.export() if e["type"] == "person-updated")
    assert set(update["name"]) == {"forgotten"} and set(update["email"]) == {"forgotten"}
    assert update["company"] == "Acme"  # a company is not erased (docs/privacy.md)
    assert b"Ana Ruiz" not in cli.ok("export").stdout_bytes
    gone = cli.json("person", "show", "ana", "--json")["person"]
    assert gone["forgotten"] is True and gone["name"] is None and gone["email"] is None
    assert cli.json("verify", "--json")["ok"] is True
    refused(cli, "person", "edit", "ana", "--company", "Globex", says="forgotten")


def test_a_company_update_moves_someone_into_the_company_for_the_flags(cli: Cli) -> None:
    add(cli, "ana", "Ana")
    add(cli, "carol", "Carol", "--company", "Acme")
    add(cli, "dave", "Dave", "--company", "Initech")
    cli.ok("connect", "ana", "dave", "--kind", "friend", "--since", "2019-01-01", "--at", at(1))
    cli.ok("request", "r1", "--by", "ana", "--referrer", "carol", "--company", "Acme",
           "--posting-at", "2026-10-10", "--at", at(12))  # fmt: skip

    def flagged(day: int) -> bool:
        found = cli.json("flags", "--json", "--as-of", at(day))
        return any(f["kind"] == "last-minute-networking" for f in found)

    assert flagged(13)  # ana's only friend works at Initech
    cli.ok("person", "edit", "dave", "--company", "acme", "--at", at(14))
    assert flagged(13) and not flagged(15)  # from the update's `at` on, dave is at Acme
    assert cli.json("replay", "--json")["ok"] is True


# -- waivers ----------------------------------------------------------------------------------


def _introduced(cli: Cli) -> None:
    """Carol introduces Ana to Bob on 3 October: Ana owes Carol thanks by 5 October."""
    add(cli, "ana", "Ana")
    add(cli, "carol", "Carol", "--company", "Acme")
    add(cli, "bob", "Bob", "--company", "Acme")
    cli.ok("request", "r1", "--by", "ana", "--referrer", "carol", "--company", "Acme",
           "--at", at(1))  # fmt: skip
    cli.ok("vet", "r1", "--decision", "accept", "--knows-work", "--at", at(2))
    cli.ok("introduce", "r1", "--to", "bob", "--at", at(3))


def _thanks_owed(cli: Cli, day: int) -> bool:
    return any(
        a["kind"] == "thank-you-missing" and a["person"] == "ana"
        for a in cli.json("alerts", "--json", "--as-of", at(day))
    )


def test_a_waived_obligation_is_gone_from_the_waivers_at_on_and_shown_before(cli: Cli) -> None:
    _introduced(cli)
    assert _thanks_owed(cli, 6)
    owes = cli.json("person", "show", "ana", "--json", "--as-of", at(6))["owes"]
    assert any(o["kind"] == "thank-you-missing" and o["overdue"] for o in owes)
    waiver = cli.json("waive", "r1", "--kind", "thank-you-missing", "--person", "ana",
                      "--by", "carol", "--note", "no need", "--at", at(7), "--json")  # fmt: skip
    assert waiver["type"] == "obligation-waived" and waiver["by"] == "carol"
    assert _thanks_owed(cli, 6)  # before the waiver's `at`: still overdue
    assert not _thanks_owed(cli, 8)
    owes = cli.json("person", "show", "ana", "--json", "--as-of", at(8))["owes"]
    assert not any(o["kind"] == "thank-you-missing" for o in owes)
    owed = cli.json("person", "show", "carol", "--json", "--as-of", at(6))["owed"]
    assert any(o["kind"] == "thank-you-missing" and o["person"] == "ana" for o in owed)


class BobsDebriefs(Projection):
    """Another plugin's alert kind: Bob owes Carol a debrief a day after every introduction."""

    name = "bobs-debriefs"
    version = "1"
    category = "alert"

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        return [event["id"]] if event["type"] == "introduction-made" else []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        event = view.event(part)
        assert event is not None
        due = timestamp(micros(event["at"]) + 86_400_000_000)
        return [
            {
                "kind": "debrief-missing",
                "referral": event["referral"],
                "person": event["to"],
                "owed_to": event["by"],
                "due": due,
                "message": "debrief owed",
                "start": due,
            }
        ]


class Debriefing:
    @hookimpl
    def register_projections(self) -> list[Projection]:
        return [BobsDebriefs()]


def test_a_waiver_of_a_kind_the_alerts_do_not_own_is_refused_as_unknown(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger.plugins, "_default", Plugins(extra={"debriefing": Debriefing()}))
    _introduced(cli)
    alerts = cli.json("alerts", "--json", "--as-of", at(6))
    assert any(a["kind"] == "debrief-missing" and a["person"] == "bob" for a in alerts)
    only = "unknown alert kind 'debrief-missing': only the alerts plugin's"
    refused(cli, "waive", "r1", "--kind", "debrief-missing", "--person", "bob", "--by", "carol",
            "--at", at(6), says=only)  # fmt: skip
    for kind in ("weak-tie", "thank-you"):
        stderr = refused(cli, "waive", "r1", "--kind", kind, "--person", "ana", "--by", "carol",
                         "--at", at(7), says=f"unknown alert kind {kind!r}")  # fmt: skip
        assert "thank-you-missing" in stderr  # it lists the kinds it knows
    refused(cli, "waive", "r1", "--kind", "thank-you-missing", "--person", "ana", "--by", "bob",
            "--at", at(7), says="no open thank-you-missing")  # fmt: skip
    refused(cli, "waive", "r1", "--kind", "thank-you-missing", "--person", "ana",
            "--at", at(7), says="--by")  # fmt: skip


# -- amend ------------------------------------------------------------------------------------


def test_amend_takes_the_preparation_options_of_request(cli: Cli) -> None:
    _introduced(cli)
    amended = cli.json("amend", "r1", "--by", "ana", "--question", "What is the team like?",
                       "--no-researched-person", "--role", "Data Engineer", "--posting-at",
                       "2026-09-30", "--relationship", "friend", "--at", at(4),
                       "--json")  # fmt: skip
    assert amended["preparation"] == {
        "questions": ["What is the team like?"],
        "researched_person": False,
    }
    assert (amended["role"], amended["posting_at"], amended["relationship"]) == (
        "Data Engineer",
        "2026-09-30",
        "friend",
    )
    assert cli.json("show", "r1", "--json")["role"] == "Data Engineer"


def test_amend_refusals(cli: Cli) -> None:
    _introduced(cli)
    refused(cli, "amend", "r1", "--by", "ana", says="at least one of")
    refused(cli, "amend", "r1", "--goal", "x", says="--by")  # no `me` configured
    refused(cli, "amend", "r1", "--by", "carol", "--goal", "x", says="by the requester")
    refused(cli, "amend", "r1", "--by", "ana", "--target", "carol", says="target")
    refused(cli, "amend", "nope", "--by", "ana", "--goal", "x", says="unknown referral")


# -- refusals ---------------------------------------------------------------------------------


def test_person_edit_refusals(cli: Cli) -> None:
    add(cli, "ana", "Ana")
    refused(cli, "person", "edit", "ana", says="give at least one of")
    refused(cli, "person", "edit", "zed", "--name", "Zed", says="unknown person 'zed'")
    refused(cli, "person", "edit", "ana", "--name", "x\u202ey", says="name")
    refused(cli, "person", "edit", "ana", "--email", "not-an-email", says="email")
    refused(cli, "person", "edit", "ana", "--name", "A", "--by", "zed", says="unknown person")
    refused(cli, "person", "edit", "ana", "--name", "A", "--at", "2026-09-01T00:00:00Z",
            says="earlier than 'ana' was added")  # fmt: skip
    refused(cli, "person", "show", "zed", says="unknown person 'zed'")
    refused(
        cli,
        "record",
        orjson.dumps({"type": "person-updated", "handle": "ana", "at": at(2)}).decode(),
        says="person-updated needs at least one of: name, email, company, title",
    )


def test_retract_refuses_what_names_no_one_event(cli: Cli) -> None:
    add(cli, "ana", "Ana")
    add(cli, "bob", "Bob")
    cli.ok("connect", "ana", "bob", "--kind", "friend", "--id", "decl-0001-a", "--at", at(2))
    cli.ok("connect", "bob", "ana", "--kind", "friend", "--id", "decl-0002-b", "--at", at(2))
    why = "--by", "ana", "--reason", "x"
    refused(cli, "retract", "decl-000", *why, says="'decl-000' is ambiguous")
    refused(cli, "retract", "decl", *why, says="at least 8 characters")
    refused(cli, "retract", "zzzzzzzzzz", *why, says="no stored event has an id starting")
    refused(cli, "retract", "seq:99", *why, says="no stored event has seq 99")
    refused(cli, "retract", "seq:-1", *why, says="seq:N")
    refused(cli, "retract", "last", "--reason", "x", says="--by")
    # A unique prefix of a chosen id works, as does the whole id.
    assert cli.json("retract", "decl-0002", *why, "--json")["retracts"] == "decl-0002-b"


def test_retract_last_on_a_ledger_with_nothing_live(cli: Cli) -> None:
    add(cli, "ana", "Ana")
    cli.ok("retract", "last", "--by", "ana", "--reason", "typo")  # her own person-added
    refused(cli, "retract", "last", "--by", "ana", "--reason", "x", says="no live event")
    add(cli, "ana", "Ana Ruiz")  # the handle is free again
    assert cli.json("person", "show", "ana", "--json")["person"]["name"] == "Ana Ruiz"
