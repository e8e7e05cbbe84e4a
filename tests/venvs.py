"""Fresh virtual environments for plugin tests, cheap enough for the plain test run.

A venv made from a venv cannot inherit it with `--system-site-packages` (that means the base
interpreter's packages), so the new one gets a `.pth` file naming this environment's
site-packages and the project's sources: referral-ledger and its dependencies are importable
and its entry points visible, as if installed there, and whatever is installed into the new
venv stays there. `pip` and `referral-ledger` get the same small launchers pip would write.
Creating one takes a fraction of a second; installing a plugin into it, a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import ledger_commands

import ledger

ROOT = Path(__file__).resolve().parent.parent

_LAUNCHER = """#!{python}
import sys
from {module} import {function}
sys.exit({function}())
"""


@dataclass
class Venv:
    path: Path

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> str:
        return str(self.bin / "python")

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_NO"))}
        env.pop("REFERRAL_LEDGER_DISABLE_PLUGINS", None)
        env.pop("REFERRAL_LEDGER_DB", None)
        env["VIRTUAL_ENV"] = str(self.path)
        env["PATH"] = f"{self.bin}{os.pathsep}/usr/bin{os.pathsep}/bin"
        env.update(extra)
        return env

    def run(
        self, command: str | list[str], cwd: Path | str, *, check: bool = True, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            command,
            shell=isinstance(command, str),
            cwd=cwd,
            env=self.env(**extra),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if check:
            assert result.returncode == 0, (command, result.stdout, result.stderr)
        return result

    def pip_install(self, *args: str, cwd: Path | str = ROOT) -> None:
        # Offline and quick: the build backend comes from this environment.
        self.run(
            [self.python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", *args],
            cwd,
        )


def create(path: Path) -> Venv:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    venv = Venv(path)
    purelib = subprocess.run(
        [venv.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    sources = {
        str(Path(ledger.__file__).resolve().parent.parent),
        str(Path(ledger_commands.__file__).resolve().parent.parent),
    }
    lines = [sysconfig.get_paths()["purelib"], *sorted(sources)]
    (Path(purelib) / "_referral_ledger_parent.pth").write_text("\n".join(lines) + "\n")
    for name, module, function in (
        ("pip", "pip._internal.cli.main", "main"),
        ("referral-ledger", "ledger.cli", "main"),
    ):
        launcher = venv.bin / name
        launcher.write_text(_LAUNCHER.format(python=venv.python, module=module, function=function))
        launcher.chmod(0o755)
    return venv


def fresh(tmp_path_factory: object) -> Venv:
    """A new venv of the test's own: plugins installed by one test never load in another."""
    base = tmp_path_factory.mktemp("plugin-venv")  # type: ignore[attr-defined]
    return create(base / "venv")
