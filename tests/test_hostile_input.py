"""Bad input, on purpose: every case is refused with `Error:` and exit 2, no traceback, and the
SQLite file is byte-for-byte what it was. Names and notes can never smuggle terminal escapes
onto a screen: control characters are refused on the way in, and nothing a command prints
carries a raw one.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli

from ledger.app import Ledger

PAST = "2026-11-01T09:00:00Z"
ESC = "\x1b"
# Bytes a terminal acts on: ESC, the C1 CSI/OSC introducers, BEL, CR, backspace, DEL.
TERMINAL_BYTES = [b"\x1b", b"\x07", b"\r", b"\x08", b"\x7f", "\u009b".encode(), "\u009d".encode()]


def at(day: int, hour: int = 9) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00Z"


STORY: list[dict[str, Any]] = [
    {"type": "person-added", "id": "p-ana", "handle": "ana", "name": "Ana Ruiz", "at": at(1)},
    {"type": "person-added", "id": "p-cat", "handle": "cat", "name": "Cat Lee", "at": at(1)},
    {
        "type": "person-added",
        "id": "p-bob",
        "handle": "bob",
        "name": "Bob",
        "company": "Acme",
        "at": at(1),
    },
    {
        "type": "connection-declared",
        "id": "c-1",
        "by": "ana",
        "with": "cat",
        "kind": "friend",
        "at": at(1),
    },
    {
        "type": "referral-requested",
        "id": "req-1",
        "referral": "r1",
        "by": "ana",
        "referrer": "cat",
        "company": "Acme",
        "at": at(2),
    },
    {
        "type": "request-vetted",
        "id": "vet-1",
        "referral": "r1",
        "by": "cat",
        "decision": "accept",
        "knows_work": True,
        "at": at(3),
    },
    {
        "type": "introduction-made",
        "id": "intro-1",
        "referral": "r1",
        "by": "cat",
        "to": "bob",
        "at": at(4),
    },
    {
        "type": "referral-requested",
        "id": "req-2",
        "referral": "r2",
        "by": "ana",
        "referrer": "cat",
        "company": "Acme",
        "at": at(2),
    },
    {
        "type": "referral-closed",
        "id": "close-2",
        "referral": "r2",
        "by": "ana",
        "reason": "found another way",
        "at": at(5),
    },
    {
        "type": "event-retracted",
        "id": "retract-1",
        "referral": "r1",
        "by": "cat",
        "retracts": "vet-1",
        "reason": "wrong decision",
        "at": at(6),
    },
]


def ev(**fields: Any) -> str:
    return json.dumps(fields)


def intro(**over: Any) -> str:
    base = {"type": "introduction-made", "referral": "r1", "by": "cat", "to": "bob", "at": at(7)}
    base.update(over)
    return json.dumps({k: v for k, v in base.items() if v is not None})


def person(**over: Any) -> str:
    base = {"type": "person-added", "handle": "dee", "name": "Dee", "at": at(7)}
    base.update(over)
    return json.dumps({k: v for k, v in base.items() if v is not None})


def nested(depth: int) -> str:
    return (
        '{"type":"person-added","handle":"dee","name":"Dee","email":'
        + "[" * depth
        + "]" * depth
        + "}"
    )


# (case id, JSON text given to `record`, a fragment the error must contain)
RECORD_CASES: list[tuple[str, str, str]] = [
    # malformed and hostile JSON
    ("truncated", '{"type":"person-added","handle":', "malformed JSON"),
    ("empty", "", "empty input"),
    ("blank", "   \n ", "empty input"),
    ("array", "[]", "expected a JSON object"),
    ("string", '"person-added"', "expected a JSON object"),
    ("null", "null", "expected a JSON object"),
    ("number", "42", "expected a JSON object"),
    (
        "nan",
        '{"type":"feedback-given","referral":"r1","by":"bob","to":"cat","match":NaN}',
        "malformed JSON",
    ),
    (
        "infinity",
        '{"type":"feedback-given","referral":"r1","by":"bob","to":"cat","match":Infinity}',
        "malformed JSON",
    ),
    (
        "huge-exponent",
        '{"type":"feedback-given","referral":"r1","by":"bob","to":"cat","match":1e400}',
        "malformed JSON",
    ),
    (
        "duplicate-key",
        '{"type":"person-added","handle":"dee","handle":"eve","name":"D"}',
        "duplicate key",
    ),
    (
        "duplicate-nested-key",
        (
            '{"type":"referral-requested","referral":"r9","by":"ana","referrer":"cat","company":"Acme",'
            '"preparation":{"researched_company":true,"researched_company":false}}'
        ),
        "duplicate key",
    ),
    ("deep-nesting", nested(500), "nested deeper"),
    ("deeper-than-the-parser", nested(5000), "malformed JSON"),
    ("nesting-past-limit", nested(20), "nested deeper"),
    ("lone-surrogate", '{"type":"person-added","handle":"dee","name":"\\ud800"}', ""),
    ("trailing-garbage", person() + " trailing", "malformed JSON"),
    ("two-objects", person() + person(handle="eve"), "malformed JSON"),
    ("single-quotes", "{'type':'person-added'}", "malformed JSON"),
    ("comment", '{"type":"person-added", /* hi */ "handle":"dee","name":"D"}', "malformed JSON"),
    ("byte-order-mark", "\ufeff" + person(), "malformed JSON"),
    # wrong types
    (
        "match-as-string",
        ev(type="feedback-given", referral="r1", by="bob", to="cat", match="3", at=at(7)),
        "match",
    ),
    (
        "match-as-float",
        ('{"type":"feedback-given","referral":"r1","by":"bob","to":"cat","match":3.0}'),
        "match",
    ),
    (
        "match-as-bool",
        ev(type="feedback-given", referral="r1", by="bob", to="cat", match=True),
        "match",
    ),
    (
        "match-out-of-range",
        ev(type="feedback-given", referral="r1", by="bob", to="cat", match=6),
        "match",
    ),
    (
        "match-64-bit-overflow",
        (
            '{"type":"feedback-given","referral":"r1","by":"bob","to":"cat",'
            '"match":99999999999999999999999}'
        ),
        "match",
    ),
    (
        "knows-work-as-int",
        ev(type="request-vetted", referral="r1", by="cat", decision="accept", knows_work=1),
        "knows_work",
    ),
    ("handle-as-number", ev(type="person-added", handle=7, name="Seven"), "handle"),
    ("name-as-list", ev(type="person-added", handle="dee", name=["Dee"]), "name"),
    ("type-as-list", ev(type=["person-added"], handle="dee", name="Dee"), "type"),
    ("type-missing", ev(handle="dee", name="Dee"), "type"),
    ("type-unknown", person(type="person-removed"), "unknown event type"),
    ("field-unknown", person(nickname="D"), "unknown field"),
    ("field-null-required", '{"type":"person-added","handle":"dee","name":null}', "name"),
    ("name-empty", person(name=""), "name"),
    ("name-blank", person(name="   "), "name"),
    (
        "company-empty",
        ev(type="referral-requested", referral="r9", by="ana", referrer="cat", company=""),
        "company",
    ),
    ("reason-empty", ev(type="referral-closed", referral="r1", by="ana", reason=""), "reason"),
    ("handle-uppercase", person(handle="Dee"), "handle"),
    ("handle-too-long", person(handle="d" * 65), "handle"),
    ("handle-with-slash", person(handle="../etc"), "handle"),
    (
        "decision-unknown",
        ev(type="request-vetted", referral="r1", by="cat", decision="maybe", knows_work=True),
        "decision",
    ),
    (
        "kind-unknown",
        ev(type="connection-declared", by="ana", kind="enemy", **{"with": "cat"}),
        "kind",
    ),
    (
        "since-impossible-date",
        ev(
            type="connection-declared",
            by="ana",
            kind="friend",
            since="2026-02-30",
            **{"with": "cat"},
        ),
        "since",
    ),
    ("email-malformed", person(email="not-an-email"), "email"),
    ("id-too-long", person(id="x" * 129), "id"),
    ("id-non-ascii", person(id="caf\u00e9"), "id"),
    (
        "preparation-not-object",
        ev(
            type="referral-requested",
            referral="r9",
            by="ana",
            referrer="cat",
            company="Acme",
            preparation=["yes"],
        ),
        "preparation",
    ),
    (
        "questions-too-many",
        ev(
            type="referral-requested",
            referral="r9",
            by="ana",
            referrer="cat",
            company="Acme",
            preparation={"questions": ["q"] * 51},
        ),
        "questions",
    ),
    ("name-too-long", person(name="D" * 201), "name"),
    # unknown references
    ("unknown-referral", intro(referral="nope"), "unknown referral"),
    ("unknown-target", intro(to="zoe"), "unknown person"),
    (
        "unknown-requester",
        ev(type="referral-requested", referral="r9", by="zoe", referrer="cat", company="Acme"),
        "unknown person",
    ),
    (
        "retract-unknown-id",
        ev(type="event-retracted", by="cat", retracts="no-such-id", reason="oops"),
        "no stored event",
    ),
    (
        "declare-unknown",
        ev(type="connection-declared", by="ana", kind="friend", **{"with": "zoe"}),
        "unknown person",
    ),
    # lifecycle out of order and the write rules
    (
        "feedback-before-interview",
        ev(type="feedback-given", referral="r1", by="bob", to="cat", match=4, at=at(7)),
        "interview-held",
    ),
    ("intro-by-requester", intro(by="ana"), "by the referrer"),
    ("intro-to-requester", intro(to="ana"), "target"),
    ("intro-after-close", intro(referral="r2", at=at(7)), "closed"),
    (
        "closed-twice",
        ev(type="referral-closed", referral="r2", by="ana", reason="again", at=at(7)),
        "already closed",
    ),
    ("before-request", intro(at=at(1, 8)), "earlier than the referral was requested"),
    (
        "requester-is-referrer",
        ev(type="referral-requested", referral="r9", by="ana", referrer="ana", company="Acme"),
        "three different people",
    ),
    (
        "referral-key-reused",
        ev(type="referral-requested", referral="r1", by="ana", referrer="cat", company="Acme"),
        "already exists",
    ),
    ("person-added-twice", person(handle="ana"), "already exists"),
    (
        "declare-with-self",
        ev(type="connection-declared", by="ana", kind="friend", **{"with": "ana"}),
        "themselves",
    ),
    (
        "retract-a-retraction",
        ev(type="event-retracted", referral="r1", by="cat", retracts="retract-1", reason="undo"),
        "retraction",
    ),
    (
        "retract-twice",
        ev(type="event-retracted", referral="r1", by="cat", retracts="vet-1", reason="again"),
        "already retracted",
    ),
    (
        "retract-person",
        ev(type="event-retracted", by="cat", retracts="p-ana", reason="no"),
        "cannot be retracted",
    ),
    (
        "retract-wrong-referral",
        ev(type="event-retracted", referral="r2", by="cat", retracts="intro-1", reason="no"),
        "belongs to referral",
    ),
    (
        "id-reused-other-content",
        person(id="p-ana", handle="ana", name="Someone Else"),
        "different content",
    ),
    # timestamps
    ("at-naive", person(at="2026-11-01T09:00:00"), "no UTC offset"),
    ("at-date-only", person(at="2026-11-01"), "at"),
    ("at-future", person(at="2099-01-01T00:00:00Z"), "future"),
    ("at-year-1", person(at="0001-01-01T00:00:00Z"), "before 1970"),
    ("at-year-1-positive-offset", person(at="0001-01-01T00:00:00+01:00"), "out of range"),
    ("at-before-epoch", person(at="1969-12-31T23:59:59Z"), "before 1970"),
    ("at-year-99999", person(at="99999-01-01T00:00:00Z"), "at"),
    ("at-absurd", person(at="2026-13-45T99:99Z"), "at"),
    ("at-words", person(at="yesterday"), "at"),
    ("at-epoch-number", person(at=1_762_000_000), "at"),
    (
        "on-past-calendar-end",
        ev(type="interview-scheduled", referral="r1", on="9999-12-31T23:59:59-01:00"),
        "out of range",
    ),
    # control characters and terminal escapes
    ("name-clear-screen", person(name="Dee\x1b[2J"), "control character"),
    (
        "name-osc8-link",
        person(name="\x1b]8;;https://evil.example\x07click\x1b]8;;\x07"),
        "control character",
    ),
    ("name-bell", person(name="Dee\x07"), "control character"),
    ("name-carriage-return", person(name="Innocent\rEvil"), "control character"),
    ("name-newline", person(name="two\nlines"), "single line"),
    ("name-c1-csi", person(name="Dee\u009b2J"), "control character"),
    ("name-nul", person(name="Dee\x00"), "control character"),
    ("name-delete", person(name="Dee\x7f"), "control character"),
    ("company-escape", person(company="Acme\x1b[31m"), "control character"),
    ("title-backspace", person(title="CEO\x08\x08\x08intern"), "control character"),
    ("note-escape", intro(note="hi\x1b[1;1H\x1b[2J"), "control character"),
    (
        "reason-osc",
        ev(type="referral-closed", referral="r1", by="ana", reason="\x1b]0;pwned\x07"),
        "control character",
    ),
    (
        "question-escape",
        ev(
            type="referral-requested",
            referral="r9",
            by="ana",
            referrer="cat",
            company="Acme",
            preparation={"questions": ["ok", "\x1b[2J"]},
        ),
        "control character",
    ),
    ("id-escape", person(id="\x1b[2J"), "id"),
    ("type-escape", person(type="\x1b[2Jperson-added"), "unknown event type"),
    ("field-name-escape", person(**{"\x1b[2J": 1}), "unknown field"),
    ("handle-escape", person(handle="\x1b[2J"), "handle"),
]


def file_state(path: str) -> dict[str, str | None]:
    """The database and its journal, hashed; None for a file that is not there."""
    state: dict[str, str | None] = {}
    for suffix in ("", "-wal"):
        p = Path(path + suffix)
        state[suffix or "db"] = hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None
    return state


def assert_no_terminal_bytes(data: bytes) -> None:
    for raw in TERMINAL_BYTES:
        assert raw not in data, (raw, data[:500])


@pytest.fixture(scope="module")
def story_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "story.db"
    cli = Cli(str(path))
    for event in STORY:
        cli.record(event)
    return path


@pytest.fixture
def ledger_cli(story_db: Path, tmp_path: Path) -> Cli:
    """A copy of the story ledger (closed, so the WAL is folded in), opened once already."""
    path = tmp_path / "ledger.db"
    path.write_bytes(story_db.read_bytes())
    cli = Cli(str(path))
    cli.ok("export")  # opened once; plugins' derived rows are left behind on purpose, so a
    # refused read that brought them up to date first would change the file and be caught
    return cli


def refused_unchanged(cli: Cli, run: Callable[[], Any], fragment: str = "") -> Any:
    before = file_state(cli.db)
    result = run()
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stderr.startswith("Error: "), result.stderr
    assert fragment in result.stderr, (fragment, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert_no_terminal_bytes(result.stdout_bytes + result.stderr_bytes)
    assert file_state(cli.db) == before
    return result


@pytest.mark.parametrize(
    ("text", "fragment"), [c[1:] for c in RECORD_CASES], ids=[c[0] for c in RECORD_CASES]
)
def test_record_refuses(ledger_cli: Cli, text: str, fragment: str) -> None:
    refused_unchanged(ledger_cli, lambda: ledger_cli("record", text), fragment)


@pytest.mark.parametrize(
    ("text", "fragment"), [c[1:] for c in RECORD_CASES[::7]], ids=[c[0] for c in RECORD_CASES[::7]]
)
def test_record_from_stdin_refuses(ledger_cli: Cli, text: str, fragment: str) -> None:
    refused_unchanged(ledger_cli, lambda: ledger_cli("record", "-", input=text), fragment)


def test_the_matrix_is_large_enough() -> None:
    assert len(RECORD_CASES) >= 40
    assert len({c[0] for c in RECORD_CASES}) == len(RECORD_CASES)


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("invalid-utf8", b'{"type":"person-added","handle":"dee","name":"\xff\xfe"}', "UTF-8"),
        ("utf16", '{"type":"person-added","handle":"dee","name":"D"}'.encode("utf-16"), ""),
        ("nul-bytes", b"\x00" * 64, ""),
    ],
)
def test_record_refuses_bytes_on_stdin(
    ledger_cli: Cli, name: str, data: bytes, fragment: str
) -> None:
    refused_unchanged(ledger_cli, lambda: ledger_cli("record", "-", input=data), fragment)


ARGUMENT_CASES: list[tuple[str, list[str], str]] = [
    ("show-escape", ["show", "r1\x1b[2J"], "unknown referral"),
    ("audit-osc8", ["audit", "r1\x1b]8;;https://evil\x07x", "--json"], "unknown referral"),
    ("reputation-escape", ["reputation", "ana\x1b[2J", "--json"], "unknown person"),
    ("alerts-as-of-escape", ["alerts", "--as-of", "\x1b[2J"], "--as-of"),
    ("flags-known-at-absurd", ["flags", "--known-at", "2026-13-45T99:99Z"], "--known-at"),
    ("alerts-as-of-year-1", ["alerts", "--as-of", "0001-01-01T00:00:00+01:00"], "--as-of"),
    ("forget-unknown", ["forget", "ana\x1b[2J", "--yes"], "unknown person"),
    ("retract-escape-id", ["retract", "x\x1b[2J", "--by", "ana", "--reason", "x"], "retracts"),
    ("close-bad-key", ["close", "r1\x1b[2J", "--by", "ana", "--reason", "x"], "referral"),
    ("verify-head-escape", ["verify", "--head", "\x1b[2J"], "--head"),
    ("import-escape-path", ["import", "/nonexistent/\x1b[2J"], "cannot read"),
    ("export-unwritable", ["export", "-o", "/nonexistent/\x1b[2J"], "cannot write"),
]


@pytest.mark.parametrize(
    ("args", "fragment"), [c[1:] for c in ARGUMENT_CASES], ids=[c[0] for c in ARGUMENT_CASES]
)
def test_command_arguments_refuse(ledger_cli: Cli, args: list[str], fragment: str) -> None:
    refused_unchanged(ledger_cli, lambda: ledger_cli(*args), fragment)


def test_a_one_megabyte_note_is_refused(ledger_cli: Cli) -> None:
    text = intro(note="x" * 1024 * 1024)
    refused_unchanged(ledger_cli, lambda: ledger_cli("record", "-", input=text), "limit")


def test_a_note_just_over_the_field_limit_is_refused(ledger_cli: Cli) -> None:
    refused_unchanged(ledger_cli, lambda: ledger_cli("record", intro(note="x" * 4001)), "note")


# -- import ----------------------------------------------------------------------------------


def jsonl(events: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def good_lines(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"type": "person-added", "handle": f"x{start + i}", "name": f"X {i}", "at": at(8)}
        for i in range(n)
    ]


IMPORT_CASES: list[tuple[str, Callable[[], bytes], str]] = [
    (
        "garbage-3mb",
        lambda: b"".join(
            b"%08d not json at all \x1b[2J \xde\xad\xbe\xef\n" % i
            for i in range(3 * 1024 * 1024 // 40)
        ),
        "",
    ),
    ("garbage-ascii-3mb", lambda: b"{{{{ this is not an event }}}}\n" * 100_000, "line 1"),
    ("only-blank-lines", lambda: b"\n\n   \n", "nothing to import"),
    ("empty-file", lambda: b"", "nothing to import"),
    ("bad-last-line", lambda: jsonl(good_lines(2000)) + b'{"type":"person-added"\n', "line 2001"),
    (
        "bad-middle-line",
        lambda: jsonl(good_lines(50)) + jsonl([{"type": "nope"}]) + jsonl(good_lines(50, 50)),
        "line 51",
    ),
    (
        "rule-broken-late",
        lambda: (
            jsonl(good_lines(30))
            + jsonl([{"type": "introduction-made", "referral": "nope", "by": "cat", "to": "bob"}])
        ),
        "line 31",
    ),
    (
        "same-id-twice",
        lambda: jsonl(
            [
                {"type": "person-added", "id": "dup", "handle": "dee", "name": "Dee", "at": at(8)},
                {"type": "person-added", "id": "dup", "handle": "eve", "name": "Eve", "at": at(8)},
            ]
        ),
        "twice",
    ),
    (
        "escape-in-a-name",
        lambda: (
            jsonl(good_lines(3))
            + jsonl(
                [
                    {
                        "type": "person-added",
                        "handle": "dee",
                        "name": "\x1b]8;;http://x\x07y",
                        "at": at(8),
                    }
                ]
            )
        ),
        "line 4",
    ),
    ("invalid-utf8-line", lambda: jsonl(good_lines(3)) + b'{"name":"\xc3\x28"}\n', "UTF-8"),
    (
        "bad-recorded-at",
        lambda: jsonl(
            [
                {
                    "type": "person-added",
                    "handle": "dee",
                    "name": "Dee",
                    "at": at(8),
                    "recorded_at": "2026-13-45T99:99Z",
                },
            ]
        ),
        "recorded_at",
    ),
]


@pytest.mark.parametrize(
    ("data_fn", "fragment"), [c[1:] for c in IMPORT_CASES], ids=[c[0] for c in IMPORT_CASES]
)
def test_import_refuses(
    ledger_cli: Cli, tmp_path: Path, data_fn: Callable[[], bytes], fragment: str
) -> None:
    source = tmp_path / "input.jsonl"
    source.write_bytes(data_fn())
    refused_unchanged(ledger_cli, lambda: ledger_cli("import", str(source)), fragment)


def test_import_refuses_a_missing_file(ledger_cli: Cli, tmp_path: Path) -> None:
    refused_unchanged(ledger_cli, lambda: ledger_cli("import", str(tmp_path / "absent.jsonl")))


def test_import_refuses_a_directory(ledger_cli: Cli, tmp_path: Path) -> None:
    """click checks the argument itself: its usage error comes first, then `Error:`."""
    before = file_state(ledger_cli.db)
    result = ledger_cli("import", str(tmp_path))
    assert result.exit_code == 2
    assert "Error: " in result.stderr and "Traceback" not in result.stderr
    assert file_state(ledger_cli.db) == before


def test_import_refuses_an_altered_export(ledger_cli: Cli, tmp_path: Path) -> None:
    """A restore checks the file's hashes: one changed letter in a name is caught."""
    events = ledger_cli.export()
    events[0]["name"] = "Ana Ruis"
    empty = Cli(str(tmp_path / "empty.db"))
    Ledger(empty.db).close()
    source = tmp_path / "altered.jsonl"
    source.write_bytes(jsonl(events))
    refused_unchanged(empty, lambda: empty("import", str(source)), "hash")
    assert empty.export() == []


def test_import_refuses_a_reordered_export(ledger_cli: Cli, tmp_path: Path) -> None:
    events = ledger_cli.export()
    events[1], events[2] = events[2], events[1]
    empty = Cli(str(tmp_path / "empty.db"))
    Ledger(empty.db).close()
    source = tmp_path / "reordered.jsonl"
    source.write_bytes(jsonl(events))
    refused_unchanged(empty, lambda: empty("import", str(source)))
    assert empty.export() == []


# -- the same refusals on every backend (PostgreSQL has no file to hash: compare the export) ----


@pytest.mark.parametrize(
    ("text", "fragment"), [c[1:] for c in RECORD_CASES[::5]], ids=[c[0] for c in RECORD_CASES[::5]]
)
def test_refusals_store_nothing_on_each_backend(cli: Cli, text: str, fragment: str) -> None:
    cli.ok("import", "-", input=jsonl(STORY))
    before = cli.export()
    result = cli.refused("record", text)
    assert fragment in result.stderr
    assert cli.export() == before


# -- what commands print never drives the terminal ----------------------------------------------


def test_nothing_printed_carries_a_raw_escape(ledger_cli: Cli) -> None:
    """The closest a stored value gets to an escape (a bidi override, a zero-width joiner: kept
    in free text, refused in names) comes back out with no terminal control byte, from every
    read command there is."""
    ledger_cli.record(
        {
            "type": "request-vetted",
            "referral": "r1",
            "by": "cat",
            "decision": "accept",
            "knows_work": True,
            "note": "Dee \u202eevil\u200d",
            "at": at(8),
        }
    )
    outputs = [ledger_cli.ok("export").stdout_bytes]
    commands = ledger_cli.cli.commands
    for name, args in [
        ("audit", ["r1", "--json"]),
        ("audit", ["r1"]),
        ("alerts", ["--json"]),
        ("alerts", []),
        ("flags", ["--json"]),
        ("flags", []),
        ("reputation", ["--json"]),
        ("reputation", []),
        ("verify", ["--json"]),
        ("show", ["r1"]),
        ("show", ["r1", "--json"]),
        ("list", []),
        ("list", ["--json"]),
    ]:
        assert name in commands, f"`{name}` is not a command any more: update this list"
        outputs.append(ledger_cli.ok(name, *args).stdout_bytes)
    for out in outputs:
        assert_no_terminal_bytes(out)


def test_error_messages_show_hostile_input_escaped(ledger_cli: Cli) -> None:
    result = refused_unchanged(ledger_cli, lambda: ledger_cli("record", person(type="\x1b[2J")))
    assert "\\x1b[2J" in result.stderr


# -- through a real process ------------------------------------------------------------------


def run(
    db: Path, *args: str | bytes, input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "REFERRAL_LEDGER_DB": str(db)}
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        input=input,
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_real_process_refuses_escapes_invalid_utf8_and_garbage(
    ledger_cli: Cli, tmp_path: Path
) -> None:
    db = Path(ledger_cli.db)
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x1b[2J\x00\xff garbage\n" * 10_000)
    before = file_state(str(db))
    for args, stdin in [
        (["record", person(name="Dee\x1b[2J\x1b]8;;http://evil\x07x\x1b]8;;\x07")], None),
        ([b"record", b'{"type":"person-added","handle":"dee","name":"\xff"}'], None),
        (["record", "-"], b'{"type":"person-added","handle":"dee","name":"D\xed\xa0\x80"}'),
        (["import", str(garbage)], None),
    ]:
        proc = run(db, *args, input=stdin)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.startswith(b"Error: "), proc.stderr
        assert b"Traceback" not in proc.stderr
        assert_no_terminal_bytes(proc.stdout + proc.stderr)
        assert file_state(str(db)) == before


def test_export_into_a_closed_pipe_exits_quietly(tmp_path: Path) -> None:
    db = tmp_path / "big.db"
    # well past a pipe's 64 KiB buffer, so `head` goes away while export is still writing
    Cli(str(db)).ok("import", "-", input=jsonl(good_lines(3000)))
    env = {**os.environ, "REFERRAL_LEDGER_DB": str(db)}
    proc = subprocess.run(
        f"{sys.executable} -m ledger export | head -1",
        shell=True,
        capture_output=True,
        env=env,
        timeout=120,
        executable="/bin/bash",
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.count(b"\n") == 1
    assert proc.stderr == b"", proc.stderr
    # and the exit status of `export` itself, not of `head`
    proc = subprocess.run(
        f"set -o pipefail; {sys.executable} -m ledger export | head -c 100 >/dev/null",
        shell=True,
        capture_output=True,
        env=env,
        timeout=120,
        executable="/bin/bash",
        check=False,
    )
    assert b"Traceback" not in proc.stderr and b"BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
