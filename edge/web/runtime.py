"""Putting the screen together: database connections, state, authentication, app, server, demo.

``ScreenRuntime.open`` is what ``fieldcoach screen`` runs and what the tests start on 127.0.0.1.
The real-time service (``fieldcoach serve``) creates its ``ScreenState`` and writable connection first and passes them
in (``state=``, ``writer=``, ``control=``, ``health=``, ``metrics=``), so that it and the screen
share one bus and one single-writer connection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge.config import FieldCoachConfig
from edge.store.db import connect
from edge.web.app import ScreenApp, ServiceControl
from edge.web.auth import Authenticator
from edge.web.demo import DemoPublisher
from edge.web.passwords import DEFAULT_PARAMS, CredentialStore, ScryptParams
from edge.web.readers import ReaderPool
from edge.web.references import ReferenceLibrary
from edge.web.server import ScreenServer
from edge.web.settings import WebSettings
from edge.web.state import ScreenState


@dataclass
class ScreenRuntime:
    app: ScreenApp
    server: ScreenServer
    state: ScreenState
    writer: object
    readers: ReaderPool
    demo: DemoPublisher | None
    _own_writer: bool = True

    @staticmethod
    def open(
        db_path: str | os.PathLike,
        settings: WebSettings,
        config: FieldCoachConfig | None = None,
        *,
        port: int | None = None,
        state: ScreenState | None = None,
        writer=None,
        control: ServiceControl | None = None,
        health=None,
        metrics=None,
        references_dir: str | os.PathLike | None = None,
        scrypt_params: ScryptParams = DEFAULT_PARAMS,
        demo_options: dict | None = None,
        clock=None,
    ) -> "ScreenRuntime":
        """Open the database, build the app (and the demo publisher when ``settings.demo``) and bind
        the server (not yet serving: call ``start()``)."""
        config = config or FieldCoachConfig()
        own = writer is None
        writer = writer if writer is not None else connect(Path(db_path))
        state = state or ScreenState()
        references = ReferenceLibrary(references_dir)
        demo = None
        if settings.demo:
            if control is not None:
                raise ValueError("demo mode publishes itself; do not pass a service control as well.")
            demo = DemoPublisher(state, writer, config, references=references, **(demo_options or {}))
            demo.setup()
            control = demo
        readers = ReaderPool(db_path)
        credentials = CredentialStore(settings.credentials_file, scrypt_params)
        auth = Authenticator(settings, credentials, **({"clock": clock} if clock else {}))
        app = ScreenApp(settings, auth, state, writer, readers, references=references, control=control,
                        health=health, metrics=metrics)  # fmt: skip
        server = ScreenServer(app, port)
        return ScreenRuntime(app, server, state, writer, readers, demo, own)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> "ScreenRuntime":
        self.server.start()
        return self

    def close(self) -> None:
        if self.demo is not None:
            self.demo.stop()
        self.server.stop()
        self.readers.close()
        if self._own_writer:
            self.writer.close()
