"""Device update settings: the environment first, then ``/etc/fieldcoach/update.env``.

The update timer gets ``update.env`` from systemd (``EnvironmentFile=``); an operator running
``make ota-check`` in a shell does not, so the command reads the same file itself. The file holds
``KEY=value`` lines (optionally quoted, ``#`` comments), the subset of systemd's syntax used by
``systemd/update.env.example``. ``$FIELDCOACH_UPDATE_ENV`` names another file (tests).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

UPDATE_ENV = Path("/etc/fieldcoach/update.env")
_LINE = re.compile(r"^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(.*?)\s*$")


def read_env_file(path: str | Path) -> dict[str, str]:
    """``KEY=value`` pairs of an environment file; a missing or unreadable file gives {}."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if m:
            value = m[2]
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            out[m[1]] = value
    return out


def device_setting(name: str, default: str = "") -> str:
    """``$name`` if set and non-empty, else its value in the update.env file, else ``default``."""
    value = os.environ.get(name, "")
    if value:
        return value
    path = os.environ.get("FIELDCOACH_UPDATE_ENV") or UPDATE_ENV
    return read_env_file(path).get(name, "") or default
