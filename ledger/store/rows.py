"""The queries of plugins' rows (`rl_rows`), as the views read them (see `projections.py`).

Written for the facade's `Cursor`: `?` placeholders and `{p}` before each table's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_NEVER = 2**63 - 1  # an end_us later than any time


def select_rows(
    category: str,
    as_of: int,
    person: str | None,
    referral: str | None,
    involving: str | None,
    ended: bool,
    columns: str,
    people: Sequence[str] | None = None,
    *,
    projections: Sequence[str] | None = None,
) -> tuple[str, list[Any]]:
    """The SELECT (and its parameters) of a category's rows in a view; of these `projections`
    alone, unless None (see `projections.visible_projections`).

    Rows involving a person are those they owe (`person`) and those owed to them (`owed_to`),
    read as two disjoint halves: with `person = ? OR owed_to = ?` the planner picks the
    category's index and reads every row of the category, on a large ledger thousands of times
    what it returns."""
    sql = "category = ? AND start_us <= ?"
    params: list[Any] = [category, as_of]
    only, names = only_projections(projections)
    sql += only
    params += names
    if not ended:
        narrow = person is not None or referral is not None or involving or people is not None
        # With a person or a referral to look up by, an indexable `end_us IS NULL OR end_us > ?`
        # tempts SQLite into reading the whole category through its index; COALESCE is not
        # indexable, so the narrower index is used.
        sql += (
            f" AND COALESCE(end_us, {_NEVER}) > ?"
            if narrow
            else " AND (end_us IS NULL OR end_us > ?)"
        )
        params.append(as_of)
    if person is not None:
        sql += " AND person = ?"
        params.append(person)
    if referral is not None:
        sql += " AND referral = ?"
        params.append(referral)
    if people is not None:
        sql += f" AND person IN ({','.join('?' * len(people)) or 'NULL'})"
        params += people
    statement = f"SELECT {columns} FROM {{p}}rl_rows WHERE {sql}"
    if involving is None:
        return statement, params
    owed = f"{statement} AND person = ?"
    owed_to = f"{statement} AND owed_to = ? AND (person IS NULL OR person <> ?)"
    return f"{owed} UNION ALL {owed_to}", [*params, involving, *params, involving, involving]


def only_projections(names: Sequence[str] | None) -> tuple[str, list[Any]]:
    """The condition (and its parameters) that keeps the rows of these projections alone, or
    nothing for None."""
    if names is None:
        return "", []
    return f" AND projection IN ({','.join('?' * len(names)) or 'NULL'})", list(names)


def in_listing_order(statement: str, text_order: str) -> str:
    """`statement` (a `select_rows`) in the order the read commands list rows: by `start`, then
    referral, kind and person (then projection and content, so that ties come out alike on
    every database). `text_order` is the backend's, for text in code point order."""
    order = ", ".join(
        [
            "start_us",
            f"COALESCE(referral, ''){text_order}",
            f"kind{text_order}",
            f"COALESCE(person, ''){text_order}",
            f"projection{text_order}",
            "data",
        ]
    )
    return f"SELECT * FROM ({statement}) AS found ORDER BY {order}"
