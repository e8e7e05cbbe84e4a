"""Who wrote what: `recorded_by` on every event, and a team ledger that the database guards.

On PostgreSQL (REFERRAL_LEDGER_TEST_PG), the tests create real login roles, make them members
with `team add`, and connect as them — through the CLI and with psycopg directly, as any other
client would — to find the server refusing what a member may not do. Roles are cluster-wide:
each test's have unique names and are dropped afterwards. On SQLite, `recorded_by` is `me` or
the login name.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import orjson
import pytest
from conftest import PG_URL, Cli, check_chain, ledger_on_path

from ledger.app import Ledger

ROOT = Path(__file__).resolve().parent.parent
needs_pg = pytest.mark.skipif(
    not PG_URL, reason="PostgreSQL tests need REFERRAL_LEDGER_TEST_PG (a postgresql:// URL)"
)


def _as(url: str, role: str) -> str:
    """The same database and schema, logged in as `role`."""
    parsed = urlparse(url)
    host = parsed.netloc.rpartition("@")[2]
    return urlunparse(parsed._replace(netloc=f"{role}@{host}"))


def _admin_sql(statement: str) -> None:
    import psycopg

    assert PG_URL is not None
    with psycopg.connect(PG_URL.split("?")[0], autocommit=True) as conn:
        conn.execute(statement)


class Team:
    """A fresh schema and a set of fresh login roles, each reachable as a `Cli`."""

    def __init__(self, schema: str, tag: str):
        assert PG_URL is not None
        sep = "&" if "?" in PG_URL else "?"
        self.schema = schema
        self.tag = tag
        self.url = f"{PG_URL}{sep}schema={schema}"
        self.owner = Cli(self.url)
        self.roles: list[str] = []

    def role(self, name: str) -> str:
        """A new login role (unique to this test), named after `name`."""
        role = f"rl_{self.tag}_{name}"
        _admin_sql(f'CREATE ROLE "{role}" LOGIN')
        self.roles.append(role)
        return role

    def cli(self, role: str) -> Cli:
        return Cli(_as(self.url, role))

    def member(self, name: str, *flags: str) -> tuple[str, Cli]:
        """A login role made a member with handle `name`, and the CLI logged in as it."""
        role = self.role(name)
        self.owner.ok("team", "add", role, "--handle", name, *flags)
        return role, self.cli(role)

    def connect(self, role: str) -> Any:
        """psycopg, connected as `role`, with the ledger's schema first on its search path."""
        import psycopg

        assert PG_URL is not None
        conn = psycopg.connect(_as(PG_URL.split("?")[0], role), autocommit=True)
        conn.execute(f'SET search_path TO "{self.schema}"')
        return conn

    def drop(self) -> None:
        _admin_sql(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        for role in self.roles:
            _admin_sql(f'DROP OWNED BY "{role}"')
            _admin_sql(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
def team() -> Iterator[Team]:
    tag = uuid.uuid4().hex[:10]
    found = Team(f"t_team_{tag}", tag)
    try:
        yield found
    finally:
        found.drop()


def person(cli: Cli, handle: str, **fields: Any) -> dict[str, Any]:
    return cli.record({"type": "person-added", "handle": handle, "name": handle.title(), **fields})


def referral(cli: Cli, key: str, by: str, referrer: str, target: str) -> dict[str, Any]:
    return cli.record(
        {
            "type": "referral-requested",
            "referral": key,
            "by": by,
            "referrer": referrer,
            "target": target,
            "company": "Acme",
        }
    )


def refused(cli: Cli, *args: str) -> str:
    """Run a command that the server must refuse; the ledger keeps what it held."""
    before = len(cli.export())
    message = cli.refused(*args).stderr
    assert len(cli.export()) == before
    return message


# -- SQLite: the configured identity, or the login name -----------------------------------------


def test_sqlite_events_are_recorded_by_me(sqlite_cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFERRAL_LEDGER_ME", "ana")
    stored = person(sqlite_cli, "ana")
    assert stored["recorded_by"] == "ana"
    [exported] = sqlite_cli.export()
    assert exported["recorded_by"] == "ana"


def test_sqlite_events_are_recorded_by_the_login_name(
    sqlite_cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REFERRAL_LEDGER_ME", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "carol-login")
    assert person(sqlite_cli, "ana")["recorded_by"] == "carol-login"

    def no_login() -> str:
        raise OSError("no passwd entry")

    monkeypatch.setattr(getpass, "getuser", no_login)
    assert person(sqlite_cli, "bob")["recorded_by"] == f"uid-{os.getuid()}"
    monkeypatch.setattr(getpass, "getuser", lambda: "bell\x07")  # LOGNAME may hold anything
    assert person(sqlite_cli, "cy")["recorded_by"] == f"uid-{os.getuid()}"
    assert sqlite_cli.json("verify", "--json")["ok"] is True


def test_recorded_by_is_covered_by_the_chain(sqlite_cli: Cli, tmp_path: Path) -> None:
    person(sqlite_cli, "ana")
    person(sqlite_cli, "bob")
    lines = sqlite_cli.ok("export").stdout
    restored = Cli(str(tmp_path / "restored.db"))
    restored.ok("import", "-", input=lines)
    assert restored.ok("export").stdout == lines  # a restore keeps who stored each event

    forged = lines.replace('"recorded_by":"', '"recorded_by":"x', 1)
    assert forged != lines
    message = Cli(str(tmp_path / "forged.db")).refused("import", "-", input=forged).stderr
    assert "line 1: hash: does not match" in message


def test_recorded_by_is_checked_like_recorded_at(sqlite_cli: Cli, tmp_path: Path) -> None:
    stored = person(sqlite_cli, "ana")
    again = Cli(str(tmp_path / "other.db"))
    for bad in (1, "", None, "a\x07b", "x" * 129):
        line = orjson.dumps({**stored, "recorded_by": bad}).decode()
        assert "recorded_by: must be" in again.refused("import", "-", input=line).stderr
    # one new event may not say who stores it: the ledger does
    fresh = {"type": "person-added", "handle": "bob", "name": "Bob", "recorded_by": "mallory"}
    message = sqlite_cli.refused("record", orjson.dumps(fresh).decode()).stderr
    assert "recorded_by: given, but the ledger sets it" in message
    # a stored one, given again, must name who stored it
    lie = {**stored, "recorded_by": "mallory"}
    message = sqlite_cli.refused("record", orjson.dumps(lie).decode()).stderr
    assert f"recorded by {stored['recorded_by']!r}" in message
    sqlite_cli.ok("record", orjson.dumps(stored).decode())  # the same: a no-op


def test_an_import_into_a_used_ledger_is_recorded_by_the_importer(
    sqlite_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFERRAL_LEDGER_ME", "ana")
    first = Cli(str(tmp_path / "first.db"))
    person(first, "bob")
    person(sqlite_cli, "ana")
    monkeypatch.setenv("REFERRAL_LEDGER_ME", "carol")
    sqlite_cli.ok("import", "-", input=first.ok("export").stdout)
    assert [e["recorded_by"] for e in sqlite_cli.export()] == ["ana", "carol"]


def test_a_0_1_export_restores_without_recorded_by(tmp_path: Path) -> None:
    old = ROOT / "tests" / "fixtures" / "old" / "ledger-0.1.0.jsonl"
    lines = old.read_bytes()
    assert b"recorded_by" not in lines
    restored = Cli(str(tmp_path / "restored.db"))
    restored.ok("import", str(old))
    assert restored.ok("export").stdout_bytes == lines
    assert restored.json("verify", "--json")["ok"] is True


def test_a_0_1_ledger_gains_recorded_by_on_first_write_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import sqlite3

    import ledger.store.sqlite

    source = ROOT / "tests" / "fixtures" / "old" / "ledger-0.1.0.db"
    old = ROOT / "tests" / "fixtures" / "old" / "ledger-0.1.0.jsonl"
    copy = tmp_path / "old.db"
    shutil.copyfile(source, copy)

    def columns() -> set[str]:
        with sqlite3.connect(copy) as conn:
            return {r[0] for r in conn.execute("SELECT name FROM pragma_table_info('rl_log')")}

    with monkeypatch.context() as read_only:
        read_only.setattr(ledger.store.sqlite, "_writable", lambda path: False)
        assert Cli(str(copy)).ok("export").stdout_bytes == old.read_bytes()
        assert Cli(str(copy)).json("verify", "--json")["ok"] is True
    assert "recorded_by" not in columns()  # read only: nothing added
    monkeypatch.setenv("REFERRAL_LEDGER_ME", "ana")
    cli = Cli(str(copy))
    stored = person(cli, "newcomer")
    assert "recorded_by" in columns() and stored["recorded_by"] == "ana"
    assert cli.ok("export").stdout_bytes.startswith(old.read_bytes())
    assert cli.json("verify", "--json")["ok"] is True


def test_audit_shows_who_recorded_an_event_when_not_its_by(
    sqlite_cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REFERRAL_LEDGER_ME", "ana")
    for handle in ("ana", "bob", "dev"):
        person(sqlite_cli, handle)
    referral(sqlite_cli, "r1", "ana", "bob", "dev")
    monkeypatch.setenv("REFERRAL_LEDGER_ME", "bob")
    vetted = {"type": "request-vetted", "referral": "r1", "by": "bob", "decision": "accept"}
    sqlite_cli.record({**vetted, "knows_work": True})
    monkeypatch.setenv("REFERRAL_LEDGER_ME", "assistant")
    sqlite_cli.record({"type": "introduction-made", "referral": "r1", "by": "bob", "to": "dev"})
    text = sqlite_cli.ok("audit", "r1").stdout
    lines = [line for line in text.splitlines() if "  seq " in line]
    assert len(lines) == 3
    assert "recorded by" not in lines[0] and "recorded by" not in lines[1]
    assert lines[2].endswith("by bob  (recorded by assistant)")
    events = sqlite_cli.json("audit", "r1", "--json")["events"]
    assert [e["recorded_by"] for e in events] == ["ana", "bob", "assistant"]
    sqlite_cli.ok("audit", "r1", "--html", str(tmp_path / "r1.html"))
    page = (tmp_path / "r1.html").read_text(encoding="utf-8")
    assert page.count("recorded by assistant") == 2  # the step, and the timeline's tip
    assert "recorded by bob" not in page


def test_team_needs_postgresql(sqlite_cli: Cli) -> None:
    person(sqlite_cli, "ana")
    for args in (("team", "list"), ("team", "add", "ana", "--handle", "ana")):
        message = sqlite_cli.refused(*args).stderr
        assert "a team ledger needs PostgreSQL" in message


# -- PostgreSQL: the server takes recorded_by, and guards the team's ledger -----------------------


@needs_pg
def test_before_any_member_the_ledger_is_as_before(team: Team) -> None:
    stored = person(team.owner, "ana")
    assert stored["recorded_by"] == urlparse(PG_URL or "").username
    assert team.owner.json("team", "list", "--json") == []
    ana, _ = team.member("ana")
    team.owner.ok("team", "remove", ana)
    person(team.owner, "bob")  # no member left: the owner writes as before
    assert team.owner.json("verify", "--json")["ok"] is True


@needs_pg
def test_members_are_listed_and_changed(team: Team) -> None:
    ana, _ = team.member("ana", "--admin")
    bob, _ = team.member("bob")
    assert team.owner.json("team", "list", "--json") == [
        {"role": ana, "handle": "ana", "admin": True, "privacy_officer": False},
        {"role": bob, "handle": "bob", "admin": False, "privacy_officer": False},
    ]
    out = team.owner.ok("team", "add", bob, "--handle", "bob", "--privacy-officer").stdout
    assert out == f"Updated member {bob} as bob (privacy officer).\n"
    assert team.owner.json("team", "list", "--json")[1]["privacy_officer"] is True
    assert "already the member role" in team.owner.refused(
        "team", "add", ana, "--handle", "bob"
    ).stderr
    assert "no role" in team.owner.refused("team", "add", f"{ana}_x", "--handle", "x").stderr
    assert "not a person handle" in team.owner.refused("team", "add", ana, "--handle", "A").stderr
    removed = team.owner.json("team", "remove", bob, "--json")
    assert removed == {"role": bob, "handle": "bob", "admin": False, "privacy_officer": True}
    assert "not a member" in team.owner.refused("team", "remove", bob).stderr


@needs_pg
def test_only_an_owner_changes_the_team(team: Team) -> None:
    ana, as_ana = team.member("ana", "--admin")
    other = team.role("eve")
    message = as_ana.refused("team", "add", other, "--handle", "eve").stderr
    assert f"role {ana} may not add members" in message
    assert "need a role that owns the ledger's tables" in message
    assert "may not remove members" in as_ana.refused("team", "remove", ana).stderr


@needs_pg
def test_a_member_records_only_as_itself(team: Team) -> None:
    bob, as_bob = team.member("bob")
    person(as_bob, "bob")
    stored = person(as_bob, "ana")  # a person-added: any member
    assert stored["recorded_by"] == bob
    thanks = {"type": "connection-declared", "by": "ana", "with": "bob", "kind": "friend"}
    message = refused(as_bob, "record", orjson.dumps(thanks).decode())
    assert message == (
        f"Error: role {bob} may not record events by ana: a member records only events by its "
        "own handle, bob\n"
    )
    own = as_bob.record({**thanks, "by": "bob", "with": "ana"})
    assert own["recorded_by"] == bob


@needs_pg
def test_a_non_member_may_not_write_once_there_is_a_team(team: Team) -> None:
    person(team.owner, "ana")
    team.member("ana")
    stranger = team.cli(team.role("eve"))
    message = stranger.refused("record", '{"type":"person-added","handle":"eve","name":"Eve"}')
    assert "permission denied for schema" in message.stderr  # granted nothing: not even reads
    # the owner, not a member either, is refused by the guards (its grants it cannot lose)
    message = team.owner.refused("record", '{"type":"person-added","handle":"eve","name":"E"}')
    assert "is not a member of this ledger's team" in message.stderr


@needs_pg
def test_no_by_events_follow_their_rules(team: Team) -> None:
    ana, as_ana = team.member("ana")
    _, as_bob = team.member("bob")
    _, as_cy = team.member("cy")
    for handle in ("ana", "bob", "dev", "cy"):
        person(as_ana, handle)
    referral(as_ana, "r1", "ana", "bob", "dev")
    held = {"type": "interview-held", "referral": "r1"}
    message = refused(as_cy, "record", orjson.dumps(held).decode())
    assert "may not record a interview-held without by: only a party of its referral may" in (
        message
    )
    assert as_bob.record(held)["type"] == "interview-held"  # the referrer is a party


@needs_pg
def test_retracting_another_members_event_is_refused(team: Team) -> None:
    ana, as_ana = team.member("ana")
    bob, as_bob = team.member("bob")
    _, as_boss = team.member("boss", "--admin")
    person(as_ana, "ana")
    person(as_bob, "bob")
    declared = as_ana.record(
        {"type": "connection-declared", "by": "ana", "with": "bob", "kind": "friend"}
    )
    message = refused(as_bob, "retract", declared["id"], "--by", "bob", "--reason", "not true")
    assert f"role {bob} may not retract event {declared['id']}: it was recorded by {ana}" in message
    as_ana.ok("retract", declared["id"], "--by", "ana", "--reason", "typo")
    again = as_bob.record(
        {"type": "connection-declared", "by": "bob", "with": "ana", "kind": "friend"}
    )
    boss = as_boss.json("retract", again["id"], "--by", "bob", "--reason", "asked", "--json")
    assert boss["by"] == "bob" and boss["recorded_by"] != bob  # the admin, for bob


@needs_pg
def test_forgetting_another_is_refused(team: Team) -> None:
    ana, as_ana = team.member("ana")
    _, as_bob = team.member("bob")
    _, as_officer = team.member("olga", "--privacy-officer")
    for handle in ("ana", "bob", "cy"):
        person(as_ana, handle, email=f"{handle}@example.com")
    message = refused(as_ana, "forget", "bob", "--yes")
    assert message == (
        f"Error: role {ana} (ana) may not forget bob: only bob's own role or a privacy officer "
        "may\n"
    )
    as_bob.ok("forget", "bob", "--yes")
    as_officer.ok("forget", "cy", "--yes")
    exported = {e["handle"]: e for e in as_ana.export() if e["type"] == "person-added"}
    assert set(exported["bob"]["email"]) == {"forgotten"}
    assert set(exported["cy"]["email"]) == {"forgotten"}
    assert exported["ana"]["email"] == "ana@example.com"
    assert as_ana.json("verify", "--json")["ok"] is True


@needs_pg
def test_a_member_cannot_change_stored_rows_with_its_own_client(team: Team) -> None:
    import psycopg

    bob, as_bob = team.member("bob")
    person(as_bob, "bob", email="bob@example.com")
    person(as_bob, "ana", email="ana@example.com")
    events = f'"{team.schema}".referral_ledger_events'
    attempts = [
        "UPDATE rl_log SET actor = 'ana'",
        "DELETE FROM rl_log",
        f"UPDATE {events} SET topic = 'x'",
        f"DELETE FROM {events}",
        "UPDATE rl_private SET data = ''",
        "DELETE FROM rl_private",
        "UPDATE rl_keys SET secret = ''",
        "DELETE FROM rl_keys WHERE handle = 'ana'",
        "DELETE FROM rl_retractions",
        "UPDATE rl_meta SET value = 'x'",
        "TRUNCATE rl_log",
        "INSERT INTO rl_retractions VALUES ('whatever', 1, 1)",
        "INSERT INTO rl_private VALUES ('whatever', 'ana', '')",
        "INSERT INTO rl_team VALUES ('x', 'x', true, true)",
        "ALTER TABLE rl_log DISABLE TRIGGER ALL",
    ]
    with team.connect(bob) as conn:
        for statement in attempts:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        # a forged event, in another's name, straight into the tables
        state = orjson.dumps({"record": {"type": "thank-you-sent", "by": "ana"}})
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="may not record events"):
            conn.execute(
                f"INSERT INTO {events} (originator_id, originator_version, topic, state) "
                "VALUES (gen_random_uuid(), 1, 't', %s)",
                (state,),
            )
        # recorded_by is the session's role, whatever the client says
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="as recorded by"):
            conn.execute(
                "INSERT INTO rl_log (seq, event_id, type, at_us, recorded_us, originator_id, "
                "originator_version, hash, recorded_by) "
                "VALUES (99, 'x', 'person-added', 0, 0, gen_random_uuid(), 1, 'h', 'postgres')"
            )
    assert [e["handle"] for e in as_bob.export()] == ["bob", "ana"]
    assert as_bob.json("verify", "--json")["ok"] is True


@needs_pg
def test_set_role_does_not_change_who_writes(team: Team) -> None:
    import psycopg

    ana, as_ana = team.member("ana", "--admin")
    bob, _ = team.member("bob")
    person(as_ana, "ana")
    _admin_sql(f'GRANT "{ana}" TO "{bob}"')  # bob may act with ana's privileges
    events = f'"{team.schema}".referral_ledger_events'
    state = orjson.dumps({"record": {"type": "thank-you-sent", "by": "ana"}})
    with team.connect(bob) as conn:
        conn.execute(f'SET ROLE "{ana}"')
        assert conn.execute("SELECT session_user").fetchone() == (bob,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=f"role {bob} may not"):
            conn.execute(
                f"INSERT INTO {events} (originator_id, originator_version, topic, state) "
                "VALUES (gen_random_uuid(), 1, 't', %s)",
                (state,),
            )


@needs_pg
def test_an_admin_on_behalf_of_a_member_shows_both_in_audit(team: Team, tmp_path: Path) -> None:
    boss, as_boss = team.member("boss", "--admin")
    bob, as_bob = team.member("bob")
    for handle in ("bob", "ana", "dev"):
        person(as_boss, handle)
    referral(as_bob, "r1", "bob", "ana", "dev")
    thanks = {"type": "thank-you-sent", "referral": "r1", "by": "bob", "to": "ana"}
    thanked = as_boss.record(thanks)
    assert (thanked["by"], thanked["recorded_by"]) == ("bob", boss)
    text = as_bob.ok("audit", "r1").stdout
    request_line, thanks_line = (line for line in text.splitlines() if "  seq " in line)
    assert request_line.endswith("by bob")  # recorded by bob's own member role: said once
    assert thanks_line.endswith(f"by bob  (recorded by {boss})")
    events = as_bob.json("audit", "r1", "--json")["events"]
    assert [(e["by"], e["recorded_by"]) for e in events] == [("bob", bob), ("bob", boss)]
    as_bob.ok("audit", "r1", "--html", str(tmp_path / "r1.html"))
    page = (tmp_path / "r1.html").read_text(encoding="utf-8")
    assert f"recorded by {boss}" in page and f"recorded by {bob}" not in page


@needs_pg
def test_a_member_who_only_reads_brings_derived_rows_up_to_date(team: Team) -> None:
    _, as_ana = team.member("ana", "--admin")
    _, as_bob = team.member("bob")
    for handle in ("ana", "bob", "dev"):
        person(as_ana, handle)
    as_ana.record(
        {
            "type": "referral-requested",
            "referral": "r1",
            "by": "ana",
            "referrer": "bob",
            "target": "dev",
            "company": "Acme",
            "at": "2026-01-01T00:00:00Z",
        }
    )
    alerts = as_bob.json("alerts", "--json")  # catch-up writes the plugins' rows, as bob
    assert [a["kind"] for a in alerts] == ["request-unanswered"]
    assert as_bob.json("replay", "--json")["ok"] is True
    # derived rows stay writable by members: a change to them is what `replay` finds
    with team.connect(team.roles[1]) as conn:
        conn.execute("DELETE FROM rl_rows WHERE category = 'alert'")
    found = as_bob("replay", "--json")
    assert found.exit_code == 1 and orjson.loads(found.stdout)["ok"] is False


@needs_pg
def test_a_removed_member_writes_no_more(team: Team) -> None:
    bob, as_bob = team.member("bob")
    team.member("ana")
    person(as_bob, "bob")
    team.owner.ok("team", "remove", bob)
    message = as_bob.refused("record", '{"type":"person-added","handle":"x","name":"X"}').stderr
    assert "permission denied for schema" in message
    [event] = team.cli(team.roles[1]).export()
    assert event["recorded_by"] == bob  # what it recorded stays, with its name


@needs_pg
def test_a_team_ledger_restores_with_its_recorded_by(team: Team) -> None:
    boss, as_boss = team.member("boss", "--admin")
    person(as_boss, "bob")
    lines = as_boss.ok("export").stdout
    assert f'"recorded_by":"{boss}"' in lines
    restored = Cli(team.url.replace(team.schema, team.schema + "_r"))
    try:
        restored.ok("import", "-", input=lines)
        assert restored.ok("export").stdout == lines
    finally:
        _admin_sql(f'DROP SCHEMA IF EXISTS "{team.schema}_r" CASCADE')


@needs_pg
def test_a_member_cannot_restore_events_recorded_by_others(team: Team) -> None:
    _, as_ana = team.member("ana", "--admin", "--privacy-officer")
    old = ROOT / "tests" / "fixtures" / "old" / "ledger-0.1.0.jsonl"
    message = as_ana.refused("import", str(old)).stderr
    assert "may not record events as recorded by no one" in message
    assert as_ana.export() == []


# One member's writer: imports of its own people in tens, then single declarations by itself.
WORKER = """
import sys
import orjson
from ledger.app import Ledger

db, handle, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
ledger = Ledger(db)
people = [
    orjson.dumps({"type": "person-added", "id": f"{handle}-p{n}", "handle": f"{handle}-p{n}",
                  "name": f"P {n}", "at": "2021-01-01T00:00:00Z"})
    for n in range(count)
]
for start in range(0, count, 10):
    ledger.import_lines(people[start:start + 10])
for n in range(count // 4):
    ledger.record({"type": "connection-declared", "id": f"{handle}-c{n}", "by": handle,
                   "with": f"{handle}-p{n}", "kind": "worked-together"})
ledger.close()
"""


@needs_pg
def test_two_members_writing_at_once_stay_exact(team: Team) -> None:
    per_member = 200
    writers = {}
    for handle in ("ana", "bob"):
        role, cli = team.member(handle)
        person(cli, handle)
        writers[handle] = role
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, _as(team.url, role), handle, str(per_member)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for handle, role in writers.items()
    ]
    failures = [p.communicate(timeout=600)[1].decode()[-2000:] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], failures

    ledger = Ledger(team.url)
    try:
        total = 2 + 2 * (per_member + per_member // 4)
        assert ledger.store.count() == ledger.store.stored_event_count() == total
        seqs = []
        for row, record in check_chain(ledger):
            seqs.append(int(row["seq"]))
            owner = record.get("by") or record["handle"].split("-")[0]
            assert row["recorded_by"] == writers[owner]
        assert seqs == list(range(1, total + 1))
    finally:
        ledger.close()
    assert team.owner.json("verify", "--json")["ok"] is True


# -- docs/team.md, word for word -----------------------------------------------------------------

DOC = ROOT / "docs" / "team.md"
BLOCK = re.compile(r"^```(sh|sql)( refused)?\n(.*?)^```$", re.S | re.M)
# What the tests name differently, as roles are shared by the whole server (whole words).
RENAMED = ("referrals", "rl_ana", "rl_ben", "rl_cleo")


def _doc_blocks(names: dict[str, str]) -> list[tuple[str, bool, str]]:
    text = DOC.read_text(encoding="utf-8")
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    blocks = []
    for kind, refuse, body in BLOCK.findall(text):
        blocks.append((kind, bool(refuse), pattern.sub(lambda m: names[m.group(1)], body)))
    return blocks


PSQL = ("-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1")


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, check=False)


@needs_pg
def test_the_team_guide_runs_as_written(tmp_path: Path) -> None:
    assert PG_URL is not None
    base = urlparse(PG_URL)
    assert (base.hostname, base.port or 5432) == ("127.0.0.1", 5432), "the guide's server"
    tag = uuid.uuid4().hex[:8]
    names = {name: f"{name}_{tag}" for name in RENAMED}
    text = DOC.read_text(encoding="utf-8")
    assert all(re.search(rf"\b{name}\b", text) for name in RENAMED)
    env = {**os.environ, **ledger_on_path(tmp_path)}
    env.pop("REFERRAL_LEDGER_DB", None)
    database = names["referrals"]
    outputs = []
    try:
        for kind, refuse, body in _doc_blocks(names):
            if kind == "sql":
                done = _run(["psql", *PSQL, "-d", database, "-c", body], env)
                assert done.returncode == 0, (body, done.stderr)
                continue
            if not refuse:
                done = _run(["bash", "-e", "-c", body], env)
                assert done.returncode == 0, (body, done.stdout, done.stderr)
                outputs.append(done.stdout)
                continue
            lines = body.strip().splitlines()
            setup = "\n".join(line for line in lines if line.startswith("export "))
            for line in lines:
                if line.startswith("export "):
                    continue
                done = _run(["bash", "-c", f"{setup}\n{line}"], env)
                assert done.returncode != 0, ("not refused", line, done.stdout)
                assert "Error: role" in done.stderr or "ERROR:  role" in done.stderr, (
                    line,
                    done.stderr,
                )
        joined = "".join(outputs)
        assert f"by ben  (recorded by {names['rl_ana']})" in joined  # the admin's audit
        assert "Chain ok" in joined
        assert f'"role": "{names["rl_ana"]}"' in joined  # the last team list --json
        assert names["rl_ben"] not in joined.rsplit("[", 1)[1]
    finally:
        _admin_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        for role in ("rl_ana", "rl_ben", "rl_cleo"):
            _admin_sql(f'DROP ROLE IF EXISTS "{names[role]}"')
