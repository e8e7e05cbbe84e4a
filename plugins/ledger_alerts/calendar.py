"""The `calendar` command: every open obligation as an RFC 5545 to-do (`VTODO`), with a `UID`
that stays the same across runs, so a calendar app that subscribes updates, not duplicates."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING

import click

from ledger.api import check_output, get_ledger, replacing_output, time_options

from .due import person_or_me

if TYPE_CHECKING:
    from ledger.api import Row

PRODID = "-//referral-ledger//calendar//EN"


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write the calendar to this file (whole, or not at all) instead of stdout.",
)
@click.option("--person", metavar="HANDLE", help="Only what HANDLE owes or is owed.")
@time_options
def calendar(output: str, person: str | None, as_of: int, known_at: int | None) -> None:
    """Write every open obligation as an iCalendar (RFC 5545) to-do with its due time.

    \b
    Example:
      referral-ledger calendar -o ~/referrals.ics
      referral-ledger calendar --person ana -o ana.ics
    """
    from ledger.api import open_obligations, settings

    ledger = get_ledger()
    if person is not None:
        person = person_or_me(ledger, person, known_at)
    if output != "-":
        check_output(output)
    found = open_obligations(ledger, as_of=as_of, known_at=known_at, involving=person)
    data = ics(found, person, settings().zone(), as_of)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    with replacing_output(output) as out:
        out.write(data)
    click.echo(f"{len(found)} to-do(s) written to {output}.", err=True)


def ics(found: Iterable[Row], person: str | None, zone: tzinfo, as_of: int) -> bytes:
    """The calendar file: CRLF line ends, long lines folded, text escaped (RFC 5545 3.1, 3.3.11)."""
    from ledger.api import micros

    from .phrasing import sentence

    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN"]
    lines.append("X-WR-CALNAME:" + escape(f"Referrals{f' ({person})' if person else ''}"))
    for row in found:
        summary = sentence({**row.data, "due": None}, person, zone, as_of)
        opened = row.data.get("since")
        lines += [
            "BEGIN:VTODO",
            f"UID:{uid(row)}",
            # When the obligation opened: the same on every run, so a subscribed calendar sees
            # no change where there is none.
            f"DTSTAMP:{stamp(micros(opened) if isinstance(opened, str) else row.start_us)}",
            f"DUE:{stamp(row.due_us)}",
            "SUMMARY:" + escape(summary),
            "DESCRIPTION:" + escape(str(row.data.get("message") or row.kind)),
            "STATUS:NEEDS-ACTION",
            "CATEGORIES:" + escape(row.kind),
            "END:VTODO",
        ]
    lines.append("END:VCALENDAR")
    return b"".join(fold(line) + b"\r\n" for line in lines)


def uid(row: Row) -> str:
    """The same for one obligation on every run, whatever else the ledger records."""
    key = [row.projection, row.referral, row.kind, row.person, row.owed_to]
    key.append(row.data.get("opened_by") or row.data.get("since") or str(row.start_us))
    digest = hashlib.sha256("\x1f".join(str(part) for part in key).encode()).hexdigest()
    return f"{digest[:32]}@referral-ledger"


def stamp(micros_value: int) -> str:
    return datetime.fromtimestamp(micros_value // 1_000_000, UTC).strftime("%Y%m%dT%H%M%SZ")


def escape(text: str) -> str:
    """A TEXT value: backslash, semicolon, comma and line breaks escaped."""
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def fold(line: str) -> bytes:
    """A content line folded at 75 octets, never inside a UTF-8 character."""
    data = line.encode("utf-8")
    out = bytearray()
    limit = 75
    while len(data) > limit:
        cut = limit
        while cut > 0 and (data[cut] & 0xC0) == 0x80:  # a continuation byte: cut before it
            cut -= 1
        out += data[:cut] + b"\r\n "
        data = data[cut:]
        limit = 74  # the leading space counts
    return bytes(out + data)

