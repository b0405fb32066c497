"""Real-time scheduling and memory locking for the engine process, refused gracefully."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
from typing import List, Tuple

MCL_CURRENT, MCL_FUTURE = 1, 2


def set_fifo(priority: int) -> Tuple[bool, str]:
    """Ask for SCHED_FIFO on the calling thread. Returns (ok, reason if not)."""
    if priority <= 0:
        return False, "real-time priority not asked for (audio.rt_priority = 0)"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return True, ""
    except (PermissionError, OSError) as e:
        return False, "SCHED_FIFO %d refused (%s): raise LimitRTPRIO or add the user to the audio group" % (
            priority,
            e.strerror or e,
        )


def lock_memory() -> Tuple[bool, str]:
    """mlockall: all current pages, and future ones only where the limit allows it.

    MCL_FUTURE under a finite RLIMIT_MEMLOCK would make later allocations fail once the limit
    is reached, so it is used only when the limit is unlimited.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    flags = MCL_CURRENT | (MCL_FUTURE if soft == resource.RLIM_INFINITY else 0)
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.mlockall(flags) != 0:
        err = ctypes.get_errno()
        return False, "mlockall refused (%s): raise LimitMEMLOCK" % os.strerror(err)
    return True, ""


def setup(priority: int, lock: bool) -> Tuple[bool, bool, List[str]]:
    """Both of the above; returns (realtime, locked, warnings)."""
    warnings = []
    rt, why = set_fifo(priority)
    if not rt and priority > 0:
        warnings.append(why)
    locked = False
    if lock:
        locked, why = lock_memory()
        if not locked:
            warnings.append(why)
    return rt, locked, warnings
