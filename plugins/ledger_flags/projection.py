"""The flags projection. Parts: `r:KEY` (a referral's flags) and `p:HANDLE` (how a person's
accounts of their relationships compare with the other side's)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ledger.api import Projection, View

from .judgements import PER_PERSON_FLAGS, REFERRAL_FLAGS, person_misrepresented, rows_of


class FlagsProjection(Projection):
    name = "flags"
    version = "3"  # change it whenever the rows it derives change
    category = "flag"

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        if event["type"] == "event-retracted" and not event.get("referral"):
            retracted = view.event(event["retracts"])
            return self.parts(retracted, view) if retracted is not None else []
        if event.get("referral"):
            return [f"r:{event['referral']}"]
        if event["type"] == "connection-declared":
            # Declarations bear on every referral of either person (ties, connections at the
            # company, who may forward), and on both people's accounts.
            people = (event["by"], event["with"])
            parts = [f"p:{handle}" for handle in people]
            for handle in people:
                parts += [f"r:{key}" for key in view.referrals_of(handle)]
            return parts
        return []

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        scope, _, name = part.partition(":")
        if scope == "p":
            return rows_of(person_misrepresented(name, view))
        return self._referral(name, view)

    def _referral(self, key: str, view: View) -> Iterator[dict[str, Any]]:
        events = view.referral(key)
        parties = view.parties(key)
        if parties.request is None:
            return
        for judge in REFERRAL_FLAGS:
            yield from rows_of(judge(key, view, parties, events))
        for per_person in PER_PERSON_FLAGS:
            for changes in per_person(key, view, parties, events).values():
                yield from rows_of(changes)
