"""`ledger.api`, name by name: each test imports its name from `ledger.api` and checks what
docs/plugins.md ("The API: `ledger.api`") promises of it.

A meta-test in test_plugin_api.py holds every name of `ledger.api.__all__` to a
`test_api_<name>` test here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Literal

import click
import pytest
from click.testing import CliRunner
from pydantic import Field

import ledger.cli
import ledger.plugins
from ledger.plugins import Plugins

AT = "2026-10-0{}T{}:00:00Z"
LATER = "2026-10-20T00:00:00Z"  # past every default due time of the events below


@pytest.fixture
def use(monkeypatch):
    """Run the CLI with these extra plugins beside the installed ones (their commands too)."""
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


def command(func: Any, name: str = "probe") -> object:
    """A plugin whose `register_commands` adds `func` as the command `name`."""
    from ledger.api import hookimpl

    class Plugin:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            cli.add_command(click.command(name=name)(func))

    return Plugin()


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


def requested(cli: Any, key: str = "r1", **fields: Any) -> dict[str, Any]:
    """ana asks bob to refer her to carol at Acme, on 2 October."""
    return cli.record(
        {
            "type": "referral-requested",
            "referral": key,
            "by": "ana",
            "referrer": "bob",
            "target": "carol",
            "company": "Acme",
            "at": AT.format(2, "10"),
            **fields,
        }
    )


def declare(cli: Any, by: str, with_: str, kind: str, day: int, **fields: Any) -> dict[str, Any]:
    return cli.record(
        {
            "type": "connection-declared",
            "by": by,
            "with": with_,
            "kind": kind,
            "at": AT.format(day, "12"),
            **fields,
        }
    )


def a_ledger(cli: Any) -> Any:
    from ledger.api import Ledger

    return Ledger(cli.db, create=False)


# -- writing commands ---------------------------------------------------------------------------


def test_api_cli(use, cli):
    from ledger.api import cli as root

    assert root is ledger.cli.cli and isinstance(root, click.Group)
    received: list[click.Group] = []

    from ledger.api import hookimpl

    class Plugin:
        @hookimpl
        def register_commands(self, cli: click.Group) -> None:
            received.append(cli)

    use(plugin=Plugin())
    assert received == [root]  # the group `register_commands` receives
    result = CliRunner().invoke(root, ["--help"])
    assert result.exit_code == 0 and "alerts" in result.stdout
    people(cli, "ana")
    result = CliRunner().invoke(root, ["--db", cli.db, "export"])
    assert result.exit_code == 0 and json.loads(result.stdout)["handle"] == "ana"


def test_api_get_ledger(use, cli):
    from ledger.api import Ledger, get_ledger

    def probe() -> None:
        click.echo(type(get_ledger()).__name__)

    def make() -> None:
        led = get_ledger(create=True)
        assert isinstance(led, Ledger)
        click.echo(len(list(led.export())))

    use(probe=command(probe), make=command(make, "make"))
    if "://" not in cli.db:  # a missing SQLite file: refused, and not created
        refused = cli.refused("probe")
        assert refused.stderr == f"Error: no ledger at {cli.db}\n"
        assert cli.stored() == []
    assert cli.ok("make").stdout == "0\n"
    people(cli, "ana")
    assert cli.ok("probe").stdout == "Ledger\n"
    assert cli.ok("make").stdout == "1\n"


def test_api_get_state(use, cli, tmp_path):
    from ledger.api import State, get_state

    def probe() -> None:
        state = get_state()
        assert isinstance(state, State)
        click.echo(json.dumps([state.db, state.config, state.debug]))

    use(probe=command(probe))
    config = tmp_path / "config.toml"
    config.write_text("[due]\nrequest-unanswered = 3\n")
    out = cli.ok("--config", str(config), "--debug", "probe").stdout
    assert json.loads(out) == [cli.db, str(config), True]
    assert json.loads(cli.ok("probe").stdout) == [cli.db, None, False]


def test_api_State(use, cli):
    from ledger.api import Ledger, State

    def probe() -> None:
        state = click.get_current_context().find_object(State)
        assert state is not None
        led = state.open(create=True)
        assert isinstance(led, Ledger) and state.open() is led  # opened once
        click.echo(f"{state.db} {state.debug} {len(list(led.export()))}")

    use(probe=command(probe))
    people(cli, "ana", "bob")
    assert cli.ok("probe").stdout == f"{cli.db} False 2\n"
    # `open()` without `create` on a missing ledger is refused like any read
    state = State("/nonexistent/dir/ledger.db", None, False)
    from ledger.api import LedgerError

    with pytest.raises(LedgerError, match="no ledger at"):
        state.open()


def test_api_emit_json(use, cli):
    from ledger.api import emit_json

    def probe() -> None:
        emit_json({"name": "Ana", "n": [1, 2]})

    use(probe=command(probe))
    out = cli.ok("probe").stdout
    assert out == '{\n  "name": "Ana",\n  "n": [\n    1,\n    2\n  ]\n}\n'
    # as the built-in commands print: the same indentation as `record`'s output
    stored = cli.ok("record", json.dumps({"type": "person-added", "handle": "a", "name": "A"}))
    assert stored.stdout.startswith('{\n  "type": "person-added"')


def test_api_emit_json_array(use, cli):
    from ledger.api import emit_json, emit_json_array

    counts: list[int] = []

    def probe() -> None:
        counts.append(emit_json_array({"i": i} for i in range(3)))

    def whole() -> None:
        emit_json([{"i": i} for i in range(3)])

    def empty() -> None:
        counts.append(emit_json_array(iter(())))

    use(probe=command(probe), whole=command(whole, "whole"), empty=command(empty, "empty"))
    out = cli.ok("probe").stdout
    assert out == cli.ok("whole").stdout  # byte for byte what emit_json(list(...)) prints
    assert json.loads(out) == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert cli.ok("empty").stdout == "[]\n"
    assert counts == [3, 0]


def test_api_safe(use, cli):
    from ledger.api import safe

    assert safe("Ana Lima") == "Ana Lima"
    for hostile in ("\x1b[31mred", "a\u202eevil", "zero\u200bwidth", "bell\x07"):
        shown = safe(hostile)
        assert shown != hostile
        assert not any(ch in shown for ch in "\x1b\u202e\u200b\x07")

    def probe() -> None:
        click.echo(safe("\x1b[2Jcleared"))

    use(probe=command(probe))
    out = cli.ok("probe").stdout
    assert "\x1b" not in out and "cleared" in out


def test_api_table(use, cli, monkeypatch):
    from ledger.api import table

    rows = [("ana", "x" * 60, "overdue"), ("bo", "\x1b[2Jshort", "ok")]
    whole = list(table(("WHO", "WHAT", "STATE"), rows))
    assert whole[0].split() == ["WHO", "WHAT", "STATE"] and "x" * 60 in whole[1]
    assert "\x1b" not in whole[2] and "\\x1b[2Jshort" in whole[2]  # made safe
    fitted = list(table(("WHO", "WHAT", "STATE"), rows, fixed=(2,), right=(2,), limit=30))
    assert [len(line) for line in fitted] == [30, 30, 30]
    assert fitted[1].startswith("ana  xxx") and fitted[1].endswith("…  overdue")
    assert fitted[2].endswith("       ok")  # aligned right

    def probe() -> None:
        colour = {2: lambda state: "red" if state == "overdue" else None}
        for line in table(None, rows, colours=colour):
            click.echo(line)

    use(probe=command(probe))
    monkeypatch.setenv("COLUMNS", "24")
    out = cli.ok("probe").stdout.splitlines()
    assert max(len(line) for line in out) <= 24 and "…" in out[0]
    assert "\x1b[31m" not in "".join(out)  # not a terminal: no colour


def test_api_fit(use, cli, monkeypatch):
    from ledger.api import fit

    assert fit("a" * 300) == "a" * 300  # no terminal, no COLUMNS: whole
    monkeypatch.setenv("COLUMNS", "10")
    assert fit("a" * 300) == "a" * 9 + "…"
    assert fit("\u202eevil") == "\\u202eevil"  # made safe: ten columns, it fits
    assert fit("\u202eevil!") == "\\u202eevi…"
    assert fit("short") == "short"


def test_api_named(use, cli):
    from ledger.api import View, get_ledger, named

    people(cli, "ana", "bo")
    cli.ok("forget", "bo", "--yes")
    seen = []

    def probe() -> None:
        who = named(View(get_ledger()))
        seen.extend([who("ana"), who("bo"), who(None), who("nobody")])

    use(probe=command(probe))
    cli.ok("probe")
    assert seen == ["ana (Ana)", "bo", "-", "nobody"]  # a forgotten name is never shown


def test_api_named_and_people_look_many_up_in_a_few_queries(use, cli, monkeypatch, tmp_path):
    from ledger.api import View, get_ledger, named

    handles = [f"p{i:03d}" for i in range(120)]
    added = [
        {
            "type": "person-added",
            "handle": h,
            "name": h.title(),
            "at": AT.format(1, "09"),
            "id": f"add-{h}",
        }
        for h in handles
    ]
    (tmp_path / "people.jsonl").write_text("\n".join(map(json.dumps, added)))
    cli.ok("import", str(tmp_path / "people.jsonl"))
    cli.ok("forget", "p007", "--yes")
    seen: dict[str, object] = {}
    queries = []

    def probe() -> None:
        view = View(get_ledger())
        real = view.store.people_events
        monkeypatch.setattr(
            view.store, "people_events", lambda *a, **k: queries.append(a) or real(*a, **k)
        )
        found = view.people([*handles, "nobody", "p001"])
        seen["people"] = {h: None if p is None else p.get("name") for h, p in found.items()}
        seen["forgotten"] = found["p007"]["forgotten"]
        who = named(view, [None, *handles])
        seen["who"] = [who("p001"), who("p007"), who(None), who("nobody")]

    use(probe=command(probe))
    cli.ok("probe")
    assert list(seen["people"]) == [*handles, "nobody"]  # each once, in the order asked
    assert seen["people"]["p001"] == "P001" and seen["people"]["nobody"] is None
    assert seen["forgotten"] is True
    assert seen["who"] == ["p001 (P001)", "p007", "-", "nobody"]
    assert len(queries) == 1  # 121 people in one query; `named` asked the view that holds them


def test_view_names_are_the_names_person_gives(cli, monkeypatch):
    """`View.names` reads most people without their events (one `person-added` and nothing
    else); whoever has more (an update, a retraction, being forgotten) or is not yet known
    at `known_at` is read as `person` reads them: the names are the same either way."""
    from ledger.api import View, micros

    people(cli, "ana", "bo", "cy", "dee")
    first = a_ledger(cli)
    try:
        known_at = micros(View(first).event("add-dee")["recorded_at"])
    finally:
        first.close()
    people(cli, "eve")  # recorded after `known_at`
    cli.record({"type": "person-updated", "handle": "cy", "name": "Cyd", "at": AT.format(2, "09")})
    cli.record(
        {
            "type": "event-retracted",
            "by": "dee",
            "retracts": "add-dee",
            "reason": "A mistake",
            "at": AT.format(2, "09"),
        }
    )
    cli.ok("forget", "bo", "--yes")
    handles = ["ana", "bo", "cy", "dee", "eve", "nobody", "ana"]
    led = a_ledger(cli)
    try:
        for at in (None, known_at):
            light: list[str] = []
            view = View(led, at)
            real = view.store.people_events
            monkeypatch.setattr(
                view.store,
                "people_events",
                lambda h, *a, light=light, real=real: light.extend(h) or real(h, *a),
            )
            names = view.names(handles)
            monkeypatch.setattr(view.store, "people_events", real)
            expected = {}
            for handle in handles:
                person = View(led, at).person(handle)
                name = None if person is None or person.get("forgotten") else person["name"]
                expected[handle] = name if isinstance(name, str) else None  # not if erased
            assert names == expected
            assert list(names) == ["ana", "bo", "cy", "dee", "eve", "nobody"]
            assert "ana" not in light  # read without its event
            if at is None:
                assert names["cy"] == "Cyd" and names["bo"] is None and names["dee"] is None
                assert set(light) == {"bo", "cy", "dee", "nobody"}
            else:  # as known before eve was added, before the rest happened; bo's name erased
                assert names == {h: h.title() for h in ("ana", "cy", "dee")} | {
                    "bo": None,
                    "eve": None,
                    "nobody": None,
                }
    finally:
        led.close()


def test_api_paint(monkeypatch):
    from ledger.api import paint

    assert paint("late", "red", on=True) == "\x1b[31mlate\x1b[0m"
    assert paint("late", "red", bold=True, on=True) == "\x1b[31m\x1b[1mlate\x1b[0m"
    assert paint("late", None, on=True) == "late"
    assert paint("late", "red") == "late"  # stdout is not a terminal under pytest
    monkeypatch.setattr("ledger.terminal.is_terminal", lambda stream: True)
    assert paint("late", "red") == "\x1b[31mlate\x1b[0m"
    monkeypatch.setenv("NO_COLOR", "1")
    assert paint("late", "red") == "late"


def _completions(cli: Any, callback: Any, incomplete: str) -> list[str]:
    """What `callback` offers for an option of a probe command, through click's completion."""
    from click.shell_completion import ShellComplete

    @click.command(name="probe")
    @click.option("--who", shell_complete=callback)
    def probe(who: str | None) -> None:
        """Probe."""

    group = click.Group("referral-ledger", commands={"probe": probe}, params=ledger.cli.cli.params)
    complete = ShellComplete(group, {}, "referral-ledger", "_COMPLETE")
    return [
        c.value for c in complete.get_completions(["--db", cli.db, "probe", "--who"], incomplete)
    ]


def test_api_complete_handles(cli, tmp_path):
    from ledger.api import complete_handles

    people(cli, "ana", "anton", "bo")
    assert _completions(cli, complete_handles, "an") == ["ana", "anton"]
    assert _completions(cli, complete_handles, "") == ["ana", "anton", "bo"]
    nowhere = str(tmp_path / "none.db")

    class Missing:
        db = nowhere

    assert _completions(Missing, complete_handles, "a") == []  # no ledger: nothing, no error
    assert not (tmp_path / "none.db").exists()


def test_api_complete_referrals(cli, tmp_path):
    from ledger.api import complete_referrals

    people(cli, "ana", "bo")
    for key in ("r1", "r2", "s1"):
        cli.ok("request", key, "--by", "ana", "--referrer", "bo", "--company", "Acme")
    assert _completions(cli, complete_referrals, "r") == ["r1", "r2"]

    class Missing:
        db = str(tmp_path / "none.db")

    assert _completions(Missing, complete_referrals, "") == []
    assert not (tmp_path / "none.db").exists()


def test_api_time_options(use, cli):
    from ledger.api import time_options

    @time_options
    def probe(as_of: int, known_at: int | None) -> None:
        click.echo(json.dumps([as_of, known_at]))

    use(probe=command(probe))
    given = cli.ok("probe", "--as-of", "2026-10-02T15:00:00Z", "--known-at", "2026-10-03T00:00Z")
    assert json.loads(given.stdout) == [1790953200000000, 1790985600000000]
    import time

    before = time.time_ns() // 1000
    as_of, known_at = json.loads(cli.ok("probe").stdout)
    assert before <= as_of <= time.time_ns() // 1000 and known_at is None
    refused = cli.refused("probe", "--as-of", "the day before")
    assert refused.stderr.startswith("Error: --as-of: ")
    # friendly dates too: a day means through its end (the system's time zone here: UTC)
    day = cli.ok("probe", "--as-of", "2026-10-02", "--known-at", "2026-10-03")
    assert json.loads(day.stdout) == [1790985600000000 - 1, 1790985600000000 + 86_400_000_000 - 1]


def test_api_parse_time(use, cli, tmp_path):
    from datetime import UTC, datetime

    from ledger.api import LedgerError, micros, parse_time

    def probe() -> None:
        for value, through in (("2026-10-02T10:00:00+02:00", False), ("2026-10-02", True)):
            click.echo(parse_time(value, option="--on", through_day=through))
        try:
            parse_time("next tuesday", option="--on")
        except LedgerError as exc:
            click.echo(exc.message)

    use(probe=command(probe))
    config = tmp_path / "tz.toml"
    config.write_text('timezone = "Asia/Tokyo"\n')
    iso, day, refused = cli.ok("--config", str(config), "probe").stdout.splitlines()
    assert int(iso) == micros("2026-10-02T08:00:00Z")
    assert int(day) == micros("2026-10-02T14:59:59.999999Z")  # the end of 2 October in Tokyo
    assert refused.startswith("--on: 'next tuesday' is not an ISO 8601 timestamp")
    assert "N days ago" in refused

    def moment() -> None:
        click.echo(parse_time("yesterday", option="--at"))

    use(moment=command(moment, "moment"))
    now = datetime.now(UTC).timestamp() * 1_000_000
    assert abs(int(cli.ok("moment").stdout) - (now - 86_400 * 1_000_000)) < 60 * 1_000_000


def test_api_check_output(use, cli, tmp_path):
    from ledger.api import check_output

    def probe() -> None:
        check_output(str(tmp_path / "out.txt"), "--out")
        check_output(cli.db, "--out")

    use(probe=command(probe))
    people(cli, "ana")
    if "://" not in cli.db:  # a PostgreSQL ledger has no file of its own
        refused = cli.refused("probe")
        assert refused.stderr.startswith(f"Error: --out {cli.db}: is the ledger's own file")
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "elsewhere.txt")

    def linked() -> None:
        check_output(str(link))

    use(linked=command(linked, "linked"))
    assert "is a symbolic link" in cli.refused("linked").stderr
    assert not (tmp_path / "elsewhere.txt").exists()


def test_api_replacing_output(use, cli, tmp_path):
    from ledger.api import LedgerError, replacing_output

    target = tmp_path / "out.txt"
    target.write_text("old\n")

    def probe() -> None:
        with replacing_output(str(target)) as out:
            out.write(b"new\n")

    def broken() -> None:
        with replacing_output(str(target)) as out:
            out.write(b"half")
            raise LedgerError("stopped half way")

    use(probe=command(probe), broken=command(broken, "broken"))
    cli.refused("broken")
    assert target.read_text() == "old\n"  # nothing half written
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == ["out.txt"]
    cli.ok("probe")
    assert target.read_text() == "new\n"


def test_api_hookimpl(use, cli):
    import ledger
    from ledger.api import hookimpl

    assert hookimpl is ledger.hookimpl
    seen: list[str] = []

    class Watcher:
        @hookimpl
        def event_recorded(self, event: Mapping[str, Any]) -> None:
            seen.append(event["type"])

    use(watcher=Watcher())
    people(cli, "ana")
    assert seen == ["person-added"]


# -- errors -------------------------------------------------------------------------------------


def test_api_LedgerError(use, cli):
    from ledger.api import LedgerError, get_ledger

    def probe() -> None:
        get_ledger()
        raise LedgerError("that goal is not allowed")

    use(probe=command(probe))
    people(cli, "ana")
    refused = cli.refused("probe")
    assert refused.stderr == "Error: that goal is not allowed\n"
    assert LedgerError(["a", "b"]).message == "a; b"
    assert [e["handle"] for e in cli.export()] == ["ana"]


def test_api_ExitCode(use, cli):
    from ledger.api import ExitCode

    def check() -> None:  # a plugin's check command, as docs/plugins.md shows
        click.get_current_context().exit(ExitCode.FINDINGS)

    use(check=command(check, "check"))
    assert cli("check").exit_code == 1

    # the contract: 0 success, 1 findings (verify, alerts --check), 2 bad input, 3 internal
    assert [(c.name, int(c)) for c in ExitCode] == [
        ("OK", 0),
        ("FINDINGS", 1),
        ("BAD_INPUT", 2),
        ("INTERNAL", 3),
    ]
    people(cli, "ana", "bob", "carol")
    requested(cli)
    assert cli("alerts", "--check", "--as-of", LATER).exit_code == ExitCode.FINDINGS
    assert cli("record", "{").exit_code == ExitCode.BAD_INPUT
    assert cli("alerts", "--check", "--as-of", AT.format(2, "11")).exit_code == ExitCode.OK


def mock_plugin() -> object:
    """A plugin with an event type of its own, built from `ledger.api`'s names."""
    from ledger.api import Event, Handle, Text, hookimpl

    class Mock(Event):
        type: Literal["mock-interview"]
        by: Handle
        with_: Handle = Field(alias="with")
        note: Text | None = None
        handles: ClassVar[tuple[str, ...]] = ("by", "with")

    class Mocks:
        @hookimpl
        def register_event_types(self) -> list[type[Event]]:
            return [Mock]

    return Mocks()


def test_api_UnknownEventType(use, cli, monkeypatch):
    from ledger.api import LedgerError, UnknownEventType

    assert issubclass(UnknownEventType, LedgerError)
    use(mocks=mock_plugin())
    people(cli, "ana", "carol")
    cli.record({"type": "mock-interview", "by": "ana", "with": "carol"})
    monkeypatch.setattr(ledger.plugins, "_default", Plugins())
    led = a_ledger(cli)
    try:
        with pytest.raises(UnknownEventType, match="'mock-interview'.*plugin 'mocks'"):
            list(led.export())
    finally:
        led.close()
    assert "not installed" in cli.refused("export").stderr


# -- the ledger and its writes ------------------------------------------------------------------


def test_api_Ledger(cli, tmp_path):
    from ledger.api import Ledger, LedgerError

    missing = tmp_path / "missing.db"
    with pytest.raises(LedgerError, match="no ledger at"):
        Ledger(str(missing), create=False)
    assert not missing.exists()

    people(cli, "ana", "bob")
    led = Ledger(cli.db)
    try:
        friends = {"type": "connection-declared", "by": "ana", "with": "bob", "kind": "friend"}
        stored = led.record(friends)
        assert stored["seq"] == 3 and stored["hash"] and stored["kind"] == "friend"
        assert led.describe(stored) == "ana knows bob (friend)"
        with pytest.raises(LedgerError, match="unknown person 'zed'"):
            led.record({**friends, "with": "zed"})
        lines = [
            json.dumps({"type": "person-added", "handle": "carol", "name": "Carol"}),
            json.dumps({"type": "person-added", "handle": "BAD", "name": "X"}),
        ]
        with pytest.raises(LedgerError, match="line 2"):
            led.import_lines(lines)  # all or none
        assert [e["seq"] for e in led.export()] == [1, 2, 3]
    finally:
        led.close()


def test_api_ImportResult(cli):
    from ledger.api import ImportResult

    people(cli, "ana")
    led = a_ledger(cli)
    try:
        lines = [
            json.dumps({"type": "person-added", "handle": h, "name": h.title()})
            for h in ("bob", "carol")
        ]
        result = led.import_lines(lines)
        assert isinstance(result, ImportResult)
        assert (result.count, result.first_seq, result.last_seq) == (2, 2, 3)
        assert [e["handle"] for e in result.stored] == ["bob", "carol"]
        again = led.import_lines([json.dumps(result.stored[0])])  # already stored: a no-op
        assert (again.count, again.first_seq, again.last_seq, again.stored) == (0, None, None, [])
    finally:
        led.close()


def test_api_ledger_event_ids(sqlite_db, tmp_path):
    from ledger.api import Ledger, ledger_event_ids

    led = Ledger(sqlite_db)
    led.record({"type": "person-added", "handle": "ana", "name": "Ana", "id": "add-ana"})
    led.close()
    from pathlib import Path

    path = Path(sqlite_db)
    before = path.read_bytes()
    assert ledger_event_ids(path) == {"add-ana"}
    assert path.read_bytes() == before  # read without changing anything
    other = tmp_path / "notes.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, just text " * 10)
    assert ledger_event_ids(other) is None and ledger_event_ids(text) is None


def test_api_find_event(cli):
    from ledger.api import LedgerError, find_event

    people(cli, "ana", "bob")
    declared = declare(cli, "ana", "bob", "friend", 2, id="decl-0001-ana")
    declare(cli, "bob", "ana", "friend", 2, id="decl-0002-bob")
    led = a_ledger(cli)
    try:
        assert find_event(led, "decl-0001-ana")["id"] == "decl-0001-ana"  # the whole id
        assert find_event(led, "decl-0001") == declared  # a unique prefix, as exported
        assert find_event(led, "seq:1")["id"] == "add-ana"
        assert find_event(led, "last")["id"] == "decl-0002-bob"
        for reference, problem in (
            ("decl-000", "ambiguous"),
            ("decl", "at least 8 characters"),
            ("nothing-like-it", "no stored event"),
            ("seq:9", "no stored event has seq 9"),
            ("seq:one", "seq:N"),
        ):
            with pytest.raises(LedgerError, match=problem):
                find_event(led, reference)
    finally:
        led.close()
    cli.ok("retract", "last", "--by", "bob", "--reason", "a mistake")
    led = a_ledger(cli)
    try:
        # a retraction is never `last`, nor is what it retracted
        assert find_event(led, "last")["id"] == "decl-0001-ana"
    finally:
        led.close()


# -- event types and relationship kinds ---------------------------------------------------------


def test_api_Event(cli, use):
    import ledger
    from ledger.api import Event

    assert Event is ledger.Event
    use(mocks=mock_plugin())
    people(cli, "ana", "carol")
    led = a_ledger(cli)
    try:
        model = led.types["mock-interview"]
        assert issubclass(model, Event)
        assert model.handles == ("by", "with") and model.personal == ("note",)
        assert model.people() == ("by", "with")
        record = {"type": "mock-interview", "by": "ana", "with": "carol"}
        assert model.describe(record) == "mock-interview (ana)"
        assert model.aggregate(record) == ("person", "ana")
        assert model.aggregate({**record, "referral": "r1"}) == ("referral", "r1")
    finally:
        led.close()
    assert "unknown field" in cli.refused("record", json.dumps({**record, "x": 1})).stderr


def test_api_Handle(cli, use):
    from ledger.api import Handle  # noqa: F401  (the field type of mock_plugin's `by`, `with`)

    use(mocks=mock_plugin())
    people(cli, "ana", "carol")
    mock = {"type": "mock-interview", "by": "ana"}
    bad = cli.refused("record", json.dumps({**mock, "with": "Ca rol"}))
    assert "must be 1-64 characters" in bad.stderr
    unknown = cli.refused("record", json.dumps({**mock, "with": "zed"}))
    assert "unknown person 'zed'" in unknown.stderr
    # checked like the built-in handles: the same message as a connection-declared's `with`
    builtin = {"type": "connection-declared", "by": "ana", "with": "Ca rol", "kind": "friend"}
    assert "must be 1-64 characters" in cli.refused("record", json.dumps(builtin)).stderr
    assert cli.record({**mock, "with": "carol"})["with"] == "carol"


def test_api_Text(cli, use):
    from ledger.api import Text  # noqa: F401  (the field type of mock_plugin's `note`)

    use(mocks=mock_plugin())
    people(cli, "ana", "carol")
    mock = {"type": "mock-interview", "by": "ana", "with": "carol"}
    bell = cli.refused("record", json.dumps({**mock, "note": "a\x07b"}))
    assert "control character" in bell.stderr
    too_long = cli.refused("record", json.dumps({**mock, "note": "x" * 4001})).stderr
    assert "4000" in too_long
    # the same limits as a built-in `note`
    builtin = {"type": "connection-declared", "by": "ana", "with": "carol", "kind": "friend"}
    assert "4000" in cli.refused("record", json.dumps({**builtin, "note": "x" * 4001})).stderr
    assert cli.record({**mock, "note": "line one\n\tline two"})["note"] == "line one\n\tline two"


def test_api_KINDS(cli):
    from ledger.api import KINDS

    # the contract, weakest first
    assert KINDS == (
        "linkedin-only",
        "met-once",
        "acquaintance",
        "worked-together",
        "friend",
        "managed",
        "reported-to",
        "family",
    )
    people(cli, "ana", "bob")
    for kind in KINDS:
        assert declare(cli, "ana", "bob", kind, 2)["kind"] == kind
    pal = {"type": "connection-declared", "by": "ana", "with": "bob", "kind": "pal"}
    assert "kind" in cli.refused("record", json.dumps(pal)).stderr


def test_api_KIND_RANK():
    from ledger.api import KIND_RANK, KINDS

    assert KIND_RANK == {kind: i for i, kind in enumerate(KINDS)}
    assert KIND_RANK["linkedin-only"] == 0 and KIND_RANK["family"] == len(KINDS) - 1
    # a position, not a strength: friend sits below managed in KINDS, yet is stronger
    from ledger.api import STRENGTH

    assert KIND_RANK["friend"] < KIND_RANK["managed"]
    assert STRENGTH["friend"] > STRENGTH["managed"]


def test_api_WEAK_KINDS():
    from ledger.api import KINDS, STRENGTH, WEAK_KINDS

    assert WEAK_KINDS == {"linkedin-only", "met-once"}
    assert set(WEAK_KINDS) == set(KINDS[:2])
    assert all(STRENGTH[k] < STRENGTH["acquaintance"] for k in WEAK_KINDS)


# -- relationship accounts ----------------------------------------------------------------------


def test_api_STRENGTH():
    from ledger.api import KINDS, STRENGTH

    # the contract's strength ranks
    assert dict(STRENGTH) == {
        "linkedin-only": 0,
        "met-once": 1,
        "acquaintance": 2,
        "worked-together": 3,
        "managed": 3,
        "reported-to": 3,
        "friend": 4,
        "family": 4,
    }
    assert set(STRENGTH) == set(KINDS)
    with pytest.raises(TypeError):
        STRENGTH["friend"] = 0  # type: ignore[index]


def view_of(cli: Any, known_at: int | None = None) -> Any:
    from ledger.api import View

    return View(a_ledger(cli), known_at)


def test_api_relationship(cli):
    from ledger.api import Relationship, micros, relationship

    people(cli, "ana", "bob", "carol")
    declare(cli, "ana", "bob", "met-once", 2)
    requested(cli, relationship="friend")
    declare(cli, "bob", "ana", "acquaintance", 4)
    declare(cli, "ana", "carol", "family", 5)  # another pair
    view = view_of(cli)
    try:
        found = relationship(view, "ana", "bob")
        assert isinstance(found, Relationship) and found.people == ("ana", "bob")
        assert [(a.by, a.kind, a.type) for a in found.accounts] == [
            ("ana", "friend", "referral-requested"),  # 10:00, before the declaration at 12:00
            ("ana", "met-once", "connection-declared"),
            ("bob", "acquaintance", "connection-declared"),
        ]
        assert relationship(view, "bob", "ana").people == ("bob", "ana")
        assert found.start() == micros(AT.format(2, "10"))  # the request's `friend`
    finally:
        view.ledger.close()


def test_api_relationships(cli):
    from ledger.api import relationships

    people(cli, "ana", "bob", "carol", "dan")
    declare(cli, "ana", "dan", "friend", 2)
    requested(cli)  # bob and carol: the referral's other parties
    view = view_of(cli)
    try:
        found = relationships(view, "ana")
        assert sorted(found) == ["bob", "carol", "dan"]
        assert [a.kind for a in found["dan"].accounts] == ["friend"]
        assert found["carol"].accounts == []  # a party, with no account given
        assert found["bob"].people == ("ana", "bob")
    finally:
        view.ledger.close()


def test_api_Relationship(cli):
    from ledger.api import micros, relationship

    people(cli, "ana", "bob")
    declare(cli, "ana", "bob", "linkedin-only", 2)
    declare(cli, "bob", "ana", "worked-together", 4, since="2020-01-15")
    declare(cli, "ana", "bob", "friend", 6)
    view = view_of(cli)
    try:
        rel = relationship(view, "ana", "bob")
        day = [micros(AT.format(d, "12")) for d in (2, 4, 6)]
        assert rel.moments() == day
        assert [a.kind for a in rel.given(day[1])] == ["linkedin-only", "worked-together"]
        assert rel.current("ana", day[1]).kind == "linkedin-only"
        assert rel.current("ana").kind == "friend"
        assert rel.current("bob", day[0]) is None
        assert rel.start(day[0]) is None  # only a weak account so far
        assert rel.start(day[1]) == micros("2020-01-15T00:00:00Z")  # bob's `since`
        assert [(a.at, a.seq) for a in rel.accounts] == sorted((a.at, a.seq) for a in rel.accounts)
    finally:
        view.ledger.close()


def test_api_Account(cli):
    from ledger.api import STRENGTH, Account, micros, relationship

    people(cli, "ana", "bob", "carol")
    declared = declare(cli, "bob", "ana", "met-once", 2, since="2025-03-01")
    vetted = requested(cli, relationship="managed")
    view = view_of(cli)
    try:
        theirs, mine = relationship(view, "ana", "bob").accounts  # by `at`: 10:00, 12:00
    finally:
        view.ledger.close()
    assert isinstance(mine, Account)
    assert (theirs.by, theirs.of, theirs.kind) == ("ana", "bob", "managed")
    assert theirs.type == "referral-requested"
    assert (mine.by, mine.of, mine.kind) == ("bob", "ana", "met-once")
    assert (mine.event, mine.seq) == (declared["id"], declared["seq"])
    assert mine.at == micros(declared["at"])
    assert mine.referral is None and mine.declared and mine.weak
    assert mine.since == micros("2025-03-01T00:00:00Z") == mine.start
    assert (theirs.referral, theirs.declared, theirs.weak) == ("r1", False, False)
    assert theirs.event == vetted["id"] and theirs.since is None and theirs.start == theirs.at
    assert (mine.strength, theirs.strength) == (STRENGTH["met-once"], 3)


def test_api_lacking_preparation():
    from ledger.api import lacking_preparation

    full = {
        "researched_company": True,
        "researched_person": True,
        "questions": ["What does the team ship?"],
        "follow_up_plan": "Write on Friday",
    }
    assert lacking_preparation({"preparation": full}) == []
    assert lacking_preparation({}) == [
        "research on the company",
        "research on the person",
        "a question to ask",
        "a follow-up plan",
    ]
    # Empty questions are none; an erased list still was a question.
    assert lacking_preparation({"preparation": {**full, "questions": ["", ""]}}) == [
        "a question to ask"
    ]
    assert lacking_preparation({"preparation": {**full, "questions": {"forgotten": True}}}) == []
    # Naming a role asks for qualifications too.
    assert lacking_preparation({"role": "SRE", "preparation": full}) == [
        "qualifications for the role"
    ]
    assert (
        lacking_preparation({"role": "SRE", "preparation": {**full, "qualifications": "x"}}) == []
    )


def test_api_request_as_of():
    from ledger.api import micros, request_as_of

    request = {
        "type": "referral-requested",
        "referral": "r1",
        "by": "ana",
        "referrer": "bob",
        "company": "Acme",
        "goal": "backend",
        "preparation": {"resume": True},
        "id": "req",
        "at": AT.format(2, "10"),
        "seq": 4,
    }
    amended = {
        "type": "request-amended",
        "referral": "r1",
        "by": "ana",
        "goal": "platform",
        "preparation": {"portfolio": True},
        "id": "amend",
        "at": AT.format(5, "10"),
        "seq": 6,
    }
    events = [request, amended]
    assert request_as_of([amended]) is None  # no live request
    before = request_as_of(events, micros(AT.format(3, "10")))
    assert before is not None and before["goal"] == "backend"
    after = request_as_of(events, micros(AT.format(5, "10")))
    assert after["goal"] == "platform"
    assert after["preparation"] == {"resume": True, "portfolio": True}
    assert (after["id"], after["at"], after["seq"]) == ("req", request["at"], 4)
    assert request_as_of(events)["goal"] == "platform"  # every amendment when None
    assert request["goal"] == "backend"  # the events are left as they were


# -- settings -----------------------------------------------------------------------------------


def test_api_settings(use, cli, tmp_path):
    from ledger.api import Settings, settings

    def probe() -> None:
        found = settings()
        assert isinstance(found, Settings)
        click.echo(found.due["request-unanswered"])

    use(probe=command(probe))
    assert cli.ok("probe").stdout == "7\n"  # the contract's default
    config = tmp_path / "due.toml"
    config.write_text("[due]\nrequest-unanswered = 2\n")
    assert cli.ok("--config", str(config), "probe").stdout == "2\n"
    default = tmp_path / "config" / "referral-ledger" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text("[due]\nrequest-unanswered = 5\n")
    assert cli.ok("probe").stdout == "5\n"  # the default file, when no --config


def test_api_person_facts(use, cli):
    from ledger.api import hookimpl, micros, person_facts

    class Counted:
        @hookimpl
        def person_facts(self, handle, as_of, known_at):
            return {"asked": [handle, as_of, known_at]}

    use(counted=Counted())
    people(cli, "ana")
    led = a_ledger(cli)
    try:
        found = person_facts(led, "ana", as_of=micros(LATER), known_at=None)
        assert found["asked"] == ["ana", micros(LATER), None]
        # the reputation plugin's too
        assert set(found["scores"]) == {"as_requester", "as_referrer", "as_target"}
        assert found["scores"]["as_requester"]["score"] == 50  # nothing done yet
        taken = person_facts(led, "ana", as_of=micros(LATER), known_at=None, taken=["asked"])
        assert "asked" not in taken and "scores" in taken
    finally:
        led.close()


def test_api_me(use, cli, tmp_path, monkeypatch):
    from ledger.api import get_ledger, me

    def probe() -> None:
        click.echo(repr(me()))
        click.echo(me(get_ledger()))

    use(probe=command(probe))
    people(cli, "ana", "bob")
    config = tmp_path / "me.toml"
    config.write_text('me = "ana"\n\n[due]\nrequest-unanswered = 3\n')
    assert cli.ok("--config", str(config), "probe").stdout == "'ana'\nana\n"
    monkeypatch.setenv("REFERRAL_LEDGER_ME", "bob")  # the environment wins
    assert cli.ok("--config", str(config), "probe").stdout == "'bob'\nbob\n"
    monkeypatch.setenv("REFERRAL_LEDGER_ME", "zed")
    refused = cli.refused("--config", str(config), "probe")
    assert refused.stderr == (
        "Error: REFERRAL_LEDGER_ME names 'zed', who is not a person in this ledger\n"
    )
    monkeypatch.delenv("REFERRAL_LEDGER_ME")
    assert cli.ok("probe").stdout == "None\n\n"  # nobody said who they are
    config.write_text("me = 7\n")
    assert "`me` must be a person's handle" in cli.refused("--config", str(config), "probe").stderr


def test_api_Settings():
    from ledger.api import Settings

    # The core declares no key of its own: the enabled plugins' declarations fill `due` in.
    assert dict(Settings().due) == {}
    default = Settings(due={"follow-up-overdue": 3, "thank-you-missing": 7})
    assert default.due["follow-up-overdue"] == 3
    assert default.due_micros("follow-up-overdue") == 3 * 86_400 * 1_000_000
    faster = Settings(due={**default.due, "follow-up-overdue": 0.5})
    assert faster.due_micros("follow-up-overdue") == 43_200 * 1_000_000
    assert faster.due_signature() != default.due_signature()
    assert "follow-up-overdue=0.5" in faster.due_signature()
    assert Settings(due=dict(default.due)).due_signature() == default.due_signature()


# -- projections and their rows -----------------------------------------------------------------


class Debriefs:
    """A projection of the tests' own: each mock interview is owed a debrief after a day."""

    @staticmethod
    def build(fail: list[bool]) -> object:
        from ledger.api import Projection, hookimpl, timestamp

        class Debrief(Projection):
            name = "debriefs"
            category = "alert"

            def parts(self, event: Mapping[str, Any], view: Any) -> Iterable[str]:
                if fail[0]:
                    raise RuntimeError("debriefs are broken")
                return [event["id"]] if event["type"] == "mock-interview" else []

            def derive(self, part: str, view: Any) -> Iterable[Mapping[str, Any]]:
                from ledger.api import micros

                event = view.event(part)
                due = timestamp(micros(event["at"]) + 86_400 * 1_000_000)
                return [
                    {
                        "kind": "debrief-missing",
                        "person": event["by"],
                        "owed_to": event["with"],
                        "role": "requester",
                        "due": due,
                        "message": "debrief owed",
                        "start": due,
                    }
                ]

        mocks = mock_plugin()

        class Plugin(type(mocks)):  # type: ignore[misc]
            @hookimpl
            def register_projections(self) -> list[Projection]:
                return [Debrief()]

        return Plugin()


def test_api_Projection(use, cli):
    import ledger
    from ledger.api import Projection

    assert Projection is ledger.Projection
    use(debriefs=Debriefs.build([False]))
    people(cli, "ana", "carol")
    cli.record({"type": "mock-interview", "by": "ana", "with": "carol", "at": AT.format(2, "10")})
    alerts = cli.json("alerts", "--json", "--as-of", LATER)
    assert [(a["kind"], a["person"], a["owed_to"]) for a in alerts] == [
        ("debrief-missing", "ana", "carol")
    ]
    assert cli.json("alerts", "--json", "--as-of", AT.format(3, "09")) == []  # not due yet


def test_api_Projection_parts_about(use, cli):
    """A view at `--known-at` asking about one person derives only the parts `parts_about`
    names; a projection without it (the default: None) is derived whole, with the same rows."""
    from ledger.api import View, hookimpl

    whole = Debriefs.build([False])
    use(debriefs=whole)
    people(cli, "ana", "bob", "carol")
    cli.record({"type": "mock-interview", "by": "ana", "with": "carol", "at": AT.format(2, "10")})
    cli.record({"type": "mock-interview", "by": "bob", "with": "carol", "at": AT.format(2, "11")})
    now = cli.export()[-1]["recorded_at"]
    asked = ("alerts", "--json", "--as-of", LATER, "--known-at", now, "--person")
    by_ana = cli.json(*asked, "ana")
    assert [(a["kind"], a["person"]) for a in by_ana] == [("debrief-missing", "ana")]
    assert len(cli.json(*asked, "carol")) == 2  # owed to carol

    debrief = type(next(iter(whole.register_projections())))
    calls: list[Any] = []
    derived: list[str] = []

    class Narrow(debrief):  # type: ignore[misc, valid-type]
        def parts_about(
            self, view: View, *, person: str | None = None, referral: str | None = None
        ) -> list[str]:
            calls.append((person, referral))
            mine = view.events_by(person, ["mock-interview"]) if person else []
            return [event["id"] for event in mine]

        def derive(self, part: str, view: Any) -> Any:
            derived.append(part)
            return super().derive(part, view)

    class Plugin(type(whole)):  # type: ignore[misc]
        @hookimpl
        def register_projections(self) -> list[Any]:
            return [Narrow()]

    use(debriefs=Plugin())
    assert cli.json(*asked, "ana") == by_ana
    assert calls == [("ana", None)]
    assert derived == [cli.export()[-2]["id"]]  # ana's interview alone
    # what it does not name is not derived: carol's are owed to her, not by her
    calls.clear()
    derived.clear()
    assert cli.json(*asked, "carol") == []
    assert calls == [("carol", None)] and derived == []


def test_api_ProjectionFailed(use, cli):
    from ledger.api import ProjectionFailed, catch_up

    fail = [False]
    use(debriefs=Debriefs.build(fail))
    people(cli, "ana", "carol")
    fail[0] = True
    cli.record({"type": "mock-interview", "by": "ana", "with": "carol", "at": AT.format(2, "10")})
    failures: list[ProjectionFailed] = []
    led = a_ledger(cli)
    try:
        catch_up(led, on_error=failures.append)
    finally:
        led.close()
    [failure] = failures
    assert (failure.projection, failure.plugin) == ("debriefs", "debriefs")
    assert isinstance(failure.exc, RuntimeError) and str(failure.exc) == "debriefs are broken"
    assert "plugin 'debriefs' failed in projection 'debriefs'" in str(failure)


def alerting(cli: Any) -> None:
    """ana's request to bob goes unanswered: an alert on bob from 9 October."""
    people(cli, "ana", "bob", "carol")
    requested(cli)


def test_api_Row(cli):
    from ledger.api import Row, micros, rows

    alerting(cli)
    led = a_ledger(cli)
    try:
        [row] = rows(led, "alert", as_of=micros(LATER), known_at=None)
    finally:
        led.close()
    assert isinstance(row, Row)
    assert (row.projection, row.category, row.kind) == ("alerts", "alert", "request-unanswered")
    assert (row.referral, row.person, row.owed_to, row.role) == ("r1", "bob", "ana", "referrer")
    # an alert starts just after its due time (2 October + 7 days)
    assert row.start_us == micros("2026-10-09T10:00:00Z") + 1 and row.end_us is None
    assert row.active(micros(LATER)) and not row.active(row.start_us - 1)
    public = row.public()
    assert "start" not in public and "end" not in public and public["kind"] == row.kind
    assert public == cli.json("alerts", "--json", "--as-of", LATER)[0]


def test_api_rows(cli):
    from ledger.api import micros, rows

    alerting(cli)
    vetting = {"type": "request-vetted", "referral": "r1", "by": "bob", "decision": "accept"}
    cli.record({**vetting, "knows_work": True, "at": "2026-10-12T10:00:00Z"})
    led = a_ledger(cli)
    try:
        at = micros("2026-10-10T00:00:00Z")
        [row] = rows(led, "alert", as_of=at, known_at=None)
        assert row.kind == "request-unanswered"
        assert rows(led, "alert", as_of=at, known_at=None, person="ana") == []
        assert rows(led, "alert", as_of=at, known_at=None, involving="ana") == [row]
        assert rows(led, "alert", as_of=at, known_at=None, referral="r2") == []
        assert rows(led, "alert", as_of=micros("2026-10-08T00:00:00Z"), known_at=None) == []
        # after the vetting (12 October) the alert has ended, unless ended rows are asked for
        later = micros("2026-10-13T00:00:00Z")
        assert rows(led, "alert", as_of=later, known_at=None) == []
        assert row.end_us == micros("2026-10-12T10:00:00Z")  # the vetting met it
        assert rows(led, "alert", as_of=later, known_at=None, ended=True) == [row]
        # as known before the vetting was recorded: still unanswered, derived afresh
        request = next(e for e in led.export() if e["seq"] == 4)
        then = micros(request["recorded_at"])
        [before] = rows(led, "alert", as_of=later, known_at=then)
        assert (before.kind, before.person, before.end_us) == (row.kind, "bob", None)
    finally:
        led.close()


def test_api_listed(cli):
    from ledger.api import listed, micros, rows

    people(cli, "ana", "bob", "carol")
    requested(cli, "r2")
    requested(cli, "r1")
    led = a_ledger(cli)
    try:
        found = listed(led, "alert", as_of=micros(LATER), known_at=None)
        assert not isinstance(found, list)  # read as consumed
        keys = [(r.referral, r.kind) for r in found]
        assert keys == sorted(keys)  # same start: by referral, then kind
        assert sorted(keys) == sorted(
            (r.referral, r.kind) for r in rows(led, "alert", as_of=micros(LATER), known_at=None)
        )
        assert [r.public() for r in listed(led, "alert", as_of=micros(LATER), known_at=None)] == (
            cli.json("alerts", "--json", "--as-of", LATER)
        )
    finally:
        led.close()


def test_api_count_rows(cli):
    from ledger.api import count_rows, micros, rows

    people(cli, "ana", "bob", "carol")
    requested(cli, "r1")
    requested(cli, "r2")
    led = a_ledger(cli)
    try:
        at = micros(LATER)
        assert count_rows(led, "alert", as_of=at, known_at=None) == 2
        assert count_rows(led, "alert", as_of=at, known_at=None) == len(
            rows(led, "alert", as_of=at, known_at=None)
        )
        assert count_rows(led, "alert", as_of=at, known_at=None, involving="carol") == 0
        assert count_rows(led, "alert", as_of=micros(AT.format(3, "00")), known_at=None) == 0
    finally:
        led.close()


def test_api_catch_up(cli):
    from ledger.api import catch_up

    alerting(cli)
    led = a_ledger(cli)
    try:
        first = catch_up(led)
        assert first["alerts"] >= 1  # the referral's part, re-derived
        assert led.store.position("alerts")[0] == 4
        assert set(catch_up(led).values()) <= {0}  # nothing new: nothing re-derived
    finally:
        led.close()


def test_api_current(cli, monkeypatch):
    from ledger.api import current

    alerting(cli)
    led = a_ledger(cli)
    try:
        # `only`: those projections alone are brought up to date
        assert current(led, only=["flags"]) is True
        assert led.store.position("flags")[0] == 4
        assert led.store.position("alerts")[0] == 0
        assert current(led) is True
        assert led.store.position("alerts")[0] == 4  # it caught up
    finally:
        led.close()
    if "://" in cli.db:
        return
    # a ledger file this process cannot write (as on a read-only file system), behind its events
    cli.record({"type": "person-added", "handle": "dan", "name": "Dan"})
    import ledger.store.sqlite

    monkeypatch.setattr(ledger.store.sqlite, "_writable", lambda path: False)
    led = a_ledger(cli)
    try:
        assert led.store.read_only
        assert current(led) is False
        assert current(led, only=["alerts"]) is False
        assert led.store.position("alerts")[0] == 4  # nothing written
    finally:
        led.close()


def test_api_stored_rows(cli):
    from ledger.api import current, micros, stored_rows

    alerting(cli)
    led = a_ledger(cli)
    try:
        assert current(led)
        [row] = stored_rows(led, "alert", micros(LATER))
        assert (row.kind, row.person) == ("request-unanswered", "bob")
        assert stored_rows(led, "alert", micros("2026-10-08T00:00:00Z")) == []
        assert stored_rows(led, "alert", micros(LATER), person="ana") == []
        assert stored_rows(led, "flag", micros(LATER)) == []
    finally:
        led.close()


def test_api_stored_people(cli):
    from ledger.api import current, micros, stored_people

    people(cli, "ana", "bob", "carol", "dan")
    requested(cli, "r1")
    other = {"type": "referral-requested", "referral": "r2", "by": "dan", "referrer": "carol"}
    cli.record({**other, "company": "Acme", "at": AT.format(2, "10")})
    led = a_ledger(cli)
    try:
        assert current(led)
        assert stored_people(led, "alert", "request-unanswered", as_of=micros(LATER)) == [
            "bob",
            "carol",
        ]
        early = micros(AT.format(3, "00"))
        assert stored_people(led, "alert", "request-unanswered", as_of=early) == []
        assert stored_people(led, "alert", "no-such-kind", as_of=micros(LATER)) == []
    finally:
        led.close()


def test_api_open_obligations(cli):
    from ledger.api import micros, open_obligations, timestamp

    alerting(cli)  # bob owes ana an answer from 2 October, due 9 October
    led = a_ledger(cli)
    try:
        before = micros("2026-10-05T00:00:00Z")
        [row] = open_obligations(led, as_of=before, known_at=None, involving="ana")
        assert (row.kind, row.person, row.owed_to, row.category) == (
            "request-unanswered",
            "bob",
            "ana",
            "obligation",
        )
        assert timestamp(row.due_us) == "2026-10-09T10:00:00Z" and row.due_us > before
        later = micros(LATER)
        [overdue] = open_obligations(led, as_of=later, known_at=None, referral="r1")
        assert overdue.due_us < later  # overdue, and listed once although also an alert
        assert open_obligations(led, as_of=later, known_at=None, involving="carol") == []
        assert open_obligations(led, as_of=micros(AT.format(1, "00")), known_at=None) == []
        # the same in an earlier view of the ledger, derived afresh
        known = micros("2099-01-01T00:00:00Z")
        again = open_obligations(led, as_of=before, known_at=known, involving="ana")
        assert [(r.kind, r.due_us) for r in again] == [(row.kind, row.due_us)]
    finally:
        led.close()
    cli.record(
        {
            "type": "request-vetted",
            "referral": "r1",
            "by": "bob",
            "decision": "decline",
            "knows_work": True,
            "at": AT.format(4, "10"),
        }
    )
    led = a_ledger(cli)
    try:  # met: no longer open
        assert open_obligations(led, as_of=micros(LATER), known_at=None, referral="r1") == []
    finally:
        led.close()


def test_api_timestamp():
    from ledger.api import micros, timestamp

    assert timestamp(0) == "1970-01-01T00:00:00Z"
    assert timestamp(micros("2026-10-02T15:00:00Z")) == "2026-10-02T15:00:00Z"
    assert timestamp(1_790_953_200_000_001) == "2026-10-02T15:00:00.000001Z"


def test_api_source_version(use, cli, tmp_path):
    """A version from the rules' source: edit the rules and the stored rows are rebuilt, with no
    literal to remember to bump and no new event needed."""
    import importlib.util

    from ledger.api import Projection, hookimpl, micros, source_version, timestamp

    rules = tmp_path / "debrief_rules.py"

    def load(message: str) -> Any:
        rules.write_text(f"MESSAGE = {message!r}\n")
        spec = importlib.util.spec_from_file_location("debrief_rules", rules)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def plugin(module: Any) -> object:
        class Debrief(Projection):
            name = "debriefs"
            category = "alert"
            version = source_version(module)

            def parts(self, event: Mapping[str, Any], view: Any) -> Iterable[str]:
                return [event["id"]] if event["type"] == "mock-interview" else []

            def derive(self, part: str, view: Any) -> Iterable[Mapping[str, Any]]:
                event = view.event(part)
                start = timestamp(micros(event["at"]) + 86_400 * 1_000_000)
                return [
                    {
                        "kind": "debrief-missing",
                        "person": event["by"],
                        "owed_to": event["with"],
                        "message": module.MESSAGE,
                        "start": start,
                    }
                ]

        mocks = mock_plugin()

        class Plugin(type(mocks)):  # type: ignore[misc]
            @hookimpl
            def register_projections(self) -> list[Projection]:
                return [Debrief()]

        return Plugin()

    first = load("debrief owed")
    v1 = source_version(first)
    assert len(v1) == 16 and v1 == source_version(first)  # the same source, the same version
    use(debriefs=plugin(first))
    people(cli, "ana", "carol")
    cli.record({"type": "mock-interview", "by": "ana", "with": "carol", "at": AT.format(2, "10")})
    assert [a["message"] for a in cli.json("alerts", "--json", "--as-of", LATER)] == [
        "debrief owed"
    ]
    second = load("send carol your notes")
    assert source_version(second) != v1
    use(debriefs=plugin(second))
    assert [a["message"] for a in cli.json("alerts", "--json", "--as-of", LATER)] == [
        "send carol your notes"
    ]


# -- views --------------------------------------------------------------------------------------


def test_api_View(cli):
    from ledger.api import View

    people(cli, "ana", "bob", "carol")
    first = requested(cli)
    led = a_ledger(cli)
    try:
        now = View(led)
        assert [e["type"] for e in now.referral("r1")] == ["referral-requested"]
        assert now.person("ana")["name"] == "Ana"
        from ledger.api import micros

        before = View(led, micros(first["recorded_at"]) - 1)
        assert before.referral("r1") == []
        assert before.person("ana") is not None
        # many events by id at once: those the view knows
        found = now.events([first["id"], "add-ana", "no-such-id", first["id"]])
        assert found == {first["id"]: now.event(first["id"]), "add-ana": now.event("add-ana")}
        assert set(before.events([first["id"], "add-ana"])) == {"add-ana"}
    finally:
        led.close()
    # A person as their updates have them, from each update's `at` on; who declared them.
    update = {"type": "person-updated", "handle": "ana", "name": "Ana Ruiz", "company": "Initech"}
    cli.record({**update, "at": AT.format(3, "09"), "id": "upd-ana"})
    declare(cli, "bob", "ana", "friend", 4)
    led = a_ledger(cli)
    try:
        now = View(led)
        assert (now.person("ana")["name"], now.person("ana")["company"]) == ("Ana Ruiz", "Initech")
        assert now.person("ana")["id"] == "add-ana"  # still the person-added's
        earlier = now.person("ana", micros(AT.format(2, "09")))
        assert (earlier["name"], earlier["company"]) == ("Ana", "Acme")
        assert [e["id"] for e in now.person_updates("ana")] == ["upd-ana"]
        assert now.handles() == ["ana", "bob", "carol"]
        assert now.declaring("ana") == ["bob"] and now.declaring("bob") == []
    finally:
        led.close()


def test_api_Parties(cli):
    from ledger.api import Parties, micros

    people(cli, "ana", "bob", "carol")
    request = requested(cli)
    view = view_of(cli)
    try:
        found = view.parties("r1")
    finally:
        view.ledger.close()
    assert isinstance(found, Parties)
    assert (found.requester, found.referrer, found.target) == ("ana", "bob", "carol")
    assert found.request["id"] == request["id"]
    assert found.target_since == micros(request["at"])


def test_api_Roles(cli):
    from ledger.api import Roles, micros

    people(cli, "ana", "bob", "carol")
    request = requested(cli)
    view = view_of(cli)
    try:
        found = view.roles("r1")
        p = view.parties("r1")
        none = view.roles("no-such-referral")
    finally:
        view.ledger.close()
    assert isinstance(found, Roles)
    assert found == (p.requester, p.referrer, p.target, p.target_since, found.asked, found.seq)
    assert (found.requester, found.referrer, found.target) == ("ana", "bob", "carol")
    assert (found.asked, found.seq) == (micros(request["at"]), request["seq"])
    assert none == Roles(None, None, None, None, None, None)


def test_api_parties(cli):
    from ledger.api import micros, parties

    people(cli, "ana", "bob", "carol")
    request = {"type": "referral-requested", "referral": "r1", "by": "ana", "referrer": "bob"}
    cli.record({**request, "company": "Acme", "at": AT.format(2, "10")})
    intro = {"type": "introduction-made", "referral": "r1", "by": "bob", "to": "carol"}
    intro = cli.record({**intro, "at": AT.format(3, "10")})
    view = view_of(cli)
    try:
        found = parties(view.referral("r1"))
        assert found == view.parties("r1")
    finally:
        view.ledger.close()
    # no target in the request: the first introduction's `to`, from its `at`
    assert (found.target, found.target_since) == ("carol", micros(intro["at"]))
    assert parties([]).request is None and parties([]).requester is None


def test_api_micros():
    from ledger.api import micros

    assert micros("1970-01-01T00:00:00Z") == 0
    assert micros("2026-10-02T15:00:00Z") == 1_790_953_200_000_000
    assert micros("2026-10-02T17:00:00+02:00") == micros("2026-10-02T15:00:00Z")
    assert micros("2026-10-02T15:00:00.5Z") == 1_790_953_200_500_000
    with pytest.raises(ValueError):
        micros("2026-02-30T00:00:00Z")


# -- testing ------------------------------------------------------------------------------------


def test_api_Cli(ledger_cli):
    from ledger.api import Cli

    assert isinstance(ledger_cli, Cli)
    run = Cli(ledger_cli.db)
    assert run("export").exit_code == 2  # no ledger yet
    assert run.stored() == []
    stored = run.record({"type": "person-added", "handle": "ana", "name": "Ana"})
    assert stored["seq"] == 1
    assert [e["handle"] for e in run.export()] == ["ana"]
    refused = run.refused("record", "{")
    assert refused.stderr.startswith("Error: ")
    assert run.ok("--help").stdout.startswith("Usage:")
    with pytest.raises(AssertionError):
        run.ok("record", "{")
