"""``fieldcoach serve`` as systemd runs it: READY/WATCHDOG/STOPPING over a real notify socket, the
health and metrics endpoints, SIGTERM, bad options, and the power-cut check (SIGKILL, restart)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from edge import __version__
from edge.service import powercut

REPO = Path(__file__).resolve().parents[1]
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str):
    try:
        with OPENER.open(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _serve(tmp_path, *extra, env=None):
    cmd = [sys.executable, "-m", "edge.cli", "serve", "--db", str(tmp_path / "fc.db"), "--allow-root", *extra]
    return subprocess.Popen(cmd, cwd=REPO, env=env or os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_serve_talks_to_systemd_answers_health_and_stops_on_sigterm(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(120)
    port = powercut.free_port()
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "2000000"}
    proc = _serve(tmp_path, "--source", "sim-class", "--turns", "1", "--speed", "0", "--no-guidance",
                  "--port", str(port), env=env)  # fmt: skip
    try:
        messages = []
        while not any("READY=1" in m for m in messages):
            messages.append(sock.recv(4096).decode())
        status, body = _get(f"http://127.0.0.1:{port}/health")
        assert status == 200, body
        assert body["status"] == "ok" and body["models_version"] == f"shipped-{__version__}"
        assert body["problems"] == [] and body["app_version"] == __version__
        sock.settimeout(10)
        while "WATCHDOG=1" not in messages[-1]:
            messages.append(sock.recv(4096).decode())
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, metrics = _get(f"http://127.0.0.1:{port}/api/metrics")  # the local kiosk is trusted
            assert status == 200
            saved = metrics["counters"]["attempts_saved"]
            # an attempt is shown (latency recorded) a moment before its save is counted: read both
            # between attempts
            if saved >= 1 and metrics["latency_ms"]["end_to_screen_ms"]["n"] == saved:
                break
            time.sleep(0.5)
        assert metrics["counters"]["attempts_saved"] >= 1
        assert metrics["latency_ms"]["end_to_screen_ms"]["n"] == metrics["counters"]["attempts_saved"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err[-2000:]
        while True:
            try:
                messages.append(sock.recv(4096).decode())
            except (socket.timeout, TimeoutError):
                break
            if "STOPPING=1" in messages[-1]:
                break
        assert any(m.startswith("STOPPING=1") for m in messages)
        assert "attempts saved" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        sock.close()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--source", "npz"], "--source npz needs --file"),
        (["--source", "k4a"], "needs a 17-keypoint ONNX pose model"),
        (["--source", "sim-class", "--speed", "-1"], "--speed must be positive or 0"),
    ],
)
def test_serve_refuses_bad_options_with_one_sentence(tmp_path, args, message):
    env = {k: v for k, v in os.environ.items() if k != "FIELDCOACH_POSE_MODEL"}
    proc = _serve(tmp_path, *args, "--port", str(powercut.free_port()), env=env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "fc.db").exists()  # nothing created


def test_power_cut_loses_no_attempt_the_screen_called_saved(tmp_path):
    r = powercut.run(attempts=10, seed=5, workdir=tmp_path, max_kill_s=3.0, log=lambda *a: None)
    assert r["attempts_reported_saved"] >= 10
    assert r["kills"] >= 2
    assert r["integrity_check"] == "ok"
    assert r["attempts_missing"] == 0


def test_the_power_cut_audit_would_catch_a_lost_attempt(tmp_path):
    from edge.store.db import connect

    connect(tmp_path / "fieldcoach.db").close()
    integrity, missing = powercut.audit(tmp_path / "fieldcoach.db", [1, 2])
    assert integrity == "ok" and missing == [1, 2]
