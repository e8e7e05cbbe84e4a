"""The `reputation` command."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import click

from ledger.api import LedgerError, emit_json_array, fit, get_ledger, named, table, time_options

PAGE = 500  # people scored per query: bounds memory on a ledger of any size


@click.command()
@click.argument("handle", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as a JSON array.")
@time_options
def reputation(handle: str | None, as_json: bool, as_of: int, known_at: int | None) -> None:
    """Show scores as requester, referrer and target, with what moved them.

    Give a HANDLE to explain one person.

    \b
    Example:
      referral-ledger reputation ana
    """
    from ledger.api import View, current

    ledger = get_ledger()
    if handle is not None and View(ledger, known_at).person(handle) is None:
        raise LedgerError(f"unknown person {handle!r}")
    if handle is None and known_at is None and current(ledger):
        scored = _everyone(ledger, as_of)
    else:
        scored = iter(_scores(ledger, as_of, known_at, handle))
    if as_json:
        emit_json_array(scored)
        return
    who = named(View(ledger, known_at))
    if handle is not None:
        _explain(next(scored), who)
    else:
        _table(scored, who)


def _scores(
    ledger: Any, as_of: int, known_at: int | None, handle: str | None
) -> list[dict[str, Any]]:
    """Everyone's scores (or HANDLE's) from the rows of the view, read at once."""
    from ledger.api import rows

    from .scores import scores

    conduct = rows(ledger, "reputation", as_of=as_of, known_at=known_at, person=handle, ended=True)
    alerts = rows(ledger, "alert", as_of=as_of, known_at=known_at, person=handle, ended=True)
    flags = rows(ledger, "flag", as_of=as_of, known_at=known_at, person=handle)
    people = (
        {handle}
        if handle is not None
        else {row.person for row in conduct if row.kind == "took-part" and row.person}
    )
    return scores(conduct, alerts, flags, people)


def _everyone(ledger: Any, as_of: int) -> Iterator[dict[str, Any]]:
    """Everyone who took part, sorted by handle, their scores computed a page of people at a time
    from the kept rows: a million events' rows never sit in memory together."""
    from ledger.api import stored_people, stored_rows

    from .scores import scores

    people = stored_people(ledger, "reputation", "took-part", as_of=as_of)

    def pages() -> Iterator[dict[str, Any]]:
        for start in range(0, len(people), PAGE):
            page = people[start : start + PAGE]
            conduct = stored_rows(ledger, "reputation", as_of, ended=True, people=page)
            alerts = stored_rows(ledger, "alert", as_of, ended=True, people=page)
            flags = stored_rows(ledger, "flag", as_of, people=page)
            yield from scores(conduct, alerts, flags, page)

    return pages()


def _explain(person: dict[str, Any], who: Callable[[str | None], str]) -> None:
    click.echo(fit(who(person["person"])))
    for role in ("requester", "referrer", "target"):
        part = person[f"as_{role}"]
        click.echo(fit(f"  as {role}: {part['score']:g}"))
        for entry in part["explain"]:
            click.echo(fit(f"    {entry['points']:+g}  {entry['reason']}"))


def _table(people: Iterable[dict[str, Any]], who: Callable[[str | None], str]) -> None:
    """Everyone's scores, a line each, fitted to the terminal (names cut first)."""
    rows = [
        (
            who(p["person"]),
            f"{p['as_requester']['score']:g}",
            f"{p['as_referrer']['score']:g}",
            f"{p['as_target']['score']:g}",
        )
        for p in people
    ]
    if not rows:
        click.echo("Nobody has taken part in a referral yet.")
        return
    header = ("PERSON", "REQUESTER", "REFERRER", "TARGET")
    for line in table(header, rows, fixed=(1, 2, 3), right=(1, 2, 3)):
        click.echo(line)
