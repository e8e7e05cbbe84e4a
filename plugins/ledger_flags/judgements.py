"""The contract's ways networking goes bad (0.2 rules), as pure functions over a `View`.

Each flag is a timeline in world time: a list of (start, row or None) changes, so the stored
rows answer any `--as-of` and never show evidence that had not happened yet. Every rule that
reads a relationship reads it through `ledger.api.relationship`: the current accounts.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ledger.api import (
    Account,
    Parties,
    Relationship,
    View,
    lacking_preparation,
    micros,
    relationship,
    relationships,
    request_as_of,
    timestamp,
)

Event = Mapping[str, Any]
DAY_US = 86_400 * 1_000_000
FOURTEEN_DAYS = 14 * DAY_US  # fixed by the contract
THIRTY_DAYS = 30 * DAY_US  # fixed by the contract
Change = tuple[int, dict[str, Any] | None]
HANDOVERS = ("introduction-made", "resume-forwarded")
AMENDED = "request-amended"  # changes the request from its `at` on (`request_as_of`)

# Every kind this plugin raises, with whose conduct it is about (docs/reference.md lists them).
FLAG_KINDS = {
    "weak-tie": "requester",
    "unprepared-request": "requester",
    "slow-follow-up": "requester",
    "referrer-left-uninformed": "requester",
    "last-minute-networking": "requester",
    "stranger-forward": "the forwarder",
    "referrer-does-not-know-work": "referrer",
    "misrepresented-relationship": "the one with the stronger account",
    "multiple-referrers-same-target": "requester",
}


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


def _first_handover(p: Parties, events: Sequence[Event]) -> Event | None:
    """The referral's first introduction or forward by someone other than the requester (a
    requester passing on their own resume hands nothing over for anyone)."""
    return next((e for e in events if e["type"] in HANDOVERS and e.get("by") != p.requester), None)


def _handed_over(event: Event, requester: str) -> str:
    if event["type"] == "introduction-made":
        return f"{event['by']} introduced {requester} to {event['to']}"
    return f"{event['by']} forwarded {requester}'s resume to {event['to']}"


def _quoted(account: Account) -> str:
    # The account as it stood when judged: a later one may supersede it, so it is never
    # quoted as if it were current.
    return f"{account.by} called it '{account.kind}' at the time"


def weak_tie(
    key: str, view: View, p: Parties, events: Sequence[Event], rel: Relationship
) -> list[Change]:
    assert p.requester is not None and p.referrer is not None
    handover = _first_handover(p, events)
    if handover is None:
        return []
    at = micros(handover["at"])
    mine, theirs = rel.current(p.requester, at), rel.current(p.referrer, at)
    weak = [a for a in (mine, theirs) if a is not None and a.weak]
    vouched = any(
        e["type"] == "request-vetted" and e["knows_work"] is True and micros(e["at"]) <= at
        for e in events
    )
    if weak:
        why = f"they were only a weak tie ({'; '.join(map(_quoted, weak))})"
    elif theirs is None and not vouched:
        why = (
            f"{p.referrer} never said how they know {p.requester}, "
            "nor that they had seen their work"
        )
    else:
        return []
    message = f"{_handed_over(handover, p.requester)}, but {why}"
    evidence = [handover["id"], *(a.event for a in weak)]
    return [(at, _flag("weak-tie", key, p.requester, "requester", message, evidence))]


def unprepared_request(
    key: str, view: View, p: Parties, events: Sequence[Event], rel: Relationship
) -> list[Change]:
    assert p.requester is not None
    handover = _first_handover(p, events)
    if handover is None:
        return []
    at = micros(handover["at"])
    request = request_as_of(events, at)
    assert request is not None
    lacks = lacking_preparation(request)
    if not lacks:
        return []
    message = f"{_handed_over(handover, p.requester)}, but the request lacked " + ", ".join(lacks)
    flag = _flag(
        "unprepared-request",
        key,
        p.requester,
        "requester",
        message,
        [request["id"], handover["id"]],
        lacking=lacks,
    )
    return [(at, flag)]


def _ended_by(p: Parties, events: Sequence[Event], deadline: int) -> Event | None:
    """The close, or the requester's `withdrawn`, at or before `deadline`, if any."""
    return next(
        (
            e
            for e in events
            if micros(e["at"]) <= deadline
            and (
                e["type"] == "referral-closed"
                or (
                    e["type"] == "outcome-reported"
                    and e.get("by") == p.requester
                    and e.get("outcome") == "withdrawn"
                )
            )
        ),
        None,
    )


def slow_follow_up(
    key: str, view: View, p: Parties, events: Sequence[Event], rel: Relationship
) -> list[Change]:
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
    # Once the referral is over (closed, or the requester withdrew) nobody owes a follow-up.
    if _ended_by(p, events, late) is not None:
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
    key: str, view: View, p: Parties, events: Sequence[Event], rel: Relationship
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


def _inside(rel: Relationship, at: int, cutoff: int) -> bool:
    """Whether either side's current account at `at` is stronger than weak, in a relationship
    that started before `cutoff`."""
    started = rel.start(at)
    if started is None or started >= cutoff:
        return False
    return any(
        account is not None and not account.weak
        for account in (rel.current(person, at) for person in rel.people)
    )


def last_minute_networking(
    key: str, view: View, p: Parties, events: Sequence[Event], rel: Relationship
) -> list[Change]:
    request = p.request
    assert request is not None and p.requester is not None
    if not (request_as_of(events) or request).get("posting_at"):
        return []  # no posting date, as given or as amended at any time
    company = str(request["company"]).casefold()
    known = relationships(view, p.requester)
    asked = micros(request["at"])
    moments = {asked}
    # The referral's own events too: an amendment may change `posting_at`.
    moments.update(e_at for e in events if (e_at := micros(e["at"])) > asked)
    # The requester's relationships with anyone ever at the company (a `person-updated` may
    # move someone into or out of it): with the times of that person's updates, and whether
    # they are at the company before the first and after each.
    candidates: list[tuple[list[int], list[bool], Relationship]] = []
    for other, found in known.items():
        times, companies = _companies(view, other)
        at_company = [c == company for c in companies]
        if any(at_company):
            # Only the accounts and moves of someone ever at the company can change the
            # answer: at anyone else's moments it is what it was just before, a repeat that
            # `rows_of` merges, so those moments are not looked at.
            moments.update(m for m in found.moments() if m > asked)
            moments.update(m for m in times if m > asked)
            candidates.append((times, at_company, found))
    amended = [micros(e["at"]) for e in events if e["type"] == AMENDED]  # by `at`
    # After so many amendments: the day the position was posted from, and the flag raised
    # when no insider was known before it; None without a posting date.
    postings: dict[int, tuple[int, dict[str, Any]] | None] = {}

    changes: list[Change] = []
    for moment in sorted(moments):
        count = bisect_right(amended, moment)
        if count not in postings:
            postings[count] = _posted(key, p, request_as_of(events, moment) or request)
        posted = postings[count]
        if posted is None:
            changes.append((moment, None))
            continue
        cutoff, flag = posted
        inside = any(
            at_company[bisect_right(times, moment)] and _inside(found, moment, cutoff)
            for times, at_company, found in candidates
        )
        changes.append((moment, None if inside else flag))
    return changes


def _posted(key: str, p: Parties, amended: Event) -> tuple[int, dict[str, Any]] | None:
    """The start of the day the request (as `amended`) says the position was posted, and the
    flag raised when the requester knew no insider before it; None without a posting date."""
    request, posting = p.request, amended.get("posting_at")
    if not posting:
        return None
    assert request is not None and p.requester is not None
    message = (
        f"{p.requester} had no relationship at {request['company']} stronger than a weak "
        f"tie and begun before the position was posted ({posting})"
    )
    flag = _flag("last-minute-networking", key, p.requester, "requester", message, [request["id"]])
    return micros(f"{posting}T00:00:00Z"), flag


# Each person's company over world time, in the view's memo (a view's events do not change
# while it lives): a requester's acquaintances are looked up again for each of their referrals.
_COMPANIES = "ledger_flags:companies"


def _companies(view: View, handle: str) -> tuple[list[int], list[str]]:
    """The world times of the person's `person-updated` events (by `at`), and their company
    (casefolded; "" for none) before the first and after each: at world time `at` it is
    `companies[bisect_right(times, at)]`."""
    cache: dict[str, tuple[list[int], list[str]]] = view.memo(_COMPANIES)
    if handle not in cache:
        times = [micros(update["at"]) for update in view.person_updates(handle)]
        # The person as of a time before the first update, and as of each update's time.
        probes: list[int | None] = [times[0] - 1, *times] if times else [None]
        cache[handle] = times, [
            str((view.person(handle, at) or {}).get("company") or "").casefold() for at in probes
        ]
    return cache[handle]


def stranger_forward(
    key: str, view: View, p: Parties, events: Sequence[Event], rel: Relationship
) -> dict[str, list[Change]]:
    assert p.requester is not None
    found: dict[str, list[Change]] = {}
    for event in events:
        if event["type"] != "resume-forwarded":
            continue
        forwarder = event["by"]
        if forwarder in (p.requester, p.referrer) or forwarder in found:
            continue
        at = micros(event["at"])
        if forwarder == p.target and p.target_since is not None and p.target_since <= at:
            continue  # the hiring manager passing the resume on, to HR say
        known = relationship(view, forwarder, p.requester)
        accounts = [a for a in (known.current(forwarder, at), known.current(p.requester, at)) if a]
        if any(not a.weak for a in accounts):
            continue
        if accounts:
            why = f"they were only a weak tie ({'; '.join(map(_quoted, accounts))})"
        else:
            why = "neither has said how they know the other"
        message = f"{forwarder} forwarded {p.requester}'s resume to {event['to']}, but {why}"
        # Forwarding a resume vouches for someone, as a referrer does: that is the role the
        # flag concerns.
        flag = _flag(
            "stranger-forward",
            key,
            forwarder,
            "referrer",
            message,
            [event["id"], *(a.event for a in accounts)],
        )
        found[forwarder] = [(at, flag)]
    return found


def referrer_does_not_know_work(
    key: str, view: View, p: Parties, events: Sequence[Event], rel: Relationship
) -> list[Change]:
    assert p.requester is not None and p.referrer is not None
    vetting: Event | None = None
    for event in events:
        if event["type"] == "request-vetted":
            vetting = event
            continue
        if event["type"] not in HANDOVERS or event.get("by") != p.referrer or vetting is None:
            continue
        did = _handed_over(event, p.requester)
        evidence = [vetting["id"], event["id"]]
        if vetting["knows_work"] is False:
            message = f"{did} after saying they had not seen their work"
        else:
            account = rel.current(p.referrer, micros(vetting["at"]))
            if account is None or not account.weak:
                continue
            message = (
                f"{did} after vouching for their work, though {p.referrer} then called their "
                f"relationship '{account.kind}'"
            )
            evidence.insert(1, account.event)
        flag = _flag("referrer-does-not-know-work", key, p.referrer, "referrer", message, evidence)
        return [(micros(event["at"]), flag)]
    return []


def multiple_referrers_same_target(
    key: str, view: View, p: Parties, events: Sequence[Event], rel: Relationship
) -> list[Change]:
    """Another referrer asked for the same target within 30 days, while the earlier request
    was still open (neither closed nor declined)."""
    request = p.request
    assert request is not None and p.requester is not None
    if p.target is None or p.target_since is None:
        return []
    asked = micros(request["at"])
    earlier: list[tuple[int, Event, str]] = []
    for other in view.referrals_of(p.requester):
        if other == key:
            continue
        # the roles, kept by the view: the other referral's events only if it may count
        q = view.roles(other)
        if (
            q.asked is None
            or q.requester != p.requester
            or q.referrer == p.referrer
            or q.target != p.target
            or q.target_since is None
        ):
            continue
        if (q.asked, q.seq) >= (asked, request["seq"]) or asked - q.asked > THIRTY_DAYS:
            continue
        if _still_open(view.referral(other), asked):
            start = max(asked, p.target_since, q.target_since)
            other_request = view.parties(other).request
            assert other_request is not None
            earlier.append((start, other_request, str(q.referrer)))
    changes: list[Change] = []
    for start in sorted({s for s, _, _ in earlier}):
        now = [(r, who) for s, r, who in sorted(earlier, key=lambda x: x[1]["seq"]) if s <= start]
        through = ", ".join(dict.fromkeys(who for _, who in now))
        message = (
            f"{p.requester} asked {p.referrer} for an introduction to {p.target} while a request "
            f"for the same through {through} was still open"
        )
        evidence = [r["id"] for r, _ in now] + [request["id"]]
        flag = _flag(
            "multiple-referrers-same-target", key, p.requester, "requester", message, evidence
        )
        changes.append((start, flag))
    return changes


def _still_open(events: Sequence[Event], at: int) -> bool:
    """Neither closed nor declined (by its latest vetting) at world time `at`."""
    decision = None
    for event in events:
        if micros(event["at"]) > at:
            break
        if event["type"] == "referral-closed":
            return False
        if event["type"] == "request-vetted":
            decision = event["decision"]
    return decision != "decline"


def _the_referral(mine: Account, theirs: Account) -> str | None:
    """The referral a comparison of two accounts belongs to: none for two declarations, else
    the one whose request or vetting gave the later of the accounts given in referrals."""
    given = [a for a in (mine, theirs) if not a.declared]
    return max(given, key=lambda a: (a.at, a.seq)).referral if given else None


def person_misrepresented(handle: str, view: View) -> dict[str | None, list[Change]]:
    """Where `handle`'s current account of a relationship is two or more ranks stronger than
    the other person's, over time: one timeline per referral the comparison belongs to (None
    for two declarations, across everyone `handle` declared)."""
    known = relationships(view, handle)
    rank = {other: index for index, other in enumerate(known)}
    # A comparison changes only when an account of its relationship is given.
    changing: dict[int, list[str]] = {}
    for other, found in known.items():
        for moment in found.moments():
            changing.setdefault(moment, []).append(other)
    # The comparisons two or more ranks apart at the moment, with the referral of each.
    gaps: dict[str, tuple[str | None, Account, Account]] = {}
    out: dict[str | None, list[Change]] = {}
    shown: dict[str | None, list[tuple[str, Account, Account]] | None] = {}
    for moment in sorted(changing):
        for other in changing[moment]:
            found = known[other]
            mine, theirs = found.current(handle, moment), found.current(other, moment)
            if mine is None or theirs is None or mine.strength - theirs.strength < 2:
                gaps.pop(other, None)
            else:
                gaps[other] = (_the_referral(mine, theirs), mine, theirs)
        apart: dict[str | None, list[tuple[str, Account, Account]]] = {}
        for other in sorted(gaps, key=rank.__getitem__):
            referral, mine, theirs = gaps[other]
            apart.setdefault(referral, []).append((other, mine, theirs))
        for referral in [*out, *(r for r in apart if r not in out)]:
            pairs = apart.get(referral)
            if referral in shown and shown[referral] == pairs:
                continue  # the same flag (or none) as from the last change: nothing changes
            shown[referral] = pairs
            flag = _misrepresented(handle, view, referral, pairs) if pairs else None
            out.setdefault(referral, []).append((moment, flag))
    return out


def _misrepresented(
    handle: str, view: View, referral: str | None, pairs: list[tuple[str, Account, Account]]
) -> dict[str, Any]:
    evidence = [e for _, mine, theirs in pairs for e in (mine.event, theirs.event)]
    if referral is None:
        message = (
            f"{handle} describes relationships as stronger than the other side does: "
            + "; ".join(f"'{m.kind}' with {other}, who says '{t.kind}'" for other, m, t in pairs)
        )
        return _flag("misrepresented-relationship", None, handle, None, message, evidence)
    [(other, mine, theirs)] = pairs  # a referral is between two people
    role = "requester" if view.parties(referral).requester == handle else "referrer"
    message = (
        f"{handle} called the relationship with {other} '{mine.kind}', and {other} called it "
        f"'{theirs.kind}'"
    )
    return _flag("misrepresented-relationship", referral, handle, role, message, evidence)


# Each gives the changes of one person's flag in a referral; the per-forwarder ones, a dict.
REFERRAL_FLAGS = (
    weak_tie,
    unprepared_request,
    slow_follow_up,
    referrer_left_uninformed,
    last_minute_networking,
    referrer_does_not_know_work,
    multiple_referrers_same_target,
)
PER_PERSON_FLAGS = (stranger_forward,)

__all__ = [
    "FLAG_KINDS",
    "PER_PERSON_FLAGS",
    "REFERRAL_FLAGS",
    "person_misrepresented",
    "rows_of",
]
