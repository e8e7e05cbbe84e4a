"""The `coffee-chats` command."""

from __future__ import annotations

import click

from ledger.api import emit_json, get_ledger, safe, time_options


@click.command(name="coffee-chats")
@click.option("--json", "as_json", is_flag=True, help="Print the chats as a JSON array.")
@click.option("--person", metavar="HANDLE", help="Only chats HANDLE took part in.")
@time_options
def coffee_chats(as_json: bool, person: str | None, as_of: int, known_at: int | None) -> None:
    """List coffee chats, oldest first."""
    from ledger.api import rows

    found = rows(get_ledger(), "coffee-chat", as_of=as_of, known_at=known_at, involving=person)
    chats = sorted(
        (
            {k: v for k, v in r.data.items() if k not in ("start", "end", "person", "owed_to")}
            for r in found
        ),
        key=lambda c: (c["at"], c["id"]),
    )
    if as_json:
        emit_json(chats)
        return
    if not chats:
        click.echo("No coffee chats.")
    for chat in chats:
        about = f"  (referral {chat['referral']})" if chat.get("referral") else ""
        click.echo(safe(f"{chat['at'][:10]}  {chat['by']} with {chat['with']}{about}"))
