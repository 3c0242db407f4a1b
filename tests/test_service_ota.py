"""An over-the-air update of a running ``fieldcoach serve``: the shipped scorers and references in a
signed bundle, applied while a simulated class keeps jumping. The update's restart is systemd's
(SIGTERM, start again) and its health check is the service's own ``/health``. Every attempt the
screen called saved before, during and after the switch is in the database, and the service then
serves the new version."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml

from edge.ota.apply import Hooks, apply_bundle
from edge.ota.bundle import build_bundle
from edge.ota.service import http_health
from edge.ota.sign import generate_keypair, load_public_key
from edge.service import powercut

REPO = Path(__file__).resolve().parents[1]
HW = "x86_64-cpu"


def _bundle(tmp: Path, key: Path, version: str):
    parts = {"models": REPO / "models" / "shipped", "reference": REPO / "models" / "reference"}
    return build_bundle(parts, tmp / f"out-{version}", version=version, hardware=[HW], min_app_version="0.1.0",
                        private_key_path=key, created=1_790_000_000).tar_path  # fmt: skip


def _get(port: int, path: str) -> dict:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.loads(r.read())


def _health(port: int) -> dict:
    return _get(port, "/health")


class _Service:
    """``fieldcoach serve`` on a simulated class, with a kiosk following its events."""

    def __init__(self, tmp: Path, config: Path, port: int) -> None:
        self.cmd = [sys.executable, "-m", "edge.cli", "serve", "--config", str(config), "--db", str(tmp / "fc.db"),
                    "--port", str(port), "--source", "sim-class", "--speed", "8", "--attempts", "1", "--no-guidance",
                    "--allow-root"]  # fmt: skip
        self.port = port
        self.saved: list[int] = []
        self.outputs: list[str] = []
        self.proc = None
        self.kiosk = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        cmd = self.cmd + ["--seed", str(self.runs)]
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert powercut.wait_healthy(self.port, self.proc, 120), "the service did not become healthy"
        self.kiosk = powercut.SavedListener(self.port)
        self.kiosk.start()
        self.kiosk.connected.wait(10)

    def stop(self) -> None:  # what systemd does on `systemctl restart`
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0
        self.outputs.append(out)
        self.kiosk.join(10)
        self.saved += self.kiosk.saved

    def restart(self) -> None:
        self.stop()
        self.start()

    def wait_saved(self, n: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.kiosk.saved) < n and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(self.kiosk.saved) >= n


def test_a_good_bundle_switches_the_running_service_without_losing_an_attempt(tmp_path):
    priv, pub = generate_keypair(tmp_path / "key")
    data = tmp_path / "data"
    apply_bundle(_bundle(tmp_path, priv, "1.0.0"), data, load_public_key(pub), hardware=HW, app_version="0.1.0")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"paths": {"data_dir": str(data),
                                                 "models_dir": str(data / "models" / "current" / "models")}}))  # fmt: skip
    port = powercut.free_port()
    svc = _Service(tmp_path, config, port)
    svc.start()
    try:
        assert _health(port)["models_version"] == "1.0.0"
        svc.wait_saved(2)
        hooks = Hooks(restart=svc.restart, health_check=lambda slot, version: http_health(port, version, 60))
        result = apply_bundle(_bundle(tmp_path, priv, "1.1.0"), data, load_public_key(pub), hardware=HW,
                              app_version="0.1.0", hooks=hooks)  # fmt: skip
        assert result.version == "1.1.0"
        assert _health(port)["models_version"] == "1.1.0"
        settings = _get(port, "/api/settings")  # the kiosk's Settings screen
        assert settings["update"]["state"] == "models 1.1.0"
        assert "previous: 1.0.0" in settings["update"]["detail"]
        svc.wait_saved(2)
    finally:
        svc.stop()
    assert svc.runs == 2
    # each run saved every attempt it detected, also the one in progress at SIGTERM
    for out in svc.outputs:
        assert ", 0 not saved," in out, out
    from edge.store.db import connect
    from edge.store.repository import load_skeleton

    conn = connect(tmp_path / "fc.db")
    try:
        assert len(svc.saved) >= 4
        for aid in svc.saved:
            load_skeleton(conn, aid)  # raises if an attempt called saved were missing
        versions = {r[0] for r in conn.execute("SELECT DISTINCT model_version FROM sessions")}
        assert versions == {"1.0.0", "1.1.0"}
    finally:
        conn.close()
    assert os.path.realpath(data / "models" / "current").endswith(("/a", "/b"))
