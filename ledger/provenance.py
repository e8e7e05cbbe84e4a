"""Who stored each event (`recorded_by`), where the database cannot say.

On PostgreSQL the server names the session's login role (see `store/postgres.py` and
`store/team.py`). A SQLite file has no login: an event is recorded by the configured identity,
`me`, or else by the operating system's login name.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import Any

# At most this many characters of a `recorded_by` (PostgreSQL's role names are at most 63 bytes).
MAX_RECORDED_BY = 128


def configured_me() -> str | None:
    """The configured identity: `REFERRAL_LEDGER_ME`, else the config file's `me`."""
    from .plugins import me

    return me()


def local_identity() -> str:
    """Who records an event in a SQLite ledger: `me`, else the login name, else the user id."""
    found = configured_me()
    if found is None:
        try:
            found = getpass.getuser()
        except Exception:  # noqa: BLE001 — no login name (a container without a passwd entry, …)
            found = None
    if found is not None and recorded_by_problem(found) is None:
        return found  # (a name an export could not carry back is not used)
    return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def recorded_by_problem(value: object) -> str | None:
    """Why a `recorded_by` given in a file cannot be one, or None."""
    if not isinstance(value, str) or not value:
        return "recorded_by: must be a non-empty string (who stored the event)"
    if len(value) > MAX_RECORDED_BY or not value.isprintable():
        return f"recorded_by: must be at most {MAX_RECORDED_BY} printable characters"
    return None


def recorder_shown(
    event: Mapping[str, Any], members: Mapping[str, str] | None = None
) -> str | None:
    """Who stored an event (export format), when that is worth showing: when it is not the
    event's `by` — neither that handle nor (on a team ledger, `members`: role to handle) its
    member role. An admin recording on behalf of someone; an event with no `by`."""
    found = event.get("recorded_by")
    if not isinstance(found, str):
        return None
    by = event.get("by")
    if found == by or (members is not None and by is not None and members.get(found) == by):
        return None
    return found
