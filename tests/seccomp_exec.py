"""Run a command under a seccomp allow-list, as systemd's SystemCallFilter= would.

    python seccomp_exec.py ALLOWED.json ERRNO -- command args...

ALLOWED.json is a list of system call names; every other call fails with ERRNO. The unit uses
EPERM; tests pass an errno nothing else returns, so a refusal by the filter can be told apart
from one by the kernel's permission checks. libseccomp (which systemd itself links) is driven
through ctypes so that no Python binding is needed.
"""

import ctypes
import ctypes.util
import json
import os
import sys

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000


def load(names, errno_value):
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ERRNO | (errno_value & 0xFFFF))
    if not ctx:
        raise OSError("seccomp_init failed")
    for name in names:
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr >= 0:  # names of other architectures resolve to nothing here, as in systemd
            lib.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)
    rc = lib.seccomp_load(ctx)  # also sets no_new_privs, as NoNewPrivileges= does
    if rc != 0:
        raise OSError(-rc, "seccomp_load failed: %s" % os.strerror(-rc))


def main(argv):
    sep = argv.index("--")
    with open(argv[1]) as fh:
        names = json.load(fh)
    load(names, int(argv[2]))
    cmd = argv[sep + 1 :]
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv)
