"""Read-only views of the ledger for plugins: what the ledger knew at a time.

A `View` admits every event recorded at or before `known_at` (all of them when None), and
leaves out events retracted by a retraction recorded at or before `known_at`. It does not
filter by `at`: plugins derive rows with a validity interval in world time, so one derivation
answers every `--as-of`.
"""

from __future__ import annotations

import functools
import re
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain, islice
from operator import gt
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from .app import freeze
from .events import PersonUpdated, RequestAmended, parse_timestamp, to_micros
from .privacy import unseal_value

if TYPE_CHECKING:
    from .app import Ledger
    from .store import Stored


# A timestamp as the ledger writes one (UTC, `Z`, six digits of fraction if any): most are.
_WRITTEN = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{6})?Z")
_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


@functools.lru_cache(maxsize=8192)
def micros(timestamp: str) -> int:
    """Microseconds since the epoch of an interchange timestamp."""
    # Cached: views sort every referral's events by it, and plugins ask again for each row.
    if _WRITTEN.fullmatch(timestamp):
        # What parse_timestamp gives, without its time zone conversions; anything it would
        # refuse (a 30 February, a year before 1970) goes to it for its error.
        try:
            value = (datetime.fromisoformat(timestamp[:-1]) - _EPOCH) // _MICROSECOND
        except ValueError:
            value = -1
        if value >= 0:
            return value
    return to_micros(parse_timestamp(timestamp, future_ok=True))


@dataclass(frozen=True)
class Parties:
    """Who plays which role in a referral, from its live events."""

    request: Mapping[str, Any] | None
    requester: str | None
    referrer: str | None
    target: str | None
    # World time (microseconds) from which the referral has its target, if it has one.
    target_since: int | None


class Roles(NamedTuple):
    """What `Parties` says of a referral less its request: who plays which role, and when and
    where in the log it was asked (the request's `at`, in microseconds, and `seq`; None
    without a live request). Small enough for a view to keep for every referral it has read
    (`View.roles`), after it forgets their events."""

    requester: str | None
    referrer: str | None
    target: str | None
    target_since: int | None
    asked: int | None
    seq: int | None


def parties(events: Sequence[Mapping[str, Any]]) -> Parties:
    """The roles in a referral's live events (sorted by `at`): the target is the request's (as
    its last amendment that names one has it, from that amendment's `at`), else the first
    introduction's `to`. `request` is the request as amended by every amendment."""
    request = next((e for e in events if e["type"] == "referral-requested"), None)
    if request is None:
        return Parties(None, None, None, None, None)
    amendments = [e for e in events if e["type"] == "request-amended"]
    target = request.get("target")
    since: int | None = micros(request["at"])
    for amendment in amendments:
        if amendment.get("target") is not None:
            target, since = amendment["target"], micros(amendment["at"])
    if amendments:
        request = freeze(RequestAmended.amend(request, amendments))
    if target is None:
        intro = next((e for e in events if e["type"] == "introduction-made"), None)
        target = intro["to"] if intro is not None else None
        since = micros(intro["at"]) if intro is not None else None
    return Parties(request, request["by"], request["referrer"], target, since)


def read_only(ledger: Ledger, stored: Stored) -> Mapping[str, Any]:
    """`freeze(ledger.export_record(stored))`, built in one pass instead of two copies: a
    replay builds one for every event it reads."""
    record = stored.record
    kind = record["type"]
    if kind not in ledger.types:
        raise ledger.unknown_type(kind, stored.seq)
    # The order export_record gives: type, id, at, the rest as stored (updating type, id and
    # at keeps them first), then what export adds.
    out = {"type": kind, "id": record["id"], "at": record["at"], **record}
    # Values come from JSON: exact dicts and lists, which are copied read-only. Most records
    # hold none, and keep the copy above as it is.
    held = set(map(type, record.values()))
    if dict in held or list in held:
        # Only a record with a sealed value (in an object) has anything to unseal.
        sealed = not stored.state or b'"commitment"' in stored.state
        for key, value in record.items():
            if type(value) is dict:
                out[key] = freeze(unseal_value(key, value, stored.private) if sealed else value)
            elif type(value) is list:
                out[key] = freeze(value)
    out["recorded_at"] = stored.recorded_at
    if stored.recorded_by is not None:
        out["recorded_by"] = stored.recorded_by
    out["seq"] = stored.seq
    out["hash"] = stored.hash
    return MappingProxyType(out)


BATCH = 500  # people read per query
_PERSON_TYPES = ("person-added", "person-updated", "person-forgotten")
TOLD = 10_000  # records kept to note their people later, at most


def by_at(events: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Events by `seq` (a list the caller gives up), by `at` then `seq`."""
    if len(events) < 2:
        return events  # a person's events, most often: their `person-added` alone
    at = [micros(event["at"]) for event in events]
    # Most are by `at` already; else a stable sort by `at` alone keeps `seq` order for ties.
    if any(map(gt, at, at[1:])):
        return [events[i] for i in sorted(range(len(events)), key=at.__getitem__)]
    return events


class View:
    """The ledger as known at `known_at` (microseconds since the epoch, or None for now)."""

    def __init__(self, ledger: Ledger, known_at: int | None = None):
        self.ledger = ledger
        self.store = ledger.store
        self.known_at = known_at
        self._people: dict[str, Mapping[str, Any] | None] = {}
        self._updates: dict[str, list[Mapping[str, Any]]] = {}
        self._declarations: dict[str, list[Mapping[str, Any]]] = {}
        self._referrals: dict[str, list[Mapping[str, Any]]] = {}
        self._histories: dict[str, list[Mapping[str, Any]]] = {}
        self._parties: dict[str, Parties] = {}
        self._roles: dict[str, Roles] = {}  # kept when the referral's events are forgotten
        self._by_seq: dict[int, Mapping[str, Any]] = {}  # the events of `_histories`
        self._mentions: dict[str, list[str]] = {}
        # The people named by the events this view has handed out (or was told of): the first
        # `declarations` (or `referrals_of`) it is asked reads those of all of them it has not
        # read yet in one query, since plugins ask about the people of the events they look
        # at (a replay would otherwise query the ledger once per person). The records are
        # kept as they come and looked at on that first question: often none comes.
        self._told: list[Mapping[str, Any]] = []
        self._unread_declarations: dict[str, None] = {}
        self._unread_mentions: dict[str, None] = {}
        self._unread_people: dict[str, None] = {}
        # What `referrals_of` gave last: a plugin that asks for a person's referrals goes on to
        # read them, so the first one it asks for that this view does not hold is read with
        # the others of the same answer (those not held), in one query, not one each.
        self._mentioned: deque[list[str]] = deque(maxlen=8)
        self._update_times: dict[str, list[int]] = {}
        self._updated: dict[tuple[str, int], Mapping[str, Any]] = {}
        self._memos: dict[str, dict[Any, Any]] = {}

    # -- filtering --------------------------------------------------------------------------

    def _known(self, stored: Stored) -> bool:
        return self.known_at is None or stored.recorded_us <= self.known_at

    def retracted(self, event_ids: list[str]) -> set[str]:
        """Which of these events are retracted in this view."""
        times = self.store.retraction_times(event_ids)
        return {
            event_id
            for event_id, recorded in times.items()
            if self.known_at is None or recorded <= self.known_at
        }

    def _events(
        self, rows: list[Stored], *, live: bool = True, retracted: set[str] | None = None
    ) -> list[Mapping[str, Any]]:
        """The events of these rows (by `seq`, as the store reads them) this view knows, as
        plugins see them, by `at` then `seq`."""
        return by_at(self._read(rows, live=live, retracted=retracted))

    def _read(
        self, rows: list[Stored], *, live: bool = True, retracted: set[str] | None = None
    ) -> list[Mapping[str, Any]]:
        """`_events`, left in the order of `rows`."""
        if retracted is None:
            retracted = self.retracted([stored.event_id for stored in rows]) if live else set()
        out = []
        known_at = self.known_at
        for stored in rows:
            if known_at is not None and stored.recorded_us > known_at:
                continue
            if live and (
                stored.event_id in retracted or stored.record["type"] == "event-retracted"
            ):
                continue
            self._told.append(stored.record)
            out.append(read_only(self.ledger, stored))
        if len(self._told) > TOLD:
            self._note_told()
        return out

    def _tell(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Stored records whose people are likely to be asked about (see `_told`)."""
        self._told.extend(records)

    def _expect(self, handles: Iterable[str]) -> None:
        """People likely to be asked about (see `_told`)."""
        for handle in handles:
            if handle not in self._declarations:
                self._unread_declarations[handle] = None
            if handle not in self._mentions:
                self._unread_mentions[handle] = None
            if handle not in self._people:
                self._unread_people[handle] = None

    def _note_told(self) -> None:
        # Each person once: the same few come back in most of a referral's events.
        self._expect(dict.fromkeys(chain.from_iterable(map(self._people_of, self._told))))
        self._told.clear()

    def _trim(self, budget: int, people: int | None = None) -> None:
        """Forget what this view read first, once it holds more than `budget` events of
        referrals, down to three quarters of them; and once it holds more than `people` events
        of people (twice `budget` unless given), the people read first, down to half of that.
        Anything forgotten is read again if asked for.

        A catch-up keeps one view while it reads and derives a window of events (each event
        decoded once, each referral read once) and calls this between pages and chunks, so that
        its memory stays bounded: it goes through the events in order, and what it read first
        (the referrals of its first events) is what it is least likely to ask about again.
        People have their own budget: a person comes back in every referral of theirs, and
        person-wide parts (a requester's referrals, a pair's relationship) ask about them again
        and again. (With one budget for both, people pushed out the referrals and were read
        again themselves: over the first 100,000 events of a 200,000-event ledger, 259,028
        people read for 21,856 there are, and 114,003 referrals for 20,858; 50.9 s of CPU, where
        a view kept whole took 17.6 s and 356 MB. Referrals within 20,000 events and people
        within 40,000: 39.4 s, peaking at 128 MB (133 MB before); the next 100,000 events,
        64.2 s -> 46.5 s at the same peak.)"""
        people_budget = 2 * budget if people is None else people
        keep = budget * 3 // 4
        # What plugins worked out from the view (`memo`) goes whenever the view forgets, and
        # when it alone passes the budget (measured: 164,000 relationships kept over a window of
        # 100,000 events, where the view held 66,000; kept until 50,000 of them, 30 MB more
        # than emptied whenever the view forgets, for no less CPU).
        if sum(map(len, self._memos.values())) > budget:
            self._forget_memos()
        if len(self._roles) > 2 * budget:  # a few hundred bytes each: many more than referrals
            for key in list(islice(self._roles, len(self._roles) - budget)):
                del self._roles[key]
        referrals, held_people = self._held()
        if referrals <= budget and held_people <= people_budget:
            return
        self._forget_memos()
        if held_people > people_budget:
            self._forget_people(people_budget // 2, held_people)
        # Oldest first: dicts keep the order referrals were read in.
        for key in list(chain(self._referrals, self._histories)):
            if referrals <= keep:
                break
            if key in self._referrals:
                self.roles(key)  # kept: worked out from the events about to go, not read again
            live, history = self._referrals.pop(key, ()), self._histories.pop(key, ())
            self._parties.pop(key, None)
            for event in history:
                self._by_seq.pop(event["seq"], None)
            referrals -= len(live) + len(history)

    def _forget_memos(self) -> None:
        for memo in self._memos.values():
            memo.clear()

    def _forget_people(self, keep: int, people: int) -> int:
        """Forget the people read first, in each of what the view keeps of them, leaving about
        `keep` of the `people` events it holds of them; returns how many it holds then.
        (Forgetting all of them at once had the next pages read the same people again: over
        the first 100,000 events of a 400,000-event ledger, 1,345,781 handles were read, now
        1,110,294; a view with no budget reads 43,000.)"""
        share = keep / people
        self._updated.clear()  # worked out from `_people` and `_updates`, again if asked for
        for cache, *alongside in (
            (self._people, self._updates, self._update_times),
            (self._declarations,),
            (self._mentions,),
        ):
            for handle in list(islice(cache, len(cache) - int(len(cache) * share))):
                del cache[handle]
                for other in alongside:
                    other.pop(handle, None)
        return self._held()[1]

    def _held(self) -> tuple[int, int]:
        """How many events this view keeps of referrals, and of people (an event kept both in
        a referral's live events and in its history counts twice)."""
        referrals = sum(map(len, self._referrals.values())) + sum(
            map(len, self._histories.values())
        )
        people = (
            len(self._people)
            + sum(map(len, self._updates.values()))
            + sum(map(len, self._declarations.values()))
            + sum(map(len, self._mentions.values())) // 4  # keys, not events
        )
        return referrals, people

    @functools.cached_property
    def _people_fields(self) -> dict[str, tuple[str, ...]]:
        """The fields that name people, by event type, as the event classes say."""
        return {name: model.people() for name, model in self.ledger.types.items()}

    def _people_of(self, record: Mapping[str, Any]) -> Iterator[str]:
        """The handles a stored record names."""
        fields = self._people_fields.get(record["type"], ())
        return (h for h in map(record.get, fields) if isinstance(h, str))

    def _batch(self, handle: str, unread: dict[str, None]) -> list[str]:
        """`handle`, and up to BATCH - 1 of the people named so far not read yet."""
        self._note_told()
        batch = [handle]
        for name in unread:
            if len(batch) == BATCH:
                break
            if name != handle:
                batch.append(name)
        return batch

    # -- what plugins ask -------------------------------------------------------------------

    def memo(self, name: str) -> dict[Any, Any]:
        """A dict of this view's for what a plugin works out from it and asks again (one
        `name` per use, its module's say): a view's events do not change while it lives. It
        lasts as long as the view, but is emptied whenever a long catch-up's view forgets what
        it read (see `_trim`), so what is kept there stays bounded too: look an entry up again
        each time, never hold on to one across calls."""
        found = self._memos.get(name)
        if found is None:
            found = self._memos[name] = {}
        return found

    def preload(self, keys: Iterable[str]) -> None:
        """Read many referrals' events in a few queries, for a replay that derives them all."""
        wanted = [key for key in dict.fromkeys(keys) if key not in self._referrals]
        if not wanted:
            return
        found = self.store.referrals_events(wanted)
        retracted = self.retracted([s.event_id for rows in found.values() for s in rows])
        for key in wanted:
            self._referrals[key] = self._events(found.get(key, []), retracted=retracted)

    def referral_histories(self, keys: Iterable[str]) -> dict[str, list[Mapping[str, Any]]]:
        """`referral_history` of many referrals, by key, in a few queries; their live events
        (`referral`) are kept from the same rows, as `preload` keeps them."""
        wanted = list(dict.fromkeys(keys))
        self._read_histories(wanted)
        return {key: list(self._histories[key]) for key in wanted}

    def _read_histories(self, keys: Iterable[str]) -> None:
        """Read and keep the histories and live events of these referrals (those not kept
        yet), and each of their events by `seq` (see `_decoded`)."""
        wanted = [key for key in dict.fromkeys(keys) if key not in self._histories]
        if not wanted:
            return
        found = self.store.referrals_events(wanted)
        retracted = self.retracted([s.event_id for rows in found.values() for s in rows])
        decoded = self._by_seq
        for key in wanted:
            # One read-only copy of each event for both: the live events are the history less
            # retractions and what they retract, as `_events` leaves out.
            history = self._read(found.get(key, []), live=False)
            if key not in self._referrals:
                self._referrals[key] = by_at(
                    [
                        e
                        for e in history
                        if e["id"] not in retracted and e["type"] != "event-retracted"
                    ]
                )
            self._histories[key] = history
            for event in history:
                decoded[event["seq"]] = event

    def _decoded(self, stored: Stored) -> Mapping[str, Any]:
        """`read_only(ledger, stored)`: the copy this view holds, when it read the event's
        referral (see `_read_histories`), so that a catch-up builds it once."""
        event = self._by_seq.get(stored.seq)
        return event if event is not None else read_only(self.ledger, stored)

    def referral(self, key: str) -> list[Mapping[str, Any]]:
        """The referral's live events (no retractions, nothing retracted), by `at` then `seq`."""
        if key not in self._referrals:
            batch = next((keys for keys in reversed(self._mentioned) if key in keys), None)
            if batch is None:
                self._referrals[key] = self._events(self.store.referral_events(key))
            else:
                held = self._referrals
                self.preload([key, *islice((k for k in batch if k not in held), BATCH - 1)])
        # A copy: a plugin that reorders its list must not change what the next plugin sees.
        return list(self._referrals[key])

    def parties(self, key: str) -> Parties:
        """Requester, referrer and target of the referral, from its live events."""
        if key not in self._parties:
            self._parties[key] = parties(self.referral(key))
        return self._parties[key]

    def roles(self, key: str) -> Roles:
        """`parties(key)` less the request (`Roles`): for a plugin that goes through many
        referrals to pick the few whose events or request it needs (a person's referrals, say).
        The view keeps these after it forgets the referral's events, so asking again reads
        nothing."""
        found = self._roles.get(key)
        if found is None:
            p = self.parties(key)
            request = p.request
            found = self._roles[key] = Roles(
                p.requester,
                p.referrer,
                p.target,
                p.target_since,
                None if request is None else micros(request["at"]),
                None if request is None else request["seq"],
            )
        return found

    def referral_history(self, key: str) -> list[Mapping[str, Any]]:
        """Every known event of the referral, retractions and retracted ones included, by seq."""
        if key not in self._histories:
            self._histories[key] = self._read(self.store.referral_events(key), live=False)
        return list(self._histories[key])

    def person(self, handle: str, at: int | None = None) -> Mapping[str, Any] | None:
        """The person's live `person-added` event as their live `person-updated` events by
        world time `at` (every one when None) have changed it, with `forgotten: true` once
        forgotten; or None. (A handle whose `person-added` was retracted and that was added
        again has one live `person-added`: the last.)"""
        if handle not in self._people:
            batch = self._batch(handle, self._unread_people)
            found = self.store.people_events(batch, _PERSON_TYPES)
            retracted = self.retracted([s.event_id for rows in found.values() for s in rows])
            for name in batch:
                self._keep_person(name, self._events(found.get(name, []), retracted=retracted))
                self._unread_people.pop(name, None)
        added = self._people[handle]
        updates = self._updates.get(handle, [])
        if added is None or not updates:
            return added
        # The updates are by `at`: those by `at` are the first so many, and the person as
        # they leave them is the same for every `at` between two updates.
        count = len(updates) if at is None else bisect_right(self._update_times[handle], at)
        if not count:
            return added
        if (handle, count) not in self._updated:
            self._updated[handle, count] = freeze(PersonUpdated.update(added, updates[:count]))
        return self._updated[handle, count]

    def people(self, handles: Iterable[str]) -> dict[str, Mapping[str, Any] | None]:
        """`person(handle)` of many people, by handle, in a few queries (BATCH a query)."""
        wanted = list(dict.fromkeys(handles))
        unread = self._unread_people
        for handle in wanted:
            if handle not in self._people:
                unread[handle] = None
        return {handle: self.person(handle) for handle in wanted}

    def names(self, handles: Iterable[str]) -> dict[str, str | None]:
        """The name `person(handle)` gives each of these people, by handle: None for one
        unknown, forgotten or without a name. For a table that names many: most people have
        one `person-added` and nothing else, whose name is read without the event (a lighter
        query, `Store.people_private`); the others are read as `people` reads them."""
        wanted = list(dict.fromkeys(handles))
        unread = [handle for handle in wanted if handle not in self._people]
        rest = [handle for handle in wanted if handle in self._people]
        found = self.store.people_private(unread, _PERSON_TYPES) if unread else {}
        known_at = self.known_at
        simple: dict[str, tuple[str, Any]] = {}
        for handle in unread:
            rows = found.get(handle)
            if rows and len(rows) == 1:
                kind, event_id, recorded_us, values = rows[0]
                if (
                    kind == "person-added"
                    and (known_at is None or recorded_us <= known_at)
                    and values is not None
                    and "name" in values
                ):
                    simple[handle] = (event_id, values["name"])
                    continue
            rest.append(handle)
        out: dict[str, Any] = {}
        retracted = self.retracted([event_id for event_id, _ in simple.values()])
        for handle, (event_id, name) in simple.items():
            if event_id in retracted:
                rest.append(handle)
            else:
                out[handle] = name
        for handle, person in self.people(rest).items():
            out[handle] = None if person is None or person.get("forgotten") else person.get("name")
        # a name erased ({"forgotten": …}) or empty is no name
        return {h: out[h] if isinstance(out[h], str) and out[h] else None for h in wanted}

    def _keep_person(self, handle: str, rows: list[Mapping[str, Any]]) -> None:
        added = next((e for e in reversed(rows) if e["type"] == "person-added"), None)
        if added is not None and any(e["type"] == "person-forgotten" for e in rows):
            added = freeze({**added, "forgotten": True})
        updates = [e for e in rows if e["type"] == "person-updated"]
        self._people[handle] = added
        self._updates[handle] = updates
        self._update_times[handle] = [micros(e["at"]) for e in updates]

    def person_updates(self, handle: str) -> list[Mapping[str, Any]]:
        """The person's live `person-updated` events, by `at`."""
        self.person(handle)
        return list(self._updates.get(handle, []))

    def declarations(self, handle: str) -> list[Mapping[str, Any]]:
        """Live `connection-declared` events by this person, by `at`."""
        if handle not in self._declarations:
            batch = self._batch(handle, self._unread_declarations)
            found = self.store.people_events(batch, ("connection-declared",))
            retracted = self.retracted([s.event_id for rows in found.values() for s in rows])
            for name in batch:
                self._declarations[name] = self._events(found.get(name, []), retracted=retracted)
                self._unread_declarations.pop(name, None)
        return list(self._declarations[handle])

    def events_by(self, handle: str, types: Sequence[str]) -> list[Mapping[str, Any]]:
        """Live events of these types that belong to this person rather than to a referral
        (a plugin's own person-level events, say), by `at`."""
        return self._events(self.store.person_events(handle, tuple(types)))

    def declarations_between(self, a: str, b: str) -> list[Mapping[str, Any]]:
        """Both people's live accounts of how they know each other, by `at`."""
        found = [e for e in self.declarations(a) if e["with"] == b]
        found += [e for e in self.declarations(b) if e["with"] == a]
        return sorted(found, key=lambda e: (micros(e["at"]), e["seq"]))

    def referrals_of(self, handle: str) -> list[str]:
        """Keys of referrals that name this person in any role (a superset is fine)."""
        if handle not in self._mentions:
            batch = self._batch(handle, self._unread_mentions)
            found = self.store.referrals_of_people(batch)
            for name in batch:
                self._mentions[name] = found.get(name, [])
                self._unread_mentions.pop(name, None)
        keys = self._mentions[handle]
        if len(keys) > 1:
            self._mentioned.append(keys)
        return list(keys)

    def declaring(self, handle: str) -> list[str]:
        """Handles of the people who declared a connection with this person (a superset is
        fine: ask `declarations`); what `relationships` cannot find from the person's side."""
        return self.store.declaring(handle)

    def handles(self) -> list[str]:
        """Handles of every person ever added, in the order added (a superset is fine: ask
        `person(handle)`)."""
        return self.store.handles()

    def referral_keys(self) -> list[str]:
        """Keys of every referral, in the order they were requested (a superset is fine)."""
        return self.store.referral_keys()

    def event(self, event_id: str) -> Mapping[str, Any] | None:
        stored = self.store.get(event_id)
        if stored is None or not self._known(stored):
            return None
        return read_only(self.ledger, stored)

    def events(self, event_ids: Iterable[str]) -> dict[str, Mapping[str, Any]]:
        """`event` of many ids in a few queries, by id: those this view knows (retracted or
        not, like `event`)."""
        found = self.store.get_many(list(dict.fromkeys(event_ids)))
        return {
            event_id: read_only(self.ledger, stored)
            for event_id, stored in found.items()
            if self._known(stored)
        }
