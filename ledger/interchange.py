"""The strict JSON reader for the event interchange format.

Python's `json` lets through NaN, duplicate keys, lone surrogates and unbounded nesting;
this reader refuses all of them, and anything that is not one JSON object.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from .errors import LedgerError

MAX_EVENT_BYTES = 64 * 1024
MAX_DEPTH = 8


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise LedgerError(f"duplicate key {key!r} in one JSON object")
        obj[key] = value
    return obj


def _depth(value: Any) -> int:
    """How deep containers nest, counted without recursion (orjson allows 1024 levels)."""
    deepest = 1
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


# A tuple rather than `dict | list`, which is built anew at each evaluation (`_keys` looks at
# every value of every nested event an import reads).
_CONTAINERS = (dict, list)


def _keys(value: Any) -> int:
    """How many object keys a parsed value holds (called once its depth is known small)."""
    if isinstance(value, dict):
        return len(value) + sum(_keys(v) for v in value.values() if isinstance(v, _CONTAINERS))
    if isinstance(value, list):
        return sum(_keys(v) for v in value if isinstance(v, _CONTAINERS))
    return 0


# In valid JSON a `"` not escaped by a backslash and followed by `:` can only end an object key
# (inside a string a quote is always escaped), so this counts the keys the text writes.
_KEY_END = re.compile(rb'(?<!\\)(?:\\\\)*"[ \t\r\n]*:')
# Without any backslash in the text no quote is escaped, and the look-behind (the slow part of
# the pattern above) has nothing to do.
_KEY_END_UNESCAPED = re.compile(rb'"[ \t\r\n]*:')


def parse_event(data: bytes | str) -> dict[str, Any]:
    """Parse one event object, refusing what the interchange format forbids."""
    if isinstance(data, str):
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError:
            raise LedgerError("input is not valid UTF-8 (lone surrogate)") from None
    if len(data) > MAX_EVENT_BYTES:
        raise LedgerError(f"event is {len(data)} bytes; the limit is {MAX_EVENT_BYTES}")
    if not data.strip():
        raise LedgerError("empty input: expected one JSON object")
    try:
        # orjson refuses NaN/Infinity, invalid UTF-8, lone surrogates and deep nesting.
        value = orjson.loads(data)
    except (orjson.JSONDecodeError, RecursionError) as exc:
        raise LedgerError(f"malformed JSON: {exc}") from None
    if not isinstance(value, dict):
        raise LedgerError(f"expected a JSON object, got a JSON {_json_kind(value)}")
    # `_depth` counts a value one level below its container, so a text with at most
    # MAX_DEPTH - 1 opening brackets (in strings or not) cannot nest too deep: skip the walk.
    brackets = data.count(b"{") + data.count(b"[")
    if brackets >= MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise LedgerError(f"JSON nested deeper than {MAX_DEPTH} levels")
    # orjson keeps the last of duplicate keys silently. Only when the text writes more keys than
    # the parsed objects hold is the (slower) stdlib parser needed, to name the duplicate.
    # (With a single bracket, the object's own, none of its values is a container.)
    keys = len(value) if brackets == 1 else _keys(value)
    key_end = _KEY_END if b"\\" in data else _KEY_END_UNESCAPED
    if len(key_end.findall(data)) != keys:
        json.loads(data, object_pairs_hook=_no_duplicates)
    return value


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def dumps(value: Any) -> bytes:
    """Canonical JSON: sorted keys, UTF-8, no spaces. Used for hashing and storage."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
