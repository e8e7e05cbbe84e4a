"""The ledger's use cases: record, import, export. Validation, sealing, hooks, retries."""

from __future__ import annotations

import functools
import gc
import itertools
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NoReturn

from .aggregates import Person, Referral, person_id, referral_id
from .crypto import VaultError
from .errors import ConflictError, LedgerError
from .events import (
    CORE_TYPES,
    ENVELOPE_FIELDS,
    HANDLE_RE,
    Event,
    format_timestamp,
    new_event_id,
    parse_timestamp,
    to_micros,
    type_name,
    validate,
)
from .interchange import dumps, parse_event
from .plugins import PluginError, Plugins, get_plugins
from .privacy import (
    get_path,
    is_personal_value,
    new_secret,
    parse_secret,
    personal_values,
    seal,
    sealed_paths,
    take_forgotten,
    unseal,
)
from .provenance import recorded_by_problem
from .rules import Located, check
from .store import (
    GENESIS,
    PAGE,
    WRITE_PAGE,
    Appender,
    Pending,
    Store,
    Stored,
    chain_hash,
    open_store,
)

RETRIES = 8
MAX_IMPORT_BYTES = 2 * 1024**3


# A tuple rather than `dict | list`: the union is built anew at each evaluation, which costs
# more than the test itself on the paths that look at every value of every event.
_CONTAINERS = (dict, list)


def freeze(value: Any) -> Any:
    """A read-only copy: mappings become mappingproxies, lists become tuples."""
    # Scalars are kept without a call each: replays freeze every event they read.
    if isinstance(value, dict):
        for v in value.values():
            if isinstance(v, _CONTAINERS):
                return MappingProxyType(
                    {k: freeze(v) if isinstance(v, _CONTAINERS) else v for k, v in value.items()}
                )
        return MappingProxyType(dict(value))  # flat, as most records are: one copy in C
    if isinstance(value, list):
        return tuple(freeze(v) if isinstance(v, _CONTAINERS) else v for v in value)
    return value


class ImportResult:
    """What a write did: the events it stored, how many were already stored, whether it was a
    restore into an empty ledger."""

    def __init__(
        self,
        ledger: Ledger,
        stored: list[Stored] | None,
        keys: Mapping[str, bytes],
        unchanged: int,
        restored: bool,
        *,
        span: tuple[int | None, int] | None = None,
    ):
        self._ledger = ledger
        # The events as stored, or (a long import, which holds none of them) the first and
        # last seq it stored: they are then read back from the ledger when asked for, as they
        # are at that time (a later `forget` has erased what it erased).
        self._stored = stored
        self._span = span
        self._keys = keys
        self.unchanged = unchanged
        self.restored = restored
        # ids that look like an email address: `forget` never erases an id
        self.email_like_ids = 0

    @functools.cached_property
    def stored(self) -> list[dict[str, Any]]:
        """The newly stored events in the export format, built on first use: an import of many
        events is mostly asked only for their count and positions."""
        return list(self.each_stored())

    def each_stored(self) -> Iterator[dict[str, Any]]:
        """The newly stored events in the export format, one at a time (an import's are read
        back from the ledger a page at a time)."""
        if self._stored is not None:
            for stored in self._stored:
                yield self._ledger.export_record(stored, self._keys)
            return
        if self.first_seq is None or self.last_seq is None:
            return
        for stored in self._ledger.store.events(after=self.first_seq - 1, until=self.last_seq):
            yield self._ledger.export_record(stored, self._keys)

    @property
    def count(self) -> int:
        if self._stored is not None:
            return len(self._stored)
        first, last = self._span or (None, 0)
        return 0 if first is None else last - first + 1

    @property
    def first_seq(self) -> int | None:
        if self._stored is not None:
            return self._stored[0].seq if self._stored else None
        return self._span[0] if self._span else None

    @property
    def last_seq(self) -> int | None:
        if self._stored is not None:
            return self._stored[-1].seq if self._stored else None
        return self._span[1] if self._span and self._span[0] is not None else None


class Ledger:
    """One ledger: its store, its event types and its plugins."""

    def __init__(
        self,
        db: str | None = None,
        *,
        plugins: Plugins | None = None,
        master_key: bytes | None = None,
        create: bool = True,
    ):
        self.plugins = plugins if plugins is not None else get_plugins()
        self.types: dict[str, type[Event]] = dict(CORE_TYPES)
        self.type_plugins: dict[str, str] = {}  # plugin-defined type -> the plugin's name
        for plugin, model in self.plugins.collected("register_event_types"):
            name = plugin_type_name(plugin, model)
            if name in CORE_TYPES:
                raise LedgerError(
                    f"plugin {plugin!r} registers event type {name!r}, one of the ledger's own types"
                )
            if name in self.type_plugins:
                raise LedgerError(
                    f"event type {name!r} is registered by two plugins: "
                    + " and ".join(repr(p) for p in sorted((self.type_plugins[name], plugin)))
                )
            self.types[name] = model
            self.type_plugins[name] = plugin
        self.store: Store = open_store(db, master_key=master_key, create=create)

    def close(self) -> None:
        self.store.close()

    # -- writing ------------------------------------------------------------------------------

    def record(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Record one event (already parsed). Returns it as stored, in the export format."""
        result = self._write([(None, raw)])
        if result.stored:
            return result.stored[0]
        # A no-op reports the original as it was printed the first time: keys included.
        original = self.store.get(self._existing[0]["id"])
        if original is None:
            return self._existing[0]
        owners = sorted({sealed["owner"] for _, sealed in sealed_paths(original.record)})
        return self.export_record(original, self.store.secrets(owners))

    def import_lines(self, lines: Iterable[bytes | str]) -> ImportResult:
        """Record every event of a JSON Lines stream, all or nothing.

        The stream is read, checked and written a page at a time, in one transaction that
        holds the write lock from its first page: memory stays bounded however long the
        stream, and a refused line anywhere stores nothing."""
        with _collector_paused():
            numbered = _parsed(lines)
            page = list(itertools.islice(numbered, WRITE_PAGE))
            if not page:
                raise LedgerError("nothing to import: the input holds no events")
            with self.store.appending() as appender:
                # A restore is decided on the first page: an export carries `seq` on every line.
                restore = appender.head == 0 and any("seq" in raw for _, raw in page)
                appender.restore = restore
                result, owners = self._import_pages(appender, page, numbered, restore)
        # The keys are read now, right after the commit: a later `forget` must not change
        # what this result reports.
        result._keys = self.store.secrets(sorted(owners))
        self._tell_recorded(result)
        return result

    def _import_pages(
        self,
        appender: Appender,
        page: list[tuple[int, dict[str, Any]]],
        rest: Iterator[tuple[int, dict[str, Any]]],
        restore: bool,
    ) -> tuple[ImportResult, set[str]]:
        """Check and write the pages; the result, and the owners of the personal data stored."""
        head = appender.head
        batch = _Batch(self)
        batch.head = head
        batch.empty = head == 0  # nothing stored before: lookups of this import's pages only
        self._existing = []
        unchanged = 0
        email_like = 0
        owners: set[str] = set()
        # The stored events of an import of a few pages are kept for its result, as `record`
        # keeps its one; a longer import's are read back if asked for (`ImportResult`).
        kept: list[Stored] | None = []
        while page:
            batch.prefetch([raw for _, raw in page])
            pendings: list[Pending] = []
            for line, raw in page:
                try:
                    # `raw` is this import's own parse of the line: `prepare` may take it apart
                    pending = batch.prepare(raw, restore=restore, line=line)
                except ConflictError:
                    raise
                except LedgerError as exc:
                    # The write lock is held: nothing another writer commits can have changed
                    # what the refusal read.
                    raise exc.at_line(line) from None
                if pending is None:
                    unchanged += 1
                    continue
                pending.line = line
                pendings.append(pending)
                email_like += "@" in pending.record["id"]
                if pending.owner:
                    owners.add(pending.owner)
            if kept is not None and appender.count + len(pendings) > KEPT_RESULT:
                kept = None
                appender.kept = []
            stored = appender.add(pendings, keep=kept is not None)
            if kept is not None:
                kept += stored
            batch.written()
            page = list(itertools.islice(rest, WRITE_PAGE))
        count = appender.count
        first = head + 1 if count else None
        result = ImportResult(self, kept, {}, unchanged, restore, span=(first, head + count))
        result.email_like_ids = email_like
        return result, owners

    def _tell_recorded(self, result: ImportResult) -> None:
        """Tell the plugins (`event_recorded`) of each event a write stored, once committed."""
        if not _implemented(self.plugins, "event_recorded"):
            return
        for event in result.each_stored():
            self.plugins.call_each(
                "event_recorded",
                # the per-person secrets are for export only; plugins never need them
                event=freeze({k: v for k, v in event.items() if k != "keys"}),
                ledger=self,
                on_error=_warn_plugin,
            )

    def _write(self, items: Sequence[tuple[int | None, dict[str, Any]]]) -> ImportResult:
        delay = 0.01
        for attempt in range(RETRIES):
            try:
                return self._write_once(items, recheck=attempt < RETRIES - 1)
            except ConflictError:
                if attempt == RETRIES - 1:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        raise AssertionError("unreachable")

    def _write_once(
        self,
        items: Sequence[tuple[int | None, dict[str, Any]]],
        *,
        recheck: bool = True,
    ) -> ImportResult:
        head, _ = self.store.tail()
        restore = head == 0 and any("seq" in raw for _, raw in items)
        batch = _Batch(self)
        batch.head = head
        batch.empty = head == 0
        batch.prefetch([raw for _, raw in items])
        pendings: list[Pending] = []
        self._existing: list[dict[str, Any]] = []
        unchanged = 0
        for line, raw in items:
            try:
                pending = batch.prepare(dict(raw), restore=restore, line=line)
            except ConflictError:
                raise
            except LedgerError as exc:
                # Validation reads the ledger in several statements; if another writer committed
                # meanwhile, they may disagree (an id not yet stored, its person already added).
                # Every commit moves the tail, so an unmoved tail means the refusal stands.
                if recheck and self.store.tail()[0] != head:
                    raise ConflictError("the ledger changed while validating; try again") from None
                raise exc.at_line(line) if line is not None else exc from None
            if pending is None:
                unchanged += 1
                continue
            pending.line = line
            pendings.append(pending)
        stored = self.store.append(pendings, restore=restore)
        # The keys are read now, right after the commit: a later `forget` must not change what
        # this result reports.
        keys = self.store.secrets(sorted({p.owner for p in pendings if p.owner}))
        result = ImportResult(self, stored, keys, unchanged, restore)
        result.email_like_ids = sum("@" in p.record["id"] for p in pendings)
        self._tell_recorded(result)
        return result

    # -- reading ------------------------------------------------------------------------------

    def export_record(
        self, stored: Stored, keys: Mapping[str, bytes] | None = None
    ) -> dict[str, Any]:
        """A stored event in the interchange format, with the fields export adds."""
        if stored.record["type"] not in self.types:
            raise self.unknown_type(stored.record["type"], stored.seq)
        record = unseal(stored.record, stored.private)
        out: dict[str, Any] = {"type": record.pop("type"), "id": record.pop("id")}
        out["at"] = record.pop("at")
        out.update(record)
        out["recorded_at"] = stored.recorded_at
        if stored.recorded_by is not None:
            out["recorded_by"] = stored.recorded_by
        out["seq"] = stored.seq
        out["hash"] = stored.hash
        if keys is not None and stored.private:
            owners = {c["owner"] for _, c in sealed_paths(stored.record)}
            live = {o: keys[o].hex() for o in sorted(owners) if o in keys}
            if live:
                out["keys"] = live
        return out

    def unknown_type(self, kind: str, seq: int | None = None) -> UnknownEventType:
        """The error for a stored event whose type no enabled plugin registers."""
        where = f" (seq {seq})" if seq is not None else ""
        owner = self.store.type_plugin(kind)
        if owner is None:
            return UnknownEventType(
                f"the ledger holds an event of unknown type {kind!r}{where}; "
                "install the plugin that defines it"
            )
        plugin, distribution = owner
        info = next((i for i in self.plugins.infos if i.name == plugin), None)
        if info is not None and not info.enabled:
            state = "disabled" + (f" ({info.error})" if info.error else "")
        else:
            state = "not installed"
        dist = f" (distribution {distribution})" if distribution else ""
        return UnknownEventType(
            f"the ledger holds an event of type {kind!r}{where}, defined by plugin "
            f"{plugin!r}{dist}, which is {state}; install or enable it to read this ledger"
        )

    def export(self) -> Iterator[dict[str, Any]]:
        keys = self.all_secrets()
        for stored in self.store.events():
            yield self.export_record(stored, keys)

    def all_secrets(self) -> dict[str, bytes]:
        return self.store.all_secrets()

    def describe(self, event: Mapping[str, Any], requester: str | None = None) -> str:
        """One line saying what an event (in the export format) records: what its class's
        `describe` says. `requester` names the referral's requester where it is mentioned."""
        return self.types.get(event["type"], Event).describe(event, requester)

    def event(self, event_id: str) -> dict[str, Any] | None:
        stored = self.store.get(event_id)
        return self.export_record(stored) if stored else None

    def referral(self, key: str) -> Referral | None:
        return self.store.referral(key)

    def person(self, handle: str) -> Person | None:
        return self.store.person(handle)


SHORT_ID = 8  # the fewest characters of an id that `find_event` takes as a prefix


def find_event(ledger: Ledger, reference: str) -> dict[str, Any]:
    """The stored event (in the export format) that `reference` names: its id, a prefix of its
    id of at least SHORT_ID characters that no other id starts with, `seq:N`, or `last` (the
    live event with the highest `seq`). Raises LedgerError naming what is wrong otherwise."""
    store = ledger.store
    event_id: str | None
    if reference == "last":
        event_id = store.last_live_id()
        if event_id is None:
            raise LedgerError("last: the ledger has no live event")
    elif reference.startswith("seq:"):
        number = reference.removeprefix("seq:")
        if not (number.isascii() and number.isdigit()):
            raise LedgerError(f"{reference!r}: write seq:N with N a whole number, like seq:12")
        event_id = store.id_at(int(number))
        if event_id is None:
            raise LedgerError(f"{reference!r}: no stored event has seq {int(number)}")
    elif store.get(reference) is not None:
        event_id = reference
    elif len(reference) < SHORT_ID:
        raise LedgerError(
            f"{reference!r}: no stored event has this id, and a shorter id must be at least "
            f"{SHORT_ID} characters of one"
        )
    else:
        found = store.ids_starting(reference)
        if not found:
            raise LedgerError(f"{reference!r}: no stored event has an id starting so")
        if len(found) > 1:
            raise LedgerError(
                f"{reference!r} is ambiguous: more than one event id starts so "
                f"({', '.join(found)}, ...); give more of the id"
            )
        event_id = found[0]
    found_event = ledger.event(event_id)
    assert found_event is not None  # read from the log a moment ago; nothing is ever deleted
    return found_event


class UnknownEventType(LedgerError):
    """A stored event's type is registered by no enabled plugin: reading it would lose it."""


def plugin_type_name(plugin: str, model: Any) -> str:
    """The `type` of an event class a plugin registers, after checking it can be stored."""
    if not (isinstance(model, type) and issubclass(model, Event)):
        raise LedgerError(
            f"plugin {plugin!r} registers {model!r}, which is not a ledger.Event class"
        )
    try:
        name = type_name(model)
    except (AttributeError, IndexError, KeyError):
        name = None
    if not isinstance(name, str) or not _TYPE_RE.match(name):
        raise LedgerError(
            f'plugin {plugin!r}: event class {model.__name__} needs `type: Literal["kebab-name"]`'
        )
    fields = model.model_fields
    if "referral" not in fields and "by" not in fields:
        raise LedgerError(
            f"plugin {plugin!r}: event type {name!r} needs a `referral` or a `by` field "
            "(the referral or the person it belongs to)"
        )
    if "by" in fields and "by" not in model.handles:
        raise LedgerError(f"plugin {plugin!r}: event type {name!r} must list 'by' in its `handles`")
    # `verify` files every event under its aggregate without the plugin that defined it, by
    # the rule of `Event`: a plugin's type cannot change it.
    if (
        model.person_fields != Event.person_fields
        or model.creates is not None
        or model.aggregate.__func__ is not Event.aggregate.__func__  # type: ignore[attr-defined]
    ):
        raise LedgerError(
            f"plugin {plugin!r}: event type {name!r} may not change the aggregate it belongs to "
            "(`person_fields`, `creates`, `aggregate`): its `referral`, else the person in `by`"
        )
    return name


_TYPE_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one import.

    An import keeps every event it reads alive until its commit, so each collection rescans a
    growing heap and finds next to nothing (two dozen objects in cycles for 20,000 events): a
    fifth of the import's time. Reference counting still frees everything else as it goes.
    At the end, one collection of the young generations looks at what the import allocated,
    so the cost is not left to whatever the process does next: while the collector is paused
    nothing is promoted, so everything the import allocated is still in generation 0. The
    old generation (modules, schemas, caches: most of the heap) is not scanned again for it
    (a full collection took 27 ms of a 20,000-event import's 1.5 s, this one under 2 ms).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(1)


def _implemented(plugins: Plugins, hook: str) -> bool:
    """Whether any plugin implements the hook: skips freezing events for nobody."""
    return bool(getattr(plugins.pm.hook, hook).get_hookimpls())


def _warn_plugin(error: PluginError) -> None:
    import sys

    from .text import visible

    # a plugin's message may quote stored text: it reaches the terminal escaped, as all text does
    print(f"Warning: {visible(str(error))}", file=sys.stderr)


# How many aggregates an import keeps between its pages (see `_Batch.written`): 8,000 hold
# about 60 MB; 20,000 made a 200,000-event import peak at 150 MB instead of 97 MB.
KEPT_AGGREGATES = 8_000
# The most events an import keeps as stored for its result (see `Ledger._import_pages`).
KEPT_RESULT = 10 * PAGE


def _parsed(lines: Iterable[bytes | str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each event of a JSON Lines stream, parsed, with its line number (blank lines skipped)."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield number, parse_event(line)
        except LedgerError as exc:
            raise exc.at_line(number) from None


class _Before(Sequence[Mapping[str, Any]]):
    """The events of a write before this one (`validate_event`'s `pending`): the batch's list
    as it is now, without copying it for each event."""

    def __init__(self, events: list[Mapping[str, Any]]):
        self._events = events
        self._length = len(events)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, int):
            if not -self._length <= index < self._length:
                raise IndexError("pending index out of range")
            return self._events[index % self._length]
        return self._events[: self._length][index]

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return itertools.islice(self._events, self._length)


# What `validate_event` is given (hookspecs.py); an implementation may take fewer of them.
_VALIDATE_ARGS = {"event", "ledger", "pending"}


class _Batch:
    """The state one write sees: the stored aggregates plus this batch's own events."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.store = ledger.store
        self.referrals: dict[str, Referral | None] = {}
        self.people: dict[str, Person | None] = {}
        self.located: dict[str, Referral | Person] = {}  # this batch's events: their aggregate
        self.secrets: dict[str, bytes | None] = {}
        self.file_prev: str | None = None
        self.file_seq: int | None = None
        self.last_recorded: datetime | None = None
        self.stored_ids: set[str] | None = None  # None: not prefetched, ask the store
        pm = ledger.plugins.pm
        # (plugin, function, the arguments it takes: None for all of them, passed as they are)
        self.validators = [
            (
                pm.get_name(impl.plugin) or repr(impl.plugin),
                impl.function,
                None if set(impl.argnames) == _VALIDATE_ARGS else impl.argnames,
            )
            for impl in reversed(pm.hook.validate_event.get_hookimpls())
        ]
        # The ledger held no event when this write began: nothing stored to look up. (Another
        # writer may commit meanwhile; the retry that follows sees it, as after a prefetch.)
        self.empty = False
        self.head = 0  # the last seq stored when this write began
        # This batch's own events by the people they name, and the ids it retracts: what
        # `naming` adds to the store's answer.
        self.named: dict[str, list[str]] = {}
        self.retracting: set[str] = set()
        # This batch's events so far, as `validate_event` receives them (its `pending`): a
        # plugin judging an event of an import sees the lines before it, not yet stored.
        self.pending: list[Mapping[str, Any]] = []

    def prefetch(self, raws: list[dict[str, Any]]) -> None:
        """Look up in a few queries what the whole batch names (stored ids, people, referrals,
        secrets) instead of a query or two per event."""
        if self.empty:
            self.stored_ids = set()
            return
        # Only well-formed names are looked up: validation refuses the others with a message
        # naming the field, which a query would pre-empt (PostgreSQL refuses a NUL in text).
        ids = [raw["id"] for raw in raws if _well_formed_id(raw.get("id"))]
        self.stored_ids = self.store.stored_ids(ids) if ids else set()
        handles: set[str] = set()
        keys: set[str] = set()
        types = self.ledger.types
        people_of: dict[Any, tuple[str, ...]] = {None: ()}  # each type's people fields, once
        for raw in raws:
            kind = raw.get("type")
            model = types.get(kind) if isinstance(kind, str) else None
            names = people_of.get(model)
            if names is None:
                names = people_of[model] = model.people()  # type: ignore[union-attr]
            for name in names:
                value = raw.get(name)
                if isinstance(value, str) and HANDLE_RE.match(value):
                    handles.add(value)
            key = raw.get("referral")
            if isinstance(key, str) and HANDLE_RE.match(key):
                keys.add(key)
        wanted = {person_id(h): h for h in handles if h not in self.people}
        wanted_referrals = {referral_id(k): k for k in keys if k not in self.referrals}
        found = self.store.aggregates([*wanted, *wanted_referrals])
        for uid, handle in wanted.items():
            self.people[handle] = found.get(uid)
        for uid, key in wanted_referrals.items():
            self.referrals[key] = found.get(uid)
        missing = [h for h in handles if h not in self.secrets]
        if missing:
            try:
                stored = self.store.secrets(missing)
            except VaultError:
                return  # no master key: `secret()` asks (and refuses) only when one is needed
            for handle in missing:
                self.secrets[handle] = stored.get(handle)

    def written(self) -> None:
        """The page before is written (in the import's transaction, which this batch's reads
        see): what the batch held of it may go, so an import's memory does not grow with it.

        Its events are now the store's to find (ids, where each is, whom they name, what they
        retract) and in `ledger`'s views, so no longer in `pending`; the aggregates read or
        made so far stay unless there are many (reading them again costs a query a page)."""
        self.empty = False
        self.stored_ids = None
        self.located.clear()
        self.named.clear()
        self.retracting.clear()
        self.pending = []  # a new list: a plugin may keep the `pending` it was given
        if len(self.referrals) + len(self.people) > KEPT_AGGREGATES:
            self.referrals.clear()
            self.people.clear()
            self.secrets.clear()

    # Context for the rules
    def person(self, handle: str) -> Person | None:
        if handle not in self.people:
            self.people[handle] = None if self.empty else self.store.person(handle)
        return self.people[handle]

    def referral(self, key: str) -> Referral | None:
        if key not in self.referrals:
            self.referrals[key] = None if self.empty else self.store.referral(key)
        return self.referrals[key]

    def locate(self, event_id: str) -> Located | None:
        aggregate = self.located.get(event_id)
        if aggregate is not None:
            kind = aggregate.entries[event_id]["type"]
            if isinstance(aggregate, Referral):
                return Located(event_id, kind, aggregate.key, None)
            return Located(event_id, kind, None, aggregate.handle)
        return None if self.empty else self.store.locate(event_id)

    def naming(self, handle: str) -> list[str]:
        found: list[str] = []
        if not self.empty:
            types = self.ledger.types
            for event_id, record in self.store.records_naming(handle):
                kind = record.get("type")
                if kind == "event-retracted":
                    continue
                model = types.get(kind, Event) if isinstance(kind, str) else Event
                if handle in (record.get(name) for name in model.people()):
                    found.append(event_id)
            retracted = set(self.store.retraction_times(found)) if found else set()
            found = [i for i in found if i not in retracted]
        found += self.named.get(handle, [])
        return [i for i in found if i not in self.retracting]

    def _aggregate_of(self, event_id: str) -> tuple[str, str] | None:
        """The aggregate of an event already recorded, as `Event.aggregate` gives it."""
        located = self.locate(event_id)
        if located is None:
            return None
        if located.referral is not None:
            return "referral", located.referral
        return ("person", located.person) if located.person else None

    def secret(self, handle: str) -> bytes | None:
        if handle not in self.secrets:
            self.secrets[handle] = None if self.empty else self.store.secrets([handle]).get(handle)
        return self.secrets[handle]

    def prepare(self, raw: dict[str, Any], *, restore: bool, line: int | None) -> Pending | None:
        envelope = (
            {}
            if raw.keys().isdisjoint(ENVELOPE_FIELDS)
            else {k: raw.pop(k) for k in ENVELOPE_FIELDS if k in raw}
        )
        kind = raw.get("type")
        # `type` may be any JSON value here (a list is unhashable); validate() reports it
        model = self.ledger.types.get(kind) if isinstance(kind, str) else None
        if model is None and isinstance(kind, str) and self.store.type_plugin(kind) is not None:
            raise self.ledger.unknown_type(kind)  # this ledger knows which plugin it needs
        forgotten: dict[str, str] = {}
        if model is not None:
            raw, forgotten = take_forgotten(raw, model.personal)
        given_at = raw.get("at") is not None
        try:
            event = validate(raw, self.ledger.types)
        except LedgerError as exc:
            # Report unknown names too, so one try shows every problem with the event.
            raise LedgerError(exc.problems + self._unknown_names(raw, model)) from None
        fill: dict[str, Any] = {}
        if event.id is None:
            fill["id"] = new_event_id()
        if event.at is None:
            fill["at"] = format_timestamp(datetime.now(UTC))
        if fill:
            event = event.model_copy(update=fill)
        record = event.record()
        event_id: str = record["id"]

        existing = self._existing(event_id)
        if existing is not None:
            if existing["seq"] > self.head:  # stored by this very import, a page before
                raise LedgerError(f"id: {event_id!r} appears twice in this input")
            self._check_same(existing, record, given_at, forgotten)
            if line is None:
                self._check_as_stored(envelope, existing)
                self.ledger._existing.append(existing)  # what `record` prints of a no-op
            if isinstance(envelope.get("hash"), str) and type(envelope.get("seq")) is int:
                # a line already stored still links the file's chain for the line after it
                self.file_prev, self.file_seq = envelope["hash"], envelope["seq"]
            return None
        if event_id in self.located:
            raise LedgerError(f"id: {event_id!r} appears twice in this input")

        at = parse_timestamp(record["at"], future_ok=True)  # once, for the rules and the aggregate
        at_us = to_micros(at)
        problems = check(event, self, record, at_us)
        if problems:
            raise LedgerError(problems)

        owner = event.owner()
        if owner is None and record.get("referral"):
            referral = self.referral(record["referral"])
            owner = referral.requester if referral else None
        given_keys = envelope.get("keys", {})
        file_keys = (
            {handle: parse_secret(handle, value) for handle, value in given_keys.items()}
            if isinstance(given_keys, dict)
            else _bad_keys()
        )
        new_keys: dict[str, bytes] = {}
        secret = None
        # One walk over the personal fields: whether sealing needs a secret, and what it seals.
        plaintext = personal_values(record, event.personal, forgotten)
        if owner is not None and plaintext:
            owner_person = self.person(owner)
            if owner_person is not None and owner_person.forgotten:
                given = [p for p in event.personal if is_personal_value(get_path(record, p))]
                raise LedgerError(
                    f"{owner!r} is forgotten: their personal data is no longer recorded "
                    f"(leave out {', '.join(given)})"
                )
            secret = self.secret(owner)
            if secret is None:
                secret = file_keys.get(owner) or new_secret()
                self.secrets[owner] = secret
                new_keys[owner] = secret
        sealed, private = seal(
            record,
            event.personal,
            owner=owner,
            secret=secret,
            forgotten=forgotten,
            values=plaintext,
        )
        # One event given to `record` is no file with a chain of its own: its envelope's shape
        # is checked, then its values against what this ledger would assign.
        single = line is None and not restore
        checked = self._check_envelope(
            envelope, event_id, record, event, owner, file_keys, forgotten, sealed, chain=not single
        )
        if single:
            self._check_new_envelope(envelope, owner if private else None, file_keys)

        if self.validators:
            frozen = freeze(record)
            before = _Before(self.pending)
            # `Plugins.call_each`, with each plugin's name looked up once a write, not per event
            for plugin_name, function, argnames in self.validators:
                try:
                    if argnames is None:  # every argument: no dict built for the call
                        reason = function(event=frozen, ledger=self.ledger, pending=before)
                    else:
                        arguments = {"event": frozen, "ledger": self.ledger, "pending": before}
                        reason = function(**{arg: arguments[arg] for arg in argnames})
                except Exception as exc:  # noqa: BLE001 — a plugin's failure refuses the event
                    _refuse(PluginError(plugin_name, exc))
                if reason:
                    raise LedgerError(f"refused by plugin {plugin_name!r}: {reason}")

        origin, self.located[event_id] = self._apply(type(event), sealed, at, at_us)
        if self.validators:
            self.pending.append(frozen)
        if record["type"] == "event-retracted":
            self.retracting.add(record["retracts"])
        else:
            for name in event.people():
                handle = record.get(name)
                if isinstance(handle, str):
                    self.named.setdefault(handle, []).append(event_id)
        recorded_at = None
        if restore and "recorded_at" in envelope:
            recorded_at = parse_timestamp(str(envelope["recorded_at"]))
        originator_id, version, topic, originator_topic = origin
        pending = Pending(
            record=sealed,
            originator_id=originator_id,
            originator_version=version,
            topic=topic,
            at=at,
            at_us=at_us,
            originator_topic=originator_topic,
            private=private,
            owner=owner if private else None,
            new_keys=new_keys,
            secret=secret if private else None,
            forget=record["handle"] if record["type"] == "person-forgotten" else None,
            # (the alerts plugin registers a type: most events are still the contract's)
            plugin=self._type_owner(kind) if kind in self.ledger.type_plugins else None,
            recorded_at=recorded_at,
            recorded_by=envelope.get("recorded_by") if recorded_at is not None else None,
            expect_seq=envelope.get("seq") if restore or line is None else None,
            expect_hash=envelope.get("hash") if restore else None,
        )
        if checked is not None and restore:
            pending.checked_bytes, pending.checked_link = checked
        return pending

    def _type_owner(self, kind: str) -> tuple[str, str | None] | None:
        """(plugin, distribution) of a plugin-defined type, kept so a ledger read without the
        plugin can name it."""
        plugin = self.ledger.type_plugins.get(kind)
        if plugin is None:
            return None
        info = next((i for i in self.ledger.plugins.infos if i.name == plugin), None)
        return plugin, info.distribution if info is not None else None

    def _unknown_names(self, raw: dict[str, Any], model: type[Event] | None) -> list[str]:
        """The persons and referral an event that failed validation names but nobody knows."""
        if model is None:
            return []
        problems = []
        for name in model.handles:
            handle = raw.get(name)
            if (
                isinstance(handle, str)
                and HANDLE_RE.match(handle)
                and not _present(self.person(handle))
            ):
                problems.append(f"{name}: unknown person {handle!r}")
        key = raw.get("referral")
        if (
            model.referral_event
            and raw.get("type") != "referral-requested"
            and isinstance(key, str)
            and HANDLE_RE.match(key)
            and not _has_request(self.referral(key))
        ):
            problems.append(f"referral: unknown referral {key!r}")
        return problems

    def _existing(self, event_id: str) -> dict[str, Any] | None:
        if self.stored_ids is not None and event_id not in self.stored_ids:
            return None
        stored = self.store.get(event_id)
        if stored is None:
            return None
        return self.ledger.export_record(stored)

    def _check_same(
        self,
        existing: dict[str, Any],
        record: dict[str, Any],
        given_at: bool,
        forgotten: dict[str, str],
    ) -> None:
        """An `id` already stored is a no-op only when the fields given are the same.

        Compares the validated record, so `+02:00` and `Z` spellings of one moment agree.
        A value erased on either side cannot be compared, so it is not.
        """
        differing = []
        given_erased = {p.split(".")[0] for p in forgotten}
        for key, value in record.items():
            if key == "id" or key in given_erased:
                continue
            if key == "at":
                if given_at and value != existing["at"]:
                    differing.append("at")
                continue
            if key not in existing or not _same_value(existing[key], value):
                differing.append(key)
        for key in existing:
            if key not in record and key not in ("id", "at", *ENVELOPE_FIELDS):
                differing.append(key)
        if differing:
            raise LedgerError(
                f"id: {existing['id']!r} is already stored with different content "
                f"({', '.join(sorted(set(differing)))})"
            )

    # `record` takes one event, so a field export adds was given on purpose: it is checked
    # against what the ledger holds or would assign, and refused when it differs, rather than
    # dropped as `import` drops it (an import into a used ledger re-links a whole file, which is
    # its documented purpose; one event given with a position it will not get is a mistake).
    def _check_as_stored(self, envelope: dict[str, Any], existing: dict[str, Any]) -> None:
        """`record` of an id already stored: the fields export adds must be the stored ones."""
        seq = envelope.get("seq")
        if "seq" in envelope and seq != existing["seq"]:
            raise LedgerError(
                f"seq: {seq!r} given, but id {existing['id']!r} is stored at seq {existing['seq']}"
            )
        if "recorded_at" in envelope and not _same_moment(
            envelope["recorded_at"], existing["recorded_at"]
        ):
            raise LedgerError(
                f"recorded_at: {envelope['recorded_at']!r} given, but id {existing['id']!r} "
                f"was recorded at {existing['recorded_at']}"
            )
        if "recorded_by" in envelope and envelope["recorded_by"] != existing.get("recorded_by"):
            who = existing.get("recorded_by")
            stored_by = f"recorded by {who!r}" if who is not None else "stored by 0.1 (no one)"
            raise LedgerError(
                f"recorded_by: {envelope['recorded_by']!r} given, but id {existing['id']!r} was "
                + stored_by
            )
        if "hash" in envelope and envelope["hash"] != existing["hash"]:
            raise LedgerError(
                f"hash: not the stored hash of id {existing['id']!r} (seq {existing['seq']})"
            )
        given_keys = envelope.get("keys", {})
        if not isinstance(given_keys, dict):
            _bad_keys()
        for handle, value in given_keys.items():
            if parse_secret(handle, value) != self.secret(handle):
                raise LedgerError(
                    f"keys: {handle!r} is not the key this ledger holds for {handle!r}"
                )

    def _check_new_envelope(
        self, envelope: dict[str, Any], owner: str | None, file_keys: dict[str, bytes]
    ) -> None:
        """`record` of a new event into a ledger it does not restore: the position and time
        are the ledger's to assign, so given ones must be what it would assign."""
        expected = self.head + 1
        if "seq" in envelope and envelope["seq"] != expected:
            raise LedgerError(
                f"seq: {envelope['seq']!r} given, but this event would be stored at seq "
                f"{expected}; remove seq, or import into an empty ledger to restore"
            )
        for name in ("recorded_at", "recorded_by", "hash"):
            if name in envelope:
                raise LedgerError(
                    f"{name}: given, but the ledger sets it when it stores the event; remove "
                    f"{name}, or import into an empty ledger to restore"
                )
        for handle, secret in file_keys.items():
            if handle != owner:
                raise LedgerError(f"keys: this event holds no personal data of {handle!r}")
            if self.secrets.get(handle) != secret:
                raise LedgerError(f"keys: {handle!r} already has another key in this ledger")

    def _check_envelope(
        self,
        envelope: dict[str, Any],
        event_id: str,
        record: dict[str, Any],
        event: Event,
        owner: str | None,
        file_keys: dict[str, bytes],
        forgotten: dict[str, str],
        sealed: dict[str, Any],
        *,
        chain: bool = True,
    ) -> tuple[bytes, tuple[str, int, str, str | None]] | None:
        """Fields export adds are checked, never trusted (without `chain`, only their shape).

        When the line's hash is checked on the record as it will be stored (`sealed`): its
        bytes as hashed, and the (prev, seq, recorded_at, recorded_by) they were hashed with
        (see `Pending.checked_bytes`)."""
        if not envelope:  # any input but an export: no chain of the file's own to follow
            self.file_prev = None
            return None
        seq = envelope.get("seq")
        if "seq" in envelope and (type(seq) is not int or seq < 1):
            raise LedgerError("seq: must be a positive integer")
        recorded_at = envelope.get("recorded_at")
        if "recorded_at" in envelope:
            if not isinstance(recorded_at, str):
                raise LedgerError("recorded_at: must be an ISO 8601 timestamp")
            try:
                moment = parse_timestamp(recorded_at)
            except ValueError as exc:
                raise LedgerError(f"recorded_at: {exc}") from None
            if self.last_recorded is not None and moment < self.last_recorded:
                raise LedgerError("recorded_at: earlier than the line before")
            self.last_recorded = moment
        recorded_by = envelope.get("recorded_by")
        if "recorded_by" in envelope and (problem := recorded_by_problem(recorded_by)):
            raise LedgerError(problem)
        digest = envelope.get("hash")
        if "hash" not in envelope:
            self.file_prev = None
            return None
        if not isinstance(digest, str) or len(digest) != 64:
            raise LedgerError("hash: must be 64 lowercase hex digits")
        if seq is None or recorded_at is None:
            raise LedgerError("hash: needs the seq and recorded_at it was computed with")
        if not chain:
            return None
        if seq == 1:
            prev = GENESIS
        elif self.file_prev is not None and self.file_seq == seq - 1:
            prev = self.file_prev
        else:
            raise LedgerError(f"hash: cannot be checked, seq {seq} does not follow the line before")
        check_record = sealed
        file_secret = file_keys.get(owner) if owner else None
        if owner is not None and file_secret is not None and file_secret != self.secret(owner):
            check_record, _ = seal(
                record,
                event.personal,
                owner=owner,
                secret=file_secret,
                forgotten=forgotten,
            )
        recorded = format_timestamp(parse_timestamp(recorded_at, future_ok=True))
        record_bytes = dumps(check_record)
        if chain_hash(prev, seq, event_id, recorded, record_bytes, recorded_by) != digest:
            raise LedgerError("hash: does not match the event's content (altered or missing keys)")
        self.file_prev, self.file_seq = digest, seq
        if check_record is not sealed:
            return None  # hashed with the file's key, not the one the ledger stores it with
        return record_bytes, (prev, seq, recorded, recorded_by)

    def _apply(
        self, model: type[Event], sealed: dict[str, Any], at: datetime, at_us: int
    ) -> tuple[_Origin, Referral | Person]:
        """Apply the event to its aggregate; return where it is stored, and the aggregate."""
        record = sealed
        owner = model.aggregate(record, self._aggregate_of)
        if owner is None:
            raise LedgerError(f"{record['type']}: no referral or person to record it on")
        kind, key = owner
        aggregate: Referral | Person | None
        existing = self.referral(key) if kind == "referral" else self.person(key)
        # The event starts its aggregate; or it asks again for a key (adds again a handle)
        # whose first request (person-added) was retracted, and is recorded on the aggregate
        # that exists, which it starts anew (`Referral.requested`, `Person.added`).
        if model.creates is not None and existing is None:
            if kind == "referral":
                aggregate = Referral.begun(referral_id(key), record, at)
                self.referrals[key] = aggregate
                return (aggregate.id, 1, _CREATED[Referral], Referral.TOPIC), aggregate
            aggregate = Person.begun(person_id(key), record, at)
            self.people[key] = aggregate
            return (aggregate.id, 1, _CREATED[Person], Person.TOPIC), aggregate
        aggregate = existing
        if aggregate is None:
            raise LedgerError(f"{record['type']}: no referral or person to record it on")
        version = aggregate.advance(record, at, at_us)
        return (aggregate.id, version, _RECORDED[type(aggregate)], None), aggregate


# Where an event is stored: its aggregate's id, its version, its class's topic, and for an
# aggregate's first event the aggregate's topic.
_Origin = tuple[Any, int, str, str | None]
_CREATED: dict[type, str] = {Referral: Referral.Created.TOPIC, Person: Person.Created.TOPIC}
_RECORDED: dict[type, str] = {Referral: Referral.Recorded.TOPIC, Person: Person.Recorded.TOPIC}


def _has_request(referral: Referral | None) -> bool:
    return referral is not None and referral.live_request


def _present(person: Person | None) -> bool:
    return person is not None and person.present


def _same_value(stored: Any, given: Any) -> bool:
    if isinstance(stored, dict) and set(stored) == {"forgotten"}:
        return True  # erased: nothing left to compare with
    if isinstance(stored, dict) and isinstance(given, dict):
        return stored.keys() == given.keys() and all(
            _same_value(stored[k], given[k]) for k in stored
        )
    return stored == given


def _well_formed_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 128 and value.isascii() and value.isprintable()


def _same_moment(given: Any, stored: str) -> bool:
    try:
        return isinstance(given, str) and parse_timestamp(given, future_ok=True) == (
            parse_timestamp(stored, future_ok=True)
        )
    except ValueError:
        return False


def _refuse(error: PluginError) -> NoReturn:
    raise LedgerError(f"plugin {error.plugin!r} failed while validating: {error.exc}")


def _bad_keys() -> dict[str, bytes]:
    raise LedgerError("keys: must be an object of handle to hex secret")
