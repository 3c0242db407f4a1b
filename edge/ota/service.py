"""The running service as an update sees it: is it up, restart it, is it healthy.

Health contract with ``fieldcoach serve`` (the teacher's-screen service): ``GET
http://127.0.0.1:<port>/health`` answers HTTP 200 with a JSON object holding ``"status": "ok"``
once the models are loaded and the golden parity passed, and ``"models_version"``: the version in
``manifest.json`` of the slot it loaded. Anything else (no answer within the timeout, another
status, another version) is unhealthy.

Where the service is not running (a developer machine, a device without systemd) the health check
is a local self-test instead: ``current`` resolves to the new slot, its manifest has the expected
version, and the golden samples pass (``golden.verify_bundle_models``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from edge.ota import OtaError
from edge.ota.manifest import MANIFEST_FILE, manifest_from_bytes

DEFAULT_SERVICE = "fieldcoach.service"
DEFAULT_PORT = 8765
HEALTH_PATH = "/health"
RUNNING_STATES = ("active", "activating", "reloading")


class ServiceError(OtaError):
    """The service could not be restarted."""


def service_state(name: str) -> str | None:
    """``systemctl is-active`` of ``name``, or None where there is no systemd or no name."""
    if not name or shutil.which("systemctl") is None or not Path("/run/systemd/system").is_dir():
        return None
    r = subprocess.run(["systemctl", "is-active", name], capture_output=True, text=True, timeout=30)
    return r.stdout.strip() or None


def restart_service(name: str, timeout_s: float = 180.0) -> None:
    """``systemctl restart name`` (waits for READY=1 of a Type=notify unit); raises ServiceError."""
    try:
        r = subprocess.run(["systemctl", "restart", name], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ServiceError(f"restarting {name} took longer than {timeout_s:.0f} s.") from None
    if r.returncode != 0:
        raise ServiceError(f"restarting {name} failed: {(r.stderr or r.stdout).strip()[:200]}")


def http_health(port: int, expected_version: str, timeout_s: float = 60.0, interval_s: float = 1.0) -> list[str]:
    """Poll the health endpoint until it is healthy or ``timeout_s`` passes; returns problems."""
    url = f"http://127.0.0.1:{int(port)}{HEALTH_PATH}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout_s
    last = f"{url} did not answer"
    while True:
        try:
            with opener.open(url, timeout=min(5.0, max(0.5, timeout_s))) as resp:
                body = json.loads(resp.read(1 << 16).decode("utf-8"))
            if not isinstance(body, dict) or body.get("status") != "ok":
                last = f"{url} reports status {body.get('status') if isinstance(body, dict) else body!r}"
            elif "models_version" in body and body["models_version"] != expected_version:
                return [f"the service serves models {body['models_version']}, not {expected_version}"]
            else:
                return []
        except urllib.error.HTTPError as e:
            last = f"{url} answered HTTP {e.code}"
        except (urllib.error.URLError, OSError, ValueError) as e:
            last = f"{url} did not answer ({getattr(e, 'reason', e)})"
        if time.monotonic() >= deadline:
            return [f"{last} within {timeout_s:.0f} s"]
        time.sleep(interval_s)


def self_test(current_link: Path, slot_dir: Path, expected_version: str,
              verify_models: Callable[[Path], list[str]]) -> list[str]:
    """The local health check: the link, the manifest version and the golden samples."""
    try:
        if current_link.resolve() != slot_dir.resolve():
            return [f"{current_link} does not point to {slot_dir}"]
        version = manifest_from_bytes((slot_dir / MANIFEST_FILE).read_bytes()).version
    except (OSError, OtaError) as e:
        return [f"the active slot cannot be read ({e})"]
    if version != expected_version:
        return [f"the active slot holds {version}, not {expected_version}"]
    return verify_models(current_link)
