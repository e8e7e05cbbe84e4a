"""One command per event type, so nobody has to type JSON for daily use.

Each builds the event and records it exactly as `record` would; the ledger validates it, so a
bad handle, timestamp or rule breach is refused with the same message as in JSON.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ledger.api import KINDS, LedgerError, emit_json, get_ledger, parse_time, safe
from ledger.api import me as configured_me

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
        help="When it happened: ISO 8601 with offset (2026-11-02T09:30:00Z), or YYYY-MM-DD "
        "(that day at this time of day), today, yesterday, N days ago. [default: now]",
    )(func)
    return func


def record(event: dict[str, Any], at: str | None, event_id: str | None, as_json: bool) -> None:
    """Record the event through the ledger's one write path and confirm it."""
    event = {key: value for key, value in event.items() if value is not None}
    if at is not None:
        event["at"] = when(at, "--at")
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


def when(value: str, option: str) -> str:
    """The interchange timestamp a time option names (ISO 8601, or a friendly date)."""
    from ledger.api import timestamp

    return timestamp(parse_time(value, option=option))


def by_default(by: str | None, *, required: bool = True) -> str | None:
    """`--by` as given, else the configured identity (`me`), which must be a known person."""
    if by is not None:
        return by
    found = configured_me(get_ledger(create=True))
    if found is None and required:
        raise LedgerError(
            "Missing option '--by' (or say who you are: me = \"HANDLE\" at the top of the "
            "config file, or REFERRAL_LEDGER_ME)"
        )
    return found


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
    """Add, list, show and edit the people of the ledger.

    \b
    Example:
      referral-ledger person add ana --name 'Ana Ruiz' --email ana@example.com
      referral-ledger person show ana
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


# The `preparation` keys the options below give, as their parameter names (`questions` is the
# repeatable `--question`).
PREPARATION_PARAMS = (
    "researched_company",
    "researched_person",
    "questions",
    "expectations",
    "follow_up_plan",
    "qualifications",
)


def preparation_options(func: F) -> F:
    """The options of a request's `preparation`, shared by `request` and `amend`: the command
    receives them as one `preparation` object (None when none is given)."""

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in PREPARATION_PARAMS}
        given["questions"] = list(given["questions"]) or None
        found = {key: value for key, value in given.items() if value is not None}
        return func(*args, preparation=found or None, **kwargs)

    options = [
        click.option(
            "--researched-company/--no-researched-company",
            default=None,
            help="Whether the requester researched the company.",
        ),
        click.option(
            "--researched-person/--no-researched-person",
            default=None,
            help="Whether the requester researched the target.",
        ),
        click.option(
            "--question", "questions", multiple=True, help="A question for the target (repeatable)."
        ),
        click.option("--expectations", help="What the requester expects of the referrer."),
        click.option("--follow-up-plan", help="How the requester will follow up."),
        click.option("--qualifications", help="Why the requester fits the role."),
    ]
    wrapped: Any = command
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped


@click.command(cls=LedgerCommand)
@click.argument("referral")
@click.option("--by", metavar="HANDLE", help="The requester. [default: me]")
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
@preparation_options
@event_options
def request(
    referral: str,
    by: str | None,
    referrer: str,
    company: str,
    target: str | None,
    role: str | None,
    posting_at: str | None,
    goal: str | None,
    relationship: str | None,
    preparation: dict[str, Any] | None,
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
    record(
        {
            "type": "referral-requested",
            "referral": referral,
            "by": by_default(by),
            "referrer": referrer,
            "company": company,
            "target": target,
            "role": role,
            "posting_at": posting_at,
            "goal": goal,
            "relationship": relationship,
            "preparation": preparation,
        },
        at,
        event_id,
        as_json,
    )


AMEND_HELP = """Change REFERRAL's request: each option given replaces the request's.

Preparation options replace only those keys of the request's preparation. Only the requester
amends, and only while the referral is open; --target only before an introduction.

\b
Example:
  referral-ledger amend ana-acme --by ana --question "What would the first months be like?"
"""


@click.command(cls=LedgerCommand, help=AMEND_HELP)
@click.argument("referral")
@click.option("--by", metavar="HANDLE", help="The requester. [default: me]")
@click.option("--role", help="The role sought.")
@click.option("--target", metavar="HANDLE", help="Who the requester wants to reach.")
@click.option("--posting-at", metavar="DATE", help="When the position was posted (YYYY-MM-DD).")
@click.option("--goal", help="What the requester hopes for.")
@click.option(
    "--relationship", type=click.Choice(KINDS), help="How the requester knows the referrer."
)
@preparation_options
@event_options
def amend(
    referral: str,
    by: str | None,
    role: str | None,
    target: str | None,
    posting_at: str | None,
    goal: str | None,
    relationship: str | None,
    preparation: dict[str, Any] | None,
    at: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    record(
        {
            "type": "request-amended",
            "referral": referral,
            "by": by_default(by),
            "role": role,
            "target": target,
            "posting_at": posting_at,
            "goal": goal,
            "relationship": relationship,
            "preparation": preparation,
        },
        at,
        event_id,
        as_json,
    )


@click.command(cls=LedgerCommand)
@click.argument("referral")
@click.option(
    "--by", metavar="HANDLE", help="The referrer. [default: me, else the referral's referrer]"
)
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
            "by": by_default(by, required=False) or current(referral).referrer,
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
@click.option(
    "--by", metavar="HANDLE", help="The referrer. [default: me, else the referral's referrer]"
)
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
            "by": by_default(by, required=False) or current(referral).referrer,
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
        by: str | None,
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
                "by": by_default(by),
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
    command = click.option("--by", metavar="HANDLE", help="Who did it. [default: me]")(command)
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
    help="When the interview is: ISO 8601 with offset (may be in the future), or a friendly "
    "date like --at's.",
)
@click.option("--by", metavar="HANDLE", help="Who scheduled it. [default: me]")
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
        {
            "type": "interview-scheduled",
            "referral": referral,
            "on": when(on, "--on"),
            "by": by_default(by, required=False),
        },
        at,
        event_id,
        as_json,
    )


@click.command(cls=LedgerCommand)
@click.argument("referral")
@click.option("--by", metavar="HANDLE", help="Who held it. [default: me]")
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
        {
            "type": "interview-held",
            "referral": referral,
            "by": by_default(by, required=False),
            "note": note,
        },
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
@click.option(
    "--by", metavar="HANDLE", help="Who gives it. [default: me, else the referral's target]"
)
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
    by = by_default(by, required=False)
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
@click.option("--by", metavar="HANDLE", help="Who reports it. [default: me]")
@click.option("--to", metavar="HANDLE", required=True, help="To whom.")
@click.option("--outcome", required=True, type=click.Choice(OUTCOMES), help="What happened.")
@click.option("--note", help="A note.")
@event_options
def outcome(
    referral: str,
    by: str | None,
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
            "by": by_default(by),
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
@click.option("--by", metavar="HANDLE", help="Who closes it. [default: me]")
@click.option("--reason", required=True, help="Why.")
@event_options
def close(
    referral: str, by: str | None, reason: str, at: str | None, event_id: str | None, as_json: bool
) -> None:
    """Close REFERRAL. Afterwards only thanks, follow-ups, feedback and outcomes may follow.

    \b
    Example:
      referral-ledger close ana-acme --by ana --reason 'hired at Acme'
    """
    record(
        {"type": "referral-closed", "referral": referral, "by": by_default(by), "reason": reason},
        at,
        event_id,
        as_json,
    )


WAIVE_HELP = """Let PERSON off an obligation of KIND they owe in REFERRAL (records
obligation-waived).

Only the one the obligation is owed to (--by) can waive it, and only while it is open. From
the waiver's time on, the alert is gone and costs nothing; views before it still show it.

\b
Example:
  referral-ledger waive ana-acme --kind thank-you-missing --person ana --by carol
"""


@click.command(cls=LedgerCommand, help=WAIVE_HELP)
@click.argument("referral")
@click.option("--kind", required=True, metavar="KIND", help="The alert kind to waive.")
@click.option("--person", metavar="HANDLE", required=True, help="Who owes it.")
@click.option("--by", metavar="HANDLE", help="To whom it is owed. [default: me]")
@click.option("--note", help="A note.")
@event_options
def waive(
    referral: str,
    kind: str,
    person: str,
    by: str | None,
    note: str | None,
    at: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    record(
        {
            "type": "obligation-waived",
            "referral": referral,
            "by": by_default(by),
            "kind": kind,
            "person": person,
            "note": note,
        },
        at,
        event_id,
        as_json,
    )


RETRACT_HELP = """Retract the event EVENT: it stays stored but stops counting anywhere.

EVENT is an event id, a prefix of one (at least 8 characters, and no other id may start
with it), seq:N for the event stored N-th, or last for the newest event not retracted.

\b
Example:
  referral-ledger retract last --by ana --reason "recorded by mistake"
"""


@click.command(cls=LedgerCommand, help=RETRACT_HELP)
@click.argument("reference", metavar="EVENT")
@click.option("--by", metavar="HANDLE", help="Who retracts it. [default: me]")
@click.option("--reason", required=True, help="Why.")
@event_options
def retract(
    reference: str,
    by: str | None,
    reason: str,
    at: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    from ledger.api import find_event

    try:
        target = find_event(get_ledger(), reference)
    except LedgerError as exc:
        raise LedgerError(f"retracts: {exc.message}") from None
    record(
        {
            "type": "event-retracted",
            "by": by_default(by),
            "retracts": target["id"],
            "reason": reason,
            "referral": target.get("referral"),
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
    "amend": amend,
    "waive": waive,
    "retract": retract,
}
