"""The two aggregates, a referral and a person: the state the write rules need. No I/O.

Each stored event belongs to exactly one aggregate, which its class says (`Event.aggregate`):
its referral when it has one, else a person. Their explicit topics are the stored schema: never
rename them.
"""

from __future__ import annotations

import functools
import uuid
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from .events import parse_timestamp, to_micros

_NAMESPACE = uuid.UUID("6f1c3a52-8a0e-4d3e-9a55-1c0ad3c0e7a1")


# Cached: an import asks for the aggregate of each event it checks. A few thousand recent
# keys hold the referrals and people in flight: a full cache of 65,536 held about 30 MB for
# the rest of the process.
@functools.lru_cache(maxsize=4096)
def referral_id(key: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, "referral:" + key)


@functools.lru_cache(maxsize=4096)
def person_id(handle: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, "person:" + handle)


class _Entries:
    """What an aggregate remembers of each of its events: enough to apply the rules."""

    def init_entries(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}  # id -> compact record, in version order
        self.retracted: set[str] = set()
        # The live entries (neither retracted nor retractions) by type, in version order. The
        # rules ask for some types on every write; rebuilding them from `entries` each time made
        # a write's cost grow with the aggregate's length (a long referral's import quadratic).
        # `remember` is the only writer of all three, so they cannot drift apart.
        self.live_by_type: dict[str, dict[str, dict[str, Any]]] = {}

    def remember(self, record: dict[str, Any], at_us: int) -> None:
        entry = {"type": record["type"], "at": at_us}
        if "to" in record:  # all the rules read of an entry besides these: whom it reached
            entry["to"] = record["to"]
        event_id = record["id"]  # unique in the ledger: never remembered twice
        self.entries[event_id] = entry
        if record["type"] == "event-retracted":
            retracted_id = record["retracts"]
            self.retracted.add(retracted_id)
            target = self.entries.get(retracted_id)
            if target is not None:
                self.live_by_type.get(target["type"], {}).pop(retracted_id, None)
        elif event_id not in self.retracted:  # (a retraction always follows its event)
            self.live_by_type.setdefault(record["type"], {})[event_id] = entry

    @classmethod
    def begun(cls, aggregate_id: uuid.UUID, record: dict[str, Any], at: datetime) -> Any:
        """The aggregate its first event makes, as that event's `mutate` makes it, without
        building the event: the write path keeps only this state, and stores the event's
        bytes (see `Pending.state`)."""
        aggregate: Any = cls.__new__(cls)
        aggregate.__base_init__(aggregate_id, 1, at)
        aggregate.__init__(record)
        return aggregate

    def advance(self, record: dict[str, Any], at: datetime, at_us: int | None = None) -> int:
        """Apply its next event to the aggregate, as the event's `mutate` does (without
        building it); return the event's version. `at_us` is `at` in microseconds, when the
        caller has it already."""
        aggregate: Any = self
        aggregate.apply_record(record, at if at_us is None else at_us)
        aggregate.version = version = aggregate.version + 1
        aggregate.modified_on = at
        return int(version)

    def live_of(self, kind: str) -> list[dict[str, Any]]:
        """The live entries of one type, in version order: `live()` filtered, without the scan."""
        return list(self.live_by_type.get(kind, {}).values())

    def live(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (event_id, entry)
            for event_id, entry in self.entries.items()
            if event_id not in self.retracted and entry["type"] != "event-retracted"
        ]


class Referral(Aggregate, _Entries):
    TOPIC = "referral-ledger:Referral"

    class Created(Aggregate.Created):  # referral-requested
        TOPIC = "referral-ledger:Referral.Created"
        record: dict[str, Any]

    class Recorded(Aggregate.Event):
        TOPIC = "referral-ledger:Referral.Recorded"
        record: dict[str, Any]

        def apply(self, aggregate: Referral) -> None:  # type: ignore[override]
            aggregate.apply_record(self.record, self.timestamp)

    def __init__(self, record: dict[str, Any]):
        self.init_entries()
        self.key: str = record["referral"]
        self.requested(record, _micros(self.created_on))

    def requested(self, record: dict[str, Any], at_us: int) -> None:
        """A `referral-requested`: the first of the key, or one that asks again once the
        request before it was retracted (its events stay, all of them retracted)."""
        self.request_id: str = record["id"]
        self.requester: str = record["by"]
        self.referrer: str = record["referrer"]
        self.company: str = record["company"]
        self.requested_target: str | None = record.get("target")
        self.requested_at: int = at_us
        self.remember(record, at_us)

    def apply_record(self, record: dict[str, Any], timestamp: datetime | str | int) -> None:
        if record["type"] == "referral-requested":
            self.requested(record, _micros(timestamp))
            return
        self.remember(record, _micros(timestamp))

    @property
    def live_request(self) -> bool:
        """Whether the referral has a live request: False once its request is retracted, when
        the key is free to be requested again."""
        return self.request_id not in self.retracted

    @property
    def target(self) -> str | None:
        target = self.requested_target
        for entry in sorted(self.live_of("introduction-made"), key=lambda e: e["at"]):
            target = entry["to"]
        return target

    @property
    def closed_at(self) -> int | None:
        # asked by every rule check of the referral's events: no list built when none is closed
        closes = self.live_by_type.get("referral-closed")
        return min(e["at"] for e in closes.values()) if closes else None

    def held_interviews(self) -> list[int]:
        return [e["at"] for e in self.live_of("interview-held")]


class Person(Aggregate, _Entries):
    TOPIC = "referral-ledger:Person"

    class Created(Aggregate.Created):  # person-added
        TOPIC = "referral-ledger:Person.Created"
        record: dict[str, Any]

    class Recorded(Aggregate.Event):
        TOPIC = "referral-ledger:Person.Recorded"
        record: dict[str, Any]

        def apply(self, aggregate: Person) -> None:  # type: ignore[override]
            aggregate.apply_record(self.record, self.timestamp)

    def __init__(self, record: dict[str, Any]):
        self.init_entries()
        self.handle: str = record["handle"]
        self.forgotten = False
        self.added(record, _micros(self.created_on))

    def added(self, record: dict[str, Any], at_us: int) -> None:
        """A `person-added`: the first of the handle, or one that adds it again once the
        `person-added` before it was retracted."""
        self.added_id: str = record["id"]
        self.company: str | None = record.get("company")
        self.remember(record, at_us)

    def apply_record(self, record: dict[str, Any], timestamp: datetime | str | int) -> None:
        if record["type"] == "person-added":
            self.added(record, _micros(timestamp))
            return
        self.remember(record, _micros(timestamp))
        if record["type"] == "person-forgotten":
            self.forgotten = True

    @property
    def present(self) -> bool:
        """Whether the person is known: False once their `person-added` is retracted, when
        the handle is free to be added again."""
        return self.added_id not in self.retracted


def _micros(moment: datetime | str | int) -> int:
    if type(moment) is int:  # microseconds already (`advance`)
        return moment
    if isinstance(moment, str):
        moment = parse_timestamp(moment, future_ok=True)
    return to_micros(moment)
