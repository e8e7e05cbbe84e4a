"""Hostile input at the edges (issue [8], items 3, 6, 7 and 8): files that never end, characters
that disguise text, config typos, fields that `export` adds given back to `record`, and ids that
hold an email address. Every refusal is exit 2 with `Error:`, and the ledger's `export` and
`verify` are exactly what they were."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli

from ledger import hookimpl as ledger_hookimpl
from ledger.interchange import MAX_EVENT_BYTES


def at(day: int, hour: int = 9) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00Z"


PEOPLE: list[dict[str, Any]] = [
    {"type": "person-added", "id": "p-ana", "handle": "ana", "name": "Ana", "at": at(1)},
    {"type": "person-added", "id": "p-cat", "handle": "cat", "name": "Cat", "at": at(1)},
    {
        "type": "person-added",
        "id": "p-bob",
        "handle": "bob",
        "name": "Bob",
        "company": "Acme",
        "at": at(1),
    },
]


def story(text: str = "plain") -> list[dict[str, Any]]:
    """Two referrals whose free text (notes, goal, role, reasons) all carry `text`."""
    return [
        *PEOPLE,
        {
            "type": "connection-declared",
            "id": "c-1",
            "by": "ana",
            "with": "cat",
            "kind": "friend",
            "note": f"note {text} 1",
            "at": at(1),
        },
        {
            "type": "referral-requested",
            "id": "req-1",
            "referral": "r1",
            "by": "ana",
            "referrer": "cat",
            "company": "Acme",
            "role": f"role {text}",
            "goal": f"goal {text}",
            "at": at(2),
        },
        {
            "type": "request-vetted",
            "id": "vet-1",
            "referral": "r1",
            "by": "cat",
            "decision": "accept",
            "knows_work": True,
            "note": f"vetting {text}",
            "at": at(3),
        },
        {
            "type": "introduction-made",
            "id": "intro-1",
            "referral": "r1",
            "by": "cat",
            "to": "bob",
            "note": f"intro {text}",
            "at": at(4),
        },
        {
            "type": "event-retracted",
            "id": "retract-1",
            "referral": "r1",
            "by": "cat",
            "retracts": "vet-1",
            "reason": f"retraction {text}",
            "at": at(6),
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
            "reason": f"closing {text}",
            "at": at(5),
        },
    ]


def jsonl(events: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def events_of(cli: Cli) -> list[dict[str, Any]]:
    # Split on newlines only: `str.splitlines` also splits inside text holding U+2028.
    return [orjson.loads(line) for line in cli.ok("export").stdout_bytes.split(b"\n") if line]


def snapshot(cli: Cli) -> tuple[str, str]:
    """What must not change: the export, and what verify says of the chain."""
    return cli.ok("export").stdout, cli.ok("verify", "--json").stdout


@pytest.fixture
def told(cli: Cli) -> Cli:
    """A ledger holding the plain story."""
    cli.ok("import", "-", input=jsonl(story()))
    return cli


# -- 3. bounded memory: a line, a stdin or a file that never ends -----------------------------

# Run a command in a process of its own under a fresh parent, so that the peak RSS reported for
# children is this command's alone.
MEASURE = """
import json, resource, subprocess, sys
stdin = open(sys.argv[1], "rb") if sys.argv[1] != "-" else None
proc = subprocess.run(sys.argv[2:], stdin=stdin, capture_output=True, timeout=60)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": proc.returncode, "stderr": proc.stderr.decode(errors="replace"),
                  "stdout": proc.stdout.decode(errors="replace"), "peak_kb": peak}))
"""
# The interpreter and the ledger's modules take about 35 MB; reading a whole /dev/zero line
# would take all there is.
PEAK_LIMIT_KB = 100 * 1024


def measured(db: str, *args: str, stdin: str = "-") -> dict[str, Any]:
    env = {**os.environ, "REFERRAL_LEDGER_DB": db}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, stdin, sys.executable, "-m", "ledger", *args],
        capture_output=True,
        env=env,
        timeout=90,
        check=True,
    )
    result = json.loads(proc.stdout)
    result["seconds"] = time.monotonic() - started
    return result


ENDLESS_CASES = [
    ("import-dev-zero", ["import", "/dev/zero"], "-", "line 1: event is over"),
    ("import-stdin-dev-zero", ["import", "-"], "/dev/zero", "line 1: event is over"),
    ("record-stdin-dev-zero", ["record", "-"], "/dev/zero", "event is over"),
    ("verify-checkpoint-dev-zero", ["verify", "--checkpoint", "/dev/zero"], "-", "/dev/zero"),
    ("verify-checkpoint-stdin", ["verify", "--checkpoint", "-"], "/dev/zero", "stdin"),
    ("config-dev-zero", ["--config", "/dev/zero", "alerts"], "-", "'/dev/zero'"),
    ("key-file-dev-zero", ["--master-key-file", "/dev/zero", "verify"], "-", "/dev/zero"),
]


@pytest.mark.parametrize(
    ("args", "stdin", "fragment"), [c[1:] for c in ENDLESS_CASES], ids=[c[0] for c in ENDLESS_CASES]
)
def test_an_endless_input_is_refused_in_seconds_and_tens_of_megabytes(
    told: Cli, args: list[str], stdin: str, fragment: str
) -> None:
    before = snapshot(told)
    result = measured(told.db, *args, stdin=stdin)
    assert result["code"] == 2, result
    assert result["stderr"].startswith("Error: "), result
    assert fragment in result["stderr"], result
    assert "Traceback" not in result["stderr"]
    assert result["seconds"] < 30, result
    assert result["peak_kb"] < PEAK_LIMIT_KB, result
    assert snapshot(told) == before


def test_a_ten_megabyte_line_is_refused_after_reading_one_event(told: Cli, tmp_path: Path) -> None:
    source = tmp_path / "one-line.jsonl"
    good = orjson.dumps(PEOPLE[0] | {"id": "p-dee", "handle": "dee"}) + b"\n"
    source.write_bytes(good + b'{"type":"person-added","note":"' + b"a" * 10_000_000)
    before = snapshot(told)
    result = measured(told.db, "import", str(source))
    assert result["code"] == 2, result
    assert result["stderr"] == (
        f"Error: line 2: event is over {MAX_EVENT_BYTES} bytes; the limit is {MAX_EVENT_BYTES}\n"
    )
    assert result["peak_kb"] < PEAK_LIMIT_KB, result
    assert snapshot(told) == before


def padded(size: int) -> bytes:
    """A valid event line of exactly `size` bytes, newline included (JSON allows the spaces)."""
    body = orjson.dumps({"type": "person-added", "handle": "dee", "name": "Dee", "at": at(7)})
    return body + b" " * (size - len(body) - 1) + b"\n"


def test_a_line_of_exactly_the_limit_is_an_event_and_one_byte_more_is_not(told: Cli) -> None:
    before = snapshot(told)
    result = told.refused("import", "-", input=padded(MAX_EVENT_BYTES + 1))
    assert result.stderr == (
        f"Error: line 1: event is over {MAX_EVENT_BYTES} bytes; the limit is {MAX_EVENT_BYTES}\n"
    )
    assert snapshot(told) == before
    told.ok("import", "-", input=padded(MAX_EVENT_BYTES))
    assert told.export()[-1]["handle"] == "dee"


def test_record_from_stdin_reads_one_byte_past_the_limit_at_most(told: Cli) -> None:
    before = snapshot(told)
    result = told.refused("record", "-", input=padded(MAX_EVENT_BYTES + 1)[:-1] + b" " * 10**6)
    assert f"event is over {MAX_EVENT_BYTES} bytes" in result.stderr
    assert snapshot(told) == before


def test_a_checkpoint_file_over_a_megabyte_is_refused(told: Cli, tmp_path: Path) -> None:
    big = tmp_path / "checkpoint.json"
    big.write_bytes(told.ok("checkpoint").stdout_bytes + b" " * (1024 * 1024))
    before = snapshot(told)
    result = told.refused("verify", "--checkpoint", str(big))
    assert result.stderr == f"Error: {big} is larger than 1048576 bytes: not a checkpoint\n"
    assert snapshot(told) == before


def fifo(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    os.mkfifo(path)
    return path


def test_a_config_file_too_big_or_not_a_file_is_refused_naming_it(told: Cli, tmp_path: Path):
    big = tmp_path / "big.toml"
    # valid TOML all the way: only its size is wrong
    big.write_text("[due]\nfeedback-missing = 3\n" + "# padding\n" * 110_000)
    cases = [
        (big, f"config file '{big}' is larger than 1048576 bytes"),
        (fifo(tmp_path, "config.fifo"), "not a regular file"),
        (Path("/dev/zero"), "not a regular file"),
        (Path("/dev/null"), "not a regular file"),
    ]
    before = snapshot(told)
    for path, fragment in cases:
        result = told.refused("--config", str(path), "alerts")
        assert f"'{path}'" in result.stderr, result.stderr
        assert fragment in result.stderr, result.stderr
        assert snapshot(told) == before


def test_a_master_key_file_too_big_or_not_a_file_is_refused_naming_it(told: Cli, tmp_path: Path):
    big = tmp_path / "master.key"
    big.write_text("ab" * 32 + "\n" + "#" * 4096)
    cases = [
        (big, f"the master key file {big} is larger than 4096 bytes"),
        (fifo(tmp_path, "key.fifo"), "not a regular file"),
        (Path("/dev/zero"), "not a regular file"),
        (Path("/dev/urandom"), "not a regular file"),
    ]
    before = snapshot(told)
    for path, fragment in cases:
        for command in (["verify"], ["export"], ["record", orjson.dumps(PEOPLE[0]).decode()]):
            result = told.refused("--master-key-file", str(path), *command)
            assert str(path) in result.stderr, result.stderr
            assert fragment in result.stderr, result.stderr
        assert snapshot(told) == before


# -- 6. characters that disguise text ----------------------------------------------------------

SPOOFING = [
    *[chr(c) for c in range(0x202A, 0x202F)],  # embeddings and overrides
    *[chr(c) for c in range(0x2066, 0x206A)],  # isolates
    "\u200e",  # left-to-right mark
    "\u200f",  # right-to-left mark
    "\u061c",  # Arabic letter mark
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # zero-width no-break space (byte order mark)
    "\u2028",  # line separator
    "\u2029",  # paragraph separator
]
CONTROLS = ["\x1b", "\x07", "\x00", "\x7f", "\x85", "\x9b"]


def code(ch: str) -> str:
    return f"U+{ord(ch):04X}"


# (field, an event that puts `text` there)
NAME_FIELDS: list[tuple[str, Any]] = [
    ("name", lambda t: {"type": "person-added", "handle": "dee", "name": f"Dee{t}"}),
    ("company", lambda t: {"type": "person-added", "handle": "dee", "name": "D", "company": t}),
    ("title", lambda t: {"type": "person-added", "handle": "dee", "name": "D", "title": f"C{t}"}),
    ("email", lambda t: {"type": "person-added", "handle": "dee", "name": "D", "email": f"d{t}@x"}),
    (
        "company",
        lambda t: {
            "type": "referral-requested",
            "referral": "r9",
            "by": "ana",
            "referrer": "cat",
            "company": f"Acme{t}",
        },
    ),
    ("handle", lambda t: {"type": "person-added", "handle": f"dee{t}", "name": "Dee"}),
]


@pytest.mark.parametrize("ch", SPOOFING + CONTROLS, ids=code)
def test_names_refuse_every_character_that_disguises_text(told: Cli, ch: str) -> None:
    before = snapshot(told)
    for field, make in NAME_FIELDS:
        result = told.refused("record", orjson.dumps(make(ch)).decode())
        assert result.stderr.startswith(f"Error: {field}: "), result.stderr
        if field == "handle":  # a-z, 0-9 and . _ - : its message says just that
            assert "must be 1-64 characters" in result.stderr
        elif field == "email" and ch.isspace():  # the address pattern refuses it first
            assert "should match pattern" in result.stderr
        else:
            assert code(ch) in result.stderr, result.stderr
        assert ch not in result.stderr
        assert snapshot(told) == before


# Every command that prints text, and the arguments that make it print the story.
PRINTING = [
    ["audit", "r1"],
    ["audit", "r2"],
    ["show", "r1"],
    ["show", "r2"],
    ["list"],
    ["alerts", "--as-of", "2027-01-01T00:00:00Z"],
    ["flags"],
    ["reputation"],
    ["reputation", "ana"],
    ["reputation", "cat"],
]
# The free text each shows, so that the escape must be seen there.
SHOWS_TEXT = {("audit", "r1"), ("audit", "r2"), ("show", "r1")}


@pytest.fixture(scope="module")
def disguised(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Cli]:
    """One SQLite ledger per spoofing character, its story's free text carrying it."""
    ledgers = {}
    for ch in SPOOFING:
        cli = Cli(str(tmp_path_factory.mktemp("disguised") / "ledger.db"))
        cli.ok("import", "-", input=jsonl(story(f"a{ch}b")))
        ledgers[ch] = cli
    return ledgers


@pytest.mark.parametrize("args", PRINTING, ids=" ".join)
@pytest.mark.parametrize("ch", SPOOFING, ids=code)
def test_free_text_is_kept_and_printed_escaped(
    disguised: dict[str, Cli], ch: str, args: list[str]
) -> None:
    cli = disguised[ch]
    result = cli.ok(*args)
    assert ch not in result.stdout + result.stderr
    escaped = f"a\\u{ord(ch):04x}b"
    if tuple(args) in SHOWS_TEXT:
        assert escaped in result.stdout, result.stdout
        # the stored text is the given text: JSON is data, not a screen
        assert f"a{ch}b" in cli.ok(*args, "--json").stdout


@pytest.mark.parametrize("ch", SPOOFING, ids=code)
def test_the_html_timeline_shows_the_character_as_its_escape(
    disguised: dict[str, Cli], ch: str, tmp_path: Path
) -> None:
    page = tmp_path / "r1.html"
    disguised[ch].ok("audit", "r1", "--html", str(page))
    html = page.read_text(encoding="utf-8")
    assert ch not in html
    assert f"a\\u{ord(ch):04x}b" in html


@pytest.mark.parametrize("ch", SPOOFING, ids=code)
def test_writing_commands_and_errors_print_it_escaped(told: Cli, ch: str) -> None:
    before = snapshot(told)
    for args in (
        ["show", f"r{ch}1"],  # an unknown referral, named in the error
        ["alerts", f"--nope{ch}"],  # a usage error from click
        ["record", '{"type":"x' + ch + '"}'],
    ):
        result = told.refused(*args)
        assert ch not in result.stderr
        assert f"\\u{ord(ch):04x}" in result.stderr, result.stderr
    assert snapshot(told) == before
    result = told.ok("close", "r1", "--by", "ana", "--reason", f"done{ch}now")
    assert ch not in result.stdout + result.stderr
    assert events_of(told)[-1]["reason"] == f"done{ch}now"


def test_safe_passes_ordinary_text_through_and_escapes_the_rest() -> None:
    from ledger.cli import safe

    assert safe("Ana Ruiz — Zürich, 東京\tok\n") == "Ana Ruiz — Zürich, 東京\tok\n"
    assert safe("a\u202eb\x1b[2J\u2028c\x85") == "a\\u202eb\\x1b[2J\\u2028c\\x85"


# -- 7. config typos ---------------------------------------------------------------------------

CONFIG_TYPOS = [
    ("misspelt table", "[dew]\nfeedback-missing = 3\n", "'dew'"),
    ("top-level key", "feedback-missing = 3\n", "'feedback-missing'"),
    ("plural table", "[dues]\nfeedback-missing = 3\n", "'dues'"),
    ("table beside due", "[due]\nfeedback-missing = 3\n[alerts]\nquiet = true\n", "'alerts'"),
    ("key in due", "[due]\nfeedback-mising = 3\n", "[due] has no key 'feedback-mising'"),
    ("due not a table", "due = 3\n", "`due` must be a table"),
]


@pytest.mark.parametrize(
    ("text", "fragment"), [c[1:] for c in CONFIG_TYPOS], ids=[c[0] for c in CONFIG_TYPOS]
)
def test_a_config_typo_is_an_error_naming_it(
    told: Cli, tmp_path: Path, text: str, fragment: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    before = snapshot(told)
    for command in (["alerts"], ["flags"], ["reputation"]):
        result = told.refused("--config", str(config), *command)
        assert fragment in result.stderr, result.stderr
        assert f"'{config}'" in result.stderr
    assert snapshot(told) == before


def test_the_known_tables_still_work(told: Cli, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[due]\nfeedback-missing = 3\n")
    told.ok("--config", str(config), "alerts")


# -- 8c. what `export` adds, given back to `record` ---------------------------------------------


def exported(cli: Cli, event_id: str) -> dict[str, Any]:
    return next(e for e in cli.export() if e["id"] == event_id)


def test_record_refuses_a_position_or_time_the_ledger_would_not_assign(told: Cli) -> None:
    head = len(told.export())
    dee = {"type": "person-added", "handle": "dee", "name": "Dee", "at": at(7)}
    before = snapshot(told)
    cases = [
        (
            dee | {"seq": 3},
            (
                f"Error: seq: 3 given, but this event would be stored at seq {head + 1}; "
                "remove seq, or import into an empty ledger to restore\n"
            ),
        ),
        (
            dee | {"seq": head + 2},
            (
                f"Error: seq: {head + 2} given, but this event would be stored at seq {head + 1}; "
                "remove seq, or import into an empty ledger to restore\n"
            ),
        ),
        (
            dee | {"recorded_at": at(7)},
            (
                "Error: recorded_at: given, but the ledger sets it when it stores the event; "
                "remove recorded_at, or import into an empty ledger to restore\n"
            ),
        ),
        (
            dee | {"seq": head + 1, "recorded_at": at(7), "hash": "0" * 64},
            (
                "Error: recorded_at: given, but the ledger sets it when it stores the event; "
                "remove recorded_at, or import into an empty ledger to restore\n"
            ),
        ),
        (dee | {"hash": "0" * 64}, "Error: hash: needs the seq and recorded_at"),
        (dee | {"seq": "7"}, "Error: seq: must be a positive integer\n"),
        (
            dee | {"keys": {"ana": "ab" * 32}},
            "Error: keys: this event holds no personal data of 'ana'\n",
        ),
        (
            {
                "type": "connection-declared",
                "by": "ana",
                "with": "bob",
                "kind": "met-once",
                "note": "at a fair",
                "keys": {"ana": "ab" * 32},
            },
            "Error: keys: 'ana' already has another key in this ledger\n",
        ),
    ]
    for event, message in cases:
        result = told.refused("record", orjson.dumps(event).decode())
        assert result.stderr.startswith(message), (event, result.stderr)
        assert snapshot(told) == before


def test_record_takes_the_seq_it_would_assign_anyway(told: Cli) -> None:
    head = len(told.export())
    stored = told.record(
        {"type": "person-added", "handle": "dee", "name": "Dee", "at": at(7), "seq": head + 1}
    )
    assert stored["seq"] == head + 1
    told.ok("verify")


def test_record_of_a_stored_id_must_match_what_is_stored(told: Cli) -> None:
    ana = exported(told, "p-ana")
    before = snapshot(told)
    # the exported line itself, envelope and all: a no-op, printed as stored
    result = told.ok("record", orjson.dumps(ana).decode())
    assert orjson.loads(result.stdout) == ana
    assert snapshot(told) == before
    other = "cd" * 32
    cases = [
        (ana | {"seq": 9}, "Error: seq: 9 given, but id 'p-ana' is stored at seq 1\n"),
        (
            ana | {"recorded_at": "2020-01-01T00:00:00Z"},
            (
                f"Error: recorded_at: '2020-01-01T00:00:00Z' given, but id 'p-ana' was recorded at "
                f"{ana['recorded_at']}\n"
            ),
        ),
        (ana | {"hash": "0" * 64}, "Error: hash: not the stored hash of id 'p-ana' (seq 1)\n"),
        (
            ana | {"keys": {"ana": other}},
            "Error: keys: 'ana' is not the key this ledger holds for 'ana'\n",
        ),
        (ana | {"name": "Ana Other"}, "Error: id: 'p-ana' is already stored with different"),
    ]
    for event, message in cases:
        result = told.refused("record", orjson.dumps(event).decode())
        assert result.stderr.startswith(message), (event, result.stderr)
        assert snapshot(told) == before


def test_import_into_a_used_ledger_gives_new_positions_as_the_contract_says(
    cli: Cli, tmp_path: Path
) -> None:
    source = Cli(str(tmp_path / "source.db"))
    source.ok("import", "-", input=jsonl(story()))
    lines = source.ok("export").stdout_bytes
    cli.record({"type": "person-added", "id": "p-zed", "handle": "zed", "name": "Zed"})
    result = cli.json("import", "-", "--json", input=lines)
    assert result["stored"] == len(story())
    assert (result["first_seq"], result["restored"]) == (2, False)
    # the same file again: every id is stored, so every line is a no-op
    again = cli.json("import", "-", "--json", input=lines)
    assert (again["stored"], again["unchanged"]) == (0, len(story()))
    cli.ok("verify")


# -- 8d. ids are never erased: an id that looks like an email is warned about ------------------


def test_record_warns_about_an_id_holding_an_at_sign(cli: Cli) -> None:
    result = cli.ok(
        "record",
        orjson.dumps(PEOPLE[0] | {"id": "ana@example.com"}).decode(),
    )
    assert result.stderr == (
        "Warning: an event id contains '@', like an email address: `forget` never erases an id, "
        "so an id must not hold personal data (see docs/privacy.md)\n"
    )
    assert cli.export()[0]["id"] == "ana@example.com"
    # recording it again stores nothing, and warns again: it is still in the ledger
    assert (
        "Warning: an event id contains '@'"
        in cli.ok("record", orjson.dumps(PEOPLE[0] | {"id": "ana@example.com"}).decode()).stderr
    )


def test_import_warns_once_with_a_count(cli: Cli) -> None:
    events = [dict(e, id=f"{e['handle']}@example.com") for e in PEOPLE]
    result = cli.ok("import", "-", input=jsonl(events))
    assert result.stderr.count("Warning:") == 1
    assert result.stderr.startswith("Warning: 3 event ids contain '@'")
    assert len(cli.export()) == 3
    # nothing new stored, nothing to warn about
    assert cli.ok("import", "-", input=jsonl(events)).stderr == ""


def test_forget_keeps_the_id_as_the_privacy_doc_says(cli: Cli) -> None:
    cli.record(PEOPLE[0] | {"id": "ana@example.com"})
    cli.ok("forget", "ana", "--yes")
    assert cli.export()[0]["id"] == "ana@example.com"
    doc = (Path(__file__).parent.parent / "docs" / "privacy.md").read_text()
    assert "`forget` never erases or changes it" in doc
    assert "An id must not hold personal data" in doc


class Quoting:
    """A plugin whose messages quote an event's note: a veto, and a failure after the commit."""

    @ledger_hookimpl
    def validate_event(self, event: Any) -> str | None:
        if event.get("note", "").startswith("veto"):
            return f"will not take {event['note']}"
        return None

    @ledger_hookimpl
    def event_recorded(self, event: Any) -> None:
        if event.get("note", "").startswith("fail"):
            raise RuntimeError(f"could not file {event['note']}")


@pytest.mark.parametrize("ch", SPOOFING, ids=code)
def test_plugin_messages_quoting_text_are_printed_escaped(
    told: Cli, ch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ledger.plugins as plugins_module

    monkeypatch.setattr(
        plugins_module, "_default", plugins_module.Plugins(extra={"quoting": Quoting()})
    )
    declared = {"type": "connection-declared", "by": "ana", "with": "bob", "kind": "met-once"}
    before = snapshot(told)
    vetoed = told.refused("record", orjson.dumps(declared | {"note": f"veto{ch}me"}).decode())
    assert vetoed.stderr == (
        f"Error: refused by plugin 'quoting': will not take veto\\u{ord(ch):04x}me\n"
    )
    assert snapshot(told) == before
    failed = told.ok("record", orjson.dumps(declared | {"note": f"fail{ch}me"}).decode())
    assert ch not in failed.stderr
    assert f"could not file fail\\u{ord(ch):04x}me" in failed.stderr
    assert events_of(told)[-1]["note"] == f"fail{ch}me"
