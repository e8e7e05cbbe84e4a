"""The files output options (`-o`, `--html`) write: whole or not at all, and never a ledger."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from .errors import LedgerError
from .store import SQLITE_MAGIC


def check_target(path: str, ledger_files: Sequence[Path], option: str = "-o") -> None:
    """Refuse, before anything is computed, a target whose overwriting would lose something:
    a symbolic link, the ledger's own files, or any SQLite database (another ledger, say)."""
    target = Path(path)
    if target.is_symlink():
        raise LedgerError(f"{option} {path}: is a symbolic link; name the file itself")
    real = os.path.realpath(target)
    try:
        seen = os.stat(target)
    except OSError:
        seen = None
    for own in ledger_files:
        same_name = os.path.realpath(own) == real
        with contextlib.suppress(OSError):
            other = os.stat(own)
            if seen is not None and (seen.st_dev, seen.st_ino) == (other.st_dev, other.st_ino):
                same_name = True  # a hard link, or the same file by another path
        if same_name:
            raise LedgerError(f"{option} {path}: is the ledger's own file; nothing written")
    if seen is not None and stat.S_ISREG(seen.st_mode):
        try:
            with open(target, "rb") as stream:
                head = stream.read(len(SQLITE_MAGIC))
        except OSError:
            head = b""
        if head == SQLITE_MAGIC:
            raise LedgerError(
                f"{option} {path}: is a SQLite database (perhaps another ledger), which "
                "would be lost; nothing written"
            )


@contextlib.contextmanager
def replacing(path: str, option: str = "-o") -> Iterator[IO[bytes]]:
    """A binary file that becomes `path` when the block ends without error, by one atomic
    rename; on any error the old file stays as it was and no temporary file is left.

    A target that exists and is not a regular file (`/dev/stdout`, a pipe) is written in
    place: renaming over it would replace the device, not write to it."""
    target = Path(path)
    try:
        seen = os.stat(target)
    except FileNotFoundError:
        seen = None
    except OSError as exc:
        raise LedgerError(f"cannot write {path}: {exc.strerror}") from None
    if seen is not None and not stat.S_ISREG(seen.st_mode):
        try:
            with open(target, "wb") as out:
                yield out
        except OSError as exc:
            raise LedgerError(f"cannot write {path}: {exc.strerror}") from None
        return
    directory = target.parent if str(target.parent) else Path(".")
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise LedgerError(f"cannot write {path}: {exc.strerror}") from None
    try:
        # mkstemp makes the file 0600; give it what a new file would have, or the old mode
        mode = stat.S_IMODE(seen.st_mode) if seen is not None else 0o666 & ~_umask()
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    except OSError as exc:
        _remove(temp)
        raise LedgerError(f"cannot write {path}: {exc.strerror}") from None
    except BaseException:
        _remove(temp)
        raise


def _remove(temp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(temp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
