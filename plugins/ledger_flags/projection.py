"""The flags projection. Parts: `r:KEY` (a referral's flags) and `p:HANDLE` (how a person's
current accounts of their relationships compare with the other side's, whichever referral or
declaration gave them)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ledger.api import Projection, View, relationship, relationships, source_version

from . import judgements
from .judgements import PER_PERSON_FLAGS, REFERRAL_FLAGS, person_misrepresented, rows_of

# What `multiple-referrers-same-target` reads of the requester's other referrals: when they
# were requested, their target, whether they were closed or declined.
ACROSS = (
    "referral-requested",
    "request-vetted",
    "request-amended",
    "introduction-made",
    "referral-closed",
)


class FlagsProjection(Projection):
    name = "flags"
    version = source_version(judgements, sys.modules[__name__])  # derives from the rules
    category = "flag"

    def parts(self, event: Mapping[str, Any], view: View) -> Iterable[str]:
        if event["type"] == "event-retracted":
            retracted = view.event(event["retracts"])
            if retracted is None:
                return [f"r:{event['referral']}"] if event.get("referral") else []
            return self.parts(retracted, view)
        if event.get("referral"):
            key = event["referral"]
            if event["type"] not in ACROSS:
                return [f"r:{key}"]
            requester, referrer = _pair(event, view)
            parts = [f"r:{key}"]
            if requester is not None:
                parts += [f"r:{other}" for other in view.referrals_of(requester)]
            if event.get("relationship") and referrer is not None:
                # An account (a request's, a vetting's) counts everywhere, like a declaration:
                # in both people's comparisons and in every referral of either.
                parts += [f"p:{requester}", f"p:{referrer}"]
                parts += [f"r:{other}" for other in view.referrals_of(referrer)]
            return parts
        if event["type"] == "person-updated":
            if "company" not in event:
                return []
            # Whose insiders at a company the person may join or leave: the referrals of
            # everyone with an account of them (either side's), and their own.
            handle = event["handle"]
            people = {handle, *relationships(view, handle), *view.declaring(handle)}
            return [f"r:{key}" for who in sorted(people) for key in view.referrals_of(who)]
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
            return (
                row
                for changes in person_misrepresented(name, view).values()
                for row in rows_of(changes)
            )
        return self._referral(name, view)

    def parts_about(
        self, view: View, *, person: str | None = None, referral: str | None = None
    ) -> Iterable[str]:
        """A person's flags: their own comparison (`p:`), and those of the referrals that name
        them (each referral flag's person is named by one of its events). A referral's: its
        own, and the comparisons of the people its events name (a misrepresentation names the
        referral whose request or vetting gave an account: its requester's or referrer's)."""
        if referral is not None:
            named = {
                handle
                for event in view.referral_history(referral)
                for handle in (event.get("by"), event.get("referrer"))
                if isinstance(handle, str)
            }
            return [f"r:{referral}", *(f"p:{handle}" for handle in sorted(named))]
        assert person is not None
        return [f"p:{person}", *(f"r:{key}" for key in view.referrals_of(person))]

    def _referral(self, key: str, view: View) -> Iterator[dict[str, Any]]:
        events = view.referral(key)
        parties = view.parties(key)
        if parties.request is None or parties.requester is None or parties.referrer is None:
            return
        rel = relationship(view, parties.requester, parties.referrer)
        for judge in REFERRAL_FLAGS:
            yield from rows_of(judge(key, view, parties, events, rel))
        for per_person in PER_PERSON_FLAGS:
            for changes in per_person(key, view, parties, events, rel).values():
                yield from rows_of(changes)


def _pair(event: Mapping[str, Any], view: View) -> tuple[str | None, str | None]:
    """The requester and referrer of the event's referral, even once its request is
    retracted (then read from the retracted request)."""
    if event["type"] == "referral-requested":
        return event["by"], event["referrer"]
    p = view.parties(event["referral"])
    if p.request is not None:
        return p.requester, p.referrer
    # the last request: a key requested again after a retraction has more than one
    requests = [
        e for e in view.referral_history(event["referral"]) if e["type"] == "referral-requested"
    ]
    request = requests[-1] if requests else None
    return (request["by"], request["referrer"]) if request is not None else (None, None)
