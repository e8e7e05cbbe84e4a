"""Event classes are the stored schema: a ledger written by 0.1 still loads, and its aggregates
give the write rules the state they had.

tests/fixtures/ledger-v0.1.db was written by tests/fixtures/make_ledger_db.py through the CLI
from tests/fixtures/story.jsonl, with ledger-v0.1.export.jsonl beside it (what 0.1 exported).
Tests open copies; the committed file is never written.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import orjson
import pytest
from conftest import Cli
from eventsourcing.utils import resolve_topic

from ledger.aggregates import Person, Referral
from ledger.app import Ledger
from ledger.plugins import Plugins

FIXTURES = Path(__file__).parent / "fixtures"
OLD_DB = FIXTURES / "ledger-v0.1.db"
OLD_EXPORT = FIXTURES / "ledger-v0.1.export.jsonl"

# The topics 0.1 stored. Renaming a class is fine; changing one of these is not, without an
# upcaster or a registered alias for the old name.
TOPICS = {
    "referral-ledger:Referral.Created": Referral.Created,
    "referral-ledger:Referral.Recorded": Referral.Recorded,
    "referral-ledger:Person.Created": Person.Created,
    "referral-ledger:Person.Recorded": Person.Recorded,
}


@pytest.fixture
def old(tmp_path: Path) -> Cli:
    copy = tmp_path / OLD_DB.name
    shutil.copyfile(OLD_DB, copy)
    return Cli(str(copy))


@pytest.fixture
def old_ledger(old: Cli):
    ledger = Ledger(old.db, plugins=Plugins(load_entry_points=False))
    yield ledger
    ledger.close()


def test_the_fixture_is_one_whole_sqlite_file():
    assert not Path(str(OLD_DB) + "-wal").exists()
    with sqlite3.connect(f"file:{OLD_DB}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_every_stored_topic_is_a_known_one_and_resolves():
    with sqlite3.connect(f"file:{OLD_DB}?mode=ro", uri=True) as conn:
        stored = {row[0] for row in conn.execute("SELECT DISTINCT topic FROM stored_events")}
    assert stored == set(TOPICS)
    for topic, cls in TOPICS.items():
        assert cls.TOPIC == topic
        assert resolve_topic(topic) is cls


def test_it_exports_what_0_1_exported(old: Cli):
    assert old.ok("export").stdout == OLD_EXPORT.read_text()
    assert old.json("verify", "--json")["ok"] is True


def test_its_referrals_come_back_with_the_state_the_rules_need(old_ledger: Ledger):
    ana = old_ledger.referral("ana-acme")
    assert ana is not None
    assert (ana.requester, ana.referrer, ana.company, ana.target) == ("ana", "carol", "Acme", "bob")
    assert ana.closed_at is not None and ana.held_interviews()
    dan = old_ledger.referral("dan-globex")
    assert dan is not None
    assert dan.target == "frank"  # set by the introduction
    assert "story-34" in dan.retracted
    assert old_ledger.referral("nope") is None


def test_its_people_come_back_with_what_was_forgotten(old_ledger: Ledger):
    gina = old_ledger.person("gina")
    bob = old_ledger.person("bob")
    assert gina is not None and gina.forgotten is True
    assert "story-14" in gina.retracted  # her retracted declaration
    assert bob is not None and bob.forgotten is False and bob.company == "Acme"


def test_it_takes_new_events_under_the_old_rules(old: Cli):
    before = old.export()
    stored = old.record(
        {
            "type": "follow-up-sent",
            "referral": "ana-acme",
            "by": "ana",
            "to": "carol",
            "at": "2026-10-30T09:00:00Z",
            "note": "Settled in well",
        }
    )
    assert stored["seq"] == len(before) + 1
    # what the old aggregates remember still decides
    assert (
        "is closed"
        in old.refused(
            "record", '{"type":"introduction-made","referral":"dan-globex","by":"erin","to":"bob"}'
        ).stderr
    )
    assert (
        "already exists"
        in old.refused(
            "record", '{"type":"person-added","handle":"gina","name":"Gina again"}'
        ).stderr
    )
    assert (
        "already forgotten"
        in old.refused("record", '{"type":"person-forgotten","handle":"gina"}').stderr
    )
    old.record(
        {
            "type": "referral-requested",
            "referral": "ana-globex",
            "by": "ana",
            "referrer": "erin",
            "company": "Globex",
            "at": "2026-10-30T10:00:00Z",
        }
    )
    after = old.export()
    assert after[: len(before)] == before
    assert old.json("verify", "--json")["ok"] is True


def test_its_export_restores_into_an_empty_ledger(tmp_path: Path):
    fresh = Cli(str(tmp_path / "fresh.db"))
    fresh.ok("import", str(OLD_EXPORT))
    assert fresh.ok("export").stdout == OLD_EXPORT.read_text()
    assert orjson.loads(OLD_EXPORT.read_text().splitlines()[-1])["seq"] == 50
