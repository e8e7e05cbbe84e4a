"""The audit as one self-contained HTML page: inline CSS and SVG, no scripts, no network.

One lane per party (requester, referrer, target); each event sits in its actor's lane at the
moment it happened; obligations are bars from when they opened to when they were met (red
once overdue); flags are marked where they arose. Every piece of user text is escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from .audit import ROLES, Audit, Mark, short, shown, steps
from .terminal import cells, cut
from .text import visible
from .views import micros

WIDTH = 1200
LEFT = 190  # room for the lane labels
RIGHT = 30
TOP = 46  # room for the time axis
LANE = 180
LINE = 62  # the lane's axis, below the event labels
FLAG_ROW = 94  # flags hang below the axis
BARS = 118  # obligations below the flags
DAY = 86_400_000_000
CHAR = 6.2  # the width of a character of an 11px label: every label is drawn that wide
ROW = 14  # between two rows of event labels
LABEL_ROWS = 3  # rows of event labels above a lane's axis
DENSE = 20  # events of one lane closer than this (from the first) collapse into one marker

_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       background: #f5f6f8; color: #1f2430; overflow-wrap: anywhere; }
header { background: #1f2a44; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header .view { opacity: .85; font-size: 13px; }
.chain { display: inline-block; margin-left: 10px; padding: 1px 8px; border-radius: 10px;
         font-size: 12px; font-weight: 600; }
.chain.ok { background: #2e7d4f; } .chain.broken { background: #b3261e; }
main { padding: 18px 28px 40px; }
.parties { display: flex; gap: 14px; margin-bottom: 16px; flex-wrap: wrap; }
.party { background: #fff; border-radius: 8px; padding: 10px 14px; min-width: 200px;
         max-width: 100%; box-sizing: border-box; flex: 1 1 200px;
         box-shadow: 0 1px 2px rgba(0,0,0,.08); border-left: 5px solid var(--c); }
.party .role { text-transform: uppercase; font-size: 11px; letter-spacing: .06em; color: #5b6275; }
.party .who { font-weight: 600; }
.forgotten { font-style: italic; color: #8a8f9c; }
.card { background: #fff; border-radius: 8px; box-shadow: 0 1px 2px rgba(0,0,0,.08);
        padding: 10px; margin-bottom: 18px; overflow-x: auto; }
svg { display: block; width: 100%; height: auto; min-width: 900px; }
svg text { font: 11px system-ui, sans-serif; fill: #1f2430; }
svg .axis text { fill: #5b6275; }
svg .lane-label { font-size: 13px; font-weight: 600; }
svg .lane-sub { font-size: 11px; fill: #5b6275; }
svg .retracted text { fill: #8a8f9c; text-decoration: line-through; }
svg .obligation text { font-size: 10px; }
svg .cluster .count { font-size: 11px; font-weight: 700; fill: #fff; }
.legend { display: flex; gap: 18px; font-size: 12px; color: #5b6275; margin: 4px 8px 0; flex-wrap: wrap; }
.legend i { display: inline-block; width: 14px; height: 10px; margin-right: 5px; vertical-align: middle; }
h2 { font-size: 16px; margin: 22px 0 8px; }
ol.steps { list-style: none; padding: 0; margin: 0; }
ol.steps li { background: #fff; border-radius: 6px; margin-bottom: 6px; padding: 8px 12px;
              box-shadow: 0 1px 1px rgba(0,0,0,.05); }
ol.steps li.retracted { opacity: .7; }
ol.steps li.retracted .what { text-decoration: line-through; }
.when { font-size: 12px; color: #5b6275; }
.late { color: #a05a00; font-weight: 600; }
.what { font-weight: 500; }
.sub { font-size: 13px; margin-top: 3px; }
.sub.retraction { color: #b3261e; }
.sub.opened { color: #1f5fa8; } .sub.met { color: #2e7d4f; } .sub.overdue { color: #b3261e; }
.sub.flag { color: #8a3ffc; }
table.now { border-collapse: collapse; background: #fff; width: 100%; border-radius: 6px; }
table.now td, table.now th { text-align: left; padding: 6px 10px; border-bottom: 1px solid #eceef2;
                             font-size: 13px; }
"""

LANE_COLOURS = {
    "requester": "#1f77b4",
    "referrer": "#2ca02c",
    "target": "#d95f02",
    "others": "#7f7f7f",
}


def _e(value: Any) -> str:
    return _h(shown(value))


def _h(text: str) -> str:
    # A bidirectional override would reorder the page around it, a zero-width character hide
    # a difference: both are shown as their escape (`\u202e`), as on the terminal.
    return escape(visible(text), quote=True)


@dataclass
class _Scale:
    start: int
    end: int

    def x(self, value: int) -> float:
        span = max(self.end - self.start, 1)
        clipped = min(max(value, self.start), self.end)
        return LEFT + (WIDTH - LEFT - RIGHT) * (clipped - self.start) / span


def render(audit: Audit) -> str:
    """The whole page."""
    lanes = _lanes(audit)
    scale = _scale(audit)
    body = [
        _header(audit),
        "<main>",
        _parties(audit),
        '<div class="card">',
        _svg(audit, lanes, scale),
        _legend(),
        "</div>",
        _steps(audit),
        _now(audit),
        "</main>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>Audit of referral {_e(audit.referral)}</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _name(audit: Audit, handle: str | None) -> str:
    name = _person_name(audit, handle)
    return '<span class="forgotten">forgotten</span>' if name is None else _h(name)


def _person_name(audit: Audit, handle: str | None) -> str | None:
    """The person's name as text: None once forgotten, "" when not known."""
    person = audit.people.get(handle) if handle else None
    if person is None:
        return ""
    name = person.get("name")
    if isinstance(name, Mapping) and "forgotten" in name:
        return None
    return shown(name) if name else ""


def _header(audit: Audit) -> str:
    # the live request (one retracted earlier and asked again leaves two)
    requests = [e for e in audit.events if e["type"] == "referral-requested"]
    request = next((e for e in reversed(requests) if not e.get("retracted")), None)
    request = request or (requests[-1] if requests else None)
    company = f" at {_e(request.get('company'))}" if request else ""
    view = f"As of {_e(short(audit.as_of))}"
    if audit.known_at is not None:
        view += f", as the ledger knew it at {_e(short(audit.known_at))}"
    else:
        view += ", with everything recorded so far"
    chain = "ok" if audit.chain == "ok" else "broken"
    label = "chain verified" if chain == "ok" else "chain BROKEN"
    return (
        f"<header><h1>Referral {_e(audit.referral)}{company}</h1>"
        f'<div class="view">{view}<span class="chain {chain}" data-chain="{chain}">{label}</span>'
        "</div></header>"
    )


def _parties(audit: Audit) -> str:
    out = ['<section class="parties">']
    for role in ROLES:
        handle = audit.parties.get(role)
        name = _name(audit, handle)
        out.append(
            f'<div class="party" data-role="{role}" style="--c:{LANE_COLOURS[role]}">'
            f'<div class="role">{role}</div>'
            f'<div class="who">{_e(handle) if handle else "none yet"}</div>'
            f"<div>{name}</div></div>"
        )
    out.append("</section>")
    return "".join(out)


def _lanes(audit: Audit) -> dict[str, int]:
    """Lane index per role; an extra lane for anyone else who acted (or nobody named)."""
    lanes = {role: i for i, role in enumerate(ROLES)}
    parties = {h for h in audit.parties.values() if h}
    if any(_actor(e) not in parties for e in audit.events):
        lanes["others"] = len(lanes)
    return lanes


def _actor(event: Mapping[str, Any]) -> str | None:
    by = event.get("by")
    return str(by) if isinstance(by, str) else None


def _lane_of(audit: Audit, lanes: dict[str, int], handle: str | None) -> int:
    for role in ROLES:
        if handle and audit.parties.get(role) == handle:
            return lanes[role]
    return lanes.get("others", len(ROLES) - 1)


def _scale(audit: Audit) -> _Scale:
    points = [micros(e["at"]) for e in audit.events]
    points += [m.start for m in audit.obligations + audit.raised]
    points += [m.end for m in audit.obligations + audit.raised if m.end is not None]
    points += [m.due for m in audit.obligations if m.due is not None and m.due <= audit.as_of]
    if not points:
        return _Scale(audit.as_of - DAY, audit.as_of)
    start, end = min(points), max(points)
    # Open obligations run on to as-of; show a little of that, not years of it.
    if any(m.end is None for m in audit.obligations):
        end = min(audit.as_of, end + max((end - start) // 5, DAY))
    margin = max((end - start) // 30, DAY // 4)
    return _Scale(start - margin, end + margin)


def _axis(scale: _Scale, height: int) -> str:
    span = scale.end - scale.start
    hour = DAY // 24
    step = DAY
    steps = (hour, 3 * hour, 6 * hour, 12 * hour, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY)
    for candidate in (*steps, 91 * DAY, 365 * DAY):
        step = candidate
        if span / candidate <= 12:
            break
    # ticks on whole hours (or days) of UTC; within a day they name the hour too
    unit = min(DAY, step)
    first = (scale.start // unit + 1) * unit
    out = ['<g class="axis">']
    tick = first
    while tick <= scale.end:
        x = scale.x(tick)
        when = short(tick)[5:16] if step < DAY else short(tick)[:10]
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP - 8}" x2="{x:.1f}" y2="{height}" stroke="#e3e6ec"/>'
        )
        if x + _width(when, 11) / 2 <= WIDTH:  # a label cut by the edge is left out
            out.append(f'<text x="{x:.1f}" y="{TOP - 14}" text-anchor="middle">{_e(when)}</text>')
        tick += step
    out.append("</g>")
    return "".join(out)


@dataclass
class _Labels:
    """Every label drawn on the timeline, as the box it takes: a label goes where it overlaps
    no other, or is left out (its tooltip and the steps below still say it). Each is drawn at
    exactly the width reserved for it (`textLength`), whatever the font."""

    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)

    def place(
        self,
        text: str,
        spots: Iterable[tuple[float, float]],
        *,
        size: float = 11,
        anchor: str = "middle",
        css: str = "",
        fill: str | None = None,
    ) -> str:
        """The `<text>` of `text` at the first spot (x, baseline) where it overlaps nothing
        placed yet; "" when there is none."""
        width = _width(text, size)
        for x, y in spots:
            left = {"start": x, "end": x - width}.get(anchor, x - width / 2)
            box = (left - 2, y - 0.95 * size, left + width + 2, y + 0.3 * size)
            if any(_overlap(box, other) for other in self.boxes):
                continue
            self.boxes.append(box)
            return (
                f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" '
                f'textLength="{width:.1f}" lengthAdjust="spacingAndGlyphs"'
                + (f' class="{css}"' if css else "")
                + (f' fill="{fill}"' if fill else "")
                + f">{_h(text)}</text>"
            )
        return ""


def _width(text: str, size: float) -> float:
    return max(cells(visible(text)), 1) * CHAR * size / 11


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _fitting(text: str, room: float, size: float = 11) -> str:
    """`text` cut (ending with `…`) to fit `room` pixels as a label of `size`."""
    return cut(visible(text), int(room / (CHAR * size / 11)))


def _svg(audit: Audit, lanes: dict[str, int], scale: _Scale) -> str:
    height = TOP + LANE * len(lanes) + 10
    labels = _Labels()
    out = [
        (
            f'<svg viewBox="0 0 {WIDTH} {height}" role="img" '
            f'aria-label="Timeline of referral {_e(audit.referral)}" '
            'xmlns="http://www.w3.org/2000/svg">'
        ),
        _axis(scale, height),
    ]
    room = LEFT - 16 - 8  # the lane labels stay left of the lanes' axes
    for role, index in lanes.items():
        y = TOP + index * LANE
        handle = audit.parties.get(role) if role != "others" else None
        if role == "others":  # whoever else acted: a forwarder, a retraction's author
            parties = {h for h in audit.parties.values() if h}
            others = sorted({a for e in audit.events if (a := _actor(e)) and a not in parties})
            handle = ", ".join(others) or None
        colour = LANE_COLOURS[role]
        who = shown(handle) if handle else ""
        name = _person_name(audit, handle)
        name = "forgotten" if name is None else name
        texts = [
            labels.place(role, [(16, y + 24)], size=13, anchor="start", css="lane-label"),
            labels.place(_fitting(who, room), [(16, y + 42)], anchor="start", css="lane-sub")
            if who
            else "",
            labels.place(_fitting(name, room), [(16, y + 58)], anchor="start", css="lane-sub")
            if name
            else "",
        ]
        whole = " ".join(t for t in (who, name) if t)
        out.append(
            f'<g class="lane" data-role="{role}">'
            + (f"<title>{_h(whole)}</title>" if whole else "")
            + f'<rect x="0" y="{y}" width="{WIDTH}" height="{LANE}" '
            f'fill="{"#fbfbfd" if index % 2 else "#ffffff"}"/>'
            f'<rect x="0" y="{y}" width="6" height="{LANE}" fill="{colour}"/>'
            + "".join(texts)
            + f'<line x1="{LEFT}" y1="{y + LINE}" x2="{WIDTH - RIGHT}" y2="{y + LINE}" '
            f'stroke="{colour}" stroke-opacity=".35" stroke-width="2"/>'
            "</g>"
        )
    x_now = scale.x(audit.as_of)
    as_of = ""
    if scale.start <= audit.as_of <= scale.end:
        as_of = (
            f'<g class="as-of"><line x1="{x_now:.1f}" y1="{TOP}" x2="{x_now:.1f}" y2="{height}" '
            'stroke="#1f2a44" stroke-dasharray="4 3"/>'
            + labels.place("as of", [(x_now - 4, TOP + 12)], anchor="end")
            + "</g>"
        )
    # Labels are placed by importance (events, flags, obligations); bars are drawn first.
    events = _events(audit, lanes, scale, labels)
    flags = _flags(audit, lanes, scale, labels)
    out.extend(_obligations(audit, lanes, scale, labels))
    out.extend(events)
    out.extend(flags)
    out.append(as_of)
    out.append("</svg>")
    return "".join(out)


def _runs(
    audit: Audit, lanes: dict[str, int], scale: _Scale, ordered: Sequence[Mapping[str, Any]]
) -> list[list[Mapping[str, Any]]]:
    """The events in runs, by lane and time: a run holds the events of one lane less than
    DENSE pixels after its first, whose markers would cover each other."""
    runs: list[list[Mapping[str, Any]]] = []
    last: dict[int, list[Mapping[str, Any]]] = {}
    for event in ordered:
        lane = _lane_of(audit, lanes, _actor(event))
        x = scale.x(micros(event["at"]))
        run = last.get(lane)
        if run is not None and x - scale.x(micros(run[0]["at"])) < DENSE:
            run.append(event)
            continue
        last[lane] = [event]
        runs.append(last[lane])
    return runs


def _events(audit: Audit, lanes: dict[str, int], scale: _Scale, labels: _Labels) -> list[str]:
    out: list[str] = []
    by_id = {e["id"]: e for e in audit.events}
    ordered = sorted(audit.events, key=lambda e: (micros(e["at"]), e["seq"]))
    places: dict[str, tuple[float, float]] = {}
    for number, run in enumerate(_runs(audit, lanes, scale, ordered), start=1):
        lane = _lane_of(audit, lanes, _actor(run[0]))
        y = TOP + lane * LANE + LINE
        rows = [y - 12 - ROW * row for row in range(LABEL_ROWS)]
        dense = len(run) > 1
        for event in run:
            x = scale.x(micros(event["at"]))
            places[event["id"]] = (x, y)
            out.append(_event(audit, lanes, lane, event, (x, y), rows, labels, number, dense))
        if dense:
            out.append(_cluster(run, number, scale.x(micros(run[0]["at"])), y, rows, labels))
    for event in ordered:
        if event["type"] != "event-retracted":
            continue
        target = by_id.get(event.get("retracts"))
        if target is None or target["id"] not in places:
            continue
        (x1, y1), (x2, y2) = places[event["id"]], places[target["id"]]
        out.append(
            f'<path class="retracts" d="M{x1:.1f},{y1} C{x1:.1f},{y1 + 30} {x2:.1f},{y2 + 30} '
            f'{x2:.1f},{y2 + 8}" fill="none" stroke="#b3261e" stroke-dasharray="3 3"/>'
        )
    return out


def _event(
    audit: Audit,
    lanes: dict[str, int],
    lane: int,
    event: Mapping[str, Any],
    at: tuple[float, float],
    rows: Sequence[float],
    labels: _Labels,
    run: int,
    dense: bool,
) -> str:
    """One event's marker; with its label and lateness only when it is alone in its run (a
    dense run's marker, `_cluster`, speaks for its events)."""
    x, y = at
    retraction = event["type"] == "event-retracted"
    classes = "event" + (" retracted" if event["retracted"] else "")
    classes += " retraction" if retraction else ""
    late = micros(event["recorded_at"]) - micros(event["at"])
    tip = (
        f"seq {event['seq']} · {event['type']}\n{audit.describe(event)}\n"
        f"happened {short(micros(event['at']))}\nrecorded {short(micros(event['recorded_at']))}"
        + (f" ({late // DAY} days later)" if late >= DAY else "")
        + (f"\nby {event['by']}" if event.get("by") else "")
        + (f"\nrecorded by {recorder}" if (recorder := audit.recorder(event)) else "")
        + ("\nRETRACTED" if event["retracted"] else "")
    )
    colour = LANE_COLOURS[_role_name(lanes, lane)]
    if retraction:
        shape = (
            f'<path d="M{x - 6:.1f},{y - 6} L{x + 6:.1f},{y + 6} M{x + 6:.1f},{y - 6} '
            f'L{x - 6:.1f},{y + 6}" stroke="#b3261e" stroke-width="3"/>'
        )
    else:
        fill = "#ffffff" if event["retracted"] else colour
        shape = (
            f'<circle cx="{x:.1f}" cy="{y}" r="7" fill="{fill}" '
            f'stroke="{colour}" stroke-width="2.5"/>'
        )
    label = badge = ""
    if not dense:
        label = labels.place(str(event["type"]), [(x, row) for row in rows])
        if late >= DAY:
            badge = labels.place(f"+{late // DAY}d", [(x, y + 20)], css="late", fill="#a05a00")
    in_run = f' data-run="{run}"' if dense else ""
    return (
        f'<g class="{classes}" data-seq="{event["seq"]}" data-type="{_e(event["type"])}" '
        f'data-id="{_e(event["id"])}"{in_run}><title>{_h(tip)}</title>{shape}{label}{badge}</g>'
    )


def _cluster(
    run: list[Mapping[str, Any]],
    number: int,
    x: float,
    y: float,
    rows: Sequence[float],
    labels: _Labels,
) -> str:
    """A dense run's one marker, over its events' own: how many, and which in its tooltip."""
    first, last = short(micros(run[0]["at"])), short(micros(run[-1]["at"]))
    listed = [f"seq {e['seq']} · {e['type']}" for e in run[:30]]
    more = [f"… and {len(run) - 30} more"] if len(run) > 30 else []
    tip = "\n".join([f"{len(run)} events, {first} to {last}", *listed, *more])
    count = labels.place(str(len(run)), [(x, y + 4)], css="count")
    label = labels.place(f"{len(run)} events", [(x, row) for row in rows])
    return (
        f'<g class="cluster" data-run="{number}" data-count="{len(run)}">'
        f"<title>{_h(tip)}</title>"
        f'<circle cx="{x:.1f}" cy="{y}" r="11" fill="#1f2a44" stroke="#fff" stroke-width="2"/>'
        f"{count}{label}</g>"
    )


def _role_name(lanes: dict[str, int], index: int) -> str:
    return next(role for role, i in lanes.items() if i == index)


def _obligations(audit: Audit, lanes: dict[str, int], scale: _Scale, labels: _Labels) -> list[str]:
    out: list[str] = []
    rows: dict[int, list[float]] = {}
    for mark in audit.obligations:
        lane = _lane_of(audit, lanes, mark.data.get("person"))
        stacked = rows.setdefault(lane, [])
        x1 = scale.x(mark.start)
        end = mark.end if mark.end is not None else audit.as_of
        x2 = max(scale.x(end), x1 + 2)
        slot = next((i for i, right in enumerate(stacked) if right < x1 - 4), None)
        if slot is None:
            slot = len(stacked)
            stacked.append(x2)
        stacked[slot] = x2
        y = TOP + lane * LANE + BARS + 16 * min(slot, 3)
        due = mark.due if mark.due is not None else mark.start
        xd = min(max(scale.x(due), x1), x2)
        owed = f" → {mark.data['owed_to']}" if mark.data.get("owed_to") else ""
        state = "met" if mark.end is not None else "open"
        tip = (
            f"{mark.kind}: {mark.data.get('person')}{owed}\nopened {short(mark.start)}\n"
            f"due {short(due)}\n"
            + (f"met or ended {short(mark.end)}" if mark.end is not None else "still open")
            + f"\n{shown(mark.data.get('message', ''))}"
        )
        text = labels.place(f"{mark.kind}{owed}", [(x1 + 3, y + 8.5)], size=10, anchor="start")
        out.append(
            f'<g class="obligation {state}" data-kind="{_e(mark.kind)}" '
            f'data-person="{_e(mark.data.get("person"))}"><title>{_h(tip)}</title>'
            f'<rect x="{x1:.1f}" y="{y}" width="{max(xd - x1, 0):.1f}" height="10" rx="3" '
            'fill="#9ec5ea"/>'
            f'<rect class="overdue" x="{xd:.1f}" y="{y}" width="{max(x2 - xd, 0):.1f}" height="10" '
            'rx="3" fill="#e57373"/>'
            + (
                f'<path d="M{x2:.1f},{y - 2} l6,7 l-6,7" fill="#e57373"/>'
                if mark.end is None
                else f'<line x1="{x2:.1f}" y1="{y - 3}" x2="{x2:.1f}" y2="{y + 13}" stroke="#2e7d4f" '
                'stroke-width="3"/>'
            )
            + f"{text}</g>"
        )
    return out


def _flags(audit: Audit, lanes: dict[str, int], scale: _Scale, labels: _Labels) -> list[str]:
    out: list[str] = []
    for mark in audit.raised:
        lane = _lane_of(audit, lanes, mark.data.get("person"))
        x = scale.x(mark.start)
        y = TOP + lane * LANE + FLAG_ROW
        text = ""
        for row in range(2):  # the flag stands in the first row with room for its label
            text = labels.place(
                str(mark.kind), [(x + 16, y + 18 * row + 3)], anchor="start", fill="#8a3ffc"
            )
            if text:
                y += 18 * row
                break
        tip = (
            f"flag {mark.kind} ({mark.data.get('person')})\nraised {short(mark.start)}\n"
            f"{shown(mark.data.get('message', ''))}"
        )
        out.append(
            f'<g class="flag" data-kind="{_e(mark.kind)}" data-person="{_e(mark.data.get("person"))}">'
            f"<title>{_h(tip)}</title>"
            f'<line x1="{x:.1f}" y1="{y - 6}" x2="{x:.1f}" y2="{y + 10}" stroke="#8a3ffc" stroke-width="2"/>'
            f'<path d="M{x:.1f},{y - 6} l13,5 l-13,5 z" fill="#8a3ffc"/>'
            f"{text}</g>"
        )
    return out


def _legend() -> str:
    return (
        '<div class="legend">'
        '<span><i style="background:#1f77b4;border-radius:50%"></i>event, in its actor\'s lane</span>'
        '<span><i style="background:#fff;border:2px solid #888;border-radius:50%"></i>retracted</span>'
        '<span><i style="background:#b3261e"></i>retraction (dashed line to what it retracts)</span>'
        '<span><i style="background:#9ec5ea"></i>obligation open</span>'
        '<span><i style="background:#e57373"></i>overdue</span>'
        '<span><i style="background:#2e7d4f"></i>met</span>'
        '<span><i style="background:#8a3ffc"></i>flag raised</span>'
        "</div>"
    )


def _steps(audit: Audit) -> str:
    out = ['<h2>Step by step</h2><ol class="steps">']
    for step in steps(audit):
        event = step.event
        if event is not None:
            at, recorded = micros(event["at"]), micros(event["recorded_at"])
            late = recorded - at
            when = f"happened {_e(short(at))} · recorded {_e(short(recorded))}"
            if late >= DAY:
                when += f' <span class="late">({late // DAY} days later)</span>'
            if event.get("by"):
                when += f" · by {_e(event['by'])}"
            if (recorder := audit.recorder(event)) is not None:
                when += f' · <span class="recorder">recorded by {_e(recorder)}</span>'
            cls = "step retracted" if event["retracted"] else "step"
            out.append(
                f'<li class="{cls}" data-seq="{event["seq"]}"><div class="when">seq {event["seq"]}'
                f" · {when}</div>"
                f'<div class="what">{_e(event["type"])}: '
                f"{_e(audit.describe(event))}</div>"
            )
            retraction = audit.retraction_of(event["id"])
            if retraction is not None:
                out.append(
                    f'<div class="sub retraction">Retracted by {_e(retraction.get("by"))} '
                    f"(seq {retraction['seq']}, recorded "
                    f"{_e(short(micros(retraction['recorded_at'])))}"
                    + (
                        f", recorded by {_e(recorder)}"
                        if (recorder := audit.recorder(retraction)) is not None
                        else ""
                    )
                    + "): "
                    f"{_e(retraction.get('reason'))}</div>"
                )
        else:
            out.append(f'<li class="step moment"><div class="when">{_e(short(step.at))}</div>')
        for mark in step.opened:
            out.append(
                f'<div class="sub opened">opens {_obligation(mark)}, due '
                f"{_e(short(mark.due or mark.start))}</div>"
            )
        for mark in step.met:
            out.append(f'<div class="sub met">meets {_obligation(mark)}</div>')
        for mark in step.overdue:
            out.append(f'<div class="sub overdue">overdue: {_obligation(mark)}</div>')
        for mark in step.flags:
            out.append(
                f'<div class="sub flag">flag {_e(mark.kind)} ({_e(mark.data.get("person"))}): '
                f"{_e(mark.data.get('message', ''))}</div>"
            )
        out.append("</li>")
    out.append("</ol>")
    return "".join(out)


def _obligation(mark: Mark) -> str:
    owed = f" → {mark.data['owed_to']}" if mark.data.get("owed_to") else ""
    return f"{_e(mark.kind)} ({_e(mark.data.get('person'))}{_e(owed)})"


def _now(audit: Audit) -> str:
    rows = []
    for alert in audit.alerts:
        rows.append(
            f"<tr><td>alert</td><td>{_e(alert.get('kind'))}</td><td>{_e(alert.get('person'))}</td>"
            f"<td>{_e(alert.get('message', ''))}</td></tr>"
        )
    for flag in audit.flags:
        rows.append(
            f"<tr><td>flag</td><td>{_e(flag.get('kind'))}</td><td>{_e(flag.get('person'))}</td>"
            f"<td>{_e(flag.get('message', ''))}</td></tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="4">No open alerts and no flags in this view.</td></tr>')
    return (
        f'<h2>At {_e(short(audit.as_of))}</h2><table class="now"><tr><th></th><th>kind</th>'
        f"<th>about</th><th>message</th></tr>{''.join(rows)}</table>"
    )
