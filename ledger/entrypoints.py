"""Entry points of one group, read straight from the installed `*.dist-info` folders.

`importlib.metadata` costs a third of `--help`'s startup (it imports the `email` package to
parse metadata); reading `entry_points.txt` files needs only `os`. Anything unusual on
`sys.path` (a zip or egg file) falls back to `importlib.metadata`.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator
from typing import Any

_SUFFIXES = (".dist-info", ".egg-info")


class Distribution:
    """The little of an installed distribution the plugin host shows: name and version."""

    def __init__(self, path: str):
        self._path = path
        self._headers: dict[str, str] | None = None

    def _read(self) -> dict[str, str]:
        if self._headers is None:
            self._headers = {}
            for name in ("METADATA", "PKG-INFO"):
                try:
                    with open(os.path.join(self._path, name), encoding="utf-8") as handle:
                        for line in handle:
                            if not line.strip():
                                break
                            key, sep, value = line.partition(":")
                            if sep and not line[0].isspace():
                                self._headers.setdefault(key.strip(), value.strip())
                    break
                except OSError:
                    continue
        return self._headers

    @property
    def metadata(self) -> dict[str, str]:
        return self._read()

    @property
    def version(self) -> str | None:
        return self._read().get("Version")


class EntryPoint:
    def __init__(self, name: str, value: str, dist: Distribution):
        self.name = name
        self.value = value
        self.dist = dist

    def load(self) -> Any:
        module, _, attr = self.value.partition(":")
        loaded: Any = importlib.import_module(module.strip())
        for part in filter(None, attr.strip().split(".")):
            loaded = getattr(loaded, part)
        return loaded


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _sections(text: str, group: str) -> Iterator[tuple[str, str]]:
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            continue
        if current == group and "=" in line:
            name, _, value = line.partition("=")
            yield name.strip(), value.strip()


def entry_points(*, group: str) -> list[Any]:
    """Every entry point of `group`, the first distribution of each name on `sys.path` winning,
    as `importlib.metadata.entry_points(group=...)` would give them."""
    if any(os.path.isfile(entry) for entry in sys.path if entry):
        from importlib.metadata import entry_points as stdlib_entry_points

        return list(stdlib_entry_points(group=group))
    found: list[Any] = []
    seen: set[str] = set()
    for entry in sys.path:
        directory = entry or "."
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            if not name.endswith(_SUFFIXES):
                continue
            stem = name.rsplit(".", 1)[0]
            key = _normalize(stem.split("-", 1)[0])
            if key in seen:
                continue
            seen.add(key)
            path = os.path.join(directory, name)
            try:
                with open(os.path.join(path, "entry_points.txt"), encoding="utf-8") as handle:
                    text = handle.read()
            except OSError:
                continue
            dist = Distribution(path)
            found.extend(EntryPoint(ep, value, dist) for ep, value in _sections(text, group))
    return found
