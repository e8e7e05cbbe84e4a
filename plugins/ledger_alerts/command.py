"""The `alerts` command: every row of category "alert", whichever plugin derived it."""

from __future__ import annotations

from typing import Any

import click

from ledger.cli import emit_json, get_ledger, safe, time_options
from ledger.errors import ExitCode, LedgerError

DAY_US = 86_400 * 1_000_000


def public(data: dict[str, Any]) -> dict[str, Any]:
    """A row's JSON without the projection's bookkeeping (its validity interval)."""
    return {k: v for k, v in data.items() if k not in ("start", "end")}


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
    out = []
    for row in found:
        item = public(row.data)
        if person is not None:
            item["direction"] = "owes" if row.person == person else "owed"
        out.append(item)
    if as_json:
        emit_json(out)
    else:
        _print(out, found, as_of, person)
    if check and out:
        raise click.exceptions.Exit(ExitCode.FINDINGS)


def _print(items: list[dict[str, Any]], found: list[Any], as_of: int, person: str | None) -> None:
    if not items:
        click.echo("Nothing overdue.")
        return
    width = max(len(str(item.get("referral") or "-")) for item in items)
    lines = []
    for item, row in zip(items, found, strict=True):
        late = max(0, as_of - row.start_us + 1) // DAY_US  # our rows start 1µs after due
        overdue = f"{late} day{'s' if late != 1 else ''} overdue" if late else "overdue today"
        mark = ""
        if person is not None:
            mark = "you owe: " if item["direction"] == "owes" else "owed to you: "
        message = item.get("message") or f"{item.get('person')} owes {item.get('owed_to')}"
        where = str(item.get("referral") or "-")
        lines.append(f"{overdue:>17}  {where:<{width}}  {mark}{message} [{item['kind']}]")
    click.echo(safe("\n".join(lines)))
