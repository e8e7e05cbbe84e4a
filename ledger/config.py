"""Settings a user can change: a TOML file in the user's config directory, or `--config FILE`.

The `[due]` table holds days per obligation before an alert is raised. Any other table or
top-level key is refused, naming it: a misspelt table would otherwise be silently ignored.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import LedgerError

DAY_US = 86_400 * 1_000_000
MAX_DAYS = 3650
MAX_CONFIG_BYTES = 1024 * 1024

# Every top-level key the file may hold, and what each is. A release (or a plugin) that reads a
# new table adds it here; everything else in the file is refused as a typo.
KNOWN_KEYS: Mapping[str, str] = MappingProxyType({"due": "days before each alert is raised"})

# The contract's `[due]` keys and their defaults, in days.
DEFAULT_DUE: Mapping[str, float] = MappingProxyType(
    {
        "request-unanswered": 7,
        "follow-up-overdue": 3,
        "thank-you-requester": 2,
        "thank-you-referrer": 7,
        "thank-you-target": 7,
        "feedback-missing": 7,
        "referrer-check-in-missing": 14,
        "outcome-not-shared": 7,
    }
)


@dataclass(frozen=True)
class Settings:
    """What the config file says, with the defaults filled in."""

    due: Mapping[str, float] = field(default_factory=lambda: DEFAULT_DUE)
    path: str | None = None

    def due_micros(self, key: str) -> int:
        """The due time of one `[due]` key, in microseconds."""
        return round(self.due[key] * DAY_US)

    def due_signature(self) -> str:
        """A short text that changes whenever any due time does (for projection versions)."""
        return ",".join(f"{key}={self.due[key]:g}" for key in sorted(self.due))


def default_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("referral-ledger")) / "config.toml"


_chosen: str | None = None
_cache: dict[tuple[str, int, int], Settings] = {}


def choose(path: str | None) -> None:
    """Use this file (from `--config`) instead of the default one; None: the default."""
    global _chosen
    _chosen = path


# Inside `read_once()`: a list that holds the settings once read.
_once: ContextVar[list[Settings] | None] = ContextVar("referral_ledger_settings", default=None)


@contextmanager
def read_once() -> Iterator[None]:
    """Within the block, `settings()` reads the file the first time only: a catch-up asks for
    every part it derives, and its rows must agree with the version it records."""
    token = _once.set([])
    try:
        yield
    finally:
        _once.reset(token)


def settings() -> Settings:
    """The settings in force: the chosen file, else the default file if it exists."""
    once = _once.get()
    if once:
        return once[0]
    if _chosen is not None:
        found = load_settings(_chosen, required=True)
    else:
        found = load_settings(str(default_config_path()), required=False)
    if once is not None:
        once.append(found)
    return found


def load_settings(path: str, *, required: bool = True) -> Settings:
    """Read and check one settings file. A missing file is an error only when `required`."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if required:
            raise LedgerError(f"config file {path!r} does not exist") from None
        return Settings()
    except OSError as exc:
        raise LedgerError(f"cannot read config file {path!r}: {exc.strerror}") from None
    key = (path, info.st_mtime_ns, info.st_size)
    if key not in _cache:
        _cache.clear()
        _cache[key] = _parse(path)
    return _cache[key]


def _parse(path: str) -> Settings:
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
    due = dict(DEFAULT_DUE)
    table = document.get("due", {})
    if not isinstance(table, dict):
        raise LedgerError(f"config file {path!r}: `due` must be a table of days")
    problems = [_check_due(name, value) for name, value in table.items()]
    problems = [p for p in problems if p]
    if problems:
        raise LedgerError([f"config file {path!r}: {p}" for p in problems])
    due.update(table)
    return Settings(due=MappingProxyType(due), path=path)


def _check_due(name: str, value: Any) -> str | None:
    if name not in DEFAULT_DUE:
        known = ", ".join(DEFAULT_DUE)
        return f"[due] has no key {name!r} (known: {known})"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"[due] {name} must be a number of days, not {value!r}"
    if not math.isfinite(value) or value < 0 or value > MAX_DAYS:
        return f"[due] {name} must be between 0 and {MAX_DAYS} days, not {value!r}"
    return None
