"""Power-cut check of the whole service: SIGKILL ``fieldcoach serve`` at random moments, restart it,
and check that every attempt the screen called saved is in the database.

The service runs on a simulated class (``--source sim-class``, as fast as it goes). This script is
the teacher's screen: it follows the server-sent events of ``/api/events`` from 127.0.0.1 (the
trusted kiosk) and records each ``saved`` event, the screen's "saved". After a random time it
kills the service with SIGKILL (anywhere: mid-attempt, mid-save, mid-guidance, during start-up),
opens the database (SQLite's WAL recovery runs), checks ``PRAGMA integrity_check`` and that every
attempt reported saved is there with its skeleton, and starts the service again, until
``--attempts`` attempts were reported saved. It prints the figures and exits 1 on any loss.

    python -m edge.service.powercut --attempts 200 --seed 1

What it cannot prove is survival of a real power cut, where the page cache is lost as well; that
rests on synchronous=FULL (``edge.store.db``) and storage that honours fsync.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SavedListener(threading.Thread):
    """Follows /api/events and collects the attempt ids of ``saved`` events."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/api/events"
        self.saved: list[int] = []
        self.connected = threading.Event()

    def run(self) -> None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.url, timeout=30) as resp:
                self.connected.set()
                event = None
                for raw in resp:
                    line = raw.decode("utf-8").rstrip("\n")
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "saved":
                        self.saved.append(int(json.loads(line[6:])["attempt_id"]))
                    elif not line:
                        event = None
        except OSError:
            return  # the service was killed: the stream ends


def wait_healthy(port: int, proc: subprocess.Popen, timeout: float) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with opener.open(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if json.loads(r.read())["status"] == "ok":
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def audit(db: Path, saved: list[int]) -> tuple[str, list[int]]:
    """(integrity_check result, ids reported saved but missing or without a readable skeleton)."""
    from edge.store.db import connect, integrity_check
    from edge.store.repository import RecordError, load_skeleton

    conn = connect(db)  # writable: runs WAL recovery like the restarted service would
    try:
        result = integrity_check(conn)
        missing = []
        for aid in saved:
            try:
                load_skeleton(conn, aid)
            except RecordError:
                missing.append(aid)
    finally:
        conn.close()
    return result, missing


def run(attempts: int, seed: int, workdir: Path, max_kill_s: float, log=print) -> dict:
    rng = random.Random(seed)
    db = workdir / "fieldcoach.db"
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("NOTIFY_SOCKET", None)
    saved: list[int] = []
    kills = restarts_checked = 0
    integrity = "not run"
    missing: list[int] = []
    t0 = time.monotonic()
    while len(saved) < attempts:
        cmd = [sys.executable, "-m", "edge.cli", "serve", "--source", "sim-class", "--speed", "0", "--db", str(db),
               "--port", str(port), "--seed", str(seed * 1000 + kills), "--attempts", "2", "--allow-root",
               "--no-warmup"]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if rng.random() < 0.15:  # during start-up: opening the database, WAL recovery, models
            time.sleep(rng.uniform(0.1, 2.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc.stderr.close()
            kills += 1
            integrity, missing = audit(db, saved)
            restarts_checked += 1
            log(f"kill {kills} (start-up): integrity {integrity}; missing {len(missing)}")
            if integrity != "ok" or missing:
                break
            continue
        if not wait_healthy(port, proc, 120):
            err = proc.stderr.read().decode(errors="replace")[-800:] if proc.poll() is not None else ""
            proc.kill()
            raise RuntimeError(f"the service did not become healthy: {err}")
        listener = SavedListener(port)
        listener.start()
        listener.connected.wait(10)
        time.sleep(rng.uniform(0.0, max_kill_s))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        listener.join(10)
        kills += 1
        saved += listener.saved
        integrity, missing = audit(db, saved)
        restarts_checked += 1
        log(f"kill {kills}: {len(listener.saved)} saved in this run, {len(saved)} in all; "
            f"integrity {integrity}; missing {len(missing)}")  # fmt: skip
        if integrity != "ok" or missing:
            break
    return {
        "kills": kills,
        "attempts_reported_saved": len(saved),
        "attempts_missing": len(missing),
        "missing_ids": missing,
        "integrity_check": integrity,
        "audits": restarts_checked,
        "seconds": round(time.monotonic() - t0, 1),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--attempts", type=int, default=200, help="attempts the screen must report saved")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-kill-s", type=float, default=6.0, help="kill within this many seconds of start-up")
    p.add_argument("--keep", default=None, help="keep the database in this folder")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fieldcoach-powercut-") as tmp:
        workdir = Path(args.keep) if args.keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        r = run(args.attempts, args.seed, workdir, args.max_kill_s)
    print(f"machine: {os.uname().machine}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"power cut: {r['kills']} SIGKILLs of fieldcoach serve, {r['attempts_reported_saved']} attempts the screen "
          f"called saved, {r['attempts_missing']} missing after restart, integrity_check {r['integrity_check']} "
          f"({r['audits']} audits, {r['seconds']} s)")  # fmt: skip
    return 0 if r["attempts_missing"] == 0 and r["integrity_check"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
