"""The plugin's event types. Their `type` names are stored forever: never rename them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field

from ledger import Event
from ledger.api import Handle, Text


class CoffeeChat(Event):
    """`by` asked for a coffee chat and `with` gave their time (optionally for a referral)."""

    type: Literal["coffee-chat"]
    by: Handle
    with_: Handle = Field(alias="with")
    referral: Handle | None = None
    note: Text | None = None
    # Fields that name people: each must be a known person when the event is recorded.
    handles: ClassVar[tuple[str, ...]] = ("by", "with")
    # Free text is personal data: sealed in the chain, erased by `forget`.
    personal: ClassVar[tuple[str, ...]] = ("note",)

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        """One line for `audit` and `Ledger.describe`; the audit adds the note itself."""
        return f"{record['by']} had a coffee chat with {record['with']}"


class CoffeeChatThanks(Event):
    """`by` thanked `to` for a coffee chat."""

    type: Literal["coffee-chat-thanks"]
    by: Handle
    to: Handle
    referral: Handle | None = None
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "to")
    personal: ClassVar[tuple[str, ...]] = ("note",)

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        return f"{record['by']} thanked {record['to']} for the coffee chat"
