"""The `flags` command: every row of category "flag", whichever plugin derived it."""

from __future__ import annotations

import click

from ledger.cli import emit_json, get_ledger, safe, time_options
from ledger.errors import LedgerError


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the flags as a JSON array.")
@click.option("--person", metavar="HANDLE", help="Only flags about HANDLE's conduct.")
@click.option("--referral", metavar="KEY", help="Only flags of this referral.")
@time_options
def flags(
    as_json: bool, person: str | None, referral: str | None, as_of: int, known_at: int | None
) -> None:
    """List the ways referrals have gone bad, with the events behind each."""
    from ledger.projections import rows
    from ledger.views import View

    ledger = get_ledger()
    view = View(ledger, known_at)
    if person is not None and view.person(person) is None:
        raise LedgerError(f"unknown person {person!r}")
    if referral is not None and not view.referral_history(referral):
        raise LedgerError(f"unknown referral {referral!r}")
    found = rows(ledger, "flag", as_of=as_of, known_at=known_at, person=person, referral=referral)
    found.sort(key=lambda r: (r.start_us, r.referral or "", r.kind, r.person or ""))
    out = [row.public() for row in found]
    if as_json:
        emit_json(out)
        return
    if not out:
        click.echo("No flags.")
        return
    for item in out:
        where = item.get("referral") or "-"
        click.echo(safe(f"{item['kind']}  {where}  {item.get('person')}: {item.get('message')}"))
        click.echo(safe(f"    evidence: {', '.join(item.get('evidence') or []) or '-'}"))
