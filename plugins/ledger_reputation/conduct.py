"""Good conduct in a referral, and what every judgement costs: the reputation formula.

Every point value lives here and is documented in docs/reputation.md. A score is
`clamp(BASE + sum(points))` over its explanation, so anyone can recompute it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ledger.api import (
    Parties,
    Relationship,
    lacking_preparation,
    micros,
    parties,
    request_as_of,
)

Event = Mapping[str, Any]
BASE = 50
LOW, HIGH = 0, 100
ROLES = ("requester", "referrer", "target")
DAY_US = 86_400 * 1_000_000
TIMELY_US = 14 * DAY_US

# Conduct in a referral (stored per referral, so it is kept incrementally); most of it raises.
PREPARED_REQUEST = 5  # requester: the request lacks none of the preparation the contract asks
TIMELY_FOLLOW_UP = 3  # requester: followed up with an introduced person within 14 days
INFORMED_REFERRER = 3  # requester: told the referrer how it went (outcome or follow-up)
THANKED = 2  # anyone: the first thank-you to each other party of the referral
HONEST_ACCOUNT = 2  # requester and referrer: their current accounts are within one rank
ANSWERED_REQUEST = 2  # referrer: answered the request (accepting or declining)
VOUCHED_WITH_KNOWLEDGE = 3  # referrer: introduced someone whose work they had seen
CHECKED_IN = 2  # referrer: the first follow-up to each of the requester and the target
GOOD_MATCH = 3  # requester and referrer: the target rated the match 4 or 5
POOR_MATCH = -3  # requester and referrer: the target rated the match 1 or 2
PASSED_ON_UNPREPARED = -3  # referrer: introduced or forwarded a request unprepared at the time
HIRE = 5  # referrer: the introduction led to a hire
GAVE_FEEDBACK = 3  # target: gave feedback on the candidate
# Judgements (read from the alerts and flags, whichever plugin raised them).
OVERDUE = -5  # the person who owed it, per obligation that went overdue, even if met later
FLAG = -10  # the person the flag is about, in its role (none named: each role they have held)
HANDOVERS = ("introduction-made", "resume-forwarded")
AMENDED = "request-amended"  # a core event type from 0.2: changes the request from its `at` on
WAIVED = "obligation-waived"  # registered by the alerts plugin; ends an obligation, costing nothing


def clamp(score: float) -> float:
    return max(LOW, min(HIGH, score))


def _role(p: Parties, handle: str | None) -> str | None:
    for role, who in (("requester", p.requester), ("referrer", p.referrer), ("target", p.target)):
        if who is not None and who == handle:
            return role
    return None


def _handed_over(event: Event, requester: str) -> str:
    if event["type"] == "introduction-made":
        return f"introduced {requester} to {event['to']}"
    return f"forwarded {requester}'s resume to {event['to']}"


def conduct(
    key: str, events: Sequence[Event], rel: Relationship, p: Parties | None = None
) -> Iterator[dict[str, Any]]:
    """Who took part in the referral (0 points, so they are listed), their conduct, and the
    obligations waived in it (0 points: `scores` leaves the alerts they ended uncounted).

    `events` are the referral's live events in order; `rel` is how its requester and referrer
    know each other (`ledger.api.relationship`), whose current accounts the honesty bonus
    compares; `p` is `parties(events)`, when the caller has it (`View.parties`)."""
    from ledger.api import timestamp

    if p is None:
        p = parties(events)
    request = p.request
    if request is None or p.requester is None or p.referrer is None:
        return
    requester, referrer, target = p.requester, p.referrer, p.target

    def entry(
        event: Event | None,
        at: int,
        person: str,
        role: str | None,
        kind: str,
        points: int,
        reason: str,
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "kind": kind,
            "referral": key,
            "person": person,
            "role": role,
            "points": points,
            "reason": reason,
            "event": event["id"] if event is not None else None,
            "start": timestamp(at),
            **extra,
        }

    asked = micros(request["at"])
    yield entry(request, asked, requester, "requester", "took-part", 0, "requested")
    yield entry(request, asked, referrer, "referrer", "took-part", 0, "was asked")
    if target is not None and p.target_since is not None:
        yield entry(None, p.target_since, target, "target", "took-part", 0, "was the target")
    yield from _preparation(key, events, p, entry)
    done: set[Any] = set()  # what has been credited once already

    def once(what: Any) -> bool:
        if what in done:
            return False
        done.add(what)
        return True

    introduced: dict[str, int] = {}
    knows_work = False
    for e in events:
        kind, at, by, to = e["type"], micros(e["at"]), e.get("by"), e.get("to")
        if kind == "request-vetted":
            knows_work = e["knows_work"]
            if once("answered"):
                reason = f"answered {requester}'s request ({e['decision']})"
                yield entry(
                    e, at, referrer, "referrer", "answered-request", ANSWERED_REQUEST, reason
                )
            mine, theirs = rel.current(requester, at), rel.current(referrer, at)
            agree = mine and theirs and abs(mine.strength - theirs.strength) <= 1
            if agree and mine and theirs and once("honest"):
                reason = f"both accounts of the tie agree ({mine.kind} / {theirs.kind})"
                for who, role in ((requester, "requester"), (referrer, "referrer")):
                    yield entry(e, at, who, role, "honest-account", HONEST_ACCOUNT, reason)
        elif kind in HANDOVERS and to is not None and by == referrer:
            if kind == "introduction-made":
                introduced.setdefault(to, at)
                if knows_work and once("vouched"):
                    reason = f"introduced {requester}, whose work they had seen"
                    yield entry(
                        e,
                        at,
                        referrer,
                        "referrer",
                        "vouched-with-knowledge",
                        VOUCHED_WITH_KNOWLEDGE,
                        reason,
                    )
            as_then = request_as_of(events, at)
            lacks = lacking_preparation(as_then) if as_then is not None else []
            if lacks and once("passed-on-unprepared"):
                reason = (
                    f"{_handed_over(e, requester)} in {key}, though the request lacked "
                    + ", ".join(lacks)
                )
                yield entry(
                    e,
                    at,
                    referrer,
                    "referrer",
                    "passed-on-unprepared",
                    PASSED_ON_UNPREPARED,
                    reason,
                )
        elif kind == "introduction-made" and to is not None:
            introduced.setdefault(to, at)  # by someone else: the requester still owes a follow-up
        elif kind == "follow-up-sent":
            first = by == requester and to in introduced and once(("followed", to))
            if first and to is not None and at - introduced[to] <= TIMELY_US:
                reason = f"followed up with {to} in time"
                yield entry(
                    e, at, requester, "requester", "timely-follow-up", TIMELY_FOLLOW_UP, reason
                )
            if by == requester and to == referrer and once("informed"):
                reason = f"kept {referrer} informed"
                yield entry(
                    e, at, requester, "requester", "informed-referrer", INFORMED_REFERRER, reason
                )
            if by == referrer and to in (requester, target) and once(("checked", to)):
                yield entry(
                    e, at, referrer, "referrer", "checked-in", CHECKED_IN, f"checked in with {to}"
                )
        elif kind == "outcome-reported":
            if by == requester and to == referrer and once("informed"):
                reason = f"told {referrer} the outcome"
                yield entry(
                    e, at, requester, "requester", "informed-referrer", INFORMED_REFERRER, reason
                )
            if e["outcome"] == "hired" and once("hired"):
                reason = f"the introduction of {requester} led to a hire"
                yield entry(e, at, referrer, "referrer", "hire", HIRE, reason)
        elif kind == "feedback-given" and by is not None and by == target:
            if once("gave-feedback"):
                reason = f"gave feedback on {requester}"
                yield entry(e, at, by, "target", "gave-feedback", GAVE_FEEDBACK, reason)
            # The target's first feedback is the interview's verdict on the match.
            match = e["match"]
            if once("match") and (match >= 4 or match <= 2):
                good = match >= 4
                points = GOOD_MATCH if good else POOR_MATCH
                what = "a good" if good else "a poor"
                reason = f"{by} rated {requester} {what} match ({match}/5) in {key}"
                for who, role in ((requester, "requester"), (referrer, "referrer")):
                    kind_ = "good-match" if good else "poor-match"
                    yield entry(e, at, who, role, kind_, points, reason)
        elif kind == "thank-you-sent":
            thanker = _role(p, by)
            if by and thanker and _role(p, to) and once(("thanked", by, to)):
                yield entry(e, at, by, thanker, "thanked", THANKED, f"thanked {to}")
        elif kind == WAIVED and isinstance(e.get("person"), str):
            # Not conduct: a marker, so that no view from the waiver's `at` on counts the
            # obligation it ended (see scores.py).
            reason = f"{by} waived {e['person']}'s {e.get('kind')}"
            yield entry(
                e, at, e["person"], None, "waived", 0, reason, alert=e.get("kind"), owed_to=by
            )


def _preparation(key: str, events: Sequence[Event], p: Parties, entry: Any) -> Iterator[Any]:
    """The prepared-request bonus: from the first moment the request, as amended by then,
    lacks nothing, provided that is no later than the referral's first introduction or forward
    (the moment `unprepared-request` judges). Preparation added after the handover helped
    nobody, and the flag says so."""
    assert p.request is not None and p.requester is not None
    handover = next(
        (e for e in events if e["type"] in HANDOVERS and e.get("by") != p.requester), None
    )
    handed_at = micros(handover["at"]) if handover is not None else None
    for e in events:
        if e["type"] != AMENDED and e["id"] != p.request["id"]:
            continue
        at = micros(e["at"])
        if handed_at is not None and at > handed_at:
            return
        as_then = request_as_of(events, at)
        if as_then is not None and not lacking_preparation(as_then):
            reason = f"prepared the request in {key}"
            if e["type"] == AMENDED:
                reason += " (as amended)"
            yield entry(
                e, at, p.requester, "requester", "prepared-request", PREPARED_REQUEST, reason
            )
            return
