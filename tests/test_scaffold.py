"""`plugins new NAME` writes a plugin distribution that installs, is listed and passes its test."""

from __future__ import annotations

import ast
import json

import pytest
import venvs

from ledger import scaffold


def test_plugins_new_writes_a_skeleton(sqlite_cli, tmp_path):
    target = tmp_path / "digest"
    out = sqlite_cli.json("plugins", "new", "weekly-digest", "--dir", str(target), "--json")
    assert out["distribution"] == "referral-ledger-weekly-digest"
    assert out["package"] == "referral_ledger_weekly_digest"
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert written == [
        "README.md",
        "pyproject.toml",
        "referral_ledger_weekly_digest/__init__.py",
        "tests/conftest.py",
        "tests/test_weekly_digest.py",
    ]
    pyproject = (target / "pyproject.toml").read_text()
    assert (
        '[project.entry-points.referral_ledger]\nweekly-digest = "referral_ledger_weekly_digest"'
        in pyproject
    )
    assert (
        "from ledger import hookimpl"
        in (target / "referral_ledger_weekly_digest/__init__.py").read_text()
    )


def test_plugins_new_refuses_bad_or_taken_names_and_full_folders(sqlite_cli, tmp_path):
    assert "lowercase" in sqlite_cli.refused("plugins", "new", "Weekly_Digest").stderr
    assert "already a command or a plugin" in sqlite_cli.refused("plugins", "new", "alerts").stderr
    assert "already a command or a plugin" in sqlite_cli.refused("plugins", "new", "export").stderr
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert "not empty" in sqlite_cli.refused("plugins", "new", "digest", "--dir", str(full)).stderr
    assert (full / "keep.txt").read_text() == "mine"


def test_a_new_plugin_installs_is_listed_and_passes_its_test(sqlite_cli, tmp_path_factory):
    venv = venvs.fresh(tmp_path_factory)
    target = tmp_path_factory.mktemp("scaffold") / "referral-ledger-stage-report"
    sqlite_cli.ok("plugins", "new", "stage-report", "--dir", str(target))
    venv.pip_install("-e", str(target))
    listed = json.loads(venv.run("referral-ledger plugins --json", target).stdout)
    mine = [p for p in listed if p["name"] == "stage-report"]
    assert mine == [
        {
            "name": "stage-report",
            "module": "referral_ledger_stage_report",
            "version": "0.1.0",
            "distribution": "referral-ledger-stage-report",
            "builtin": False,
            "enabled": True,
            "hooks": ["register_commands"],
            "error": None,
        }
    ]
    tests = venv.run([venv.python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], target)
    assert "3 passed" in tests.stdout


KIND_NAMES = {"command": "desk-count", "flag": "no-goal", "alert": "nudge", "event-type": "lunch"}


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory):
    """One plugin of each `--kind`, written by `plugins new` and installed into one fresh venv
    (each plugin's tests switch the others off)."""
    from ledger.testing import Cli

    base = tmp_path_factory.mktemp("kinds")
    cli = Cli(str(base / "ledger.db"))
    targets = {}
    for kind, name in KIND_NAMES.items():
        targets[kind] = base / f"referral-ledger-{name}"
        where = str(targets[kind])
        out = cli.json("plugins", "new", name, "--kind", kind, "--dir", where, "--json")
        assert (out["name"], out["kind"]) == (name, kind)
    venv = venvs.fresh(tmp_path_factory)
    venv.pip_install(*(arg for target in targets.values() for arg in ("-e", str(target))))
    return venv, targets


def test_the_kinds_of_the_command_line_are_the_templates():
    from ledger import cli as cli_module

    new = cli_module.cli.commands["plugins"].commands["new"]
    kind = next(p for p in new.params if p.name == "kind")
    assert tuple(kind.type.choices) == scaffold.KINDS


@pytest.mark.parametrize("kind", list(KIND_NAMES))
def test_each_kind_installs_is_listed_and_passes_its_own_test(every_kind, kind):
    venv, targets = every_kind
    target, name = targets[kind], KIND_NAMES[kind]
    listed = json.loads(venv.run("referral-ledger plugins --json", target).stdout)
    mine = [p for p in listed if p["name"] == name]
    assert [(p["enabled"], p["hooks"], p["error"]) for p in mine] == [
        (True, [scaffold.hook_of(kind)], None)
    ]
    written = (target / "tests" / f"test_{name.replace('-', '_')}.py").read_text()
    tests = venv.run([venv.python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], target)
    # every test it wrote passed, none skipped
    assert tests.stdout.splitlines()[-1].startswith(f"{written.count('def test_')} passed in ")


@pytest.mark.parametrize("kind", list(KIND_NAMES))
def test_each_kind_imports_nothing_of_referral_ledger_but_ledger_and_its_api(kind, tmp_path):
    skel = scaffold.skeleton(KIND_NAMES[kind], kind=kind)
    for path, text in skel.files.items():
        if not path.endswith(".py"):
            continue
        for node in ast.walk(ast.parse(text)):
            modules = []
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            for module in modules:
                if module.split(".")[0] == "ledger":
                    assert module in ("ledger", "ledger.api"), (kind, path, module)
    init = skel.files[f"{skel.package}/__init__.py"]
    assert f"def {scaffold.hook_of(kind)}(" in init
    if kind == "alert":  # it declares its own `[due]` key
        assert "due = {DUE_KEY: 10}" in init and f'DUE_KEY = "{KIND_NAMES[kind]}"' in init


def test_a_bad_kind_or_an_event_type_of_the_contract_is_refused(sqlite_cli, tmp_path):
    bad = sqlite_cli.refused(
        "plugins", "new", "digest", "--kind", "widget", "--dir", str(tmp_path / "a")
    )
    assert "'widget' is not one of 'command', 'flag', 'alert', 'event-type'" in bad.stderr
    taken = sqlite_cli.refused(
        "plugins", "new", "thank-you-sent", "--kind", "event-type", "--dir", str(tmp_path / "b")
    )
    assert "one of the contract's event types" in taken.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
