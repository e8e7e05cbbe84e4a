"""Nothing lost silently, nothing downgraded: a ledger's tables emptied or dropped behind its
back, or its privacy mode rewritten, are caught by `verify` (or, for plugins' derived rows, by
`replay`), or change nothing anyone sees; and a client without the master key never writes
plaintext into an encrypted ledger.

The walk enumerates the tables from the database itself, so a table added later is walked too.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import orjson
import pytest
from click.testing import Result
from conftest import PG_URL, Cli, _drop_schema, _pg_url
from pydantic import Field

import ledger.plugins
from ledger import hookimpl
from ledger.crypto import MASTER_KEY_ENV
from ledger.events import Event, Handle, Text
from ledger.plugins import Plugins

STORY = Path(__file__).parent / "fixtures" / "story.jsonl"
AS_OF = "2026-12-01T00:00:00Z"
SEEN = {
    "export": ("export",),
    "alerts": ("alerts", "--json", "--as-of", AS_OF),
    "flags": ("flags", "--json", "--as-of", AS_OF),
}
# What `verify` names when a table it checks lost its rows. A table not listed here (one added
# later) must still be caught, or change nothing anyone sees.
NAMED_WHEN_EMPTIED = {
    "stored_events": "stored event",
    "referral_ledger_events": "stored event",
    "rl_log": "in the log",
    "rl_private": "personal values of",
    "rl_keys": "the key of",
    "rl_meta": "rl_meta",
    "rl_retractions": "retractions",
    "rl_mentions": "rl_mentions",
    "rl_types": "rl_types",
}
DERIVED = {"rl_positions", "rl_rows"}
# The Merkle tree over the log: derived from rl_log alone and built again from it on the next
# writable open, so its loss changes nothing anyone sees (a checkpoint keeps the root it trusts).
TREE = {"rl_tree"}
# Every other read, and a write, on each damaged copy: any answer but a crash (exit 3).
BYSTANDERS = (
    ("reputation", "--json"),
    ("list", "--json"),
    ("show", "ana-acme"),
    ("audit", "ana-acme", "--json"),
    ("checkpoint",),
    ("replay", "--json"),
    ("record", '{"type":"person-added","handle":"yann","name":"Yann Oak"}'),
)


class Rehearsal(Event):
    """A plugin's own event type: its rows in rl_types say which plugin defined it."""

    type: Literal["mock-rehearsal"]
    by: Handle
    with_: Handle = Field(alias="with")
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "with")
    personal: ClassVar[tuple[str, ...]] = ("note",)


class Rehearsals:
    @hookimpl
    def register_event_types(self) -> list[type[Event]]:
        return [Rehearsal]


@pytest.fixture(autouse=True)
def _rehearsals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger.plugins, "_default", Plugins(extra={"rehearsals": Rehearsals()}))


def no_crash(result: Result) -> Result:
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.output, result.stderr)
    assert "Traceback" not in result.output + result.stderr
    return result


def tell(cli: Cli) -> dict[str, str]:
    """The story's fifty-one events (Gina forgotten, two retractions), an event of a plugin's own
    type and its retraction; then what export, alerts and flags print."""
    cli.ok("import", str(STORY))
    cli.record(
        {
            "type": "mock-rehearsal",
            "id": "rehearsal-1",
            "by": "ana",
            "with": "carol",
            "note": "practised the intro pitch",
            "at": "2026-10-21T09:00:00Z",
        }
    )
    cli.record({"type": "event-retracted", "by": "ana", "retracts": "rehearsal-1",
                "reason": "it was a dream", "at": "2026-10-21T10:00:00Z"})  # fmt: skip
    assert cli.json("verify", "--json")["ok"] is True
    return seen(cli)


def seen(cli: Cli) -> dict[str, str]:
    return {name: cli.ok(*args).stdout for name, args in SEEN.items()}


def judged(cli: Cli, before: dict[str, str], table: str, dropped: bool) -> str:
    """Where the damage is found: "verify", "replay", or "unchanged" (nothing anyone sees)."""
    try:
        return _judged(cli, before, table, dropped)
    finally:
        for args in BYSTANDERS:
            no_crash(cli(*args))


def _judged(cli: Cli, before: dict[str, str], table: str, dropped: bool) -> str:
    result = no_crash(cli("verify", "--json"))
    if result.exit_code == 1:
        out = orjson.loads(result.stdout)
        assert out["ok"] is False and out["problems"], out
        messages = " | ".join(p["message"] for p in out["problems"])
        if dropped:
            assert f"table {table} is missing" in messages, messages
            for name, args in SEEN.items():
                refused = no_crash(cli(*args))
                assert refused.exit_code == 2, (name, refused.output)
                assert refused.stderr == (
                    f"Error: the ledger is damaged: table {table} missing; run verify\n"
                ), refused.stderr
        elif table in NAMED_WHEN_EMPTIED:
            assert NAMED_WHEN_EMPTIED[table] in messages, messages
        text = no_crash(cli("verify"))
        assert text.exit_code == 1 and "BROKEN" in text.stdout
        for args in SEEN.values():
            no_crash(cli(*args))
        return "verify"
    assert result.exit_code == 0, result.output
    after = {name: no_crash(cli(*args)).stdout for name, args in SEEN.items()}
    if after == before:
        return "unchanged"
    replayed = no_crash(cli("replay", "--json"))
    assert replayed.exit_code == 1, (table, replayed.stdout)
    return "replay"


# -- SQLite: a copy of the file per case ------------------------------------------------------


def sqlite_tables(path: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        ).fetchall()
    conn.close()
    return [name for (name,) in rows]


def sqlite_run(path: str, statement: str, params: tuple[Any, ...] = ()) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(statement, params)
    conn.close()


def sqlite_meta(path: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM rl_meta ORDER BY name").fetchall()
    conn.close()
    return [name for (name,) in rows]


def copy_of(cli: Cli, tmp_path: Path, name: str) -> Cli:
    target = tmp_path / f"{name}.db"
    shutil.copyfile(cli.db, target)
    return Cli(str(target))


@pytest.mark.parametrize("encrypted", [False, True], ids=["plaintext", "encrypted"])
def test_every_table_emptied_or_dropped_is_found_or_harmless_on_sqlite(
    sqlite_cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encrypted: bool
) -> None:
    if encrypted:
        monkeypatch.setenv(MASTER_KEY_ENV, secrets.token_hex(32))
    before = tell(sqlite_cli)
    tables = sqlite_tables(sqlite_cli.db)
    assert {"rl_log", "rl_private", "rl_keys", "rl_meta", "rl_rows"} <= set(tables)
    outcomes: dict[str, str] = {}
    for table in tables:
        for dropped in (False, True):
            case = copy_of(sqlite_cli, tmp_path, f"{table}-{dropped}")
            sqlite_run(case.db, f"DROP TABLE {table}" if dropped else f"DELETE FROM {table}")
            outcomes[f"{'drop' if dropped else 'delete'} {table}"] = judged(
                case, before, table, dropped
            )
    for row in sqlite_meta(sqlite_cli.db):
        case = copy_of(sqlite_cli, tmp_path, f"meta-{row}")
        sqlite_run(case.db, "DELETE FROM rl_meta WHERE name = ?", (row,))
        outcome = judged(case, before, "rl_meta", dropped=False)
        assert outcome == "verify", row
    # Only plugins' derived rows may be lost without verify; their loss is rebuilt or replayed.
    assert outcomes["delete rl_rows"] == "replay"
    assert outcomes["delete rl_positions"] == "unchanged"
    assert outcomes["drop rl_rows"] == outcomes["drop rl_positions"] == "unchanged"
    assert outcomes["delete rl_tree"] == outcomes["drop rl_tree"] == "unchanged"
    assert {k for k, v in outcomes.items() if v != "verify"} <= {
        f"{op} {name}" for op in ("delete", "drop") for name in DERIVED | TREE
    }, outcomes


def test_dropping_the_private_values_no_longer_forgets_everyone(
    sqlite_cli: Cli, tmp_path: Path
) -> None:
    """0.1: every name became {"forgotten": …}, with no person-forgotten, and verify passed."""
    tell(sqlite_cli)
    checkpoint = tmp_path / "cp.json"
    sqlite_cli.ok("checkpoint", "-o", str(checkpoint))
    emptied = copy_of(sqlite_cli, tmp_path, "emptied")
    sqlite_run(emptied.db, "DELETE FROM rl_private")
    result = emptied("verify", "--json", "--checkpoint", str(checkpoint))
    assert result.exit_code == 1
    messages = [p["message"] for p in orjson.loads(result.stdout)["problems"]]
    assert (
        "the personal values of 'ana' are missing from 8 event(s), "
        "with no person-forgotten for 'ana'" in messages
    ), messages
    assert not any("'gina'" in m for m in messages)  # she was forgotten: nothing to miss

    dropped = copy_of(sqlite_cli, tmp_path, "dropped")
    sqlite_run(dropped.db, "DROP TABLE rl_private")
    refused = dropped.refused("export")
    assert refused.stderr == "Error: the ledger is damaged: table rl_private missing; run verify\n"
    assert dropped.refused("record", '{"type":"person-added","handle":"zed","name":"Zed"}')
    text = dropped("verify", "--checkpoint", str(checkpoint))
    assert text.exit_code == 1
    assert "table rl_private is missing from the database" in text.stdout
    assert sqlite_tables(dropped.db) == sorted(set(sqlite_tables(sqlite_cli.db)) - {"rl_private"})


def test_values_imported_already_erased_are_no_loss(cli: Cli) -> None:
    """A line of an export made after a forget, imported without the forget itself: its values
    came erased, which `verify` tells from values deleted behind the ledger's back."""
    erased = {"forgotten": "ab" * 32}
    cli.record({"type": "person-added", "handle": "gina", "name": erased, "email": erased,
                "company": "Acme", "at": "2026-09-01T09:00:00Z"})  # fmt: skip
    cli.record({"type": "person-added", "handle": "hal", "name": "Hal Ng",
                "at": "2026-09-01T09:00:00Z"})  # fmt: skip
    assert cli.json("verify", "--json")["ok"] is True
    before = cli.ok("export").stdout
    assert orjson.loads(before.splitlines()[0])["name"] == erased
    run_sql(cli, "DELETE FROM rl_private")
    out = orjson.loads(cli("verify", "--json").stdout)
    assert out["ok"] is False
    assert [p["message"] for p in out["problems"]] == [
        f"the personal values of {who!r} are missing from 1 event(s), "
        f"with no person-forgotten for {who!r}"
        for who in ("gina", "hal")
    ]


# -- PostgreSQL: a schema per case, restored from the export ---------------------------------


@pytest.fixture
def pg_schemas() -> Iterator[list[str]]:
    if not PG_URL:
        pytest.skip("PostgreSQL tests need REFERRAL_LEDGER_TEST_PG (a postgresql:// URL)")
    made: list[str] = []
    yield made
    for schema in made:
        _drop_schema(schema)


def pg_run(schema: str, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    import psycopg

    assert PG_URL is not None
    with psycopg.connect(PG_URL.split("?")[0], autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def test_every_table_emptied_or_dropped_is_found_or_harmless_on_postgresql(
    pg_schemas: list[str],
) -> None:
    def fresh() -> tuple[Cli, str]:
        schema = "t_" + uuid.uuid4().hex[:12]
        pg_schemas.append(schema)
        return Cli(_pg_url(schema)), schema

    base, schema = fresh()
    before = tell(base)
    exported = before["export"]
    tables = [
        name
        for (name,) in pg_run(
            schema,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "ORDER BY table_name",
            (schema,),
        )
    ]
    assert {"rl_log", "rl_private", "rl_keys", "rl_meta", "rl_rows"} <= set(tables)
    outcomes: dict[str, str] = {}
    for table in tables:
        for dropped in (False, True):
            case, where = fresh()
            case.ok("import", "-", input=exported)  # the same events, hashes and times
            assert seen(case) == before
            pg_run(where, f'DROP TABLE "{table}"' if dropped else f'DELETE FROM "{table}"')
            outcomes[f"{'drop' if dropped else 'delete'} {table}"] = judged(
                case, before, table, dropped
            )
    case, where = fresh()
    case.ok("import", "-", input=exported)
    pg_run(where, "DELETE FROM rl_meta WHERE name = 'privacy'")
    assert judged(case, before, "rl_meta", dropped=False) == "verify"
    assert outcomes["delete rl_tree"] == outcomes["drop rl_tree"] == "unchanged"
    assert {k for k, v in outcomes.items() if v != "verify"} <= {
        f"{op} {name}" for op in ("delete", "drop") for name in DERIVED | TREE
    }, outcomes


# -- encryption cannot be downgraded -----------------------------------------------------------


def run_sql(cli: Cli, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """One statement on the ledger's database, either backend."""
    if not cli.db.startswith("postgresql"):
        with sqlite3.connect(cli.db) as conn:
            rows = conn.execute(statement, params).fetchall()
        conn.close()
        return rows
    from urllib.parse import parse_qs, urlparse

    schema = parse_qs(urlparse(cli.db).query)["schema"][0]
    return pg_run(schema, statement.replace("?", "%s"), params)


NEWCOMER = orjson.dumps(
    {"type": "person-added", "handle": "zoe", "name": "Zoe Quill", "at": "2026-10-22T09:00:00Z"}
).decode()


@pytest.fixture
def encrypted(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> tuple[Cli, dict[str, str], str]:
    """An encrypted ledger of the story, and what its owner sees with the key."""
    key = secrets.token_hex(32)
    monkeypatch.setenv(MASTER_KEY_ENV, key)
    before = tell(cli)
    before["verify"] = cli.ok("verify", "--json").stdout
    monkeypatch.delenv(MASTER_KEY_ENV)
    return cli, before, key


def unchanged_with_key(cli: Cli, before: dict[str, str], key: str, monkeypatch: Any) -> None:
    monkeypatch.setenv(MASTER_KEY_ENV, key)
    assert seen(cli) == {k: v for k, v in before.items() if k != "verify"}
    monkeypatch.delenv(MASTER_KEY_ENV)


@pytest.mark.parametrize(
    "rows",
    [
        ("privacy",),
        ("privacy", "key_check"),
    ],
    ids=["privacy-row", "both-rows"],
)
def test_deleting_the_encryption_rows_lets_no_keyless_client_write_plaintext(
    encrypted: tuple[Cli, dict[str, str], str], monkeypatch: pytest.MonkeyPatch, rows: Any
) -> None:
    cli, before, key = encrypted
    for name in rows:
        run_sql(cli, "DELETE FROM rl_meta WHERE name = ?", (name,))
    refused = cli.refused("record", NEWCOMER)
    assert refused.stderr == (
        "Error: the ledger is damaged: its privacy mode (the rl_meta row 'privacy') is missing; "
        "run verify\n"
    )
    # Without the key nothing personal is shown, as before: the stored bytes say "encrypted".
    assert "encrypted" in cli.refused("export").stderr
    assert not run_sql(cli, "SELECT handle FROM rl_keys WHERE handle = 'zoe'")
    result = cli("verify", "--json")
    assert result.exit_code == 1
    problems = orjson.loads(result.stdout)["problems"]
    assert {"seq": None, "message": (
        "the ledger's privacy mode (the rl_meta row 'privacy') is missing")} in problems  # fmt: skip
    unchanged_with_key(cli, before, key, monkeypatch)
    monkeypatch.setenv(MASTER_KEY_ENV, key)
    assert "is missing" in cli.refused("record", NEWCOMER).stderr  # the key holder too
    assert cli("verify").exit_code == 1


def test_rewriting_the_mode_to_plaintext_is_refused_and_reported(
    encrypted: tuple[Cli, dict[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, before, key = encrypted
    run_sql(cli, "UPDATE rl_meta SET value = 'plaintext' WHERE name = 'privacy'")
    run_sql(cli, "DELETE FROM rl_meta WHERE name = 'key_check'")
    refused = cli.refused("record", NEWCOMER)
    assert refused.stderr == (
        "Error: the ledger is damaged: rl_meta says its personal data is unencrypted, but it is "
        "stored encrypted; run verify\n"
    )
    assert not run_sql(cli, "SELECT handle FROM rl_keys WHERE handle = 'zoe'")
    out = orjson.loads(cli("verify", "--json").stdout)
    assert out["ok"] is False and out["values_checked"] is False
    assert "rl_meta says the ledger's personal data is unencrypted, but it is stored encrypted" in [
        p["message"] for p in out["problems"]
    ]
    unchanged_with_key(cli, before, key, monkeypatch)


def test_a_plaintext_secret_among_encrypted_ones_is_reported(
    encrypted: tuple[Cli, dict[str, str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an old, keyless or careless client would leave: verify names it, key or no key."""
    cli, _before, key = encrypted
    run_sql(cli, "INSERT INTO rl_keys VALUES (?, ?)", ("zoe", secrets.token_bytes(32)))
    message = "the key of 'zoe' is stored unencrypted, but the ledger keeps personal data encrypted"
    for with_key in (False, True):
        if with_key:
            monkeypatch.setenv(MASTER_KEY_ENV, key)
        result = cli("verify", "--json")
        assert result.exit_code == 1, result.stdout
        assert message in [p["message"] for p in orjson.loads(result.stdout)["problems"]]
    # Export hands out every secret: it refuses the one it cannot vouch for.
    assert "not stored encrypted" in cli.refused("export").stderr


def test_plaintext_values_in_an_encrypted_ledger_are_reported(
    encrypted: tuple[Cli, dict[str, str], str],
) -> None:
    cli, _before, _key = encrypted
    ((event_id, seq),) = run_sql(cli, "SELECT event_id, seq FROM rl_log WHERE seq = 1")
    run_sql(cli, "UPDATE rl_private SET data = ? WHERE event_id = ?", (b'{"name":"Ana"}', event_id))
    result = cli("verify", "--json")
    assert result.exit_code == 1
    out = orjson.loads(result.stdout)
    assert out["first_bad_seq"] == seq
    assert {"seq": seq, "message": (
        f"the personal values of event {event_id!r} are stored unencrypted, "
        "but the ledger keeps personal data encrypted")} in out["problems"]  # fmt: skip


def test_an_untouched_encrypted_ledger_still_takes_writes_with_its_key_from_a_file(
    encrypted: tuple[Cli, dict[str, str], str], tmp_path: Path
) -> None:
    cli, before, key = encrypted
    key_file = tmp_path / "master.key"
    key_file.write_text(key + "\n")
    cli.ok("--master-key-file", str(key_file), "record", NEWCOMER)
    assert cli.json("--master-key-file", str(key_file), "verify", "--json")["ok"] is True
    assert "Zoe Quill" in cli.ok("--master-key-file", str(key_file), "export").stdout
    (secret,) = run_sql(cli, "SELECT secret FROM rl_keys WHERE handle = 'zoe'")[0]
    assert len(bytes(secret)) == 61 and bytes(secret)[:1] == b"\x01"
    assert cli.ok("--master-key-file", str(key_file), "export").stdout.startswith(before["export"])


def test_a_forget_cut_off_the_end_of_the_log_is_caught_without_a_head(cli: Cli) -> None:
    """Removing the newest events is caught only against a head, unless one was a forget:
    then its person's values are gone with nothing to say why."""
    cli.ok("import", str(STORY))
    cli.ok("forget", "ana", "--yes")
    events = "referral_ledger_events" if cli.db.startswith("postgresql") else "stored_events"
    where = "FROM rl_log WHERE type = 'person-forgotten' AND actor = 'ana'"
    ((origin, version),) = run_sql(cli, f"SELECT originator_id, originator_version {where}")
    run_sql(cli, f"DELETE FROM {events} WHERE originator_id = ? AND originator_version = ?",
            (origin, version))  # fmt: skip
    run_sql(cli, f"DELETE {where}")
    result = cli("verify", "--json")
    assert result.exit_code == 1
    out = orjson.loads(result.stdout)
    assert out["events"] == 52 and out["first_bad_seq"] == 1
    assert out["problems"] == [
        {
            "seq": 1,
            "message": "the personal values of 'ana' are missing from 6 event(s), "
            "with no person-forgotten for 'ana'",
        }
    ]
