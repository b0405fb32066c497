"""Who may use the web page: the password (stored hashed), sessions, CSRF tokens, and the
slowing down of repeated failed logins.

Sessions live in memory only (a restart logs everyone out, which a stage instrument can bear);
the cookie holds nothing but a random id. Every session, logged in or not, has a CSRF token
that every change must send back in a header a cross-site form cannot set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

# scrypt's cost: 16 MiB and about 50 ms on a Xavier core for each try, which a guesser pays too
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
PBKDF2_ROUNDS = 300_000  # where hashlib lacks scrypt (a Python built without OpenSSL 1.1)
MAX_VISITORS = 256  # sessions not logged in: the least recently used goes when more are opened
MAX_LOGGED_IN = 32  # logged-in sessions: only a login (which needs the password) pushes one out
FREE_TRIES = 3  # failed logins from one address before each further try waits
MAX_WAIT_S = 60.0  # the longest wait after failed logins


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def hash_password(password: str) -> str:
    """The form stored in [web] password_hash: the algorithm, its cost, a random salt, the hash."""
    if not password:
        raise ValueError("the password is empty")
    salt = secrets.token_bytes(16)
    if hasattr(hashlib, "scrypt"):
        h = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
        return "scrypt$%d$%d$%d$%s$%s" % (SCRYPT_N, SCRYPT_R, SCRYPT_P, _b64(salt), _b64(h))
    h = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, PBKDF2_ROUNDS)
    return "pbkdf2_sha256$%d$%s$%s" % (PBKDF2_ROUNDS, _b64(salt), _b64(h))


def check_hash(stored: str) -> Optional[str]:
    """Why a stored hash cannot be used (None when it can): for `doctor` and start-up."""
    if not stored:
        return "no password set (promptsynth web password)"
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            int(parts[1]), int(parts[2]), int(parts[3])
            base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
            return None if hasattr(hashlib, "scrypt") else "this Python has no scrypt: set the password again"
        if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            int(parts[1])
            base64.b64decode(parts[2], validate=True), base64.b64decode(parts[3], validate=True)
            return None
    except ValueError:
        pass
    return "password_hash is not one promptsynth wrote (set it with promptsynth web password)"


def verify_password(password: str, stored: str) -> bool:
    """Does ``password`` match the stored hash? (Compared in constant time; False for any
    malformed hash.)"""
    if check_hash(stored) is not None or not isinstance(password, str):
        return False
    parts = stored.split("$")
    pw = password.encode("utf-8")
    if parts[0] == "scrypt":
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        want = base64.b64decode(parts[5])
        got = hashlib.scrypt(pw, salt=base64.b64decode(parts[4]), n=n, r=r, p=p, dklen=len(want), maxmem=2**26)
    else:
        want = base64.b64decode(parts[3])
        got = hashlib.pbkdf2_hmac("sha256", pw, base64.b64decode(parts[2]), int(parts[1]))
    return hmac.compare_digest(got, want)


@dataclass
class Session:
    id: str
    csrf: str
    logged_in: bool = False
    last_used: float = 0.0
    uploads: List[float] = field(default_factory=list)  # when this session uploaded (the last hour's)


class Sessions:
    """Sessions by cookie id; one that has not been used for ``ttl_s`` is gone."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.ttl_s, self.clock = ttl_s, clock
        self._by_id: Dict[str, Session] = {}

    def get(self, sid: Optional[str]) -> Optional[Session]:
        s = self._by_id.get(sid or "")
        now = self.clock()
        if s is None:
            return None
        if now - s.last_used > self.ttl_s:
            del self._by_id[s.id]
            return None
        s.last_used = now
        return s

    def new(self, logged_in: bool = False) -> Session:
        """A new session. Sessions are bounded in two pools, so a script opening sessions by the
        thousand only ever pushes out other sessions that are not logged in."""
        pool = [s for s in self._by_id.values() if s.logged_in == logged_in]
        if len(pool) >= (MAX_LOGGED_IN if logged_in else MAX_VISITORS):  # the least recently used goes
            del self._by_id[min(pool, key=lambda s: s.last_used).id]
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), logged_in, self.clock())
        self._by_id[s.id] = s
        return s

    def login(self, old: Optional[Session]) -> Session:
        """A logged-in session with a new id and token (the old id, which someone may have
        planted, is dropped)."""
        if old is not None:
            self._by_id.pop(old.id, None)
        return self.new(logged_in=True)

    def logout(self, s: Session) -> None:
        self._by_id.pop(s.id, None)


class LoginThrottle:
    """After FREE_TRIES failed logins from one address, each further try must wait: 1 s, 2 s,
    4 s... up to MAX_WAIT_S. A success clears the address."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._fails: Dict[str, List[float]] = {}  # address -> [failures, when the next try may come]

    def wait_s(self, addr: str) -> float:
        """Seconds until ``addr`` may try again (0: now)."""
        f = self._fails.get(addr)
        return max(0.0, f[1] - self.clock()) if f else 0.0

    def failed(self, addr: str) -> float:
        if len(self._fails) > 4096:  # a flood of addresses: forget the old ones
            self._fails.clear()
        f = self._fails.setdefault(addr, [0.0, 0.0])
        f[0] += 1
        extra = f[0] - FREE_TRIES
        f[1] = self.clock() + (min(MAX_WAIT_S, 2.0 ** (extra - 1)) if extra > 0 else 0.0)
        return self.wait_s(addr)

    def succeeded(self, addr: str) -> None:
        self._fails.pop(addr, None)


def same_token(given: Optional[str], want: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode("utf-8"), want.encode("utf-8"))
