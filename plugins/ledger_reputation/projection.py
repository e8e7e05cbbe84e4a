"""The reputation projection: good conduct per referral, kept incrementally. Penalties come
from the alert and flag rows when scores are read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ledger.api import Projection, View

from .conduct import conduct


class ConductProjection(Projection):
    name = "reputation"
    version = "2"  # change it whenever the rows it derives change
    category = "reputation"

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        referral = event.get("referral")
        return [referral] if referral else []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        return conduct(part, view.referral(part))
