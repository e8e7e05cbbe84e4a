"""`plugins new NAME` writes a plugin distribution that installs, is listed and passes its test."""

from __future__ import annotations

import json

import venvs


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
