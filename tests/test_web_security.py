"""Security of the teacher's screen: every data and every mutating endpoint refuses a request without a
valid session from a non-local address (the route table is enumerated, so a new endpoint cannot slip
through), CSRF on every change, session expiry, the login rate limit, scrypt hashing, cookie flags,
local kiosk trust only by setting, and the service's refusal to run as root."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from edge.store.db import connect
from edge.web.app import STATIC_DIR, ScreenApp
from edge.web.auth import Authenticator, host_is_loopback, is_loopback
from edge.web.passwords import (
    DEFAULT_PARAMS,
    CredentialError,
    CredentialStore,
    ScryptParams,
    check_secret_strength,
    hash_secret,
    verify_secret,
)
from edge.web.ratelimit import LoginLimiter, client_key
from edge.web.readers import ReaderPool
from edge.web.routing import MUTATING, PROTECTED, PUBLIC, Request
from edge.web.runtime import ScreenRuntime
from edge.web.settings import WebSettings
from edge.web.state import ScreenState

FAST = ScryptParams(n=2**10, r=8, p=1)  # tests only: the default costs ~0.5 s per check
REMOTE = "192.168.1.50"
REMOTE_HOST = "fieldcoach.school:8080"
TEACHER, PIN = "ms_rivera", "482913"

#: The only routes anyone may call without a login. Adding a public route must change this set.
EXPECTED_PUBLIC = {
    ("GET", "/login"),
    ("GET", "/static/{file:path}"),
    ("GET", "/api/session"),
    ("POST", "/api/login"),
    ("GET", "/health"),  # service status and model version only (the update's health check)
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def env(tmp_path):
    """A ScreenApp over a fresh database, with one teacher, a fake clock and no HTTP server."""

    def make(**overrides):
        settings = WebSettings(credentials_file=tmp_path / "teachers.json", **overrides)
        creds = CredentialStore(settings.credentials_file, FAST)
        if TEACHER not in creds.teachers():
            creds.set_teacher(TEACHER, PIN)
        clock = Clock()
        db = tmp_path / f"screen{len(made)}.db"
        writer = connect(db)
        app = ScreenApp(settings, Authenticator(settings, creds, clock), ScreenState(), writer, ReaderPool(db))
        app.clock = clock
        made.append(writer)
        return app

    made = []
    yield make
    for w in made:
        w.close()


def call(app, method, path, *, client=REMOTE, host=REMOTE_HOST, cookie=None, csrf=None, body=None, headers=()):
    h = [("Host", host), *headers]
    if cookie:
        h.append(("Cookie", cookie))
    if csrf:
        h.append(("X-CSRF-Token", csrf))
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        h.append(("Content-Type", "application/json"))
    return app.handle(Request.build(method, path, h, data, client))


def cookie_of(resp) -> str:
    return next(v for k, v in resp.headers if k == "Set-Cookie").split(";")[0]


def login(app, client=REMOTE, user=TEACHER, secret=PIN):
    """Anonymous session -> login; returns (response, cookie, csrf)."""
    s = call(app, "GET", "/api/session", client=client)
    cookie, csrf = cookie_of(s), json.loads(s.body)["csrf"]
    r = call(app, "POST", "/api/login", client=client, cookie=cookie, csrf=csrf, body={"user": user, "password": secret})
    if r.status != 200:
        return r, cookie, csrf
    return r, cookie_of(r), json.loads(r.body)["csrf"]


# ---------------------------------------------------------------- the route table


def test_public_routes_are_exactly_the_expected_ones(env):
    app = env()
    public = {(r.method, r.pattern) for r in app.router.routes if r.access == PUBLIC}
    assert public == EXPECTED_PUBLIC
    assert all(r.access in (PUBLIC, PROTECTED) for r in app.router.routes)
    # every change needs a session, so no mutating route is public except the login itself
    assert {(r.method, r.pattern) for r in app.router.routes if r.access == PUBLIC and r.mutating} == {("POST", "/api/login")}


def test_every_protected_route_refuses_a_remote_client_without_a_session(env):
    app = env()
    protected = [r for r in app.router.routes if r.access == PROTECTED]
    assert len(protected) >= 15
    for r in protected:
        for cookie in (None, "fc_session=forged-token-value"):
            resp = call(app, r.method, r.example_path(), cookie=cookie, body={} if r.mutating else None)
            if r.page:
                assert resp.status == 303 and resp.header("Location") == "/login", r.pattern
            else:
                assert resp.status == 401, (r.method, r.pattern, resp.status)
                assert set(json.loads(resp.body)) == {"error"}, r.pattern


def test_an_anonymous_session_with_its_csrf_token_is_still_refused(env):
    app = env()
    s = call(app, "GET", "/api/session")
    cookie, csrf = cookie_of(s), json.loads(s.body)["csrf"]
    for r in app.router.routes:
        if r.access == PROTECTED and not r.page:
            resp = call(app, r.method, r.example_path(), cookie=cookie, csrf=csrf, body={} if r.mutating else None)
            assert resp.status == 401, r.pattern


def test_methods_outside_the_table_are_refused(env):
    app = env()
    for method in ("PUT", "DELETE", "PATCH"):
        for r in app.router.routes:
            if r.method != method:
                assert call(app, method, r.example_path()).status in (404, 405), (method, r.pattern)


def test_public_routes_expose_no_data(env):
    app = env()
    s = call(app, "GET", "/api/session")
    info = json.loads(s.body)
    assert info["authenticated"] is False and info["user"] is None and info["kiosk"] is False
    assert set(info) == {"authenticated", "user", "kiosk", "csrf", "demo", "idle_timeout_s"}
    page = call(app, "GET", "/login")
    assert page.status == 200 and b"<form" in page.body
    for rel in ("app.css", "app.js", "../app.py", "..%2fapp.py", "nope.js", "index.html/../../auth.py"):
        resp = call(app, "GET", f"/static/{rel}")
        if rel in ("app.css", "app.js"):
            assert resp.status == 200
        else:
            assert resp.status == 404, rel


# ---------------------------------------------------------------- who is local


def test_local_trust_needs_the_setting_a_loopback_peer_and_a_loopback_host(env):
    trusting, strict = env(trust_local=True), env(trust_local=False)
    assert call(trusting, "GET", "/api/state", client="127.0.0.1", host="localhost:8080").status == 200
    assert call(trusting, "GET", "/api/state", client="::1", host="[::1]:8080").status == 200
    assert call(strict, "GET", "/api/state", client="127.0.0.1", host="localhost:8080").status == 401
    # DNS rebinding: a loopback peer but a foreign Host name
    assert call(trusting, "GET", "/api/state", client="127.0.0.1", host="evil.example:8080").status == 401
    # a remote peer cannot claim to be local with headers
    spoof = [("X-Forwarded-For", "127.0.0.1"), ("X-Real-IP", "127.0.0.1"), ("Forwarded", "for=127.0.0.1")]
    assert call(trusting, "GET", "/api/state", host="localhost", headers=spoof).status == 401


def test_loopback_helpers():
    assert is_loopback("127.0.0.1") and is_loopback("127.8.9.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("192.168.1.50") and not is_loopback("::ffff:10.0.0.1") and not is_loopback("garbage")
    assert host_is_loopback("localhost:8080") and host_is_loopback("127.0.0.1") and host_is_loopback("[::1]:80")
    assert not host_is_loopback("localhost.evil.com") and not host_is_loopback("") and not host_is_loopback(None)


def test_settings_refuse_local_trust_behind_a_proxy(tmp_path):
    with pytest.raises(ValueError, match="proxy"):
        WebSettings(trust_local=True, behind_proxy=True)
    with pytest.raises(ValueError, match="together"):
        WebSettings(tls_cert=tmp_path / "c.pem")
    assert WebSettings(trust_local=False, behind_proxy=True).trust_local is False


def test_the_camera_picture_never_leaves_the_machine(env):
    app = env()
    app.state.publish_picture(b"\xff\xd8\xff\xe0fakejpeg")
    _, cookie, _ = login(app)
    assert call(app, "GET", "/api/live/picture", cookie=cookie).status == 403  # a logged-in tablet
    kiosk = call(app, "GET", "/api/live/picture", client="127.0.0.1", host="localhost")
    assert kiosk.status == 200 and kiosk.header("Content-Type") == "image/jpeg"


# ---------------------------------------------------------------- CSRF


def test_every_mutating_route_needs_the_csrf_token_and_the_same_origin(env):
    app = env()
    mutating = [r for r in app.router.routes if r.mutating and r.access == PROTECTED]
    assert {r.method for r in mutating} <= MUTATING and len(mutating) >= 5
    for r in mutating:
        _, cookie, csrf = login(app)  # fresh each time: one of the routes is the logout
        path = r.example_path()
        assert call(app, r.method, path, cookie=cookie, body={}).status == 403, r.pattern
        assert call(app, r.method, path, cookie=cookie, csrf="x" * 43, body={}).status == 403, r.pattern
        cross = [("Origin", "http://evil.example")]
        assert call(app, r.method, path, cookie=cookie, csrf=csrf, body={}, headers=cross).status == 403, r.pattern
        fetch_site = [("Sec-Fetch-Site", "cross-site")]
        assert call(app, r.method, path, cookie=cookie, csrf=csrf, body={}, headers=fetch_site).status == 403
        ok = call(app, r.method, path, cookie=cookie, csrf=csrf, body={},
                  headers=[("Origin", f"http://{REMOTE_HOST}")])  # fmt: skip
        assert ok.status not in (401, 403), (r.pattern, ok.status, ok.body)


def test_the_kiosk_needs_csrf_too(env):
    app = env()
    s = call(app, "GET", "/api/session", client="127.0.0.1", host="localhost")
    info = json.loads(s.body)
    assert info["authenticated"] and info["kiosk"]
    cookie = cookie_of(s)
    body = {"student_id": 1}
    assert call(app, "POST", "/api/next", client="127.0.0.1", host="localhost", body=body).status == 403
    assert call(app, "POST", "/api/next", client="127.0.0.1", host="localhost", cookie=cookie, body=body).status == 403
    ok = call(app, "POST", "/api/next", client="127.0.0.1", host="localhost", cookie=cookie, csrf=info["csrf"], body=body)
    assert ok.status == 503  # passed auth and CSRF; no recording service in this app


def test_login_itself_needs_a_session_and_its_token(env):
    app = env()
    body = {"user": TEACHER, "password": PIN}
    assert call(app, "POST", "/api/login", body=body).status == 403
    s = call(app, "GET", "/api/session")
    assert call(app, "POST", "/api/login", cookie=cookie_of(s), body=body).status == 403
    r = call(app, "POST", "/api/login", cookie=cookie_of(s), csrf=json.loads(s.body)["csrf"], body=body)
    assert r.status == 200


# ---------------------------------------------------------------- sessions


def test_login_gives_a_fresh_session_and_logout_ends_it(env):
    app = env()
    s = call(app, "GET", "/api/session")
    anon = cookie_of(s)
    r, cookie, csrf = login(app)
    assert r.status == 200 and cookie != anon
    assert call(app, "GET", "/api/state", cookie=cookie).status == 200
    assert call(app, "GET", "/api/state", cookie=anon).status == 401  # no session fixation
    out = call(app, "POST", "/api/logout", cookie=cookie, csrf=csrf, body={})
    assert out.status == 200 and "Max-Age=0" in out.header("Set-Cookie")
    assert call(app, "GET", "/api/state", cookie=cookie).status == 401


def test_sessions_expire_when_idle_and_at_their_maximum_age(env):
    app = env(session_idle_s=600, session_max_s=1800)
    _, cookie, _ = login(app)
    app.clock.now += 599
    assert call(app, "GET", "/api/state", cookie=cookie).status == 200
    app.clock.now += 601
    assert call(app, "GET", "/api/state", cookie=cookie).status == 401
    _, cookie, _ = login(app)
    for _ in range(5):  # used every 5 minutes, yet over after 30 minutes
        app.clock.now += 300
        assert call(app, "GET", "/api/state", cookie=cookie).status == 200
    app.clock.now += 301
    assert call(app, "GET", "/api/state", cookie=cookie).status == 401


def test_an_open_event_stream_ends_when_its_session_expires(env):
    app = env(session_idle_s=600, session_max_s=1800)
    _, cookie, _ = login(app)
    resp = call(app, "GET", "/api/events", cookie=cookie)
    assert resp.status == 200
    chunks = iter(resp.stream)
    assert next(chunks).startswith(b"retry:")
    assert b"event: snapshot" in next(chunks)
    app.state.set_phase("recording")
    assert b"event: phase" in next(chunks)
    app.clock.now += 601  # idle too long: the stream must not keep delivering
    app.state.set_phase("analysing")
    assert next(chunks) == b"event: logout\ndata: {}\n\n"
    with pytest.raises(StopIteration):
        next(chunks)
    resp.stream.close()
    assert app.state.subscribers == 0


def test_cookie_flags(env):
    r, _, _ = login(env())
    c = r.header("Set-Cookie")
    assert c.startswith("fc_session=") and "HttpOnly" in c and "SameSite=Strict" in c and "Path=/" in c
    assert "Secure" not in c
    r, _, _ = login(env(cookie_secure=True))
    c = r.header("Set-Cookie")
    assert c.startswith("__Host-fc_session=") and "; Secure" in c and "HttpOnly" in c


def test_security_headers(env):
    app = env()
    for path in ("/login", "/api/session", "/api/state", "/static/app.js"):
        r = call(app, "GET", path)
        csp = r.header("Content-Security-Policy")
        assert "script-src 'self'" in csp and "unsafe" not in csp and "frame-ancestors 'none'" in csp
        assert r.header("X-Content-Type-Options") == "nosniff" and r.header("X-Frame-Options") == "DENY"
        assert r.header("Cache-Control") in ("no-store", "no-cache")
    assert call(app, "GET", "/api/state").header("Cache-Control") == "no-store"


def test_pages_have_no_inline_code_and_scripts_never_write_html():
    for page in ("index.html", "login.html"):
        html = (STATIC_DIR / page).read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), page
        assert not re.search(r"\sstyle\s*=", html) and not re.search(r"\son[a-z]+\s*=", html), page
        assert "http://" not in html and "https://" not in html, page  # nothing from the network
    for js in STATIC_DIR.glob("*.js"):
        src = js.read_text()
        assert "innerHTML" not in src and "outerHTML" not in src and "eval(" not in src, js.name
        assert "http://" not in src.replace("http://www.w3.org/2000/svg", ""), js.name


# ---------------------------------------------------------------- login rate limit


def test_login_rate_limit_holds_even_for_the_right_pin(env):
    app = env(login_max_failures=5, login_window_s=60, login_lockout_s=60, login_max_lockout_s=3600)
    for i in range(4):
        r, _, _ = login(app, secret=f"00000{i}x")
        assert r.status == 401
    r, _, _ = login(app, secret="wrong-pin")
    assert r.status == 401 and int(r.header("Retry-After")) >= 60
    r, _, _ = login(app)  # the right PIN while locked
    assert r.status == 429 and int(r.header("Retry-After")) > 0
    r, _, _ = login(app, client="192.168.1.51")  # another tablet is not locked
    assert r.status == 200
    app.clock.now += 61
    r, _, _ = login(app)
    assert r.status == 200


def test_lockouts_double_and_the_lock_costs_no_kdf(env, monkeypatch):
    app = env(login_max_failures=3, login_window_s=60, login_lockout_s=10, login_max_lockout_s=25)
    waits = []
    for _ in range(3):  # three lockouts in a row: 10, 20, then capped at 25 s
        for _ in range(3):
            r, _, _ = login(app, secret="bad-secret")
        waits.append(int(r.header("Retry-After")))
        calls = []
        monkeypatch.setattr(app.auth.credentials, "check", lambda *a: calls.append(a) or True)
        assert login(app)[0].status == 429 and calls == []
        monkeypatch.undo()
        app.clock.now += waits[-1] + 0.5
    assert waits == [11, 21, 26]  # seconds, rounded up


def test_parallel_guesses_cannot_outrun_the_limit(env, monkeypatch):
    import threading

    app = env(login_max_failures=5)
    checks = []
    slow = threading.Event()

    def check(name, secret):
        checks.append(secret)
        slow.wait(0.05)  # every guess in flight at once
        return False

    monkeypatch.setattr(app.auth.credentials, "check", check)
    s = call(app, "GET", "/api/session")
    cookie, csrf = cookie_of(s), json.loads(s.body)["csrf"]
    statuses = []

    def guess(i):
        r = call(app, "POST", "/api/login", cookie=cookie, csrf=csrf, body={"user": TEACHER, "password": f"{i:06d}"})
        statuses.append(r.status)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(checks) == 5 and statuses.count(401) == 5 and statuses.count(429) == 15


def test_global_login_limit_stops_guessing_from_many_addresses(env):
    app = env(login_max_failures=5, login_global_max_failures=8)
    for i in range(8):
        assert login(app, client=f"10.0.0.{i + 1}", secret="bad-secret")[0].status == 401
    assert login(app, client="10.0.0.99")[0].status == 429


def test_limiter_keys_and_memory_bound():
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert client_key("::ffff:192.168.1.5") == "192.168.1.5" and client_key("10.1.2.3") == "10.1.2.3"
    lim = LoginLimiter(max_failures=2, max_keys=50)
    for i in range(200):
        lim.failure(f"10.0.{i // 250}.{i % 250}")
    assert len(lim) == 50


# ---------------------------------------------------------------- password hashing


def test_scrypt_hashes(tmp_path):
    h1, h2 = hash_secret(PIN, FAST), hash_secret(PIN, FAST)
    assert h1 != h2 and h1.startswith("scrypt$1024$8$1$")  # a fresh salt each time, parameters stored
    assert verify_secret(PIN, h1) and verify_secret(PIN, h2)
    assert not verify_secret("482914", h1) and not verify_secret("", h1)
    with pytest.raises(CredentialError):
        verify_secret(PIN, "sha256$abc")
    # the default is one of the OWASP Password Storage Cheat Sheet's equivalent scrypt minimums, the one
    # with the least memory (16 MiB) for a Jetson Nano that shares its 4 GB with the GPU
    owasp = {(2**17, 8, 1), (2**16, 8, 2), (2**15, 8, 3), (2**14, 8, 5), (2**13, 8, 10)}
    assert (DEFAULT_PARAMS.n, DEFAULT_PARAMS.r, DEFAULT_PARAMS.p) in owasp
    assert DEFAULT_PARAMS.memory_bytes == 16 * 2**20


def test_weak_secrets_are_refused_and_the_file_is_private(tmp_path):
    for weak in ("12345", "111111", "123456", "987654", "short", " 482913"):
        with pytest.raises(CredentialError):
            check_secret_strength(weak)
    check_secret_strength("482913")
    check_secret_strength("long enough password")
    store = CredentialStore(tmp_path / "web" / "teachers.json", FAST)
    store.set_teacher("kim", "730261")
    assert (store.path.stat().st_mode & 0o777) == 0o600
    assert "730261" not in store.path.read_text()
    assert store.check("kim", "730261") and not store.check("kim", "730262") and not store.check("nobody", "730261")
    store.remove_teacher("kim")
    assert store.teachers() == []


# ---------------------------------------------------------------- the real server


def _get(port, path, host=None, headers=None, method="GET", body=None, tls=False):
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ctx)
    else:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {"Host": host or f"127.0.0.1:{port}", **(headers or {})}
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def test_server_on_loopback_enforces_login_when_local_trust_is_off(tmp_path):
    settings = WebSettings(credentials_file=tmp_path / "t.json", trust_local=False)
    CredentialStore(settings.credentials_file, FAST).set_teacher(TEACHER, PIN)
    rt = ScreenRuntime.open(tmp_path / "db.sqlite", settings, port=0, scrypt_params=FAST).start()
    try:
        port = rt.server.port
        r, _ = _get(port, "/api/state")
        assert r.status == 401
        r, _ = _get(port, "/")
        assert r.status == 303 and r.getheader("Location") == "/login"
        r, data = _get(port, "/api/session")
        cookie = r.getheader("Set-Cookie").split(";")[0]
        csrf = json.loads(data)["csrf"]
        r, _ = _get(port, "/api/login", method="POST", body=b"x" * (70 * 1024),
                    headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"})  # fmt: skip
        assert r.status == 413
        body = json.dumps({"user": TEACHER, "password": PIN}).encode()
        r, _ = _get(port, "/api/login", method="POST", body=body,
                    headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"})  # fmt: skip
        assert r.status == 200
        r, data = _get(port, "/api/state", headers={"Cookie": r.getheader("Set-Cookie").split(";")[0]})
        assert r.status == 200 and "phase" in json.loads(data)
    finally:
        rt.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
def test_tls_serving_marks_cookies_secure(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)  # fmt: skip
    settings = WebSettings(credentials_file=tmp_path / "t.json", tls_cert=cert, tls_key=key)
    rt = ScreenRuntime.open(tmp_path / "db.sqlite", settings, port=0, scrypt_params=FAST).start()
    try:
        assert rt.url.startswith("https://")
        r, data = _get(rt.server.port, "/api/session", host="localhost", tls=True)
        assert r.status == 200 and json.loads(data)["kiosk"] is True
        c = r.getheader("Set-Cookie")
        assert c.startswith("__Host-fc_session=") and "Secure" in c
        assert r.getheader("Strict-Transport-Security")
    finally:
        rt.close()


def test_the_screen_refuses_to_run_as_root(tmp_path, monkeypatch, capsys):
    from edge.cli import main

    monkeypatch.setattr("os.geteuid", lambda: 0)
    code = main(["screen", "--db", str(tmp_path / "db.sqlite"), "--credentials", str(tmp_path / "t.json")])
    assert code == 2 and "root" in capsys.readouterr().err
    assert not Path(tmp_path / "db.sqlite").exists()
