"""Derived state that plugins keep in the ledger's own database, updated incrementally.

A projection splits what it derives into *parts* (a referral, a pair of people, ...). For each
new event it names the parts the event can change; the host then re-derives only those parts,
from a `View` of the ledger, and replaces their rows — in pages, in the same transaction as the
position the projection has reached. So the cost of bringing it up to date after one new event
does not grow with the history.

Each row holds a validity interval in world time (`start` inclusive, `end` exclusive or None),
so the stored rows answer any `--as-of`. Views of what the ledger knew at a past `--known-at`
are derived afresh from the events recorded by then, with the same code.
"""

from __future__ import annotations

import gc
import hashlib
import sys
import tempfile
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any

import orjson

from .app import UnknownEventType
from .config import read_once, resolve
from .crypto import VaultError
from .errors import LedgerError
from .events import format_micros
from .store import ANALYZE_AFTER
from .views import View, micros, read_only

if TYPE_CHECKING:
    from .app import Ledger

CHUNK = 500  # parts re-derived per transaction
PAGE = 1000  # events read at a time while collecting parts
# Events a catch-up reads, collects the parts of and derives before it reads on: what it holds
# (the parts to derive, the view that derives them) is bounded by the window, not by how far
# behind the projections are. A part named in two windows is derived in both.
WINDOW = 100_000
# Events of referrals a catch-up's view keeps decoded, at most, and of people twice as many
# (see `View._trim`): one view for a window reads and decodes each referral once, not once
# per page that names it and again per chunk that derives it, and forgets the referrals it
# read first past this budget.
KEPT = 20_000
# A catch-up of a ledger of at most this many events keeps its view whole: a 20,000-event
# replay trimmed to KEPT read its referrals again (7,740 events a second, against 10,762 kept
# whole), and no view holds more than its ledger (a replay of 50,000 events peaked at 137 MB).
WHOLE = 50_000
LIST_PAGE = 1000  # rows `listed` reads at a time


class Projection:
    """Subclass this, and return instances from the `register_projections` hook.

    `category` groups rows across plugins: the `alerts` command lists every row whose category
    is "alert", the `flags` command every "flag", whichever plugin derived it.
    """

    name: str = ""
    version: str = "1"  # change it and the projection is rebuilt from the first event
    category: str = ""
    # The `[due]` keys of the config file this projection reads, with their default days. The
    # config accepts them (and refuses keys no enabled plugin declares), and a changed due time
    # of one of them rebuilds the projection: see `kept_version`.
    due: Mapping[str, float] = MappingProxyType({})

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        """The parts this event can change. Must not depend on anything but the event and view."""
        raise NotImplementedError

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        """Every row of one part, from scratch. A row is a mapping with at least `kind` and
        `start` (an interchange timestamp), and optionally `end`, `referral`, `person`,
        `owed_to`, `role` (one of ROLES) and anything else the plugin wants to show (kept as
        JSON)."""
        raise NotImplementedError

    def parts_about(
        self, view: View, *, person: str | None = None, referral: str | None = None
    ) -> Iterable[str] | None:
        """The parts that may hold rows about `person` (rows whose `person` or `owed_to` it
        is) or about `referral` (rows whose `referral` it is), for a view derived afresh (a
        `--known-at`) that asks about one person or one referral: only those parts are then
        derived, not the whole ledger. When both are given, the parts about either will do
        (the rows are filtered by both afterwards).

        A superset is fine, on one condition: deriving a part that no event known to the view
        names (see `parts`) must give no row about them. None, the default, means the
        projection cannot say: it is derived whole, as it would be without this method."""
        return None


ROLES = ("requester", "referrer", "target")  # the roles a row's `role` may name
# Row categories of obligations. "obligation" is for plugins that keep every obligation, met in
# time or not; the built-in alerts keep those and, for the ones that fell overdue, "alert" rows.
OBLIGATION_CATEGORIES = ("alert", "obligation")


@dataclass
class Row:
    projection: str
    category: str
    kind: str
    referral: str | None
    person: str | None
    owed_to: str | None
    start_us: int
    end_us: int | None
    data: dict[str, Any]

    @property
    def role(self) -> str | None:
        """Which role of `person` the row concerns: one of ROLES, or None when it names none."""
        return self.data.get("role")

    def active(self, as_of: int) -> bool:
        return self.start_us <= as_of and (self.end_us is None or as_of < self.end_us)

    @property
    def due_us(self) -> int:
        """When an obligation falls (or fell) due: its `due`; an alert without one fell due
        when it started."""
        due = self.data.get("due")
        return micros(due) if isinstance(due, str) else self.start_us

    def public(self) -> dict[str, Any]:
        """The row's JSON as the read commands print it: without the validity interval
        (`start`, `end`) kept for bookkeeping."""
        return {k: v for k, v in self.data.items() if k != "start" and k != "end"}


class ProjectionFailed(Exception):
    def __init__(self, projection: str, plugin: str, exc: BaseException):
        self.projection = projection
        self.plugin = plugin
        self.exc = exc
        super().__init__(
            f"plugin {plugin!r} failed in projection {projection!r}: {type(exc).__name__}: {exc}"
        )


def _warn(error: ProjectionFailed) -> None:
    from .text import visible

    # a plugin's message may quote stored text: it reaches the terminal escaped, as all text does
    print(f"Warning: {visible(str(error))}", file=sys.stderr)


def registered(ledger: Ledger) -> list[tuple[str, Projection]]:
    """(plugin name, projection) for every registered projection, names checked unique."""
    found = ledger.plugins.collected("register_projections")
    names: dict[str, str] = {}
    for plugin, projection in found:
        if not projection.name:
            raise LedgerError(f"plugin {plugin!r} registers a projection without a name")
        if projection.name in names:
            raise LedgerError(
                f"projection {projection.name!r} is registered by both "
                f"{names[projection.name]!r} and {plugin!r}"
            )
        names[projection.name] = plugin
    return list(found)


def orphaned(ledger: Ledger) -> list[str]:
    """The projections that have stored state but that no enabled plugin registers: their
    plugin is disabled or uninstalled. Their rows stay stored, and count nowhere, until the
    plugin is back; it then catches up from where it was."""
    names = {projection.name for _plugin, projection in registered(ledger)}
    return sorted(name for name in ledger.store.positioned() if name not in names)


def visible_projections(ledger: Ledger) -> list[str] | None:
    """The projections whose stored rows count, for the row queries: the registered ones. None
    when no other projection has stored state: then the queries need no condition on the
    projection (and `alerts --check --quiet` counts from an index alone)."""
    if not orphaned(ledger):
        return None
    return [projection.name for _plugin, projection in registered(ledger)]


def _to_row(projection: Projection, part: str, raw: Mapping[str, Any]) -> tuple[Any, ...]:
    # Plugins mostly build a dict for each row, which is only read here: no copy of it then.
    data = raw if type(raw) is dict else dict(raw)
    get = data.get  # a replay builds tens of thousands of rows: one lookup of the method
    start = get("start")
    end = get("end")
    if not isinstance(start, str):
        raise TypeError(f"row of part {part!r} has no 'start' timestamp")
    role = get("role")
    if role is not None and role not in ROLES:
        check_role(part, data)
    kind = data["kind"]
    return (
        projection.name,
        part,
        get("category", projection.category),
        kind if type(kind) is str else str(kind),
        get("referral"),
        get("person"),
        get("owed_to"),
        micros(start),
        micros(end) if isinstance(end, str) else None,
        # A copy: orjson's bytes keep their 4 KiB buffer, ten times a usual row, and a chunk
        # holds thousands of rows until it is written (measured: 82 MB for 20,000 rows, 8 copied).
        bytes(memoryview(orjson.dumps(data, default=_thaw))),
    )


def check_role(part: str, row: Mapping[str, Any]) -> None:
    """Refuse a row whose `role` is neither one of ROLES nor absent (or None). Raised while
    deriving, the error is reported like any other failure of the plugin's projection (see
    `ProjectionFailed`), and nothing of that derivation is stored."""
    role = row.get("role")
    if role is not None and role not in ROLES:
        raise ValueError(
            f"row of part {part!r} has role {role!r}; a row's role is one of "
            f"{', '.join(repr(r) for r in ROLES)}, or absent"
        )


def _thaw(value: Any) -> Any:
    # Rows are often built from the read-only events plugins are handed.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _progress(total: int, label: str) -> Any:
    from .terminal import progress

    return progress(label, total)


def catch_up(
    ledger: Ledger,
    *,
    on_error: Callable[[ProjectionFailed], None] = _warn,
    only: Sequence[str] | None = None,
) -> dict[str, int]:
    """Bring every projection's stored rows up to the ledger's newest event.

    Returns how many parts each projection re-derived. A projection whose plugin raises is
    reported through `on_error` and left where it was; the others go on. Projections at the
    same position read the new events together, once, and derive their parts together, so
    that each referral's events are read once for all of them.
    """
    with read_once(), _fewer_collections():
        return _catch_up(ledger, on_error, only)


# Objects allocated between two runs of the cyclic garbage collector's youngest generation
# while a catch-up works (Python's default: 700). Deriving allocates many short-lived objects
# and almost no cycles (the events a view hands out are read-only mappings), so collecting
# that often mostly scans what is kept: over the first 100,000 events of a 200,000-event
# ledger, 10,138 collections took 6.6 s of 57.0 s of CPU; with this, 19 took 1.0 s of 51.0 s,
# at the same peak memory (and 50.2 s with no collection at all). Not paused outright, as an
# import pauses it (`app._collector_paused`): a catch-up runs for as long as the ledger is
# large, in plugins' code, and whatever cycles that code makes are still collected.
YOUNG_COLLECTION = 100_000


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Within the block, the youngest generation is collected every YOUNG_COLLECTION objects
    (or as the process had it, if less often); as it was after."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], YOUNG_COLLECTION), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def current(
    ledger: Ledger,
    *,
    on_error: Callable[[ProjectionFailed], None] = _warn,
    only: Sequence[str] | None = None,
) -> bool:
    """Bring the kept rows up to date (see `catch_up`) and say whether they are: on a
    read-only ledger they cannot be written, and a read command derives its rows instead.
    With `only`, just those projections (by name): a command that reads one projection's
    rows need not wait for the others."""
    store = ledger.store
    if not store.read_only:
        catch_up(ledger, on_error=on_error, only=only)
        return True
    head, _ = store.tail()
    for _plugin, projection in registered(ledger):
        if only is not None and projection.name not in only:
            continue
        position, version = store.position(projection.name)
        if version != kept_version(ledger, projection) or position < head:
            return False
    return True


def _catch_up(
    ledger: Ledger, on_error: Callable[[ProjectionFailed], None], only: Sequence[str] | None
) -> dict[str, int]:
    store = ledger.store
    done: dict[str, int] = {}
    pending = [
        (plugin, projection)
        for plugin, projection in registered(ledger)
        if only is None or projection.name in only
    ]
    caught = 0  # the most events any projection caught up over
    for _attempt in range(3):
        if not pending:
            break
        head, _ = store.tail()
        groups: dict[int, list[tuple[str, Projection]]] = {}
        for plugin, projection in pending:
            position, version = store.position(projection.name)
            if version != kept_version(ledger, projection):
                position = 0
                with store.write() as cur:
                    store.delete_rows(cur, projection.name)
                    _set_position(ledger, cur, projection, 0)
            if position >= head:
                done[projection.name] = 0
                continue
            groups.setdefault(position, []).append((plugin, projection))
        moved: list[tuple[str, Projection]] = []
        for position, group in groups.items():
            caught = max(caught, head - position)
            moved += _catch_up_group(ledger, group, position, head, done, on_error)
        pending = moved
    if caught >= ANALYZE_AFTER:
        store.analyze(("rl_rows",))  # as after a large import: the planner's statistics
    return done


def source_version(*modules: object) -> str:
    """A projection version that derives from its rules: a digest of the source files of the
    modules holding them. Any change to that code rebuilds the stored rows (a rebuild too many
    costs a replay's time; one too few would keep rows the rules no longer give)."""
    digest = hashlib.sha256()
    for module in modules:
        digest.update(Path(str(getattr(module, "__file__", ""))).read_bytes())
    return digest.hexdigest()[:16]


def kept_version(ledger: Ledger, projection: Projection) -> str:
    """The version a projection's rows are kept under: its `version`, and the due times in
    force of the `[due]` keys it declares (`due`). When it changes, the rows are rebuilt."""
    if not projection.due:
        return projection.version
    found = resolve(ledger.plugins.due_defaults())
    return f"{projection.version};{found.due_signature(projection.due)}"


def _set_position(ledger: Ledger, cur: Any, projection: Projection, seq: int) -> None:
    ledger.store.set_position(cur, projection.name, seq, kept_version(ledger, projection))


@dataclass
class _Todo:
    """The parts one projection must re-derive."""

    plugin: str
    projection: Projection
    # For each part, the index of the event it came from: the first of its referral's events
    # that named it, else the first that named it. Parts are derived in that order, so that
    # a chunk holds every projection's parts of the same referrals.
    parts: dict[str, int] = field(default_factory=dict)
    # A referral a part came from, so that deriving can read those referrals in bulk.
    hints: dict[str, str] = field(default_factory=dict)
    # The people named by the event a part came from, when it came from no referral (a
    # person's own event): deriving tells the view, which then reads what is asked about
    # them in bulk.
    people: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.projection.name


def _catch_up_group(
    ledger: Ledger,
    group: list[tuple[str, Projection]],
    position: int,
    head: int,
    done: dict[str, int],
    on_error: Callable[[ProjectionFailed], None],
) -> list[tuple[str, Projection]]:
    """Bring projections at the same `position` to `head`, a WINDOW of events at a time: the
    parts a window's events name are derived and written, and the projections moved to the
    window's end, before the next window is read. Adds to `done` the parts each re-derived;
    returns the projections whose position changed meanwhile (to do again)."""
    moved: list[tuple[str, Projection]] = []
    names = ", ".join(p.name for _, p in group)
    # One bar for the whole catch-up: each window's events count twice, read then derived.
    bar = _Bar(_progress(2 * (head - position), f"Catching up {names}"))
    # A view of a ledger that holds at most WHOLE events is never trimmed: it cannot hold more
    # than the ledger, and forgetting would only have it read the same referrals again.
    kept = KEPT if head > WHOLE else None
    while group and position < head:
        until = min(head, position + WINDOW)
        finished: dict[str, int] = {}
        # A view per window: what plugins keep per view (their caches) goes with it.
        view = View(ledger)
        todos = _scan(ledger, group, position, until, view, on_error, bar, kept)
        moved += _advance(ledger, todos, view, position, until, finished, on_error, bar, kept)
        for plugin, projection in group:
            if projection.name in finished:
                done[projection.name] = done.get(projection.name, 0) + finished[projection.name]
            else:  # failed (reported) or moved by another process: not done by this pass
                done.pop(projection.name, None)
        group = [(plugin, p) for plugin, p in group if p.name in finished]
        position = until
    bar.finish()
    return moved


class _Bar:
    """A catch-up's progress bar (or none, see `_progress`), moved on by whole steps."""

    def __init__(self, bar: Any):
        self.bar = bar
        self.shown = 0.0

    def update(self, steps: float) -> None:
        if self.bar is not None:
            before = int(self.shown)
            self.shown += steps
            if int(self.shown) > before:
                self.bar.update(int(self.shown) - before)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()


def _scan(
    ledger: Ledger,
    group: list[tuple[str, Projection]],
    position: int,
    head: int,
    view: View,
    on_error: Callable[[ProjectionFailed], None],
    bar: _Bar,
    kept: int | None = KEPT,
) -> list[_Todo]:
    """Read the events after `position` up to `head` once, and collect the parts each
    projection names, asking `view` (which deriving goes on with).

    A projection whose parts() raises is reported and left out."""
    todos = [_Todo(plugin, projection) for plugin, projection in group]
    alive = list(todos)
    step = -1
    for logged in ledger.store.log_referrals(after=position, until=head, page=PAGE):
        if kept is not None:
            view._trim(kept)
        # The page's referrals are read together, in a few queries, and their events decoded
        # once, for the view: only the events it does not then hold (a person's own, say)
        # are read whole here, not every event a second time.
        _preload(view, (referral for _seq, referral in logged))
        held = view._by_seq
        page = ledger.store.events_at([seq for seq, _referral in logged if seq not in held])
        # Told of the people the page's own events of a person name (who declared knowing
        # whom), the view reads what parts() asks about them (their referrals, say) in one
        # query, not one each.
        view._tell(stored.record for stored in page if not stored.record.get("referral"))
        read = {stored.seq: stored for stored in page}
        for seq, _referral in logged:
            event = held.get(seq)
            if event is None:
                stored = read.get(seq)
                if stored is None:
                    continue  # logged without its stored event: `verify` reports it
                event = view._decoded(stored)
            step += 1
            _scan_event(event, step, view, alive, on_error)
        bar.update(len(logged))
    return alive


def _preload(view: View, keys: Iterable[Any]) -> None:
    """Read these referrals' events in bulk, ahead of the plugins' questions about them (and
    of the scan's own: their events are then decoded once). On a failure nothing is read
    ahead: each question then reads its referral, and a failure is reported for the plugin
    that asked, as without reading ahead."""
    try:
        view._read_histories(key for key in keys if isinstance(key, str) and key)
    except (UnknownEventType, VaultError):
        raise
    except Exception:  # noqa: BLE001, S110 — see above
        pass


def _scan_event(
    event: Mapping[str, Any],
    step: int,
    view: View,
    alive: list[_Todo],
    on_error: Callable[[ProjectionFailed], None],
) -> None:
    """Collect the parts each live projection names for one event (as the view decoded it)."""
    referral = event.get("referral")
    people = () if referral else tuple(view._people_of(event))
    for todo in list(alive):
        try:
            found = todo.projection.parts(event, view)
            mine, my_hints = todo.parts, todo.hints
            for part in found:
                if referral is not None and part not in my_hints:
                    my_hints[part] = referral
                    mine[part] = step
                    todo.people.pop(part, None)
                elif part not in mine:
                    mine[part] = step
                    if people:
                        todo.people[part] = people
        except (UnknownEventType, VaultError):
            raise
        except Exception as exc:  # noqa: BLE001 — a plugin's failure is isolated
            on_error(ProjectionFailed(todo.name, todo.plugin, exc))
            alive.remove(todo)


def _chunks(todos: list[_Todo]) -> Iterator[tuple[dict[str, list[str]], set[str]]]:
    """Every projection's parts in order, cut in chunks about the same events: each chunk runs
    up to the event the CHUNK-th next part of the projection furthest ahead came from (at
    least one part, about CHUNK parts of each projection at most). Yields the chunk's parts by
    projection name, and the names of the projections whose last parts they are."""
    order = {t.name: sorted(t.parts, key=t.parts.__getitem__) for t in todos}
    steps = {t.name: [t.parts[part] for part in order[t.name]] for t in todos}
    start = dict.fromkeys(order, 0)
    unfinished = set(order)
    while unfinished:
        limit = min(
            (
                steps[name][start[name] + CHUNK - 1]
                for name in unfinished
                if start[name] + CHUNK <= len(steps[name])
            ),
            default=None,
        )
        chunk, last = {}, set()
        for name in unfinished:
            end = (
                len(steps[name]) if limit is None else bisect_right(steps[name], limit, start[name])
            )
            chunk[name] = order[name][start[name] : end]
            start[name] = end
            if end == len(steps[name]):
                last.add(name)
        unfinished -= last
        yield chunk, last


def _advance(
    ledger: Ledger,
    todos: list[_Todo],
    view: View,
    position: int,
    head: int,
    done: dict[str, int],
    on_error: Callable[[ProjectionFailed], None],
    bar: _Bar,
    kept: int | None = KEPT,
) -> list[tuple[str, Projection]]:
    """Re-derive the parts the scan of the events up to `head` named, a chunk at a time, and
    replace their rows; move each projection to `head` with its last chunk. Returns the
    projections whose position changed meanwhile (to do again).

    The projections share the scan's view: a chunk holds every projection's parts that came
    from the same referrals, so a referral's events are read once for all of them."""
    moved: list[tuple[str, Projection]] = []
    alive = {t.name: t for t in todos}
    # The bar moves by the window's events as the parts are derived.
    per_part = (head - position) / max(1, sum(len(t.parts) for t in todos))
    for chunk, last in _chunks(todos):
        if not alive:
            break
        # The view forgets what it read first past KEPT events; preloading reads the chunk's
        # referrals (those the view does not hold) in one query.
        if kept is not None:
            view._trim(kept)
        for name, parts in chunk.items():
            if name in alive:
                told = alive[name].people
                for part in parts:
                    view._expect(told.get(part, ()))
        try:
            view.preload(
                alive[name].hints[part]
                for name, parts in chunk.items()
                if name in alive
                for part in parts
                if part in alive[name].hints
            )
        except (UnknownEventType, VaultError):
            raise
        except Exception as exc:  # noqa: BLE001 — reported by each projection, as before
            for todo in alive.values():
                on_error(ProjectionFailed(todo.name, todo.plugin, exc))
            break
        rows: dict[str, list[tuple[Any, ...]]] = {}
        for name, todo in list(alive.items()):
            try:
                rows[name] = [
                    _to_row(todo.projection, part, row)
                    for part in chunk[name]
                    for row in todo.projection.derive(part, view)
                ]
            except (UnknownEventType, VaultError):
                raise  # a type no plugin defines, a missing master key: the ledger's problems
            except Exception as exc:  # noqa: BLE001 — a plugin's failure is isolated
                on_error(ProjectionFailed(name, todo.plugin, exc))
                del alive[name]
        writing = [alive[name] for name in rows if name in alive and (chunk[name] or name in last)]
        try:
            moving = _write_chunk(ledger, writing, chunk, rows, last, position, head)
        except (UnknownEventType, VaultError):
            raise
        except Exception as exc:  # noqa: BLE001 — reported by each projection, as before
            for todo in writing:
                on_error(ProjectionFailed(todo.name, todo.plugin, exc))
                del alive[todo.name]
            continue
        for todo in moving:
            moved.append((todo.plugin, todo.projection))
            del alive[todo.name]
        for name in last & alive.keys():
            done[name] = len(alive.pop(name).parts)
        bar.update(per_part * sum(len(parts) for parts in chunk.values()))
    return moved


def _write_chunk(
    ledger: Ledger,
    todos: list[_Todo],
    chunk: dict[str, list[str]],
    rows: dict[str, list[tuple[Any, ...]]],
    last: set[str],
    position: int,
    head: int,
) -> list[_Todo]:
    """Replace the chunk's rows of each projection in one transaction, and move those whose
    last chunk it is to `head`. Returns the projections whose position changed meanwhile:
    nothing is written for them."""
    moving: list[_Todo] = []
    if not todos:
        return moving
    with ledger.store.write() as cur:
        now = ledger.store.positions(cur)
        for todo in todos:
            # Rows derived before a concurrent forget may quote what it erased: never write
            # them once it has reset the projection.
            if now.get(todo.name) != (position, kept_version(ledger, todo.projection)):
                moving.append(todo)  # a forget reset it, or another process moved it
                continue
            ledger.store.replace_rows(cur, todo.name, chunk[todo.name], rows[todo.name])
            if todo.name in last:
                _set_position(ledger, cur, todo.projection, head)
    return moving


def derive_all(
    ledger: Ledger,
    known_at: int | None,
    *,
    category: str | None = None,
    on_error: Callable[[ProjectionFailed], None] = _warn,
    person: str | None = None,
    referral: str | None = None,
) -> Iterator[Row]:
    """Derive rows afresh from the events recorded by `known_at` (a replay), without storing.

    With `category`, only the projections of that category are derived, and only their rows
    of that category are kept (a projection may also emit rows of other categories, like the
    alerts plugin's "obligation" rows).

    With `person` or `referral`, what is asked for is the rows about them: a projection that
    says which of its parts may hold those (`Projection.parts_about`) derives only these, and
    may give other rows too (the caller filters); one that cannot say is derived whole."""
    view = View(ledger, known_at)
    # A projection of alerts may also keep every obligation (rows of category "obligation").
    wanted = OBLIGATION_CATEGORIES if category in OBLIGATION_CATEGORIES else (category,)
    chosen = [
        (plugin, p) for plugin, p in registered(ledger) if category is None or p.category in wanted
    ]
    for plugin, projection in chosen:
        try:
            about = None
            if person is not None or referral is not None:
                about = projection.parts_about(view, person=person, referral=referral)
            if about is None:
                rows = list(_derive_projection(ledger, projection, view))
            else:
                rows = list(_derive_parts(projection, about, view))
        except (UnknownEventType, VaultError):
            raise
        except Exception as exc:  # noqa: BLE001 — a plugin's failure is isolated
            on_error(ProjectionFailed(projection.name, plugin, exc))
            continue
        yield from (row for row in rows if category is None or row.category == category)


def _derive_projection(ledger: Ledger, projection: Projection, view: View) -> Iterator[Row]:
    parts: dict[str, None] = {}
    for stored in ledger.store.events():
        if view.known_at is not None and stored.recorded_us > view.known_at:
            continue
        for part in projection.parts(read_only(ledger, stored), view):
            parts[part] = None
    for part in parts:
        for raw in projection.derive(part, view):
            yield _from_tuple(_to_row(projection, part, raw))


def _derive_parts(projection: Projection, parts: Iterable[str], view: View) -> Iterator[Row]:
    """The rows of these parts alone (each once), from the view."""
    for part in dict.fromkeys(parts):
        for raw in projection.derive(part, view):
            yield _from_tuple(_to_row(projection, part, raw))


def _from_tuple(values: tuple[Any, ...]) -> Row:
    name, _part, category, kind, referral, person, owed_to, start_us, end_us, data = values
    return Row(
        name, category, kind, referral, person, owed_to, start_us, end_us, orjson.loads(data)
    )


def stored_rows(
    ledger: Ledger,
    category: str,
    as_of: int,
    *,
    person: str | None = None,
    referral: str | None = None,
    involving: str | None = None,
    ended: bool = False,
    people: Sequence[str] | None = None,
) -> list[Row]:
    """Active rows of a category at `as_of`, from the incrementally kept state.

    With `ended`, also the rows that started by `as_of` and have ended since. `people` keeps
    the rows of those persons only (a page of a long list: see `stored_people`)."""
    found = ledger.store.rows(
        category,
        as_of,
        person=person,
        referral=referral,
        involving=involving,
        ended=ended,
        people=people,
        projections=visible_projections(ledger),
    )
    return [Row(r["projection"], *_stored_values(r)) for r in found]


def _stored_values(r: Mapping[str, Any]) -> tuple[Any, ...]:
    """A stored row's values after its projection (and part): those of `Row`, decoded."""
    return (
        r["category"],
        r["kind"],
        r["referral"],
        r["person"],
        r["owed_to"],
        int(r["start_us"]),
        None if r["end_us"] is None else int(r["end_us"]),
        orjson.loads(bytes(r["data"])),
    )


def rows(
    ledger: Ledger,
    category: str,
    *,
    as_of: int,
    known_at: int | None,
    person: str | None = None,
    referral: str | None = None,
    involving: str | None = None,
    ended: bool = False,
    on_error: Callable[[ProjectionFailed], None] = _warn,
) -> list[Row]:
    """The rows of a category in the view (`as_of`, `known_at`): the one query plugins' read
    commands need. `known_at` None means now: the incremental state, brought up to date.
    With `ended`, also rows that started by `as_of` and have ended since."""
    if known_at is None and current(ledger, on_error=on_error):
        return stored_rows(
            ledger,
            category,
            as_of,
            person=person,
            referral=referral,
            involving=involving,
            ended=ended,
        )
    found = []
    derived = derive_all(
        ledger,
        known_at,
        category=category,
        on_error=on_error,
        person=person if person is not None else involving,
        referral=referral,
    )
    for row in derived:
        if row.start_us > as_of or not (ended or row.active(as_of)):
            continue
        if person is not None and row.person != person:
            continue
        if involving is not None and involving not in (row.person, row.owed_to):
            continue
        if referral is not None and row.referral != referral:
            continue
        found.append(row)
    return found


def listed(
    ledger: Ledger,
    category: str,
    *,
    as_of: int,
    known_at: int | None,
    person: str | None = None,
    referral: str | None = None,
    involving: str | None = None,
    on_error: Callable[[ProjectionFailed], None] = _warn,
) -> Iterator[Row]:
    """The rows `rows()` gives, in the order the read commands list them: by `start`, then
    referral, kind and person (then projection and content, so that ties come out alike on
    both databases). From the kept state they are read as they are asked for, so that a
    long listing is never held in memory whole."""
    if known_at is not None or not current(ledger, on_error=on_error):
        found = rows(
            ledger,
            category,
            as_of=as_of,
            known_at=known_at,
            person=person,
            referral=referral,
            involving=involving,
            on_error=on_error,
        )
        # the stored rows' data are these bytes (see _to_row), which the database orders by
        found.sort(
            key=lambda r: (
                r.start_us,
                r.referral or "",
                r.kind,
                r.person or "",
                r.projection,
                orjson.dumps(r.data),
            )
        )
        yield from found
        return
    found = ledger.store.listed_rows(
        category,
        as_of,
        person=person,
        referral=referral,
        involving=involving,
        page=LIST_PAGE,
        projections=visible_projections(ledger),
    )
    for r in found:
        yield Row(r["projection"], *_stored_values(r))


def open_obligations(
    ledger: Ledger,
    *,
    as_of: int,
    known_at: int | None,
    involving: str | None = None,
    referral: str | None = None,
    on_error: Callable[[ProjectionFailed], None] = _warn,
) -> list[Row]:
    """Every obligation open at `as_of` in the view, overdue or not, by when it falls due
    (`Row.due_us`; overdue when that is before `as_of`): the "obligation" rows of the plugins
    that keep every obligation, and the "alert" rows of those that keep only the overdue ones.
    `involving` keeps those a person owes or is owed; `referral`, those of one referral."""
    found = {
        category: rows(
            ledger,
            category,
            as_of=as_of,
            known_at=known_at,
            involving=involving,
            referral=referral,
            on_error=on_error,
        )
        for category in OBLIGATION_CATEGORIES
    }
    # An overdue obligation is also an alert of the same plugin: each counts once.
    kept = {_same_obligation(row) for row in found["obligation"]}
    chosen = found["obligation"] + [
        row for row in found["alert"] if _same_obligation(row) not in kept
    ]
    chosen.sort(key=lambda r: (r.due_us, r.referral or "", r.kind, r.person or "", r.owed_to or ""))
    return chosen


def _same_obligation(row: Row) -> tuple[Any, ...]:
    return (row.projection, row.referral, row.kind, row.person, row.owed_to, row.data.get("since"))


def stored_people(ledger: Ledger, category: str, kind: str, *, as_of: int) -> list[str]:
    """The persons with a row of `kind` in `category` started by `as_of` (ended or not), sorted:
    for commands that go through everyone a page of people at a time."""
    return sorted(
        ledger.store.row_people(category, kind, as_of, projections=visible_projections(ledger))
    )


def count_rows(
    ledger: Ledger,
    category: str,
    *,
    as_of: int,
    known_at: int | None,
    involving: str | None = None,
    on_error: Callable[[ProjectionFailed], None] = _warn,
) -> int:
    """How many rows `rows()` would return, without reading them: a count in the database for
    the incremental state, so `alerts --check --quiet` costs the same on any ledger size."""
    if known_at is not None or not current(ledger, on_error=on_error):
        found = rows(
            ledger, category, as_of=as_of, known_at=known_at, involving=involving, on_error=on_error
        )
        return len(found)
    return ledger.store.count_rows(
        category, as_of, involving=involving, projections=visible_projections(ledger)
    )


def timestamp(micros_value: int) -> str:
    """The interchange timestamp of microseconds since the epoch (the inverse of `micros`)."""
    return format_micros(micros_value)


@dataclass
class Replayed:
    """One projection rebuilt from the first event, compared with its incremental rows."""

    name: str
    plugin: str
    incremental: int = 0
    rebuilt: int = 0
    only_incremental: list[dict[str, Any]] = field(default_factory=list)
    only_rebuilt: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def same(self) -> bool:
        return self.error is None and not self.only_incremental and not self.only_rebuilt


def _row_keys(ledger: Ledger, name: str) -> Iterator[bytes]:
    """Each stored row of a projection as a comparable key (its data with sorted keys), in the
    order of the index on (projection, part), read a page of parts at a time."""
    for r in ledger.store.projection_rows(name, page=PAGE):
        yield orjson.dumps([r["part"], *_stored_values(r)], option=orjson.OPT_SORT_KEYS)


def _digest(key: bytes) -> bytes:
    return hashlib.blake2b(key, digest_size=16).digest()


def _count_rows(
    ledger: Ledger, name: str, balance: Counter[bytes], sign: int, spool: IO[bytes], label: str
) -> int:
    """Add `sign` to the balance of each stored row's digest, and write the row's key to
    `spool` (one a line: orjson escapes newlines), to show the rows that differ afterwards.
    Returns how many rows there are."""
    total = ledger.store.projection_row_count(name)
    bar = _progress(total, label)
    count = 0
    for key in _row_keys(ledger, name):
        balance[_digest(key)] += sign
        spool.write(key + b"\n")
        count += 1
        if bar is not None and count % PAGE == 0:
            bar.update(PAGE)
    if bar is not None:
        bar.update(count % PAGE)
        bar.render_finish()
    return count


def _differing(spool: IO[bytes], balance: Counter[bytes], sign: int) -> list[dict[str, Any]]:
    """The rows in `spool` whose balance has `sign` (more of them on that side), each once, in
    the order they were first read."""
    spool.seek(0)
    shown = []
    for line in spool:
        digest = _digest(line[:-1])
        if balance[digest] * sign > 0:
            shown.append(_shown_row(line[:-1]))
            del balance[digest]  # shown once, however many copies
    return shown


def replay(ledger: Ledger) -> list[Replayed]:
    """Rebuild every projection's stored rows from the first event, and say how the rows
    kept incrementally differed from the rebuilt ones (a difference is a bug in a plugin).

    Rows are compared as a multiset of 16-byte digests, not whole (a replay of a million events
    must fit in a small memory); the keys of both sides go to temporary files, read again only
    to pick out the rows that differ. The incremental rows are gone once the rebuild starts, so
    they must be kept somewhere: an unnamed temporary file, removed when it is closed, holds
    no more than the rl_rows table already does."""
    failures: dict[str, str] = {}

    def failed(error: ProjectionFailed) -> None:
        failures[error.projection] = str(error)

    catch_up(ledger, on_error=failed)
    chosen = registered(ledger)
    results = [Replayed(projection.name, plugin) for plugin, projection in chosen]
    # Incremental rows count +1, rebuilt ones -1: what is left is the difference.
    balances: list[Counter[bytes]] = [Counter() for _ in chosen]
    with ExitStack() as files:
        spools = [
            (
                files.enter_context(tempfile.TemporaryFile()),
                files.enter_context(tempfile.TemporaryFile()),
            )
            for _ in chosen
        ]
        for result, balance, (before, _after) in zip(results, balances, spools, strict=True):
            result.incremental = _count_rows(
                ledger, result.name, balance, 1, before, f"Reading the rows of {result.name}"
            )
        # Every projection rebuilt in one pass: each event read and decoded once for all.
        with ledger.store.write() as cur:
            for _plugin, projection in chosen:
                ledger.store.delete_rows(cur, projection.name)
                _set_position(ledger, cur, projection, 0)
        if chosen:
            catch_up(ledger, on_error=failed, only=[result.name for result in results])
        for result, balance, (before, after) in zip(results, balances, spools, strict=True):
            result.rebuilt = _count_rows(
                ledger, result.name, balance, -1, after, f"Comparing the rows of {result.name}"
            )
            result.only_incremental = _differing(before, balance, 1)
            result.only_rebuilt = _differing(after, balance, -1)
            result.error = failures.get(result.name)
    return results


@dataclass
class Orphaned:
    """A projection's stored rows that no enabled plugin registers (see `orphaned`)."""

    name: str
    rows: int


def orphans(ledger: Ledger) -> list[Orphaned]:
    """Every orphaned projection that has stored rows, and how many: what `replay` reports.
    They are left as they are, for the plugin to find when it is back."""
    found = []
    for name in orphaned(ledger):
        count = ledger.store.projection_row_count(name)
        if count:
            found.append(Orphaned(name, count))
    return found


def _shown_row(key: bytes) -> dict[str, Any]:
    part, _category, kind, referral, person, owed_to, start, end, data = orjson.loads(key)
    return {
        "part": part,
        "kind": kind,
        "referral": referral,
        "person": person,
        "owed_to": owed_to,
        "start": timestamp(start),
        "end": timestamp(end) if end is not None else None,
        "data": data,
    }
