"""Atomic writes: a temporary file in the same folder, fsync, rename, fsync the folder.

A power cut leaves either the old file or the new one, never a torn one. A full disk is
reported as :class:`DiskFullError` and the old file stays as it was.
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
from typing import Any, Callable, IO


class DiskFullError(OSError):
    pass


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_with(path: str, writer: Callable[[IO[bytes]], None]) -> None:
    """Call ``writer(fileobj)`` on a temporary file, then put it at ``path`` atomically."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
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
            raise DiskFullError(e.errno, "disk full: %s was not written (the previous version is kept)" % path) \
                from None
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
