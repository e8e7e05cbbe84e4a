"""The interchange format: the strict reader, and properties that hold for any input.

- any valid event survives record -> export -> import into an empty ledger unchanged;
- no text at all, however broken, makes the ledger raise anything but a LedgerError.
"""

from __future__ import annotations

import json
import string
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.app import Ledger
from ledger.errors import LedgerError
from ledger.events import CORE_TYPES, KINDS, validate
from ledger.interchange import MAX_DEPTH, MAX_EVENT_BYTES, dumps, parse_event
from ledger.plugins import Plugins
from ledger.text import first_spoofing

BASE = Path(__file__).parent / "fixtures" / "base.jsonl"


# -- the reader ----------------------------------------------------------------------------------


def test_a_plain_object_is_read():
    assert parse_event('{"type": "x", "n": [1, {"a": null}]}') == {
        "type": "x",
        "n": [1, {"a": None}],
    }
    assert parse_event(b'\n {"type":"x"} \n') == {"type": "x"}


@pytest.mark.parametrize(
    "text",
    [
        '{"a": {"b": 1, "b": 2}}',
        '{"a": [{"b": 1}, {"c": 1, "c": 1}]}',
        '{"a": 1, "a": 1}',
        '{"a" : 1, "b": " :", "a"\t: 1}',
        # with a backslash in the text, quotes may be escaped
        '{"a": "x\\"", "a": 1}',
        '{"a": "\\\\", "b": "\\": 1", "a": 2}',
    ],
)
def test_duplicate_keys_anywhere_are_refused(text):
    with pytest.raises(LedgerError, match="duplicate key"):
        parse_event(text)


@pytest.mark.parametrize(
    "text",
    ['{"a": " :", "b": "\\": 1"}', '{"a": "\\\\", "b": ["\\"", {"c": "d\\":"}]}'],
)
def test_text_that_only_looks_like_a_key_is_no_duplicate(text):
    assert parse_event(text) == orjson.loads(text)


def test_nesting_up_to_the_limit_is_read_and_beyond_it_refused():
    ok = '{"a":' * (MAX_DEPTH - 1) + "1" + "}" * (MAX_DEPTH - 1)
    assert parse_event(ok)
    too_deep = '{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH
    with pytest.raises(LedgerError, match="nested deeper"):
        parse_event(too_deep)


def test_the_size_limit_is_exact():
    filler = MAX_EVENT_BYTES - len('{"a":""}')
    assert parse_event('{"a":"' + "x" * filler + '"}')
    with pytest.raises(LedgerError, match="limit"):
        parse_event('{"a":"' + "x" * (filler + 1) + '"}')


def test_the_size_limit_counts_bytes_not_characters():
    filler = (MAX_EVENT_BYTES - len('{"a":""}')) // 2 + 1
    with pytest.raises(LedgerError, match="limit"):
        parse_event('{"a":"' + "é" * filler + '"}')


def test_canonical_json_sorts_keys_and_keeps_unicode():
    assert dumps({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()


# -- properties ----------------------------------------------------------------------------------

PEOPLE = ("ana", "carol", "bob", "dan", "erin")
NOW = datetime.now(UTC)

# Free text as people write it: any printable character, newlines and tabs, quotes, emoji.
free_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x7f")
    | st.sampled_from('\n\t"\\'),
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip())
# Names and companies are one line, without the characters that reorder or hide text.
one_line = free_text.map(lambda s: s.replace("\n", " ").replace("\t", " ")).filter(
    lambda s: s.strip() and first_spoofing(s) is None
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)


@st.composite
def moments(draw: Any, after: datetime, before: datetime) -> str:
    span = int((before - after).total_seconds() * 1_000_000)
    moment = after + timedelta(microseconds=draw(st.integers(0, span)))
    moment = moment.astimezone(draw(offsets))
    return moment.isoformat().replace("+00:00", draw(st.sampled_from(["Z", "+00:00"])))


REQUESTED = datetime(2026, 9, 10, 9, tzinfo=UTC)  # r1 in base.jsonl
HELD = datetime(2026, 9, 15, 9, tzinfo=UTC)


def optional(draw: Any, event: dict[str, Any], key: str, strategy: Any) -> None:
    if draw(st.booleans()):
        event[key] = draw(strategy)


@st.composite
def valid_events(draw: Any) -> dict[str, Any]:
    """One event that the ledger of base.jsonl accepts, with every optional field in play."""
    kind = draw(
        st.sampled_from(
            [
                "person-added",
                "connection-declared",
                "referral-requested",
                "request-vetted",
                "follow-up-sent",
                "thank-you-sent",
                "resume-forwarded",
                "interview-scheduled",
                "interview-held",
                "feedback-given",
                "outcome-reported",
                "referral-closed",
            ]
        )
    )
    at = draw(moments(HELD, NOW - timedelta(minutes=1)))
    event: dict[str, Any] = {"type": kind}
    if draw(st.booleans()):
        # printable ASCII, space included; "g:" keeps it clear of base.jsonl's ids
        event["id"] = "g:" + draw(st.text(st.sampled_from(string.printable[:95]), max_size=40))
    if draw(st.booleans()):
        event["at"] = at
    channel = st.sampled_from(["email", "phone", "message", "in-person", "other"])
    if kind == "person-added":
        event |= {"handle": "zoe", "name": draw(one_line)}
        optional(
            draw,
            event,
            "email",
            st.from_regex(r"[a-z0-9.+]{1,10}@[a-z0-9]{1,10}\.[a-z]{2,4}", fullmatch=True),
        )
        optional(draw, event, "company", one_line)
        optional(draw, event, "title", one_line)
    elif kind == "connection-declared":
        event |= {"by": "dan", "with": "erin", "kind": draw(st.sampled_from(KINDS))}
        optional(draw, event, "since", st.dates(datetime(1950, 1, 1).date()).map(str))
        optional(draw, event, "note", free_text)
    elif kind == "referral-requested":
        event |= {"referral": "r9", "by": "dan", "referrer": "erin", "company": draw(one_line)}
        optional(draw, event, "target", st.sampled_from(["bob", "carol"]))
        optional(draw, event, "role", free_text)
        optional(draw, event, "posting_at", st.dates().map(str))
        optional(draw, event, "goal", free_text)
        optional(draw, event, "relationship", st.sampled_from(KINDS))
        if draw(st.booleans()):
            prep: dict[str, Any] = {}
            optional(draw, prep, "researched_company", st.booleans())
            optional(draw, prep, "researched_person", st.booleans())
            optional(draw, prep, "questions", st.lists(free_text, max_size=3))
            for key in ("expectations", "follow_up_plan", "qualifications"):
                optional(draw, prep, key, free_text | st.just(""))
            event["preparation"] = prep
    else:
        event["referral"] = "r1"
        if kind == "request-vetted":
            event |= {
                "by": "carol",
                "decision": draw(st.sampled_from(["accept", "decline", "needs-preparation"])),
                "knows_work": draw(st.booleans()),
            }
            optional(draw, event, "relationship", st.sampled_from(KINDS))
            optional(draw, event, "note", free_text)
        elif kind in ("follow-up-sent", "thank-you-sent", "resume-forwarded"):
            by, to = draw(st.permutations(["ana", "carol", "bob"]))[:2]
            event |= {"by": by, "to": to}
            if kind == "follow-up-sent":
                optional(draw, event, "channel", channel)
            optional(draw, event, "note", free_text)
        elif kind == "interview-scheduled":
            event["on"] = draw(moments(HELD, NOW + timedelta(days=400)))
            optional(draw, event, "by", st.sampled_from(PEOPLE))
        elif kind == "interview-held":
            optional(draw, event, "by", st.sampled_from(PEOPLE))
            optional(draw, event, "note", free_text)
        elif kind == "feedback-given":
            event |= {"by": "bob", "to": "carol", "match": draw(st.integers(1, 5))}
            optional(draw, event, "note", free_text)
        elif kind == "outcome-reported":
            event |= {
                "by": "ana",
                "to": "carol",
                "outcome": draw(
                    st.sampled_from(
                        ["hired", "offer-declined", "rejected", "no-opening", "withdrawn"]
                    )
                ),
            }
            optional(draw, event, "note", free_text)
        elif kind == "referral-closed":
            event |= {"by": draw(st.sampled_from(PEOPLE)), "reason": draw(free_text)}
    return event


def fresh_ledger(directory: str, name: str) -> Ledger:
    return Ledger(str(Path(directory) / name), plugins=Plugins(load_entry_points=False))


def export_bytes(ledger: Ledger) -> bytes:
    keys = ledger.all_secrets()
    return b"".join(
        orjson.dumps(ledger.export_record(s, keys)) + b"\n" for s in ledger.store.events()
    )


def same_moment(a: str, b: str) -> bool:
    return datetime.fromisoformat(a) == datetime.fromisoformat(b)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event=valid_events())
def test_any_valid_event_survives_record_export_import_unchanged(event):
    with tempfile.TemporaryDirectory() as directory:
        first = fresh_ledger(directory, "first.db")
        try:
            first.import_lines(BASE.read_bytes().splitlines())
            stored = first.record(dict(event))
            for key, value in event.items():
                if key in ("at", "on"):
                    assert same_moment(stored[key], value), (key, stored[key], value)
                    assert stored[key].endswith("Z")
                else:
                    assert stored[key] == value, key
            exported = export_bytes(first)
        finally:
            first.close()
        second = fresh_ledger(directory, "second.db")
        try:
            result = second.import_lines(exported.splitlines())
            assert result.restored and len(result.stored) == 15
            assert export_bytes(second) == exported
            assert result.stored[-1] == orjson.loads(exported.splitlines()[-1])
        finally:
            second.close()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = sorted(
    {name for model in CORE_TYPES.values() for name in model.model_fields}
    | {"with", "seq", "hash", "recorded_at", "keys"}
)


@st.composite
def near_events(draw: Any) -> dict[str, Any]:
    """Objects that look like events: real types and field names, any values."""
    event = {"type": draw(st.sampled_from(sorted(CORE_TYPES)) | st.text(max_size=12))}
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=8, unique=True)):
        event[key] = draw(
            json_values | st.sampled_from(PEOPLE) | st.sampled_from(["r1", "r2", "r3"])
        )
    return event


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=200)
    | st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass"))
)
def test_arbitrary_bytes_are_an_event_or_a_ledger_error(data):
    try:
        event = parse_event(data)
    except LedgerError:
        return
    assert isinstance(event, dict)
    try:
        validate(event, CORE_TYPES)
    except LedgerError:
        pass


@settings(max_examples=300, deadline=None)
@given(text=st.builds(lambda obj, cut: json.dumps(obj)[:cut], json_values, st.integers(0, 200)))
def test_broken_json_text_is_an_event_or_a_ledger_error(text):
    try:
        parse_event(text)
    except LedgerError:
        pass


@pytest.fixture(scope="module")
def shared_ledger(tmp_path_factory):
    directory = tmp_path_factory.mktemp("near")
    ledger = fresh_ledger(str(directory), "ledger.db")
    ledger.import_lines(BASE.read_bytes().splitlines())
    yield ledger
    ledger.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(event=near_events())
def test_objects_that_look_like_events_are_stored_or_refused_never_crash(shared_ledger, event):
    count = shared_ledger.store.count()
    try:
        stored = shared_ledger.record(dict(event))
    except LedgerError as exc:
        assert exc.message
        assert shared_ledger.store.count() == count
    else:
        assert stored["seq"] <= count + 1


BASE_EVENTS = [orjson.loads(line) for line in BASE.read_bytes().splitlines()]
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "seq": st.integers(-2, 20) | json_values,
        "hash": st.sampled_from(["0" * 64, "a" * 64]) | json_values,
        "recorded_at": st.sampled_from(["2026-09-01T00:00:00Z", "2030-01-01T00:00:00Z"])
        | json_values,
        "keys": st.dictionaries(
            st.sampled_from(["ana", "bob", "zoe"]),
            st.sampled_from(["0" * 64, "x"]) | json_values,
            max_size=2,
        )
        | json_values,
    },
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(
        st.tuples(st.sampled_from(BASE_EVENTS) | near_events(), envelopes), min_size=1, max_size=5
    ),
    restore=st.booleans(),
)
def test_imports_with_any_envelope_are_stored_or_refused_whole(lines, restore):
    # json, not orjson: integers beyond 64 bits are part of "any text"
    data = [json.dumps({**event, **envelope}) for event, envelope in lines]
    with tempfile.TemporaryDirectory() as directory:
        ledger = fresh_ledger(directory, "ledger.db")
        try:
            if not restore:
                ledger.import_lines(BASE.read_bytes().splitlines()[:5])
            count = ledger.store.count()
            try:
                result = ledger.import_lines(data)
            except LedgerError as exc:
                assert exc.line is not None and 1 <= exc.line <= len(data)
                assert ledger.store.count() == count
            else:
                assert ledger.store.count() == count + len(result.stored)
        finally:
            ledger.close()
