"""The alerts projection: one part per referral, re-derived when one of its events arrives."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ledger.api import Projection, View, settings

from .obligations import obligations


class AlertsProjection(Projection):
    name = "alerts"
    category = "alert"

    @property
    def version(self) -> str:  # type: ignore[override]  # the base class has a plain attribute
        # The stored rows depend on the due times: a changed config rebuilds them.
        return "2;" + settings().due_signature()

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        referral = event.get("referral")
        return [referral] if referral else []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        return obligations(part, view.referral(part), settings().due_micros)
