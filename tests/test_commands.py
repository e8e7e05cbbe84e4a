"""The friendly commands: a referral recorded from start to finish without typing JSON.

Ana asks Carol to introduce her to Bob at Acme. Each step is one command; each stores exactly
the event `record` would have stored. Then `show` and `list` say where things stand.
Commands are written as a user would type them (split with shlex).
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from ledger_commands.stages import STAGES, reached, stage, summarize


def run(cli, line: str, *extra: str):
    return cli.ok(*shlex.split(line), *extra)


def stored(cli, line: str, *extra: str) -> dict[str, Any]:
    """Run a recording command with --json; check it is the last exported event."""
    event = cli.json(*shlex.split(line), *extra, "--json")
    assert cli.export()[-1] == event
    return event


def refused(cli, line: str):
    return cli.refused(*shlex.split(line))


def body(event: dict[str, Any]) -> dict[str, Any]:
    """The event without what the ledger adds, and without `at` unless it was given."""
    added = ("id", "recorded_at", "recorded_by", "seq", "hash", "keys")
    return {k: v for k, v in event.items() if k not in added}


def anytime(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body(event).items() if k != "at"}


PEOPLE = [
    {"handle": "ana", "name": "Ana Ruiz", "email": "ana@example.com", "title": "Data Engineer"},
    {"handle": "carol", "name": "Carol Chen", "company": "Acme"},
    {"handle": "bob", "name": "Bob Okafor", "company": "Acme"},
    {"handle": "dave", "name": "Dave"},
]


@pytest.fixture
def people(cli):
    """Four people, imported in one go (`person add` has tests of its own)."""
    lines = [
        orjson.dumps(
            {"type": "person-added", "id": f"p-{person['handle']}", "at": "2026-09-01T09:00:00Z"}
            | person
        )
        for person in PEOPLE
    ]
    cli.ok("import", "-", input=b"\n".join(lines))
    return cli


@pytest.fixture
def requested(people):
    run(
        people,
        "request ana-acme --by ana --referrer carol --company Acme --target bob "
        "--at 2026-09-08T10:00:00Z --id req",
    )
    return people


# -- each command records the event `record` would ---------------------------------------------


def test_person_add_records_person_added(cli):
    event = stored(
        cli,
        "person add ana --name 'Ana Ruiz' --email ana@example.com "
        "--company Initrode --title Engineer",
    )
    assert anytime(event) == {
        "type": "person-added",
        "handle": "ana",
        "name": "Ana Ruiz",
        "email": "ana@example.com",
        "company": "Initrode",
        "title": "Engineer",
    }


def test_connect_records_connection_declared(people):
    event = stored(
        people, "connect ana carol --kind worked-together --since 2021-03-01 --note 'Same team'"
    )
    assert anytime(event) == {
        "type": "connection-declared",
        "by": "ana",
        "with": "carol",
        "kind": "worked-together",
        "since": "2021-03-01",
        "note": "Same team",
    }


def test_request_records_the_preparation_given(people):
    event = stored(
        people,
        "request ana-acme --by ana --referrer carol --company Acme --target bob "
        "--role 'Data Engineer' --posting-at 2026-09-05 --goal 'Join the data team' "
        "--relationship worked-together --researched-company --no-researched-person "
        "--question 'What is on-call like?' --question 'Who owns the warehouse?' "
        "--expectations 'An intro email' --follow-up-plan 'Write within a day' "
        "--qualifications 'Five years of pipelines' --at 2026-09-08T10:00:00Z --id req",
    )
    assert event["id"] == "req"
    assert body(event) == {
        "type": "referral-requested",
        "at": "2026-09-08T10:00:00Z",
        "referral": "ana-acme",
        "by": "ana",
        "referrer": "carol",
        "company": "Acme",
        "target": "bob",
        "role": "Data Engineer",
        "posting_at": "2026-09-05",
        "goal": "Join the data team",
        "relationship": "worked-together",
        "preparation": {
            "researched_company": True,
            "researched_person": False,
            "questions": ["What is on-call like?", "Who owns the warehouse?"],
            "expectations": "An intro email",
            "follow_up_plan": "Write within a day",
            "qualifications": "Five years of pipelines",
        },
    }


def test_request_leaves_out_what_was_not_said(people):
    event = stored(people, "request ana-acme --by ana --referrer carol --company Acme")
    assert set(body(event)) == {"type", "at", "referral", "by", "referrer", "company"}


# Each step of the referral: the command (with its defaults left out where it has them) and
# the event it must store.
STEPS: list[tuple[str, dict[str, Any]]] = [
    (
        "vet ana-acme --decision accept --knows-work --relationship worked-together --note Solid",
        {
            "type": "request-vetted",
            "by": "carol",
            "decision": "accept",
            "knows_work": True,
            "relationship": "worked-together",
            "note": "Solid",
        },
    ),
    (
        "introduce ana-acme --to bob --channel email --resume-attached --note 'Meet Ana'",
        {
            "type": "introduction-made",
            "by": "carol",
            "to": "bob",
            "channel": "email",
            "resume_attached": True,
            "note": "Meet Ana",
        },
    ),
    (
        "forward ana-acme --by dave --to bob --note FYI",
        {"type": "resume-forwarded", "by": "dave", "to": "bob", "note": "FYI"},
    ),
    (
        "follow-up ana-acme --by ana --to bob --channel message",
        {"type": "follow-up-sent", "by": "ana", "to": "bob", "channel": "message"},
    ),
    (
        "schedule ana-acme --on 2026-09-18T15:00:00+02:00 --by bob",
        {"type": "interview-scheduled", "on": "2026-09-18T13:00:00Z", "by": "bob"},
    ),
    (
        "interview ana-acme --by bob --note 'Went well'",
        {"type": "interview-held", "by": "bob", "note": "Went well"},
    ),
    (
        "feedback ana-acme --match 4",
        {"type": "feedback-given", "by": "bob", "to": "carol", "match": 4},
    ),
    (
        "outcome ana-acme --by bob --to ana --outcome hired",
        {"type": "outcome-reported", "by": "bob", "to": "ana", "outcome": "hired"},
    ),
    (
        "thank ana-acme --by ana --to carol --note 'Thank you'",
        {"type": "thank-you-sent", "by": "ana", "to": "carol", "note": "Thank you"},
    ),
    (
        "close ana-acme --by ana --reason Hired",
        {"type": "referral-closed", "by": "ana", "reason": "Hired"},
    ),
]


def test_a_referral_recorded_step_by_step(requested):
    """Each command stores its event, with the defaults a user expects filled in."""
    day = datetime(2026, 9, 9, 9, tzinfo=UTC)
    for number, (line, expected) in enumerate(STEPS):
        at = (day + timedelta(days=number)).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = stored(requested, line, "--at", at, "--id", f"step-{number}")
        assert body(event) == {**expected, "referral": "ana-acme", "at": at}, line
        assert event["id"] == f"step-{number}"
    assert [e["seq"] for e in requested.export()] == list(range(1, 5 + len(STEPS) + 1))


def test_the_confirmation_is_one_short_line(requested):
    out = run(requested, "introduce ana-acme --to bob --id intro").stdout
    assert out == "Recorded: ana-acme: carol introduced the requester to bob (seq 6, id intro)\n"


def test_retract_fills_in_the_referral(requested):
    run(requested, "thank ana-acme --by ana --to carol --id oops --at 2026-09-09T09:00:00Z")
    event = stored(requested, "retract oops --by ana --reason 'Recorded twice'")
    assert anytime(event) == {
        "type": "event-retracted",
        "by": "ana",
        "retracts": "oops",
        "reason": "Recorded twice",
        "referral": "ana-acme",
    }


def test_retract_of_a_declaration_has_no_referral(people):
    run(people, "connect ana carol --kind friend --id c1")
    event = stored(people, "retract c1 --by ana --reason Overstated")
    assert "referral" not in event


def test_the_same_id_twice_changes_nothing(requested):
    line = "thank ana-acme --by ana --to carol --at 2026-09-09T09:00:00Z --id thanks"
    assert run(requested, line).stdout.startswith("Recorded:")
    assert run(requested, line).stdout.startswith("Already recorded:")
    assert len(requested.export()) == 6
    result = refused(requested, "thank ana-acme --by ana --to bob --id thanks")
    assert "different content" in result.stderr


def test_at_defaults_to_now(requested):
    event = stored(requested, "vet ana-acme --decision decline --does-not-know-work")
    moment = datetime.fromisoformat(event["at"])
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


# -- bad values are refused, and nothing is stored --------------------------------------------

BAD = [
    ("connect ana carol --kind pal", "'pal' is not one of"),
    ("connect ana carol", "Missing option '--kind'"),
    ("connect ana carol --kind friend --since 2021-13-01", "since:"),
    ("person add Ana --name Ana", "handle:"),
    ("person add zoe --name ''", "name:"),
    ("person add zoe --name Zoe --email not-an-email", "email:"),
    ("vet ana-acme --decision maybe --knows-work", "'maybe' is not one of"),
    ("vet ana-acme --decision accept", "--knows-work"),
    ("vet ana-acme --by ana --decision accept --knows-work", "referrer"),
    ("introduce ana-acme --to bob --channel fax", "'fax' is not one of"),
    ("introduce nope --to bob", "unknown referral 'nope'"),
    ("introduce ana-acme --to zoe", "unknown person 'zoe'"),
    ("feedback ana-acme --match 6", "--match"),
    ("feedback ana-acme --match three", "--match"),
    ("feedback ana-acme --match 4", "interview-held"),
    ("outcome ana-acme --by bob --to ana --outcome won", "'won'"),
    ("schedule ana-acme --on 'next tuesday'", "on:"),
    ("thank ana-acme --by ana --to carol --at 2026-09-09T09:00:00", "no UTC offset"),
    ("thank ana-acme --by ana --to carol --at 2099-01-01T00:00:00Z", "in the future"),
    (
        "thank ana-acme --by ana --to carol --at 2026-09-01T00:00:00Z",
        "earlier than the referral was requested",
    ),
    ("thank ana-acme --by ana --to carol --id \u00e9", "id:"),
    ("request ana-acme --by ana --referrer carol --company Acme", "already exists"),
    (
        "request x --by ana --referrer carol --company Acme --relationship bff",
        "'bff' is not one of",
    ),
    ("close ana-acme --by ana --reason ''", "reason:"),
    ("retract no-such-event --by ana --reason 'Why not'", "no stored event"),
    # ana's request names her: she cannot be retracted while it stands
    ("retract p-ana --by ana --reason 'Changed my mind'", "cannot be retracted while"),
    ("show nope", "unknown referral 'nope'"),
    ("list --stage done", "'done' is not one of"),
    ("list --person zoe", "unknown person 'zoe'"),
]


def test_bad_values_are_refused(requested):
    """Each is refused with one `Error:` line and exit 2, and nothing is stored."""
    before = requested.export()
    for line, fragment in BAD:
        result = refused(requested, line)
        assert fragment in result.stderr, (line, result.stderr)
        assert result.stderr.count("\n") == 1, (line, result.stderr)
    assert requested.export() == before


def test_help_lists_the_allowed_values(cli):
    out = run(cli, "connect --help").stdout
    assert "linkedin-only" in out and "family" in out
    out = run(cli, "outcome --help").stdout
    assert "offer-declined" in out and "no-opening" in out


# -- show and list -----------------------------------------------------------------------------


@pytest.fixture
def three(people):
    """ana-acme is interviewing (one event retracted); dave-acme was declined; ana-x is closed."""
    for line in [
        (
            "request ana-acme --by ana --referrer carol --company Acme --role 'Data Engineer' "
            "--at 2026-09-08T10:00:00Z"
        ),
        "vet ana-acme --decision accept --knows-work --at 2026-09-09T10:00:00Z",
        "introduce ana-acme --to bob --at 2026-09-10T10:00:00Z",
        "schedule ana-acme --on 2026-09-17T10:00:00Z --id wrong --at 2026-09-11T10:00:00Z",
        "retract wrong --by ana --reason 'Wrong day' --at 2026-09-11T11:00:00Z",
        "schedule ana-acme --on 2026-09-18T10:00:00Z --at 2026-09-11T12:00:00Z",
        "request dave-acme --by dave --referrer carol --company Acme --at 2026-09-12T10:00:00Z",
        "vet dave-acme --decision decline --does-not-know-work --at 2026-09-13T10:00:00Z",
        "request ana-x --by ana --referrer dave --company X --at 2026-09-14T10:00:00Z",
        "close ana-x --by ana --reason 'Found another way' --at 2026-09-15T10:00:00Z",
    ]:
        run(people, line)
    return people


def test_show_json(three):
    assert three.json("show", "ana-acme", "--json") == {
        "referral": "ana-acme",
        "stage": "interviewing",
        "reached": "interviewing",
        "closed": False,
        "company": "Acme",
        "requester": "ana",
        "referrer": "carol",
        "target": "bob",
        "role": "Data Engineer",
        "decision": "accept",
        "outcome": None,
        "dates": {
            "requested": "2026-09-08T10:00:00Z",
            "vetted": "2026-09-09T10:00:00Z",
            "introduced": "2026-09-10T10:00:00Z",
            "interview_on": "2026-09-18T10:00:00Z",
            "interviewed": None,
            "feedback": None,
            "outcome": None,
            "closed": None,
            "last": "2026-09-11T12:00:00Z",
        },
        "events": 4,
        "retracted": 1,
    }


def test_show_closed(three):
    shown = three.json("show", "ana-x", "--json")
    assert (shown["stage"], shown["reached"], shown["closed"]) == ("closed", "requested", True)
    assert shown["dates"]["closed"] == "2026-09-15T10:00:00Z"
    assert shown["target"] is None


def test_show_text(three):
    lines = run(three, "show ana-acme").stdout.splitlines()
    assert lines[0] == "ana-acme"
    assert "  stage         interviewing" in lines
    assert "  target        bob (Bob Okafor)" in lines  # names beside handles
    assert "  requester     ana (Ana Ruiz)" in lines
    assert "  interview on  2026-09-18T10:00:00Z" in lines
    assert "  events        4 live, 1 retracted" in lines


def test_list_json_and_filters(three):
    def keys(line: str) -> list[str]:
        return [s["referral"] for s in three.json(*shlex.split(line), "--json")]

    listed = three.json("list", "--json")
    assert [(s["referral"], s["stage"]) for s in listed] == [
        ("ana-acme", "interviewing"),
        ("dave-acme", "declined"),
        ("ana-x", "closed"),
    ]
    assert keys("list --person ana") == ["ana-acme", "ana-x"]
    assert keys("list --person bob") == ["ana-acme"]
    assert keys("list --stage declined") == ["dave-acme"]
    assert keys("list --person dave --stage vetted") == []


def test_list_text(three):
    lines = run(three, "list").stdout.splitlines()
    assert lines[0].split() == ["REFERRAL", "STAGE", "COMPANY", "REQUESTER", "REFERRER", "TARGET"]
    cells = [[cell.strip() for cell in line.split("  ") if cell] for line in lines[1:3]]
    assert cells[0] == [
        "ana-acme", "interviewing", "Acme", "ana (Ana Ruiz)", "carol (Carol Chen)", "bob (Bob Okafor)"
    ]  # fmt: skip
    assert cells[1] == ["dave-acme", "declined", "Acme", "dave (Dave)", "carol (Carol Chen)", "-"]


@pytest.mark.parametrize("batch", [1, 2])
def test_list_read_in_batches_says_what_show_says(three, monkeypatch, batch):
    """`list` reads referrals a batch at a time, each batch through a fresh View; whatever
    the batch size, every referral comes out once, in request order, as `show` has it."""
    from ledger_commands import reading

    whole = [run(three, "list").stdout, run(three, "list --json").stdout_bytes]
    monkeypatch.setattr(reading, "BATCH", batch)
    listed = three.json("list", "--json")
    assert listed == [
        three.json("show", key, "--json") for key in ("ana-acme", "dave-acme", "ana-x")
    ]
    assert [run(three, "list").stdout, run(three, "list --json").stdout_bytes] == whole
    assert keys_of(three, "list --person ana --json") == ["ana-acme", "ana-x"]
    assert keys_of(three, "list --person ana --stage closed --json") == ["ana-x"]


def keys_of(cli, line: str) -> list[str]:
    return [s["referral"] for s in cli.json(*shlex.split(line))]


def test_view_referral_histories_are_each_referrals_history_and_live_events(three):
    """`View.referral_histories` (what `list` reads) gives, for every referral and at every
    `known_at`, what `referral_history` and `referral` give one referral at a time."""
    from ledger.app import Ledger
    from ledger.events import parse_timestamp, to_micros
    from ledger.views import View

    keys = ["ana-acme", "dave-acme", "ana-x", "no-such-referral"]
    led = Ledger(three.db)
    try:
        times = [to_micros(parse_timestamp(e["recorded_at"])) for e in three.export()]
        for known_at in [None, *times, times[0] - 1]:
            view = View(led, known_at)
            histories = view.referral_histories(keys)
            for key in keys:
                one = View(led, known_at)
                assert histories[key] == one.referral_history(key)
                assert view.referral(key) == one.referral(key)
        retracted = View(led).referral_histories(["ana-acme"])["ana-acme"]
        assert [e["type"] for e in retracted].count("event-retracted") == 1
    finally:
        led.close()


def test_views_give_events_by_at_then_seq_and_histories_by_seq(three):
    """Events recorded out of `at` order (two at the same time) come by `at` then `seq`
    from `referral`, from `referral_histories` as from one View each; histories by `seq`."""
    from ledger.app import Ledger
    from ledger.views import View

    for line in [
        "thank ana-acme --by ana --to carol --at 2026-09-10T09:00:00Z",
        "follow-up ana-acme --by ana --to carol --at 2026-09-09T10:00:00Z",
        "thank ana-acme --by ana --to bob --at 2026-09-09T10:00:00Z",
    ]:
        run(three, line)
    led = Ledger(three.db)
    try:
        view = View(led)
        view.referral_histories(["ana-acme"])
        for live in (view.referral("ana-acme"), View(led).referral("ana-acme")):
            assert [(e["at"], e["type"]) for e in live] == [
                ("2026-09-08T10:00:00Z", "referral-requested"),
                ("2026-09-09T10:00:00Z", "request-vetted"),
                ("2026-09-09T10:00:00Z", "follow-up-sent"),
                ("2026-09-09T10:00:00Z", "thank-you-sent"),
                ("2026-09-10T09:00:00Z", "thank-you-sent"),
                ("2026-09-10T10:00:00Z", "introduction-made"),
                ("2026-09-11T12:00:00Z", "interview-scheduled"),
            ]
        for history in (
            View(led).referral_history("ana-acme"),
            View(led).referral_histories(["ana-acme"])["ana-acme"],
        ):
            seqs = [e["seq"] for e in history]
            assert seqs == sorted(seqs) and len(seqs) == 9
    finally:
        led.close()


def test_list_of_an_empty_ledger(cli):
    from ledger.app import Ledger

    Ledger(cli.db).close()  # an empty ledger
    assert run(cli, "list").stdout == "No referrals.\n"
    assert cli.json("list", "--json") == []


def test_list_help_documents_every_stage(cli):
    out = run(cli, "list --help").stdout
    for name in STAGES:
        assert name in out


# -- the stage logic, as a pure function -------------------------------------------------------


def ev(kind: str, day: int, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "at": f"2026-09-{day:02d}T09:00:00Z", **fields}


REQUEST = ev("referral-requested", 1, referral="r", by="a", referrer="b", company="C")


def vetted(day: int, decision: str) -> dict[str, Any]:
    return ev("request-vetted", day, decision=decision)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([REQUEST], "requested"),
        ([REQUEST, vetted(2, "accept")], "vetted"),
        ([REQUEST, vetted(2, "decline")], "declined"),
        ([REQUEST, vetted(2, "needs-preparation")], "needs-preparation"),
        # The latest answer counts.
        ([REQUEST, vetted(2, "needs-preparation"), vetted(3, "accept")], "vetted"),
        ([REQUEST, ev("resume-forwarded", 2)], "introduced"),
        ([REQUEST, vetted(2, "decline"), ev("introduction-made", 3, to="t")], "introduced"),
        ([REQUEST, ev("interview-scheduled", 2, on="2026-09-09T09:00:00Z")], "interviewing"),
        ([REQUEST, ev("interview-held", 2), ev("feedback-given", 3)], "feedback"),
        # An outcome told before the feedback still puts the referral at `outcome`.
        (
            [
                REQUEST,
                ev("interview-held", 2),
                ev("outcome-reported", 3, outcome="hired"),
                ev("feedback-given", 4),
            ],
            "outcome",
        ),
        ([REQUEST, ev("thank-you-sent", 2), ev("follow-up-sent", 3)], "requested"),
        ([REQUEST, vetted(2, "decline"), ev("referral-closed", 3)], "closed"),
    ],
)
def test_stage(events, expected):
    assert stage(events) == expected


def test_a_closed_referral_remembers_how_far_it_got():
    events = [REQUEST, vetted(2, "decline"), ev("referral-closed", 3)]
    assert reached(events) == "declined"
    summary = summarize(events)
    assert summary is not None
    assert (summary.stage, summary.reached, summary.closed) == ("closed", "declined", True)


def test_no_request_no_summary():
    assert summarize([ev("thank-you-sent", 2)]) is None


ANY_EVENT = st.sampled_from(
    [
        vetted(2, "accept"),
        vetted(2, "decline"),
        vetted(2, "needs-preparation"),
        ev("introduction-made", 2, to="t"),
        ev("resume-forwarded", 2),
        ev("follow-up-sent", 2),
        ev("interview-scheduled", 2, on="2026-09-09T09:00:00Z"),
        ev("interview-held", 2),
        ev("feedback-given", 2),
        ev("outcome-reported", 2, outcome="rejected"),
        ev("thank-you-sent", 2),
    ]
)
MILESTONE = st.sampled_from(
    [
        (ev("introduction-made", 3, to="t"), "introduced"),
        (ev("resume-forwarded", 3), "introduced"),
        (ev("interview-held", 3), "interviewing"),
        (ev("feedback-given", 3), "feedback"),
        (ev("outcome-reported", 3, outcome="hired"), "outcome"),
    ]
)


@given(st.lists(ANY_EVENT, max_size=8), MILESTONE)
def test_a_milestone_never_moves_a_referral_back(events, milestone):
    order = list(STAGES)
    event, its_stage = milestone
    before = reached([REQUEST, *events])
    after = reached([REQUEST, *events, event])
    assert order.index(after) == max(order.index(before), order.index(its_stage))


@given(st.lists(ANY_EVENT, max_size=8))
def test_closing_keeps_what_was_reached(events):
    closed = [REQUEST, *events, ev("referral-closed", 3)]
    assert stage(closed) == "closed"
    assert reached(closed) == reached([REQUEST, *events])


def test_show_after_the_requester_is_forgotten(three):
    three.record({"type": "person-forgotten", "handle": "ana", "by": "ana"})
    shown = three.json("show", "ana-acme", "--json")
    assert set(shown["role"]) == {"forgotten"}
    assert (shown["requester"], shown["stage"]) == ("ana", "interviewing")
    assert "  role          (forgotten)" in run(three, "show ana-acme").stdout.splitlines()
