"""The write rules of the contract: pure functions of an event and the state it lands on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .aggregates import Person, Referral
from .events import Event, parse_timestamp, to_micros

# After a referral is closed, only these may happen (at or after the close).
AFTER_CLOSE = frozenset(
    {"thank-you-sent", "follow-up-sent", "feedback-given", "outcome-reported", "event-retracted"}
)
# Retracting these would leave other events without their subject; correct them otherwise.
NOT_RETRACTABLE = {
    "event-retracted": "a retraction cannot itself be retracted",
    "person-forgotten": "forgetting a person cannot be undone",
    "person-added": "a person cannot be retracted (use `forget` to erase their data)",
    "referral-requested": "a request cannot be retracted (close the referral instead)",
}


@dataclass(frozen=True)
class Located:
    """Where a stored event lives, for retractions."""

    event_id: str
    type: str
    referral: str | None
    person: str | None  # the owning person aggregate, for person-level events


class Context(Protocol):
    def person(self, handle: str) -> Person | None: ...

    def referral(self, key: str) -> Referral | None: ...

    def locate(self, event_id: str) -> Located | None: ...


def check(
    event: Event, ctx: Context, record: dict[str, Any] | None = None, at_us: int | None = None
) -> list[str]:
    """Every rule the event breaks, as messages. Empty when it may be stored.

    `record` is `event.record()`, and `at_us` its `at` in microseconds, when the caller has them
    already.
    """
    problems: list[str] = []
    if record is None:
        record = event.record()
    kind = event.type

    for field in event.handles:
        handle = record.get(field)
        if handle is not None and ctx.person(handle) is None:
            problems.append(
                f"{field}: unknown person {handle!r} (add them with person-added first)"
            )

    if kind == "person-added":
        if ctx.person(record["handle"]) is not None:
            problems.append(f"handle: person {record['handle']!r} already exists")
        return problems
    if kind == "connection-declared":
        if record["by"] == record["with"]:
            problems.append("with: a person cannot declare a connection with themselves")
        return problems
    if kind == "person-forgotten":
        person = ctx.person(record["handle"])
        if person is not None and person.forgotten:
            problems.append(f"handle: {record['handle']!r} is already forgotten")
        return problems
    at = at_us if at_us is not None else to_micros_str(record["at"])
    if kind == "event-retracted":
        return problems + _check_retraction(record, at, ctx)

    key = record.get("referral")
    if key is None:  # a plugin's event type that is not about a referral
        return problems
    referral = ctx.referral(key)
    if kind == "referral-requested":
        if referral is not None:
            problems.append(f"referral: {key!r} already exists")
        parties = [record["by"], record["referrer"], record.get("target")]
        parties = [p for p in parties if p]
        if len(set(parties)) != len(parties):
            problems.append(
                "the requester, the referrer and the target must be three different people"
            )
        return problems
    if referral is None:
        problems.append(f"referral: unknown referral {key!r}")
        return problems
    return problems + _check_referral_event(record, kind, at, referral)


def to_micros_str(at: str) -> int:
    return to_micros(parse_timestamp(at, future_ok=True))


def _check_referral_event(record: dict, kind: str, at: int, referral: Referral) -> list[str]:
    problems = []
    if at < referral.requested_at:
        problems.append(f"at: {record['at']} is earlier than the referral was requested")
    if kind in ("request-vetted", "introduction-made") and record["by"] != referral.referrer:
        problems.append(
            f"by: {kind} is by the referrer ({referral.referrer}), not {record['by']!r}"
        )
    if kind == "introduction-made" and record["to"] in (referral.requester, referral.referrer):
        problems.append("to: the target must be someone other than the requester and the referrer")
    if kind == "feedback-given" and not any(held <= at for held in referral.held_interviews()):
        problems.append("feedback-given needs an interview-held at or before it")
    closed_at = referral.closed_at
    if closed_at is not None:
        if kind == "referral-closed":
            problems.append(f"referral {referral.key!r} is already closed")
        elif at >= closed_at and kind not in AFTER_CLOSE:
            problems.append(
                f"referral {referral.key!r} is closed; after closing only "
                + ", ".join(sorted(AFTER_CLOSE - {"event-retracted"}))
                + " may be recorded"
            )
    return problems


def _check_retraction(record: dict, at: int, ctx: Context) -> list[str]:
    target = ctx.locate(record["retracts"])
    if target is None:
        return [f"retracts: no stored event has id {record['retracts']!r}"]
    if target.type in NOT_RETRACTABLE:
        return [f"retracts: {NOT_RETRACTABLE[target.type]}"]
    if record.get("referral") != target.referral:
        if target.referral is None:
            return ["referral: the retracted event belongs to no referral; leave referral out"]
        return [f"referral: the retracted event belongs to referral {target.referral!r}"]
    owner: Referral | Person | None = (
        ctx.referral(target.referral) if target.referral else ctx.person(target.person or "")
    )
    problems = []
    if owner is not None:
        if record["retracts"] in owner.retracted:
            problems.append(f"retracts: event {record['retracts']!r} is already retracted")
        referral = owner if isinstance(owner, Referral) else None
        if referral is not None and referral.requested_at > at:
            problems.append(f"at: {record['at']} is earlier than the referral was requested")
    return problems
