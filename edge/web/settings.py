"""Settings of the teacher's screen (web app): where it listens, whom it trusts, how long logins last.

``WebSettings`` is meant to become the ``web`` section of the one configuration
(``edge/config.py``: ``web: WebSettings``); until then ``fieldcoach screen`` builds it from its
options. Unknown keys are rejected and every field has bounds and a description.

Two combinations are refused because they silently open the screen to the network:

- ``trust_local`` with ``behind_proxy``: a reverse proxy on the same box (e.g. a TLS terminator)
  forwards every remote request from 127.0.0.1, so "local" would mean "anyone".
- ``cookie_secure`` is forced on when the app serves TLS itself (``tls_cert``/``tls_key``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator


class WebSettings(BaseModel):
    """How the screen's HTTP server runs and authenticates (all durations in seconds)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bind: str = Field(
        "127.0.0.1",
        min_length=1,
        description="address to listen on: 127.0.0.1 for the kiosk only, 0.0.0.0 (or ::) for the school network",
    )
    port: int = Field(8765, ge=1024, le=65535, description="TCP port (unprivileged: the service never runs as root)")
    trust_local: bool = Field(
        True,
        description="requests from this machine (loopback, with a loopback Host header) need no login: the kiosk",
    )
    behind_proxy: bool = Field(False, description="a reverse proxy on this box forwards remote requests to the app")
    cookie_secure: bool = Field(False, description="mark cookies Secure (HTTPS only); on when TLS is served")
    tls_cert: Path | None = Field(None, description="PEM certificate: serve HTTPS directly (with tls_key)")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert")
    credentials_file: Path = Field(
        Path("/var/lib/fieldcoach/web/teachers.json"), description="teacher logins (scrypt hashes), mode 0600"
    )
    session_idle_s: float = Field(1800.0, ge=60.0, le=86400.0, description="a login ends after this long unused")
    session_max_s: float = Field(
        8 * 3600.0, ge=300.0, le=7 * 86400.0, description="a login ends this long after it began, used or not"
    )
    login_max_failures: int = Field(5, ge=1, le=100, description="failed logins per address within the window")
    login_window_s: float = Field(60.0, ge=1.0, le=3600.0, description="window that counts failed logins")
    login_lockout_s: float = Field(
        60.0, ge=1.0, le=3600.0, description="first lockout; each further lockout doubles it"
    )
    login_max_lockout_s: float = Field(3600.0, ge=1.0, le=86400.0, description="longest lockout")
    login_global_max_failures: int = Field(
        30, ge=1, le=10000, description="failed logins from all addresses together within the window"
    )
    max_connections: int = Field(64, ge=4, le=1024, description="concurrent HTTP connections (one thread each)")
    max_streams: int = Field(12, ge=1, le=256, description="concurrent live-update streams (SSE)")
    stream_fps: float = Field(15.0, gt=0.0, le=60.0, description="most skeleton frames per second sent to a screen")
    camera_picture: str = Field(
        "kiosk",
        pattern="^(off|kiosk)$",
        description="live camera picture: 'kiosk' shows it on this machine's display only, never over the network",
    )
    demo: bool = Field(False, description="run the simulated publisher (no camera) and show its 'simulate' button")

    @model_validator(mode="after")
    def _consistent(self) -> "WebSettings":
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        if self.trust_local and self.behind_proxy:
            raise ValueError(
                "trust_local must be off behind a reverse proxy: every proxied request comes from 127.0.0.1"
            )
        if self.session_max_s < self.session_idle_s:
            raise ValueError("session_max_s must not be shorter than session_idle_s")
        if self.login_max_lockout_s < self.login_lockout_s:
            raise ValueError("login_max_lockout_s must not be shorter than login_lockout_s")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry the Secure flag when asked or when this app serves TLS itself."""
        return self.cookie_secure or self.tls
