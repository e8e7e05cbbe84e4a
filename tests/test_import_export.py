"""A story of fifty-one events goes in, comes out, and goes into another ledger unchanged."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from conftest import Cli, _drop_schema

from ledger.events import CORE_TYPES

ROOT = Path(__file__).parent.parent
STORY = Path(__file__).parent / "fixtures" / "story.jsonl"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")


@pytest.fixture
def other(db: str, tmp_path: Path) -> Iterator[Cli]:
    """A second, empty ledger on the same backend."""
    if not db.startswith("postgresql"):
        yield Cli(str(tmp_path / "other.db"))
        return
    schema = "t_" + uuid.uuid4().hex[:12]
    yield Cli(re.sub(r"schema=[^&]+", f"schema={schema}", db))
    _drop_schema(schema)


def lines(text: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in text.splitlines() if line.strip()]


def story() -> list[dict[str, Any]]:
    return lines(STORY.read_text())


def write(path: Path, events: list[dict[str, Any]]) -> str:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return str(path)


def summary(cli: Cli, *args: str, input: str | bytes | None = None) -> dict[str, Any]:
    return cli.json("import", *args, "--json", input=input)


def test_the_story_covers_every_event_type():
    assert {e["type"] for e in story()} == set(CORE_TYPES)
    assert 45 <= len(story()) <= 60


def test_the_story_imports_and_exports_with_its_place_in_the_ledger(cli):
    result = summary(cli, str(STORY))
    assert result == {
        "stored": 52,
        "unchanged": 0,
        "restored": False,
        "first_seq": 1,
        "last_seq": 52,
    }
    exported = cli.export()
    assert [e["id"] for e in exported] == [e["id"] for e in story()]
    assert [e["seq"] for e in exported] == list(range(1, 53))
    for event in exported:
        assert HEX64.match(event["hash"]), event
        assert UTC_Z.match(event["recorded_at"]), event
        assert UTC_Z.match(event["at"]), event
    assert len({e["hash"] for e in exported}) == 52
    recorded = [e["recorded_at"] for e in exported]
    assert recorded == sorted(recorded)


def test_exported_events_keep_what_was_imported(cli):
    cli.ok("import", str(STORY))
    exported = {e["id"]: e for e in cli.export()}
    added = {"recorded_at", "recorded_by", "seq", "hash", "keys"}
    forgotten = {e["by"] for e in story() if e["type"] == "person-forgotten"}
    for original in story():
        out = exported[original["id"]]
        assert set(out) - added == set(original), original["id"]
        for key, value in original.items():
            if isinstance(out[key], dict) and set(out[key]) == {"forgotten"}:
                continue  # erased: checked below
            if key in ("at", "on"):
                continue  # normalised to UTC: checked below
            assert out[key] == value, (original["id"], key)
    # gina asked to be forgotten: her name, email and free texts are erased, handles stay
    gina = exported["story-07"]
    assert forgotten == {"gina"}
    assert gina["handle"] == "gina"
    assert set(gina["name"]) == {"forgotten"} and HEX64.match(gina["name"]["forgotten"])
    assert set(gina["email"]) == {"forgotten"}
    assert set(exported["story-44"]["goal"]) == {"forgotten"}
    assert exported["story-44"]["company"] == "Acme"
    assert "keys" not in gina
    assert "gina" not in orjson.dumps(gina["name"]).decode()


def test_timestamps_are_written_back_in_utc_with_z(cli):
    cli.ok("import", str(STORY))
    scheduled = next(e for e in cli.export() if e["id"] == "story-22")
    assert scheduled["on"] == "2026-09-25T13:00:00Z"  # given as 15:00+02:00
    cli.record(
        {
            "type": "follow-up-sent",
            "referral": "ana-acme",
            "by": "ana",
            "to": "bob",
            "at": "2026-10-04T08:30:00.250000-05:00",
            "id": "late",
        }
    )
    late = next(e for e in cli.export() if e["id"] == "late")
    assert late["at"] == "2026-10-04T13:30:00.250000Z"


def test_export_import_export_is_byte_for_byte_the_same(cli, other, tmp_path):
    cli.ok("import", str(STORY))
    first = cli.ok("export").stdout
    dump = tmp_path / "export.jsonl"
    dump.write_text(first)
    result = summary(other, str(dump))
    assert result["stored"] == 52 and result["restored"] is True
    assert other.ok("export").stdout == first
    assert other.json("verify", "--json")["ok"] is True


def test_a_restore_into_sqlite_from_any_backend(cli, tmp_path):
    cli.ok("import", str(STORY))
    first = cli.ok("export").stdout
    sqlite = Cli(str(tmp_path / "restored.db"))
    sqlite.ok("import", "-", input=first)
    assert sqlite.ok("export").stdout == first


def test_importing_the_same_file_again_changes_nothing(cli, tmp_path):
    cli.ok("import", str(STORY))
    first = cli.ok("export").stdout
    assert summary(cli, str(STORY)) == {
        "stored": 0,
        "unchanged": 52,
        "restored": False,
        "first_seq": None,
        "last_seq": None,
    }
    dump = tmp_path / "export.jsonl"
    dump.write_text(first)
    assert summary(cli, str(dump))["unchanged"] == 52
    assert cli.ok("export").stdout == first


def test_an_export_into_a_ledger_holding_other_events(cli, other, tmp_path):
    cli.ok("import", str(STORY))
    exported = cli.export()
    dump = write(tmp_path / "export.jsonl", exported)
    other.record({"type": "person-added", "handle": "zed", "name": "Zed", "id": "zed"})
    result = summary(other, dump)
    assert result == {
        "stored": 52,
        "unchanged": 0,
        "restored": False,
        "first_seq": 2,
        "last_seq": 53,
    }
    moved = other.export()[1:]
    assert [e["seq"] for e in moved] == list(range(2, 54))
    for before, after in zip(exported, moved, strict=True):
        assert after["id"] == before["id"]
        assert after["hash"] != before["hash"]
        strip = {"seq", "hash", "recorded_at", "keys"}
        assert {k: v for k, v in after.items() if k not in strip} == {
            k: v for k, v in before.items() if k not in strip
        }
    assert other.json("verify", "--json")["ok"] is True


def test_an_export_into_a_ledger_that_holds_part_of_it(cli, other, tmp_path):
    cli.ok("import", str(STORY))
    exported = cli.export()
    other.ok("import", write(tmp_path / "first.jsonl", story()[:10]))
    own = other.export()
    result = summary(other, write(tmp_path / "export.jsonl", exported))
    assert (result["stored"], result["unchanged"], result["first_seq"]) == (42, 10, 11)
    after = other.export()
    place = ("id", "seq", "hash", "recorded_at")
    # stored ids are no-ops: their seq, hash and time stay
    assert [[e[k] for k in place] for e in after[:10]] == [[e[k] for k in place] for e in own]
    assert [e["id"] for e in after] == [e["id"] for e in exported]
    assert other.json("verify", "--json")["ok"] is True


def test_a_file_whose_hash_was_altered_is_refused(cli, other, tmp_path):
    cli.ok("import", str(STORY))
    exported = cli.export()
    exported[19]["hash"] = "0" * 64
    result = other.refused("import", write(tmp_path / "altered.jsonl", exported))
    assert "line 20" in result.stderr and "hash" in result.stderr
    assert other.stored() == []


def test_a_file_whose_content_was_altered_is_refused(cli, other, tmp_path):
    cli.ok("import", str(STORY))
    exported = cli.export()
    exported[16]["note"] = "Bob, meet Ana (she is brilliant)"
    result = other.refused("import", write(tmp_path / "altered.jsonl", exported))
    assert "line 17" in result.stderr and "hash" in result.stderr
    assert other.stored() == []


def test_a_file_with_a_line_removed_is_refused(cli, other, tmp_path):
    cli.ok("import", str(STORY))
    exported = cli.export()
    del exported[30]
    result = other.refused("import", write(tmp_path / "cut.jsonl", exported))
    assert "line 31" in result.stderr
    assert other.stored() == []


def test_a_file_whose_recorded_at_was_altered_is_refused(cli, other, tmp_path):
    cli.ok("import", str(STORY))
    exported = cli.export()
    exported[0]["recorded_at"] = "2026-01-01T00:00:00Z"
    result = other.refused("import", write(tmp_path / "altered.jsonl", exported))
    assert "line 1" in result.stderr
    assert other.stored() == []


def test_a_file_whose_keys_were_dropped_is_refused(cli, other, tmp_path):
    # Without the secret, the importer cannot recreate the commitments the hashes cover.
    cli.ok("import", str(STORY))
    exported = cli.export()
    del exported[0]["keys"]
    result = other.refused("import", write(tmp_path / "nokeys.jsonl", exported))
    assert "line 1" in result.stderr
    assert other.stored() == []


def test_a_bad_line_stores_none_of_the_file_and_is_named(cli, tmp_path):
    events = story()
    events[36]["match"] = "4"  # story-37, an introduction-made: unknown field and wrong type
    result = cli.refused("import", write(tmp_path / "bad.jsonl", events))
    assert result.stderr.startswith("Error: line 37: ")
    assert result.stderr.count("\n") == 1
    assert cli.stored() == []


def test_a_line_breaking_a_rule_stores_none_of_the_file(cli, tmp_path):
    events = story()
    events[39]["at"] = "2026-09-01T00:00:00Z"  # before dan-globex was requested
    result = cli.refused("import", write(tmp_path / "bad.jsonl", events))
    assert "line 40" in result.stderr and "earlier than the referral was requested" in result.stderr
    assert cli.stored() == []


def test_malformed_json_on_a_line_is_named(cli, tmp_path):
    text = STORY.read_text().splitlines()
    text[4] = text[4][:-1]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(text) + "\n")
    result = cli.refused("import", str(path))
    assert result.stderr.startswith("Error: line 5: malformed JSON")
    assert cli.stored() == []


def test_non_utf8_bytes_in_a_file_are_refused(cli, tmp_path):
    data = STORY.read_bytes().replace(b"Ana Ruiz", b"Ana Ru\xedz")
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(data)
    result = cli.refused("import", str(path))
    assert result.stderr.startswith("Error: line 1: ") and "UTF-8" in result.stderr
    assert cli.stored() == []


def test_blank_lines_are_skipped_and_line_numbers_count_them(cli, tmp_path):
    text = STORY.read_text().splitlines()
    padded = "\n\n" + "\n   \n".join(text) + "\n\n"
    path = tmp_path / "padded.jsonl"
    path.write_text(padded)
    assert summary(cli, str(path))["stored"] == 52
    bad = padded.replace('"match":2', '"match":9')
    assert bad != padded
    path.write_text(bad)
    other_cli = Cli(str(tmp_path / "again.db"))
    result = other_cli.refused("import", str(path))
    # story-41 sits on line 2 + 2 * 40 + 1 once blank lines are counted
    assert "line 83:" in result.stderr


def test_a_dash_reads_stdin(cli):
    result = summary(cli, "-", input=STORY.read_bytes())
    assert result["stored"] == 52
    assert len(cli.export()) == 52


def test_an_empty_import_is_refused(cli, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n")
    result = cli.refused("import", str(path))
    assert "no events" in result.stderr


def test_the_default_import_output_is_a_sentence(cli):
    out = cli.ok("import", str(STORY)).stdout
    assert out == "Imported 52 new event(s); 0 already stored.\n"


def test_export_to_a_file(cli, tmp_path):
    cli.ok("import", str(STORY))
    path = tmp_path / "out.jsonl"
    cli.ok("export", "-o", str(path))
    assert path.read_text() == cli.ok("export").stdout


@pytest.mark.parametrize("name", ["full.jsonl", "demo.jsonl"])
def test_the_example_stories_restore_byte_for_byte(name, tmp_path):
    source = ROOT / "examples" / "stories" / name
    first = Cli(str(tmp_path / "first.db"))
    first.ok("import", str(source))
    exported = first.ok("export").stdout
    assert {e["type"] for e in lines(exported)} <= set(CORE_TYPES)
    second = Cli(str(tmp_path / "second.db"))
    second.ok("import", "-", input=exported)
    assert second.ok("export").stdout == exported
    assert summary(first, str(source))["stored"] == 0


@pytest.mark.parametrize(
    "line,message",
    [
        ('[{"type":"person-added","handle":"zoe","name":"Zoe"}]', "got a JSON array"),
        ('{"type":"person-added","handle":"zoe","name":NaN}', "malformed JSON"),
        ('{"type":"person-added","handle":"zoe","handle":"zed","name":"Zoe"}', "duplicate key"),
        ('{"type":"person-added","handle":"zoe","name":"\\udc00"}', "Error:"),
        ("{}", "type:"),
    ],
    ids=["array", "NaN", "duplicate key", "lone surrogate", "empty object"],
)
def test_a_bad_json_line_is_named_and_nothing_is_stored(sqlite_cli, tmp_path, line, message):
    text = STORY.read_text().splitlines()
    text.insert(12, line)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(text) + "\n")
    result = sqlite_cli.refused("import", str(path))
    assert result.stderr.startswith("Error: line 13: ") and message in result.stderr
    assert sqlite_cli.stored() == []
