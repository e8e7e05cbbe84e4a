"""Crash safety: the power goes out, the disk fills up, the disk fails.

`kill -9` lands at random moments in imports and in runs of `record`, many times over: every
event that was acknowledged (printed by `record`, or in an import that exited 0) is stored where
it was acknowledged, an import is all or nothing, the chain verifies and SQLite's own
`integrity_check` is ok. A full disk or an I/O error on write is a clean `Error:` and leaves the
ledger as it was; once the fault is gone the same write goes through.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli

KILLS = int(os.environ.get("CRASH_KILLS", "20"))
SLOW_KILLS = 150
PER_IMPORT = 800
T0 = "2026-11-01T09:00:00Z"


def at(hour: int) -> str:
    return f"2026-11-02T{hour:02d}:00:00Z"


BASE = [
    {"type": "person-added", "handle": h, "name": h.title(), "company": "Acme", "at": T0}
    for h in ("ana", "cat", "bob")
] + [
    {
        "type": "referral-requested",
        "id": "req-0",
        "referral": "r0",
        "by": "ana",
        "referrer": "cat",
        "company": "Acme",
        "target": "bob",
        "at": at(1),
    },
]


def jsonl(events: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def import_chunk(n: int) -> list[dict[str, Any]]:
    """One import: new people, a new referral and events on an old one (a long aggregate)."""
    events: list[dict[str, Any]] = [
        {
            "type": "referral-requested",
            "id": f"req-{n}-x",
            "referral": f"c{n}",
            "by": "ana",
            "referrer": "cat",
            "company": "Acme",
            "at": at(2),
        },
    ]
    for j in range(PER_IMPORT - 1):
        if j % 4 == 0:
            events.append(
                {
                    "type": "follow-up-sent",
                    "id": f"fu-{n}-{j}",
                    "referral": "r0",
                    "by": "ana",
                    "to": "bob",
                    "note": f"ping {j}",
                    "at": at(3),
                }
            )
        elif j % 4 == 1:
            events.append(
                {
                    "type": "thank-you-sent",
                    "id": f"ty-{n}-{j}",
                    "referral": f"c{n}",
                    "by": "ana",
                    "to": "cat",
                    "at": at(3),
                }
            )
        else:
            events.append(
                {
                    "type": "person-added",
                    "id": f"p-{n}-{j}",
                    "handle": f"p{n}-{j}",
                    "name": f"Person {n} {j}",
                    "email": f"p{n}.{j}@example.org",
                    "at": T0,
                }
            )
    return events


# Records one event after another through the real `record` command, in one process so that
# many land before the kill; each printed event is an acknowledgement.
RECORD_LOOP = """
import sys
import orjson
from ledger.cli import cli, _load_plugin_commands
_load_plugin_commands()
db, prefix = sys.argv[1], sys.argv[2]
for j in range(100000):
    if j % 3 == 2:
        event = {"type": "follow-up-sent", "id": f"{prefix}-{j}", "referral": "r0", "by": "bob",
                 "to": "ana", "at": "2026-11-02T05:00:00Z"}
    else:
        event = {"type": "person-added", "id": f"{prefix}-{j}", "handle": f"{prefix}-{j}",
                 "name": f"Looped {j}", "at": "2026-11-01T09:00:00Z"}
    try:
        cli.main(["--db", db, "record", orjson.dumps(event).decode()], prog_name="referral-ledger")
    except SystemExit as exc:
        if exc.code:
            raise
"""


def printed_events(out: bytes) -> list[dict[str, Any]]:
    """The complete JSON documents `record` printed before it died (the last may be cut)."""
    pieces = out.split(b"\n}\n")
    return [orjson.loads(piece + b"\n}") for piece in pieces[:-1]]


def ledger_env(db: str) -> dict[str, str]:
    return {**os.environ, "REFERRAL_LEDGER_DB": db}


def stored(cli: Cli) -> dict[str, tuple[int, str]]:
    events = cli.export()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1)), "seq has a gap"
    return {e["id"]: (e["seq"], e["hash"]) for e in events}


def check_whole(cli: Cli) -> None:
    verdict = cli.json("verify", "--json")
    assert verdict["ok"] is True, verdict
    if not cli.db.startswith("postgresql"):
        with sqlite3.connect(cli.db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            log = conn.execute("SELECT COUNT(*) FROM rl_log").fetchone()[0]
            events = conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
            assert log == events == verdict["events"]


def kill_after(proc: subprocess.Popen[bytes], delay: float) -> bool:
    """SIGKILL the process after `delay` seconds; False if it had already finished."""
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


@pytest.fixture(params=[False, pytest.param(True, marks=pytest.mark.slow)], ids=["ci", "long"])
def slow(request: pytest.FixtureRequest) -> bool:
    return request.param


def test_kill_9_during_imports_and_records(cli: Cli, tmp_path: Path, slow: bool) -> None:
    kills = SLOW_KILLS if slow else KILLS
    if cli.db.startswith("postgresql"):
        kills = max(4, kills // 4)  # the server survives; the client dies mid-transaction
    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)
    seed = rng.randrange(10**9)
    rng.seed(seed)
    cli.ok("import", "-", input=jsonl(BASE))
    acked: dict[str, tuple[int, str]] = stored(cli)
    killed = finished = 0
    # How long a whole import takes here (learnt from the ones that finish): the kill lands
    # anywhere from interpreter start-up to just past the commit, whatever the machine's speed.
    import_seconds = 3.0
    for n in range(kills):
        before = stored(cli)
        if n % 2 == 0:
            chunk = import_chunk(n)
            source = tmp_path / f"chunk-{n}.jsonl"
            source.write_bytes(jsonl(chunk))
            proc = subprocess.Popen(
                [sys.executable, "-m", "ledger", "import", str(source)],
                env=ledger_env(cli.db),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            started = time.monotonic()
            was_killed = kill_after(proc, rng.uniform(0.1, 1.3 * import_seconds))
            if not was_killed:
                import_seconds = time.monotonic() - started
            after = stored(cli)
            ids = {e["id"] for e in chunk}
            landed = ids & after.keys()
            assert landed in (set(), ids), (
                f"partial import: {len(landed)} of {len(ids)} (seed {seed})"
            )
            assert len(after) in (len(before), len(before) + len(ids))
            if not was_killed:
                assert proc.returncode == 0, proc.stderr.read()  # type: ignore[union-attr]
                assert landed == ids
            if landed:
                acked.update({i: after[i] for i in ids})
        else:
            proc = subprocess.Popen(
                [sys.executable, "-c", RECORD_LOOP, cli.db, f"loop{n}"],
                env=ledger_env(cli.db),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            was_killed = kill_after(proc, rng.uniform(0.5, 4.0))
            assert was_killed, proc.stderr.read()  # type: ignore[union-attr]
            printed = printed_events(proc.stdout.read())  # type: ignore[union-attr]
            after = stored(cli)
            # at most the one event being printed (or committed, not yet printed) is extra
            assert len(printed) <= len(after) - len(before) <= len(printed) + 1
            acked.update({e["id"]: (e["seq"], e["hash"]) for e in printed})
        killed += was_killed
        finished += not was_killed
        for event_id, place in acked.items():
            assert after.get(event_id) == place, (
                f"acknowledged {event_id} lost or moved (seed {seed})"
            )
        check_whole(cli)
    print(
        f"\n{killed} processes killed, {finished} finished first; {len(acked)} events "
        f"acknowledged, 0 lost (seed {seed})"
    )
    assert killed >= kills // 2


# -- a full disk and a failing disk ------------------------------------------------------------


def test_a_database_file_that_cannot_grow(
    sqlite_cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SQLite's own SQLITE_FULL, from a page limit set on every connection the ledger opens."""
    cli = sqlite_cli
    cli.ok("import", "-", input=jsonl(BASE))
    before = cli.export()
    with sqlite3.connect(cli.db) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    real_connect = sqlite3.connect

    def limited(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real_connect(*args, **kwargs)
        conn.execute(f"PRAGMA max_page_count = {pages + 4}")
        return conn

    source = tmp_path / "big.jsonl"
    source.write_bytes(jsonl(import_chunk(0)))
    monkeypatch.setattr(sqlite3, "connect", limited)
    result = cli("import", str(source))
    assert result.exit_code in (2, 3), result.stdout
    assert result.stderr.startswith("Error: ") and "full" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    monkeypatch.undo()
    assert cli.export() == before
    check_whole(cli)
    cli.ok("import", str(source))
    assert len(cli.export()) == len(before) + PER_IMPORT
    check_whole(cli)


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[bool]:
    path.mkdir()
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk(tmp_path: Path) -> None:
    """A real full file system (a small tmpfs; mounting one needs root)."""
    disk = tmp_path / "disk"
    with tmpfs(disk, "2M") as mounted:
        if not mounted:
            pytest.skip(
                "mounting a tmpfs needs root; test_a_database_file_that_cannot_grow "
                "covers SQLITE_FULL without it"
            )
        cli = Cli(str(disk / "ledger.db"))
        cli.ok("import", "-", input=jsonl(BASE))
        before = cli.export()
        filler = disk / "filler"
        free = os.statvfs(disk)
        # leave a few pages free: enough to open the ledger, not enough for an import
        filler.write_bytes(b"\1" * (free.f_bavail * free.f_frsize - 64 * 1024))
        source = tmp_path / "big.jsonl"
        source.write_bytes(jsonl(import_chunk(0)))
        proc = subprocess.run(
            [sys.executable, "-m", "ledger", "import", str(source)],
            env=ledger_env(cli.db),
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode in (2, 3), proc.stdout
        assert proc.stderr.startswith(b"Error: "), proc.stderr
        assert b"Traceback" not in proc.stderr
        filler.unlink()
        assert cli.export() == before
        check_whole(cli)
        cli.ok("import", str(source))
        assert len(cli.export()) == len(before) + PER_IMPORT
        check_whole(cli)


def fault(db: str, message: str) -> Exception:
    if db.startswith("postgresql"):
        import psycopg

        return (psycopg.errors.DiskFull if "full" in message else psycopg.errors.IoError)(message)
    return sqlite3.OperationalError(message)


# Where in the write the fault strikes: the statement it interrupts.
FAULT_POINTS = ["stored_events", "rl_log", "rl_private", "rl_keys", "rl_mentions"]
FAULTS = ["database or disk is full", "disk I/O error"]


@pytest.mark.parametrize("point", FAULT_POINTS)
@pytest.mark.parametrize("message", FAULTS)
def test_a_write_that_fails_midway_leaves_the_ledger_as_it_was(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, point: str, message: str
) -> None:
    from ledger import store as store_module

    cli.ok("import", "-", input=jsonl(BASE))
    before = cli.export()
    state = {"hit": 0}
    many = store_module._Cursor.many
    insert = store_module._Cursor.insert
    insert_events = store_module.Store._insert_stored_events

    def failing_many(self: Any, statement: str, rows: Any) -> None:
        if f"{point} " in statement or f'{point}"' in statement:
            state["hit"] += 1
            raise fault(cli.db, message)
        many(self, statement, rows)

    def failing_insert_rows(self: Any, table: str, rows: Any, **options: Any) -> None:
        if table.endswith(point):
            state["hit"] += 1
            raise fault(cli.db, message)
        insert(self, table, rows, **options)

    def failing_insert(self: Any, cur: Any, events: Any) -> None:
        if point == "stored_events":
            state["hit"] += 1
            raise fault(cli.db, message)
        insert_events(self, cur, events)

    monkeypatch.setattr(store_module._Cursor, "many", failing_many)
    monkeypatch.setattr(store_module._Cursor, "insert", failing_insert_rows)
    monkeypatch.setattr(store_module.Store, "_insert_stored_events", failing_insert)
    # a new person (new key, private values) and a referral event (mentions): every table
    batch = jsonl(
        [
            {
                "type": "person-added",
                "handle": "dee",
                "name": "Dee",
                "email": "dee@example.org",
                "at": T0,
            },
            {
                "type": "introduction-made",
                "referral": "r0",
                "by": "cat",
                "to": "dee",
                "note": "meet Dee",
                "at": at(2),
            },
        ]
    )
    one = batch.splitlines()[0]  # a new person: a new key and private values
    if point == "rl_mentions":
        one = orjson.dumps(
            {"type": "introduction-made", "referral": "r0", "by": "cat", "to": "bob", "at": at(2)}
        )
    for args, data in ((["import", "-"], batch), (["record", "-"], one)):
        result = cli(*args, input=data)
        assert result.exit_code in (2, 3), (result.stdout, result.stderr)
        assert result.stderr.startswith("Error: "), result.stderr
        assert "Traceback" not in result.stderr
        assert cli.export() == before
    assert state["hit"] >= 2
    monkeypatch.undo()
    check_whole(cli)
    cli.ok("import", "-", input=batch)
    assert len(cli.export()) == len(before) + 2
    check_whole(cli)
