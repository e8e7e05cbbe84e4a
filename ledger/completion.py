"""Shell completion of handles and referral keys, read from the ledger `--db` names.

Completion runs on every press of Tab: it must never fail, never print, and never create a
ledger. Any problem (no ledger, a server that is down, a damaged file) means no suggestions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import click
from click.shell_completion import CompletionItem

if TYPE_CHECKING:
    from .app import Ledger

LIMIT = 200  # suggestions offered at most: a shell lists them all


def complete_handles(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The handles of the ledger's people that start with `incomplete`: a `shell_complete`
    for an argument or option naming a person."""
    return _complete(ctx, incomplete, lambda ledger: ledger.store.person_handles())


def complete_referrals(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The ledger's referral keys that start with `incomplete`: a `shell_complete` for an
    argument or option naming a referral."""
    return _complete(ctx, incomplete, lambda ledger: ledger.store.referral_keys())


def _complete(
    ctx: click.Context, incomplete: str, values: Callable[[Ledger], list[str]]
) -> list[CompletionItem]:
    try:
        ledger = _open(ctx)
    except Exception:  # noqa: BLE001 — completion offers nothing rather than fail
        return []
    try:
        found = values(ledger)
        return [CompletionItem(v) for v in found if v.startswith(incomplete)][:LIMIT]
    except Exception:  # noqa: BLE001
        return []
    finally:
        with contextlib.suppress(Exception):
            ledger.close()


def _open(ctx: click.Context) -> Ledger:
    """The ledger `--db` (or its default) names, opened without creating it (a missing one
    is a LedgerError)."""
    from .app import Ledger
    from .config import choose

    root = ctx.find_root()
    db = root.params.get("db")
    choose(root.params.get("config"))
    return Ledger(db, create=False)


# What a parameter names, by its metavar or (for an argument) its name.
_HANDLE_NAMES = {"HANDLE", "by", "to", "with_", "handle", "person", "referrer", "target"}
_REFERRAL_NAMES = {"REFERRAL", "referral"}


def offer(group: click.Group) -> None:
    """Give every parameter of `group`'s commands (and their subcommands) that names a person
    (metavar HANDLE, or an argument BY, TO, WITH, HANDLE) or a referral (metavar or argument
    REFERRAL, option --referral) the completion above, unless it has its own. Plugins'
    commands get it too, without asking."""
    for command in group.commands.values():
        for param in command.params:
            _offer(command, param)
        if isinstance(command, click.Group):
            offer(command)


def _offer(command: click.Command, param: click.Parameter) -> None:
    # click keeps a parameter's own `shell_complete` here; None when it was given none
    if getattr(param, "_custom_shell_complete", "") is not None:
        return
    if not isinstance(param.type, click.types.StringParamType):
        return
    names = {param.metavar, param.name} if isinstance(param, click.Option) else {param.name}
    if isinstance(param, click.Option) and param.name == "referral":
        names.add("REFERRAL")
    if command.name == "add" and param.name == "handle":
        return  # `person add` names a new person
    if names & _REFERRAL_NAMES:
        param._custom_shell_complete = complete_referrals  # type: ignore[attr-defined]
    elif names & _HANDLE_NAMES:
        param._custom_shell_complete = complete_handles  # type: ignore[attr-defined]
