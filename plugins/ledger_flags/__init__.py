"""Flags: the ways a referral has gone bad, each with its evidence."""

from __future__ import annotations

from typing import Any

import click

from ledger import hookimpl


@hookimpl
def register_projections() -> list[Any]:
    from .projection import FlagsProjection

    return [FlagsProjection()]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .command import flags

    cli.add_command(flags)
