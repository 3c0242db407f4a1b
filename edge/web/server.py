"""The HTTP server under the screen: the standard library's threading server, kept on a short leash.

Why the standard library (``http.server.ThreadingHTTPServer``) and not an ASGI stack: the appliance
serves one kiosk and a few tablets; a thread per connection is plenty, server-sent events are a
loop that writes, and nothing needs installing on the Jetson (no wheels for its ARM/Python mix, no
event loop to tune). What a bare ``http.server`` lacks is added here:

- connections are capped (``max_connections``; beyond it a 503 and close), each socket has a
  30 s time-out (slow or dead clients are dropped), and each thread is a daemon;
- request bodies need ``Content-Length`` and are capped at 64 KiB; chunked uploads are refused;
- the client address comes from the socket only; headers cannot change it;
- optional TLS with the handshake in the connection's thread (a stalled handshake cannot block
  accepting others); HTTP/1.1 keep-alive for normal responses, ``Connection: close`` for streams.

``ScreenServer.start()`` runs it in a background thread; ``stop()`` ends streams and closes it.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from edge.web.app import ScreenApp
from edge.web.routing import MAX_BODY_BYTES, Request, Response

log = logging.getLogger(__name__)
SOCKET_TIMEOUT_S = 30.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FieldCoach"
    sys_version = ""
    timeout = SOCKET_TIMEOUT_S
    server: "_Server"

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(self.timeout)
            self.request.do_handshake()
        super().setup()

    def log_message(self, fmt: str, *args) -> None:
        log.debug("%s %s", self.client_address[0], fmt % args)

    def _reply(self, resp: Response) -> None:
        try:
            self.send_response(resp.status)
            for k, v in resp.headers:
                self.send_header(k, v)
            if resp.stream is None:
                self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                self.wfile.write(resp.body)
                return
            self.send_header("Connection", "close")
            self.close_connection = True
            self.end_headers()
            for chunk in resp.stream:
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, ssl.SSLError, OSError):
            self.close_connection = True  # the screen went away
        finally:
            close = getattr(resp.stream, "close", None)
            if close is not None:
                close()

    def _error(self, status: int, message: str) -> None:
        body = ('{"error":"' + message + '"}').encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _dispatch(self) -> None:
        if self.headers.get("Transfer-Encoding"):
            return self._error(411, "send a Content-Length; chunked bodies are not accepted.")
        length = self.headers.get("Content-Length")
        body = b""
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return self._error(400, "the Content-Length is not a number.")
            if n < 0 or n > MAX_BODY_BYTES:
                return self._error(413, "the request body is too large.")
            body = self.rfile.read(n)
        elif self.command in ("POST", "PUT", "PATCH"):
            return self._error(411, "send a Content-Length.")
        scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        req = Request.build(self.command, self.path, self.headers.items(), body, self.client_address[0], scheme)
        self._reply(self.server.app.handle(req))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 32

    def __init__(self, address, app: ScreenApp, max_connections: int, family: int, tls: ssl.SSLContext | None):
        self.address_family = family
        self.app = app
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(2.0)
                if not isinstance(request, ssl.SSLSocket):
                    request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        log.debug("connection from %s ended with an error", client_address[0], exc_info=True)


class ScreenServer:
    """The screen's HTTP(S) server on ``settings.bind``:``port`` (``port=0`` in tests: any free port)."""

    def __init__(self, app: ScreenApp, port: int | None = None) -> None:
        s = app.settings
        family = socket.AF_INET6 if ":" in s.bind else socket.AF_INET
        tls = None
        if s.tls:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.minimum_version = ssl.TLSVersion.TLSv1_2
            tls.load_cert_chain(str(s.tls_cert), str(s.tls_key))
        self.app = app
        self._httpd = _Server((s.bind, s.port if port is None else port), app, s.max_connections, family, tls)
        self._thread: threading.Thread | None = None
        self._serving = False

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = self.app.settings.bind
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.app.settings.tls else 'http'}://{host}:{self.port}"

    def start(self) -> "ScreenServer":
        self._serving = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="screen-http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._serving = True
        self._httpd.serve_forever(poll_interval=0.5)

    def stop(self) -> None:
        self.app.stop_streams()
        if self._serving:
            self._httpd.shutdown()
            self._serving = False
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
