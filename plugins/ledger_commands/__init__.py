"""Friendly commands, one per event type, so nobody has to type JSON for daily use."""

from __future__ import annotations

from typing import Any

import click

from ledger import hookimpl


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .commands import add_commands

    add_commands(cli)


@hookimpl
def register_projections() -> list[Any]:
    from .summaries import SummariesProjection

    return [SummariesProjection()]
