"""Good conduct in a referral, and what every judgement costs: the reputation formula.

Every point value lives here and is documented in docs/reputation.md. A score is
`clamp(BASE + sum(points))` over its explanation, so anyone can recompute it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ledger.api import KIND_RANK, Parties, micros, parties

Event = Mapping[str, Any]
BASE = 50
LOW, HIGH = 0, 100
ROLES = ("requester", "referrer", "target")
DAY_US = 86_400 * 1_000_000
TIMELY_US = 14 * DAY_US

# Good conduct (stored per referral, so it is kept incrementally).
PREPARED_REQUEST = 5  # requester: the request lacks none of the preparation the contract asks
TIMELY_FOLLOW_UP = 3  # requester: followed up with an introduced person within 14 days
INFORMED_REFERRER = 3  # requester: told the referrer how it went (outcome or follow-up)
THANKED = 2  # anyone: the first thank-you to each other party of the referral
HONEST_ACCOUNT = 2  # requester and referrer: their accounts of the tie are within one kind
ANSWERED_REQUEST = 2  # referrer: answered the request (accepting or declining)
VOUCHED_WITH_KNOWLEDGE = 3  # referrer: introduced someone whose work they had seen
CHECKED_IN = 2  # referrer: the first follow-up to each of the requester and the target
GOOD_FEEDBACK = 3  # referrer: the target rated the match 4 or 5
HIRE = 5  # referrer: the introduction led to a hire
GAVE_FEEDBACK = 3  # target: gave feedback on the candidate
# Judgements (read from the alerts and flags, whichever plugin raised them).
OVERDUE = -5  # the person who owed it, per obligation that went overdue, even if met later
FLAG = -10  # the person the flag is about, in its role (a flag without a role: every role)


def clamp(score: float) -> float:
    return max(LOW, min(HIGH, score))


def _lacks_preparation(request: Event) -> bool:
    prep = request.get("preparation") or {}
    questions = prep.get("questions")
    if isinstance(questions, Mapping):
        has_questions = "forgotten" in questions  # erased text still was a question
    else:
        has_questions = (
            isinstance(questions, Sequence)
            and not isinstance(questions, str)
            and any(q for q in questions)
        )
    return not (
        prep.get("researched_company")
        and prep.get("researched_person")
        and has_questions
        and prep.get("follow_up_plan")
        and (not request.get("role") or prep.get("qualifications"))
    )


def _role(p: Parties, handle: str | None) -> str | None:
    for role, who in (("requester", p.requester), ("referrer", p.referrer), ("target", p.target)):
        if who is not None and who == handle:
            return role
    return None


def conduct(key: str, events: Sequence[Event]) -> Iterator[dict[str, Any]]:
    """Who took part in the referral (0 points, so they are listed), and their good conduct."""
    from ledger.api import timestamp

    p = parties(events)
    request = p.request
    if request is None or p.requester is None or p.referrer is None:
        return
    requester, referrer = p.requester, p.referrer

    def entry(
        event: Event | None, at: int, person: str, role: str, kind: str, points: int, reason: str
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
        }

    asked = micros(request["at"])
    yield entry(request, asked, requester, "requester", "took-part", 0, "requested")
    yield entry(request, asked, referrer, "referrer", "took-part", 0, "was asked")
    if p.target is not None and p.target_since is not None:
        yield entry(None, p.target_since, p.target, "target", "took-part", 0, "was the target")
    if not _lacks_preparation(request):
        reason = f"prepared the request in {key}"
        yield entry(
            request, asked, requester, "requester", "prepared-request", PREPARED_REQUEST, reason
        )
    done: set[Any] = set()  # what has been credited once already

    def once(what: Any) -> bool:
        if what in done:
            return False
        done.add(what)
        return True

    introduced: dict[str, int] = {}
    knows_work = False
    claimed = request.get("relationship")
    for e in events:
        kind, at, by, to = e["type"], micros(e["at"]), e.get("by"), e.get("to")
        if kind == "request-vetted":
            knows_work = e["knows_work"]
            if once("answered"):
                reason = f"answered {requester}'s request ({e['decision']})"
                yield entry(
                    e, at, referrer, "referrer", "answered-request", ANSWERED_REQUEST, reason
                )
            answer = e.get("relationship")
            agree = claimed and answer and abs(KIND_RANK[claimed] - KIND_RANK[answer]) <= 1
            if agree and once("honest"):
                reason = f"both accounts of the tie agree ({claimed} / {answer})"
                for who, role in ((requester, "requester"), (referrer, "referrer")):
                    yield entry(e, at, who, role, "honest-account", HONEST_ACCOUNT, reason)
        elif kind == "introduction-made" and to is not None:
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
            if by == referrer and to in (requester, p.target) and once(("checked", to)):
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
        elif kind == "feedback-given":
            if by == p.target and by is not None and once("gave-feedback"):
                reason = f"gave feedback on {requester}"
                yield entry(e, at, by, "target", "gave-feedback", GAVE_FEEDBACK, reason)
            if e["match"] >= 4 and once("good-feedback"):
                reason = f"{requester} was rated a good match ({e['match']}/5)"
                yield entry(e, at, referrer, "referrer", "good-feedback", GOOD_FEEDBACK, reason)
        elif kind == "thank-you-sent":
            thanker = _role(p, by)
            if by and thanker and _role(p, to) and once(("thanked", by, to)):
                yield entry(e, at, by, thanker, "thanked", THANKED, f"thanked {to}")
