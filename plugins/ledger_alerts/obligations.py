"""What each party of a referral owes the others, and when it fell due: the contract's alert
table as data. Pure functions over a referral's live events; no I/O."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ledger.api import Parties, micros, parties, timestamp

Event = Mapping[str, Any]
# (person who owes, owed to, role of the one who owes, world time it opens)
Opening = tuple[str, str, str, int]


@dataclass(frozen=True)
class Rule:
    """One row of the contract's alert table: an obligation, what opens and meets it, and when
    it falls due."""

    kind: str
    due_key: str  # key of the config file's [due] table
    due_days: float  # its default, in days
    ends_on_close: bool
    # (event, parties, the referral's events by `at`) -> the obligations the event opens
    opens: Callable[[Event, Parties, Sequence[Event]], list[Opening]]
    meets: Callable[[Event, str, str], bool]
    what: str  # "{person} has not … {owed_to}" for the message
    # What is owed, said to either side ("you owe bob a follow-up", "carol owes you feedback on
    # the interview"): for the views, not the stored rows, so not part of the signature.
    owes: str = ""

    def signature(self) -> list[Any]:
        """What the rule is, as data: a projection's version digests it, so that a changed
        rule rebuilds the alerts."""
        return [
            self.kind,
            self.due_key,
            self.due_days,
            self.ends_on_close,
            self.opens.__qualname__,
            self.meets.__qualname__,
            self.what,
        ]


def _sent(kind: str) -> Callable[[Event, str, str], bool]:
    def meets(event: Event, person: str, owed_to: str) -> bool:
        return event["type"] == kind and event.get("by") == person and event.get("to") == owed_to

    meets.__qualname__ = f"_sent({kind!r})"  # what a rule's signature shows
    return meets


def _toward_target(at: int, p: Parties) -> int | None:
    """An obligation toward (or of) the target opens once the referral has one."""
    if p.target is None or p.target_since is None:
        return None
    return max(at, p.target_since)


def _request_opens(e: Event, p: Parties, events: Sequence[Event]) -> list[Opening]:
    if e["type"] != "referral-requested":
        return []
    return [(e["referrer"], e["by"], "referrer", micros(e["at"]))]


def _request_meets(e: Event, person: str, owed_to: str) -> bool:
    return e["type"] == "request-vetted" and e.get("by") == person


def _follow_up_opens(e: Event, p: Parties, events: Sequence[Event]) -> list[Opening]:
    if e["type"] != "introduction-made" or p.requester is None:
        return []
    return [(p.requester, e["to"], "requester", micros(e["at"]))]


def _thanks_requester_opens(e: Event, p: Parties, events: Sequence[Event]) -> list[Opening]:
    if e["type"] not in ("introduction-made", "resume-forwarded") or p.referrer is None:
        return []
    if e.get("by") != p.referrer or p.requester is None:
        return []
    return [(p.requester, p.referrer, "requester", micros(e["at"]))]


def _thanks_referrer_opens(e: Event, p: Parties, events: Sequence[Event]) -> list[Opening]:
    if e["type"] != "interview-held" or p.referrer is None:
        return []
    at = _toward_target(micros(e["at"]), p)
    if at is None or p.target is None:
        return []
    return [(p.referrer, p.target, "referrer", at)]


def _thanks_target_opens(e: Event, p: Parties, events: Sequence[Event]) -> list[Opening]:
    if e["type"] != "interview-held" or p.referrer is None:
        return []
    at = _toward_target(micros(e["at"]), p)
    if at is None or p.target is None:
        return []
    return [(p.target, p.referrer, "target", at)]


def _thanks_target_requester_opens(
    e: Event, p: Parties, events: Sequence[Event]
) -> list[Opening]:
    if e["type"] != "interview-held" or p.referrer is None or p.requester is None:
        return []
    at = _toward_target(micros(e["at"]), p)
    if at is None or p.target is None:
        return []
    return [(p.target, p.requester, "target", at)]


def _thanks_target_requester_meets(event: Event, person: str, owed_to: str) -> bool:
    """Thanked, or no longer owed: the requester reported that they withdrew."""
    if event["type"] == "outcome-reported":
        return event.get("by") == owed_to and event.get("outcome") == "withdrawn"
    return _sent("thank-you-sent")(event, person, owed_to)


def _feedback_opens(e: Event, p: Parties, events: Sequence[Event]) -> list[Opening]:
    if e["type"] != "interview-held" or p.referrer is None:
        return []
    at = _toward_target(micros(e["at"]), p)
    if at is None or p.target is None:
        return []
    return [(p.target, p.referrer, "target", at)]


def _check_in_opens(e: Event, p: Parties, events: Sequence[Event]) -> list[Opening]:
    if e["type"] != "introduction-made" or p.referrer is None or p.requester is None:
        return []
    at = micros(e["at"])
    return [(p.referrer, p.requester, "referrer", at), (p.referrer, e["to"], "referrer", at)]


def _outcome_opens(e: Event, p: Parties, events: Sequence[Event]) -> list[Opening]:
    if p.requester is None or p.referrer is None:
        return []
    at = micros(e["at"])
    if e["type"] == "interview-held":
        return [(p.requester, p.referrer, "requester", at)]
    if e["type"] != "outcome-reported" or p.referrer in (e.get("by"), e.get("to")):
        return []
    # Told someone else; owed to the referrer only if not told them already, at or before it.
    # Only an `outcome-reported` counts as having told them.
    told = any(
        x is not e
        and x["type"] == "outcome-reported"
        and x.get("by") == p.requester
        and x.get("to") == p.referrer
        and micros(x["at"]) <= at
        for x in events
    )
    return [] if told else [(p.requester, p.referrer, "requester", at)]


def _outcome_meets(event: Event, person: str, owed_to: str) -> bool:
    return (
        event["type"] in ("outcome-reported", "follow-up-sent")
        and event.get("by") == person
        and event.get("to") == owed_to
    )


def _introduction_opens(e: Event, p: Parties, events: Sequence[Event]) -> list[Opening]:
    if e["type"] != "request-vetted" or e.get("decision") != "accept":
        return []
    if p.requester is None or e.get("by") != p.referrer:
        return []
    return [(e["by"], p.requester, "referrer", micros(e["at"]))]


def _introduction_meets(event: Event, person: str, owed_to: str) -> bool:
    if event["type"] in ("introduction-made", "resume-forwarded"):
        return event.get("by") == person
    return _sent("follow-up-sent")(event, person, owed_to)


def _preparation_opens(e: Event, p: Parties, events: Sequence[Event]) -> list[Opening]:
    if e["type"] != "request-vetted" or e.get("decision") != "needs-preparation":
        return []
    if p.requester is None or e.get("by") != p.referrer:
        return []
    return [(p.requester, e["by"], "requester", micros(e["at"]))]


def _preparation_meets(event: Event, person: str, owed_to: str) -> bool:
    return event["type"] == "request-amended" and event.get("by") == person


RULES: tuple[Rule, ...] = (
    Rule(
        "request-unanswered",
        "request-unanswered",
        7,
        True,
        _request_opens,
        _request_meets,
        "{person} has not answered {owed_to}'s request for an introduction",
        owes="an answer to their request for an introduction",
    ),
    Rule(
        "follow-up-overdue",
        "follow-up-overdue",
        3,
        True,
        _follow_up_opens,
        _sent("follow-up-sent"),
        "{person} has not followed up with {owed_to} since being introduced",
        owes="a follow-up since the introduction",
    ),
    Rule(
        "thank-you-missing",
        "thank-you-requester",
        2,
        False,
        _thanks_requester_opens,
        _sent("thank-you-sent"),
        "{person} has not thanked {owed_to} for the introduction",
        owes="thanks for the introduction",
    ),
    Rule(
        "thank-you-missing",
        "thank-you-referrer",
        7,
        False,
        _thanks_referrer_opens,
        _sent("thank-you-sent"),
        "{person} has not thanked {owed_to} for interviewing the candidate",
        owes="thanks for interviewing the candidate",
    ),
    Rule(
        "thank-you-missing",
        "thank-you-target",
        7,
        False,
        _thanks_target_opens,
        _sent("thank-you-sent"),
        "{person} has not thanked {owed_to} after the interview",
        owes="thanks after the interview",
    ),
    Rule(
        "thank-you-missing",
        "thank-you-target",
        7,
        False,
        _thanks_target_requester_opens,
        _thanks_target_requester_meets,
        "{person} has not thanked {owed_to} after the interview",
        owes="thanks after the interview",
    ),
    Rule(
        "feedback-missing",
        "feedback-missing",
        7,
        True,
        _feedback_opens,
        _sent("feedback-given"),
        "{person} has not given {owed_to} feedback on the interview",
        owes="feedback on the interview",
    ),
    Rule(
        "referrer-check-in-missing",
        "referrer-check-in-missing",
        14,
        True,
        _check_in_opens,
        _sent("follow-up-sent"),
        "{person} has not checked in with {owed_to} since the introduction",
        owes="a check-in since the introduction",
    ),
    Rule(
        "outcome-not-shared",
        "outcome-not-shared",
        7,
        False,
        _outcome_opens,
        _outcome_meets,
        "{person} has not told {owed_to} how it went",
        owes="word of how it went",
    ),
    Rule(
        "introduction-pending",
        "introduction-pending",
        7,
        True,
        _introduction_opens,
        _introduction_meets,
        "{person} accepted {owed_to}'s request but has not introduced them yet",
        owes="the promised introduction",
    ),
    Rule(
        "preparation-missing",
        "preparation-missing",
        7,
        True,
        _preparation_opens,
        _preparation_meets,
        "{person} has not added the preparation {owed_to} asked for",
        owes="the requested preparation",
    ),
)

KINDS: frozenset[str] = frozenset(rule.kind for rule in RULES)
WAIVED = "obligation-waived"  # the event type this plugin registers (events.py)


def _waived_at(
    waivers: Sequence[Event], kind: str, person: str, owed_to: str, opened_at: int, end: int | None
) -> int | None:
    """The `at` of the first waiver of this obligation while it was open: by the one it is
    owed to, of its kind and person, at or after its opening and before its end."""
    for waiver in waivers:  # by `at`
        at = micros(waiver["at"])
        if (waiver.get("kind"), waiver.get("person"), waiver.get("by")) != (kind, person, owed_to):
            continue
        if opened_at <= at and (end is None or at < end):
            return at
    return None


def with_pending(
    key: str, events: Sequence[Event], pending: Sequence[Mapping[str, Any]]
) -> list[Event]:
    """Referral `key`'s live stored `events` with its live events of an import not yet stored
    (`pending`, in file order): what the ledger will hold, by `at` as `View.referral` gives it.
    A retraction among them takes out what it retracts, stored or pending."""
    if not pending:
        return list(events)
    retracted = {e["retracts"] for e in pending if e["type"] == "event-retracted"}
    mine = [e for e in pending if e.get("referral") == key]
    merged = [e for e in [*events, *mine] if e["id"] not in retracted]
    merged = [e for e in merged if e["type"] != "event-retracted"]
    return sorted(merged, key=lambda e: micros(e["at"]))  # stable: stored before pending


def is_open(
    events: Sequence[Event], kind: str, person: str, owed_to: str, at: int, due: Callable[[str], int]
) -> bool:
    """Whether an obligation of `kind` that `person` owes `owed_to` is open at world time `at`,
    judged on the referral's live events up to `at` (by `at`, as `View.referral` gives them)."""
    known = [e for e in events if micros(e["at"]) <= at]
    for row in obligations("", known, due):
        if row.get("category") != "obligation":
            continue
        if (row["kind"], row["person"], row["owed_to"]) != (kind, person, owed_to):
            continue
        if micros(row["start"]) <= at and ("end" not in row or micros(row["end"]) > at):
            return True
    return False


def obligations(
    key: str, events: Sequence[Event], due: Callable[[str], int], p: Parties | None = None
) -> Iterator[dict[str, Any]]:
    """Every obligation the referral's live events (by `at`, as `View.referral` gives them)
    give rise to, and the alerts among them, each with its validity in world time.

    `due(key)` is the due time, in microseconds, of a `[due]` key. Each obligation yields a row
    of category "obligation" from its opening to its end, met in time or not, for timelines
    (`audit`). An obligation that falls overdue also yields an alert: it starts just after its
    due time and ends when the obligation is met (or the referral closes, where it should).
    `p` is `parties(events)`, when the caller has it (`View.parties`).
    """
    if p is None:
        p = parties(events)
    if p.request is None:
        return
    # World times of the events, in their order: by `at`, so what meets an obligation opened
    # at a time is looked for from the first event at that time on.
    ats = [micros(e["at"]) for e in events]
    close = next((e for e in events if e["type"] == "referral-closed"), None)
    close_at = micros(close["at"]) if close is not None else None
    waivers = [e for e in events if e["type"] == WAIVED]
    for rule in RULES:
        due_in = due(rule.due_key)
        # Per (person, owed_to): the end of its latest obligation (None: still open).
        latest: dict[tuple[str, str], int | None] = {}
        for opener in events:
            for person, owed_to, role, opened_at in rule.opens(opener, p, events):
                pair = (person, owed_to)
                if pair in latest:
                    ended = latest[pair]
                    if ended is None or ended > opened_at:
                        continue  # a second opening while one is open changes nothing
                if rule.ends_on_close and close_at is not None and close_at <= opened_at:
                    continue
                end = next(
                    (
                        ats[index]
                        for index in range(bisect_left(ats, opened_at), len(events))
                        if events[index] is not opener
                        and rule.meets(events[index], person, owed_to)
                    ),
                    None,
                )
                if rule.ends_on_close and close_at is not None:
                    end = close_at if end is None else min(end, close_at)
                waived_at = _waived_at(waivers, rule.kind, person, owed_to, opened_at, end)
                if waived_at is not None:
                    end = waived_at  # met, from the waiver's `at` on
                latest[pair] = end
                due_at = opened_at + due_in
                due_text, since = timestamp(due_at), timestamp(opened_at)
                message = rule.what.format(person=person, owed_to=owed_to)
                row = {
                    "kind": rule.kind,
                    "referral": key,
                    "person": person,
                    "owed_to": owed_to,
                    "role": role,
                    "due": due_text,
                    "since": since,
                    "message": f"{message} (due {due_text})",
                    "company": p.request.get("company"),
                    "opened_by": opener["id"],
                    "evidence": [opener["id"]],
                }
                if end is not None:
                    row["end"] = timestamp(end)
                yield {**row, "category": "obligation", "start": since}
                if end is not None and end <= due_at:
                    continue  # met in time: no alert
                # `row` itself, now that its copy above is given: the same keys in the same order
                row["start"] = timestamp(due_at + 1)
                yield row
