"""The event type this plugin adds. Its `type` name is stored forever: never rename it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from ledger import Event
from ledger.api import Handle, Text


class ObligationWaived(Event):
    """`by` lets `person` off an obligation of `kind` that `person` owes them, from its `at` on.

    The obligation then ends, met and costing nothing. The plugin refuses a waiver of an
    obligation that is not open at the waiver's `at` (`validate_event`)."""

    type: Literal["obligation-waived"]
    referral: Handle
    by: Handle
    kind: Text
    person: Handle
    note: Text | None = None
    handles: ClassVar[tuple[str, ...]] = ("by", "person")
    personal: ClassVar[tuple[str, ...]] = ("note",)

    @classmethod
    def describe(cls, record: Mapping[str, Any], requester: str | None = None) -> str:
        """One line for `audit` and `Ledger.describe`; the audit adds the note itself."""
        return f"{record['by']} waived {record['person']}'s {record['kind']}"
