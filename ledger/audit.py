"""The audit of one referral: its history as it stood at a world time and as the ledger knew it.

`build_audit` gathers the document (the contract's JSON, plus what a timeline needs: the
parties, and every obligation and flag of the referral with its interval in world time);
`timeline` turns it into readable lines. Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from .errors import LedgerError
from .events import CORE_TYPES, Event, format_timestamp, from_micros, shown
from .provenance import recorder_shown
from .views import View, micros, parties

if TYPE_CHECKING:
    from .app import Ledger
    from .projections import ProjectionFailed, Row

# Row categories drawn on the timeline: flags, and the obligations (`projections.
# OBLIGATION_CATEGORIES`).
FLAG_CATEGORY = "flag"
ROLES = ("requester", "referrer", "target")


@dataclass
class Mark:
    """An obligation or a flag of the referral, with its interval in world time."""

    category: str
    data: dict[str, Any]
    start: int  # flags: when raised; obligations: when opened
    end: int | None  # obligations: when met or ended, None while open; flags: when it ceased
    due: int | None = None  # obligations: when overdue

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", "?"))

    @property
    def evidence(self) -> list[str]:
        found = self.data.get("evidence") or []
        opened_by = self.data.get("opened_by")
        return [str(e) for e in ([opened_by] if opened_by else []) + list(found)]


@dataclass
class Audit:
    referral: str
    events: list[dict[str, Any]]
    flags: list[dict[str, Any]]
    alerts: list[dict[str, Any]]
    chain: str
    as_of: int
    known_at: int | None
    parties: dict[str, str | None] = field(default_factory=dict)
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    obligations: list[Mark] = field(default_factory=list)
    raised: list[Mark] = field(default_factory=list)
    # The ledger's event types, which say what each event is in words.
    types: Mapping[str, type[Event]] = field(default_factory=lambda: CORE_TYPES)
    # On a team ledger: each member role's handle, to tell who recorded an event on whose behalf
    members: Mapping[str, str] = field(default_factory=dict)

    def recorder(self, event: Mapping[str, Any]) -> str | None:
        """Who stored the event, when not the person it is by (see `recorder_shown`)."""
        return recorder_shown(event, self.members)

    def as_json(self) -> dict[str, Any]:
        return {
            "referral": self.referral,
            "events": self.events,
            "flags": self.flags,
            "alerts": self.alerts,
            "chain": self.chain,
            "as_of": stamp(self.as_of),
            "known_at": stamp(self.known_at) if self.known_at is not None else None,
            "parties": self.parties,
        }

    def describe(self, event: Mapping[str, Any]) -> str:
        """One line about what happened, in words (its class's `describe`), and its note."""
        model = self.types.get(event["type"], Event)
        text = model.describe(event, self.parties.get("requester"))
        if event.get("note") is not None:
            text += f' — note: "{shown(event["note"])}"'
        return text

    def retraction_of(self, event_id: str) -> dict[str, Any] | None:
        return next(
            (
                e
                for e in self.events
                if e["type"] == "event-retracted" and e.get("retracts") == event_id
            ),
            None,
        )


def stamp(value: int) -> str:
    return format_timestamp(from_micros(value))


def build_audit(
    ledger: Ledger,
    key: str,
    *,
    as_of: int,
    known_at: int | None,
    chain_ok: bool,
    on_error: Callable[[ProjectionFailed], None] | None = None,
) -> Audit:
    """Everything the ledger says about one referral in the view (`as_of`, `known_at`)."""
    from . import projections

    if ledger.referral(key) is None:
        raise LedgerError(f"unknown referral {key!r}")
    stored = [
        s
        for s in ledger.store.referral_events(key)
        if known_at is None or s.recorded_us <= known_at
    ]
    records = [ledger.export_record(s) for s in stored]
    happened = {
        r["id"] for r in records if r["type"] != "event-retracted" and micros(r["at"]) <= as_of
    }
    # A retraction counts whenever it is known, whatever its own `at`.
    retractions = [r for r in records if r["type"] == "event-retracted"]
    retracted = {r["retracts"] for r in retractions}
    events = [
        {**r, "retracted": r["id"] in retracted}
        for r in records
        if r["id"] in happened or (r["type"] == "event-retracted" and r["retracts"] in happened)
    ]
    live = sorted(
        (e for e in events if e["type"] != "event-retracted" and not e["retracted"]),
        key=lambda e: (micros(e["at"]), e["seq"]),
    )
    roles = parties(live)
    view = View(ledger, known_at)
    derived = _derive(ledger, key, view, records, on_error)
    if known_at is None:
        kwargs: dict[str, Any] = {"as_of": as_of, "known_at": None, "referral": key}
        if on_error is not None:
            kwargs["on_error"] = on_error
        flags = _public(projections.rows(ledger, FLAG_CATEGORY, **kwargs))
        alerts = _public(projections.rows(ledger, "alert", **kwargs))
    else:
        # What `projections.rows` would give, from this referral's parts alone: deriving every
        # part of the ledger as known at K takes minutes on a large ledger.
        flags = _public(r for r in derived if r.category == FLAG_CATEGORY and r.active(as_of))
        alerts = _public(r for r in derived if r.category == "alert" and r.active(as_of))
    audit = Audit(
        referral=key,
        events=events,
        flags=flags,
        alerts=alerts,
        chain="ok" if chain_ok else "broken",
        as_of=as_of,
        known_at=known_at,
        parties={"requester": roles.requester, "referrer": roles.referrer, "target": roles.target},
        types=ledger.types,
        members=ledger.store.member_handles(),
    )
    for handle in {h for h in audit.parties.values() if h} | _actors(events, ledger.types):
        person = view.person(handle, as_of)  # their name as of the view, updates included
        if person is not None:
            audit.people[handle] = dict(person)
    _marks(audit, derived)
    return audit


def _public(found: Iterable[Any]) -> list[dict[str, Any]]:
    """Rows as `alerts`/`flags` print them: without the interval kept for bookkeeping."""
    # then as the listings break ties (see `in_listing_order`), so that rows alike in start,
    # kind and person come out in one order whatever order the database returned them in
    found = sorted(
        found,
        key=lambda r: (
            r.start_us,
            r.kind,
            r.person or "",
            r.owed_to or "",
            r.projection,
            orjson.dumps(r.data),
        ),
    )
    return [r.public() for r in found]


def _actors(events: Iterable[Mapping[str, Any]], types: Mapping[str, type[Event]]) -> set[str]:
    """The people the events name, as their classes say."""
    return {
        e[k]
        for e in events
        for k in types.get(e["type"], Event).people()
        if isinstance(e.get(k), str)
    }


def _derive(
    ledger: Ledger,
    key: str,
    view: View,
    records: Sequence[Mapping[str, Any]],
    on_error: Callable[[ProjectionFailed], None] | None,
) -> list[Row]:
    """Every obligation and flag row of the referral in the view, whatever its interval.

    Derived afresh from the parts the referral's own events touch: one referral's worth of
    work, not a replay of the ledger.
    """
    from .app import freeze
    from .projections import OBLIGATION_CATEGORIES, ProjectionFailed, Row, check_role, registered

    wanted = (*OBLIGATION_CATEGORIES, FLAG_CATEGORY)
    found: list[Row] = []
    for plugin, projection in registered(ledger):
        if projection.category not in wanted:
            continue
        try:
            parts: dict[str, None] = {}
            for record in records:
                for part in projection.parts(freeze(record), view):
                    parts[part] = None
            rows = []
            for part in parts:
                for row in projection.derive(part, view):
                    check_role(part, row)
                    rows.append(dict(row))
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not hide the audit
            if on_error is not None:
                on_error(ProjectionFailed(projection.name, plugin, exc))
            continue
        for row in rows:
            if row.get("referral") != key:
                continue
            end = row.get("end")
            found.append(
                Row(
                    projection.name,
                    str(row.get("category", projection.category)),
                    str(row.get("kind")),
                    key,
                    row.get("person"),
                    row.get("owed_to"),
                    micros(row["start"]),
                    micros(end) if isinstance(end, str) else None,
                    row,
                )
            )
    return found


def _marks(audit: Audit, derived: Sequence[Row]) -> None:
    """The timeline's marks: obligations from opening to end, flags where they arose, as far
    as the world had got at as-of."""
    from .projections import OBLIGATION_CATEGORIES

    # A plugin that keeps every obligation also raises the overdue ones as alerts: draw each
    # obligation once.
    kept = {
        (row.kind, row.person, row.owed_to, row.data.get("since"))
        for row in derived
        if row.category == "obligation"
    }
    for row in derived:
        data, start, end_us = row.data, row.start_us, row.end_us
        if (
            row.category == "alert"
            and (row.kind, row.person, row.owed_to, data.get("since")) in kept
        ):
            continue
        if row.category == FLAG_CATEGORY:
            if start > audit.as_of:
                continue
            if end_us is not None and end_us > audit.as_of:
                end_us = None
            audit.raised.append(Mark(row.category, data, start, end_us))
        elif row.category in OBLIGATION_CATEGORIES:
            opened = micros(data["since"]) if isinstance(data.get("since"), str) else start
            due = micros(data["due"]) if isinstance(data.get("due"), str) else start
            if opened > audit.as_of:
                continue
            if end_us is not None and end_us > audit.as_of:
                end_us = None
            audit.obligations.append(Mark(row.category, data, opened, end_us, due))
    audit.obligations.sort(key=lambda m: (m.start, m.kind))
    audit.raised.sort(key=lambda m: (m.start, m.kind))


# -- the readable timeline -----------------------------------------------------------------


def short(value: int) -> str:
    """A moment for people: to the second, or the minute when that is all there is."""
    moment = from_micros(value)
    return moment.strftime("%Y-%m-%d %H:%MZ" if moment.second == 0 else "%Y-%m-%d %H:%M:%SZ")


@dataclass
class Step:
    """One moment on the timeline: an event, or an obligation falling overdue, or a flag."""

    at: int
    seq: int | None
    event: dict[str, Any] | None
    opened: list[Mark] = field(default_factory=list)
    met: list[Mark] = field(default_factory=list)
    overdue: list[Mark] = field(default_factory=list)
    flags: list[Mark] = field(default_factory=list)


def steps(audit: Audit) -> list[Step]:
    """The timeline in world time: each event with what it opened, met and raised, and the
    moments between events when an obligation fell overdue or a flag arose."""
    events = [e for e in audit.events if e["type"] != "event-retracted"]
    by_id = {e["id"]: Step(micros(e["at"]), e["seq"], e) for e in events}
    loose: list[Step] = []
    live = sorted(
        (s for s in by_id.values() if not s.event or not s.event["retracted"]),
        key=lambda s: (s.at, s.seq or 0),
    )
    for mark in audit.obligations:
        opener = next((by_id[e] for e in mark.evidence if e in by_id), None)
        if opener is not None:
            opener.opened.append(mark)
        if mark.end is not None:
            meeting = next((s for s in live if s.at == mark.end and s is not opener), None)
            if meeting is not None:
                meeting.met.append(mark)
        if (
            mark.due is not None
            and mark.due <= audit.as_of
            and (mark.end is None or mark.end > mark.due)
        ):
            loose.append(Step(mark.due, None, None, overdue=[mark]))
    for mark in audit.raised:
        cause = next(
            (by_id[e] for e in reversed(mark.evidence) if e in by_id and by_id[e].at == mark.start),
            None,
        ) or next((s for s in live if s.at == mark.start), None)
        if cause is not None:
            cause.flags.append(mark)
        else:
            loose.append(Step(mark.start, None, None, flags=[mark]))
    merged: dict[int, Step] = {}
    for step in loose:  # several obligations falling overdue at once are one moment
        if step.at in merged:
            merged[step.at].overdue += step.overdue
            merged[step.at].flags += step.flags
        else:
            merged[step.at] = step
    everything = list(by_id.values()) + list(merged.values())
    return sorted(everything, key=lambda s: (s.at, s.seq if s.seq is not None else 1 << 62))


def timeline(audit: Audit) -> list[str]:
    """The audit as lines of text for a terminal."""
    lines = [f"Referral {audit.referral}"]
    for role in ROLES:
        handle = audit.parties.get(role)
        if handle:
            name = shown(audit.people.get(handle, {}).get("name", ""))
            lines.append(f"  {role}: {handle}" + (f" ({name})" if name else ""))
    view = f"as of {short(audit.as_of)}"
    view += f", as known at {short(audit.known_at)}" if audit.known_at is not None else ""
    lines.append(f"  view: {view}; chain: {audit.chain}")
    lines.append("")
    if not audit.events:
        lines.append("  No events in this view.")
    for step in steps(audit):
        lines.extend(_step_lines(audit, step))
    lines.append("")
    lines.append(f"Open alerts at {short(audit.as_of)}: {len(audit.alerts)}")
    for alert in audit.alerts:
        lines.append(f"  ! {alert.get('kind')}: {shown(alert.get('message', ''))}")
    lines.append(f"Flags at {short(audit.as_of)}: {len(audit.flags)}")
    for flag in audit.flags:
        lines.append(
            f"  ⚑ {flag.get('kind')} ({flag.get('person')}): {shown(flag.get('message', ''))}"
        )
    return lines


def _step_lines(audit: Audit, step: Step) -> list[str]:
    lines: list[str] = []
    event = step.event
    if event is not None:
        at, recorded = micros(event["at"]), micros(event["recorded_at"])
        late = recorded - at
        when = f"{short(at)}  recorded {short(recorded)}"
        if late > 86_400_000_000:
            when += f" ({late // 86_400_000_000} days later)"
        marker = "✗" if event["retracted"] else "•"
        who = f"  by {event['by']}" if event.get("by") else ""
        if (recorder := audit.recorder(event)) is not None:
            who += f"  (recorded by {shown(recorder)})"
        lines.append(f"{marker} {when}  seq {event['seq']}{who}")
        lines.append(f"    {event['type']}: {audit.describe(event)}")
        retraction = audit.retraction_of(event["id"])
        if retraction is not None:
            lines.append(
                f"    RETRACTED by {retraction.get('by')} (seq {retraction['seq']}, "
                f"at {short(micros(retraction['at']))}, recorded "
                f"{short(micros(retraction['recorded_at']))}"
                + (
                    f", recorded by {shown(recorder)}"
                    if (recorder := audit.recorder(retraction)) is not None
                    else ""
                )
                + f"): {shown(retraction.get('reason'))}"
            )
    else:
        lines.append(f"  {short(step.at)}")
    for mark in step.opened:
        lines.append(f"    opens {_obligation(mark)}, due {short(mark.due or mark.start)}")
    for mark in step.met:
        lines.append(f"    meets {_obligation(mark)}")
    for mark in step.overdue:
        lines.append(f"    ! overdue: {_obligation(mark)}")
    for mark in step.flags:
        lines.append(
            f"    ⚑ flag {mark.kind} ({mark.data.get('person')}): "
            f"{shown(mark.data.get('message', ''))}"
        )
    return lines


def _obligation(mark: Mark) -> str:
    data = mark.data
    owed = f" → {data['owed_to']}" if data.get("owed_to") else ""
    return f"{mark.kind} ({data.get('person')}{owed})"
