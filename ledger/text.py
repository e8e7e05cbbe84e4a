"""Characters that change how text looks on a screen without being seen, and how to show them."""

from __future__ import annotations

import re

# Bidirectional embeddings, overrides and isolates, the direction marks, zero-width characters
# and the line and paragraph separators: each can make text read as something it is not.
SPOOFING = "\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff"
_SPOOFING = re.compile(f"[{SPOOFING}]")
# What a terminal must never receive as is: C0 and C1 controls but newline and tab, DEL,
# lone surrogates (from undecodable arguments), and the characters above.
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff{SPOOFING}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every control and spoofing character written as an escape (`\\u202e`)."""
    if _UNSAFE.search(text) is None:
        return text  # the common case, and long listings pass through here line by line
    return _UNSAFE.sub(_escape, text)


def plain(text: str) -> bool:
    """Whether `text` is ASCII with nothing for `visible` to escape: shown as it is, each
    character in one column."""
    return text.isascii() and _UNSAFE.search(text) is None


def first_spoofing(text: str) -> str | None:
    """The first spoofing character of `text`, or None."""
    found = _SPOOFING.search(text)
    return found.group() if found else None
