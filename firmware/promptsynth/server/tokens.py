"""Per-instrument API tokens. The server stores only each token's SHA-256 (``name:hex`` in
[server] tokens), so a leaked config file does not leak the tokens; a request's token is hashed
and compared in constant time against each."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Dict, Iterable, Optional

from promptsynth.config import ConfigError


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(name: str) -> tuple[str, str]:
    """A fresh token for instrument ``name``, and the [server] tokens entry that accepts it."""
    if not name or ":" in name or not name.isprintable():
        raise ConfigError("an instrument's name is printable text without ':'")
    token = secrets.token_urlsafe(32)
    return token, "%s:%s" % (name, digest(token))


def parse(entries: Iterable[str]) -> Dict[str, str]:
    """{hex digest: instrument name} from [server] tokens; ConfigError naming a bad entry."""
    table: Dict[str, str] = {}
    for e in entries:
        name, _, hexd = e.rpartition(":")
        if not name or len(hexd) != 64 or any(c not in "0123456789abcdef" for c in hexd):
            raise ConfigError("[server] tokens: %r is not name:sha256 (64 hex digits)" % e[:80])
        table[hexd] = name
    return table


def who(table: Dict[str, str], header: Optional[str]) -> Optional[str]:
    """The instrument an ``Authorization: Bearer TOKEN`` header names, or None."""
    if not header or not header.startswith("Bearer "):
        return None
    d = digest(header[len("Bearer ") :].strip())
    found = None
    for known, name in table.items():  # every entry compared: the time says nothing
        if hmac.compare_digest(known, d):
            found = name
    return found
