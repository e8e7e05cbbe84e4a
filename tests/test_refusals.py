"""Every way an event can be wrong is refused: `Error:` on one line, exit 2, nothing stored.

The ledger below holds three referrals: r1 (ana asks carol to reach bob; introduced, a thank-you
sent and retracted, an interview held), r2 (dan's, closed) and r3 (erin's, just requested).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
BASE = FIXTURES / "base.jsonl"


@pytest.fixture
def ledger(cli):
    cli.ok("import", str(BASE))
    return cli


def refused(
    cli,
    event: dict[str, Any] | str | bytes,
    *fragments: str,
    stdin: bool = False,
    before: str | None = None,
) -> str:
    """Record `event`, expect a refusal naming each fragment, and check nothing was stored."""
    if before is None:
        before = cli.ok("export").stdout
    if isinstance(event, dict):
        event = orjson.dumps(event).decode()
    if stdin or isinstance(event, bytes):
        result = cli.refused("record", "-", input=event)
    else:
        result = cli.refused("record", event)
    message = result.stderr
    assert message.count("\n") == 1, f"expected one line, got {message!r}"
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert cli.ok("export").stdout == before
    return message


def ev(type_: str, **fields: Any) -> dict[str, Any]:
    fields = {k.rstrip("_"): v for k, v in fields.items()}
    fields.setdefault("at", "2026-09-20T09:00:00Z")
    return {"type": type_, **fields}


# -- names that do not exist ---------------------------------------------------------------------


def test_an_unknown_referral(ledger):
    refused(
        ledger, ev("follow-up-sent", referral="nope", by="ana", to="bob"), "unknown referral 'nope'"
    )


def test_an_unknown_person(ledger):
    refused(
        ledger,
        ev("follow-up-sent", referral="r1", by="ana", to="zoe"),
        "to:",
        "unknown person 'zoe'",
    )


@pytest.mark.parametrize("field", ["handle", "referral"])
def test_a_handle_or_key_with_a_final_newline(ledger, field):
    # A pattern ending in `$` would accept "zoe\n": the contract's pattern ends the string.
    if field == "handle":
        event = ev("person-added", handle="zoe\n", name="Zoe")
    else:
        event = ev("referral-requested", referral="r9\n", by="ana", referrer="carol", target="bob")
        event.update(company="Acme", relationship="worked-together")
    refused(ledger, event, f"{field}:")


def test_an_unknown_person_in_a_declaration(ledger):
    refused(
        ledger,
        ev("connection-declared", by="zoe", with_="ana", kind="friend"),
        "unknown person 'zoe'",
    )


def test_a_person_added_twice(ledger):
    refused(ledger, ev("person-added", handle="ana", name="Another Ana"), "'ana' already exists")


def test_a_referral_key_requested_twice(ledger):
    refused(
        ledger,
        ev("referral-requested", referral="r1", by="dan", referrer="carol", company="Acme"),
        "'r1' already exists",
    )


# -- the order of a referral ---------------------------------------------------------------------


def test_feedback_before_any_interview(ledger):
    refused(
        ledger,
        ev("feedback-given", referral="r3", by="carol", to="erin", match=3),
        "needs an interview-held",
    )


def test_feedback_dated_before_the_interview(ledger):
    # r1's interview was held on 2026-09-15
    refused(
        ledger,
        ev(
            "feedback-given",
            referral="r1",
            by="bob",
            to="carol",
            match=3,
            at="2026-09-14T09:00:00Z",
        ),
        "needs an interview-held",
    )


def test_an_introduction_after_closing(ledger):
    refused(
        ledger,
        ev("introduction-made", referral="r2", by="carol", to="bob"),
        "'r2' is closed",
    )


def test_a_referral_closed_twice(ledger):
    refused(
        ledger, ev("referral-closed", referral="r2", by="carol", reason="Again"), "already closed"
    )


def test_an_event_earlier_than_its_request(ledger):
    refused(
        ledger,
        ev("follow-up-sent", referral="r1", by="ana", to="bob", at="2026-09-09T09:00:00Z"),
        "earlier than the referral was requested",
    )


def test_a_retraction_earlier_than_the_request(ledger):
    refused(
        ledger,
        ev(
            "event-retracted",
            referral="r1",
            by="ana",
            retracts="held-r1",
            reason="No",
            at="2026-09-01T09:00:00Z",
        ),
        "earlier than the referral was requested",
    )


# -- the three parties ---------------------------------------------------------------------------


def test_requester_is_the_referrer(ledger):
    refused(
        ledger,
        ev("referral-requested", referral="r9", by="ana", referrer="ana", company="Acme"),
        "three different people",
    )


def test_target_is_the_requester(ledger):
    refused(
        ledger,
        ev(
            "referral-requested",
            referral="r9",
            by="ana",
            referrer="carol",
            company="Acme",
            target="ana",
        ),
        "three different people",
    )


def test_an_introduction_to_the_requester(ledger):
    refused(
        ledger,
        ev("introduction-made", referral="r3", by="carol", to="erin"),
        "target must be someone other",
    )


def test_vetting_by_someone_other_than_the_referrer(ledger):
    refused(
        ledger,
        ev("request-vetted", referral="r3", by="bob", decision="accept", knows_work=True),
        "by the referrer (carol)",
    )


def test_an_introduction_by_someone_other_than_the_referrer(ledger):
    refused(
        ledger,
        ev("introduction-made", referral="r3", by="bob", to="dan"),
        "by the referrer (carol)",
    )


def test_a_connection_with_oneself(ledger):
    refused(
        ledger, ev("connection-declared", by="ana", with_="ana", kind="friend"), "with themselves"
    )


# -- retractions ---------------------------------------------------------------------------------


def test_retracting_an_unknown_id(ledger):
    refused(
        ledger,
        ev("event-retracted", referral="r1", by="ana", retracts="no-such-id", reason="Wrong"),
        "no stored event has id 'no-such-id'",
    )


def test_retracting_twice(ledger):
    refused(
        ledger,
        ev("event-retracted", referral="r1", by="ana", retracts="thanks-r1", reason="Again"),
        "already retracted",
    )


def test_retracting_a_retraction(ledger):
    refused(
        ledger,
        ev("event-retracted", referral="r1", by="ana", retracts="retract-thanks", reason="Undo"),
        "cannot itself be retracted",
    )


def test_a_retraction_naming_the_wrong_referral(ledger):
    refused(
        ledger,
        ev("event-retracted", referral="r3", by="ana", retracts="held-r1", reason="Wrong"),
        "belongs to referral 'r1'",
    )


def test_a_retraction_of_a_referral_event_without_its_referral(ledger):
    refused(
        ledger,
        ev("event-retracted", by="ana", retracts="held-r1", reason="Wrong"),
        "belongs to referral 'r1'",
    )


def test_a_retraction_of_a_declaration_with_a_referral(ledger):
    refused(
        ledger,
        ev("event-retracted", referral="r1", by="ana", retracts="decl-ana-carol", reason="Wrong"),
        "belongs to no referral",
    )


# -- timestamps ----------------------------------------------------------------------------------


def test_a_naive_timestamp(ledger):
    refused(
        ledger,
        ev("follow-up-sent", referral="r1", by="ana", to="bob", at="2026-09-20T09:00:00"),
        "no UTC offset",
    )


def test_a_future_timestamp(ledger):
    later = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    refused(
        ledger, ev("follow-up-sent", referral="r1", by="ana", to="bob", at=later), "in the future"
    )


def test_a_minute_ahead_is_tolerated(ledger):
    soon = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    stored = ledger.record(ev("follow-up-sent", referral="r1", by="ana", to="bob", at=soon))
    assert stored["at"].endswith("Z")


@pytest.mark.parametrize(
    "at",
    [
        "2026-09-20",
        "yesterday",
        "2026-02-30T09:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "1969-12-31T23:59:59Z",
    ],
)
def test_impossible_timestamps(ledger, at):
    refused(ledger, ev("follow-up-sent", referral="r1", by="ana", to="bob", at=at), "at:")


def test_a_naive_interview_time(ledger):
    refused(
        ledger,
        ev("interview-scheduled", referral="r1", on="2026-10-01T10:00:00"),
        "on:",
        "no UTC offset",
    )


# -- shapes and types ----------------------------------------------------------------------------

SHAPES = [
    (
        "unknown field",
        ev("follow-up-sent", referral="r1", by="ana", to="bob", colour="blue"),
        ["unknown field 'colour'"],
    ),
    ("unknown type", ev("coffee-had", by="ana"), ["unknown event type 'coffee-had'"]),
    ("missing type", {"by": "ana"}, ["type:"]),
    ("type not a string", {"type": 7}, ["type:"]),
    (
        "missing field",
        ev("follow-up-sent", referral="r1", by="ana"),
        ["to: required field is missing"],
    ),
    (
        "string for a number",
        ev("feedback-given", referral="r1", by="bob", to="carol", match="3"),
        ["match:"],
    ),
    (
        "float for an integer",
        ev("feedback-given", referral="r1", by="bob", to="carol", match=3.0),
        ["match:"],
    ),
    (
        "integer for a boolean",
        ev("request-vetted", referral="r3", by="carol", decision="accept", knows_work=1),
        ["knows_work:"],
    ),
    (
        "string for a boolean",
        ev("request-vetted", referral="r3", by="carol", decision="accept", knows_work="true"),
        ["knows_work:"],
    ),
    ("number for a string", ev("person-added", handle="zoe", name=42), ["name:"]),
    ("null for a required string", ev("person-added", handle="zoe", name=None), ["name:"]),
    ("list for a string", ev("follow-up-sent", referral="r1", by=["ana"], to="bob"), ["by:"]),
    ("match 6", ev("feedback-given", referral="r1", by="bob", to="carol", match=6), ["match:"]),
    ("match 0", ev("feedback-given", referral="r1", by="bob", to="carol", match=0), ["match:"]),
    (
        "unknown decision",
        ev("request-vetted", referral="r3", by="carol", decision="maybe", knows_work=True),
        ["decision:"],
    ),
    (
        "unknown kind",
        ev("connection-declared", by="ana", with_="bob", kind="best-friend"),
        ["kind:"],
    ),
    (
        "unknown channel",
        ev("follow-up-sent", referral="r1", by="ana", to="bob", channel="fax"),
        ["channel:"],
    ),
    (
        "unknown outcome",
        ev("outcome-reported", referral="r1", by="ana", to="carol", outcome="great"),
        ["outcome:"],
    ),
    ("bad handle", ev("person-added", handle="Zoe Smith", name="Zoe"), ["handle:"]),
    (
        "bad referral key",
        ev("referral-requested", referral="R 9", by="dan", referrer="carol", company="Acme"),
        ["referral:"],
    ),
    (
        "bad date",
        ev("connection-declared", by="ana", with_="bob", kind="friend", since="2020-13-01"),
        ["since:"],
    ),
    ("bad email", ev("person-added", handle="zoe", name="Zoe", email="not an email"), ["email:"]),
    ("empty id", ev("person-added", handle="zoe", name="Zoe", id=""), ["id:"]),
    ("non-ASCII id", ev("person-added", handle="zoe", name="Zoe", id="café"), ["id:"]),
    ("id too long", ev("person-added", handle="zoe", name="Zoe", id="x" * 129), ["id:"]),
    (
        "unknown preparation key",
        ev(
            "referral-requested",
            referral="r9",
            by="dan",
            referrer="carol",
            company="Acme",
            preparation={"slept_well": True},
        ),
        ["unknown field 'preparation.slept_well'"],
    ),
    (
        "integer for a preparation boolean",
        ev(
            "referral-requested",
            referral="r9",
            by="dan",
            referrer="carol",
            company="Acme",
            preparation={"researched_company": 1},
        ),
        ["preparation.researched_company:"],
    ),
    ("empty name", ev("person-added", handle="zoe", name=""), ["name:"]),
    ("blank name", ev("person-added", handle="zoe", name="   "), ["name:"]),
    (
        "empty company",
        ev("referral-requested", referral="r9", by="dan", referrer="carol", company=""),
        ["company:"],
    ),
    (
        "empty close reason",
        ev("referral-closed", referral="r3", by="carol", reason=""),
        ["reason:"],
    ),
    (
        "empty retraction reason",
        ev("event-retracted", referral="r1", by="bob", retracts="held-r1", reason=""),
        ["reason:"],
    ),
    (
        "control character",
        ev("person-added", handle="zoe", name="Zoe\u001b[31m"),
        ["name:", "control character"],
    ),
    ("seq not a number", ev("person-added", handle="zoe", name="Zoe", seq="1"), ["seq:"]),
    (
        "hash not hex",
        ev(
            "person-added",
            handle="zoe",
            name="Zoe",
            seq=15,
            recorded_at="2026-09-20T09:00:00Z",
            hash="xyz",
        ),
        ["hash:"],
    ),
    (
        "keys not hex",
        ev("person-added", handle="zoe", name="Zoe", keys={"zoe": "00"}),
        ["keys.zoe:"],
    ),
    ("keys not an object", ev("person-added", handle="zoe", name="Zoe", keys=[]), ["keys:"]),
    ("keys null", ev("person-added", handle="zoe", name="Zoe", keys=None), ["keys:"]),
    ("forgotten not hex", ev("person-added", handle="zoe", name={"forgotten": "zz"}), ["name:"]),
]


def test_shapes_and_types(ledger, subtests):
    # One ledger for all cases: each refusal must leave it exactly as it was anyway.
    before = ledger.ok("export").stdout
    for name, event, fragments in SHAPES:
        with subtests.test(name):
            refused(ledger, event, *fragments, before=before)


def test_every_problem_of_one_event_is_reported_on_one_line(ledger):
    message = refused(
        ledger,
        ev(
            "feedback-given",
            referral="r1",
            by="bob",
            to="carol",
            match="3",
            channel="fax",
            colour="blue",
            at="2026-09-20T09:00:00",
        ),
        "match:",
        "unknown field 'colour'",
        "unknown field 'channel'",
        "at:",
    )
    assert message.startswith("Error: ")


def test_every_broken_rule_of_one_event_is_reported_on_one_line(ledger):
    refused(
        ledger,
        ev("follow-up-sent", referral="r1", by="zoe", to="yan"),
        "by: unknown person 'zoe'",
        "to: unknown person 'yan'",
    )
    refused(
        ledger,
        ev("introduction-made", referral="r3", by="bob", to="erin", at="2026-09-01T09:00:00Z"),
        "earlier than the referral was requested",
        "by the referrer (carol)",
        "target must be someone other",
    )


def test_a_malformed_event_also_names_the_people_and_referral_nobody_knows(ledger):
    refused(
        ledger,
        ev("follow-up-sent", referral="nope", by="zoe", to="bob", colour="blue"),
        "unknown field 'colour'",
        "by: unknown person 'zoe'",
        "referral: unknown referral 'nope'",
    )
    refused(
        ledger,
        ev("referral-requested", referral="r9", by="zoe", referrer="carol", company=""),
        "company:",
        "by: unknown person 'zoe'",
    )


# -- the JSON itself -----------------------------------------------------------------------------

TEXTS = [
    ("malformed", '{"type": "person-added",', "malformed JSON"),
    ("single quotes", "{'type': 'person-added'}", "malformed JSON"),
    ("trailing garbage", '{"type":"person-added","handle":"zoe","name":"Zoe"} x', "malformed JSON"),
    ("two objects", '{"type":"person-added","handle":"zoe","name":"Zoe"}{}', "malformed JSON"),
    (
        "NaN",
        '{"type":"feedback-given","referral":"r1","by":"bob","to":"carol","match":NaN}',
        "malformed JSON",
    ),
    (
        "Infinity",
        '{"type":"feedback-given","referral":"r1","by":"bob","to":"carol","match":Infinity}',
        "malformed JSON",
    ),
    (
        "-Infinity",
        '{"type":"feedback-given","referral":"r1","by":"bob","to":"carol","match":-Infinity}',
        "malformed JSON",
    ),
    (
        "huge number",
        '{"type":"feedback-given","referral":"r1","by":"bob","to":"carol","match":1e999}',
        "malformed JSON",
    ),
    (
        "duplicate keys",
        '{"type":"person-added","handle":"zoe","name":"Zoe","name":"Zed"}',
        "duplicate key 'name'",
    ),
    (
        "duplicate nested keys",
        '{"type":"referral-requested","referral":"r9","by":"dan","referrer":"carol","company":"Acme","preparation":{"questions":[],"questions":["a"]}}',
        "duplicate key 'questions'",
    ),
    ("array", '[{"type":"person-added","handle":"zoe","name":"Zoe"}]', "got a JSON array"),
    ("string", '"person-added"', "got a JSON string"),
    ("number", "3", "got a JSON number"),
    ("null", "null", "got a JSON null"),
    ("empty", "", "empty input"),
    ("whitespace", "  \n ", "empty input"),
    ("escaped lone surrogate", '{"type":"person-added","handle":"zoe","name":"\\ud800"}', "Error:"),
    ("raw lone surrogate", '{"type":"person-added","handle":"zoe","name":"\ud800"}', "UTF-8"),
    (
        "absurd nesting",
        '{"type":"person-added","handle":"zoe","name":"Zoe","x":'
        + "[" * 100_000
        + "]" * 100_000
        + "}",
        "Error:",
    ),
    (
        "deep nesting",
        '{"type":"person-added","handle":"zoe","name":"Zoe","x":' + "[" * 20 + "]" * 20 + "}",
        "nested deeper",
    ),
    (
        "oversized",
        '{"type":"person-added","handle":"zoe","name":"Zoe","note":"' + "a" * 70_000 + '"}',
        "the limit is",
    ),
]


def test_json_that_is_not_one_event_object(ledger, subtests):
    before = ledger.ok("export").stdout
    for name, text, fragment in TEXTS:
        with subtests.test(name):
            refused(ledger, text, fragment, before=before)


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"person-added","handle":"zoe","name":"Zo\xe9"}',  # Latin-1
        b'{"type":"person-added","handle":"zoe","name":"\xed\xa0\x80"}',  # an encoded surrogate
        b"\xff\xfe{\x00}\x00",  # UTF-16
    ],
    ids=["latin-1", "encoded surrogate", "utf-16"],
)
def test_bytes_that_are_not_utf8_on_stdin(ledger, data):
    refused(ledger, data, "UTF-8", stdin=True)


def test_empty_stdin(ledger):
    refused(ledger, b"", "empty input", stdin=True)


def test_stdin_takes_a_valid_event(ledger):
    stored = orjson.loads(
        ledger.ok(
            "record", "-", input=b'{"type":"person-added","handle":"zoe","name":"Zo\xc3\xab"}'
        ).stdout
    )
    assert stored["name"] == "Zoë"


def test_a_utf8_byte_order_mark_is_refused_not_crashed(ledger):
    refused(
        ledger,
        b'\xef\xbb\xbf{"type":"person-added","handle":"zoe","name":"Zoe"}',
        "Error:",
        stdin=True,
    )


# -- idempotency keys ----------------------------------------------------------------------------


def test_the_same_id_with_other_content(ledger):
    refused(
        ledger,
        ev("thank-you-sent", id="intro-r1", referral="r1", by="ana", to="carol"),
        "'intro-r1' is already stored with different content",
    )


def test_the_same_id_with_another_at(ledger):
    refused(
        ledger,
        {
            "type": "introduction-made",
            "id": "intro-r1",
            "referral": "r1",
            "by": "carol",
            "to": "bob",
            "at": "2026-09-11T09:00:01Z",
        },
        "different content (at)",
    )


def test_the_same_id_with_a_field_left_out(ledger):
    ledger.record(ev("follow-up-sent", id="fu-1", referral="r1", by="ana", to="bob", note="Hello"))
    refused(
        ledger,
        ev("follow-up-sent", id="fu-1", referral="r1", by="ana", to="bob"),
        "different content (note)",
    )


def test_the_same_id_with_the_same_content_reports_the_original(ledger):
    original = orjson.loads(ledger.ok("export").stdout.splitlines()[6])
    assert original["id"] == "intro-r1"
    before = ledger.ok("export").stdout
    again = ledger.record(
        {
            "type": "introduction-made",
            "id": "intro-r1",
            "referral": "r1",
            "by": "carol",
            "to": "bob",
            "at": "2026-09-11T11:00:00+02:00",
        }
    )
    without_at = ledger.record(
        {
            "type": "introduction-made",
            "id": "intro-r1",
            "referral": "r1",
            "by": "carol",
            "to": "bob",
        }
    )
    for report in (again, without_at):
        assert {k: report[k] for k in ("id", "seq", "hash", "recorded_at", "at")} == {
            k: original[k] for k in ("id", "seq", "hash", "recorded_at", "at")
        }
    assert ledger.ok("export").stdout == before


def test_the_same_id_with_the_same_personal_content(ledger):
    ledger.record(ev("follow-up-sent", id="fu-2", referral="r1", by="ana", to="bob", note="Hello"))
    before = ledger.ok("export").stdout
    again = ledger.record(
        ev("follow-up-sent", id="fu-2", referral="r1", by="ana", to="bob", note="Hello")
    )
    assert again["note"] == "Hello"
    assert ledger.ok("export").stdout == before


def test_an_id_given_twice_in_one_import(ledger, tmp_path):
    path = tmp_path / "twice.jsonl"
    line = orjson.dumps(ev("follow-up-sent", id="fu-3", referral="r1", by="ana", to="bob")).decode()
    path.write_text(line + "\n" + line + "\n")
    before = ledger.ok("export").stdout
    result = ledger.refused("import", str(path))
    assert "line 2" in result.stderr
    assert ledger.ok("export").stdout == before


def test_a_missing_file(ledger, tmp_path):
    result = ledger.refused("import", str(tmp_path / "nothing.jsonl"))
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("retraction", "fragment"),
    [
        (ev("event-retracted", referral="r3", by="ana", retracts="new-fu", reason="No"), "'r1'"),
        (ev("event-retracted", by="ana", retracts="new-fu", reason="No"), "'r1'"),
        (
            ev("event-retracted", referral="r1", by="ana", retracts="new-decl", reason="No"),
            "no ref",
        ),
    ],
)
def test_a_retraction_sees_where_an_event_of_its_own_input_belongs(ledger, retraction, fragment):
    before = ledger.ok("export").stdout
    lines = [
        ev("follow-up-sent", id="new-fu", referral="r1", by="ana", to="carol"),
        ev("connection-declared", id="new-decl", by="ana", with_="dan", kind="friend"),
        retraction,
    ]
    text = "".join(orjson.dumps(line).decode() + "\n" for line in lines)
    message = ledger.refused("import", "-", input=text).stderr
    assert fragment in message, message
    assert ledger.ok("export").stdout == before
