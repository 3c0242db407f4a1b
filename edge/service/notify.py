"""The systemd notification protocol (sd_notify), written against its documented wire format.

systemd passes the path of a datagram socket in ``$NOTIFY_SOCKET`` (a file path, or an abstract
socket name written with a leading ``@``); a service sends newline-separated ``KEY=VALUE``
assignments to it: ``READY=1`` when start-up is done (Type=notify), ``WATCHDOG=1`` at least every
``$WATCHDOG_USEC`` microseconds (WatchdogSec=), ``STOPPING=1`` when it begins to shut down and
``STATUS=...`` as a one-line status shown by ``systemctl status``. ``$WATCHDOG_PID``, when set,
names the process the watchdog is meant for. Outside systemd (no ``$NOTIFY_SOCKET``) every call
is a no-op that returns False, so the same code runs from a terminal.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends notifications to systemd; ``enabled`` is False outside a notify-type unit."""

    def __init__(self, environ: dict | None = None) -> None:
        env = os.environ if environ is None else environ
        path = env.get("NOTIFY_SOCKET") or ""
        if path.startswith("@"):
            path = "\0" + path[1:]
        self._address = path or None
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        mine = pid is None or (pid.isdigit() and int(pid) == os.getpid())
        self.watchdog_usec = int(usec) if usec and usec.isdigit() and int(usec) > 0 and mine else None
        self._sock: socket.socket | None = None

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to send WATCHDOG=1: half the unit's WatchdogSec (None: no watchdog asked)."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2e6

    def notify(self, **fields: str | int) -> bool:
        """Send ``KEY=VALUE`` lines (e.g. ``notify(READY=1, STATUS="serving")``); True if sent."""
        if self._address is None:
            return False
        lines = []
        for key, value in fields.items():
            text = str(value)
            if "\n" in text:
                raise ValueError(f"a notification value must be one line, got {text!r} for {key}.")
            lines.append(f"{key}={text}")
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._sock.sendto("\n".join(lines).encode("utf-8"), self._address)
        except OSError:
            return False  # systemd went away (shutdown); nothing to tell
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify(READY=1, **({"STATUS": status} if status else {}))

    def watchdog(self) -> bool:
        return self.notify(WATCHDOG=1)

    def stopping(self, status: str | None = None) -> bool:
        return self.notify(STOPPING=1, **({"STATUS": status} if status else {}))

    def status(self, text: str) -> bool:
        return self.notify(STATUS=text)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
