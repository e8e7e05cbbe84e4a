"""The demo and its stories: the ~60-event tale of five referrals, imported, exported, replayed.

examples/stories/full.jsonl is the story other tests use as "every event type of the contract";
examples/stories/demo.jsonl is the same tale without the erasure, and a copy of what `demo`
ships inside the package.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import click
import orjson
from click.testing import CliRunner
from conftest import Cli
from ledger_commands.demo import demo

from ledger.cli import LedgerGroup, State
from ledger.events import CORE_TYPES

ROOT = Path(__file__).parent.parent
STORIES = ROOT / "examples" / "stories"
PACKAGED = ROOT / "plugins" / "ledger_commands" / "stories" / "demo.jsonl"
FULL = STORIES / "full.jsonl"


def story(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]



# -- the stories themselves --------------------------------------------------------------------


def test_the_packaged_story_is_the_example():
    assert PACKAGED.read_bytes() == (STORIES / "demo.jsonl").read_bytes()


def test_the_full_story_covers_every_event_type():
    events = story(FULL)
    assert {e["type"] for e in events} == set(CORE_TYPES)
    assert 45 <= len(events) <= 70
    ids = [e["id"] for e in events]
    assert len(set(ids)) == len(ids)
    assert all(re.match(r"^2026-(09|10)-\d\dT", e["at"]) for e in events)


def test_the_full_story_is_the_demo_and_then_an_erasure():
    demo, full = story(STORIES / "demo.jsonl"), story(FULL)
    assert full[: len(demo)] == demo
    assert [e["type"] for e in full[len(demo) :]] == ["person-forgotten"]


# -- import, export, round trip ----------------------------------------------------------------


def test_the_full_story_imports_and_exports_in_order(cli):
    given = story(FULL)
    summary = cli.json("import", str(FULL), "--json")
    assert summary["stored"] == len(given) and summary["unchanged"] == 0
    exported = cli.export()
    assert [e["seq"] for e in exported] == list(range(1, len(given) + 1))
    assert [e["id"] for e in exported] == [e["id"] for e in given]
    for event in exported:
        assert re.fullmatch(r"[0-9a-f]{64}", event["hash"])
        assert event["recorded_at"].endswith("Z")
    assert len({e["hash"] for e in exported}) == len(exported)
    # What the forgotten person wrote is gone; what others wrote about them stays.
    forgotten = {e["id"]: e for e in exported}
    assert "forgotten" in forgotten["person:jules"]["name"]
    assert forgotten["ivan-umbrella:forwarded"]["to"] == "leo"


def test_importing_the_story_again_changes_nothing(cli):
    cli.ok("import", str(FULL))
    before = cli.ok("export").stdout
    summary = cli.json("import", str(FULL), "--json")
    assert summary["stored"] == 0 and summary["unchanged"] == len(story(FULL))
    assert cli.ok("export").stdout == before


def test_export_then_import_into_an_empty_ledger_gives_the_same_events(cli, empty, tmp_path):
    cli.ok("import", str(FULL))
    exported = tmp_path / "export.jsonl"
    cli.ok("export", "-o", str(exported))
    summary = empty.json("import", str(exported), "--json")
    assert summary["restored"] is True
    assert empty.ok("export").stdout.encode() == exported.read_bytes()


# -- the demo ----------------------------------------------------------------------------------

STAGES = {
    "ana-acme": ("closed", "outcome"),
    "dan-globex": ("introduced", "introduced"),
    "gina-initech": ("closed", "declined"),
    "ivan-umbrella": ("outcome", "outcome"),
    "maya-hooli": ("needs-preparation", "needs-preparation"),
}


def registered(cli: Cli, name: str) -> bool:
    return name in cli.cli.commands


def test_the_demo_runs_twice(sqlite_cli, tmp_path):
    demo_file = tmp_path / "demo.db"
    for _ in range(2):
        shown = sqlite_cli.json("demo", "--db-file", str(demo_file), "--json")
        assert shown["db"] == str(demo_file)
        assert (shown["stored"], shown["unchanged"]) == (len(story(PACKAGED)), 0)
        assert {s["referral"]: (s["stage"], s["reached"]) for s in shown["referrals"]} == STAGES
    # The demo is a ledger of its own, not the one --db names: that one is not even created.
    assert "no ledger at" in sqlite_cli.refused("export").stderr
    assert not os.path.exists(sqlite_cli.db)
    listed = Cli(str(demo_file)).json("list", "--json")
    assert [s["referral"] for s in listed] == list(STAGES)


def test_the_demo_tells_its_tale(sqlite_cli, tmp_path):
    shown = sqlite_cli.json("demo", "--db-file", str(tmp_path / "demo.db"), "--json")
    assert shown["as_of"] == "2026-10-20T00:00:00Z"
    for name in ("alerts", "flags", "reputation"):
        assert (shown[name] is not None) == registered(sqlite_cli, name), name
    if shown["alerts"] is not None:
        alerts = {(a["kind"], a["referral"], a["person"]) for a in shown["alerts"]}
        assert ("follow-up-overdue", "dan-globex", "dan") in alerts
        # A kind new in 0.2: omar asked maya for preparation, and she has not added it.
        assert ("preparation-missing", "maya-hooli", "maya") in alerts
        # The referral done right, and the request declined politely, owe nobody anything.
        assert not any(a["referral"] in ("ana-acme", "gina-initech") for a in shown["alerts"])
    if shown["flags"] is not None:
        flags = {(f["kind"], f["referral"], f["person"]) for f in shown["flags"]}
        assert {
            ("stranger-forward", "ivan-umbrella", "jules"),
            ("misrepresented-relationship", "maya-hooli", "maya"),
            ("referrer-does-not-know-work", "dan-globex", "erin"),
            ("slow-follow-up", "dan-globex", "dan"),
        } <= flags
        assert not any(f["referral"] in ("ana-acme", "gina-initech") for f in shown["flags"])
        # Maya's request says `worked-together`: her declared `friend` is no longer her current
        # account, so it is not compared (0.2); nor is a request never introduced unprepared.
        assert ("misrepresented-relationship", None, "maya") not in flags
        assert ("unprepared-request", "maya-hooli", "maya") not in flags
    if shown["reputation"] is not None:
        assert {r["person"] for r in shown["reputation"]} >= {"ana", "carol", "bob", "dan"}


def test_the_demo_text(sqlite_cli, tmp_path):
    out = sqlite_cli.ok("demo", "--db-file", str(tmp_path / "demo.db")).stdout
    assert "63 event(s) recorded" in out
    assert "Referrals:" in out
    assert re.search(
        r"^maya-hooli +needs-preparation +Hooli +maya \(Maya Singh\) +omar \(Omar Haddad\)",
        out,
        re.MULTILINE,
    )
    for name in ("alerts", "flags", "reputation"):
        assert (f"{name.capitalize()} as of 2026-10-20T00:00:00Z:" in out) == registered(
            sqlite_cli, name
        )


def test_the_demo_defaults_to_a_file_in_the_current_directory(sqlite_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sqlite_cli.ok("demo")
    sqlite_cli.ok("demo")
    assert (tmp_path / "referral-ledger-demo.db").exists()
    assert len(Cli(str(tmp_path / "referral-ledger-demo.db")).export()) == 63


def test_the_demo_never_replaces_a_file_that_is_not_a_demo(sqlite_cli, tmp_path):
    notes = tmp_path / "notes.db"
    notes.write_text("my notes\n")
    assert "is not a demo ledger" in sqlite_cli.refused("demo", "--db-file", str(notes)).stderr
    assert notes.read_text() == "my notes\n"

    sqlite_cli.ok("person", "add", "me", "--name", "Me")
    mine = Path(sqlite_cli.db)
    assert "is not a demo ledger" in sqlite_cli.refused("demo", "--db-file", str(mine)).stderr
    assert [e["handle"] for e in sqlite_cli.export()] == ["me"]


def test_the_demo_into_a_ledger_named_by_db(cli):
    shown = cli.json("demo", "--into-ledger", "--json")
    assert shown["stored"] == 63
    again = cli.json("demo", "--into-ledger", "--json")
    assert (again["stored"], again["unchanged"]) == (0, 63)
    assert len(cli.export()) == 63


def test_the_demo_never_writes_the_default_ledger(sqlite_cli):
    result = CliRunner().invoke(sqlite_cli.cli, ["demo", "--into-ledger"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --into-ledger needs --db")
    refused = CliRunner().invoke(
        sqlite_cli.cli, ["--db", sqlite_cli.db, "demo", "--into-ledger", "--db-file", "x.db"]
    )
    assert refused.exit_code == 2


def bare_cli() -> click.Group:
    """A root group with only the demo: as before the judgement plugins existed."""

    @click.group(cls=LedgerGroup)
    @click.pass_context
    def bare(ctx: click.Context) -> None:
        ctx.obj = State(None, None, False)

    bare.add_command(demo)
    return bare


def test_the_demo_works_without_the_judgement_plugins(tmp_path):
    """Before the alerts, flags and reputation plugins exist, the demo shows the referrals."""
    from ledger_commands.demo import demo

    from ledger.cli import LedgerGroup, State

    @click.group(cls=LedgerGroup)
    @click.pass_context
    def bare(ctx: click.Context) -> None:
        ctx.obj = State(None, None, False)

    bare.add_command(demo)
    result = CliRunner().invoke(bare, ["demo", "--db-file", str(tmp_path / "d.db"), "--json"])
    assert result.exit_code == 0, result.output
    shown = orjson.loads(result.stdout)
    assert (shown["alerts"], shown["flags"], shown["reputation"]) == (None, None, None)
    assert len(shown["referrals"]) == 5


def test_a_failing_judgement_does_not_stop_the_demo(tmp_path):
    bare = bare_cli()

    @bare.command()
    @click.option("--json", "as_json", is_flag=True)
    def flags(as_json: bool) -> None:
        raise RuntimeError("flag store unreadable")

    result = CliRunner().invoke(bare, ["demo", "--db-file", str(tmp_path / "d.db"), "--json"])
    assert result.exit_code == 0, result.output
    assert "Warning: `flags` failed: RuntimeError: flag store unreadable" in result.stderr
    assert orjson.loads(result.stdout)["flags"] is None
