"""Cross-site request forgery defence for every change (POST/PUT/PATCH/DELETE).

Three checks, all required:

1. Synchronizer token: the request carries the session's CSRF token in the ``X-CSRF-Token``
   header, compared in constant time. The token is random per session and is only handed out by
   ``GET /api/session`` (same-origin JSON, unreadable by another site). A custom header also
   forces a CORS preflight for any cross-site script, and the app answers no preflight.
2. Origin: when the browser sends ``Origin`` (it does for every POST), it must be this very
   host (scheme://Host). ``Sec-Fetch-Site``, when present, must be ``same-origin`` or ``none``.
3. The session cookie is ``SameSite=Strict``, so a cross-site request does not even carry it.
"""

from __future__ import annotations

import hmac

from edge.web.routing import Request

CSRF_HEADER = "x-csrf-token"


def origin_ok(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    site = request.header("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.header("origin")
    if origin is None:
        return True  # not a browser cross-site request (browsers send Origin on every POST)
    host = request.header("host")
    return bool(host) and origin == f"{request.scheme}://{host}"


def csrf_problem(request: Request, expected_token: str) -> str | None:
    """None when the request passes all CSRF checks, else the reason in one sentence."""
    if not origin_ok(request):
        return "the request comes from another site."
    sent = request.header(CSRF_HEADER)
    if not sent:
        return "the CSRF token is missing; reload the page."
    if not hmac.compare_digest(sent.encode("utf-8", "replace"), expected_token.encode("utf-8")):
        return "the CSRF token is wrong; reload the page."
    return None
