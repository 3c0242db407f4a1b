"""Reference performances for the angle plot's band: MotionDTW templates on disk, loaded once per action.

Files are ``<action>_ref<k>.npz`` (``edge.align.Template``), the layout ``calibration.templates``
writes. A missing folder or action means no band (the plot says so); an unreadable file is an error
in the log and that file is skipped, never replaced by something else.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from edge.align.template import Template, TemplateError

log = logging.getLogger(__name__)


class ReferenceLibrary:
    """``library(action)`` -> list of Templates found in ``directory`` (cached)."""

    def __init__(self, directory: str | os.PathLike | None) -> None:
        self.directory = None if directory is None else Path(directory)
        self._cache: dict[str, list[Template]] = {}
        self._lock = threading.Lock()

    def __call__(self, action: str) -> list[Template]:
        with self._lock:
            if action not in self._cache:
                self._cache[action] = self._load(action)
            return self._cache[action]

    def _load(self, action: str) -> list[Template]:
        if self.directory is None or not self.directory.is_dir():
            return []
        out = []
        for p in sorted(self.directory.glob(f"{action}_ref*.npz")):
            try:
                t = Template.load(p)
            except TemplateError as e:
                log.error("reference skipped: %s", e)
                continue
            if t.action == action:
                out.append(t)
        return out

    def put(self, action: str, templates: list[Template]) -> None:
        """Use ``templates`` for ``action`` (e.g. references built from the simulator for the demo)."""
        with self._lock:
            self._cache[action] = list(templates)
