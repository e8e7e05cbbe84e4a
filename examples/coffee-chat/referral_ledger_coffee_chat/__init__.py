"""Coffee chats for referral-ledger: a new event type, an alert, a flag and a command.

Every hook implementation is here, so this file is the plugin at a glance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from ledger import hookimpl


@hookimpl
def register_event_types() -> list[type]:
    from .events import CoffeeChat, CoffeeChatThanks

    return [CoffeeChat, CoffeeChatThanks]


@hookimpl
def register_projections() -> list[Any]:
    from .projections import ChatLog, ChatThenAsk, ThanksMissing

    return [ThanksMissing(), ChatThenAsk(), ChatLog()]


@hookimpl
def register_commands(cli: click.Group) -> None:
    from .command import coffee_chats

    cli.add_command(coffee_chats)


@hookimpl
def validate_event(event: Mapping[str, Any]) -> str | None:
    if event["type"] == "coffee-chat" and event["by"] == event["with"]:
        return "a coffee chat takes two people: 'by' and 'with' must differ"
    if event["type"] == "coffee-chat-thanks" and event["by"] == event["to"]:
        return "nobody thanks themselves for a coffee chat"
    return None


@hookimpl
def event_recorded(event: Mapping[str, Any]) -> None:
    if event["type"] == "coffee-chat":
        from ledger.api import settings

        days = settings().due["coffee-chat-thanks"]
        click.echo(
            f"Reminder: {event['by']} owes {event['with']} a thank-you for the coffee chat "
            f"within {days:g} days.",
            err=True,
        )
