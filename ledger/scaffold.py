"""`plugins new NAME`: the skeleton of a plugin distribution that installs and works at once."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from .errors import LedgerError

NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*\Z")


@dataclass(frozen=True)
class Skeleton:
    name: str  # the plugin's (and its command's) name: the entry point's name
    distribution: str
    package: str
    files: dict[str, str]  # relative path -> content


def skeleton(name: str, taken: Collection[str] = ()) -> Skeleton:
    """The files of a new plugin called `name`; `taken` are names it must not use."""
    if not NAME_RE.match(name) or len(name) > 40:
        raise LedgerError(
            f"plugin name {name!r}: use lowercase letters, digits and single dashes, "
            "starting with a letter (like `weekly-digest`)"
        )
    if name in taken:
        raise LedgerError(f"plugin name {name!r} is already a command or a plugin; pick another")
    distribution = f"referral-ledger-{name}"
    package = "referral_ledger_" + name.replace("-", "_")
    function = name.replace("-", "_")
    files = {
        "pyproject.toml": _PYPROJECT.format(name=name, distribution=distribution, package=package),
        "README.md": _README.format(name=name, distribution=distribution, package=package),
        f"{package}/__init__.py": _INIT.format(name=name, function=function),
        "tests/conftest.py": _CONFTEST.format(name=name),
        f"tests/test_{function}.py": _TEST.format(name=name, package=package),
    }
    return Skeleton(name, distribution, package, files)


def write(skel: Skeleton, directory: Path) -> list[Path]:
    """Write the skeleton into `directory`, which must be missing or empty."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise LedgerError(f"{directory} already exists and is not empty; pick another --dir")
    written = []
    for relative, content in skel.files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written


_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{distribution}"
version = "0.1.0"
description = "A referral-ledger plugin."
requires-python = ">=3.11"
dependencies = ["referral-ledger"]

[project.optional-dependencies]
test = ["pytest"]

# The entry point's name is the plugin's name (see `referral-ledger plugins`).
[project.entry-points.referral_ledger]
{name} = "{package}"

[tool.setuptools]
packages = ["{package}"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

_README = """\
# {distribution}

A plugin for [referral-ledger](https://pypi.org/project/referral-ledger/) that adds the
`{name}` command.

```sh
pip install -e .
referral-ledger plugins        # lists "{name}"
referral-ledger {name}
pytest                         # its tests
```

The hooks are in `{package}/__init__.py`; the author's guide (docs/plugins.md in
referral-ledger) documents every hook you can add.
"""

_INIT = '''\
"""The {name} plugin for referral-ledger."""

from __future__ import annotations

from collections import Counter

import click

from ledger import hookimpl


@hookimpl
def register_commands(cli: click.Group) -> None:
    @cli.command(name="{name}")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    def {function}(as_json: bool) -> None:
        """Count the ledger's events by type."""
        from ledger.api import emit_json, get_ledger

        counts = dict(sorted(Counter(e["type"] for e in get_ledger().export()).items()))
        if as_json:
            emit_json(counts)
            return
        for kind, count in counts.items():
            click.echo(f"{{count:6}}  {{kind}}")
'''

_CONFTEST = '''\
"""`ledger_cli` (from referral-ledger's pytest plugin) runs the real command line on a fresh
ledger of each test's own, with every installed plugin but the built-ins and this one off."""

from __future__ import annotations

import pytest

# Installed referral-ledger registers this pytest plugin itself; naming it here also covers a
# referral-ledger that is only importable. The same name, so it is never loaded twice.
pytest_plugins = ["ledger.testing"]


@pytest.fixture
def ledger_plugins() -> list[str]:
    return ["{name}"]
'''

_TEST = '''\
"""The plugin is installed, listed, and its command works on a fresh ledger."""

from __future__ import annotations

from ledger.api import Cli


def test_the_plugin_is_listed(ledger_cli: Cli) -> None:
    mine = [p for p in ledger_cli.json("plugins", "--json") if p["name"] == "{name}"]
    assert mine and mine[0]["enabled"] and mine[0]["hooks"] == ["register_commands"]


def test_the_command_counts_events(ledger_cli: Cli) -> None:
    ledger_cli.record({{"type": "person-added", "handle": "ana", "name": "Ana"}})
    assert ledger_cli.json("{name}", "--json") == {{"person-added": 1}}


def test_a_read_of_a_missing_ledger_is_refused(ledger_cli: Cli) -> None:
    assert "no ledger at" in ledger_cli.refused("{name}").stderr
'''
