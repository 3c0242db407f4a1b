"""The teacher's screen: the route table and what each route does.

Routes (``ScreenApp.routes``; every one is PUBLIC or PROTECTED, see ``edge.web.routing``):

=======  ===================================  =========  ==========================================
method   path                                 access     what
=======  ===================================  =========  ==========================================
GET      /                                    protected  the screen (HTML shell; data comes by API)
GET      /login                               public     the login page (no data)
GET      /static/{file}                       public     CSS/JS/icons (no data)
GET      /health                              public     service health for systemd/updates (no data)
GET      /api/session                         public     who am I, and the CSRF token for this session
POST     /api/login                           public     teacher name + PIN/password (rate limited)
POST     /api/logout                          protected  end the session
GET      /api/meta                            protected  actions, phases, problems, grades, skeleton edges
GET      /api/state                           protected  the live state (snapshot)
GET      /api/events                          protected  the live state as server-sent events
GET      /api/live/picture                    protected  the camera picture: local kiosk only, never remote
GET      /api/attempts/{id}                   protected  one stored attempt's result screen
POST     /api/attempts/{id}/override          protected  a teacher's correction (score, grade, problems)
GET      /api/classes                         protected  the classes
GET      /api/classes/{id}/students           protected  a class's roster
GET      /api/classes/{id}/overview           protected  students x attempts, best, trend (?action=)
GET      /api/classes/{id}/export.csv         protected  the class's results as CSV
GET      /api/settings                        protected  action, camera, model versions, update status
POST     /api/settings/action                 protected  change the action being recorded
POST     /api/next                            protected  choose the student who is up next
POST     /api/demo/attempt                    protected  demo mode: simulate one attempt now
GET      /api/metrics                         protected  the service's counters and latencies
=======  ===================================  =========  ==========================================

Every POST also needs the session's CSRF token (``edge.web.csrf``). Responses carry a strict
Content-Security-Policy (scripts and styles only from this app, no inline code, no framing), and
API responses are never cached. The screen is plain HTML/CSS/JavaScript served from ``static/``:
no build step, nothing from the network.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Callable, Iterator, Protocol

from edge.actions.spec import ACTION_IDS, load_action
from edge.skeleton.joints import EDGES, JOINT_NAMES
from edge.store.db import StoreError
from edge.store.export_csv import class_csv
from edge.store.migrations import GRADES
from edge.store.repository import (
    RecordError,
    get_attempt,
    get_class,
    get_student,
    list_classes,
    list_students,
    override_attempt,
)
from edge.web.auth import Authenticator, Identity
from edge.web.csrf import csrf_problem
from edge.web.readers import ReaderPool
from edge.web.routing import (
    PROTECTED,
    PUBLIC,
    HTTPError,
    Request,
    Response,
    Route,
    Router,
    json_response,
    redirect,
)
from edge.web.settings import WebSettings
from edge.web.state import ScreenState
from edge.web.views import class_overview, stored_attempt_view

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
SSE_KEEPALIVE_S = 15.0


class ServiceControl(Protocol):
    """What the screen may ask of the running service (the real-time loop or the demo publisher)."""

    def set_action(self, action: str) -> None: ...

    def set_next_student(self, student_id: int) -> None: ...

    def trigger_attempt(self) -> bool:
        """Demo only: start one simulated attempt; False when one is already running."""
        ...


class _EventStream:
    """Server-sent events for one screen: bus events as ``event: kind`` / ``data: json`` blocks, a
    comment every 15 s to keep the connection open, and ``logout`` when the session ends. ``close``
    releases the subscription and the stream slot, also when the stream never started."""

    def __init__(self, app: "ScreenApp", identity: Identity, sub) -> None:
        self._app, self._identity, self._sub = app, identity, sub
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield b"retry: 3000\n\n"
        while not self._app.stopping.is_set() and not self._closed:
            if not self._app.auth.still_valid(self._identity):
                yield b"event: logout\ndata: {}\n\n"
                return
            events = self._sub.next(SSE_KEEPALIVE_S)
            if not events:
                yield b": keep-alive\n\n"
                continue
            yield b"".join(
                f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'), allow_nan=False)}\n\n".encode()
                for kind, data in events
            )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._sub.close()
            self._app._stream_ended()


class ScreenApp:
    """The web app: ``handle(request) -> response``; the HTTP server is ``edge.web.server``."""

    def __init__(
        self,
        settings: WebSettings,
        auth: Authenticator,
        state: ScreenState,
        writer,
        readers: ReaderPool,
        *,
        references: Callable[[str], list] = lambda action: [],
        control: ServiceControl | None = None,
        health: Callable[[], dict] | None = None,
        metrics: Callable[[], dict] | None = None,
        static_dir: Path = STATIC_DIR,
    ) -> None:
        self.settings = settings
        self.auth = auth
        self.state = state
        self.writer = writer
        self.readers = readers
        self.references = references
        self.control = control
        self.health = health
        self.metrics = metrics
        self.static_dir = Path(static_dir).resolve()
        self.stopping = threading.Event()
        self._streams = 0
        self._streams_lock = threading.Lock()
        self.router = Router(self.routes())

    def routes(self) -> list[Route]:
        R = Route
        return [
            R("GET", "/", self.page_index, PROTECTED, page=True),
            R("GET", "/login", self.page_login, PUBLIC, page=True),
            R("GET", "/static/{file:path}", self.static, PUBLIC),
            R("GET", "/api/session", self.api_session, PUBLIC),
            R("POST", "/api/login", self.api_login, PUBLIC),
            R("POST", "/api/logout", self.api_logout),
            R("GET", "/api/meta", self.api_meta),
            R("GET", "/api/state", self.api_state),
            R("GET", "/api/events", self.api_events),
            R("GET", "/api/live/picture", self.api_picture),
            R("GET", "/api/attempts/{id:int}", self.api_attempt),
            R("POST", "/api/attempts/{id:int}/override", self.api_override),
            R("GET", "/api/classes", self.api_classes),
            R("GET", "/api/classes/{id:int}/students", self.api_students),
            R("GET", "/api/classes/{id:int}/overview", self.api_overview),
            R("GET", "/api/classes/{id:int}/export.csv", self.api_export),
            R("GET", "/api/settings", self.api_settings),
            R("POST", "/api/settings/action", self.api_set_action),
            R("POST", "/api/next", self.api_next),
            R("POST", "/api/demo/attempt", self.api_demo_attempt),
            R("GET", "/health", self.api_health, PUBLIC),
            R("GET", "/api/metrics", self.api_metrics),
        ]

    # ---------------------------------------------------------------- dispatch

    def handle(self, request: Request) -> Response:
        try:
            resp = self._dispatch(request)
        except HTTPError as e:
            resp = json_response({"error": e.message}, e.status, e.headers)
        except Exception:
            log.exception("error answering %s %s", request.method, request.path)
            resp = json_response({"error": "the screen service had an internal error."}, 500)
        return self._secure(request, resp)

    def _dispatch(self, request: Request) -> Response:
        route, params = self.router.match(request.method, request.path)
        request.params = params
        identity = self.auth.identify(request)
        request.context["identity"] = identity
        if route.access == PROTECTED and not identity.authenticated:
            if route.page:
                return redirect("/login")
            raise HTTPError(401, "log in first.")
        if route.mutating:
            if identity.session is None:
                raise HTTPError(403, "this page has no session; reload it.")
            problem = csrf_problem(request, identity.session.csrf)
            if problem:
                raise HTTPError(403, problem)
        return route.handler(request)

    def _secure(self, request: Request, resp: Response) -> Response:
        resp.headers.extend(SECURITY_HEADERS)
        if self.settings.tls:
            resp.headers.append(("Strict-Transport-Security", "max-age=31536000"))
        if resp.header("Cache-Control") is None:
            static = request.path.startswith("/static/") and resp.status == 200
            resp.headers.append(("Cache-Control", "no-cache" if static else "no-store"))
        return resp

    @staticmethod
    def _identity(request: Request) -> Identity:
        return request.context["identity"]

    # ---------------------------------------------------------------- pages and files

    def _file(self, rel: str) -> Response:
        if ".." in rel.split("/") or rel.startswith("/"):
            raise HTTPError(404, "there is no such file.")
        path = (self.static_dir / rel).resolve()
        if not path.is_relative_to(self.static_dir) or not path.is_file() or path.suffix not in _TYPES:
            raise HTTPError(404, "there is no such file.")
        return Response(200, path.read_bytes(), [("Content-Type", _TYPES[path.suffix])])

    def page_index(self, request: Request) -> Response:
        return self._file("index.html")

    def page_login(self, request: Request) -> Response:
        if self._identity(request).authenticated:
            return redirect("/")
        return self._file("login.html")

    def static(self, request: Request) -> Response:
        return self._file(request.params["file"])

    # ---------------------------------------------------------------- session

    def _session_info(self, identity: Identity, session) -> dict:
        return {
            "authenticated": identity.authenticated or session.authenticated,
            "user": session.user if session.authenticated else identity.user,
            "kiosk": identity.trusted_local,
            "csrf": session.csrf,
            "demo": self.control is not None and self.settings.demo,
            "idle_timeout_s": self.settings.session_idle_s,
        }

    def api_session(self, request: Request) -> Response:
        identity = self._identity(request)
        session, cookies = self.auth.ensure_session(request, identity)
        return json_response(self._session_info(identity, session), headers=cookies)

    def api_login(self, request: Request) -> Response:
        body = request.json()
        identity = self._identity(request)
        session, cookies = self.auth.login(request, identity, body.get("user"), body.get("password"))
        log.info("teacher %r logged in from %s", session.user, request.client)
        return json_response(self._session_info(identity, session), headers=cookies)

    def api_logout(self, request: Request) -> Response:
        return json_response({"ok": True}, headers=self.auth.logout(self._identity(request)))

    # ---------------------------------------------------------------- live

    def api_meta(self, request: Request) -> Response:
        actions = []
        for a in ACTION_IDS:
            spec = load_action(a)
            actions.append(
                {
                    "id": a,
                    "name": spec.name,
                    "phases": [p.name for p in spec.phases],
                    "problems": [{"id": p.id, "title": p.title, "cue": p.cue} for p in spec.problems],
                }
            )
        return json_response({"actions": actions, "grades": list(GRADES), "edges": EDGES, "joints": JOINT_NAMES})

    def api_state(self, request: Request) -> Response:
        return json_response(self.state.snapshot())

    def api_picture(self, request: Request) -> Response:
        if self.settings.camera_picture != "kiosk" or not self._identity(request).trusted_local:
            raise HTTPError(403, "the camera picture is shown on the local screen only.")
        jpeg = self.state.picture()
        if jpeg is None:
            raise HTTPError(404, "there is no camera picture.")
        return Response(200, jpeg, [("Content-Type", "image/jpeg")])

    def api_events(self, request: Request) -> Response:
        identity = self._identity(request)
        with self._streams_lock:
            if self._streams >= self.settings.max_streams:
                raise HTTPError(503, "too many screens are connected; close one.", [("Retry-After", "10")])
            self._streams += 1
        return Response(
            200,
            headers=[("Content-Type", "text/event-stream"), ("X-Accel-Buffering", "no")],
            stream=_EventStream(self, identity, self.state.subscribe(1.0 / self.settings.stream_fps)),
        )

    def _stream_ended(self) -> None:
        with self._streams_lock:
            self._streams -= 1

    def stop_streams(self) -> None:
        """End every open event stream (server shutdown)."""
        self.stopping.set()
        self.state.close_subscriptions()

    # ---------------------------------------------------------------- attempts and classes

    def _attempt_view(self, attempt_id: int) -> dict:
        with self.readers.reader() as conn:
            try:
                a = get_attempt(conn, attempt_id)
                student = get_student(conn, a.student_id)
            except RecordError as e:
                raise HTTPError(404, str(e)) from None
        return stored_attempt_view(a, student, self.references(a.action))

    def api_attempt(self, request: Request) -> Response:
        return json_response(self._attempt_view(request.params["id"]))

    def api_override(self, request: Request) -> Response:
        body = request.json()
        unknown = set(body) - {"score", "grade", "problems", "note"}
        if unknown:
            raise HTTPError(400, f"unknown override field(s): {', '.join(sorted(unknown))}.")
        note = body.get("note") or None
        if note is not None and (not isinstance(note, str) or len(note) > 500):
            raise HTTPError(400, "the note must be text of at most 500 characters.")
        try:
            override_attempt(
                self.writer,
                request.params["id"],
                self._identity(request).user,
                score=body.get("score"),
                grade=body.get("grade"),
                problems=body.get("problems"),
                note=note,
            )
        except RecordError as e:
            status = 404 if str(e).startswith("there is no") else 400
            raise HTTPError(status, str(e)) from None
        view = self._attempt_view(request.params["id"])
        self.state.attempt_updated(view)
        return json_response(view)

    def api_classes(self, request: Request) -> Response:
        with self.readers.reader() as conn:
            return json_response([{"id": c.id, "name": c.name} for c in list_classes(conn)])

    def api_students(self, request: Request) -> Response:
        with self.readers.reader() as conn:
            try:
                students = list_students(conn, request.params["id"])
            except RecordError as e:
                raise HTTPError(404, str(e)) from None
        return json_response([{"id": s.id, "label": s.label, "pseudonym": s.pseudonym} for s in students])

    def _action_arg(self, request: Request) -> str:
        action = request.arg("action") or self.state.snapshot()["context"].get("action") or ACTION_IDS[0]
        if action not in ACTION_IDS:
            raise HTTPError(400, f"unknown action {action!r}.")
        return action

    def api_overview(self, request: Request) -> Response:
        action = self._action_arg(request)
        with self.readers.reader() as conn:
            try:
                return json_response(class_overview(conn, request.params["id"], action))
            except RecordError as e:
                raise HTTPError(404, str(e)) from None

    def api_export(self, request: Request) -> Response:
        with self.readers.reader() as conn:
            try:
                cls = get_class(conn, request.params["id"])
                data, _ = class_csv(conn, cls.id)
            except RecordError as e:
                raise HTTPError(404, str(e)) from None
        safe = "".join(c if c.isalnum() else "_" for c in cls.name)[:40] or "class"
        return Response(
            200,
            data,
            [("Content-Type", "text/csv; charset=utf-8"),
             ("Content-Disposition", f'attachment; filename="fieldcoach_{safe}.csv"')],
        )  # fmt: skip

    # ---------------------------------------------------------------- settings and control

    def api_settings(self, request: Request) -> Response:
        snap = self.state.snapshot()
        status = snap["status"]
        identity = self._identity(request)
        return json_response(
            {
                "action": snap["context"].get("action"),
                "actions": [{"id": a, "name": load_action(a).name} for a in ACTION_IDS],
                "camera": status.get("camera"),
                "models": status.get("models"),
                "update": status.get("update"),
                "service": self.control is not None,
                "demo": self.control is not None and self.settings.demo,
                "trust_local": self.settings.trust_local,
                "kiosk": identity.trusted_local,
                "user": identity.user,
            }
        )

    def _need_control(self) -> ServiceControl:
        if self.control is None:
            raise HTTPError(503, "the recording service is not running.")
        return self.control

    def api_set_action(self, request: Request) -> Response:
        action = request.json().get("action")
        if action not in ACTION_IDS:
            raise HTTPError(400, f"unknown action {action!r}; choose one of {', '.join(ACTION_IDS)}.")
        try:
            self._need_control().set_action(action)
        except (RecordError, StoreError) as e:
            raise HTTPError(409, str(e)) from None
        return json_response({"action": action})

    def api_next(self, request: Request) -> Response:
        sid = request.json().get("student_id")
        if isinstance(sid, bool) or not isinstance(sid, int) or sid < 1:
            raise HTTPError(400, "student_id must be a positive integer.")
        try:
            self._need_control().set_next_student(sid)
        except RecordError as e:
            raise HTTPError(400, str(e)) from None
        return json_response({"next": self.state.snapshot()["next"]})

    def api_health(self, request: Request) -> Response:
        """``{status, models_version, app_version, problems}``: 200 when ``ok``, else 503. Only the
        service's own state, no student data, so it needs no login (the update's health check)."""
        from edge import __version__

        if self.health is None:
            body = {"status": "screen-only", "models_version": None, "problems": ["no recording service runs"]}
        else:
            body = self.health()
        body = {**body, "app_version": __version__}
        return json_response(body, 200 if body.get("status") == "ok" else 503)

    def api_metrics(self, request: Request) -> Response:
        if self.metrics is None:
            raise HTTPError(503, "the recording service is not running.")
        return json_response(self.metrics())

    def api_demo_attempt(self, request: Request) -> Response:
        if not self.settings.demo or self.control is None:
            raise HTTPError(409, "simulated attempts are only available in demo mode.")
        if not self.control.trigger_attempt():
            raise HTTPError(409, "an attempt is already in progress.")
        return json_response({"started": True}, 202)
