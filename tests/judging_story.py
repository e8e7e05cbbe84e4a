"""A cast and a calendar for the stories that test alerts, flags and reputation.

Ana asks Carol (at Acme) to introduce her to Bob (hiring at Acme). Dan (at Globex) and Eve
are extras. Day 0 is 2026-09-01 09:00 UTC; every event is recorded after the fact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
FULL_PREPARATION = {
    "researched_company": True,
    "researched_person": True,
    "questions": ["How does the team review code?"],
    "follow_up_plan": "Write to Bob two days after the introduction",
    "qualifications": "Five years of Python services",
}


def day(n: float) -> str:
    """The timestamp of day `n` of the story."""
    moment = T0 + timedelta(days=n)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (
        f".{moment.microsecond:06d}Z" if moment.microsecond else "Z"
    )


class Story:
    """Records a story through the CLI and asks the judging commands about it."""

    def __init__(self, cli: Any, referral: str = "r1"):
        self.cli = cli
        self.referral = referral
        for handle, name, company in (
            ("ana", "Ana Ruiz", None),
            ("carol", "Carol Diaz", "Acme"),
            ("bob", "Bob Stone", "Acme"),
            ("dan", "Dan Wu", "Globex"),
            ("eve", "Eve Moss", None),
        ):
            person: dict[str, Any] = {"type": "person-added", "handle": handle, "name": name}
            if company:
                person["company"] = company
            self.cli.record({**person, "at": day(-60)})

    def event(self, type_: str, when: float, **fields: Any) -> dict[str, Any]:
        event = {"type": type_, "at": day(when), **fields}
        if type_ not in ("person-added", "connection-declared", "person-forgotten"):
            event.setdefault("referral", self.referral)
        event = {k: v for k, v in event.items() if v is not None}  # None: leave the field out
        return self.cli.record(event)

    def declare(self, by: str, with_: str, kind: str, on: float) -> dict[str, Any]:
        return self.event("connection-declared", on, by=by, kind=kind, **{"with": with_})

    def request(self, on: float = 0, **fields: Any) -> dict[str, Any]:
        base = {
            "by": "ana",
            "referrer": "carol",
            "company": "Acme",
            "target": "bob",
            "relationship": "worked-together",
            "role": "Backend engineer",
            "preparation": FULL_PREPARATION,
        }
        return self.event("referral-requested", on, **{**base, **fields})

    def vet(self, on: float = 1, **fields: Any) -> dict[str, Any]:
        base = {
            "by": "carol",
            "decision": "accept",
            "knows_work": True,
            "relationship": "worked-together",
        }
        return self.event("request-vetted", on, **{**base, **fields})

    def introduce(self, on: float = 2, to: str = "bob", **fields: Any) -> dict[str, Any]:
        return self.event("introduction-made", on, by="carol", to=to, **fields)

    def send(self, type_: str, by: str, to: str, on: float, **fields: Any) -> dict[str, Any]:
        return self.event(type_, on, by=by, to=to, **fields)

    def done_right(self) -> dict[str, dict[str, Any]]:
        """The referral done right: nobody owes anybody anything, nothing went bad."""
        ids: dict[str, dict[str, Any]] = {}
        self.declare("ana", "carol", "worked-together", -20)
        self.declare("carol", "ana", "worked-together", -19)
        self.declare("ana", "bob", "acquaintance", -15)
        ids["request"] = self.request(0, posting_at="2026-08-25")
        ids["vet"] = self.vet(1)
        ids["intro"] = self.introduce(2)
        ids["thanks"] = self.send("thank-you-sent", "ana", "carol", 2.5)
        ids["follow-up"] = self.send("follow-up-sent", "ana", "bob", 3)
        self.send("follow-up-sent", "carol", "ana", 5)
        self.send("follow-up-sent", "carol", "bob", 5)
        self.event("interview-scheduled", 6, on=day(8))
        ids["interview"] = self.event("interview-held", 8, by="bob")
        self.send("feedback-given", "bob", "carol", 9, match=4)
        self.send("thank-you-sent", "bob", "carol", 9)
        self.send("thank-you-sent", "bob", "ana", 9)
        self.send("thank-you-sent", "carol", "bob", 9.5)
        ids["outcome"] = self.send("outcome-reported", "ana", "carol", 10, outcome="hired")
        self.event("referral-closed", 12, by="ana", reason="Hired")
        return ids

    def alerts(self, on: float, *args: str) -> list[dict[str, Any]]:
        return self.cli.json("alerts", "--json", "--as-of", day(on), *args)

    def flags(self, on: float, *args: str) -> list[dict[str, Any]]:
        return self.cli.json("flags", "--json", "--as-of", day(on), *args)

    def reputation(self, on: float, *args: str) -> list[dict[str, Any]]:
        return self.cli.json("reputation", "--json", "--as-of", day(on), *args)


def owed(alerts: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
    """(kind, person, owed_to) of each alert."""
    return {(a["kind"], a["person"], a["owed_to"]) for a in alerts}


def kinds(flags: list[dict[str, Any]]) -> set[tuple[str, str | None, str]]:
    """(kind, referral, person) of each flag."""
    return {(f["kind"], f["referral"], f["person"]) for f in flags}
