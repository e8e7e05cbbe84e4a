"""The plugin API: every hook, read-only events, isolation of a broken plugin, `plugins --json`.

Each hook has a test named `test_hook_<hook>...` (a meta-test below checks it), and every hook
is documented in docs/plugins.md (another checks that). Likewise every name of `ledger.api` is
described in the guide's table, used in one of the guide's Python examples of that section, and
has a `test_api_<name>` test (tests/test_api.py).
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import click
import pytest
from pydantic import Field

import ledger.cli
import ledger.plugins
from ledger import Event, Projection, hookimpl, hookspecs
from ledger.app import Ledger
from ledger.errors import LedgerError
from ledger.events import Handle, Text
from ledger.plugins import Plugins
from ledger.views import View

ROOT = Path(__file__).resolve().parent.parent
AT = "2026-10-0{}T{}:00:00Z"


def hook_names() -> list[str]:
    return sorted(
        name
        for name, value in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(value, "referral_ledger_spec")
    )


@pytest.fixture
def use(monkeypatch):
    """Run the CLI with these extra plugins beside the installed ones."""
    added: list[str] = []

    def use(**plugins: object) -> Plugins:
        loaded = Plugins(extra={name.replace("_", "-"): p for name, p in plugins.items()})
        monkeypatch.setattr(ledger.plugins, "_default", loaded)
        before = set(ledger.cli.cli.commands)
        loaded.call_each("register_commands", cli=ledger.cli.cli, on_error=lambda e: None)
        added.extend(set(ledger.cli.cli.commands) - before)
        return loaded

    yield use
    for name in added:
        ledger.cli.cli.commands.pop(name, None)


def people(cli: Any, *handles: str) -> None:
    for handle in handles:
        cli.record(
            {
                "type": "person-added",
                "handle": handle,
                "name": handle.title(),
                "company": "Acme",
                "at": AT.format(1, "09"),
                "id": f"add-{handle}",
            }
        )


# -- the hooks, one test (at least) each -------------------------------------------------------


def test_hook_register_commands_adds_commands_and_a_raising_plugin_is_named(monkeypatch, capsys):
    class Greeter:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            @cli.command(name="greet")
            def greet() -> None:
                """Say hello."""
                click.echo("hello")

    class Broken:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            raise RuntimeError("no commands today")

    monkeypatch.setattr(
        ledger.plugins, "_default", Plugins(extra={"greeter": Greeter(), "broken": Broken()})
    )
    monkeypatch.setattr(ledger.cli, "_loaded", False)
    try:
        ledger.cli.load_plugin_commands()
        assert "plugin 'broken' failed: RuntimeError: no commands today" in capsys.readouterr().err
        from click.testing import CliRunner

        result = CliRunner().invoke(ledger.cli.cli, ["greet"])
        assert (result.exit_code, result.stdout) == (0, "hello\n")
        assert "alerts" in ledger.cli.cli.commands  # the built-ins still start
    finally:
        ledger.cli.cli.commands.pop("greet", None)


def test_hook_validate_event_refuses_with_the_plugins_reason_and_stores_nothing(use, cli):
    class NoFridays:
        @hookimpl
        def validate_event(self, event: Mapping[str, Any], ledger: Ledger) -> str | None:
            assert isinstance(ledger, Ledger)
            if event["type"] == "person-added" and event["handle"] == "friday":
                return "no Fridays here"
            return None

    use(no_fridays=NoFridays())
    people(cli, "ana")
    refused = cli.refused(
        "record", json.dumps({"type": "person-added", "handle": "friday", "name": "Fri"})
    )
    assert "refused by plugin 'no-fridays': no Fridays here" in refused.stderr
    lines = "\n".join(
        json.dumps({"type": "person-added", "handle": h, "name": h}) for h in ("bob", "friday")
    )
    refused = cli.refused("import", "-", input=lines)
    assert "line 2" in refused.stderr and "no-fridays" in refused.stderr
    assert [e["handle"] for e in cli.export()] == ["ana"]


def test_hook_validate_event_that_raises_refuses_the_event_naming_the_plugin(use, cli):
    class Crashing:
        @hookimpl
        def validate_event(self, event: Mapping[str, Any]) -> str | None:
            raise KeyError("oops")

    # a ledger first: a refused first write leaves none behind on SQLite, so export would refuse
    cli.record({"type": "person-added", "handle": "bob", "name": "Bob"})
    before = cli.export()
    use(crashing=Crashing())
    refused = cli.refused(
        "record", json.dumps({"type": "person-added", "handle": "ana", "name": "Ana"})
    )
    assert "plugin 'crashing' failed while validating" in refused.stderr
    assert cli.export() == before


def test_hook_event_recorded_sees_each_stored_event_once_after_the_commit(use, cli):
    seen: list[dict[str, Any]] = []

    class Watcher:
        @hookimpl
        def event_recorded(self, event: Mapping[str, Any], ledger: Ledger) -> None:
            assert ledger.store.get(event["id"]) is not None  # already committed
            seen.append(dict(event))

    use(watcher=Watcher())
    people(cli, "ana")
    lines = "\n".join(
        json.dumps(
            {
                "type": "person-added",
                "handle": h,
                "name": h.title(),
                "company": "Acme",
                "at": AT.format(1, "09"),
                "id": f"add-{h}",
            }
        )
        for h in ("ana", "bob", "carol")
    )
    cli.ok("import", "-", input=lines)  # ana is already stored: a no-op, not announced again
    assert [(e["handle"], e["seq"]) for e in seen] == [("ana", 1), ("bob", 2), ("carol", 3)]
    assert all(e["hash"] and e["recorded_at"] for e in seen)


def test_hook_person_facts_adds_to_person_show_and_a_taken_key_or_a_raise_is_named(use, cli):
    class Declared:
        @hookimpl
        def person_facts(self, ledger: Ledger, handle: str, as_of: int, known_at: Any) -> Any:
            from ledger.api import View

            return {"declared": len(View(ledger, known_at).declarations(handle)), "owes": []}

    class Broken:
        @hookimpl
        def person_facts(self, handle: str) -> Any:
            raise RuntimeError(f"cannot tell about {handle}")

    use(declared=Declared(), broken=Broken())
    people(cli, "ana", "bob")
    cli.record({"type": "connection-declared", "by": "ana", "with": "bob", "kind": "friend"})
    result = cli.ok("person", "show", "ana", "--json")
    shown = json.loads(result.stdout)
    assert shown["declared"] == 1
    assert shown["owes"] == []  # the command's own key, not the plugin's
    assert "scores" in shown  # the built-in reputation plugin's
    assert "plugin 'declared' failed: ValueError: person_facts: key 'owes' is taken" in (
        result.stderr
    )
    assert "plugin 'broken' failed: RuntimeError: cannot tell about ana" in result.stderr
    assert "declared: 1" in cli.ok("person", "show", "ana").stdout


def test_hook_event_recorded_that_raises_leaves_the_event_recorded(use, cli):
    class Crashing:
        @hookimpl
        def event_recorded(self) -> None:
            raise RuntimeError("mail server down")

    use(crashing=Crashing())
    result = cli.ok("record", json.dumps({"type": "person-added", "handle": "ana", "name": "Ana"}))
    assert "Warning: plugin 'crashing' failed: RuntimeError: mail server down" in result.stderr
    assert [e["handle"] for e in cli.export()] == ["ana"]
    assert cli.json("verify", "--json")["ok"] is True


class MockInterview(Event):
    type: Literal["mock-interview"]
    by: Handle
    with_: Handle = Field(alias="with")
    referral: Handle | None = None
    score: int | None = None
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "with")
    personal: ClassVar[tuple[str, ...]] = ("note",)


class Mocks:
    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        return [MockInterview]


def test_hook_register_event_types_records_exports_and_checks_like_a_built_in(use, cli, tmp_path):
    use(mocks=Mocks())
    people(cli, "ana", "carol")
    stored = cli.record(
        {
            "type": "mock-interview",
            "by": "ana",
            "with": "carol",
            "score": 4,
            "note": "nervous",
            "at": AT.format(2, "10"),
        }
    )
    assert stored["seq"] == 3 and stored["note"] == "nervous"
    mock = {"type": "mock-interview", "by": "ana", "with": "carol"}
    assert (
        "unknown person 'zed'" in cli.refused("record", json.dumps({**mock, "with": "zed"})).stderr
    )
    assert "score" in cli.refused("record", json.dumps({**mock, "score": "4"})).stderr
    assert "unknown field" in cli.refused("record", json.dumps({**mock, "x": 1})).stderr
    assert (
        "unknown referral" in cli.refused("record", json.dumps({**mock, "referral": "nope"})).stderr
    )
    # a retraction of it is a person-level retraction
    retraction = cli.record(
        {
            "type": "event-retracted",
            "by": "ana",
            "retracts": stored["id"],
            "reason": "it was a phone call",
        }
    )
    assert "referral" not in retraction
    # the note is personal data of `by`: sealed in the chain, erased by forget
    cli.ok("forget", "ana", "--yes")
    forgotten = next(e for e in cli.export() if e["type"] == "mock-interview")
    assert set(forgotten["note"]) == {"forgotten"}
    assert cli.json("verify", "--json")["ok"] is True


def test_hook_register_event_types_refuses_collisions_naming_both_plugins(sqlite_db):
    class Again(Mocks):
        pass

    with pytest.raises(
        LedgerError, match="'mock-interview' is registered by two plugins: 'a' and 'b'"
    ):
        Ledger(sqlite_db, plugins=Plugins(extra={"a": Mocks(), "b": Again()}))

    class Core(Event):
        type: Literal["thank-you-sent"]
        by: Handle
        handles: ClassVar[tuple[str, ...]] = ("by",)

    class Thief:
        @hookimpl
        def register_event_types(self) -> list[type[Event]]:
            return [Core]

    with pytest.raises(LedgerError, match="plugin 'thief' registers event type 'thank-you-sent'"):
        Ledger(sqlite_db, plugins=Plugins(extra={"thief": Thief()}))

    class Nowhere(Event):
        type: Literal["floating"]

    class Bad:
        @hookimpl
        def register_event_types(self) -> list[Any]:
            return [Nowhere]

    with pytest.raises(LedgerError, match="'floating' needs a `referral` or a `by` field"):
        Ledger(sqlite_db, plugins=Plugins(extra={"bad": Bad()}))

    class NotAnEvent:
        @hookimpl
        def register_event_types(self) -> list[Any]:
            return [dict]

    with pytest.raises(LedgerError, match="plugin 'worse' registers .* not a ledger.Event"):
        Ledger(sqlite_db, plugins=Plugins(extra={"worse": NotAnEvent()}))


def test_hook_register_event_types_missing_plugin_fails_reads_by_name(use, cli, monkeypatch):
    use(mocks=Mocks())
    people(cli, "ana", "carol")
    cli.record({"type": "mock-interview", "by": "ana", "with": "carol"})
    monkeypatch.setattr(ledger.plugins, "_default", Plugins())
    refused = cli.refused("export")
    assert "type 'mock-interview' (seq 3), defined by plugin 'mocks'" in refused.stderr
    assert "not installed" in refused.stderr
    assert "'mock-interview'" in cli.refused("alerts", "--json").stderr
    assert cli.json("verify", "--json")["ok"] is True
    # the events it does not understand are refused on import, never dropped
    use(mocks=Mocks())
    exported = cli.ok("export").stdout
    monkeypatch.setattr(ledger.plugins, "_default", Plugins())
    assert "defined by plugin 'mocks'" in cli.refused("import", "-", input=exported).stderr


class Overdue(Projection):
    """An alert kind of a plugin's own: a mock interview is owed a debrief within a day."""

    name = "debriefs"
    category = "alert"
    fail = False
    seen: ClassVar[list[Mapping[str, Any]]] = []

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        if self.fail:
            raise RuntimeError("debriefs are broken")
        Overdue.seen.append(event)
        return [event["id"]] if event["type"] == "mock-interview" else []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        event = view.event(part)
        assert event is not None
        return [
            {
                "kind": "debrief-missing",
                "referral": None,
                "person": event["by"],
                "owed_to": event["with"],
                "due": event["at"],
                "message": "debrief owed",
                "start": event["at"],
            }
        ]


class Debriefs(Mocks):
    def __init__(self) -> None:
        self.projection = Overdue()

    @hookimpl
    def register_projections(self) -> list[Projection]:
        return [self.projection]


def test_hook_register_projections_adds_an_alert_kind_that_is_isolated_and_resumes(use, cli):
    plugin = Debriefs()
    use(debriefs=plugin)
    people(cli, "ana", "carol")
    cli.record({"type": "mock-interview", "by": "ana", "with": "carol", "at": AT.format(2, "10")})
    alerts = cli.json("alerts", "--json", "--as-of", "2026-10-20T00:00:00Z")
    assert [(a["kind"], a["person"], a["owed_to"]) for a in alerts] == [
        ("debrief-missing", "ana", "carol")
    ]

    plugin.projection.fail = True
    cli.record({"type": "mock-interview", "by": "carol", "with": "ana", "at": AT.format(3, "10")})
    result = cli.ok("alerts", "--json", "--as-of", "2026-10-20T00:00:00Z")
    assert "plugin 'debriefs' failed in projection 'debriefs'" in result.stderr
    assert len(json.loads(result.stdout)) == 1  # what it had derived, nothing new, no crash
    led = Ledger(cli.db)
    assert led.store.position("debriefs")[0] == 3  # did not advance past the failure
    assert led.store.position("alerts")[0] == 4  # the others did
    led.close()

    plugin.projection.fail = False
    result = cli.ok("alerts", "--json", "--as-of", "2026-10-20T00:00:00Z")
    assert "Warning" not in result.stderr
    assert sorted(a["person"] for a in json.loads(result.stdout)) == ["ana", "carol"]


# -- read-only events ---------------------------------------------------------------------------


def test_events_handed_to_plugins_are_read_only(use, cli):
    caught: list[str] = []

    def mutate(where: str, event: Mapping[str, Any]) -> None:
        for attempt in (
            lambda: event.__setitem__("type", "x"),  # type: ignore[index]
            lambda: event.pop("type"),  # type: ignore[attr-defined]
            lambda: event["preparation"].__setitem__("questions", []),
        ):
            try:
                attempt()
            except (TypeError, AttributeError, KeyError):
                continue
            raise AssertionError(f"{where}: an event handed to a plugin could be changed")
        caught.append(where)

    class Meddler:
        @hookimpl
        def validate_event(self, event: Mapping[str, Any]) -> None:
            mutate("validate_event", event)

        @hookimpl
        def event_recorded(self, event: Mapping[str, Any]) -> None:
            mutate("event_recorded", event)

        @hookimpl
        def register_projections(self) -> list[Projection]:
            return [Meddling()]

    class Meddling(Projection):
        name = "meddling"
        category = "meddling"

        def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
            mutate("parts", event)
            return [event["referral"]] if event.get("referral") else []

        def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
            events = view.referral(part)
            for event in events:
                mutate("View.referral", event)
            events.clear()  # a list of one's own: the next caller still gets every event
            assert view.referral(part)
            for event in view.referral_history(part):
                mutate("View.referral_history", event)
            for event in view.referral_histories([part])[part]:
                mutate("View.referral_histories", event)
            mutate("View.person", view.person("ana"))
            mutate("View.event", view.event(view.referral(part)[0]["id"]))
            for event in view.declarations("ana") + view.declarations_between("ana", "carol"):
                mutate("View.declarations", event)
            return []

    use(meddler=Meddler())
    people(cli, "ana", "carol")
    cli.record({"type": "connection-declared", "by": "ana", "with": "carol", "kind": "friend"})
    cli.record(
        {
            "type": "referral-requested",
            "referral": "r1",
            "by": "ana",
            "referrer": "carol",
            "company": "Acme",
            "preparation": {"questions": ["why?"]},
        }
    )
    from ledger.projections import rows

    led = Ledger(cli.db)
    assert rows(led, "meddling", as_of=2**62, known_at=None, on_error=_raise) == []
    led.close()
    assert {
        "validate_event",
        "event_recorded",
        "parts",
        "View.referral",
        "View.person",
        "View.event",
        "View.declarations",
        "View.referral_history",
        "View.referral_histories",
    } <= set(caught)
    assert cli.export()[-1]["preparation"] == {"questions": ["why?"]}


def _raise(error: Exception) -> None:
    raise error


# -- a deliberately broken plugin harms nothing ------------------------------------------------


class Wrecker:
    """Raises wherever it can: while deriving its alerts and flags, and after every event."""

    @hookimpl
    def event_recorded(self) -> None:
        raise RuntimeError("event_recorded is broken")

    @hookimpl
    def register_projections(self) -> list[Projection]:
        class Broken(Projection):
            version = "1"

            def __init__(self, name: str, category: str) -> None:
                self.name, self.category = name, category

            def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
                return [event["id"]]

            def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
                raise ZeroDivisionError("derive is broken")

        return [Broken("wrecked-alerts", "alert"), Broken("wrecked-flags", "flag")]


STORY = [
    {"type": "connection-declared", "by": "ana", "with": "carol", "kind": "linkedin-only"},
    {
        "type": "referral-requested",
        "referral": "ana-acme",
        "by": "ana",
        "referrer": "carol",
        "company": "Acme",
        "target": "bob",
        "role": "Backend engineer",
        "preparation": {"researched_company": True},
    },
    {
        "type": "request-vetted",
        "referral": "ana-acme",
        "by": "carol",
        "decision": "accept",
        "knows_work": False,
    },
    {"type": "introduction-made", "referral": "ana-acme", "by": "carol", "to": "bob"},
    {"type": "interview-held", "referral": "ana-acme"},
]


def _tell(cli: Any) -> None:
    people(cli, "ana", "carol", "bob")
    for n, event in enumerate(STORY, start=2):
        cli.record({**event, "id": f"e{n}", "at": AT.format(n, "10")})


# What the store adds, which differs between two ledgers of one story: when, by whom (the login
# name on SQLite, the role on PostgreSQL), the chain.
STORE_FIELDS = ("recorded_at", "recorded_by", "hash", "keys")


def _outputs(cli: Any) -> dict[str, Any]:
    later = ["--as-of", "2026-11-20T00:00:00Z"]
    out = {
        "alerts": cli.json("alerts", "--json", *later),
        "flags": cli.json("flags", "--json", *later),
        "reputation": cli.json("reputation", "--json", *later),
        "alerts-then": cli.json("alerts", "--json", *later, "--known-at", "2030-01-01T00:00:00Z"),
        "export": [
            {k: v for k, v in e.items() if k not in STORE_FIELDS} for e in cli.export()
        ],
    }
    if "audit" in ledger.cli.cli.commands:
        audit = cli.json("audit", "ana-acme", "--json", *later)
        for event in audit.get("events", []):
            for key in STORE_FIELDS:
                event.pop(key, None)
        out["audit"] = audit
    return out


def test_a_broken_plugin_leaves_every_built_in_output_and_verify_unchanged(use, db, tmp_path):
    from conftest import Cli

    plain = Cli(str(tmp_path / "plain.db"))
    _tell(plain)
    expected = _outputs(plain)
    assert expected["alerts"] and expected["flags"], "the story should raise alerts and flags"

    use(wrecker=Wrecker())
    broken = Cli(db)
    _tell(broken)
    assert _outputs(broken) == expected
    warned = broken.ok("alerts", "--json").stderr
    assert "plugin 'wrecker' failed in projection 'wrecked-alerts'" in warned
    assert broken.json("verify", "--json")["ok"] is True
    assert broken.json("verify", "--json")["events"] == len(STORY) + 3


# -- listing and disabling ----------------------------------------------------------------------


def test_plugins_json_lists_name_version_hooks_and_origin(use, cli):
    class Local:
        @hookimpl
        def validate_event(self) -> None:
            return None

    use(local=Local())
    listed = {p["name"]: p for p in cli.json("plugins", "--json")}
    for name in ("alerts", "flags", "reputation", "commands"):
        assert listed[name]["builtin"] is True and listed[name]["enabled"] is True
        assert listed[name]["distribution"] == "referral-ledger"
        assert listed[name]["version"]
    assert listed["alerts"]["hooks"] == [
        "register_commands",
        "register_event_types",
        "register_projections",
        "validate_event",
    ]
    assert listed["local"]["builtin"] is False and listed["local"]["hooks"] == ["validate_event"]
    text = cli.ok("plugins").stdout
    assert (
        "alerts (built-in, enabled): register_commands, register_event_types, "
        "register_projections, validate_event" in text
    )


def test_disabled_plugins_are_not_imported_and_listed_as_disabled(tmp_path):
    code = (
        "import sys, json; from ledger.plugins import get_plugins; "
        "infos = {i.name: i.as_json() for i in get_plugins().infos}; "
        "print(json.dumps([infos['reputation'], infos['flags'], "
        "'ledger_reputation' in sys.modules, 'ledger_flags' in sys.modules]))"
    )
    env = {**os.environ, "REFERRAL_LEDGER_DISABLE_PLUGINS": "reputation, nothing-by-that-name"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    reputation, flags, rep_imported, flags_imported = json.loads(out.stdout)
    assert (reputation["enabled"], reputation["hooks"], rep_imported) == (False, [], False)
    assert (flags["enabled"], flags_imported) == (True, True)
    result = subprocess.run(
        [sys.executable, "-m", "ledger", "--db", str(tmp_path / "l.db"), "reputation", "--json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2 and "No such command 'reputation'" in result.stderr


def test_a_plugin_with_a_misspelt_hook_is_listed_with_its_error(use, cli):
    class Typo:
        @hookimpl
        def event_recorded_typo(self) -> None:
            pass

    use(typo=Typo())
    listed = {p["name"]: p for p in cli.json("plugins", "--json")}
    assert listed["typo"]["enabled"] is False
    assert "event_recorded_typo" in listed["typo"]["error"]


# -- the API is documented and tested -----------------------------------------------------------


def test_every_hook_is_documented_in_the_guide():
    guide = (ROOT / "docs" / "plugins.md").read_text()
    assert len(hook_names()) >= 5
    missing = [name for name in hook_names() if f"### `{name}(" not in guide]
    assert not missing, f"hooks not documented in docs/plugins.md: {missing}"


def test_every_name_in_ledger_api_is_documented_in_the_guide():
    import ledger.api

    section = api_section()
    assert len(ledger.api.__all__) >= 30
    missing = [name for name in ledger.api.__all__ if f"\n| `{name}` | " not in section]
    assert not missing, f"names of ledger.api not described in docs/plugins.md: {missing}"
    described = re.findall(r"^\| `(\w+)` \| ", section, re.MULTILINE)
    assert sorted(described) == sorted(ledger.api.__all__), "the table names what is not API"


def test_every_hook_has_a_test_of_its_own():
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    missing = [
        name
        for name in hook_names()
        if not re.search(rf"^def test_hook_{name}\w*\(", tests, re.MULTILINE)
    ]
    assert not missing, f"hooks without a test_hook_<name> test: {missing}"


def api_section() -> str:
    guide = (ROOT / "docs" / "plugins.md").read_text()
    section = guide[guide.index("## The API: `ledger.api`") :]
    return section[: section.index("\n## ", 1)]


PYTHON_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)


def used_names(code: str) -> set[str]:
    """The names a piece of Python uses (reads, calls, subclasses, annotates with), as
    `name` or `module.name`: importing a name does not count as an example of it."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
    return found


def test_every_name_in_ledger_api_has_an_example_in_the_guide():
    """An example is Python code in the API section that uses the name (not only imports it);
    every Python block of that section must be valid Python."""
    import ledger.api

    blocks = PYTHON_BLOCK.findall(api_section())
    assert len(blocks) >= 5
    used: set[str] = set()
    for block in blocks:
        try:
            used |= used_names(block)
        except SyntaxError as exc:
            pytest.fail(f"a Python example of docs/plugins.md does not parse: {exc}\n{block}")
    missing = [name for name in ledger.api.__all__ if name not in used]
    assert not missing, f"names of ledger.api without an example in docs/plugins.md: {missing}"


def test_used_names_counts_uses_not_imports():
    code = "from ledger.api import rows, View\nimport ledger.api\nledger.api.listed(x)\nView(l)\n"
    assert used_names(code) >= {"listed", "View", "ledger"}
    assert "rows" not in used_names(code)


def test_every_name_in_ledger_api_has_a_test_of_its_own():
    import ledger.api

    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    missing = [
        name
        for name in ledger.api.__all__
        if not re.search(rf"^def test_api_{name}\(", tests, re.MULTILINE)
    ]
    assert not missing, f"names of ledger.api without a test_api_<name> test: {missing}"
