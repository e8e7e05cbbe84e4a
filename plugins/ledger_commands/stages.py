"""Where a referral stands: a pure function of its live events. No I/O.

The stages, in the order a referral moves through them:

- `requested`: asked; the referrer has not answered yet.
- `needs-preparation`: the referrer's latest answer asks the requester to prepare more.
- `declined`: the referrer's latest answer is no.
- `vetted`: the referrer's latest answer is yes; no introduction yet.
- `introduced`: an introduction was made or a resume forwarded.
- `interviewing`: an interview was scheduled or held.
- `feedback`: the target gave feedback.
- `outcome`: an outcome was reported.
- `closed`: the referral is closed, whatever it reached before (see `reached`).

A later milestone wins over an earlier one whatever the order of their `at`s, and any milestone
from `introduced` on wins over the referrer's answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

STAGES: dict[str, str] = {
    "requested": "asked; the referrer has not answered yet",
    "needs-preparation": "the referrer asked the requester to prepare more",
    "declined": "the referrer said no",
    "vetted": "the referrer said yes; no introduction yet",
    "introduced": "introduced to the target, or a resume forwarded",
    "interviewing": "an interview was scheduled or held",
    "feedback": "the target gave feedback",
    "outcome": "an outcome was reported",
    "closed": "the referral is closed",
}

_DECISIONS = {"accept": "vetted", "decline": "declined", "needs-preparation": "needs-preparation"}
_MILESTONES = {
    "introduction-made": "introduced",
    "resume-forwarded": "introduced",
    "interview-scheduled": "interviewing",
    "interview-held": "interviewing",
    "feedback-given": "feedback",
    "outcome-reported": "outcome",
}
_ORDER = list(STAGES)


@dataclass(frozen=True)
class Summary:
    """A referral's current state, as `show` and `list` print it."""

    referral: str
    stage: str
    reached: str  # the furthest stage before closing (the same as `stage` while open)
    closed: bool
    company: str
    requester: str
    referrer: str
    target: str | None
    role: Any  # text, or {"forgotten": hex} once the requester is forgotten
    decision: str | None
    outcome: str | None
    dates: dict[str, str | None] = field(default_factory=dict)
    events: int = 0  # live events, the request included
    retracted: int = 0

    def as_json(self) -> dict[str, Any]:
        """`dataclasses.asdict`, without its deep copies (half the time of a long `list
        --json`): the values are text, numbers and two flat mappings, copied here."""
        out = {name: getattr(self, name) for name in _FIELDS}
        out["dates"] = dict(self.dates)
        if isinstance(self.role, Mapping):
            out["role"] = dict(self.role)
        return out

    def involves(self, handle: str) -> bool:
        return handle in (self.requester, self.referrer, self.target)


_FIELDS = tuple(f.name for f in fields(Summary))


def reached(events: Sequence[Mapping[str, Any]]) -> str:
    """The furthest stage short of `closed` that these live events (by `at`) reach."""
    furthest = "requested"
    decision = None
    for event in events:
        kind = event["type"]
        if kind == "request-vetted":
            decision = event["decision"]
        milestone = _MILESTONES.get(kind)
        if milestone and _ORDER.index(milestone) > _ORDER.index(furthest):
            furthest = milestone
    if furthest == "requested" and decision is not None:
        return _DECISIONS[decision]
    return furthest


def stage(events: Sequence[Mapping[str, Any]]) -> str:
    """The referral's stage: `closed` once closed, else the furthest stage reached."""
    if any(event["type"] == "referral-closed" for event in events):
        return "closed"
    return reached(events)


def summarize(events: Sequence[Mapping[str, Any]], *, retracted: int = 0) -> Summary | None:
    """The state of one referral from its live events (sorted by `at`); None without a request."""
    # Imported here: `--help` loads this module, and the request's model is pydantic's.
    from ledger.api import request_as_of

    # The request as its amendments have it (their fields replace the request's).
    request = request_as_of(events)
    if request is None:
        return None
    target = request.get("target")
    decision = outcome = None
    dates: dict[str, str | None] = dict.fromkeys(
        (
            "requested",
            "vetted",
            "introduced",
            "interview_on",
            "interviewed",
            "feedback",
            "outcome",
            "closed",
            "last",
        ),
    )
    dates["requested"] = request["at"]

    def first(key: str, at: str) -> None:
        if dates[key] is None:
            dates[key] = at

    for event in events:
        kind, at = event["type"], event["at"]
        dates["last"] = at
        if kind == "request-vetted":
            decision = event["decision"]
            dates["vetted"] = at
        elif kind == "introduction-made":
            # The contract's target: the request's, else the first introduction's.
            target = target or event["to"]
            first("introduced", at)
        elif kind == "resume-forwarded":
            first("introduced", at)
        elif kind == "interview-scheduled":
            dates["interview_on"] = event["on"]
        elif kind == "interview-held":
            first("interviewed", at)
        elif kind == "feedback-given":
            first("feedback", at)
        elif kind == "outcome-reported":
            outcome = event["outcome"]
            dates["outcome"] = at
        elif kind == "referral-closed":
            first("closed", at)
    current = stage(events)
    return Summary(
        referral=request["referral"],
        stage=current,
        reached=reached(events),
        closed=current == "closed",
        company=request["company"],
        requester=request["by"],
        referrer=request["referrer"],
        target=target,
        role=_thaw(request.get("role")),
        decision=decision,
        outcome=outcome,
        dates=dates,
        events=len(events),
        retracted=retracted,
    )


def _thaw(value: Any) -> Any:
    """A plain copy of a value from a read-only event (an erased one is a mapping)."""
    return dict(value) if isinstance(value, Mapping) else value
