"""The event classes are the one source of what an event means beyond its fields: the people it
names, the aggregate it belongs to, its one-line description, and the relationship kinds.

Two kinds of test: every reader gives what the class says (change the class, and the write
path, the store's log, `verify`, `audit` and the recording commands all follow), and no module
keeps a table of its own (a scan of the source for the literal lists the copies were).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
from conftest import Cli

import ledger
import ledger.plugins
from ledger import Event, hookimpl
from ledger.api import Handle
from ledger.app import Ledger
from ledger.audit import build_audit, timeline
from ledger.events import CORE_TYPES, ConnectionDeclared, IntroductionMade
from ledger.kinds import KINDS
from ledger.plugins import Plugins
from ledger.verify import verify_store

REPO = Path(__file__).resolve().parent.parent
SOURCES = [REPO / "ledger", REPO / "plugins", REPO / "examples"]
AT = "2026-10-0{}T09:00:00Z"


def _people(*handles: str) -> list[dict[str, Any]]:
    return [
        {"type": "person-added", "handle": h, "name": h.title(), "at": AT.format(1)}
        for h in handles
    ]


# -- every reader asks the class ----------------------------------------------------------


def test_the_write_path_the_log_and_verify_file_an_event_where_its_class_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A declaration filed under the person it is *with*: were any of app, store or verify to
    # keep its own rule ("by"), the aggregate, the log's actor and verify would disagree.
    monkeypatch.setattr(ConnectionDeclared, "person_fields", ("with",))
    led = Ledger(str(tmp_path / "l.db"), plugins=Plugins(load_entry_points=False))
    try:
        for event in _people("ana", "bob"):
            led.record(event)
        declared = {
            "type": "connection-declared",
            "id": "decl",
            "by": "ana",
            "with": "bob",
            "kind": "friend",
            "at": AT.format(2),
        }
        led.record(declared)
        led.record(
            {
                "type": "event-retracted",
                "id": "undo",
                "by": "ana",
                "retracts": "decl",
                "reason": "wrong kind",
                "at": AT.format(3),
            }
        )
        bob, ana = led.person("bob"), led.person("ana")
        assert bob is not None and ana is not None
        assert "decl" in bob.entries and "decl" not in ana.entries
        assert "undo" in bob.entries and "decl" in bob.retracted  # the retraction follows it
        located = led.store.locate("decl")
        assert located is not None and located.person == "bob"
        verdict = verify_store(led.store)
        assert verdict.problems == [] and verdict.ok
    finally:
        led.close()


class Mentoring(Event):
    """A plugin's type that names a person in a field none of the contract's types has."""

    type: Literal["mentoring-offered"]
    by: Handle
    mentor: Handle
    referral: Handle | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "mentor")

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return f"{record['mentor']} offered to mentor {requester or record['by']}"


class _MentoringPlugin:
    @hookimpl
    def register_event_types(self) -> list[type]:
        return [Mentoring]


@pytest.fixture
def mentoring(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(str(tmp_path / "m.db"), plugins=Plugins(extra={"mentoring": _MentoringPlugin()}))
    for event in _people("ana", "carol", "zoe"):
        led.record(event)
    led.record(
        {
            "type": "referral-requested",
            "referral": "ana-acme",
            "by": "ana",
            "referrer": "carol",
            "company": "Acme",
            "at": AT.format(2),
        }
    )
    yield led
    led.close()


def test_a_plugin_type_says_whom_it_names_and_how_it_reads(mentoring: Ledger) -> None:
    with pytest.raises(ledger.LedgerError, match="mentor: unknown person 'nobody'"):
        mentoring.record(
            {"type": "mentoring-offered", "by": "ana", "mentor": "nobody", "at": AT.format(3)}
        )
    stored = mentoring.record(
        {
            "type": "mentoring-offered",
            "by": "ana",
            "mentor": "zoe",
            "referral": "ana-acme",
            "at": AT.format(3),
        }
    )
    assert Mentoring.people() == ("by", "mentor")
    assert mentoring.describe(stored) == "zoe offered to mentor ana"
    audit = build_audit(
        mentoring, "ana-acme", as_of=10**17, known_at=None, chain_ok=True, on_error=None
    )
    # the audit names the requester where the class's sentence does, and adds the note itself
    lines = [line.strip() for line in timeline(audit)]
    assert "mentoring-offered: zoe offered to mentor ana" in lines
    assert "zoe" in audit.people  # the people it names are read with the audit's
    assert verify_store(mentoring.store).ok


def test_a_plugin_type_keeps_the_aggregate_rule(tmp_path: Path) -> None:
    class Elsewhere(Mentoring):
        type: Literal["mentoring-elsewhere"]  # type: ignore[assignment]
        person_fields: ClassVar[tuple[str, ...]] = ("mentor",)

    class _Plugin:
        @hookimpl
        def register_event_types(self) -> list[type]:
            return [Elsewhere]

    with pytest.raises(ledger.LedgerError, match="may not change the aggregate it belongs to"):
        Ledger(str(tmp_path / "x.db"), plugins=Plugins(extra={"elsewhere": _Plugin()}))


def test_the_audit_and_the_recording_commands_say_what_the_class_says(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    lines = [json.dumps(e) for e in _people("ana", "carol", "bob")]
    cli.ok("import", "-", input="\n".join(lines).encode())
    cli.ok(
        "request", "ana-acme", "--by", "ana", "--referrer", "carol", "--company", "Acme",
        "--at", AT.format(2),
    )  # fmt: skip
    said = classmethod(lambda cls, record, requester=None: f"<{record['to']} met {requester}>")
    monkeypatch.setattr(IntroductionMade, "describe", said)
    out = cli.ok("introduce", "ana-acme", "--to", "bob", "--id", "intro", "--at", AT.format(3))
    assert out.stdout == "Recorded: ana-acme: <bob met None> (seq 5, id intro)\n"
    audit = cli.ok("audit", "ana-acme", "--as-of", AT.format(9)).stdout
    assert "introduction-made: <bob met ana>" in audit
    page = tmp_path / "audit.html"
    cli.ok("audit", "ana-acme", "--as-of", AT.format(9), "--html", str(page))
    assert "&lt;bob met ana&gt;" in page.read_text(encoding="utf-8")


def test_every_contract_type_says_itself_in_words() -> None:
    # The base class's sentence is for a plugin's type that says nothing: each of the
    # contract's own has its own.
    for name, model in CORE_TYPES.items():
        own = model.describe.__func__  # type: ignore[attr-defined]
        assert own is not Event.describe.__func__, name  # type: ignore[attr-defined]


# -- no module keeps a table of its own -----------------------------------------------------

# Every field name that names a person in one of the contract's types, as the classes say.
PEOPLE_FIELDS = {field for model in CORE_TYPES.values() for field in model.people()}
EVENT_TYPES = set(CORE_TYPES)


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for root in SOURCES:
        for path in sorted(root.rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _strings(node: ast.AST) -> list[str] | None:
    """The strings of a tuple, list or set literal made only of strings, else None."""
    if not isinstance(node, ast.Tuple | ast.List | ast.Set):
        return None
    values = [e.value for e in node.elts if isinstance(e, ast.Constant)]
    if len(values) != len(node.elts) or not all(isinstance(v, str) for v in values):
        return None
    return values


def _declarations(tree: ast.Module) -> set[int]:
    """The literals an event class declares in its body (`handles = ("by", "to")`)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value:
                    found.update(id(n) for n in ast.walk(statement.value))
    return found


def _mentions_index(path: Path, tree: ast.Module) -> set[int]:
    """The store's MENTIONED: the fields its mentions index is defined by, stored schema that
    `verify` recomputes without plugins (so it cannot follow a plugin's `handles`)."""
    if "store" not in path.parts and path.stem != "store":  # a module, or a package
        return set()
    return {
        id(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and [getattr(t, "id", None) for t in node.targets] == ["MENTIONED"]
    }


def test_the_scan_finds_the_literals_it_looks_for() -> None:
    tree = ast.parse(
        'FIELDS = ("by", "with", "to")\n'
        'TEXT = {"resume-forwarded": f"{by}", "follow-up-sent": lambda: f"{to}",'
        ' "thank-you-sent": f"{by}" + (f"{to}" if to else "")}\n'
        'RULES = {"person-added": "no", "referral-requested": "no", "event-retracted": "no"}\n'
        'OWNER = {"person-added": Person, "referral-requested": Referral}\n'
        'K = ("friend", "family", "managed")\n'
        "class A(Event):\n    handles = ('by', 'to')\n"
    )
    assert len(_copies(Path("ledger/x.py"), tree)) == 4


def _copies(path: Path, tree: ast.Module) -> list[str]:
    allowed = _declarations(tree) | _mentions_index(path, tree)
    where = f"{path.relative_to(REPO) if path.is_absolute() else path}"
    found = []
    for node in ast.walk(tree):
        strings = _strings(node)
        line = getattr(node, "lineno", 0)
        if strings and id(node) not in allowed:
            if len(strings) >= 2 and set(strings) <= PEOPLE_FIELDS:
                found.append(f"{where}:{line}: a list of the fields that name people {strings}")
            if path.stem != "kinds" and len(set(strings) & set(KINDS)) >= 3:
                found.append(f"{where}:{line}: a list of the relationship kinds")
        if isinstance(node, ast.Dict):
            by_type = [
                value
                for key, value in zip(node.keys, node.values, strict=True)
                if isinstance(key, ast.Constant) and key.value in EVENT_TYPES
            ]
            sentences = [
                v
                for v in by_type
                if any(isinstance(n, ast.JoinedStr | ast.Lambda) for n in ast.walk(v))
            ]
            if len(sentences) >= 3:
                found.append(f"{where}:{line}: sentences by event type (a `describe` of its own)")
            if len(by_type) >= 2 and all(isinstance(v, ast.Name) for v in by_type):
                found.append(f"{where}:{line}: classes by event type (the aggregate of its own)")
    return found


def test_no_module_keeps_its_own_table_of_what_the_classes_say() -> None:
    found = [copy for path, tree in _modules() for copy in _copies(path, tree)]
    assert found == [], "ask the event classes instead:\n" + "\n".join(found)
