"""Power-cut check: SIGKILL a process that is saving attempts, restart it, and audit the database.

A child process saves attempts in a loop and prints ``SAVED <id> <k> <ms>`` only after
``save_attempt`` has returned (k: the attempt's index, which determines its content; ms: how long
the save took). The parent kills it with SIGKILL at random moments and starts a new child that
carries on from the next unreported index, until ``--attempts`` attempts were reported saved.
Kill moments: mostly after a random number of reported saves plus a random fraction of one save's
duration (so the kill lands anywhere inside a save, its commit and fsync included), sometimes
during start-up (opening, WAL recovery, migration). After each kill the parent reopens the
database, runs ``PRAGMA integrity_check`` and checks that every reported id is present; at the end
it checks every reported attempt field by field and its skeleton array by array.

What it proves: no attempt reported saved is lost or damaged when the process dies at any moment,
and SQLite's WAL recovery leaves a sound database. What it cannot prove: survival of a real power
cut, where the kernel's page cache is lost too. That relies on synchronous=FULL (the WAL is fsynced
before COMMIT returns, see ``edge.store.db``) and on storage that honours fsync; check it on the
appliance by cutting power during this loop.

    python -m edge.store.crashtest --attempts 200 --seed 1
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ACTION = "standing_long_jump"
CONFIG_HASH = "crashtest0000000"
N_FRAMES = 90
PHASES = ("preparation", "takeoff", "flight", "landing")
_REPO = Path(__file__).resolve().parents[2]


def make_attempt(k: int):
    """The report and skeleton of attempt index ``k`` (deterministic, so they can be checked)."""
    from edge.report import empty_report
    from edge.skeleton.sequence import SkeletonSequence

    rng = np.random.default_rng(1000 + k)
    base = rng.normal(0.0, 0.3, (17, 3)) + np.array([0.0, 1.0, 0.0])
    joints = base[None] + np.cumsum(rng.normal(0.0, 0.004, (N_FRAMES, 17, 3)), axis=0)
    joints[rng.random((N_FRAMES, 17)) < 0.02] = np.nan  # a few unseen joints
    seq = SkeletonSequence.from_positions(joints, 30.0, action=ACTION, subject=f"k{k}")
    score = round(float(rng.uniform(0, 100)), 3)
    report = empty_report(ACTION, N_FRAMES, 30.0)
    report.update(
        score=score,
        grade=("fail", "pass", "medium", "good", "excellent")[min(4, max(0, int(score // 10) - 5))],
        phase_scores={p: round(float(rng.uniform(0, 100)), 3) for p in PHASES},
        keyframes=[{"name": "takeoff", "frame": int(k % N_FRAMES), "t": (k % N_FRAMES) / 30.0}],
        metrics=[
            {"name": "jump_distance", "value": float(rng.uniform(1, 2.5)), "unit": "m", "range": [1.6, 2.4], "deviation": 0.1}
        ],
        problems=[
            {"id": "shallow_countermovement", "title": "Shallow countermovement", "probability": 0.7, "evidence": f"k={k}"}
        ],
        strengths=["steady landing"],
        guidance={"text": f"attempt {k}: sit back deeper", "sources": [], "engine": "crashtest"},
        model={"name": "crashtest", "version": "1", "sha256": "0" * 64},
    )
    return report, seq


# ---------------------------------------------------------------- child


def _child(db: Path, session_id: int, student_id: int, start: int, stop: int, early: bool = False) -> int:
    """Save attempts start..stop-1, reporting each after its commit.

    ``early`` is a deliberately wrong child for checking the checker: it reports the id it expects
    *before* saving (the bug "the screen says saved before the commit"); the audit must catch it.
    """
    from edge.store.db import connect
    from edge.store.repository import save_attempt

    conn = connect(db)
    print("READY", flush=True)
    for k in range(start, stop):
        report, seq = make_attempt(k)
        if early:
            expected = conn.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM attempts").fetchone()[0]
            print(f"SAVED {expected} {k} 0.0", flush=True)
            time.sleep(0.2)
        t0 = time.perf_counter()
        aid = save_attempt(conn, session_id, student_id, report, seq, CONFIG_HASH)
        ms = (time.perf_counter() - t0) * 1e3
        if not early:
            print(f"SAVED {aid} {k} {ms:.3f}", flush=True)  # only after the durable commit
    conn.close()
    return 0


# ---------------------------------------------------------------- parent


@dataclass
class CrashResult:
    attempts: int = 0  # attempts reported saved
    cycles: int = 0  # children started
    kills: int = 0  # children killed with SIGKILL
    startup_kills: int = 0  # ... of them before the child was ready
    rows: int = 0  # attempts in the database at the end
    missing: list = field(default_factory=list)  # reported ids not in the database
    damaged: list = field(default_factory=list)  # reported ids whose data differs
    integrity: list = field(default_factory=list)  # integrity_check results after each restart and at the end
    save_ms: list = field(default_factory=list)  # durations of the reported saves
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.missing and not self.damaged and all(r == "ok" for r in self.integrity)

    def summary(self) -> str:
        ms = np.asarray(self.save_ms) if self.save_ms else np.zeros(1)
        bad_integrity = [r for r in self.integrity if r != "ok"]
        return "\n".join(
            [
                f"attempts reported saved: {self.attempts} over {self.cycles} runs of the child",
                f"SIGKILLs: {self.kills} ({self.startup_kills} during start-up, "
                f"{self.kills - self.startup_kills} during saving)",
                f"rows in the database: {self.rows} "
                f"({self.rows - self.attempts} committed but killed before the report)",
                f"reported but missing: {len(self.missing)}; reported but damaged: {len(self.damaged)}",
                f"integrity_check: {len(self.integrity) - len(bad_integrity)} of {len(self.integrity)} ok"
                + (f" (first failure: {bad_integrity[0]})" if bad_integrity else ""),
                f"save_attempt: median {np.median(ms):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms, "
                f"max {ms.max():.2f} ms",
                f"wall time: {self.seconds:.1f} s",
                "PASS" if self.ok else "FAIL",
            ]
        )


def _reader(stream, q: queue.Queue) -> None:
    for line in stream:
        q.put(line)
    q.put(None)


def _setup(db: Path) -> tuple[int, int]:
    from edge.store.db import connect
    from edge.store.repository import create_class, create_student, start_session

    conn = connect(db)
    try:
        c = create_class(conn, "crashtest")
        student = create_student(conn, c.id, "Crash Test")
        session = start_session(conn, c.id, ACTION, device="crashtest")
    finally:
        conn.close()
    return session.id, student.id


def _check_present(db: Path, ids) -> tuple[str, list[int]]:
    from edge.store.db import connect, integrity_check

    conn = connect(db)  # a writer: runs WAL recovery like the restarted service would
    try:
        result = integrity_check(conn)
        present = {r[0] for r in conn.execute("SELECT id FROM attempts")}
    finally:
        conn.close()
    return result, sorted(set(ids) - present)


def _same(a, b) -> bool:
    return np.array_equal(a, b, equal_nan=True) and a.dtype == b.dtype


def _audit(db: Path, reported: dict[int, int], session_id: int, student_id: int, result: CrashResult) -> None:
    from edge.store.db import connect, integrity_check
    from edge.store.repository import RecordError, get_attempt

    conn = connect(db, readonly=True)
    try:
        result.integrity.append(integrity_check(conn))
        result.rows = conn.execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        for aid, k in sorted(reported.items()):
            try:
                a = get_attempt(conn, aid)
            except RecordError:
                result.missing.append(aid)
                continue
            report, seq = make_attempt(k)
            fields_ok = (
                a.session_id == session_id
                and a.student_id == student_id
                and a.score == report["score"]
                and a.grade == report["grade"]
                and a.phase_scores == report["phase_scores"]
                and a.keyframes == report["keyframes"]
                and a.metrics == report["metrics"]
                and a.problems == report["problems"]
                and a.guidance == report["guidance"]
                and a.config_hash == CONFIG_HASH
            )
            s = a.skeleton
            skel_ok = (
                _same(s.joints, seq.joints) and _same(s.confidence, seq.confidence) and _same(s.t, seq.t)
                and s.subject == seq.subject
            )  # fmt: skip
            if not (fields_ok and skel_ok):
                result.damaged.append(aid)
    finally:
        conn.close()


def run_crash_test(
    n_attempts: int = 200,
    seed: int = 1,
    db: str | os.PathLike | None = None,
    kills: int = 10,
    startup_kill_fraction: float = 0.15,
    timeout_s: float = 60.0,
    early_report: bool = False,
) -> CrashResult:
    """Run the power-cut loop (see the module docstring) and return its figures.

    ``kills`` is the number of SIGKILLs aimed for (about n_attempts / kills saves between kills);
    ``db`` defaults to a fresh file in a temporary folder; ``timeout_s`` bounds each child's wait.
    ``early_report`` runs the deliberately wrong child (see ``_child``) to show the audit has teeth.
    """
    if n_attempts < 1 or kills < 0:
        raise ValueError("n_attempts must be positive and kills non-negative.")
    t_start = time.perf_counter()
    rng = random.Random(seed)
    tmp = None
    if db is None:
        tmp = tempfile.TemporaryDirectory(prefix="fieldcoach-crashtest-")
        db = Path(tmp.name) / "crashtest.db"
    db = Path(db)
    result = CrashResult()
    reported: dict[int, int] = {}  # attempt id -> index k
    mean_gap = max(1.0, n_attempts / (kills + 1))
    save_est = 0.01  # seconds per save, updated from the child's reports
    startup_est = 0.5
    try:
        session_id, student_id = _setup(db)
        next_k = 0
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_REPO), os.environ.get("PYTHONPATH")])))
        while next_k < n_attempts:
            if result.cycles > 4 * (kills + 1) + n_attempts:
                raise RuntimeError("the crash test is not making progress; the child keeps dying before saving.")
            result.cycles += 1
            cmd = [sys.executable, "-m", "edge.store.crashtest", "--child", "--db", str(db),
                   "--session", str(session_id), "--student", str(student_id),
                   "--start", str(next_k), "--stop", str(n_attempts)]  # fmt: skip
            if early_report:
                cmd.append("--early-report")
            stderr_file = tempfile.TemporaryFile()
            t_spawn = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr_file, text=True, env=env)
            q: queue.Queue = queue.Queue()
            reader = threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True)
            reader.start()
            want_kill = result.kills < kills
            kill_in_startup = want_kill and rng.random() < startup_kill_fraction
            saves_before_kill = rng.randint(0, int(2 * mean_gap))
            fraction = rng.random()
            killed = startup_killed = ready = eof = False
            deadline = time.monotonic() + timeout_s
            saved_here = 0
            if kill_in_startup:
                time.sleep(rng.uniform(0, startup_est))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    killed = True
            while not killed:
                try:
                    line = q.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    proc.kill()
                    raise RuntimeError(f"the child gave no sign of life for {timeout_s:.0f} s.") from None
                if line is None:
                    eof = True
                    break  # the child finished (or died) by itself
                if line.startswith("READY"):
                    ready = True
                    startup_est = 0.5 * startup_est + 0.5 * (time.perf_counter() - t_spawn)
                elif line.startswith("SAVED"):
                    _, aid, k, ms = line.split()
                    reported[int(aid)] = int(k)
                    result.save_ms.append(float(ms))
                    save_est = 0.9 * save_est + 0.1 * float(ms) / 1e3
                    saved_here += 1
                    next_k = int(k) + 1
                if want_kill and ready and saved_here >= saves_before_kill:
                    time.sleep(fraction * save_est)  # land somewhere inside the next save
                    proc.send_signal(signal.SIGKILL)
                    killed = True
            rc = proc.wait()
            for line in [] if eof else iter(q.get, None):  # what the child printed before it died
                if line.startswith("SAVED") and line.endswith("\n"):
                    _, aid, k, ms = line.split()
                    reported[int(aid)] = int(k)
                    result.save_ms.append(float(ms))
                    next_k = max(next_k, int(k) + 1)
            reader.join()
            stderr_file.seek(0)
            err = stderr_file.read().decode(errors="replace").strip()
            stderr_file.close()
            if killed:
                result.kills += 1
                startup_killed = not ready
                result.startup_kills += int(startup_killed)
            elif rc != 0:
                last = err.splitlines()[-1] if err else "no message"
                raise RuntimeError(f"the child failed on its own (exit {rc}): {last}")
            integrity, missing = _check_present(db, reported)
            result.integrity.append(integrity)
            result.missing.extend(m for m in missing if m not in result.missing)
        result.attempts = len(reported)
        _audit(db, reported, session_id, student_id, result)
    finally:
        result.seconds = time.perf_counter() - t_start
        if tmp is not None:
            tmp.cleanup()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.store.crashtest", description=__doc__.splitlines()[0])
    p.add_argument("--attempts", type=int, default=200, help="attempts to be reported saved in total")
    p.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
    p.add_argument("--kills", type=int, default=10, help="SIGKILLs to aim for")
    p.add_argument("--db", type=Path, default=None, help="database file (default: a fresh temporary one)")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--session", type=int, help=argparse.SUPPRESS)
    p.add_argument("--student", type=int, help=argparse.SUPPRESS)
    p.add_argument("--start", type=int, help=argparse.SUPPRESS)
    p.add_argument("--stop", type=int, help=argparse.SUPPRESS)
    p.add_argument(
        "--early-report", action="store_true", help="self-test: a child that reports before saving (must FAIL)"
    )
    args = p.parse_args(argv)
    if args.child:
        return _child(args.db, args.session, args.student, args.start, args.stop, args.early_report)
    if args.db is not None and args.db.exists():
        p.error(f"{args.db} exists; the crash test needs a fresh database file.")
    result = run_crash_test(args.attempts, args.seed, args.db, args.kills, early_report=args.early_report)
    print(result.summary())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
