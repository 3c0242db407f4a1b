"""Login rate limiting: a few failures per window per client, then a lockout that doubles each time.

``LoginLimiter.acquire(key)`` admits an attempt *before* the password is hashed and counts it as a
failure at once (a success takes it back), so a locked-out client costs no KDF run, parallel
requests cannot run more checks than the limit, and a correct password is refused too while the
lock holds (otherwise guessing would simply continue). After ``max_failures`` failures within ``window_s`` the key is locked for
``lockout_s``; every further lockout of the same key doubles, up to ``max_lockout_s``. A success
clears the key. A key left alone for a day (or twice the longest lockout) is forgotten.

Keys are client addresses; IPv6 addresses are reduced to their /64 network (one device can own a
whole /64, so counting single addresses would let it rotate). The table is bounded: beyond
``max_keys`` the least recently used key is dropped.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable


def client_key(address: str) -> str:
    """The rate-limit key of a client address: the address itself, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


@dataclass
class _Entry:
    failures: deque = field(default_factory=deque)
    locked_until: float = 0.0
    strikes: int = 0
    last: float = 0.0


class LoginLimiter:
    """Failures per key within a sliding window, with exponential lockout (times in seconds)."""

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 60.0,
        lockout_s: float = 60.0,
        max_lockout_s: float = 3600.0,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_s <= 0 or lockout_s <= 0 or max_lockout_s < lockout_s:
            raise ValueError("rate limit needs max_failures >= 1, positive window and lockout, max_lockout >= lockout.")
        self.max_failures = int(max_failures)
        self.window_s = float(window_s)
        self.lockout_s = float(lockout_s)
        self.max_lockout_s = float(max_lockout_s)
        self.max_keys = int(max_keys)
        self.forget_s = max(86400.0, 2 * self.max_lockout_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def _entry(self, key: str, now: float, create: bool) -> _Entry | None:
        e = self._entries.get(key)
        if e is not None and now - e.last > self.forget_s and now >= e.locked_until:
            del self._entries[key]
            e = None
        if e is None and create:
            e = self._entries[key] = _Entry(last=now)
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)
        if e is not None:
            self._entries.move_to_end(key)
        return e

    def check(self, key: str) -> float:
        """Seconds the key must still wait (0.0: it may try now)."""
        now = self._clock()
        with self._lock:
            e = self._entry(key, now, create=False)
            return max(0.0, e.locked_until - now) if e is not None else 0.0

    def _record(self, e: _Entry, now: float) -> None:
        e.last = now
        while e.failures and now - e.failures[0] >= self.window_s:
            e.failures.popleft()
        e.failures.append(now)
        if len(e.failures) >= self.max_failures:
            e.strikes += 1
            e.failures.clear()
            e.locked_until = now + min(self.max_lockout_s, self.lockout_s * 2 ** (e.strikes - 1))

    def acquire(self, key: str) -> float:
        """Admit one attempt, counted as a failure *before* it is checked (so parallel requests cannot
        run more checks than the limit); returns the wait instead when the key is locked."""
        now = self._clock()
        with self._lock:
            e = self._entry(key, now, create=True)
            if e.locked_until > now:
                return e.locked_until - now
            self._record(e, now)
            return 0.0

    def failure(self, key: str) -> float:
        """Record a failed attempt; returns the lockout now in force (0.0 if none)."""
        now = self._clock()
        with self._lock:
            e = self._entry(key, now, create=True)
            self._record(e, now)
            return max(0.0, e.locked_until - now)

    def success(self, key: str) -> None:
        """A successful login clears the key's failures and lockout history."""
        with self._lock:
            self._entries.pop(key, None)

    def release(self, key: str) -> None:
        """Take back the latest attempt admitted by ``acquire`` (it succeeded), keeping older failures."""
        with self._lock:
            e = self._entries.get(key)
            if e is not None and e.failures:
                e.failures.pop()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
