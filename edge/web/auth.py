"""Who is asking: a logged-in teacher, the trusted local kiosk, or nobody.

- Remote clients (a teacher's tablet on the school network) must log in with a teacher name and
  PIN/password (``edge.web.passwords``); the login is rate limited per address and globally
  (``edge.web.ratelimit``) and yields a session cookie (``edge.web.sessions``).
- The kiosk (Chromium on the attached display) is trusted without a login only when the setting
  ``trust_local`` is on, the TCP peer is a loopback address *and* the ``Host`` header names the
  loopback (``localhost``, ``127.0.0.1``, ``[::1]``). The Host check stops DNS rebinding: a web page
  that rebinds its own name to 127.0.0.1 still sends its own name as Host. Forwarding headers
  (``X-Forwarded-For``) are never read: a client cannot claim to be local.

Cookie: ``HttpOnly; SameSite=Strict; Path=/``, plus ``Secure`` and the ``__Host-`` name prefix when
served over TLS (``WebSettings.secure_cookies``). No ``Max-Age``: the browser drops it on exit and
the server expires it anyway.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from typing import Callable

from edge.web.passwords import CredentialStore
from edge.web.ratelimit import LoginLimiter, client_key
from edge.web.routing import HTTPError, Request
from edge.web.sessions import Session, SessionStore
from edge.web.settings import WebSettings

KIOSK_USER = "local screen"
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})


def is_loopback(address: str) -> bool:
    """Whether a peer address (as the socket reports it) is this machine's loopback."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def host_is_loopback(host: str | None) -> bool:
    """Whether a Host header names the loopback (port ignored)."""
    if not host:
        return False
    host = host.strip().lower()
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in _LOOPBACK_HOSTS


@dataclass(frozen=True)
class Identity:
    """The requester: its session (if any) and whether it is the trusted local kiosk."""

    session: Session | None
    trusted_local: bool

    @property
    def authenticated(self) -> bool:
        return self.trusted_local or (self.session is not None and self.session.authenticated)

    @property
    def user(self) -> str | None:
        if self.session is not None and self.session.kind == "teacher":
            return self.session.user
        return KIOSK_USER if self.authenticated else None


class Authenticator:
    """Sessions, credentials and rate limits tied together under one ``WebSettings``."""

    def __init__(
        self, settings: WebSettings, credentials: CredentialStore, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.sessions = SessionStore(settings.session_idle_s, settings.session_max_s, clock)
        self.limiter = LoginLimiter(
            settings.login_max_failures,
            settings.login_window_s,
            settings.login_lockout_s,
            settings.login_max_lockout_s,
            clock=clock,
        )
        self.global_limiter = LoginLimiter(
            settings.login_global_max_failures,
            settings.login_window_s,
            settings.login_lockout_s,
            settings.login_max_lockout_s,
            clock=clock,
        )
        self.cookie_name = "__Host-fc_session" if settings.secure_cookies else "fc_session"

    # ---------------------------------------------------------------- identity

    def is_trusted_local(self, request: Request) -> bool:
        return (
            self.settings.trust_local
            and is_loopback(request.client)
            and host_is_loopback(request.header("host"))
        )

    def identify(self, request: Request) -> Identity:
        token = request.cookies.get(self.cookie_name)
        return Identity(self.sessions.get(token), self.is_trusted_local(request))

    def still_valid(self, identity: Identity) -> bool:
        """For long streams: is the identity that opened it still authenticated (not expired, not logged out)?"""
        if identity.trusted_local:
            return True  # the kiosk is trusted by address, not by its session
        return identity.session is not None and self.sessions.is_live(identity.session)

    # ---------------------------------------------------------------- cookies

    def cookie_header(self, token: str) -> tuple[str, str]:
        attrs = f"{self.cookie_name}={token}; Path=/; HttpOnly; SameSite=Strict"
        if self.settings.secure_cookies:
            attrs += "; Secure"
        return ("Set-Cookie", attrs)

    def clear_cookie_header(self) -> tuple[str, str]:
        attrs = f"{self.cookie_name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        if self.settings.secure_cookies:
            attrs += "; Secure"
        return ("Set-Cookie", attrs)

    # ---------------------------------------------------------------- sessions

    def ensure_session(self, request: Request, identity: Identity) -> tuple[Session, list[tuple[str, str]]]:
        """The requester's session, creating one (kiosk when trusted local, else anonymous) if needed.
        Returns the session and the Set-Cookie header(s) to send."""
        s = identity.session
        if s is not None and (s.authenticated or not identity.trusted_local):
            return s, []
        if s is not None:
            self.sessions.delete(s)  # an anonymous session of the trusted kiosk becomes a kiosk session
        token, s = self.sessions.create("kiosk", KIOSK_USER) if identity.trusted_local else self.sessions.create("anonymous")
        return s, [self.cookie_header(token)]

    def login(self, request: Request, identity: Identity, name: str, secret: str) -> tuple[Session, list[tuple[str, str]]]:
        """Check a teacher's name and PIN/password under the rate limits; a new session on success.

        Raises HTTPError 429 (with Retry-After) while the client or everyone is locked out, 401 on a
        wrong name or secret.
        """
        key = client_key(request.client)
        wait = self.global_limiter.check("*") or self.limiter.acquire(key)
        if not wait:
            wait = self.global_limiter.acquire("*")
            if wait:
                self.limiter.release(key)
        if wait > 0:
            raise HTTPError(
                429, f"too many failed logins; try again in {int(wait) + 1} s.", [("Retry-After", str(int(wait) + 1))]
            )
        # the attempt is counted as failed until it succeeds (see LoginLimiter.acquire)
        if not isinstance(name, str) or not isinstance(secret, str) or len(name) > 60 or len(secret) > 256:
            ok = False
        else:
            ok = self.credentials.check(name, secret)
        if not ok:
            wait = max(self.limiter.check(key), self.global_limiter.check("*"))
            headers = [("Retry-After", str(int(wait) + 1))] if wait > 0 else []
            raise HTTPError(401, "wrong teacher name or PIN/password.", headers)
        self.limiter.success(key)
        self.global_limiter.release("*")
        if identity.session is not None:
            self.sessions.delete(identity.session)
        token, s = self.sessions.create("teacher", name)
        return s, [self.cookie_header(token)]

    def logout(self, identity: Identity) -> list[tuple[str, str]]:
        if identity.session is not None:
            self.sessions.delete(identity.session)
        return [self.clear_cookie_header()]
