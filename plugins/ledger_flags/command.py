"""The `flags` command: every row of category "flag", whichever plugin derived it."""

from __future__ import annotations

from itertools import islice
from typing import Any

import click

from ledger.api import LedgerError, emit_json_array, get_ledger, safe, time_options

PAGE = 1000  # flags printed at a time


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the flags as a JSON array.")
@click.option("--person", metavar="HANDLE", help="Only flags about HANDLE's conduct.")
@click.option("--referral", metavar="KEY", help="Only flags of this referral.")
@time_options
def flags(
    as_json: bool, person: str | None, referral: str | None, as_of: int, known_at: int | None
) -> None:
    """List the ways referrals have gone bad, with the events behind each."""
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
    printed = 0
    for page in iter(lambda: list(islice(found, PAGE)), []):
        click.echo(safe("\n".join(_lines(row.data) for row in page)))
        printed += len(page)
    if not printed:
        click.echo("No flags.")


def _lines(item: dict[str, Any]) -> str:
    where = item.get("referral") or "-"
    evidence = ", ".join(item.get("evidence") or []) or "-"
    return (
        f"{item['kind']}  {where}  {item.get('person')}: {item.get('message')}\n"
        f"    evidence: {evidence}"
    )
