"""The `reputation` command."""

from __future__ import annotations

from typing import Any

import click

from ledger.cli import emit_json, get_ledger, safe, time_options
from ledger.errors import LedgerError


@click.command()
@click.argument("handle", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as a JSON array.")
@time_options
def reputation(handle: str | None, as_json: bool, as_of: int, known_at: int | None) -> None:
    """Show scores as requester, referrer and target, with what moved them.

    Give a HANDLE to explain one person.
    """
    from ledger.projections import rows
    from ledger.views import View

    from .scores import scores

    ledger = get_ledger()
    if handle is not None and View(ledger, known_at).person(handle) is None:
        raise LedgerError(f"unknown person {handle!r}")
    conduct = rows(ledger, "reputation", as_of=as_of, known_at=known_at, person=handle, ended=True)
    alerts = rows(ledger, "alert", as_of=as_of, known_at=known_at, person=handle, ended=True)
    flags = rows(ledger, "flag", as_of=as_of, known_at=known_at, person=handle)
    people = (
        {handle}
        if handle is not None
        else {row.person for row in conduct if row.kind == "took-part" and row.person}
    )
    out = scores(conduct, alerts, flags, people)
    if as_json:
        emit_json(out)
    elif handle is not None:
        _explain(out[0])
    else:
        _table(out)


def _explain(person: dict[str, Any]) -> None:
    click.echo(person["person"])
    for role in ("requester", "referrer", "target"):
        part = person[f"as_{role}"]
        click.echo(f"  as {role}: {part['score']:g}")
        for entry in part["explain"]:
            click.echo(safe(f"    {entry['points']:+g}  {entry['reason']}"))


def _table(people: list[dict[str, Any]]) -> None:
    if not people:
        click.echo("Nobody has taken part in a referral yet.")
        return
    width = max(len("PERSON"), *(len(p["person"]) for p in people))
    click.echo(f"{'PERSON':<{width}}  REQUESTER  REFERRER  TARGET")
    for p in people:
        click.echo(
            f"{p['person']:<{width}}  {p['as_requester']['score']:>9g}  "
            f"{p['as_referrer']['score']:>8g}  {p['as_target']['score']:>6g}"
        )
