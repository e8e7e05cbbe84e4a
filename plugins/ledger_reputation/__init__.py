"""Reputation: a score per person as requester, referrer and target, with its explanation."""

from __future__ import annotations

from typing import Any

import click

from ledger import hookimpl


@hookimpl
def register_projections() -> list[Any]:
    from .projection import ConductProjection

    return [ConductProjection()]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .command import reputation

    cli.add_command(reputation)
