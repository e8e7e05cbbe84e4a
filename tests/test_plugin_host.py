"""The plugin host, as the contract's plugin table says: veto, see after commit, add commands,
misspelt hooks rejected, plugins switched off by name, read-only events."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import click
import orjson
import pytest
from conftest import Cli

import ledger.plugins as plugins_module
from ledger import cli as cli_module
from ledger import hookimpl
from ledger.app import Ledger
from ledger.plugins import Plugins

ROOT = Path(__file__).parent.parent
BASE = Path(__file__).parent / "fixtures" / "base.jsonl"
FOLLOW_UP = {
    "type": "follow-up-sent",
    "referral": "r1",
    "by": "ana",
    "to": "bob",
    "at": "2026-09-20T09:00:00Z",
}


def use_plugins(
    monkeypatch: pytest.MonkeyPatch, load_entry_points: bool = False, **extra: object
) -> Plugins:
    """Make the CLI (and every Ledger it opens) use these plugins."""
    plugins = Plugins(load_entry_points=load_entry_points, extra=extra)
    monkeypatch.setattr(plugins_module, "_default", plugins)
    return plugins


@pytest.fixture
def ledger(cli: Cli) -> Cli:
    cli.ok("import", str(BASE))
    return cli


def record(cli: Cli, event: dict[str, Any]) -> Any:
    return cli("record", orjson.dumps(event).decode())


# -- validate_event ------------------------------------------------------------------------------


class NoFollowUps:
    def __init__(self) -> None:
        self.seen: list[Any] = []

    @hookimpl
    def validate_event(self, event, ledger):
        self.seen.append((event, ledger))
        if event["type"] == "follow-up-sent":
            return "follow-ups wait until Monday"
        return None


def test_validate_event_returning_text_refuses_the_event(ledger, monkeypatch):
    vetoer = NoFollowUps()
    use_plugins(monkeypatch, monday=vetoer)
    before = ledger.ok("export").stdout
    result = ledger.refused("record", orjson.dumps(FOLLOW_UP).decode())
    assert "follow-ups wait until Monday" in result.stderr
    assert "monday" in result.stderr
    assert ledger.ok("export").stdout == before
    # other events pass, and the hook saw the event with its id and at filled in
    ledger.record({"type": "thank-you-sent", "referral": "r1", "by": "ana", "to": "carol"})
    event, host = vetoer.seen[-1]
    assert event["type"] == "thank-you-sent" and event["id"] and event["at"].endswith("Z")
    assert isinstance(host, Ledger)


def test_a_veto_refuses_a_whole_import(ledger, monkeypatch, tmp_path):
    use_plugins(monkeypatch, monday=NoFollowUps())
    path = tmp_path / "two.jsonl"
    thanks = {
        "type": "thank-you-sent",
        "referral": "r1",
        "by": "ana",
        "to": "carol",
        "at": "2026-09-20T08:00:00Z",
    }
    path.write_bytes(orjson.dumps(thanks) + b"\n" + orjson.dumps(FOLLOW_UP) + b"\n")
    before = ledger.ok("export").stdout
    result = ledger.refused("import", str(path))
    assert "line 2" in result.stderr and "follow-ups wait until Monday" in result.stderr
    assert ledger.ok("export").stdout == before


class Silent:
    @hookimpl
    def validate_event(self, event):
        return ""


def test_validate_event_returning_nothing_lets_the_event_through(ledger, monkeypatch):
    use_plugins(monkeypatch, silent=Silent())
    assert ledger.record(FOLLOW_UP)["seq"] == 15


class Crashing:
    @hookimpl
    def validate_event(self, event):
        raise KeyError("boom")


def test_validate_event_that_raises_refuses_and_names_the_plugin(ledger, monkeypatch):
    use_plugins(monkeypatch, crashy=Crashing())
    before = ledger.ok("export").stdout
    result = ledger.refused("record", orjson.dumps(FOLLOW_UP).decode())
    assert "'crashy'" in result.stderr and "boom" in result.stderr
    assert "Traceback" not in result.stderr
    assert ledger.ok("export").stdout == before


class Mutating:
    def __init__(self) -> None:
        self.errors: list[str] = []

    @hookimpl
    def validate_event(self, event):
        for attempt in (
            lambda: event.__setitem__("by", "carol"),
            lambda: event.pop("by"),
            lambda: event.update({"by": "carol"}),
            lambda: event.__delitem__("by"),
        ):
            try:
                attempt()
            except (TypeError, AttributeError) as exc:
                self.errors.append(type(exc).__name__)

    @hookimpl
    def event_recorded(self, event):
        try:
            event["preparation"]["questions"].append("Can I change this?")
        except (TypeError, AttributeError) as exc:
            self.errors.append(type(exc).__name__)
        try:
            event["preparation"]["researched_company"] = False
        except TypeError as exc:
            self.errors.append(type(exc).__name__)


def test_the_event_given_to_hooks_is_read_only(ledger, monkeypatch):
    mutating = Mutating()
    use_plugins(monkeypatch, mutating=mutating)
    stored = ledger.record(
        {
            "type": "referral-requested",
            "referral": "r9",
            "by": "dan",
            "referrer": "carol",
            "company": "Acme",
            "preparation": {"researched_company": True, "questions": ["Why?"]},
        }
    )
    assert len(mutating.errors) == 6
    assert stored["by"] == "dan"
    assert stored["preparation"] == {"researched_company": True, "questions": ["Why?"]}


# -- event_recorded ------------------------------------------------------------------------------


class Witness:
    """Checks, from a second connection, that what it is shown is already committed."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.seen: list[dict[str, Any]] = []
        self.committed: list[int] = []

    @hookimpl
    def event_recorded(self, event, ledger):
        self.seen.append(dict(event))
        other = Ledger(self.db, plugins=Plugins(load_entry_points=False))
        try:
            self.committed.append(other.store.count())
        finally:
            other.close()


def test_event_recorded_sees_the_committed_event(ledger, monkeypatch):
    witness = Witness(ledger.db)
    use_plugins(monkeypatch, witness=witness)
    stored = ledger.record(FOLLOW_UP)
    assert len(witness.seen) == 1
    seen = witness.seen[0]
    assert {k: seen[k] for k in ("id", "seq", "recorded_at", "hash")} == {
        k: stored[k] for k in ("id", "seq", "recorded_at", "hash")
    }
    assert seen["type"] == "follow-up-sent" and seen["seq"] == 15
    assert witness.committed == [15]


def test_event_recorded_once_per_new_event_of_an_import_after_the_one_commit(
    ledger, monkeypatch, tmp_path
):
    witness = Witness(ledger.db)
    use_plugins(monkeypatch, witness=witness)
    known = orjson.loads(ledger.ok("export").stdout.splitlines()[0])
    new = [
        {**FOLLOW_UP, "id": "fu-a"},
        {
            "type": "thank-you-sent",
            "referral": "r1",
            "by": "ana",
            "to": "carol",
            "id": "ty-a",
            "at": "2026-09-21T09:00:00Z",
        },
        {
            "type": "follow-up-sent",
            "referral": "r3",
            "by": "erin",
            "to": "carol",
            "id": "fu-b",
            "at": "2026-09-21T10:00:00Z",
        },
    ]
    strip = ("recorded_at", "recorded_by", "seq", "hash", "keys")
    lines = [orjson.dumps({k: v for k, v in known.items() if k not in strip})] + [
        orjson.dumps(e) for e in new
    ]
    path = tmp_path / "more.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    ledger.ok("import", str(path))
    assert [e["id"] for e in witness.seen] == ["fu-a", "ty-a", "fu-b"]
    assert [e["seq"] for e in witness.seen] == [15, 16, 17]
    assert witness.committed == [17, 17, 17]  # every call comes after the one commit
    ledger.ok("import", str(path))
    assert len(witness.seen) == 3  # nothing new, nothing shown


class Grumpy:
    @hookimpl
    def event_recorded(self, event):
        raise RuntimeError("disk of opinions is full")


def test_event_recorded_that_raises_leaves_the_event_recorded_and_warns(ledger, monkeypatch):
    use_plugins(monkeypatch, grumpy=Grumpy())
    result = record(ledger, FOLLOW_UP)
    assert result.exit_code == 0, result.stderr
    assert orjson.loads(result.stdout)["seq"] == 15
    assert "grumpy" in result.stderr and "disk of opinions is full" in result.stderr
    assert "Traceback" not in result.stderr
    assert ledger.export()[-1]["type"] == "follow-up-sent"


# -- register_commands ---------------------------------------------------------------------------


@pytest.fixture
def fresh_commands(monkeypatch):
    """Let a test add commands to the root group without leaking them into other tests."""
    monkeypatch.setattr(cli_module.cli, "commands", dict(cli_module.cli.commands))


class Greeter:
    @hookimpl
    def register_commands(self, cli):
        @cli.command()
        @click.argument("handle")
        def greet(handle: str) -> None:
            """Greet a person of the ledger."""
            person = cli_module.get_ledger().person(handle)
            if person is None:
                from ledger.errors import LedgerError

                raise LedgerError(f"unknown person {handle!r}")
            click.echo(f"Hello, {person.handle}!")


class BrokenCommands:
    @hookimpl
    def register_commands(self, cli):
        raise ImportError("no module named 'fancy_tables'")


def test_register_commands_adds_a_command(ledger, monkeypatch, fresh_commands):
    use_plugins(monkeypatch, greeter=Greeter())
    cli_module._load_plugin_commands()
    assert ledger.ok("greet", "ana").stdout == "Hello, ana!\n"
    assert "greet" in ledger.ok("--help").stdout
    assert "unknown person 'zoe'" in ledger.refused("greet", "zoe").stderr


def test_register_commands_that_raises_is_reported_and_the_cli_still_starts(
    ledger, monkeypatch, fresh_commands, capsys
):
    use_plugins(monkeypatch, broken=BrokenCommands(), greeter=Greeter())
    cli_module._load_plugin_commands()
    err = capsys.readouterr().err
    assert "broken" in err and "fancy_tables" in err
    assert ledger.ok("greet", "ana").stdout == "Hello, ana!\n"
    assert ledger.json("plugins", "--json")


# -- loading -------------------------------------------------------------------------------------


class Misspelt:
    @hookimpl
    def validate_evnt(self, event):
        return "never called"


class WrongArguments:
    @hookimpl
    def validate_event(self, event, ledger, mood):
        return "never called"


def test_a_misspelt_hook_is_rejected_and_reported(ledger, monkeypatch):
    plugins = use_plugins(monkeypatch, typo=Misspelt())
    info = next(i for i in plugins.infos if i.name == "typo")
    assert info.enabled is False and "validate_evnt" in (info.error or "")
    assert any("typo" in e and "validate_evnt" in e for e in plugins.errors())
    listed = {p["name"]: p for p in ledger.json("plugins", "--json")}
    assert listed["typo"]["enabled"] is False and "validate_evnt" in listed["typo"]["error"]
    assert ledger.record(FOLLOW_UP)["seq"] == 15  # and it vetoes nothing


def test_a_hook_with_arguments_the_spec_lacks_is_rejected(monkeypatch):
    plugins = use_plugins(monkeypatch, wrong=WrongArguments())
    info = next(i for i in plugins.infos if i.name == "wrong")
    assert info.enabled is False and "mood" in (info.error or "")


def test_the_cli_reports_a_rejected_plugin_at_start(monkeypatch, fresh_commands, capsys):
    use_plugins(monkeypatch, typo=Misspelt())
    cli_module._load_plugin_commands()
    assert "typo" in capsys.readouterr().err


class FakeEntryPoint:
    """An entry point of the `referral_ledger` group, recording whether it was imported."""

    def __init__(self, name: str, plugin: object | Exception) -> None:
        self.name = name
        self.value = f"fake_{name}"
        self.dist = None
        self.plugin = plugin
        self.loaded = False

    def load(self) -> object:
        self.loaded = True
        if isinstance(self.plugin, Exception):
            raise self.plugin
        return self.plugin


def fake_entry_points(monkeypatch, *eps: FakeEntryPoint) -> None:
    monkeypatch.setattr(
        plugins_module,
        "entry_points",
        lambda group: list(eps) if group == "referral_ledger" else [],
    )


def test_disabled_plugins_are_listed_but_not_imported(ledger, monkeypatch):
    vetoer = FakeEntryPoint("monday", NoFollowUps())
    other = FakeEntryPoint("quiet", Silent())
    fake_entry_points(monkeypatch, vetoer, other)
    monkeypatch.setenv("REFERRAL_LEDGER_DISABLE_PLUGINS", " monday , nothing-by-that-name")
    monkeypatch.setattr(plugins_module, "_default", None)
    listed = {p["name"]: p for p in ledger.json("plugins", "--json")}
    assert listed["monday"]["enabled"] is False and listed["monday"]["hooks"] == []
    assert listed["quiet"]["enabled"] is True and listed["quiet"]["hooks"] == ["validate_event"]
    assert vetoer.loaded is False and other.loaded is True
    assert ledger.record(FOLLOW_UP)["seq"] == 15  # the veto is off


def test_without_the_switch_the_same_plugin_vetoes(ledger, monkeypatch):
    fake_entry_points(monkeypatch, FakeEntryPoint("monday", NoFollowUps()))
    monkeypatch.setattr(plugins_module, "_default", None)
    assert "Monday" in ledger.refused("record", orjson.dumps(FOLLOW_UP).decode()).stderr


def test_a_plugin_that_cannot_be_imported_is_reported_and_the_rest_works(ledger, monkeypatch):
    fake_entry_points(
        monkeypatch, FakeEntryPoint("broken", ModuleNotFoundError("No module named 'x'"))
    )
    monkeypatch.setattr(plugins_module, "_default", None)
    listed = {p["name"]: p for p in ledger.json("plugins", "--json")}
    assert listed["broken"]["enabled"] is False and "No module named" in listed["broken"]["error"]
    assert ledger.record(FOLLOW_UP)["seq"] == 15


def declared_builtins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return project["project"]["entry-points"]["referral_ledger"]


def test_plugins_json_lists_the_built_in_plugins(cli):
    listed = {p["name"]: p for p in cli.json("plugins", "--json")}
    for name, module in declared_builtins().items():
        assert name in listed, name
        info = listed[name]
        assert info["enabled"] is True and info["builtin"] is True and info["error"] is None
        assert info["module"] == module and info["distribution"] == "referral-ledger"
        assert info["hooks"], name


def test_plugins_without_json_is_one_line_each(cli):
    out = cli.ok("plugins").stdout.splitlines()
    for name in declared_builtins():
        assert any(line.startswith(f"{name} (built-in, enabled)") for line in out), out


def test_a_disabled_built_in_is_listed_as_such(cli, monkeypatch):
    name = min(declared_builtins())
    monkeypatch.setenv("REFERRAL_LEDGER_DISABLE_PLUGINS", name)
    monkeypatch.setattr(plugins_module, "_default", None)
    listed = {p["name"]: p for p in cli.json("plugins", "--json")}
    assert listed[name]["enabled"] is False
    assert all(p["enabled"] for n, p in listed.items() if n != name)


# -- internal errors -----------------------------------------------------------------------------


class Buggy:
    @hookimpl
    def register_commands(self, cli):
        @cli.command()
        def crash() -> None:
            """Fail the way a bug does."""
            {}["missing"]


def test_an_internal_error_is_exit_3_with_a_debug_hint(cli, monkeypatch, fresh_commands):
    use_plugins(monkeypatch, buggy=Buggy())
    cli_module._load_plugin_commands()
    result = cli("crash")
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: ") and "--debug" in result.stderr
    assert "Traceback" not in result.stderr
    debug = cli.runner.invoke(cli.cli, ["--debug", "--db", cli.db, "crash"])
    assert debug.exit_code == 3 and "Traceback" in debug.stderr and "KeyError" in debug.stderr


def test_debug_shows_the_traceback_of_a_refusal_too(ledger):
    result = ledger.runner.invoke(ledger.cli, ["--debug", "--db", ledger.db, "record", "[]"])
    assert result.exit_code == 2 and "Traceback" in result.stderr and "Error: " in result.stderr


def test_main_runs_plugin_commands(monkeypatch, fresh_commands, tmp_path, capsys):
    use_plugins(monkeypatch, greeter=Greeter())
    monkeypatch.setattr(cli_module, "_loaded", False)
    Cli(str(tmp_path / "l.db")).ok("record", '{"type":"person-added","handle":"ana","name":"Ana"}')
    monkeypatch.setattr(sys, "argv", ["referral-ledger"])
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main(["--db", str(tmp_path / "l.db"), "greet", "ana"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == "Hello, ana!\n"


# -- the two ways to start it --------------------------------------------------------------------


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    import os
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(args, capture_output=True, env=full_env, cwd=cwd, timeout=60, check=False)


def test_python_m_ledger_is_the_console_script(tmp_path):
    script = Path(sys.executable).parent / "referral-ledger"
    module = (sys.executable, "-m", "ledger")
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "REFERRAL_LEDGER_DISABLE_PLUGINS": "commands"}
    db = str(tmp_path / "ledger.db")
    for args in (("--help",), ("--db", db, "plugins", "--json")):
        by_script, by_module = run(str(script), *args, env=env), run(*module, *args, env=env)
        assert by_script.returncode == by_module.returncode == 0, by_module.stderr
        assert by_script.stdout == by_module.stdout
        assert by_module.stdout
    listed = {p["name"]: p for p in orjson.loads(by_module.stdout)}
    assert listed["commands"]["enabled"] is False
    assert set(declared_builtins()) <= set(listed)
    event = '{"type":"person-added","handle":"ana","name":"Ana"}'
    stored = run(*module, "--db", db, "record", event, env=env)
    assert stored.returncode == 0 and orjson.loads(stored.stdout)["seq"] == 1
    for refusal in (
        run(*module, "--db", db, "record", event, env=env),
        run(str(script), "--db", db, "record", "[]", env=env),
    ):
        assert refusal.returncode == 2
        assert refusal.stderr.startswith(b"Error: ") and b"Traceback" not in refusal.stderr
    piped = run(*module, "--db", db, "export", env=env)
    assert [orjson.loads(line)["handle"] for line in piped.stdout.splitlines()] == ["ana"]


def test_an_internal_error_from_a_plugin_distribution_is_exit_3_for_both_entry_points(tmp_path):
    # A distribution on PYTHONPATH: dist-info with an entry point, and the module it names.
    site = tmp_path / "site"
    dist_info = site / "buggy_plugin-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: buggy-plugin\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[referral_ledger]\nbuggy = buggy_plugin\n")
    (site / "buggy_plugin.py").write_text(
        "import click\n"
        "from ledger import hookimpl\n\n"
        "@hookimpl\n"
        "def register_commands(cli):\n"
        "    @cli.command()\n"
        "    def crash():\n"
        '        """Fail the way a bug does."""\n'
        '        raise ZeroDivisionError("the plugin divided by zero")\n'
    )
    env = {"PYTHONPATH": str(site), "XDG_DATA_HOME": str(tmp_path / "data")}
    script = str(Path(sys.executable).parent / "referral-ledger")
    for start in ((script,), (sys.executable, "-m", "ledger")):
        result = run(*start, "crash", env=env)
        assert result.returncode == 3, result.stderr
        assert result.stderr.startswith(b"Error: ") and b"--debug" in result.stderr
        assert b"ZeroDivisionError" in result.stderr and b"Traceback" not in result.stderr
    debug = run(sys.executable, "-m", "ledger", "--debug", "crash", env=env)
    assert debug.returncode == 3 and b"Traceback" in debug.stderr
    listed = {p["name"]: p for p in orjson.loads(run(script, "plugins", "--json", env=env).stdout)}
    assert listed["buggy"]["distribution"] == "buggy-plugin" and listed["buggy"]["builtin"] is False


def test_a_plugin_from_another_distribution_vetoes_sees_adds_and_can_be_switched_off(tmp_path):
    site = tmp_path / "site"
    dist_info = site / "strict_plugin-2.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: strict-plugin\nVersion: 2.0\n"
    )
    (dist_info / "entry_points.txt").write_text("[referral_ledger]\nstrict = strict_plugin\n")
    seen = tmp_path / "seen.jsonl"
    (site / "strict_plugin.py").write_text(
        "import json, os\n"
        "import click\n"
        "from ledger import hookimpl\n"
        "os.environ['STRICT_PLUGIN_IMPORTED'] = '1'\n\n"
        "@hookimpl\n"
        "def validate_event(event):\n"
        "    if event['type'] == 'person-added' and event['handle'].startswith('x'):\n"
        "        return 'handles starting with x are reserved'\n\n"
        "@hookimpl\n"
        "def event_recorded(event, ledger):\n"
        "    with open(os.environ['SEEN'], 'a') as out:\n"
        "        out.write(json.dumps({'id': event['id'], 'seq': event['seq'],\n"
        "                              'stored': ledger.event(event['id']) is not None}) + '\\n')\n\n"
        "@hookimpl\n"
        "def register_commands(cli):\n"
        "    @cli.command()\n"
        "    def strictness():\n"
        '        """Say how strict."""\n'
        "        click.echo('very')\n"
    )
    db = str(tmp_path / "ledger.db")
    env = {"PYTHONPATH": str(site), "SEEN": str(seen), "REFERRAL_LEDGER_DB": db}
    module = (sys.executable, "-m", "ledger")
    vetoed = run(*module, "record", '{"type":"person-added","handle":"xavier","name":"X"}', env=env)
    assert vetoed.returncode == 2
    assert (
        vetoed.stderr.startswith(b"Error: ")
        and b"handles starting with x are reserved" in vetoed.stderr
    )
    stored = run(*module, "record", '{"type":"person-added","handle":"ana","name":"Ana"}', env=env)
    assert stored.returncode == 0, stored.stderr
    assert [orjson.loads(line) for line in seen.read_text().splitlines()] == [
        {"id": orjson.loads(stored.stdout)["id"], "seq": 1, "stored": True}
    ]
    assert run(*module, "strictness", env=env).stdout == b"very\n"
    off = {**env, "REFERRAL_LEDGER_DISABLE_PLUGINS": "strict"}
    probe = "import os, ledger.plugins as p; p.get_plugins(); print(os.environ.get('STRICT_PLUGIN_IMPORTED'))"
    assert run(sys.executable, "-c", probe, env=off).stdout.strip() == b"None"
    assert run(sys.executable, "-c", probe, env=env).stdout.strip() == b"1"
    allowed = run(
        *module, "record", '{"type":"person-added","handle":"xavier","name":"X"}', env=off
    )
    assert allowed.returncode == 0, allowed.stderr
    listed = {p["name"]: p for p in orjson.loads(run(*module, "plugins", "--json", env=off).stdout)}
    assert (
        listed["strict"]["enabled"] is False and listed["strict"]["distribution"] == "strict-plugin"
    )
    assert len(seen.read_text().splitlines()) == 1  # switched off, it saw nothing more
