"""Alerts: what each party of a referral owes the others, once it is overdue."""

from __future__ import annotations

from typing import Any

import click

from ledger import hookimpl


@hookimpl
def register_projections() -> list[Any]:
    from .projection import AlertsProjection

    return [AlertsProjection()]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .command import alerts

    cli.add_command(alerts)
