"""The example third-party plugin, examples/coffee-chat, works with the ledger like a built-in.

Most tests load it in-process (fast); one installs it into a fresh virtual environment and runs
its own tests there, as CI does, and checks that disabling it by name works.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import venvs

import ledger.plugins
from ledger.cli import cli as root
from ledger.plugins import Plugins

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "coffee-chat"
AT = "2026-10-0{}T{}:00:00Z"


@pytest.fixture
def coffee(monkeypatch):
    """The coffee-chat plugin loaded beside the built-ins, as if installed."""
    # Imported from its file, not by putting the folder on sys.path: an editable install there
    # leaves an .egg-info that would make it an installed plugin for the whole session.
    package = EXAMPLE / "referral_ledger_coffee_chat"
    spec = importlib.util.spec_from_file_location(
        "referral_ledger_coffee_chat",
        package / "__init__.py",
        submodule_search_locations=[str(package)],
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    plugins = Plugins(extra={"coffee-chat": module})
    monkeypatch.setattr(ledger.plugins, "_default", plugins)
    module.register_commands(cli=root)
    yield module
    root.commands.pop("coffee-chats", None)


def story(cli):
    for handle in ("ana", "carol", "bob"):
        cli.record(
            {
                "type": "person-added",
                "handle": handle,
                "name": handle.title(),
                "company": "Acme",
                "at": AT.format(1, "09"),
            }
        )
    chat = cli.record(
        {
            "type": "coffee-chat",
            "by": "ana",
            "with": "carol",
            "note": "platform team",
            "at": AT.format(2, "15"),
        }
    )
    request = cli.record(
        {
            "type": "referral-requested",
            "referral": "ana-acme",
            "by": "ana",
            "referrer": "carol",
            "company": "Acme",
            "at": AT.format(2, "18"),
        }
    )
    return chat, request


def test_its_event_type_round_trips_through_export_import_and_verify(coffee, cli, tmp_path):
    story(cli)
    cli.record(
        {
            "type": "coffee-chat",
            "by": "carol",
            "with": "bob",
            "referral": "ana-acme",
            "at": AT.format(3, "10"),
        }
    )
    exported = cli.ok("export").stdout
    assert '"type":"coffee-chat"' in exported
    path = tmp_path / "copy.jsonl"
    path.write_text(exported)
    from conftest import Cli

    copy = Cli(str(tmp_path / "copy.db"))
    assert copy.json("import", str(path), "--json")["restored"] is True
    assert copy.ok("export").stdout == exported
    assert copy.json("verify", "--json")["ok"] is True
    if "audit" in root.commands:  # `audit` comes from another piece of work
        audit = cli.json("audit", "ana-acme", "--json")
        assert [e["type"] for e in audit["events"]] == ["referral-requested", "coffee-chat"]


def test_its_alert_and_flag_appear_with_the_built_in_ones(coffee, cli):
    chat, request = story(cli)
    # Introduced unprepared: the built-in flags judge a request at its first introduction.
    cli.record(
        {
            "type": "introduction-made",
            "referral": "ana-acme",
            "by": "carol",
            "to": "bob",
            "at": AT.format(3, "09"),
        }
    )
    alerts = cli.json("alerts", "--json", "--as-of", "2026-10-20T00:00:00Z")
    kinds = {a["kind"] for a in alerts}
    assert {"coffee-chat-thanks-missing", "request-unanswered"} <= kinds
    flags = cli.json("flags", "--json")
    mine = [f for f in flags if f["kind"] == "coffee-chat-then-ask"]
    assert mine and mine[0]["evidence"] == [chat["id"], request["id"]]
    assert {f["kind"] for f in flags} - {"coffee-chat-then-ask"}, "built-in flags are listed too"


def test_its_validate_event_vetoes_and_its_command_works(coffee, cli):
    story(cli)
    refused = cli.refused("record", json.dumps({"type": "coffee-chat", "by": "bob", "with": "bob"}))
    assert "refused by plugin 'coffee-chat'" in refused.stderr
    chats = cli.json("coffee-chats", "--json")
    assert [(c["by"], c["with"]) for c in chats] == [("ana", "carol")]
    listed = {p["name"]: p for p in cli.json("plugins", "--json")}
    assert listed["coffee-chat"]["builtin"] is False
    assert listed["alerts"]["builtin"] is True


def test_a_ledger_read_without_the_plugin_names_it_and_still_verifies(coffee, cli, monkeypatch):
    story(cli)
    monkeypatch.setattr(ledger.plugins, "_default", Plugins())  # uninstalled
    commands = [["export"], ["alerts", "--json"], ["flags", "--json"], ["audit", "ana-acme"]]
    for command in [c for c in commands if c[0] in root.commands]:
        refused = cli.refused(*command)
        assert "'coffee-chat'" in refused.stderr and "plugin" in refused.stderr, command
        assert "not installed" in refused.stderr
    assert cli.json("verify", "--json")["ok"] is True


def test_in_a_fresh_venv_it_installs_passes_its_tests_and_can_be_disabled(tmp_path_factory):
    venv = venvs.fresh(tmp_path_factory)
    venv.pip_install("-e", str(EXAMPLE))
    own = venv.run([venv.python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], EXAMPLE)
    assert " passed" in own.stdout and "failed" not in own.stdout

    work = tmp_path_factory.mktemp("coffee")
    listed = json.loads(venv.run("referral-ledger plugins --json", work).stdout)
    mine = next(p for p in listed if p["name"] == "coffee-chat")
    assert (mine["builtin"], mine["enabled"], mine["distribution"]) == (
        False,
        True,
        "referral-ledger-coffee-chat",
    )
    db = str(work / "ledger.db")
    for event in (
        {"type": "person-added", "handle": "ana", "name": "Ana"},
        {"type": "person-added", "handle": "carol", "name": "Carol"},
        {"type": "coffee-chat", "by": "ana", "with": "carol"},
    ):
        venv.run(["referral-ledger", "--db", db, "record", json.dumps(event)], work)

    off = {"REFERRAL_LEDGER_DISABLE_PLUGINS": "coffee-chat"}
    listed = json.loads(venv.run("referral-ledger plugins --json", work, **off).stdout)
    mine = next(p for p in listed if p["name"] == "coffee-chat")
    assert (mine["enabled"], mine["hooks"]) == (False, [])
    imported = venv.run(
        [
            venv.python,
            "-c",
            (
                "import sys; from ledger.plugins import get_plugins; get_plugins(); "
                "print('referral_ledger_coffee_chat' in sys.modules)"
            ),
        ],
        work,
        **off,
    )
    assert imported.stdout.strip() == "False"
    export = venv.run(["referral-ledger", "--db", db, "export"], work, check=False, **off)
    assert export.returncode == 2
    assert export.stderr.startswith("Error: ")
    assert "'coffee-chat'" in export.stderr and "disabled" in export.stderr
    assert "referral-ledger-coffee-chat" in export.stderr
    verify = venv.run(["referral-ledger", "--db", db, "verify", "--json"], work, **off)
    assert json.loads(verify.stdout)["ok"] is True
    commands = venv.run(["referral-ledger", "--help"], work, **off).stdout
    assert "coffee-chats" not in commands
    assert "coffee-chats" in venv.run(["referral-ledger", "--help"], work).stdout
