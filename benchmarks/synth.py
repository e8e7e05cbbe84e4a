"""Deterministic synthetic ledgers: realistic referral lifecycles, as interchange-format events.

The same `(events, seed, prefix)` always gives the same events, so benchmark figures and tests
are reproducible. Every stream is valid on its own: people are added before they are named,
each referral runs through request, vetting, introduction, follow-ups, interviews, feedback,
outcome, thanks and close (some stall on the way, a few events are retracted), and `at` only
moves forward. A `prefix` keeps handles, referral keys and ids of several streams apart, so
several writers can import their own streams into one ledger.

    python benchmarks/synth.py 10000 > ledger.jsonl
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ledger.kinds import KINDS

START = datetime(2021, 1, 4, 9, 0, tzinfo=UTC)
SPAN_SECONDS = 5 * 365 * 86400  # every stream fits in five years from START: never in the future
ACTIVE = 24  # referrals in flight at once
COMPANIES = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell")
ROLES = ("backend engineer", "data analyst", "product manager", "designer", "sre", "recruiter")
NOTES = (
    "Thanks for taking the time.",
    "Sent the deck and my CV.",
    "Following up on last week's note.",
    "Great conversation about the team.",
    "Happy to help, keep me posted.",
)


class Synth:
    """A stream of events for `count` events; iterate it once."""

    def __init__(self, count: int, *, seed: int = 0, prefix: str = ""):
        self.count = count
        self.rng = random.Random(f"{seed}:{prefix}")
        self.prefix = prefix
        self.people: list[str] = []
        self.company: dict[str, str] = {}
        self.referrals = 0
        self.emitted = 0
        self.clock = START
        self.mean_step = min(3600.0, SPAN_SECONDS / max(count, 1))

    # -- naming ---------------------------------------------------------------------------------

    def _id(self) -> str:
        return f"{self.prefix}e{self.emitted:08d}"

    def _tick(self) -> str:
        self.clock += timedelta(seconds=self.rng.uniform(0.2, 1.8) * self.mean_step)
        return self.clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        event["id"] = self._id()
        event["at"] = self._tick()
        self.emitted += 1
        return event

    # -- events ---------------------------------------------------------------------------------

    def _person(self) -> dict[str, Any]:
        handle = f"{self.prefix}p{len(self.people)}"
        company = self.rng.choice(COMPANIES)
        self.people.append(handle)
        self.company[handle] = company
        event: dict[str, Any] = {
            "type": "person-added",
            "handle": handle,
            "name": f"Person {len(self.people)}",
            "company": company.title(),
        }
        if self.rng.random() < 0.6:
            event["email"] = f"{handle}@example.org"
        if self.rng.random() < 0.4:
            event["title"] = self.rng.choice(ROLES).title()
        return event

    def _declaration(self) -> dict[str, Any]:
        a, b = self.rng.sample(self.people, 2)
        event: dict[str, Any] = {
            "type": "connection-declared",
            "by": a,
            "with": b,
            "kind": self.rng.choice(KINDS),
        }
        if self.rng.random() < 0.3:
            event["note"] = self.rng.choice(NOTES)
        return event

    def _lifecycle(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        requester, referrer, target = rng.sample(self.people, 3)
        key = f"{self.prefix}r{self.referrals}"
        self.referrals += 1
        ref = {"referral": key}
        prep: dict[str, Any] = {
            "researched_company": rng.random() < 0.8,
            "researched_person": rng.random() < 0.6,
        }
        if rng.random() < 0.7:
            prep["questions"] = ["What does the team work on?", "How is success measured?"]
        if rng.random() < 0.6:
            prep["follow_up_plan"] = "Write again in a week."
        request: dict[str, Any] = {
            "type": "referral-requested",
            **ref,
            "by": requester,
            "referrer": referrer,
            "company": self.company[target].title(),
            "relationship": rng.choice(KINDS),
            "preparation": prep,
        }
        if rng.random() < 0.5:
            request["target"] = target
        if rng.random() < 0.5:
            request["role"] = rng.choice(ROLES)
            if rng.random() < 0.7:
                prep["qualifications"] = "Five years of relevant work."
        if rng.random() < 0.3:
            request["goal"] = "A conversation about open roles."
        if rng.random() < 0.3:
            request["posting_at"] = self.clock.strftime("%Y-%m-%d")
        yield request
        if rng.random() < 0.08:
            return  # never answered: the request stays open
        decision = rng.choices(("accept", "decline", "needs-preparation"), (0.8, 0.1, 0.1))[0]
        yield {
            "type": "request-vetted",
            **ref,
            "by": referrer,
            "decision": decision,
            "knows_work": rng.random() < 0.7,
            "relationship": rng.choice(KINDS),
        }
        if decision == "decline":
            yield {"type": "referral-closed", **ref, "by": requester, "reason": "Declined."}
            return
        if rng.random() < 0.85:
            yield {
                "type": "introduction-made",
                **ref,
                "by": referrer,
                "to": target,
                "channel": rng.choice(("email", "message", "in-person")),
                "resume_attached": rng.random() < 0.5,
                "note": rng.choice(NOTES),
            }
        else:
            yield {"type": "resume-forwarded", **ref, "by": referrer, "to": target}
        if rng.random() < 0.8:
            follow_up_id = self._id()
            yield {"type": "follow-up-sent", **ref, "by": requester, "to": target}
            if rng.random() < 0.03:
                yield {
                    "type": "event-retracted",
                    **ref,
                    "by": requester,
                    "retracts": follow_up_id,
                    "reason": "Recorded on the wrong referral.",
                }
        if rng.random() < 0.7:
            yield {"type": "thank-you-sent", **ref, "by": requester, "to": referrer}
        if rng.random() < 0.5:
            yield {"type": "follow-up-sent", **ref, "by": referrer, "to": requester}
            yield {"type": "follow-up-sent", **ref, "by": referrer, "to": target}
        if rng.random() < 0.1:
            return  # stalls after the introduction
        if rng.random() < 0.6:
            on = self.clock + timedelta(days=3)
            yield {
                "type": "interview-scheduled",
                **ref,
                "by": target,
                "on": on.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            yield {"type": "interview-held", **ref, "by": target, "note": rng.choice(NOTES)}
            if rng.random() < 0.8:
                yield {
                    "type": "feedback-given",
                    **ref,
                    "by": target,
                    "to": referrer,
                    "match": rng.randint(1, 5),
                }
            for who, to in ((referrer, target), (target, referrer), (target, requester)):
                if rng.random() < 0.6:
                    yield {"type": "thank-you-sent", **ref, "by": who, "to": to}
            outcome = rng.choice(("hired", "rejected", "offer-declined", "withdrawn"))
            yield {
                "type": "outcome-reported",
                **ref,
                "by": requester,
                "to": referrer,
                "outcome": outcome,
            }
        yield {"type": "referral-closed", **ref, "by": requester, "reason": "Process finished."}
        if rng.random() < 0.3:
            yield {"type": "thank-you-sent", **ref, "by": requester, "to": referrer}

    # -- the stream -----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rng = self.rng
        active: list[Iterator[dict[str, Any]]] = []
        while self.emitted < self.count:
            if len(self.people) < 8 or rng.random() < 0.06:
                yield self._stamp(self._person())
                continue
            if rng.random() < 0.04:
                yield self._stamp(self._declaration())
                continue
            if len(active) < ACTIVE:
                active.append(self._lifecycle())
            index = rng.randrange(len(active))
            event = next(active[index], None)
            if event is None:
                active.pop(index)
                continue
            yield self._stamp(event)


def events(count: int, *, seed: int = 0, prefix: str = "") -> Iterator[dict[str, Any]]:
    """`count` events of a synthetic ledger, always the same for the same arguments."""
    return iter(Synth(count, seed=seed, prefix=prefix))


def lines(count: int, *, seed: int = 0, prefix: str = "") -> Iterator[bytes]:
    """The same events as JSON Lines (bytes, without newlines)."""
    for event in events(count, seed=seed, prefix=prefix):
        yield orjson.dumps(event)


if __name__ == "__main__":
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    out = sys.stdout.buffer
    for line in lines(total):
        out.write(line + b"\n")
