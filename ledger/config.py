"""Settings a user can change: a TOML file in the user's config directory, or `--config FILE`.

At the top of the file, `me = "HANDLE"` names who is using the ledger (the default `--by` of the
friendly commands and the default person of `due`; `REFERRAL_LEDGER_ME` overrides it) and
`timezone = "Europe/Berlin"` the time zone friendly dates are read in (default: the system's).
The `[due]` table holds days per obligation before an alert is raised. Its keys are not fixed
here: the projections of the enabled plugins declare them, with their defaults (the alerts
plugin's rules carry the contract's), and a key that none declares is refused. Any other table
or top-level key is refused too, naming it: a misspelt table would otherwise be silently ignored.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import LedgerError

DAY_US = 86_400 * 1_000_000
MAX_DAYS = 3650
MAX_CONFIG_BYTES = 1024 * 1024
DUE_KEY_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")

# Every top-level key the file may hold, and what each is. A release (or a plugin) that reads a
# new table adds it here; everything else in the file is refused as a typo.
KNOWN_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "me": "your handle: the default --by and person of `due`",
        "timezone": "the IANA time zone friendly dates are read in",
        "due": "days before each alert is raised",
    }
)
ME_ENV = "REFERRAL_LEDGER_ME"


@dataclass(frozen=True)
class Settings:
    """What the config file says, with the declared defaults filled in: `due` holds every
    declared `[due]` key, in days."""

    due: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    path: str | None = None
    me: str | None = None  # the file's `me`; see `me()` for the one in force
    timezone: str | None = None  # an IANA name; None: the system's

    def zone(self) -> tzinfo:
        """The time zone friendly dates are read in: `timezone`, else the system's."""
        if self.timezone is None:
            return datetime.now().astimezone().tzinfo or UTC
        from zoneinfo import ZoneInfo

        return ZoneInfo(self.timezone)

    def due_micros(self, key: str) -> int:
        """The due time of one `[due]` key, in microseconds."""
        return round(self.due[key] * DAY_US)

    def due_signature(self, keys: Iterable[str] | None = None) -> str:
        """A short text that changes whenever the due time of one of `keys` (default: every
        key) does, for a projection's version."""
        chosen = self.due if keys is None else keys
        return ",".join(f"{key}={self.due[key]:g}" for key in sorted(chosen))


def check_due_default(key: str, days: Any) -> str | None:
    """Why a declared `[due]` key or default is not acceptable, or None."""
    if not isinstance(key, str) or not DUE_KEY_RE.match(key):
        return f"[due] key {key!r} must be lowercase words joined by dashes"
    return _check_days(key, days)


def default_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("referral-ledger")) / "config.toml"


_chosen: str | None = None
_cache: dict[tuple[str, int, int], Mapping[str, Any]] = {}


def choose(path: str | None) -> None:
    """Use this file (from `--config`) instead of the default one; None: the default."""
    global _chosen
    _chosen = path


# Inside `read_once()`: a list that holds the settings once read.
_once: ContextVar[list[Settings] | None] = ContextVar("referral_ledger_settings", default=None)


@contextmanager
def read_once() -> Iterator[None]:
    """Within the block, `resolve()` reads the file the first time only: a catch-up asks for
    every part it derives, and its rows must agree with the version it records."""
    token = _once.set([])
    try:
        yield
    finally:
        _once.reset(token)


def resolve(declared: Mapping[str, float]) -> Settings:
    """The settings in force, for the `[due]` keys and defaults that `declared` holds (what the
    enabled plugins declare; `ledger.plugins.settings()` asks them): the chosen file, else the
    default file if it exists."""
    once = _once.get()
    if once:
        return once[0]
    if _chosen is not None:
        found = load_settings(_chosen, declared, required=True)
    else:
        found = load_settings(str(default_config_path()), declared, required=False)
    if once is not None:
        once.append(found)
    return found


def load_settings(path: str, declared: Mapping[str, float], *, required: bool = True) -> Settings:
    """Read and check one settings file against the declared `[due]` keys. A missing file is an
    error only when `required`."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if required:
            raise LedgerError(f"config file {path!r} does not exist") from None
        return Settings(due=MappingProxyType(dict(declared)))
    except OSError as exc:
        raise LedgerError(f"cannot read config file {path!r}: {exc.strerror}") from None
    key = (path, info.st_mtime_ns, info.st_size)
    if key not in _cache:
        _cache.clear()
        _cache[key] = _parse(path)
    return _apply(path, _cache[key], declared)


def _parse(path: str) -> Mapping[str, Any]:
    """The file's keys, checked for everything but which `[due]` keys exist."""
    import tomllib

    from .files import read_small_file

    data = read_small_file(path, MAX_CONFIG_BYTES, f"config file {path!r}")
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise LedgerError(f"config file {path!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise LedgerError(f"cannot read config file {path!r}: {exc}") from None
    unknown = [key for key in document if key not in KNOWN_KEYS]
    if unknown:
        known = ", ".join(f"[{key}]" for key in KNOWN_KEYS)
        raise LedgerError(
            [
                f"config file {path!r}: unknown table or key {key!r} (known: {known})"
                for key in unknown
            ]
        )
    table = document.get("due", {})
    if not isinstance(table, dict):
        raise LedgerError(f"config file {path!r}: `due` must be a table of days")
    problems = [_check_days(name, value) for name, value in table.items()]
    problems += [_check_me(document.get("me")), _check_timezone(document.get("timezone"))]
    problems = [p for p in problems if p]
    if problems:
        raise LedgerError([f"config file {path!r}: {p}" for p in problems])
    return MappingProxyType({**document, "due": MappingProxyType(table)})


def _check_me(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.strip()):
        return None
    return f"`me` must be a person's handle, like me = \"ana\", not {value!r}"


def _check_timezone(value: Any) -> str | None:
    if value is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        if not isinstance(value, str):
            raise ValueError
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"`timezone` must be an IANA time zone name like \"Europe/Berlin\", not {value!r}"
    return None


def _apply(path: str, document: Mapping[str, Any], declared: Mapping[str, float]) -> Settings:
    table = document["due"]
    unknown = [name for name in table if name not in declared]
    if unknown:
        known = ", ".join(declared) or "none: no enabled plugin declares one"
        raise LedgerError(
            [f"config file {path!r}: [due] has no key {n!r} (known: {known})" for n in unknown]
        )
    return Settings(
        due=MappingProxyType({**declared, **table}),
        path=path,
        me=document.get("me"),
        timezone=document.get("timezone"),
    )


def _check_days(name: str, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"[due] {name} must be a number of days, not {value!r}"
    if not math.isfinite(value) or value < 0 or value > MAX_DAYS:
        return f"[due] {name} must be between 0 and {MAX_DAYS} days, not {value!r}"
    return None
