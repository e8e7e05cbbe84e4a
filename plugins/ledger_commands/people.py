"""`person list`, `person show` and `person edit`: the people of the ledger, read through a
`View` and the plugins' rows (`ledger.api.rows`), and corrected with `person-updated`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
import orjson

from ledger.api import LedgerError, emit_json, emit_json_array, get_ledger, safe, time_options

from .friendly import by_default, event_options, person, record

FIELDS = ("name", "email", "company", "title")
# The keys `person show` prints in its own way; a plugin's others get a line each.
SHOWN = ("person", "referrals", "owes", "owed", "flags", "scores")
ROLES = ("requester", "referrer", "target")


def person_json(found: Mapping[str, Any]) -> dict[str, Any]:
    """A person as `person list --json` and `person show --json` print them: erased values
    are null, and `forgotten` says whether they were erased."""
    out: dict[str, Any] = {"handle": found["handle"]}
    for field in FIELDS:
        value = found.get(field)
        out[field] = None if isinstance(value, Mapping) else value
    out["forgotten"] = bool(found.get("forgotten"))
    out["added_at"] = found["at"]
    return out


def _cell(value: Any) -> str:
    return "-" if value is None else safe(str(value))


LIST_HELP = """List the people of the ledger, by handle, with their current details.

\b
Example:
  referral-ledger person list --json
"""


@person.command(name="list", help=LIST_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the people as a JSON array.")
def person_list(as_json: bool) -> None:
    from ledger.api import View

    view = View(get_ledger())
    found = [view.person(handle) for handle in sorted(view.handles())]
    people = [person_json(p) for p in found if p is not None]
    if as_json:
        emit_json_array(people)
        return
    if not people:
        click.echo("No people.")
        return
    header = ("HANDLE", "NAME", "COMPANY", "TITLE")
    rows = [
        (
            safe(p["handle"]),
            "(forgotten)" if p["forgotten"] else _cell(p["name"]),
            _cell(p["company"]),
            _cell(p["title"]),
        )
        for p in people
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


SHOW_HELP = """Show HANDLE: their details, their referrals by role, what they owe and are
owed, and the flags about them.

Obligations are the open ones as of --as-of, overdue or not.

\b
Example:
  referral-ledger person show ana --json
"""


@person.command(name="show", help=SHOW_HELP)
@click.argument("handle")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@time_options
def person_show(handle: str, as_json: bool, as_of: int, known_at: int | None) -> None:
    shown = describe_person(handle, as_of, known_at)
    if as_json:
        emit_json(shown)
        return
    details = shown["person"]
    click.echo(safe(handle) + ("  (forgotten)" if details["forgotten"] else ""))
    for field in FIELDS:
        click.echo(f"  {field:<8} {_cell(details[field])}")
    click.echo("Referrals:")
    for role in ROLES:
        keys = shown["referrals"][role]
        click.echo(f"  as {role:<9} {safe(', '.join(keys)) if keys else '-'}")
    for title, key in (("Owes", "owes"), ("Owed", "owed")):
        click.echo(f"{title}:")
        for item in shown[key]:
            late = "  OVERDUE" if item["overdue"] else ""
            click.echo(safe(f"  {item['referral']}  {item['message']} [{item['kind']}]{late}"))
        if not shown[key]:
            click.echo("  nothing")
    click.echo("Flags:")
    for flag in shown["flags"]:
        click.echo(safe(f"  {flag['kind']}  {flag.get('referral') or '-'}  {flag['message']}"))
    if not shown["flags"]:
        click.echo("  none")
    scores = shown.get("scores")
    if isinstance(scores, dict):  # the reputation plugin's
        click.echo("Scores:")
        for role in ROLES:
            part = scores.get(f"as_{role}")
            if isinstance(part, dict) and "score" in part:
                click.echo(f"  as {role:<9} {part['score']:g}")
    for key, value in shown.items():  # what other plugins add, one line each
        if key not in SHOWN:
            click.echo(safe(f"{key}: {orjson.dumps(value).decode()}"))


def describe_person(handle: str, as_of: int, known_at: int | None) -> dict[str, Any]:
    """What `person show --json` prints."""
    from ledger.api import View, person_facts, rows, timestamp

    ledger = get_ledger()
    view = View(ledger, known_at)
    found = view.person(handle, as_of)
    if found is None:
        raise LedgerError(f"unknown person {handle!r}")
    referrals: dict[str, list[str]] = {role: [] for role in ROLES}
    for key in view.referrals_of(handle):
        p = view.parties(key)
        for role, who in zip(ROLES, (p.requester, p.referrer, p.target)):
            if who == handle:
                referrals[role].append(key)
    open_ones = rows(ledger, "obligation", as_of=as_of, known_at=known_at, involving=handle)
    obligations: dict[str, list[dict[str, Any]]] = {"owes": [], "owed": []}
    for row in sorted(open_ones, key=lambda r: (r.data.get("due") or "", r.referral or "")):
        item = {**row.public(), "overdue": str(row.data.get("due")) < timestamp(as_of)}
        obligations["owes" if row.person == handle else "owed"].append(item)
    flags = rows(ledger, "flag", as_of=as_of, known_at=known_at, person=handle)
    shown = {
        "person": person_json(found),
        "referrals": referrals,
        **obligations,
        "flags": [row.public() for row in sorted(flags, key=lambda r: (r.start_us, r.kind))],
    }
    return {
        **shown,
        **person_facts(ledger, handle, as_of=as_of, known_at=known_at, taken=shown),
    }


EDIT_HELP = """Correct or change HANDLE's details (records person-updated): each option
given replaces the old value in every view from --at on.

\b
Example:
  referral-ledger person edit ana --name "Ana Ruiz" --company Acme
"""


@person.command(name="edit", help=EDIT_HELP)
@click.argument("handle")
@click.option("--name", help="Full name.")
@click.option("--email", help="Email address.")
@click.option("--company", help="Where they work.")
@click.option("--title", help="Job title.")
@click.option("--by", metavar="HANDLE", help="Who records the change (a known person).")
@event_options
def person_edit(
    handle: str,
    name: str | None,
    email: str | None,
    company: str | None,
    title: str | None,
    by: str | None,
    at: str | None,
    event_id: str | None,
    as_json: bool,
) -> None:
    given = {"name": name, "email": email, "company": company, "title": title}
    if all(value is None for value in given.values()):
        raise LedgerError(
            "person edit: give at least one of --name, --email, --company, --title"
        )
    by = by_default(by, required=False)
    record({"type": "person-updated", "handle": handle, "by": by, **given}, at, event_id, as_json)
