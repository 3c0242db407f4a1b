"""Server-side login sessions: random tokens in an HttpOnly cookie, expiry, CSRF token per session.

A session is created for a login (``teacher``), for the trusted local kiosk (``kiosk``) or, before
login, as ``anonymous`` (it only carries the CSRF token the login form must send). The cookie holds
a 256-bit random token; the server keeps only its SHA-256, so the table itself holds no usable
cookie. Logging in *replaces* the anonymous session with a new token (no session fixation).

Expiry uses the monotonic clock (an offline box whose wall clock is set back cannot revive a
session): a session ends after ``idle_s`` unused or ``max_s`` after it began. Anonymous sessions
last at most 10 minutes and their number is capped, so unauthenticated clients cannot fill memory.
Sessions live in memory: a restart logs everyone out, which is the safe direction.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

KINDS = ("teacher", "kiosk", "anonymous")
ANONYMOUS_MAX_S = 600.0
MAX_ANONYMOUS = 512
MAX_AUTHENTICATED = 256


@dataclass
class Session:
    """One session. ``user`` is the teacher's name ("local screen" for the kiosk, "" when anonymous)."""

    kind: str
    user: str
    csrf: str
    created: float
    last_seen: float
    key: str = field(repr=False, default="")

    @property
    def authenticated(self) -> bool:
        return self.kind in ("teacher", "kiosk")


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class SessionStore:
    """Thread-safe table of sessions keyed by the SHA-256 of their cookie token."""

    def __init__(self, idle_s: float, max_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < idle_s <= max_s:
            raise ValueError(f"session idle ({idle_s} s) must be positive and at most the maximum age ({max_s} s).")
        self.idle_s = float(idle_s)
        self.max_s = float(max_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    def _limits(self, s: Session) -> tuple[float, float]:
        if s.kind == "anonymous":
            return min(self.idle_s, ANONYMOUS_MAX_S), ANONYMOUS_MAX_S
        return self.idle_s, self.max_s

    def _expired(self, s: Session, now: float) -> bool:
        idle, age = self._limits(s)
        return now - s.last_seen > idle or now - s.created > age

    def _purge(self, now: float) -> None:
        for k in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[k]

    def _evict_oldest(self, kinds: tuple[str, ...], keep: int) -> None:
        same = sorted((s for s in self._sessions.values() if s.kind in kinds), key=lambda s: s.last_seen)
        for s in same[: max(0, len(same) - keep)]:
            del self._sessions[s.key]

    def create(self, kind: str, user: str = "") -> tuple[str, Session]:
        """A new session; returns (cookie token, session)."""
        if kind not in KINDS:
            raise ValueError(f"unknown session kind {kind!r}; choose one of {', '.join(KINDS)}.")
        token = secrets.token_urlsafe(32)
        now = self._clock()
        s = Session(kind, user, secrets.token_urlsafe(32), now, now, _key(token))
        with self._lock:
            self._purge(now)
            if kind == "anonymous":
                self._evict_oldest(("anonymous",), MAX_ANONYMOUS - 1)
            else:
                self._evict_oldest(("teacher", "kiosk"), MAX_AUTHENTICATED - 1)
            self._sessions[s.key] = s
        return token, s

    def get(self, token: str | None, touch: bool = True) -> Session | None:
        """The live session of ``token`` (refreshing its idle timer when ``touch``), else None."""
        if not token or len(token) > 128:
            return None
        now = self._clock()
        with self._lock:
            s = self._sessions.get(_key(token))
            if s is None:
                return None
            if self._expired(s, now):
                del self._sessions[s.key]
                return None
            if touch:
                s.last_seen = now
            return s

    def is_live(self, session: Session) -> bool:
        """Whether ``session`` still exists and has not expired (does not refresh it)."""
        now = self._clock()
        with self._lock:
            return self._sessions.get(session.key) is session and not self._expired(session, now)

    def delete(self, session: Session) -> None:
        with self._lock:
            if self._sessions.get(session.key) is session:
                del self._sessions[session.key]

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._sessions)
