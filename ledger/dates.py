"""Friendly dates for the time options: `YYYY-MM-DD`, `today`, `yesterday`, `now`, `N days ago`,
read in a time zone. Pure: the caller gives the clock and the zone; no I/O.

Two readings, as the contract says. A moment (`--at`, `--on`), as git reads a date without a
time: that day at the current time of day, or now if that would be in the future; `today` is
now, `yesterday` and `N days ago` are now less that many days. A bound (`--as-of`,
`--known-at`): a day means through its end, so `--as-of today` includes all of today.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, tzinfo

from .events import to_micros as _micros

FORMS = "YYYY-MM-DD, today, yesterday, now or N days ago"
MAX_DAYS_AGO = 100_000
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_DAYS_AGO = re.compile(r"(\d{1,6}) days? ago\Z")


def read_friendly(value: str, *, now: datetime, zone: tzinfo, through_day: bool) -> int | None:
    """Microseconds since the epoch that a friendly date names, or None when `value` is none
    of the friendly forms (then it is read as ISO 8601). Raises ValueError for a friendly form
    that names no real day."""
    text = " ".join(value.strip().lower().split())
    local_now = now.astimezone(zone)
    if text == "now":
        return _micros(now)
    if text in ("today", "yesterday") or _DAYS_AGO.match(text):
        back = 0 if text == "today" else 1 if text == "yesterday" else _days_ago(text)
        if through_day:
            return _end_of(local_now.date() - timedelta(days=back), zone)
        return _micros(now - timedelta(days=back))
    if _DAY.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is not a real day (YYYY-MM-DD)") from None
        if through_day:
            return _end_of(day, zone)
        moment = _micros(datetime.combine(day, local_now.timetz().replace(tzinfo=None), zone))
        return min(moment, _micros(now))
    return None


def later_day(value: str, *, now: datetime, zone: tzinfo) -> bool:
    """Whether `value` is a `YYYY-MM-DD` after today in `zone`: a moment option reads it as now."""
    text = value.strip()
    if not _DAY.match(text):
        return False
    try:
        return date.fromisoformat(text) > now.astimezone(zone).date()
    except ValueError:
        return False


def _days_ago(text: str) -> int:
    match = _DAYS_AGO.match(text)
    assert match is not None
    days = int(match.group(1))
    if days > MAX_DAYS_AGO:
        raise ValueError(f"{text!r}: at most {MAX_DAYS_AGO} days ago")
    return days


def _end_of(day: date, zone: tzinfo) -> int:
    """The last microsecond of `day` in `zone`: just before the next day starts there."""
    return _micros(datetime.combine(day + timedelta(days=1), time(), zone)) - 1

