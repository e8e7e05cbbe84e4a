"""Reputation: a score per person as requester, referrer and target, with its explanation."""

from __future__ import annotations

from collections.abc import Mapping
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


@hookimpl
def person_facts(ledger: Any, handle: str, as_of: int, known_at: int | None) -> Mapping[str, Any]:
    """`person show`'s `scores`: the person's as `reputation HANDLE --json` gives them."""
    from .command import _scores

    (found,) = _scores(ledger, as_of, known_at, handle)
    return {"scores": {role: found[role] for role in ("as_requester", "as_referrer", "as_target")}}
