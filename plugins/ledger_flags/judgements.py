"""The contract's eight ways networking goes bad, as pure functions over a `View`.

Each flag is a timeline in world time: a list of (start, row or None) changes, so the stored
rows answer any `--as-of` and never show evidence that had not happened yet.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ledger.api import KIND_RANK, WEAK_KINDS, Parties, View, micros, timestamp

Event = Mapping[str, Any]
DAY_US = 86_400 * 1_000_000
FOURTEEN_DAYS = 14 * DAY_US  # fixed by the contract
Change = tuple[int, dict[str, Any] | None]


def _flag(
    kind: str,
    referral: str | None,
    person: str,
    role: str | None,
    message: str,
    evidence: Sequence[str],
    **extra: Any,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "referral": referral,
        "person": person,
        "role": role,
        "message": message,
        "evidence": list(dict.fromkeys(evidence)),
        **extra,
    }


def rows_of(timeline: Sequence[Change]) -> Iterator[dict[str, Any]]:
    """Turn one flag's changes into rows with `start`/`end`, merging repeats."""
    changes = sorted(timeline, key=lambda c: c[0])
    merged: list[Change] = []
    for at, data in changes:
        if merged and merged[-1][1] == data:
            continue
        if merged and merged[-1][0] == at:
            merged[-1] = (at, data)
            continue
        merged.append((at, data))
    for index, (at, data) in enumerate(merged):
        if data is None:
            continue
        row = {**data, "start": timestamp(at)}
        if index + 1 < len(merged):
            row["end"] = timestamp(merged[index + 1][0])
        yield row


def _upto(events: Sequence[Event], at: int) -> list[Event]:
    return [e for e in events if micros(e["at"]) <= at]


def _accounts(
    view: View, p: Parties, other: str, events: Sequence[Event], at: int
) -> list[tuple[str, str, str]]:
    """Accounts, known at world time `at`, of how `other` knows the requester:
    (who gave it, kind, event id)."""
    assert p.requester is not None and p.request is not None
    found = [
        (d["by"], d["kind"], d["id"])
        for d in _upto(view.declarations_between(p.requester, other), at)
    ]
    if other == p.referrer:
        if p.request.get("relationship"):
            found.append((p.requester, p.request["relationship"], p.request["id"]))
        for vetting in _upto(events, at):
            if vetting["type"] == "request-vetted" and vetting.get("relationship"):
                found.append((other, vetting["relationship"], vetting["id"]))
    return found


def weak_tie(key: str, view: View, p: Parties, events: Sequence[Event]) -> list[Change]:
    assert p.requester is not None and p.referrer is not None
    for event in events:
        if event["type"] not in ("introduction-made", "resume-forwarded"):
            continue
        at = micros(event["at"])
        accounts = _accounts(view, p, p.referrer, events, at)
        weak = [a for a in accounts if a[1] in WEAK_KINDS]
        silent = not any(who == p.referrer for who, _, _ in accounts)
        if not weak and not silent:
            continue
        if weak:
            why = f"{p.referrer} and {p.requester} are only a weak tie ({weak[0][1]})"
        else:
            why = f"{p.referrer} never said how they know {p.requester}"
        if event["type"] == "introduction-made":
            what = f"{p.requester} was introduced through {p.referrer}"
        else:
            what = f"{p.requester}'s resume was forwarded in a referral through {p.referrer}"
        message = f"{what}, but {why}"
        evidence = [event["id"], *(a[2] for a in weak)]
        return [(at, _flag("weak-tie", key, p.requester, "requester", message, evidence))]
    return []


def _has_questions(questions: Any) -> bool:
    """At least one non-empty question; a forgotten list (erased text) still counts."""
    if isinstance(questions, Mapping):
        return "forgotten" in questions
    if isinstance(questions, Sequence) and not isinstance(questions, str):
        return any(q for q in questions)
    return False


def _lacking(request: Event) -> list[str]:
    prep = request.get("preparation") or {}
    lacks = []
    if not prep.get("researched_company"):
        lacks.append("research on the company")
    if not prep.get("researched_person"):
        lacks.append("research on the person")
    questions = prep.get("questions")
    if not _has_questions(questions):
        lacks.append("a question to ask")
    if not prep.get("follow_up_plan"):
        lacks.append("a follow-up plan")
    if request.get("role") and not prep.get("qualifications"):
        lacks.append("qualifications for the role")
    return lacks


def unprepared_request(key: str, view: View, p: Parties, events: Sequence[Event]) -> list[Change]:
    assert p.request is not None and p.requester is not None
    lacks = _lacking(p.request)
    if not lacks:
        return []
    message = f"{p.requester} asked for an introduction without " + ", ".join(lacks)
    flag = _flag(
        "unprepared-request",
        key,
        p.requester,
        "requester",
        message,
        [p.request["id"]],
        lacking=lacks,
    )
    return [(micros(p.request["at"]), flag)]


def slow_follow_up(key: str, view: View, p: Parties, events: Sequence[Event]) -> list[Change]:
    intro = next((e for e in events if e["type"] == "introduction-made"), None)
    if intro is None or p.requester is None:
        return []
    at = micros(intro["at"])
    late = at + FOURTEEN_DAYS
    follow = next(
        (
            e
            for e in events
            if e["type"] == "follow-up-sent"
            and e.get("by") == p.requester
            and e.get("to") == intro["to"]
            and micros(e["at"]) >= at
        ),
        None,
    )
    if follow is not None and micros(follow["at"]) <= late:
        return []
    message = (
        f"{p.requester} did not follow up with {intro['to']} within 14 days of the introduction"
    )
    changes: list[Change] = [
        (late + 1, _flag("slow-follow-up", key, p.requester, "requester", message, [intro["id"]]))
    ]
    if follow is not None:
        days = (micros(follow["at"]) - at) // DAY_US
        message = (
            f"{p.requester} followed up with {intro['to']} only {days} days after the introduction"
        )
        changes.append(
            (
                micros(follow["at"]),
                _flag(
                    "slow-follow-up",
                    key,
                    p.requester,
                    "requester",
                    message,
                    [intro["id"], follow["id"]],
                ),
            )
        )
    return changes


def referrer_left_uninformed(
    key: str, view: View, p: Parties, events: Sequence[Event]
) -> list[Change]:
    opener = next((e for e in events if e["type"] in ("interview-held", "outcome-reported")), None)
    if opener is None or p.requester is None or p.referrer is None:
        return []
    at = micros(opener["at"])
    told = any(
        e["type"] in ("outcome-reported", "follow-up-sent", "thank-you-sent")
        and e.get("by") == p.requester
        and e.get("to") == p.referrer
        and at <= micros(e["at"]) <= at + FOURTEEN_DAYS
        for e in events
    )
    if told:
        return []
    what = "the interview" if opener["type"] == "interview-held" else "the outcome"
    message = f"{p.requester} neither told nor thanked {p.referrer} within 14 days of {what}"
    flag = _flag("referrer-left-uninformed", key, p.requester, "requester", message, [opener["id"]])
    return [(at + FOURTEEN_DAYS + 1, flag)]


def last_minute_networking(
    key: str, view: View, p: Parties, events: Sequence[Event]
) -> list[Change]:
    request = p.request
    assert request is not None and p.requester is not None
    posting = request.get("posting_at")
    if not posting:
        return []
    cutoff = micros(f"{posting}T00:00:00Z")
    company = str(request["company"]).casefold()
    asked = micros(request["at"])
    first: int | None = None
    for declared in view.declarations(p.requester):
        at = micros(declared["at"])
        if at >= cutoff:
            continue
        person = view.person(declared["with"])
        if person is None or str(person.get("company") or "").casefold() != company:
            continue
        first = at if first is None else min(first, at)
    if first is not None and first <= asked:
        return []
    message = (
        f"{p.requester} declared no connection at {request['company']} before the position "
        f"was posted ({posting})"
    )
    flag = _flag("last-minute-networking", key, p.requester, "requester", message, [request["id"]])
    changes: list[Change] = [(asked, flag)]
    if first is not None:
        changes.append((first, None))
    return changes


def stranger_forward(
    key: str, view: View, p: Parties, events: Sequence[Event]
) -> dict[str, list[Change]]:
    assert p.requester is not None
    found: dict[str, list[Change]] = {}
    for event in events:
        if event["type"] != "resume-forwarded" or event["by"] == p.requester:
            continue
        forwarder = event["by"]
        if forwarder in found:
            continue
        at = micros(event["at"])
        accounts = _accounts(view, p, forwarder, events, at)
        introduced = any(
            e["type"] == "introduction-made" and e["by"] == forwarder for e in _upto(events, at)
        )
        if not accounts:
            why = f"has no declared relationship with {p.requester}"
        elif all(kind in WEAK_KINDS for _, kind, _ in accounts):
            why = f"knows {p.requester} only as a weak tie"
        elif not introduced:
            why = "made no introduction in this referral first"
        else:
            continue
        # A forwarder who is none of the parties vouched for the requester, as a referrer does.
        role = "target" if forwarder == p.target else "referrer"
        message = f"{forwarder} forwarded {p.requester}'s resume to {event['to']} but {why}"
        found[forwarder] = [
            (
                at,
                _flag(
                    "stranger-forward",
                    key,
                    forwarder,
                    role,
                    message,
                    [event["id"], *(a[2] for a in accounts)],
                ),
            )
        ]
    return found


def referrer_does_not_know_work(
    key: str, view: View, p: Parties, events: Sequence[Event]
) -> list[Change]:
    vetting: Event | None = None
    for event in events:
        if event["type"] == "request-vetted":
            vetting = event
        elif event["type"] == "introduction-made" and vetting and vetting["knows_work"] is False:
            message = (
                f"{event['by']} introduced {p.requester} to {event['to']} after saying "
                "they had not seen their work"
            )
            flag = _flag(
                "referrer-does-not-know-work",
                key,
                event["by"],
                "referrer",
                message,
                [vetting["id"], event["id"]],
            )
            return [(micros(event["at"]), flag)]
    return []


def _apart(a: str, b: str) -> bool:
    return abs(KIND_RANK[a] - KIND_RANK[b]) >= 2


def request_misrepresented(
    key: str, view: View, p: Parties, events: Sequence[Event]
) -> dict[str, list[Change]]:
    """The request's `relationship` against its latest vetting's, over time."""
    request = p.request
    assert request is not None and p.requester is not None and p.referrer is not None
    claimed = request.get("relationship")
    out: dict[str, list[Change]] = {p.requester: [], p.referrer: []}
    if not claimed:
        return {}
    for vetting in events:
        if vetting["type"] != "request-vetted" or not vetting.get("relationship"):
            continue
        at = micros(vetting["at"])
        answer = vetting["relationship"]
        for changes in out.values():
            changes.append((at, None))
        if not _apart(claimed, answer):
            continue
        stronger = p.requester if KIND_RANK[claimed] > KIND_RANK[answer] else p.referrer
        role = "requester" if stronger == p.requester else "referrer"
        message = (
            f"{p.requester} called the relationship with {p.referrer} '{claimed}', and "
            f"{p.referrer} called it '{answer}'"
        )
        out[stronger][-1] = (
            at,
            _flag(
                "misrepresented-relationship",
                key,
                stronger,
                role,
                message,
                [request["id"], vetting["id"]],
            ),
        )
    return out


def person_misrepresented(handle: str, view: View) -> list[Change]:
    """Where `handle`'s latest account of a relationship is two or more kinds stronger than the
    other person's latest account of it, over time, across everyone they declared."""
    others = sorted({d["with"] for d in view.declarations(handle)})
    moments: set[int] = set()
    histories = {}
    for other in others:
        history = view.declarations_between(handle, other)
        histories[other] = history
        moments.update(micros(d["at"]) for d in history)
    changes: list[Change] = []
    for moment in sorted(moments):
        evidence: list[str] = []
        pairs: list[str] = []
        for other, history in histories.items():
            mine = [d for d in history if d["by"] == handle and micros(d["at"]) <= moment]
            theirs = [d for d in history if d["by"] == other and micros(d["at"]) <= moment]
            if not mine or not theirs:
                continue
            a, b = mine[-1], theirs[-1]
            if KIND_RANK[a["kind"]] - KIND_RANK[b["kind"]] >= 2:
                evidence += [a["id"], b["id"]]
                pairs.append(f"'{a['kind']}' with {other}, who says '{b['kind']}'")
        if not pairs:
            changes.append((moment, None))
            continue
        message = f"{handle} describes relationships as stronger than the other side does: " + (
            "; ".join(pairs)
        )
        changes.append(
            (moment, _flag("misrepresented-relationship", None, handle, None, message, evidence))
        )
    return changes


# Each gives the changes of one person's flag; the per-forwarder and per-account ones, a dict.
REFERRAL_FLAGS = (
    weak_tie,
    unprepared_request,
    slow_follow_up,
    referrer_left_uninformed,
    last_minute_networking,
    referrer_does_not_know_work,
)
PER_PERSON_FLAGS = (stranger_forward, request_misrepresented)

__all__ = [
    "PER_PERSON_FLAGS",
    "REFERRAL_FLAGS",
    "person_misrepresented",
    "request_misrepresented",
    "rows_of",
]
