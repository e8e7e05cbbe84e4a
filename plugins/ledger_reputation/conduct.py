"""Good conduct in a referral, and what every judgement costs: the reputation formula.

Every point value lives here and is documented in docs/reputation.md. A score is
`clamp(BASE + sum(points))` over its explanation, so anyone can recompute it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ledger.events import KIND_RANK
from ledger.views import Parties, micros, parties

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
        has_questions = isinstance(questions, Sequence) and not isinstance(questions, str) and any(
            q for q in questions
        )
    return not (
        prep.get("researched_company") and prep.get("researched_person") and has_questions
        and prep.get("follow_up_plan")
        and (not request.get("role") or prep.get("qualifications"))
    )


def _role(p: Parties, handle: str | None) -> str | None:
    for role, who in (("requester", p.requester), ("referrer", p.referrer), ("target", p.target)):
        if who is not None and who == handle:
            return role
    return None


def _entry(event: Event | None, at: int, person: str, role: str, kind: str, points: int,
           reason: str, key: str) -> dict[str, Any]:
    from ledger.projections import timestamp

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


def conduct(key: str, events: Sequence[Event]) -> Iterator[dict[str, Any]]:
    """Who took part in the referral (0 points, so they are listed), and their good conduct."""
    p = parties(events)
    request = p.request
    if request is None or p.requester is None or p.referrer is None:
        return
    asked = micros(request["at"])
    yield _entry(request, asked, p.requester, "requester", "took-part", 0, "requested", key)
    yield _entry(request, asked, p.referrer, "referrer", "took-part", 0, "was asked", key)
    if p.target is not None and p.target_since is not None:
        yield _entry(None, p.target_since, p.target, "target", "took-part", 0, "was the target", key)
    if not _lacks_preparation(request):
        yield _entry(request, asked, p.requester, "requester", "prepared-request",
                     PREPARED_REQUEST, f"prepared the request in {key}", key)
    thanked: set[tuple[str, str]] = set()
    followed: set[str] = set()
    checked: set[str] = set()
    introduced: dict[str, int] = {}
    informed = answered = gave_feedback = hired = vouched = honest = False
    knows_work: bool | None = None
    good_feedback = False
    for e in events:
        kind, at, by, to = e["type"], micros(e["at"]), e.get("by"), e.get("to")
        if kind == "request-vetted":
            knows_work = e["knows_work"]
            if not answered:
                answered = True
                yield _entry(e, at, p.referrer, "referrer", "answered-request", ANSWERED_REQUEST,
                             f"answered {p.requester}'s request ({e['decision']})", key)
            claimed, answer = request.get("relationship"), e.get("relationship")
            if claimed and answer and not honest and abs(KIND_RANK[claimed] - KIND_RANK[answer]) <= 1:
                honest = True
                for who, role in ((p.requester, "requester"), (p.referrer, "referrer")):
                    yield _entry(e, at, who, role, "honest-account", HONEST_ACCOUNT,
                                 f"both accounts of the tie agree ({claimed} / {answer})", key)
        elif kind == "introduction-made" and to is not None:
            introduced.setdefault(to, at)
            if knows_work and not vouched:
                vouched = True
                yield _entry(e, at, p.referrer, "referrer", "vouched-with-knowledge",
                             VOUCHED_WITH_KNOWLEDGE,
                             f"introduced {p.requester}, whose work they had seen", key)
        elif kind == "follow-up-sent":
            if by == p.requester and to in introduced and to not in followed:
                followed.add(to)
                if at - introduced[to] <= TIMELY_US:
                    yield _entry(e, at, p.requester, "requester", "timely-follow-up",
                                 TIMELY_FOLLOW_UP, f"followed up with {to} in time", key)
            if by == p.requester and to == p.referrer and not informed:
                informed = True
                yield _entry(e, at, p.requester, "requester", "informed-referrer",
                             INFORMED_REFERRER, f"kept {p.referrer} informed", key)
            if by == p.referrer and to in (p.requester, p.target) and to not in checked:
                checked.add(to)
                yield _entry(e, at, p.referrer, "referrer", "checked-in", CHECKED_IN,
                             f"checked in with {to}", key)
        elif kind == "outcome-reported":
            if by == p.requester and to == p.referrer and not informed:
                informed = True
                yield _entry(e, at, p.requester, "requester", "informed-referrer",
                             INFORMED_REFERRER, f"told {p.referrer} the outcome", key)
            if e["outcome"] == "hired" and not hired:
                hired = True
                yield _entry(e, at, p.referrer, "referrer", "hire", HIRE,
                             f"the introduction of {p.requester} led to a hire", key)
        elif kind == "feedback-given":
            if by == p.target and not gave_feedback:
                gave_feedback = True
                yield _entry(e, at, by, "target", "gave-feedback", GAVE_FEEDBACK,
                             f"gave feedback on {p.requester}", key)
            if e["match"] >= 4 and not good_feedback:
                good_feedback = True
                yield _entry(e, at, p.referrer, "referrer", "good-feedback", GOOD_FEEDBACK,
                             f"{p.requester} was rated a good match ({e['match']}/5)", key)
        elif kind == "thank-you-sent":
            role = _role(p, by)
            if role is not None and _role(p, to) is not None and (by, to) not in thanked:
                thanked.add((by, to))  # type: ignore[arg-type]
                yield _entry(e, at, by, role, "thanked", THANKED, f"thanked {to}", key)  # type: ignore[arg-type]
        elif kind == "resume-forwarded" and _role(p, by) is None and by is not None:
            yield _entry(e, at, by, "referrer", "took-part", 0, "forwarded a resume", key)
