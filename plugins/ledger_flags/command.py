"""The `flags` command: every row of category "flag", whichever plugin derived it."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

import click

from ledger.api import (
    LedgerError,
    emit_json_array,
    fit,
    get_ledger,
    named,
    paint,
    time_options,
)

PAGE = 1000  # flags printed at a time


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the flags as a JSON array.")
@click.option("--person", metavar="HANDLE", help="Only flags about HANDLE's conduct.")
@click.option("--referral", metavar="KEY", help="Only flags of this referral.")
@time_options
def flags(
    as_json: bool, person: str | None, referral: str | None, as_of: int, known_at: int | None
) -> None:
    """List the ways referrals have gone bad, with the events behind each.

    \b
    Example:
      referral-ledger flags --person ana
    """
    from ledger.api import View, listed

    ledger = get_ledger()
    view = View(ledger, known_at)
    if person is not None and view.person(person) is None:
        raise LedgerError(f"unknown person {person!r}")
    if referral is not None and not view.referral_history(referral):
        raise LedgerError(f"unknown referral {referral!r}")
    found = listed(ledger, "flag", as_of=as_of, known_at=known_at, person=person, referral=referral)
    if as_json:
        emit_json_array(row.public() for row in found)
        return
    who = named(view)
    printed = 0
    for page in iter(lambda: list(islice(found, PAGE)), []):
        click.echo("\n".join(line for row in page for line in _lines(row.data, who)))
        printed += len(page)
    if not printed:
        click.echo("No flags.")


def _lines(item: dict[str, Any], who: Callable[[str | None], str]) -> tuple[str, str]:
    """A flag in two lines fitted to the terminal: its kind (in colour), referral, person and
    message; the events behind it."""
    where = item.get("referral") or "-"
    evidence = ", ".join(item.get("evidence") or []) or "-"
    person = item.get("person")
    kind = str(item["kind"])
    first = fit(f"{kind}  {where}  {who(person)}: {item.get('message')}")
    return (
        paint(kind, "magenta") + first[len(kind) :] if first.startswith(kind) else first,
        fit(f"    evidence: {evidence}"),
    )
