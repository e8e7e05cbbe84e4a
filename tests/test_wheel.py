"""A wheel built from the tree, installed into a fresh virtual environment, lists the built-in
plugins: the whole path a built-in plugin takes (entry point, wheel, listing), as a user gets it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parent.parent
# What a fresh clone holds; the rest of a working tree (venvs, builds, ledgers) stays behind.
NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv*",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".hypothesis",
    "*.db",
    "*.db-wal",
    "*.db-shm",
)


def declared_plugins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return project["project"]["entry-points"]["referral_ledger"]


def run(*args: str | Path, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; its dependencies come from this environment."""
    base = tmp_path_factory.mktemp("wheel")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "PIP_", "REFERRAL_LEDGER"))
    }
    env["XDG_DATA_HOME"] = str(base / "data")
    tree = base / "tree"
    shutil.copytree(ROOT, tree, ignore=NOT_SOURCES)
    # Offline when it can be: this environment's setuptools as the build backend. (Python 3.12+
    # venvs come without setuptools; then pip fetches the backend pyproject.toml asks for.)
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        *isolation,
        "-w",
        base / "dist",
        ".",
        cwd=tree,
        env=env,
    )
    (wheel,) = (base / "dist").glob("referral_ledger-*.whl")

    venv = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base, env=env)
    python = venv / "bin" / "python"
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=base, env=env
    ).stdout.strip()
    # A venv made from a venv cannot inherit it with --system-site-packages (that would be the
    # base interpreter's packages): name this environment's site-packages instead. Its .pth
    # files (the editable install of the project) are not processed from there.
    (Path(purelib) / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, cwd=base, env=env)
    return venv


def test_the_wheel_carries_the_built_in_plugins(installed: Path):
    code = (
        "import json, ledger, importlib, importlib.metadata as m;"
        "eps = m.entry_points(group='referral_ledger');"
        "print(json.dumps({'ledger': ledger.__file__,"
        " 'plugins': {e.name: importlib.import_module(e.value).__file__ for e in eps}}))"
    )
    where = orjson.loads(
        run(installed / "bin" / "python", "-c", code, cwd=installed, env=_env(installed)).stdout
    )
    site = str(installed)
    assert where["ledger"].startswith(site), where  # the wheel's copy, not the source tree
    assert set(declared_plugins()) <= set(where["plugins"])
    for name in declared_plugins():
        assert where["plugins"][name].startswith(site), (name, where)


def test_the_installed_console_script_lists_the_built_in_plugins(installed: Path):
    out = run(
        installed / "bin" / "referral-ledger",
        "plugins",
        "--json",
        cwd=installed,
        env=_env(installed),
    )
    listed = {p["name"]: p for p in orjson.loads(out.stdout)}
    for name, module in declared_plugins().items():
        assert name in listed, (name, listed)
        assert listed[name]["enabled"] is True and listed[name]["error"] is None, listed[name]
        assert listed[name]["builtin"] is True and listed[name]["module"] == module
        assert listed[name]["hooks"], listed[name]
    assert out.stderr == ""


def test_the_installed_module_runs_with_python_m(installed: Path):
    out = run(
        installed / "bin" / "python", "-m", "ledger", "--help", cwd=installed, env=_env(installed)
    )
    assert out.stdout.startswith("Usage: referral-ledger")
    for command in ("record", "import", "export", "plugins"):
        assert f"  {command} " in out.stdout


def test_the_installed_ledger_records_and_refuses(installed: Path):
    env = _env(installed)
    script = installed / "bin" / "referral-ledger"
    db = str(installed / "ledger.db")
    stored = run(
        script,
        "--db",
        db,
        "record",
        '{"type":"person-added","handle":"ana","name":"Ana"}',
        cwd=installed,
        env=env,
    )
    assert orjson.loads(stored.stdout)["seq"] == 1
    refused = subprocess.run(
        [str(script), "--db", db, "record", '{"type":"person-added","handle":"ana","name":"Ana"}'],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2 and refused.stderr.startswith("Error: ")


def _env(venv: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTHON", "PIP_", "REFERRAL_LEDGER"))
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin"
    env["VIRTUAL_ENV"] = str(venv)
    env["XDG_DATA_HOME"] = str(venv / "data")
    return env
