"""The two backends behave alike, and a backend that cannot be reached or is busy is a clean
refusal (exit 2, `Error: …`), never a traceback or a hang."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
import uuid

import orjson
import pytest
from conftest import PG_URL, Cli, _drop_schema, _pg_url

ANA = {"type": "person-added", "handle": "ana", "name": "Ana", "at": "2026-11-01T09:00:00Z"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_is_refused_quickly_and_clearly(tmp_path) -> None:
    url = f"postgresql://someone:hunter2@127.0.0.1:{_closed_port()}/ledger"
    cli = Cli(url)
    start = time.monotonic()
    result = cli.refused("export")
    assert time.monotonic() - start < 15
    assert result.stderr.startswith("Error: cannot open the ledger at postgresql://")
    assert "hunter2" not in result.stderr  # the password is never echoed
    assert cli.refused("record", orjson.dumps(ANA).decode()).stderr.startswith(
        "Error: cannot open the ledger"
    )


def test_the_same_from_the_console_script(tmp_path) -> None:
    url = f"postgresql://127.0.0.1:{_closed_port()}/ledger"
    proc = subprocess.run(
        [sys.executable, "-m", "ledger", "--db", url, "alerts", "--json"],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("Error: cannot open the ledger")
    assert b"Traceback" not in proc.stderr


@pytest.mark.skipif(not PG_URL, reason="needs REFERRAL_LEDGER_TEST_PG")
def test_a_database_that_does_not_exist_is_refused() -> None:
    assert PG_URL is not None
    base = PG_URL.split("?")[0].rsplit("/", 1)[0]
    cli = Cli(f"{base}/no_such_database_{uuid.uuid4().hex[:8]}")
    assert "cannot open the ledger" in cli.refused("export").stderr


@pytest.mark.skipif(not PG_URL, reason="needs REFERRAL_LEDGER_TEST_PG")
def test_each_schema_is_a_ledger_of_its_own() -> None:
    first, second = "t_" + uuid.uuid4().hex[:12], "t_" + uuid.uuid4().hex[:12]
    try:
        one, two = Cli(_pg_url(first)), Cli(_pg_url(second))
        assert one.record(ANA)["seq"] == 1
        assert "no ledger at" in two.refused("export").stderr  # a read creates nothing
        assert two.record({**ANA, "name": "Another Ana"})["seq"] == 1
        assert [e["name"] for e in one.export()] == ["Ana"]
        assert [e["name"] for e in two.export()] == ["Another Ana"]
    finally:
        _drop_schema(first)
        _drop_schema(second)


def test_a_write_blocked_beyond_the_lock_timeout_is_refused(sqlite_db, monkeypatch) -> None:
    cli = Cli(sqlite_db)
    cli.record(ANA)
    monkeypatch.setenv("REFERRAL_LEDGER_LOCK_TIMEOUT", "1")
    blocker = sqlite3.connect(sqlite_db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process is in the middle of a long write
    try:
        result = cli.refused("record", orjson.dumps({**ANA, "handle": "bo", "name": "Bo"}).decode())
        assert "the ledger is busy" in result.stderr
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert [e["handle"] for e in cli.export()] == ["ana"]  # nothing half-done
    cli.record({**ANA, "handle": "bo", "name": "Bo"})
    assert [e["seq"] for e in cli.export()] == [1, 2]


@pytest.mark.skipif(not PG_URL, reason="needs REFERRAL_LEDGER_TEST_PG")
def test_a_postgres_write_blocked_beyond_the_lock_timeout_is_refused(monkeypatch) -> None:
    import psycopg

    assert PG_URL is not None
    schema = "t_" + uuid.uuid4().hex[:12]
    try:
        cli = Cli(_pg_url(schema))
        cli.record(ANA)
        monkeypatch.setenv("REFERRAL_LEDGER_LOCK_TIMEOUT", "1")
        with psycopg.connect(PG_URL.split("?")[0]) as blocker:
            blocker.execute(f'LOCK TABLE "{schema}".rl_log IN EXCLUSIVE MODE')
            result = cli.refused(
                "record", orjson.dumps({**ANA, "handle": "bo", "name": "Bo"}).decode()
            )
            assert "the ledger is busy" in result.stderr
            blocker.rollback()
        assert [e["handle"] for e in cli.export()] == ["ana"]
    finally:
        _drop_schema(schema)


def test_a_bad_lock_timeout_setting_is_refused(sqlite_db, monkeypatch) -> None:
    monkeypatch.setenv("REFERRAL_LEDGER_LOCK_TIMEOUT", "soon")
    assert "REFERRAL_LEDGER_LOCK_TIMEOUT" in Cli(sqlite_db).refused("export").stderr
