"""The `alerts` command: every row of category "alert", whichever plugin derived it."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

import click

from ledger.api import ExitCode, LedgerError, emit_json_array, get_ledger, table, time_options

if TYPE_CHECKING:
    from ledger.api import Row

DAY_US = 86_400 * 1_000_000
PAGE = 1000  # lines printed at a time


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the alerts as a JSON array.")
@click.option("--person", metavar="HANDLE", help="Only what HANDLE owes or is owed.")
@click.option("--check", is_flag=True, help="Exit with status 1 when anything is overdue.")
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print nothing; with --check, only the exit status tells (fast on any ledger size).",
)
@time_options
def alerts(
    as_json: bool,
    person: str | None,
    check: bool,
    quiet: bool,
    as_of: int,
    known_at: int | None,
) -> None:
    """List overdue obligations: who owes what to whom, most overdue first.

    For a scheduled job, `alerts --check --quiet` exits 1 when anything is overdue and prints
    nothing: it counts the alerts instead of reading them.

    \b
    Example:
      referral-ledger alerts --person ana --as-of 2026-11-30T00:00:00Z
    """
    from ledger.api import View, count_rows, listed, settings

    if quiet and as_json:
        raise click.UsageError("--quiet prints nothing; it cannot be used with --json")
    settings()  # a broken config file is an error before anything is derived
    ledger = get_ledger()
    if person is not None and View(ledger, known_at).person(person) is None:
        raise LedgerError(f"unknown person {person!r}")
    if quiet:
        overdue = count_rows(ledger, "alert", as_of=as_of, known_at=known_at, involving=person)
        if check and overdue:
            raise click.exceptions.Exit(ExitCode.FINDINGS)
        return
    found = listed(ledger, "alert", as_of=as_of, known_at=known_at, involving=person)
    if as_json:
        overdue = emit_json_array(_item(row, person) for row in found)
    else:
        overdue = _print(found, as_of, person)
    if check and overdue:
        raise click.exceptions.Exit(ExitCode.FINDINGS)


def _item(row: Row, person: str | None) -> dict[str, Any]:
    item = row.public()
    if person is not None:
        item["direction"] = "owes" if row.person == person else "owed"
    return item


def _print(found: Iterable[Row], as_of: int, person: str | None) -> int:
    """Print the alerts as aligned lines; returns how many. Only the printed text of each is
    kept until all are read (the referrals' column is as wide as the widest)."""
    from ledger.api import settings

    from .phrasing import sentence, where

    zone = settings().zone()
    lines = []
    for row in found:
        data = row.data  # what is printed comes from the row's JSON, as in `--json`
        late = max(0, as_of - row.start_us + 1) // DAY_US  # our rows start 1µs after due
        overdue = f"{late} day{'s' if late != 1 else ''} overdue" if late else "overdue today"
        if person is not None:
            message = sentence(data, person, zone, as_of)
        else:
            message = data.get("message") or f"{data.get('person')} owes {data.get('owed_to')}"
        rest = f"{message} [{data['kind']}]"
        lines.append((f"{overdue:>17}", where(data) if data.get("referral") else "-", rest))
    if not lines:
        click.echo("Nothing overdue.")
        return 0
    shown = table(None, lines, fixed=(0,), colours={0: _colour})
    for page in iter(lambda: list(islice(shown, PAGE)), []):
        click.echo("\n".join(page))
    return len(lines)


def _colour(overdue: str) -> str:
    return "yellow" if overdue.endswith("overdue today") else "red"
