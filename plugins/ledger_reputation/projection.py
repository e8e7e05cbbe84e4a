"""The reputation projection: conduct per referral, kept incrementally. Penalties come from
the alert and flag rows when scores are read."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

from ledger.api import Projection, View, relationship, source_version

from . import conduct as conduct_rules
from .conduct import conduct


class ConductProjection(Projection):
    name = "reputation"
    version = source_version(conduct_rules, sys.modules[__name__])  # derives from the rules
    category = "reputation"

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        if event["type"] == "event-retracted":
            retracted = view.event(event["retracts"])
            if retracted is not None:
                return self.parts(retracted, view)
        key = event.get("referral")
        if event["type"] == "connection-declared":
            # A declaration is an account of the tie in every referral between the two.
            return _between(view, event["by"], event["with"])
        if not key:
            return []
        if not isinstance(event.get("relationship"), str):
            return [key]
        # A request's, amendment's or vetting's account counts everywhere, like a
        # declaration: in every referral between the same two people.
        requester, referrer = _pair(key, view)
        if requester is None or referrer is None:
            return [key]
        return list(dict.fromkeys([key, *_between(view, requester, referrer)]))

    def derive(self, part: str, view: View) -> Iterable[Mapping[str, Any]]:
        events = view.referral(part)
        p = view.parties(part)
        if p.requester is None or p.referrer is None:
            return []
        return conduct(part, events, relationship(view, p.requester, p.referrer), p)

    def parts_about(
        self, view: View, *, person: str | None = None, referral: str | None = None
    ) -> Iterable[str]:
        """A referral's conduct is its own part; a person's is in the referrals that name them
        (each row's person is named by one of the referral's events)."""
        if referral is not None:
            return [referral]
        assert person is not None
        return view.referrals_of(person)


def _between(view: View, a: str, b: str) -> list[str]:
    """The referrals that `a` and `b` both take part in."""
    theirs = set(view.referrals_of(b))
    return [key for key in view.referrals_of(a) if key in theirs]


def _pair(key: str, view: View) -> tuple[str | None, str | None]:
    """The requester and referrer of a referral, even once its request is retracted (then
    read from the retracted request)."""
    p = view.parties(key)
    if p.request is not None:
        return p.requester, p.referrer
    request = next(
        (e for e in view.referral_history(key) if e["type"] == "referral-requested"), None
    )
    return (request["by"], request["referrer"]) if request is not None else (None, None)
