"""Atomic writes: a temporary file in the same folder, fsync, rename, fsync the folder.

A power cut leaves either the old file or the new one, never a torn one. A full disk is
reported as :class:`DiskFullError` and the old file stays as it was.
"""

from __future__ import annotations

import errno
import json
import os
from tempfile import mkstemp  # (by name: tests patch the library's own writes, not every temp file)
from typing import IO, Any, Callable, Optional


class DiskFullError(OSError):
    pass


_umask: Optional[int] = None


def _read_umask() -> int:
    """The process umask, read without changing it where Linux reports it (4.7+); elsewhere set
    and put back, which another thread creating a file at that instant could notice."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain new file gets (0644 under umask 022): mkstemp's 0600 would keep other
    users of a stick or share from reading what the instrument wrote. The umask is read once."""
    global _umask
    if _umask is None:
        _umask = _read_umask()
    return 0o666 & ~_umask


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_with(path: str, writer: Callable[[IO[bytes]], object]) -> None:
    """Call ``writer(fileobj)`` on a temporary file (what it returns is ignored), then put it at
    ``path`` atomically."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        try:
            os.fchmod(fd, file_mode())
        except OSError:
            pass  # a file system without Unix modes (some shares) sets its own
        with os.fdopen(fd, "wb") as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(folder)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFullError(
                e.errno, "disk full: %s was not written (the previous version is kept)" % path
            ) from None
        raise
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_bytes(path: str, data: bytes) -> None:
    write_with(path, lambda fh: fh.write(data))


def write_json(path: str, obj: Any) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))
