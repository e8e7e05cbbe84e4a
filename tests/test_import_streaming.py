"""A long file goes in a page at a time, in one transaction: what a line reads of the lines
pages before it is what a short file would show, and a refusal anywhere stores nothing."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

import ledger.app as ledger_app
from ledger import hookimpl
from ledger.app import Ledger
from ledger.plugins import Plugins
from ledger.store import facade

AT = "2026-03-01T09:00:00Z"
PAGE = 1000  # events an import checks and writes at a time, here: the tests stay small
MANY = PAGE * 2 + 500  # three pages


@pytest.fixture(autouse=True)
def _pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ledger_app, "WRITE_PAGE", PAGE)
    monkeypatch.setattr(facade, "WRITE_PAGE", PAGE)


def person(n: int) -> dict[str, Any]:
    return {"type": "person-added", "id": f"add-{n}", "handle": f"p{n}", "name": f"P {n}", "at": AT}


def write(path: Path, events: list[dict[str, Any]]) -> str:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return str(path)


def test_a_long_file_is_stored_whole_and_exports_as_it_went_in(cli, tmp_path):
    events = [person(n) for n in range(MANY)]
    result = cli.json("import", write(tmp_path / "many.jsonl", events), "--json")
    assert result == {
        "stored": MANY,
        "unchanged": 0,
        "restored": False,
        "first_seq": 1,
        "last_seq": MANY,
    }
    exported = cli.export()
    assert [e["handle"] for e in exported] == [f"p{n}" for n in range(MANY)]
    assert cli.ok("verify").exit_code == 0


def test_a_rule_broken_on_the_last_page_by_a_line_of_the_first_stores_nothing(cli, tmp_path):
    events = [person(n) for n in range(MANY)]
    events.append({**person(5), "id": "add-5-again"})  # p5 was added on the first page
    result = cli.refused("import", write(tmp_path / "again.jsonl", events))
    assert result.stderr == (f"Error: line {MANY + 1}: handle: person 'p5' already exists\n")
    assert cli.stored() == []


def test_malformed_json_on_the_last_line_of_a_long_file_stores_nothing(cli, tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_bytes(Path(write(path, [person(n) for n in range(MANY)])).read_bytes() + b"{")
    result = cli.refused("import", str(path))
    assert result.stderr.startswith(f"Error: line {MANY + 1}: malformed JSON")
    assert cli.stored() == []


def test_an_id_given_twice_pages_apart_is_named_and_nothing_is_stored(cli, tmp_path):
    events = [person(n) for n in range(MANY)]
    events[PAGE + 10]["id"] = events[3]["id"]
    result = cli.refused("import", write(tmp_path / "twice.jsonl", events))
    assert result.stderr == f"Error: line {PAGE + 11}: id: 'add-3' appears twice in this input\n"
    assert cli.stored() == []


def test_a_retraction_pages_after_its_event_is_judged_on_it(cli, tmp_path):
    events = [person(n) for n in range(MANY)]
    connect = {
        "type": "connection-declared",
        "id": "c1",
        "by": "p1",
        "with": "p2",
        "kind": "friend",
        "at": AT,
    }
    retract = {"type": "event-retracted", "id": "r1", "retracts": "c1", "by": "p1", "at": AT}
    retract["reason"] = "declared by mistake"
    events[3:3] = [connect]  # after p1 and p2 are added
    path = write(tmp_path / "retract.jsonl", [*events, retract, {**retract, "id": "r2"}])
    result = cli.refused("import", path)
    assert result.stderr == (f"Error: line {MANY + 3}: retracts: event 'c1' is already retracted\n")
    assert cli.stored() == []
    cli.ok("import", write(tmp_path / "once.jsonl", [*events, retract]))
    assert [e["type"] for e in cli.export()[-1:]] == ["event-retracted"]


def test_a_person_retracted_pages_after_they_were_named_is_refused(cli, tmp_path):
    events = [person(n) for n in range(MANY)]
    events.insert(
        2,
        {"type": "connection-declared", "id": "c1", "by": "p1", "with": "p0", "kind": "friend"}
        | {"at": AT},
    )
    retraction = {"type": "event-retracted", "id": "r0", "retracts": "add-0", "by": "p0"}
    events.append(retraction | {"reason": "added by mistake", "at": AT})
    result = cli.refused("import", write(tmp_path / "named.jsonl", events))
    assert "a person cannot be retracted while 1 live event(s) name 'p0'" in result.stderr
    assert cli.stored() == []


@pytest.mark.parametrize("kept", ["kept", "read back"])
def test_plugins_see_every_event_once_after_the_commit_and_the_pages_before_in_the_views(
    db, kept, monkeypatch
):
    if kept == "read back":  # a long import's result holds no event: they are read back
        monkeypatch.setattr(ledger_app, "KEPT_RESULT", PAGE)
    seen: list[int] = []
    judged: list[tuple[int, int, int]] = []

    class Watcher:
        @hookimpl
        def event_recorded(self, event: Mapping[str, Any], ledger: Ledger) -> None:
            assert ledger.store.get(event["id"]) is not None  # committed
            seen.append(event["seq"])

        @hookimpl
        def validate_event(
            self, event: Mapping[str, Any], ledger: Ledger, pending: Any
        ) -> str | None:
            # what came before in this write: in the ledger's views, or in `pending`
            judged.append((int(event["handle"][1:]), ledger.store.count(), len(pending)))
            if event["handle"] == "p2999":
                return "the three thousandth person is one too many"
            return None

    plugins = Plugins(extra={"watcher": Watcher()})
    ledger = Ledger(db, plugins=plugins)
    try:
        result = ledger.import_lines(orjson.dumps(person(n)) for n in range(MANY))
        assert (result.count, result.first_seq, result.last_seq) == (MANY, 1, MANY)
        assert seen == list(range(1, MANY + 1))
        # the pages before are written (in the import's transaction): `pending` is this page's
        assert judged == [(n, n // PAGE * PAGE, n % PAGE) for n in range(MANY)]
        assert [e["handle"] for e in result.stored[-2:]] == [f"p{MANY - 2}", f"p{MANY - 1}"]
        seen.clear()
        refused = [orjson.dumps(person(n + MANY)) for n in range(3000 - MANY)]
        try:
            ledger.import_lines(refused)
        except Exception as exc:  # noqa: BLE001
            assert "the three thousandth person is one too many" in str(exc)
        else:
            raise AssertionError("not refused")
        assert seen == [] and ledger.store.count() == MANY
    finally:
        ledger.close()


def test_an_import_reads_its_input_a_page_ahead_at_most(db):
    read: list[int] = []
    checked: list[tuple[int, int]] = []

    def lines() -> Any:
        for n in range(MANY):
            read.append(n)
            yield orjson.dumps(person(n))

    class Watcher:
        @hookimpl
        def validate_event(self, event: Mapping[str, Any]) -> None:
            checked.append((int(event["handle"][1:]), len(read)))

    ledger = Ledger(db, plugins=Plugins(extra={"watcher": Watcher()}))
    try:
        assert ledger.import_lines(lines()).count == MANY
    finally:
        ledger.close()
    assert all(count <= (n // PAGE + 1) * PAGE for n, count in checked)
