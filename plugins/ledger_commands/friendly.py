"""One command per event type, so nobody has to type JSON for daily use.

Each builds the event and records it exactly as `record` would; the ledger validates it, so a
bad handle, timestamp or rule breach is refused with the same message as in JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ledger.api import KINDS, LedgerError, emit_json, get_ledger, safe

from .command import LedgerCommand, LedgerSubgroup
from .stages import Summary, summarize

if TYPE_CHECKING:
    from ledger.api import Ledger

F = TypeVar("F", bound=Callable[..., Any])

CHANNELS = ("email", "phone", "message", "in-person", "other")
DECISIONS = ("accept", "decline", "needs-preparation")
OUTCOMES = ("hired", "offer-declined", "rejected", "no-opening", "withdrawn")


def event_options(func: F) -> F:
    """The options every recording command shares."""
    func = click.option("--json", "as_json", is_flag=True, help="Print the stored event as JSON.")(
        func
    )
    func = click.option(
        "--id",
        "event_id",
        metavar="KEY",
        help="Idempotency key: recording the same event again with it changes nothing.",
    )(func)
    func = click.option(
        "--at",
        metavar="TIMESTAMP",
        help="When it happened (ISO 8601 with offset, e.g. 2026-11-02T09:30:00Z). [default: now]",
    )(func)
    return func


def record(event: dict[str, Any], at: str | None, event_id: str | None, as_json: bool) -> None:
    """Record the event through the ledger's one write path and confirm it."""
    event = {key: value for key, value in event.items() if value is not None}
    if at is not None:
        event["at"] = at
    if event_id is not None:
        event["id"] = event_id
    ledger = get_ledger(create=True)
    already = event_id is not None and ledger.event(event_id) is not None
    stored = ledger.record(event)
    if as_json:
        emit_json(stored)
        return
    verb = "Already recorded" if already else "Recorded"
    what = safe(describe(ledger, stored))
    click.echo(f"{verb}: {what} (seq {stored['seq']}, id {safe(stored['id'])})")


def describe(ledger: Ledger, event: Mapping[str, Any]) -> str:
    """One line saying what an event records (the ledger asks its class), with its referral."""
    sentence = ledger.describe(event)
    return f"{event['referral']}: {sentence}" if event.get("referral") else sentence


def current(key: str) -> Summary:
    """The referral as it stands, for commands whose defaults come from it."""
    from ledger.api import View

    summary = summarize(View(get_ledger()).referral(key))
    if summary is None:
        raise LedgerError(f"referral: unknown referral {key!r}")
    return summary


# -- people and connections -------------------------------------------------------------------


@click.group(cls=LedgerSubgroup)
def person() -> None:
    """Add people to the ledger.

    \b
    Example:
      referral-ledger person add ana --name 'Ana Ruiz' --email ana@example.com
    """


@person.command(name="add")
@click.argument("handle")
@click.option("--name", required=True, help="Full name.")
@click.option("--email", help="Email address.")
@click.option("--company", help="Where they work (used to spot last-minute networking).")
@click.option("--title", help="Job title.")
@event_options
def person_add(
    handle: str,
    name: str,
    email: str | None,
    company: str | None,
    title: str | None,
    at: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    """Add a person under HANDLE (lowercase letters, digits, '.', '_', '-').

    \b
    Example:
      referral-ledger person add carol --name 'Carol Chen' --company Acme --title 'Staff Engineer'
    """
    record(
        {
            "type": "person-added",
            "handle": handle,
            "name": name,
            "email": email,
            "company": company,
            "title": title,
        },
        at,
        event_id,
        as_json,
    )


@click.command(cls=LedgerCommand)
@click.argument("by")
@click.argument("with_", metavar="WITH")
@click.option("--kind", required=True, type=click.Choice(KINDS), help="How BY knows WITH.")
@click.option("--since", metavar="DATE", help="Since when (YYYY-MM-DD).")
@click.option("--note", help="A note.")
@event_options
def connect(
    by: str,
    with_: str,
    kind: str,
    since: str | None,
    note: str | None,
    at: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    """Record BY's account of how they know WITH.

    \b
    Example:
      referral-ledger connect ana carol --kind worked-together --since 2022-03-01
    """
    record(
        {
            "type": "connection-declared",
            "by": by,
            "with": with_,
            "kind": kind,
            "since": since,
            "note": note,
        },
        at,
        event_id,
        as_json,
    )


# -- a referral, step by step -----------------------------------------------------------------


@click.command(cls=LedgerCommand)
@click.argument("referral")
@click.option("--by", metavar="HANDLE", required=True, help="The requester.")
@click.option(
    "--referrer", metavar="HANDLE", required=True, help="Who is asked to introduce or refer."
)
@click.option("--company", required=True, help="The company the requester wants to join.")
@click.option(
    "--target",
    metavar="HANDLE",
    help="Who the requester wants to reach (hiring manager or insider).",
)
@click.option("--role", help="The role sought.")
@click.option("--posting-at", metavar="DATE", help="When the position was posted (YYYY-MM-DD).")
@click.option("--goal", help="What the requester hopes for.")
@click.option(
    "--relationship", type=click.Choice(KINDS), help="How the requester knows the referrer."
)
@click.option(
    "--researched-company/--no-researched-company",
    default=None,
    help="Whether the requester researched the company.",
)
@click.option(
    "--researched-person/--no-researched-person",
    default=None,
    help="Whether the requester researched the target.",
)
@click.option(
    "--question", "questions", multiple=True, help="A question for the target (repeatable)."
)
@click.option("--expectations", help="What the requester expects of the referrer.")
@click.option("--follow-up-plan", help="How the requester will follow up.")
@click.option("--qualifications", help="Why the requester fits the role.")
@event_options
def request(
    referral: str,
    by: str,
    referrer: str,
    company: str,
    target: str | None,
    role: str | None,
    posting_at: str | None,
    goal: str | None,
    relationship: str | None,
    researched_company: bool | None,
    researched_person: bool | None,
    questions: tuple[str, ...],
    expectations: str | None,
    follow_up_plan: str | None,
    qualifications: str | None,
    at: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    """Open REFERRAL (a new key): BY asks REFERRER for a referral at COMPANY.

    \b
    Example:
      referral-ledger request ana-acme --by ana --referrer carol --company Acme --target bob \
          --role 'Backend engineer' --researched-company --question 'What does the team own?'
    """
    preparation = {
        "researched_company": researched_company,
        "researched_person": researched_person,
        "questions": list(questions) or None,
        "expectations": expectations,
        "follow_up_plan": follow_up_plan,
        "qualifications": qualifications,
    }
    preparation = {key: value for key, value in preparation.items() if value is not None}
    record(
        {
            "type": "referral-requested",
            "referral": referral,
            "by": by,
            "referrer": referrer,
            "company": company,
            "target": target,
            "role": role,
            "posting_at": posting_at,
            "goal": goal,
            "relationship": relationship,
            "preparation": preparation or None,
        },
        at,
        event_id,
        as_json,
    )


@click.command(cls=LedgerCommand)
@click.argument("referral")
@click.option("--by", metavar="HANDLE", help="The referrer. [default: the referral's referrer]")
@click.option("--decision", required=True, type=click.Choice(DECISIONS), help="The answer.")
@click.option(
    "--knows-work/--does-not-know-work",
    "knows_work",
    default=None,
    help="Whether the referrer has seen the requester's work. [required]",
)
@click.option(
    "--relationship", type=click.Choice(KINDS), help="How the referrer knows the requester."
)
@click.option("--note", help="A note.")
@event_options
def vet(
    referral: str,
    by: str | None,
    decision: str,
    knows_work: bool | None,
    relationship: str | None,
    note: str | None,
    at: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    """Record the referrer's answer to REFERRAL's request.

    \b
    Example:
      referral-ledger vet ana-acme --by carol --decision accept --knows-work
    """
    if knows_work is None:
        raise LedgerError(
            "Missing option '--knows-work' or '--does-not-know-work' (see 'referral-ledger vet --help')"
        )
    record(
        {
            "type": "request-vetted",
            "referral": referral,
            "by": by or current(referral).referrer,
            "decision": decision,
            "knows_work": knows_work,
            "relationship": relationship,
            "note": note,
        },
        at,
        event_id,
        as_json,
    )


@click.command(cls=LedgerCommand)
@click.argument("referral")
@click.option("--to", metavar="HANDLE", required=True, help="The target introduced to.")
@click.option("--by", metavar="HANDLE", help="The referrer. [default: the referral's referrer]")
@click.option("--channel", type=click.Choice(CHANNELS), help="How.")
@click.option(
    "--resume-attached/--no-resume-attached", default=None, help="Whether the resume went with it."
)
@click.option("--note", help="A note.")
@event_options
def introduce(
    referral: str,
    to: str,
    by: str | None,
    channel: str | None,
    resume_attached: bool | None,
    note: str | None,
    at: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    """Record that the referrer introduced REFERRAL's requester to a target.

    \b
    Example:
      referral-ledger introduce ana-acme --to bob --channel email
    """
    record(
        {
            "type": "introduction-made",
            "referral": referral,
            "by": by or current(referral).referrer,
            "to": to,
            "channel": channel,
            "resume_attached": resume_attached,
            "note": note,
        },
        at,
        event_id,
        as_json,
    )


def _from_to(kind: str, summary: str, example: str, channel: bool = False) -> click.Command:
    """A command for an event that is simply BY doing something for TO."""

    def callback(
        referral: str,
        by: str,
        to: str,
        note: str | None,
        at: str | None,
        event_id: str | None,
        as_json: bool,
        channel: str | None = None,
    ) -> None:
        record(
            {
                "type": kind,
                "referral": referral,
                "by": by,
                "to": to,
                "channel": channel,
                "note": note,
            },
            at,
            event_id,
            as_json,
        )

    callback.__doc__ = f"{summary}\n\n\b\nExample:\n  referral-ledger {example}\n"
    command = event_options(callback)
    if channel:
        command = click.option("--channel", type=click.Choice(CHANNELS), help="How.")(command)
    command = click.option("--note", help="A note.")(command)
    command = click.option("--to", metavar="HANDLE", required=True, help="To whom.")(command)
    command = click.option("--by", metavar="HANDLE", required=True, help="Who did it.")(command)
    command = click.argument("referral")(command)
    return click.command(cls=LedgerCommand)(command)


forward = _from_to(
    "resume-forwarded",
    "Record that BY passed REFERRAL's resume on to TO.",
    "forward ana-acme --by carol --to bob",
)
follow_up = _from_to(
    "follow-up-sent",
    "Record that BY followed up with TO about REFERRAL.",
    "follow-up ana-acme --by ana --to bob --channel email",
    channel=True,
)
thank = _from_to(
    "thank-you-sent",
    "Record that BY thanked TO for their part in REFERRAL.",
    "thank ana-acme --by ana --to carol",
)


@click.command(cls=LedgerCommand)
@click.argument("referral")
@click.option(
    "--on",
    required=True,
    metavar="TIMESTAMP",
    help="When the interview is (ISO 8601 with offset; may be in the future).",
)
@click.option("--by", metavar="HANDLE", help="Who scheduled it.")
@event_options
def schedule(
    referral: str, on: str, by: str | None, at: str | None, event_id: str | None, as_json: bool
) -> None:
    """Record that REFERRAL's interview is scheduled.

    \b
    Example:
      referral-ledger schedule ana-acme --on 2026-11-20T15:00:00Z --by bob
    """
    record(
        {"type": "interview-scheduled", "referral": referral, "on": on, "by": by},
        at,
        event_id,
        as_json,
    )


@click.command(cls=LedgerCommand)
@click.argument("referral")
@click.option("--by", metavar="HANDLE", help="Who held it.")
@click.option("--note", help="A note.")
@event_options
def interview(
    referral: str,
    by: str | None,
    note: str | None,
    at: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    """Record that REFERRAL's interview took place.

    \b
    Example:
      referral-ledger interview ana-acme --by bob
    """
    record(
        {"type": "interview-held", "referral": referral, "by": by, "note": note},
        at,
        event_id,
        as_json,
    )


@click.command(cls=LedgerCommand)
@click.argument("referral")
@click.option(
    "--match",
    required=True,
    type=click.IntRange(1, 5),
    help="How good a match the candidate was, 1-5.",
)
@click.option("--by", metavar="HANDLE", help="Who gives it. [default: the referral's target]")
@click.option("--to", metavar="HANDLE", help="To whom. [default: the referral's referrer]")
@click.option("--note", help="A note.")
@event_options
def feedback(
    referral: str,
    match: int,
    by: str | None,
    to: str | None,
    note: str | None,
    at: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    """Record the target's feedback on REFERRAL's candidate.

    \b
    Example:
      referral-ledger feedback ana-acme --by bob --to carol --match 4
    """
    if by is None or to is None:
        summary = current(referral)
        to = to or summary.referrer
        by = by or summary.target
        if by is None:
            raise LedgerError("--by: the referral has no target yet; say who gives the feedback")
    record(
        {
            "type": "feedback-given",
            "referral": referral,
            "by": by,
            "to": to,
            "match": match,
            "note": note,
        },
        at,
        event_id,
        as_json,
    )


@click.command(cls=LedgerCommand)
@click.argument("referral")
@click.option("--by", metavar="HANDLE", required=True, help="Who reports it.")
@click.option("--to", metavar="HANDLE", required=True, help="To whom.")
@click.option("--outcome", required=True, type=click.Choice(OUTCOMES), help="What happened.")
@click.option("--note", help="A note.")
@event_options
def outcome(
    referral: str,
    by: str,
    to: str,
    outcome: str,
    note: str | None,
    at: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    """Record that BY told TO how REFERRAL ended.

    \b
    Example:
      referral-ledger outcome ana-acme --by ana --to carol --outcome hired
    """
    record(
        {
            "type": "outcome-reported",
            "referral": referral,
            "by": by,
            "to": to,
            "outcome": outcome,
            "note": note,
        },
        at,
        event_id,
        as_json,
    )


@click.command(cls=LedgerCommand)
@click.argument("referral")
@click.option("--by", metavar="HANDLE", required=True, help="Who closes it.")
@click.option("--reason", required=True, help="Why.")
@event_options
def close(
    referral: str, by: str, reason: str, at: str | None, event_id: str | None, as_json: bool
) -> None:
    """Close REFERRAL. Afterwards only thanks, follow-ups, feedback and outcomes may follow.

    \b
    Example:
      referral-ledger close ana-acme --by ana --reason 'hired at Acme'
    """
    record(
        {"type": "referral-closed", "referral": referral, "by": by, "reason": reason},
        at,
        event_id,
        as_json,
    )


@click.command(cls=LedgerCommand)
@click.argument("retracts", metavar="EVENT_ID")
@click.option("--by", metavar="HANDLE", required=True, help="Who retracts it.")
@click.option("--reason", required=True, help="Why.")
@event_options
def retract(
    retracts: str, by: str, reason: str, at: str | None, event_id: str | None, as_json: bool
) -> None:
    """Retract the event EVENT_ID: it stays stored but stops counting anywhere.

    \b
    Example:
      referral-ledger retract 3f2c9a1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b --by ana --reason 'wrong referral'
    """
    target = get_ledger().event(retracts)
    record(
        {
            "type": "event-retracted",
            "by": by,
            "retracts": retracts,
            "reason": reason,
            "referral": target.get("referral") if target else None,
        },
        at,
        event_id,
        as_json,
    )


COMMANDS: dict[str, click.Command] = {
    "person": person,
    "connect": connect,
    "request": request,
    "vet": vet,
    "introduce": introduce,
    "forward": forward,
    "follow-up": follow_up,
    "schedule": schedule,
    "interview": interview,
    "feedback": feedback,
    "outcome": outcome,
    "thank": thank,
    "close": close,
    "retract": retract,
}
