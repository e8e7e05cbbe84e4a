"""The audit as one self-contained HTML page: inline CSS and SVG, no scripts, no network.

One lane per party (requester, referrer, target); each event sits in its actor's lane at the
moment it happened; obligations are bars from when they opened to when they were met (red
once overdue); flags are marked where they arose. Every piece of user text is escaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from .audit import ROLES, Audit, Mark, short, shown, steps
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

_CSS = """
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0;
       background: #f5f6f8; color: #1f2430; }
header { background: #1f2a44; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; font-weight: 600; }
header .view { opacity: .85; font-size: 13px; }
.chain { display: inline-block; margin-left: 10px; padding: 1px 8px; border-radius: 10px;
         font-size: 12px; font-weight: 600; }
.chain.ok { background: #2e7d4f; } .chain.broken { background: #b3261e; }
main { padding: 18px 28px 40px; }
.parties { display: flex; gap: 14px; margin-bottom: 16px; flex-wrap: wrap; }
.party { background: #fff; border-radius: 8px; padding: 10px 14px; min-width: 200px;
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
    if not handle:
        return ""
    person = audit.people.get(handle)
    if person is None:
        return ""
    name = person.get("name")
    if isinstance(name, Mapping) and "forgotten" in name:
        return '<span class="forgotten">forgotten</span>'
    return _e(name) if name else ""


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
    step = DAY
    for candidate in (DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 365 * DAY):
        step = candidate
        if span / candidate <= 12:
            break
    first = (scale.start // DAY + 1) * DAY
    out = ['<g class="axis">']
    tick = first
    while tick <= scale.end:
        x = scale.x(tick)
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP - 8}" x2="{x:.1f}" y2="{height}" stroke="#e3e6ec"/>'
            f'<text x="{x:.1f}" y="{TOP - 14}" text-anchor="middle">{_e(short(tick)[:10])}</text>'
        )
        tick += step
    out.append("</g>")
    return "".join(out)


def _svg(audit: Audit, lanes: dict[str, int], scale: _Scale) -> str:
    height = TOP + LANE * len(lanes) + 10
    out = [
        (
            f'<svg viewBox="0 0 {WIDTH} {height}" role="img" '
            f'aria-label="Timeline of referral {_e(audit.referral)}" '
            'xmlns="http://www.w3.org/2000/svg">'
        ),
        _axis(scale, height),
    ]
    for role, index in lanes.items():
        y = TOP + index * LANE
        handle = audit.parties.get(role) if role != "others" else None
        if role == "others":  # whoever else acted: a forwarder, a retraction's author
            parties = {h for h in audit.parties.values() if h}
            others = sorted({a for e in audit.events if (a := _actor(e)) and a not in parties})
            handle = ", ".join(others) or None
        colour = LANE_COLOURS[role]
        out.append(
            f'<g class="lane" data-role="{role}">'
            f'<rect x="0" y="{y}" width="{WIDTH}" height="{LANE}" '
            f'fill="{"#fbfbfd" if index % 2 else "#ffffff"}"/>'
            f'<rect x="0" y="{y}" width="6" height="{LANE}" fill="{colour}"/>'
            f'<text class="lane-label" x="16" y="{y + 24}">{role}</text>'
            f'<text class="lane-sub" x="16" y="{y + 42}">{_e(handle) if handle else ""}</text>'
            f'<text class="lane-sub" x="16" y="{y + 58}">{_name(audit, handle)}</text>'
            f'<line x1="{LEFT}" y1="{y + LINE}" x2="{WIDTH - RIGHT}" y2="{y + LINE}" '
            f'stroke="{colour}" stroke-opacity=".35" stroke-width="2"/>'
            "</g>"
        )
    out.extend(_obligations(audit, lanes, scale))
    out.extend(_events(audit, lanes, scale))
    out.extend(_flags(audit, lanes, scale))
    x_now = scale.x(audit.as_of)
    if scale.start <= audit.as_of <= scale.end:
        out.append(
            f'<g class="as-of"><line x1="{x_now:.1f}" y1="{TOP}" x2="{x_now:.1f}" y2="{height}" '
            'stroke="#1f2a44" stroke-dasharray="4 3"/>'
            f'<text x="{x_now - 4:.1f}" y="{TOP + 12}" text-anchor="end">as of</text></g>'
        )
    out.append("</svg>")
    return "".join(out)


def _events(audit: Audit, lanes: dict[str, int], scale: _Scale) -> list[str]:
    out: list[str] = []
    taken: dict[tuple[int, int], float] = {}  # (lane, label row) -> right edge of last label
    by_id = {e["id"]: e for e in audit.events}
    ordered = sorted(audit.events, key=lambda e: (micros(e["at"]), e["seq"]))
    places: dict[str, tuple[float, float]] = {}
    for event in ordered:
        lane = _lane_of(audit, lanes, _actor(event))
        x = scale.x(micros(event["at"]))
        y = TOP + lane * LANE + LINE
        places[event["id"]] = (x, y)
        label = event["type"]
        row = _place(taken, lane, x - 3.1 * len(label) - 4, x + 3.1 * len(label) + 4, 3)
        label_y = y - 12 - 13 * row
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
        if retraction:
            shape = (
                f'<path d="M{x - 6:.1f},{y - 6} L{x + 6:.1f},{y + 6} M{x + 6:.1f},{y - 6} '
                f'L{x - 6:.1f},{y + 6}" stroke="#b3261e" stroke-width="3"/>'
            )
        else:
            fill = "#ffffff" if event["retracted"] else LANE_COLOURS[_role_name(lanes, lane)]
            shape = (
                f'<circle cx="{x:.1f}" cy="{y}" r="7" fill="{fill}" '
                f'stroke="{LANE_COLOURS[_role_name(lanes, lane)]}" stroke-width="2.5"/>'
            )
        badge = ""
        if late >= DAY:
            text = f"+{late // DAY}d"
            below = _place(taken, lane + 100, x - 3.3 * len(text) - 3, x + 3.3 * len(text) + 3, 1)
            if below == 0:  # no room: the tooltip and the list below still say it
                badge = (
                    f'<text class="late" x="{x:.1f}" y="{y + 20}" text-anchor="middle" '
                    f'fill="#a05a00">{text}</text>'
                )
        out.append(
            f'<g class="{classes}" data-seq="{event["seq"]}" data-type="{_e(event["type"])}" '
            f'data-id="{_e(event["id"])}"><title>{_h(tip)}</title>{shape}'
            f'<text x="{x:.1f}" y="{label_y:.1f}" text-anchor="middle">{_e(label)}</text>'
            f"{badge}</g>"
        )
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


def _place(
    taken: dict[tuple[int, int], float], lane: int, left: float, right: float, rows: int
) -> int:
    """The first row of a lane where a label from `left` to `right` overlaps nothing."""
    row = 0
    while taken.get((lane, row), -1e9) > left and row < rows - 1:
        row += 1
    if taken.get((lane, row), -1e9) > left:
        row = rows  # no room: callers may leave it out
    else:
        taken[(lane, row)] = right
    return min(row, rows - 1) if rows > 1 else row


def _role_name(lanes: dict[str, int], index: int) -> str:
    return next(role for role, i in lanes.items() if i == index)


def _obligations(audit: Audit, lanes: dict[str, int], scale: _Scale) -> list[str]:
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
            + f'<text x="{x1 + 3:.1f}" y="{y + 8.5}">{_e(mark.kind)}{_e(owed)}</text></g>'
        )
    return out


def _flags(audit: Audit, lanes: dict[str, int], scale: _Scale) -> list[str]:
    out: list[str] = []
    taken: dict[tuple[int, int], float] = {}
    for mark in audit.raised:
        lane = _lane_of(audit, lanes, mark.data.get("person"))
        x = scale.x(mark.start)
        row = _place(taken, lane, x - 2, x + 20 + 6.2 * len(mark.kind), 2)
        y = TOP + lane * LANE + FLAG_ROW + 18 * row
        tip = (
            f"flag {mark.kind} ({mark.data.get('person')})\nraised {short(mark.start)}\n"
            f"{shown(mark.data.get('message', ''))}"
        )
        out.append(
            f'<g class="flag" data-kind="{_e(mark.kind)}" data-person="{_e(mark.data.get("person"))}">'
            f"<title>{_h(tip)}</title>"
            f'<line x1="{x:.1f}" y1="{y - 6}" x2="{x:.1f}" y2="{y + 10}" stroke="#8a3ffc" stroke-width="2"/>'
            f'<path d="M{x:.1f},{y - 6} l13,5 l-13,5 z" fill="#8a3ffc"/>'
            f'<text x="{x + 16:.1f}" y="{y + 3}" fill="#8a3ffc">{_e(mark.kind)}</text></g>'
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
