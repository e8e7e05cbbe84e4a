"""The write rules of the contract: pure functions of an event and the state it lands on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from .aggregates import Person, Referral
from .events import Event, PersonUpdated, RequestAmended, parse_timestamp, to_micros

# After a referral is closed, only these may happen (at or after the close).
AFTER_CLOSE = frozenset(
    {
        "thank-you-sent",
        "follow-up-sent",
        "feedback-given",
        "outcome-reported",
        "obligation-waived",  # the obligations that outlast a close can still be waived
        "event-retracted",
    }
)
# These are never retracted. A `referral-requested` or a `person-added` is, while nothing
# live depends on it (`_check_retraction`).
NOT_RETRACTABLE = {
    "event-retracted": "a retraction cannot itself be retracted",
    "person-forgotten": "forgetting a person cannot be undone",
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

    def naming(self, handle: str) -> list[str]:
        """The ids of the live events (retractions aside) that name this person in any of
        their people fields, their `person-added` included."""
        ...


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
        if handle is None:
            continue
        person = ctx.person(handle)
        # A person whose `person-added` was retracted can still be forgotten: the retracted
        # event keeps their name until they are.
        if kind == "person-forgotten" and field == "handle" and person is not None:
            continue
        if not _known(person):
            problems.append(
                f"{field}: unknown person {handle!r} (add them with person-added first)"
            )

    if kind == "person-added":
        person = ctx.person(record["handle"])
        if _known(person):
            problems.append(f"handle: person {record['handle']!r} already exists")
        elif person is not None and person.forgotten:
            problems.append(f"handle: {record['handle']!r} was forgotten and cannot be added again")
        return problems
    if kind == "person-updated":
        return problems + _check_update(record, ctx.person(record["handle"]), at_us)
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
    if referral is not None and not referral.live_request:
        referral = None  # its request was retracted: the key is free again
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
    problems += _check_referral_event(record, kind, at, referral)
    if kind == "request-amended":
        problems += _check_amendment(record, at, referral)
    return problems


def _check_update(record: dict, person: Person | None, at_us: int | None) -> list[str]:
    problems = []
    if not any(field in record for field in PersonUpdated.updatable):
        problems.append(
            "person-updated needs at least one of: " + ", ".join(PersonUpdated.updatable)
        )
    if person is None or not person.present:
        return problems  # reported as an unknown person above
    if person.forgotten:
        problems.append(f"handle: {record['handle']!r} is forgotten and cannot be updated")
    at = at_us if at_us is not None else to_micros_str(record["at"])
    added = person.entries.get(person.added_id)
    if added is not None and at < added["at"]:
        problems.append(f"at: {record['at']} is earlier than {record['handle']!r} was added")
    return problems


def _known(person: Person | None) -> bool:
    """Whether the person exists: added, and their `person-added` not retracted."""
    return person is not None and person.present


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


def _check_amendment(record: dict, at: int, referral: Referral) -> list[str]:
    problems = []
    if record["by"] != referral.requester:
        problems.append(
            f"by: request-amended is by the requester ({referral.requester}), not {record['by']!r}"
        )
    if not any(field in record for field in RequestAmended.amendable):
        problems.append(
            "request-amended needs at least one of: " + ", ".join(RequestAmended.amendable)
        )
    if record.get("preparation") == {}:
        problems.append("preparation: give at least one of its keys to amend")
    target = record.get("target")
    if target is not None:
        if any(e["at"] <= at for e in referral.live_of("introduction-made")):
            problems.append(
                "target: the target can be amended only before an introduction "
                "(this referral was introduced at or before this amendment)"
            )
        if target in (referral.requester, referral.referrer):
            problems.append(
                "target: the target must be someone other than the requester and the referrer"
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
        elif target.type == "referral-requested" and isinstance(owner, Referral):
            others = [i for i, _ in owner.live() if i != record["retracts"]]
            if others:
                problems.append(
                    f"retracts: a request cannot be retracted while its referral has "
                    f"{len(others)} other live event(s); retract them first, or close the "
                    "referral instead"
                )
        elif target.type == "person-added" and isinstance(owner, Person):
            others = [i for i in ctx.naming(owner.handle) if i != record["retracts"]]
            if others:
                problems.append(
                    f"retracts: a person cannot be retracted while {len(others)} live "
                    f"event(s) name {owner.handle!r}; retract them first, or use `forget` "
                    "to erase their data"
                )
        referral = owner if isinstance(owner, Referral) else None
        if referral is not None and referral.requested_at > at:
            problems.append(f"at: {record['at']} is earlier than the referral was requested")
    return problems
