"""The alerts projection: one part per referral, re-derived when one of its events arrives."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from ledger.api import Projection, View, settings

from . import obligations

# The version of the code below, apart from the rules; the rules' own version is their data.
CODE_VERSION = "3"


class AlertsProjection(Projection):
    name = "alerts"
    category = "alert"

    @property
    def due(self) -> Mapping[str, float]:  # type: ignore[override]
        """The `[due]` keys of the rules, with their defaults (the contract's)."""
        return {rule.due_key: rule.due_days for rule in obligations.RULES}

    @property
    def version(self) -> str:  # type: ignore[override]
        """A digest of this code's version and of every rule: a changed rule rebuilds the
        alerts. (A changed due time does too: the ledger adds the `due` settings in force.)"""
        rules = [rule.signature() for rule in obligations.RULES]
        text = json.dumps([CODE_VERSION, rules], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        referral = event.get("referral")
        return [referral] if referral else []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        events = view.referral(part)
        return obligations.obligations(part, events, settings().due_micros, view.parties(part))

    def parts_about(
        self, view: View, *, person: str | None = None, referral: str | None = None
    ) -> Iterable[str]:
        """A referral's obligations are its own; a person's are in the referrals that name
        them (whoever owes or is owed is named by one of its events)."""
        if referral is not None:
            return [referral]
        assert person is not None
        return view.referrals_of(person)
