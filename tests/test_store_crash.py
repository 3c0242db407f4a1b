"""Power-cut check, small: SIGKILL a saving process at random moments; nothing reported saved is lost."""

from __future__ import annotations

from edge.store.crashtest import run_crash_test


def test_every_reported_attempt_survives_sigkill(tmp_path):
    r = run_crash_test(n_attempts=40, seed=7, db=tmp_path / "crash.db", kills=5, timeout_s=30)
    assert r.attempts == 40
    assert r.kills == 5
    assert r.missing == [] and r.damaged == []
    assert r.integrity and all(x == "ok" for x in r.integrity)
    assert len(r.integrity) == r.cycles + 1  # checked after every run of the child and at the end
    assert r.rows >= r.attempts
    assert r.ok


def test_the_audit_catches_a_result_reported_before_its_commit(tmp_path):
    # A deliberately wrong child says "saved" before saving; kills then lose reported attempts.
    r = run_crash_test(
        n_attempts=8, seed=2, db=tmp_path / "early.db", kills=3, startup_kill_fraction=0.0, timeout_s=30, early_report=True
    )
    assert r.kills == 3
    assert r.missing
    assert not r.ok
