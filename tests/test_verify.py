"""`verify` and `checkpoint`: a stored ledger is altered behind the ledger's back, and caught.

Each test tampers with the database directly (sqlite3 or psycopg), the way someone with
access to the file or the server could, and checks that `verify` exits 1 naming the first
bad `seq`, without a traceback — and that untouched ledgers pass.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli

STORY: list[dict[str, Any]] = [
    {
        "type": "person-added",
        "handle": "ana",
        "name": "Ana Ruiz",
        "email": "ana@example.org",
        "title": "Engineer",
        "at": "2026-10-01T09:00:00Z",
    },
    {
        "type": "person-added",
        "handle": "carol",
        "name": "Carol Diaz",
        "company": "Acme",
        "at": "2026-10-01T09:00:00Z",
    },
    {
        "type": "person-added",
        "handle": "bob",
        "name": "Bob Stone",
        "company": "Acme",
        "title": "Hiring manager",
        "at": "2026-10-01T09:00:00Z",
    },
    {"type": "person-added", "handle": "dan", "name": "Dan Wu", "at": "2026-10-01T09:00:00Z"},
    {
        "type": "connection-declared",
        "by": "ana",
        "with": "carol",
        "kind": "friend",
        "note": "we met at a <b>meetup</b>",
        "at": "2026-10-02T09:00:00Z",
    },
    {
        "type": "connection-declared",
        "id": "decl-carol",
        "by": "carol",
        "with": "ana",
        "kind": "met-once",
        "at": "2026-10-02T10:00:00Z",
    },
    {
        "type": "referral-requested",
        "id": "req-1",
        "referral": "ana-acme",
        "by": "ana",
        "referrer": "carol",
        "company": "Acme",
        "target": "bob",
        "role": "Backend engineer",
        "goal": "An intro to the platform team",
        "at": "2026-11-02T09:00:00.250000Z",
        "preparation": {
            "researched_company": True,
            "questions": ["How big is the team?"],
            "follow_up_plan": "mail in 3 days",
        },
    },
    {
        "type": "request-vetted",
        "referral": "ana-acme",
        "by": "carol",
        "decision": "accept",
        "knows_work": True,
        "note": "solid",
        "at": "2026-11-03T09:00:00Z",
    },
    {
        "type": "introduction-made",
        "id": "intro-1",
        "referral": "ana-acme",
        "by": "carol",
        "to": "bob",
        "channel": "email",
        "at": "2026-11-04T09:00:00Z",
    },
    {
        "type": "follow-up-sent",
        "id": "fu-1",
        "referral": "ana-acme",
        "by": "ana",
        "to": "bob",
        "at": "2026-11-06T09:00:00Z",
    },
    {
        "type": "event-retracted",
        "referral": "ana-acme",
        "by": "ana",
        "retracts": "fu-1",
        "reason": "wrong day",
        "at": "2026-11-06T10:00:00Z",
    },
    {
        "type": "follow-up-sent",
        "referral": "ana-acme",
        "by": "ana",
        "to": "bob",
        "at": "2026-11-07T09:00:00Z",
    },
    {
        "type": "event-retracted",
        "by": "carol",
        "retracts": "decl-carol",
        "reason": "we are friends",
        "at": "2026-11-07T10:00:00Z",
    },
    {"type": "interview-held", "referral": "ana-acme", "by": "bob", "at": "2026-11-10T09:00:00Z"},
    {"type": "person-forgotten", "handle": "dan", "at": "2026-11-11T09:00:00Z"},
]


def tell(cli: Cli, story: list[dict[str, Any]] = STORY) -> None:
    for event in story:
        cli.record(event)


def verdict(cli: Cli, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("verify", "--json", *args)
    assert "Traceback" not in result.output + result.stderr
    assert result.exit_code in (0, 1), (result.exit_code, result.output, result.stderr)
    return result.exit_code, orjson.loads(result.stdout)


def assert_broken_at(cli: Cli, seq: int | None, *args: str) -> dict[str, Any]:
    code, out = verdict(cli, *args)
    assert code == 1, out
    assert out["ok"] is False
    assert out["first_bad_seq"] == seq, out
    text = cli("verify", *args)
    assert text.exit_code == 1
    assert "BROKEN" in text.stdout and "Traceback" not in text.output + text.stderr
    if seq is not None:
        assert f"first bad seq {seq}" in text.stdout
    return out


# -- helpers that tamper with a SQLite ledger ------------------------------------------------


def sql(path: str, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(statement, params).fetchall()
    conn.close()
    return rows


def state_of(path: str, seq: int) -> tuple[int, bytes]:
    """(rowid in stored_events, state bytes) of the event at `seq`."""
    ((rowid, state),) = sql(
        path,
        "SELECT s.rowid, s.state FROM rl_log l JOIN stored_events s ON "
        "s.originator_id = l.originator_id AND s.originator_version = l.originator_version "
        "WHERE l.seq = ?",
        (seq,),
    )
    return rowid, bytes(state)


def set_state(path: str, rowid: int, state: bytes) -> None:
    sql(path, "UPDATE stored_events SET state = ? WHERE rowid = ?", (state, rowid))


def flip(data: bytes, index: int) -> bytes:
    """Change one byte to another printable byte (JSON stays text, so only meaning changes)."""
    old = data[index]
    new = ord("7") if old != ord("7") else ord("8")
    if chr(old) in '{}[]:,"':
        new = ord(" ") if old != ord(" ") else ord("x")
    return data[:index] + bytes([new]) + data[index + 1 :]


@pytest.fixture
def told(sqlite_cli: Cli) -> Cli:
    tell(sqlite_cli)
    return sqlite_cli


def copy_ledger(cli: Cli, tmp_path: Path, name: str) -> Cli:
    target = tmp_path / f"{name}.db"
    shutil.copyfile(cli.db, target)
    return Cli(str(target))


# -- untouched ledgers pass ------------------------------------------------------------------


def test_an_empty_ledger_is_ok_with_no_head(cli: Cli) -> None:
    from ledger.app import Ledger

    Ledger(cli.db).close()  # an empty ledger: only a write would create one through the CLI
    code, out = verdict(cli)
    assert code == 0
    assert out["ok"] is True and out["events"] == 0 and out["head"] is None
    assert out["first_bad_seq"] is None


def test_an_untouched_ledger_passes_and_says_truncation_is_not_ruled_out(cli: Cli) -> None:
    tell(cli)
    code, out = verdict(cli)
    assert code == 0, out
    assert out == {**out, "ok": True, "events": len(STORY), "first_bad_seq": None}
    assert out["head"] == cli.export()[-1]["hash"]
    text = cli.ok("verify").stdout
    assert "Chain ok" in text
    assert "cannot be ruled out" in text
    assert "cannot be ruled out" not in cli.ok("verify", "--head", out["head"]).stdout


def test_an_exported_and_reimported_ledger_passes_with_the_same_head(
    cli: Cli, tmp_path: Path
) -> None:
    tell(cli)
    _, before = verdict(cli)
    dump = tmp_path / "dump.jsonl"
    cli.ok("export", "-o", str(dump))
    other = Cli(str(tmp_path / "restored.db"))
    other.ok("import", str(dump))
    code, after = verdict(other)
    assert code == 0, after
    assert after["head"] == before["head"] and after["events"] == before["events"]
    assert other.ok("verify", "--head", before["head"]).exit_code == 0


def test_a_ledger_imported_into_a_busy_ledger_passes(sqlite_cli: Cli, tmp_path: Path) -> None:
    tell(sqlite_cli, STORY[:4])
    dump = tmp_path / "dump.jsonl"
    sqlite_cli.ok("export", "-o", str(dump))
    other = Cli(str(tmp_path / "other.db"))
    other.record({"type": "person-added", "handle": "zed", "name": "Zed"})
    other.ok("import", str(dump))
    tell(other, STORY[4:])
    assert verdict(other) == (0, verdict(other)[1])


# -- one byte changed ------------------------------------------------------------------------


def positions(state: bytes) -> dict[str, int]:
    """Places to change one byte: inside the record, in the timestamp, in the formatting."""
    record_at = state.index(b'"record":{') + len(b'"record":{')
    value = state.index(b'"type":"', record_at) + len(b'"type":"') + 2
    stamp = state.index(b'"timestamp":"') + len(b'"timestamp":"') + 12
    return {
        "record value": value,
        "record key": state.index(b'"id"', record_at) + 1,
        "timestamp": stamp,
        "formatting": state.index(b":"),
        "originator topic": 5 if state.startswith(b'{"originator_topic"') else len(state) - 1,
    }


def test_one_byte_changed_in_any_event_is_caught_at_its_seq(told: Cli, tmp_path: Path) -> None:
    for seq in range(1, len(STORY) + 1):
        rowid, state = state_of(told.db, seq)
        for where, index in positions(state).items():
            bad = copy_ledger(told, tmp_path, f"s{seq}")
            set_state(bad.db, rowid, flip(state, index))
            out = assert_broken_at(bad, seq)
            assert out["problems"], (seq, where)


def test_reformatted_stored_event_is_caught(told: Cli) -> None:
    rowid, state = state_of(told.db, 7)
    pretty = orjson.dumps(orjson.loads(state), option=orjson.OPT_INDENT_2)
    set_state(told.db, rowid, pretty)
    out = assert_broken_at(told, 7)
    assert any("canonical" in p["message"] for p in out["problems"])


def test_every_single_byte_of_one_event_matters(told: Cli) -> None:
    """Exhaustive over one event's stored bytes, through the pure checker."""
    from ledger.app import Ledger
    from ledger.verify import Checker

    ledger = Ledger(told.db)
    try:
        rows = [dict(r) for r in ledger.store.raw_rows()]
        secrets = ledger.all_secrets()
        transcoder = ledger.store.app.mapper.transcoder
        with ledger.store.read() as cur:
            retractions = [dict(r) for r in cur.all("SELECT * FROM {p}rl_retractions")]
            private = {
                r["event_id"]: (r["owner"], bytes(r["data"]))
                for r in cur.all("SELECT event_id, owner, data FROM {p}rl_private")
            }
    finally:
        ledger.close()

    def check(rows: list[dict[str, Any]]) -> int | None:
        checker = Checker(transcoder, secrets)
        for row in rows:
            checker.feed(row, private.get(row["event_id"]))
        verdict = checker.finish(
            stored_events=len(rows), private_rows=len(private), retraction_rows=retractions
        )
        return verdict.first_bad_seq

    assert check(rows) is None
    target = rows[6]
    state = bytes(target["state"])
    for index in range(len(state)):
        changed = [dict(r) for r in rows]
        changed[6]["state"] = flip(state, index)
        assert check(changed) == 7, (index, changed[6]["state"])


@pytest.mark.parametrize(
    ("column", "change"),
    [
        ("event_id", "'x' || event_id"),
        ("type", "'thank-you-sent'"),
        ("at_us", "at_us + 1"),
        ("recorded_us", "recorded_us + 1"),
        # Another first hex digit, whatever the (time-dependent) hash began with.
        ("hash", "CASE WHEN hash LIKE 'f%' THEN 'e' ELSE 'f' END || substr(hash, 2)"),
        ("referral", "'other'"),
        ("actor", "'dan'"),
        ("originator_version", "originator_version + 1"),
    ],
)
def test_a_changed_log_column_is_caught(told: Cli, column: str, change: str) -> None:
    read = f"SELECT {column} FROM rl_log WHERE seq = 9"
    before = sql(told.db, read)
    sql(told.db, f"UPDATE rl_log SET {column} = {change} WHERE seq = 9")
    assert sql(told.db, read) != before, "the change must change the stored value"
    assert_broken_at(told, 9)


def test_a_changed_recorded_at_is_caught(told: Cli) -> None:
    sql(told.db, "UPDATE rl_log SET recorded_us = recorded_us - 1000000 WHERE seq = 5")
    assert_broken_at(told, 5)


# -- events removed, reordered, rewritten ------------------------------------------------------


def test_a_deleted_middle_event_is_caught(told: Cli, tmp_path: Path) -> None:
    both = copy_ledger(told, tmp_path, "both")
    rowid, _ = state_of(both.db, 8)
    sql(both.db, "DELETE FROM rl_log WHERE seq = 8")
    sql(both.db, "DELETE FROM stored_events WHERE rowid = ?", (rowid,))
    out = assert_broken_at(both, 8)
    assert "missing" in out["problems"][0]["message"]

    log_only = copy_ledger(told, tmp_path, "log")
    sql(log_only.db, "DELETE FROM rl_log WHERE seq = 8")
    assert_broken_at(log_only, 8)

    event_only = copy_ledger(told, tmp_path, "event")
    rowid, _ = state_of(event_only.db, 8)
    sql(event_only.db, "DELETE FROM stored_events WHERE rowid = ?", (rowid,))
    assert_broken_at(event_only, 8)


# The newest event of STORY is a person-forgotten: deleting it leaves Dan's values missing with
# no person-forgotten, which `verify` reports. An ordinary event after it can vanish cleanly.
LAST_WORD = {
    "type": "connection-declared",
    "by": "bob",
    "with": "carol",
    "kind": "friend",
    "at": "2026-11-12T09:00:00Z",
}


def test_a_deleted_newest_event_is_caught_only_against_a_head_or_checkpoint(
    told: Cli, tmp_path: Path
) -> None:
    told.record(LAST_WORD)
    _, before = verdict(told)
    checkpoint = tmp_path / "checkpoint.json"
    told.ok("checkpoint", "-o", str(checkpoint))
    last = len(STORY) + 1
    rowid, _ = state_of(told.db, last)
    sql(told.db, "DELETE FROM rl_log WHERE seq = ?", (last,))
    sql(told.db, "DELETE FROM stored_events WHERE rowid = ?", (rowid,))
    code, out = verdict(told)
    assert code == 0 and out["events"] == last - 1  # a clean, shorter chain...
    assert "cannot be ruled out" in out["warning"]
    out = assert_broken_at(told, None, "--head", before["head"])
    assert out["head_found"] is False
    out = assert_broken_at(told, None, "--checkpoint", str(checkpoint))
    assert out["checkpoint_ok"] is False


def test_a_newest_log_row_deleted_alone_is_caught(told: Cli) -> None:
    sql(told.db, "DELETE FROM rl_log WHERE seq = ?", (len(STORY),))
    out = assert_broken_at(told, len(STORY))
    assert "stored events" in out["problems"][0]["message"]


def test_two_swapped_events_are_caught(told: Cli, tmp_path: Path) -> None:
    states = copy_ledger(told, tmp_path, "states")
    row_a, state_a = state_of(states.db, 9)
    row_b, state_b = state_of(states.db, 12)
    set_state(states.db, row_a, state_b)
    set_state(states.db, row_b, state_a)
    assert_broken_at(states, 9)

    log = copy_ledger(told, tmp_path, "log")
    sql(log.db, "UPDATE rl_log SET seq = -1 WHERE seq = 9")
    sql(log.db, "UPDATE rl_log SET seq = 9 WHERE seq = 10")
    sql(log.db, "UPDATE rl_log SET seq = 10 WHERE seq = -1")
    assert_broken_at(log, 9)


def rehash(path: str, start: int) -> None:
    """Recompute every link from `start` on, as a forger covering their tracks would."""
    from ledger.events import format_timestamp, from_micros
    from ledger.interchange import dumps
    from ledger.store import GENESIS, chain_hash

    rows = sql(
        path,
        "SELECT l.seq, l.event_id, l.recorded_us, s.state, l.recorded_by FROM rl_log l "
        "JOIN stored_events s "
        "ON s.originator_id = l.originator_id AND s.originator_version = l.originator_version "
        "ORDER BY l.seq",
    )
    prev = GENESIS
    for seq, event_id, recorded_us, state, recorded_by in rows:
        if seq >= start:
            record = orjson.loads(state)["record"]
            recorded_at = format_timestamp(from_micros(recorded_us))
            digest = chain_hash(prev, seq, event_id, recorded_at, dumps(record), recorded_by)
            sql(path, "UPDATE rl_log SET hash = ? WHERE seq = ?", (digest, seq))
        prev = sql(path, "SELECT hash FROM rl_log WHERE seq = ?", (seq,))[0][0]


def test_a_rehashed_rewrite_is_caught_only_against_an_earlier_head(
    told: Cli, tmp_path: Path
) -> None:
    _, before = verdict(told)
    checkpoint = tmp_path / "checkpoint.json"
    told.ok("checkpoint", "-o", str(checkpoint))
    rowid, state = state_of(told.db, 7)
    set_state(told.db, rowid, state.replace(b'"company":"Acme"', b'"company":"Acne"'))
    rehash(told.db, 7)
    code, out = verdict(told)
    assert code == 0, out  # consistent in itself
    out = assert_broken_at(told, None, "--head", before["head"])
    assert out["head_found"] is False
    assert assert_broken_at(told, None, "--checkpoint", str(checkpoint))["checkpoint_ok"] is False
    # an older head, from before the rewritten event, is still in the chain
    early = before_head_at(told, 6)
    assert verdict(told, "--head", early)[0] == 0


def before_head_at(cli: Cli, seq: int) -> str:
    return sql(cli.db, "SELECT hash FROM rl_log WHERE seq = ?", (seq,))[0][0]


def test_an_event_transplanted_from_another_ledger_is_caught(told: Cli, tmp_path: Path) -> None:
    other = Cli(str(tmp_path / "other.db"))
    tell(other)  # the same story, recorded again: same content, other times and keys
    for column in ("state",):
        rowid, _ = state_of(told.db, 10)
        _, foreign = state_of(other.db, 10)
        sql(told.db, f"UPDATE stored_events SET {column} = ? WHERE rowid = ?", (foreign, rowid))
    (foreign_log,) = sql(other.db, "SELECT recorded_us, hash FROM rl_log WHERE seq = 10")
    sql(told.db, "UPDATE rl_log SET recorded_us = ?, hash = ? WHERE seq = 10", foreign_log)
    assert_broken_at(told, 10)


# -- personal data and indexes -------------------------------------------------------------------


def test_a_tampered_personal_value_is_caught(told: Cli) -> None:
    (event_id,) = sql(told.db, "SELECT event_id FROM rl_log WHERE seq = 7")[0]
    (data,) = sql(told.db, "SELECT data FROM rl_private WHERE event_id = ?", (event_id,))[0]
    values = orjson.loads(data)
    values["goal"] = "Something else entirely"
    sql(
        told.db,
        "UPDATE rl_private SET data = ? WHERE event_id = ?",
        (orjson.dumps(values), event_id),
    )
    out = assert_broken_at(told, 7)
    assert "commitment" in out["problems"][0]["message"]


def test_personal_values_kept_after_a_key_is_deleted_are_caught(told: Cli) -> None:
    sql(told.db, "DELETE FROM rl_keys WHERE handle = 'bob'")
    assert_broken_at(told, 3)


def test_an_unretracted_event_is_caught(told: Cli) -> None:
    sql(told.db, "DELETE FROM rl_retractions WHERE retracted_id = 'fu-1'")
    assert_broken_at(told, 11)


# -- the options -------------------------------------------------------------------------------


def test_head_and_checkpoint_of_an_untouched_ledger(told: Cli, tmp_path: Path) -> None:
    _, out = verdict(told)
    path = tmp_path / "cp.json"
    told.ok("checkpoint", "-o", str(path))
    record = orjson.loads(path.read_bytes())
    assert record["seq"] == len(STORY) and record["head"] == out["head"]
    assert record["events"] == len(STORY) and record["at"].endswith("Z")
    assert told.json("checkpoint", "--json")["head"] == out["head"]
    told.record({"type": "person-added", "handle": "eve", "name": "Eve"})
    code, later = verdict(told, "--checkpoint", str(path), "--head", out["head"])
    assert code == 0 and later["checkpoint_ok"] is True and later["head_found"] is True
    assert "warning" not in later
    assert "matches" in told.ok("verify", "--checkpoint", str(path)).stdout


def test_an_unknown_head_makes_ok_false(told: Cli) -> None:
    out = assert_broken_at(told, None, "--head", "a" * 64)
    assert out["head_found"] is False
    assert "not in the chain" in told("verify", "--head", "a" * 64).stdout


def test_bad_head_or_checkpoint_is_bad_input(told: Cli, tmp_path: Path) -> None:
    told.refused("verify", "--head", "xyz")
    told.refused("verify", "--checkpoint", str(tmp_path / "missing.json"))
    junk = tmp_path / "junk.json"
    junk.write_text('{"seq": "3"}')
    assert "seq" in told.refused("verify", "--checkpoint", str(junk)).stderr
    junk.write_text("not json")
    told.refused("verify", "--checkpoint", str(junk))


def test_checkpoint_refuses_a_broken_chain(told: Cli) -> None:
    sql(told.db, "UPDATE rl_log SET recorded_us = recorded_us + 1 WHERE seq = 4")
    result = told("checkpoint")
    assert result.exit_code == 1 and "first bad seq 4" in result.stderr


# -- on both backends (PostgreSQL through psycopg) --------------------------------------------


def run_sql(cli: Cli, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    """Run one statement on the ledger's database; `{events}` is eventsourcing's table."""
    if not cli.db.startswith("postgresql"):
        return sql(cli.db, statement.replace("{events}", "stored_events"), params)
    from urllib.parse import parse_qs, urlparse

    import psycopg

    schema = parse_qs(urlparse(cli.db).query)["schema"][0]
    statement = statement.replace("{events}", "referral_ledger_events").replace("?", "%s")
    with psycopg.connect(cli.db.split("?")[0], autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def test_one_changed_byte_and_a_deleted_event_on_each_backend(cli: Cli) -> None:
    tell(cli)
    assert verdict(cli)[0] == 0
    ((origin, version, state),) = run_sql(
        cli,
        "SELECT s.originator_id, s.originator_version, s.state FROM rl_log l JOIN {events} s "
        "ON s.originator_id = l.originator_id AND s.originator_version = l.originator_version "
        "WHERE l.seq = 9",
    )
    state = bytes(state)
    update = "UPDATE {events} SET state = ? WHERE originator_id = ? AND originator_version = ?"
    run_sql(cli, update, (flip(state, state.index(b'"to":"') + 7), origin, version))
    assert_broken_at(cli, 9)
    run_sql(cli, update, (state, origin, version))
    assert verdict(cli)[0] == 0
    run_sql(cli, "DELETE FROM rl_log WHERE seq = 5")
    assert_broken_at(cli, 5)


def test_deleted_newest_event_and_tampered_value_on_each_backend(cli: Cli) -> None:
    tell(cli, [*STORY, LAST_WORD])
    _, before = verdict(cli)
    ((event_id, data),) = run_sql(
        cli,
        "SELECT p.event_id, p.data FROM rl_private p JOIN rl_log l ON l.event_id = p.event_id "
        "WHERE l.seq = 8",
    )
    run_sql(
        cli,
        "UPDATE rl_private SET data = ? WHERE event_id = ?",
        (bytes(data).replace(b"solid", b"SOLID"), event_id),
    )
    assert_broken_at(cli, 8)
    run_sql(cli, "UPDATE rl_private SET data = ? WHERE event_id = ?", (bytes(data), event_id))
    assert verdict(cli)[0] == 0
    last = len(STORY) + 1
    run_sql(
        cli,
        "DELETE FROM {events} WHERE originator_id = (SELECT originator_id FROM rl_log "
        "WHERE seq = ?) AND originator_version = (SELECT originator_version FROM rl_log "
        "WHERE seq = ?)",
        (last, last),
    )
    run_sql(cli, "DELETE FROM rl_log WHERE seq = ?", (last,))
    assert verdict(cli)[0] == 0
    assert_broken_at(cli, None, "--head", before["head"])


def test_an_encrypted_ledger_is_checked_with_its_key_and_its_chain_without(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.crypto import MASTER_KEY_ENV, new_master_key

    monkeypatch.setenv(MASTER_KEY_ENV, new_master_key())
    cli = Cli(sqlite_db)
    tell(cli)
    code, out = verdict(cli)
    assert code == 0 and "values_checked" not in out, out
    (event_id,) = sql(cli.db, "SELECT event_id FROM rl_log WHERE seq = 8")[0]
    (data,) = sql(cli.db, "SELECT data FROM rl_private WHERE event_id = ?", (event_id,))[0]
    sql(cli.db, "UPDATE rl_private SET data = ? WHERE event_id = ?", (flip(data, 20), event_id))
    assert_broken_at(cli, 8)
    monkeypatch.delenv(MASTER_KEY_ENV)
    code, out = verdict(cli)  # without the key: the chain is sound, the values unchecked
    assert code == 0 and out["values_checked"] is False
    assert "need the master key" in cli.ok("verify").stdout


@pytest.mark.parametrize(
    ("column", "value"),
    [("seq", "'x'"), ("recorded_us", "'soon'"), ("at_us", "'noon'"), ("originator_version", "'v'")],
)
def test_a_log_column_of_the_wrong_type_is_caught(told: Cli, column: str, value: str) -> None:
    sql(told.db, f"UPDATE rl_log SET {column} = {value} WHERE seq = 3")
    assert_broken_at(told, 3)
