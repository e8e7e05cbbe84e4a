"""The `alerts` command: every row of category "alert", whichever plugin derived it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ledger.cli import emit_json, get_ledger, safe, time_options
from ledger.errors import ExitCode, LedgerError

if TYPE_CHECKING:
    from ledger.projections import Row

DAY_US = 86_400 * 1_000_000


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
    """
    from ledger.config import settings
    from ledger.projections import count_rows, rows
    from ledger.views import View

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
    found = rows(ledger, "alert", as_of=as_of, known_at=known_at, involving=person)
    found.sort(key=lambda r: (r.start_us, r.referral or "", r.kind, r.person or ""))
    if as_json:
        emit_json([_item(row, person) for row in found])
    else:
        _print(found, as_of, person)
    if check and found:
        raise click.exceptions.Exit(ExitCode.FINDINGS)


def _item(row: Row, person: str | None) -> dict[str, Any]:
    item = row.public()
    if person is not None:
        item["direction"] = "owes" if row.person == person else "owed"
    return item


def _print(found: list[Row], as_of: int, person: str | None) -> None:
    if not found:
        click.echo("Nothing overdue.")
        return
    # What is printed comes from the row's JSON (`data`), as in `--json`.
    width = max(len(str(row.data.get("referral") or "-")) for row in found)
    lines = []
    for row in found:
        data = row.data
        late = max(0, as_of - row.start_us + 1) // DAY_US  # our rows start 1µs after due
        overdue = f"{late} day{'s' if late != 1 else ''} overdue" if late else "overdue today"
        mark = ""
        if person is not None:
            mark = "you owe: " if row.person == person else "owed to you: "
        message = data.get("message") or f"{data.get('person')} owes {data.get('owed_to')}"
        where = str(data.get("referral") or "-")
        lines.append(f"{overdue:>17}  {where:<{width}}  {mark}{message} [{data['kind']}]")
    click.echo(safe("\n".join(lines)))
