"""The `due` command: what a person owes, overdue first, then what comes due soon; then what
others owe them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ledger.api import LedgerError, emit_json, get_ledger, me, safe, time_options

if TYPE_CHECKING:
    from ledger.api import Ledger, Row


@click.command()
@click.argument("handle", required=False)
@click.option(
    "--within",
    metavar="DAYS",
    type=click.FloatRange(0, 3650),
    default=7,
    show_default=True,
    help="Show what is not yet overdue only if it comes due within DAYS.",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"owes": [...], "owed": [...]}.')
@time_options
def due(
    handle: str | None, within: float, as_json: bool, as_of: int, known_at: int | None
) -> None:
    """What HANDLE owes (overdue first, then what comes due within --within days), then what
    others owe HANDLE. HANDLE defaults to you (`me` in the config).

    \b
    Example:
      referral-ledger due
      referral-ledger due ana --within 14 --json
    """
    from ledger.api import open_obligations, settings

    from .phrasing import DAY_US, lateness, sentence

    ledger = get_ledger()
    handle = person_or_me(ledger, handle, known_at)
    found = open_obligations(ledger, as_of=as_of, known_at=known_at, involving=handle)
    horizon = as_of + round(within * DAY_US)
    shown = [r for r in found if r.due_us < as_of or r.due_us <= horizon]
    owes = [r for r in shown if r.person == handle]
    owed = [r for r in shown if r.person != handle]
    if as_json:
        emit_json({"owes": [item(r, as_of) for r in owes], "owed": [item(r, as_of) for r in owed]})
        return
    zone = settings().zone()
    sections = (
        ("You owe, overdue:", [r for r in owes if r.due_us < as_of]),
        (f"You owe, due within {within:g} days:", [r for r in owes if r.due_us >= as_of]),
        ("Owed to you:", owed),
    )
    if not shown:
        click.echo(
            f"Nothing due: {handle} owes nothing and is owed nothing within {within:g} days."
        )
        return
    for title, chosen in sections:
        if not chosen:
            continue
        click.echo(title)
        for row in chosen:
            line = f"  {sentence(row.data, handle, zone, as_of)} ({lateness(row.due_us, as_of)})"
            click.echo(safe(line))


def person_or_me(ledger: Ledger, handle: str | None, known_at: int | None) -> str:
    """HANDLE as given, else the configured identity; either must be a known person."""
    from ledger.api import View

    if handle is None:
        handle = me(ledger)
        if handle is None:
            raise LedgerError(
                "whose? name a HANDLE, or say who you are: me = \"HANDLE\" at the top of the "
                "config file, or REFERRAL_LEDGER_ME"
            )
    if View(ledger, known_at).person(handle) is None:
        raise LedgerError(f"unknown person {handle!r}")
    return handle


def item(row: Row, as_of: int) -> dict[str, Any]:
    """An obligation as `--json` prints it: the alert's fields, and whether it is overdue."""
    data = {k: v for k, v in row.public().items() if k != "category"}
    return {**data, "overdue": row.due_us < as_of}
