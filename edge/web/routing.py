"""The web app's request, response and route table, independent of the HTTP server underneath.

Every route is declared once, with its access rule: ``public`` (no login: the login page, static
files, the login call) or ``protected`` (a valid session, or the trusted local kiosk). Changes
(POST) additionally need the session's CSRF token. Because the table is plain data, tests walk it
and prove that every protected route refuses an unauthenticated remote client; a new endpoint
cannot be added without an access rule.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import parse_qs

PUBLIC = "public"
PROTECTED = "protected"
#: Methods that change state: they always need a session and its CSRF token.
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_BODY_BYTES = 64 * 1024


class HTTPError(Exception):
    """Ends a request with ``status`` and a one-sentence message (sent as JSON ``{"error": ...}``)."""

    def __init__(self, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


@dataclass
class Request:
    """One HTTP request. ``client`` is the peer's IP address as the socket saw it (never a header)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    client: str
    scheme: str = "http"
    params: dict = field(default_factory=dict)
    context: dict = field(default_factory=dict)  # set by the app: session, identity

    @staticmethod
    def build(method: str, target: str, headers: Iterable[tuple[str, str]], body: bytes, client: str,
              scheme: str = "http") -> "Request":
        path, _, qs = target.partition("?")
        h: dict[str, str] = {}
        for k, v in headers:
            h[k.lower()] = v if k.lower() not in h else h[k.lower()] + ", " + v
        return Request(method.upper(), path or "/", parse_qs(qs, keep_blank_values=True), h, body, client, scheme)

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    @property
    def cookies(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in (self.header("cookie") or "").split(";"):
            k, sep, v = part.strip().partition("=")
            if sep and k and k not in out:
                out[k] = v.strip().strip('"')
        return out

    def json(self) -> dict:
        """The body as a JSON object; HTTPError 415/400 otherwise."""
        ctype = (self.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise HTTPError(415, "send the request body as application/json.")
        try:
            data = json.loads(self.body.decode("utf-8")) if self.body else {}
        except (UnicodeDecodeError, ValueError):
            raise HTTPError(400, "the request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise HTTPError(400, "the request body must be a JSON object.")
        return data


@dataclass
class Response:
    """A response: ``body`` bytes, or ``stream``: an iterable of byte chunks (server-sent events) whose
    ``close()``, if it has one, the server calls when the response ends, however it ends."""

    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterable[bytes] | None = None

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def json_response(data, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Response:
    body = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, [("Content-Type", "application/json; charset=utf-8"), *headers])


def redirect(location: str, status: int = 303) -> Response:
    return Response(status, b"", [("Location", location)])


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """``pattern`` is a path with ``{name}`` or ``{name:int}`` parts; ``access`` is PUBLIC or PROTECTED.
    ``page``: an HTML page (an unauthenticated visitor is sent to the login page instead of a 401)."""

    method: str
    pattern: str
    handler: Handler
    access: str = PROTECTED
    page: bool = False
    name: str = ""

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING

    def regex(self) -> re.Pattern:
        def part(m: re.Match) -> str:
            name, _, kind = m.group(1).partition(":")
            if kind == "int":
                return rf"(?P<{name}>[1-9][0-9]{{0,17}})"
            if kind == "path":
                return rf"(?P<{name}>[A-Za-z0-9._/-]+)"
            return rf"(?P<{name}>[A-Za-z0-9_-]+)"

        pieces, pos = [], 0
        for m in re.finditer(r"\{([a-z_]+(?::[a-z]+)?)\}", self.pattern):
            pieces += [re.escape(self.pattern[pos : m.start()]), part(m)]
            pos = m.end()
        pieces.append(re.escape(self.pattern[pos:]))
        return re.compile("^" + "".join(pieces) + "$")

    def example_path(self) -> str:
        """A concrete path matching the pattern (ids 1, names 'x', paths 'app.css'): for tests."""
        out = re.sub(r"\{[a-z_]+:int\}", "1", self.pattern)
        out = re.sub(r"\{[a-z_]+:path\}", "app.css", out)
        return re.sub(r"\{[a-z_]+\}", "x", out)


class Router:
    """Matches (method, path) to a route; 404 for an unknown path, 405 for a known path and wrong method."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes: tuple[Route, ...] = tuple(routes)
        for r in self.routes:
            if r.access not in (PUBLIC, PROTECTED):
                raise ValueError(f"route {r.method} {r.pattern} has no valid access rule ({r.access!r}).")
        self._compiled = [(r, r.regex()) for r in self.routes]

    def match(self, method: str, path: str) -> tuple[Route, dict]:
        allowed = []
        for route, rx in self._compiled:
            m = rx.match(path)
            if m is None:
                continue
            if route.method == method:
                params = {k: int(v) if f"{{{k}:int}}" in route.pattern else v for k, v in m.groupdict().items()}
                return route, params
            allowed.append(route.method)
        if allowed:
            raise HTTPError(405, f"{method} is not allowed here.", [("Allow", ", ".join(sorted(set(allowed))))])
        raise HTTPError(404, "there is no such page or endpoint.")
