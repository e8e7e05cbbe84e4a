"""Old ledgers keep working: a ledger file written by an earlier release is read, exported,
audited and verified by this one exactly as that release did, and takes new events.

The files under tests/fixtures/old/ are written once per release by make.py and never again.
When an event's schema changes, the old stored events must be upcast, and these tests say so.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli
from eventsourcing.utils import resolve_topic

OLD = Path(__file__).parent / "fixtures" / "old"
LEDGERS = sorted(OLD.glob("ledger-*.db"))


def version_of(db: Path) -> str:
    return db.stem.removeprefix("ledger-")


@pytest.fixture(params=LEDGERS, ids=version_of)
def old(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Cli, Path]:
    """A copy of an old ledger (the committed file is never opened for writing)."""
    source: Path = request.param
    copy = tmp_path / source.name
    shutil.copyfile(source, copy)
    return Cli(str(copy)), source


def lines(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


# The contract's event types that 0.1 did not have: no 0.1 ledger can hold them.
NEW_IN_0_2 = {"request-amended", "person-updated"}


def test_there_is_an_old_ledger_with_every_event_type() -> None:
    from ledger.events import CORE_TYPES

    assert LEDGERS, "tests/fixtures/old/ holds no ledger"
    assert NEW_IN_0_2 <= set(CORE_TYPES)
    for db in LEDGERS:
        exported = lines(db.with_suffix(".jsonl").read_bytes())
        assert {e["type"] for e in exported} == set(CORE_TYPES) - NEW_IN_0_2, db.name


def test_an_old_ledger_exports_as_it_did(old: tuple[Cli, Path]) -> None:
    cli, source = old
    assert cli.ok("export").stdout_bytes == source.with_suffix(".jsonl").read_bytes()


def test_an_old_ledger_verifies_with_the_same_head(old: tuple[Cli, Path]) -> None:
    cli, source = old
    then = orjson.loads(source.with_suffix(".verify.json").read_bytes())
    now = cli.json("verify", "--json")
    assert now["ok"] is True and now["first_bad_seq"] is None
    assert (now["events"], now["head"]) == (then["events"], then["head"])
    assert cli.json("verify", "--json", "--head", then["head"])["ok"] is True


def test_an_old_ledger_is_audited(old: tuple[Cli, Path]) -> None:
    cli, source = old
    exported = lines(source.with_suffix(".jsonl").read_bytes())
    for referral in sorted({e["referral"] for e in exported if e.get("referral")}):
        audit = cli.json("audit", referral, "--json")
        assert audit["referral"] == referral
        assert audit["chain"] == "ok"
        expected = [e["id"] for e in exported if e.get("referral") == referral]
        assert [e["id"] for e in audit["events"]] == expected
        retracted = {e["retracts"] for e in exported if e["type"] == "event-retracted"}
        for event in audit["events"]:
            assert event["retracted"] is (event["id"] in retracted)
        assert "Error" not in cli.ok("audit", referral).stderr


def test_an_old_ledgers_judgements_are_derived(old: tuple[Cli, Path]) -> None:
    """The old file has no derived rows yet (or old ones): they are built on first read."""
    cli, _ = old
    for command in ("alerts", "flags", "reputation"):
        result = cli.ok(command, "--json", "--as-of", "2026-11-01T00:00:00Z")
        assert "Warning" not in result.stderr, result.stderr
        assert isinstance(orjson.loads(result.stdout), list)
    assert cli.json("verify", "--json")["ok"] is True


def test_an_old_ledger_round_trips_into_an_empty_one(old: tuple[Cli, Path], tmp_path: Path) -> None:
    _, source = old
    fresh = Cli(str(tmp_path / "fresh.db"))
    fresh.ok("import", str(source.with_suffix(".jsonl")))
    assert fresh.ok("export").stdout_bytes == source.with_suffix(".jsonl").read_bytes()


def test_an_old_ledger_takes_new_events(old: tuple[Cli, Path]) -> None:
    cli, source = old
    head = orjson.loads(source.with_suffix(".verify.json").read_bytes())["head"]
    count = len(lines(source.with_suffix(".jsonl").read_bytes()))
    cli.record({"type": "person-added", "handle": "eve", "name": "Eve"})
    cli.record({"type": "follow-up-sent", "referral": "ana-acme", "by": "cat", "to": "ana"})
    refused = cli.refused(
        "record",
        orjson.dumps(
            {"type": "referral-closed", "referral": "ana-acme", "by": "ana", "reason": "again"}
        ).decode(),
    )
    assert "already closed" in refused.stderr
    verdict = cli.json("verify", "--json", "--head", head)
    assert verdict["ok"] is True and verdict["events"] == count + 2


def test_an_old_ledgers_forgotten_person_stays_forgotten(old: tuple[Cli, Path]) -> None:
    cli, _ = old
    dan = [e for e in cli.export() if e.get("handle") == "dan" and e["type"] == "person-added"]
    assert dan and set(dan[0]["name"]) == {"forgotten"}
    raw = Path(cli.db).read_bytes()
    assert b"Dan Wu" not in raw and b"meet the platform team" not in raw


def test_the_stored_topics_of_an_old_ledger_resolve() -> None:
    """Topics are the stored schema: each one an old file holds still names a class here."""
    from ledger.aggregates import Person, Referral

    expected = {
        "referral-ledger:Person.Created": Person.Created,
        "referral-ledger:Person.Recorded": Person.Recorded,
        "referral-ledger:Referral.Created": Referral.Created,
        "referral-ledger:Referral.Recorded": Referral.Recorded,
    }
    for db in LEDGERS:
        with sqlite3.connect(f"file:{db}?immutable=1", uri=True) as conn:
            topics = {row[0] for row in conn.execute("SELECT DISTINCT topic FROM stored_events")}
        assert topics == set(expected), db.name
        for topic in topics:
            assert resolve_topic(topic) is expected[topic]


def test_the_committed_files_are_whole_sqlite_databases() -> None:
    for db in LEDGERS:
        assert not Path(f"{db}-wal").exists()
        with sqlite3.connect(f"file:{db}?immutable=1", uri=True) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
