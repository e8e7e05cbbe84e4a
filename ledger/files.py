"""Reading the small files a user names (settings, keys) without trusting their size or kind."""

from __future__ import annotations

import os
import stat

from .errors import LedgerError


def read_small_file(path: str, limit: int, name: str) -> bytes:
    """The bytes of the regular file `path`, refused (calling it `name`) when over `limit` bytes.

    A FIFO or a device is refused before it is read: opening a FIFO waits for a writer, and
    /dev/zero never ends. Only `limit + 1` bytes are ever read, whatever the file claims.
    """
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise LedgerError(f"cannot read {name}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise LedgerError(f"cannot read {name}: {kind}")
        if info.st_size > limit:
            raise LedgerError(f"{name} is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while being read
            raise LedgerError(f"{name} is larger than {limit} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise LedgerError(f"cannot read {name}: {exc.strerror}") from None
    finally:
        os.close(fd)
