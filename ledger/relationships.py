"""How two people know each other: their current accounts of it, and its strength.

One person's **account** of another is given by their `connection-declared` with them, or,
inside a referral, by the request's `relationship` (the requester's account of the referrer)
and a vetting's `relationship` (the referrer's account of the requester). An account counts
from its event's `at` on, everywhere; retracted events give none (the `View` leaves them out).
A's **current account** of B at a world time is the latest (by `at`, then `seq`) of A's
accounts given by then. An account is weak when it names `linkedin-only` or `met-once`; a
relationship **starts** at the earliest start of any non-weak account of it by either side, an
account's start being its `since` (00:00 UTC) when given, else its event's `at`.

Everything here reads a `View`, so it respects the view's `known_at`; the world time is the
`at` argument of each question (None: everything the view holds).
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .events import RequestAmended
from .kinds import KINDS, WEAK_KINDS
from .views import Parties, micros, parties

if TYPE_CHECKING:
    from .views import View

# How strong an account is, to compare two of them (the contract's strength ranks).
STRENGTH: Mapping[str, int] = MappingProxyType(
    {
        "linkedin-only": 0,
        "met-once": 1,
        "acquaintance": 2,
        "worked-together": 3,
        "managed": 3,
        "reported-to": 3,
        "friend": 4,
        "family": 4,
    }
)
assert set(STRENGTH) == set(KINDS)

# `request-amended` changes the request: its fields replace the request's (the keys of its
# `preparation` replace those keys), from its `at` on (`RequestAmended.amend`).
AMENDED = "request-amended"


@dataclass(frozen=True)
class Account:
    """One person's account (`by`) of how they know another (`of`), as one event gave it."""

    by: str
    of: str
    kind: str
    at: int  # the event's `at`, microseconds
    seq: int
    event: str  # the id of the event that gave it
    type: str  # that event's type
    referral: str | None  # the referral whose request or vetting gave it; None if declared
    since: int | None = None  # a declaration's `since`, microseconds at 00:00 UTC

    @property
    def start(self) -> int:
        """When the account says the relationship began: its `since`, else its `at`."""
        return self.since if self.since is not None else self.at

    @property
    def weak(self) -> bool:
        return self.kind in WEAK_KINDS

    @property
    def strength(self) -> int:
        return STRENGTH[self.kind]

    @property
    def declared(self) -> bool:
        """Given by a `connection-declared` rather than inside a referral."""
        return self.referral is None


def _order(account: Account) -> tuple[int, int]:
    return account.at, account.seq


class Relationship:
    """Both people's accounts of how they know each other, over world time."""

    def __init__(self, a: str, b: str, accounts: Iterable[Account]):
        self.people = (a, b)
        self.accounts: list[Account] = sorted(accounts, key=_order)
        # The accounts given by a world time are the first so many: bisect their `at`s.
        self._ats = [x.at for x in self.accounts]

    @functools.cached_property
    def _starts(self) -> list[int | None]:
        """`start` once so many accounts are given: the earliest start of a non-weak one."""
        starts: list[int | None] = [None]
        for x in self.accounts:
            earliest = starts[-1]
            if not x.weak and (earliest is None or x.start < earliest):
                earliest = x.start
            starts.append(earliest)
        return starts

    def _count(self, at: int | None) -> int:
        """How many accounts had been given by world time `at` (all of them when None)."""
        return len(self._ats) if at is None else bisect_right(self._ats, at)

    def given(self, at: int | None = None) -> list[Account]:
        """The accounts given by world time `at` (all of them when None), by `at` then `seq`."""
        return self.accounts[: self._count(at)]

    def current(self, by: str, at: int | None = None) -> Account | None:
        """`by`'s current account at world time `at`: the latest they had given by then."""
        accounts = self.accounts
        for index in range(self._count(at) - 1, -1, -1):
            if accounts[index].by == by:
                return accounts[index]
        return None

    def start(self, at: int | None = None) -> int | None:
        """When the relationship started, as the accounts given by `at` tell: the earliest start
        of any non-weak account by either side; None while every account is weak."""
        return self._starts[self._count(at)]

    def moments(self) -> list[int]:
        """The world times at which an account was given, in order."""
        return list(dict.fromkeys(self._ats))

    def __repr__(self) -> str:
        a, b = self.people
        return f"Relationship({a!r}, {b!r}, {len(self.accounts)} accounts)"


def declared(event: Mapping[str, Any]) -> Account:
    """The account a `connection-declared` gives."""
    since = event.get("since")
    return Account(
        by=event["by"],
        of=event["with"],
        kind=event["kind"],
        at=micros(event["at"]),
        seq=event["seq"],
        event=event["id"],
        type=event["type"],
        referral=None,
        since=micros(f"{since}T00:00:00Z") if isinstance(since, str) else None,
    )


def referral_accounts(events: Sequence[Mapping[str, Any]]) -> list[Account]:
    """The accounts a referral's live events give: the request's `relationship` (and each
    amendment's, from the amendment's `at`), and each vetting's."""
    return _given_in(events, parties(events))


def _given_in(events: Sequence[Mapping[str, Any]], p: Parties) -> list[Account]:
    """`referral_accounts` of the events whose parties are `p`."""
    if p.request is None or p.requester is None or p.referrer is None:
        return []
    key = p.request["referral"]
    found = []
    for event in events:
        kind = event.get("relationship")
        if not isinstance(kind, str):
            continue
        if event["type"] in ("referral-requested", AMENDED):
            by, of = p.requester, p.referrer
        elif event["type"] == "request-vetted":
            by, of = p.referrer, p.requester
        else:
            continue
        at = micros(event["at"])
        found.append(Account(by, of, kind, at, event["seq"], event["id"], event["type"], key))
    return found


def _has_questions(questions: Any) -> bool:
    """At least one non-empty question; a forgotten list (erased text) still was a question."""
    if isinstance(questions, Mapping):
        return "forgotten" in questions
    if isinstance(questions, Sequence) and not isinstance(questions, str):
        return any(q for q in questions)
    return False


def lacking_preparation(request: Mapping[str, Any]) -> list[str]:
    """What a request (as amended: see `request_as_of`) lacks of the preparation the
    contract's `unprepared-request` asks for, in words; empty when it lacks nothing."""
    prep = request.get("preparation") or {}
    lacks = []
    if not prep.get("researched_company"):
        lacks.append("research on the company")
    if not prep.get("researched_person"):
        lacks.append("research on the person")
    if not _has_questions(prep.get("questions")):
        lacks.append("a question to ask")
    if not prep.get("follow_up_plan"):
        lacks.append("a follow-up plan")
    if request.get("role") and not prep.get("qualifications"):
        lacks.append("qualifications for the role")
    return lacks


def request_as_of(
    events: Sequence[Mapping[str, Any]], at: int | None = None
) -> Mapping[str, Any] | None:
    """The referral's request as amended by world time `at` (every amendment when None), or
    None if it has no live request. Keeps the request's `id`, `at` and `seq`."""
    request = next((e for e in events if e["type"] == "referral-requested"), None)
    if request is None:
        return None
    amendments = [
        e for e in events if e["type"] == AMENDED and (at is None or micros(e["at"]) <= at)
    ]
    return MappingProxyType(RequestAmended.amend(request, amendments))


# Relationships already read are kept in the view's memos (a view's events do not change while
# it lives): by the two people in the order asked, and each person's `relationships`.
_PAIRS = "ledger.relationships:pairs"
_KNOWN = "ledger.relationships:known"


def relationship(view: View, a: str, b: str) -> Relationship:
    """Everything the view holds of how `a` and `b` know each other: both sides'
    declarations, and the requests and vettings of the referrals between them."""
    cache: dict[tuple[str, str], Relationship] = view.memo(_PAIRS)
    found = cache.get((a, b))
    if found is None:
        # The same accounts either way round (ordered by `at` then `seq`, which is unique).
        other_way = cache.get((b, a))
        accounts = other_way.accounts if other_way is not None else _accounts(view, a, b)
        found = cache[a, b] = Relationship(a, b, accounts)
    return found


def _accounts(view: View, a: str, b: str) -> list[Account]:
    accounts = [declared(d) for d in view.declarations_between(a, b)]
    # The roles are kept by the view: the events are read only of the referrals between the
    # two, together (asking for one at a time would read the rest of a person's with it).
    between = []
    for key in sorted(set(view.referrals_of(a)) & set(view.referrals_of(b))):
        roles = view.roles(key)
        if {roles.requester, roles.referrer} == {a, b}:
            between.append(key)
    view.preload(between)
    for key in between:
        accounts += _given_in(view.referral(key), view.parties(key))
    return accounts


def relationships(view: View, handle: str) -> dict[str, Relationship]:
    """`relationship` of `handle` with everyone they have an account with that the view can
    find, by handle: the people they declared, and the other parties of their referrals
    (whose own declarations about `handle` count). A declaration about `handle` by someone
    else is found only through one of these: the ledger keeps no index of whom declarations
    name."""
    cache: dict[str, dict[str, Relationship]] = view.memo(_KNOWN)
    if handle not in cache:
        others: dict[str, None] = {}
        for declaration in view.declarations(handle):
            others[declaration["with"]] = None
        for key in view.referrals_of(handle):
            p = view.roles(key)
            if handle in (p.requester, p.referrer, p.target):
                for person in (p.requester, p.referrer, p.target):
                    if person is not None and person != handle:
                        others[person] = None
        cache[handle] = {other: relationship(view, handle, other) for other in sorted(others)}
    return dict(cache[handle])


__all__ = [
    "AMENDED",
    "STRENGTH",
    "Account",
    "Relationship",
    "declared",
    "referral_accounts",
    "relationship",
    "relationships",
    "request_as_of",
]
