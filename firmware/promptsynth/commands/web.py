"""`promptsynth web password`: the web page's password, hashed for [web] password_hash."""

from __future__ import annotations

import getpass
import sys

from promptsynth.config import ConfigError

MIN_LENGTH = 8


def read_password() -> str:
    """Asked twice on a terminal; one line from standard input otherwise (a provisioning script)."""
    if sys.stdin.isatty():
        first = getpass.getpass("web page password: ")
        if getpass.getpass("again: ") != first:
            raise ConfigError("the two passwords differ: nothing changed")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_web(args) -> int:
    from promptsynth.web.auth import hash_password

    password = read_password()
    if len(password) < MIN_LENGTH:
        raise ConfigError("the password must have at least %d characters" % MIN_LENGTH)
    print("put this in the instrument's config file (the password itself is stored nowhere):")
    print("[web]")
    print("enabled = true")
    print('password_hash = "%s"' % hash_password(password))
    return 0
