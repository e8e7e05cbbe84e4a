"""A click command whose usage errors follow the contract: `Error: …` first, exit 2."""

from __future__ import annotations

from typing import Any

import click

from ledger.api import LedgerError


class LedgerCommand(click.Command):
    """Reports a bad option value as a LedgerError, so the root group prints `Error: …`.

    Click's own report starts with the usage line; the contract wants the message on stderr
    to start with `Error:`, like every other refusal.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            path = f"{parent.command_path} {info_name}" if parent else (info_name or "")
            # Click lists choices one per line; a refusal is one line.
            message = " ".join(exc.format_message().split())
            raise LedgerError(f"{message} (see '{path} --help')") from None


class LedgerSubgroup(click.Group):
    """A group of friendly commands, whose subcommands report usage errors the same way."""

    command_class = LedgerCommand
