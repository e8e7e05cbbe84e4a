"""The event types of the contract: their names, their fields, and what the ledger fills in."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import orjson
import pytest
from conftest import Cli

import ledger.plugins as plugins_module
from ledger import Event, hookimpl
from ledger.app import Ledger
from ledger.errors import LedgerError
from ledger.events import CORE_TYPES, KINDS, WEAK_KINDS, parse_timestamp
from ledger.plugins import Plugins

BASE = Path(__file__).parent / "fixtures" / "base.jsonl"

CONTRACT_TYPES = [
    "person-added",
    "person-updated",
    "connection-declared",
    "referral-requested",
    "request-amended",
    "request-vetted",
    "introduction-made",
    "resume-forwarded",
    "follow-up-sent",
    "interview-scheduled",
    "interview-held",
    "feedback-given",
    "outcome-reported",
    "thank-you-sent",
    "referral-closed",
    "event-retracted",
    "person-forgotten",
]

# The smallest event of each type the ledger of base.jsonl accepts.
MINIMAL: dict[str, dict[str, Any]] = {
    "person-added": {"handle": "zoe", "name": "Zoe"},
    "person-updated": {"handle": "dan", "title": "Analyst"},
    "connection-declared": {"by": "dan", "with": "erin", "kind": "met-once"},
    "referral-requested": {"referral": "r9", "by": "dan", "referrer": "erin", "company": "Acme"},
    "request-amended": {"referral": "r3", "by": "erin", "goal": "A first conversation"},
    "request-vetted": {"referral": "r3", "by": "carol", "decision": "decline", "knows_work": False},
    "introduction-made": {"referral": "r3", "by": "carol", "to": "bob"},
    "resume-forwarded": {"referral": "r3", "by": "carol", "to": "bob"},
    "follow-up-sent": {"referral": "r1", "by": "ana", "to": "bob"},
    "interview-scheduled": {"referral": "r1", "on": "2026-09-30T10:00:00Z"},
    "interview-held": {"referral": "r1"},
    "feedback-given": {"referral": "r1", "by": "bob", "to": "carol", "match": 1},
    "outcome-reported": {"referral": "r1", "by": "bob", "to": "ana", "outcome": "withdrawn"},
    "thank-you-sent": {"referral": "r1", "by": "bob", "to": "carol"},
    "referral-closed": {"referral": "r3", "by": "erin", "reason": "Found another way in"},
    "event-retracted": {
        "referral": "r1",
        "by": "bob",
        "retracts": "held-r1",
        "reason": "Rescheduled",
    },
    "person-forgotten": {"handle": "dan"},
}


@pytest.fixture
def ledger(cli):
    cli.ok("import", str(BASE))
    return cli


def test_the_types_are_the_contracts():
    assert sorted(CORE_TYPES) == sorted(CONTRACT_TYPES)
    assert sorted(MINIMAL) == sorted(CONTRACT_TYPES)


def test_kinds_run_weakest_first():
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
    assert WEAK_KINDS == {"linkedin-only", "met-once"}


def test_personal_and_handle_fields_name_real_fields():
    for name, model in CORE_TYPES.items():
        fields = {f.alias or key for key, f in model.model_fields.items()}
        for path in model.handles:
            assert path in fields, (name, path)
        for path in model.personal:
            assert path.split(".")[0] in fields, (name, path)


def test_the_smallest_event_of_each_type_is_recorded(ledger, subtests):
    seq = 14
    for kind in CONTRACT_TYPES:
        with subtests.test(kind):
            before = datetime.now(UTC)
            stored = ledger.record({"type": kind, **MINIMAL[kind]})
            after = datetime.now(UTC)
            seq += 1
            assert list(stored)[:3] == ["type", "id", "at"]
            assert stored["seq"] == seq
            assert uuid.UUID(stored["id"])  # generated when absent
            # `at` defaults to now, and the ledger stores it when it records it
            at = parse_timestamp(stored["at"])
            recorded = parse_timestamp(stored["recorded_at"])
            assert before - timedelta(seconds=1) <= at <= recorded <= after + timedelta(seconds=1)
            assert re.fullmatch(r"[0-9a-f]{64}", stored["hash"])
            for key, value in MINIMAL[kind].items():
                assert stored[key] == value, (kind, key)


def test_generated_ids_are_unique(ledger):
    ids = {
        ledger.record({"type": "follow-up-sent", "referral": "r1", "by": "ana", "to": "bob"})["id"]
        for _ in range(3)
    }
    assert len(ids) == 3


def test_record_prints_what_export_holds(ledger):
    stored = ledger.record(
        {"type": "follow-up-sent", "referral": "r1", "by": "ana", "to": "bob", "note": "Hi"}
    )
    assert ledger.export()[-1] == stored
    # the printed event, fed back as it is, is a no-op that reports the original
    again = ledger.json("record", "--json", orjson.dumps(stored).decode())
    assert again == stored
    assert len(ledger.export()) == stored["seq"]


def test_an_interview_may_be_scheduled_in_the_future(ledger):
    next_month = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)
    stored = ledger.record(
        {"type": "interview-scheduled", "referral": "r1", "on": next_month.isoformat()}
    )
    assert stored["on"] == next_month.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_every_optional_field_is_kept(ledger):
    full = {
        "type": "referral-requested",
        "referral": "r9",
        "by": "dan",
        "referrer": "erin",
        "company": "Acme",
        "target": "bob",
        "role": "Data engineer",
        "posting_at": "2026-09-01",
        "goal": "A chat",
        "relationship": "acquaintance",
        "preparation": {
            "researched_company": True,
            "researched_person": False,
            "questions": ["Why?", ""],
            "expectations": "",
            "follow_up_plan": "Call",
            "qualifications": "SQL",
        },
        "at": "2026-09-20T09:00:00Z",
        "id": "full-request",
    }
    stored = ledger.record(full)
    assert {k: stored[k] for k in full} == full


# -- event types from plugins --------------------------------------------------------------------


class CoffeePlugin:
    @hookimpl
    def register_event_types(self):
        class Coffee(Event):
            type: Literal["coffee-had"]
            by: str
            note: str | None = None
            handles: ClassVar[tuple[str, ...]] = ("by",)
            referral_event: ClassVar[bool] = False

        return [Coffee]


class Impostor:
    @hookimpl
    def register_event_types(self):
        class FakeAdded(Event):
            type: Literal["person-added"]

        return [FakeAdded]


def test_a_plugin_event_type_is_recorded_exported_and_restored(ledger, monkeypatch, tmp_path):
    monkeypatch.setattr(
        plugins_module,
        "_default",
        Plugins(load_entry_points=False, extra={"coffee": CoffeePlugin()}),
    )
    stored = ledger.record(
        {"type": "coffee-had", "by": "ana", "note": "Flat white", "at": "2026-09-20T09:00:00Z"}
    )
    assert stored["note"] == "Flat white" and stored["seq"] == 15
    assert (
        "unknown person 'zoe'"
        in ledger.refused("record", '{"type":"coffee-had","by":"zoe"}').stderr
    )
    dump = tmp_path / "export.jsonl"
    dump.write_text(ledger.ok("export").stdout)
    other = Cli(str(tmp_path / "other.db"))
    other.ok("import", str(dump))
    assert other.ok("export").stdout == dump.read_text()


def test_a_plugin_may_not_take_a_contract_type_name(tmp_path):
    with pytest.raises(LedgerError, match="person-added"):
        Ledger(
            str(tmp_path / "l.db"),
            plugins=Plugins(load_entry_points=False, extra={"impostor": Impostor()}),
        )


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-02T09:30:00Z",
        "2026-11-02T09:30:00.000001Z",
        "2026-11-02T09:30:00.250000Z",
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "2024-02-29T12:00:00Z",
        # not as the ledger writes them: the full parse
        "2026-11-02T09:30:00.25Z",
        "2026-11-02T09:30:00+02:00",
        "2026-11-02 09:30:00Z",
        # refused, with parse_timestamp's message
        "2026-02-30T09:30:00Z",
        "2026-11-02T24:00:00Z",
        "1969-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "2026-11-02T09:30:00.1234567Z",
    ],
)
def test_views_micros_is_parse_timestamp_in_microseconds(value):
    from ledger.events import to_micros
    from ledger.views import micros

    try:
        expected: Any = to_micros(parse_timestamp(value, future_ok=True))
    except ValueError as exc:
        expected = str(exc)
    try:
        found: Any = micros(value)
    except ValueError as exc:
        found = str(exc)
    assert found == expected
