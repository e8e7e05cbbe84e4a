"""Plugins import `ledger` and `ledger.api`, nothing else; `ledger.api` is the documented, lazy
surface; `ledger.testing` gives plugin authors a temporary ledger with only their plugin on.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import venvs

import ledger
import ledger.api
from ledger.scaffold import skeleton

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "coffee-chat"
SUBMODULES = {m.name for m in pkgutil.iter_modules(ledger.__path__)}
CODE_BLOCK = re.compile(r"^ *```python[^\n]*\n(.*?)^ *```", re.DOTALL | re.MULTILINE)


def private_imports(source: str) -> list[str]:
    """Every import of `ledger` other than `ledger` itself and `ledger.api`, as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ledger.") and alias.name != "ledger.api":
                    found.append(f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("ledger.") and node.module != "ledger.api":
                found.append(f"from {node.module} import …")
            elif node.module == "ledger":
                found += [
                    f"from ledger import {a.name}"
                    for a in node.names
                    if a.name in SUBMODULES and a.name != "api"
                ]
        elif isinstance(node, ast.Call) and node.args:
            # importlib.import_module("ledger.cli") and __import__("ledger.cli") count too
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if (
                name in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and first.value.startswith("ledger.")
                and first.value != "ledger.api"
            ):
                found.append(f"{name}({first.value!r})")
    return found


def plugin_sources() -> dict[str, str]:
    """Every Python file of the built-in plugins, the example plugin, the files `plugins new`
    writes and the guide's code blocks, by where it comes from."""
    sources = {
        path.relative_to(ROOT).as_posix(): path.read_text()
        for folder in ("plugins", "examples")
        for path in sorted((ROOT / folder).rglob("*.py"))
    }
    for relative, content in skeleton("stage-report").files.items():
        if relative.endswith(".py"):
            sources[f"plugins new: {relative}"] = content
    guide = (ROOT / "docs" / "plugins.md").read_text()
    for number, block in enumerate(CODE_BLOCK.findall(guide), 1):
        lines = block.splitlines()
        indent = min(len(x) - len(x.lstrip()) for x in lines if x.strip())
        sources[f"docs/plugins.md block {number}"] = "\n".join(x[indent:] for x in lines)
    return sources


def test_the_plugins_import_nothing_of_ledger_but_ledger_and_ledger_api():
    sources = plugin_sources()
    # the walk reaches what it promises: the four built-ins, the example, its tests, the
    # scaffold's package and tests, and the guide's blocks
    assert sum(name.startswith("plugins/") for name in sources) >= 20
    assert "examples/coffee-chat/tests/conftest.py" in sources
    assert "plugins new: tests/conftest.py" in sources
    assert "plugins new: referral_ledger_stage_report/__init__.py" in sources
    assert sum(name.startswith("docs/plugins.md") for name in sources) >= 5
    offending = {name: found for name, src in sources.items() if (found := private_imports(src))}
    assert offending == {}, "import these from ledger.api instead"


@pytest.mark.parametrize(
    "source",
    [
        "from ledger.cli import cli",
        "import ledger.views",
        "import ledger.views as v",
        "import os, ledger.projections",
        "from ledger import views",
        "from ledger import hookimpl, config as c",
        "from ledger.api.inner import x",
        "def command():\n    from ledger.projections import rows\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ledger.app import Ledger\n",
        "import importlib\nimportlib.import_module('ledger.views')",
        "__import__('ledger.cli')",
    ],
)
def test_the_check_catches_every_way_of_reaching_a_private_module(source):
    assert private_imports(source), source


@pytest.mark.parametrize(
    "source",
    [
        "from ledger import hookimpl, Event",
        "from ledger.api import View, rows",
        "import ledger",
        "import ledger.api",
        "from ledger import api",
        "from . import command",
        "from .events import CoffeeChat",
        "import ledger_alerts.command",
        "importlib.import_module('ledger.api')",
    ],
)
def test_the_check_lets_the_api_and_the_plugins_own_modules_through(source):
    assert private_imports(source) == [], source


def test_every_name_of_the_api_is_the_object_its_module_defines():
    sources = ledger.api._SOURCES
    assert sorted(ledger.api.__all__) == sorted(sources)
    assert len(set(ledger.api.__all__)) == len(ledger.api.__all__)
    for name in ledger.api.__all__:
        defined = getattr(importlib.import_module(f"ledger.{sources[name]}"), name)
        assert getattr(ledger.api, name) is defined, name
    # what `ledger` itself exports is the same object from either module
    for name in ("Event", "Projection", "Ledger", "LedgerError", "hookimpl"):
        assert getattr(ledger, name) is getattr(ledger.api, name)
    assert set(ledger.api.__all__) <= set(dir(ledger.api))


def test_a_name_that_is_not_api_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Store'"):
        ledger.api.Store  # noqa: B018
    with pytest.raises(ImportError):
        from ledger.api import _load_plugin_commands  # noqa: F401


def test_the_api_uses_what_the_plugins_use():
    """Every name the plugins import from ledger.api exists; none of ledger.api is dead weight
    for the built-ins, bar the ones documented for third parties."""
    used: set[str] = set()
    for source in plugin_sources().values():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module == "ledger.api":
                used.update(a.name for a in node.names)
    assert used - set(ledger.api.__all__) == set()
    assert {"get_ledger", "emit_json_array", "safe", "time_options", "Projection", "View"} <= used
    assert {"rows", "listed", "Row", "parties", "LedgerError", "Cli", "request_as_of"} <= used


def _imported(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins")])}
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    return set(out.stdout.split())


def test_importing_the_api_imports_nothing_until_a_name_is_used():
    modules = _imported("import ledger.api")
    assert {m for m in modules if m.startswith("ledger.")} == {"ledger.api", "ledger.hookspecs"}
    assert "pydantic" not in modules and "eventsourcing" not in modules
    # a command helper brings the command line, not the event models or the store
    helpers = _imported("from ledger.api import get_ledger, emit_json, safe")
    assert "ledger.cli" in helpers
    assert "pydantic" not in helpers and "ledger.app" not in helpers


def test_help_imports_no_more_than_before_the_api():
    """`referral-ledger --help` loads the built-ins' commands through ledger.api; it must not
    pull in the event models, the store or the projections to do it."""
    modules = _imported(
        "import sys; sys.argv = ['referral-ledger', '--help']\n"
        "from ledger.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert "ledger.api" in modules  # the built-ins do go through it
    for heavy in ("pydantic", "eventsourcing", "ledger.app", "ledger.projections", "ledger.views"):
        assert heavy not in modules, heavy


def test_no_module_of_ledger_imports_the_api_so_it_closes_no_cycle():
    for path in sorted((ROOT / "ledger").glob("*.py")):
        if path.name == "api.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert not (node.level == 1 and node.module == "api"), path
                assert node.module != "ledger.api", path
                assert not (
                    node.level == 1
                    and node.module is None
                    and any(a.name == "api" for a in node.names)
                ), path
    testing = ast.parse((ROOT / "ledger" / "testing.py").read_text())
    top_level = [n for n in testing.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all("ledger" not in (getattr(n, "module", None) or "") for n in top_level)


# -- ledger.testing: the pytest plugin --------------------------------------------------------


def test_the_pytest_plugin_is_an_entry_point_named_after_its_module():
    """Named like the module, so a conftest.py naming it in `pytest_plugins` where it is also
    installed does not register it twice (pytest refuses that)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"ledger.testing": "ledger.testing"}


PLUGIN_TESTS = """
import json
import os
from pathlib import Path

import pytest

pytest_plugins = ["ledger.testing"]


def test_a_fresh_ledger_of_its_own(ledger_cli, tmp_path):
    assert Path(ledger_cli.db).parent == tmp_path
    assert "no ledger at" in ledger_cli.refused("export").stderr
    ledger_cli.record({"type": "person-added", "handle": "ana", "name": "Ana"})
    assert [e["handle"] for e in ledger_cli.export()] == ["ana"]
    assert ledger_cli.json("verify", "--json")["ok"] is True
    for name in ("REFERRAL_LEDGER_DB", "REFERRAL_LEDGER_MASTER_KEY",
                 "REFERRAL_LEDGER_MASTER_KEY_FILE"):
        assert name not in os.environ
    assert os.environ["XDG_CONFIG_HOME"].startswith(str(tmp_path))
    assert os.environ["XDG_DATA_HOME"].startswith(str(tmp_path))


def listed(ledger_cli):
    return {p["name"]: p["enabled"] for p in ledger_cli.json("plugins", "--json")}


def test_other_plugins_are_off_by_default(ledger_cli):
    plugins = listed(ledger_cli)
    assert plugins["coffee-chat"] is False
    assert all(plugins[b] for b in ("commands", "alerts", "flags", "reputation"))
    assert "coffee-chats" not in ledger_cli("--help").stdout


@pytest.mark.ledger_plugins("coffee-chat")
def test_a_marked_test_keeps_the_plugin_it_names(ledger_cli):
    assert listed(ledger_cli)["coffee-chat"] is True
    ledger_cli.record({"type": "person-added", "handle": "ana", "name": "Ana"})
    assert ledger_cli.json("coffee-chats", "--json") == []


def test_and_the_next_test_has_it_off_again(ledger_cli):
    assert listed(ledger_cli)["coffee-chat"] is False
    assert "No such command 'coffee-chats'" in ledger_cli.refused("coffee-chats").stderr


class TestOverridden:
    @pytest.fixture
    def ledger_plugins(self):
        return ["coffee-chat"]

    def test_an_overridden_ledger_plugins_keeps_it(self, ledger_cli):
        assert listed(ledger_cli)["coffee-chat"] is True


def test_a_refusal_that_is_not_one_fails_the_test(ledger_cli):
    with pytest.raises(AssertionError):
        ledger_cli.refused("plugins", "--json")
    with pytest.raises(AssertionError):
        ledger_cli.ok("export")
"""


def test_ledger_cli_isolates_the_ledger_and_switches_other_plugins_off(tmp_path_factory):
    venv = venvs.fresh(tmp_path_factory)
    venv.pip_install("-e", str(EXAMPLE))
    work = tmp_path_factory.mktemp("plugin-tests")
    (work / "test_with_ledger_cli.py").write_text(PLUGIN_TESTS)
    user = tmp_path_factory.mktemp("user")
    users_ledger = user / "mine.db"
    shell = {
        "REFERRAL_LEDGER_DB": str(users_ledger),
        "REFERRAL_LEDGER_DISABLE_PLUGINS": "alerts",
        "REFERRAL_LEDGER_MASTER_KEY": "x" * 43,
        "XDG_CONFIG_HOME": str(user / "config"),
        "XDG_DATA_HOME": str(user / "data"),
    }
    # -p as well as the test file's pytest_plugins: the entry point's case, named twice
    result = venv.run(
        [venv.python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "ledger.testing"],
        work,
        check=False,
        **shell,
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "6 passed" in result.stdout, result.stdout
    assert "PytestAssertRewriteWarning" not in result.stdout + result.stderr
    assert list(user.iterdir()) == []  # the user's ledger, config and data untouched


def test_the_example_plugin_tests_run_on_ledger_cli():
    conftest = (EXAMPLE / "tests" / "conftest.py").read_text()
    assert "ledger_cli" in conftest and '"coffee-chat"' in conftest
    generated = skeleton("stage-report").files
    assert "ledger_cli" in generated["tests/test_stage_report.py"]
    assert 'return ["stage-report"]' in generated["tests/conftest.py"]
