"""The appliance database: schema migrations, durability settings, attempts, overrides, CSV, retention."""

from __future__ import annotations

import csv
import io
import sqlite3
import time

import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.report import empty_report
from edge.skeleton.sequence import SkeletonSequence
from edge.store import repository as R
from edge.store import skeleton_blob
from edge.store.db import StoreError, connect, integrity_check, read_snapshot, write_transaction
from edge.store.export_csv import class_csv, export_class_csv, safe_cell
from edge.store.migrations import LATEST_VERSION, MIGRATIONS, Migration, SchemaTooNewError, migrate, schema_version
from tests.conftest import make_sequence

ACTION = "standing_long_jump"


@pytest.fixture
def db(tmp_path):
    conn = connect(tmp_path / "fc.db")
    yield conn
    conn.close()


@pytest.fixture
def world(db):
    """A class with two students and an open session."""
    c = R.create_class(db, "7B")
    ann = R.create_student(db, c.id, "Ann")
    bob = R.create_student(db, c.id)
    s = R.start_session(db, c.id, ACTION, device="fc-01", model_version="agcn-1")
    return c, ann, bob, s


def report_for(seq: SkeletonSequence, score=72.5, grade="medium", problems=None) -> dict:
    r = empty_report(ACTION, seq.n_frames, seq.fps)
    r.update(
        score=score,
        grade=grade,
        phase_scores={"preparation": 80.0, "takeoff": 70.25, "flight": None, "landing": 65.0},
        keyframes=[{"name": "takeoff", "frame": 20, "t": 0.667}],
        metrics=[{"name": "jump_distance", "value": 1.82, "unit": "m", "range": [1.6, 2.4], "deviation": -0.1}],
        problems=problems
        if problems is not None
        else [
            {"id": "shallow_countermovement", "title": "Shallow countermovement", "probability": 0.6, "evidence": "knee 150°"},
            {"id": "no_arm_backswing", "title": "No arm backswing", "probability": 0.9, "evidence": "wrists still"},
        ],
        strengths=["stable landing"],
        guidance={"text": "Sit back deeper.", "sources": ["kb:slj_1"], "engine": "composer"},
        model={"name": "agcn", "version": "1.0", "sha256": "ab" * 32},
    )
    return r


def save(db, world, seq=None, student=None, **kw):
    _, ann, _, s = world
    seq = seq or make_sequence()
    return R.save_attempt(db, s.id, (student or ann).id, report_for(seq, **kw), seq, "cfg0123456789abc")


# ---------------------------------------------------------------- schema and connection


def test_new_database_is_migrated_to_latest(tmp_path):
    conn = connect(tmp_path / "new.db")
    assert schema_version(conn) == LATEST_VERSION
    rows = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m.version for m in MIGRATIONS]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    assert {"classes", "students", "sessions", "attempts", "skeletons", "overrides", "attempts_effective"} <= tables
    assert integrity_check(conn) == "ok"
    conn.close()


def test_reopen_is_idempotent_and_keeps_data(tmp_path, world, db):
    aid = save(db, world)
    db.close()
    for _ in range(2):
        conn = connect(tmp_path / "fc.db")
        assert schema_version(conn) == LATEST_VERSION
        assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)
        assert R.get_attempt(conn, aid).score == 72.5
        conn.close()


def test_newer_schema_is_refused_untouched(tmp_path, db):
    db.close()
    raw = sqlite3.connect(tmp_path / "fc.db")
    raw.execute("INSERT INTO schema_version VALUES (?, 'from the future', 'x')", (LATEST_VERSION + 1,))
    raw.commit()
    raw.close()
    for ro in (False, True):
        with pytest.raises(SchemaTooNewError, match=f"schema version {LATEST_VERSION + 1}, newer than"):
            connect(tmp_path / "fc.db", readonly=ro)
    raw = sqlite3.connect(tmp_path / "fc.db")
    assert raw.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == LATEST_VERSION + 1
    raw.close()


def test_failed_migration_leaves_the_old_version(tmp_path):
    conn = connect(tmp_path / "m.db", migrate=False)
    m1 = Migration(1, "one", ("CREATE TABLE a (x INTEGER)",))
    bad = Migration(2, "two", ("CREATE TABLE b (y INTEGER)", "CREATE TABLE a (x INTEGER)"))  # second fails
    assert migrate(conn, (m1,)) == 1
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, (m1, bad))
    assert schema_version(conn) == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'b'").fetchone() is None
    good = Migration(2, "two", ("CREATE TABLE b (y INTEGER)",))
    assert migrate(conn, (m1, good)) == 2
    with pytest.raises(StoreError, match="out of sequence"):
        migrate(conn, (m1, Migration(3, "gap", ("SELECT 1",))))
    conn.close()


def test_foreign_or_broken_files_are_refused(tmp_path):
    other = tmp_path / "other.db"
    raw = sqlite3.connect(other)
    raw.execute("CREATE TABLE foo (x)")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="not a FieldCoach database"):
        connect(other)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="cannot be used"):
        connect(junk)
    with pytest.raises(StoreError, match="does not exist"):
        connect(tmp_path / "absent.db", readonly=True)


def test_wal_and_synchronous_full_are_set(tmp_path, db):
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    reader = connect(tmp_path / "fc.db", readonly=True)
    assert reader.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert reader.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    reader.close()
    # WAL is a property of the file: a plain connection sees it too.
    raw = sqlite3.connect(tmp_path / "fc.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()
    db.execute("PRAGMA synchronous = NORMAL")
    with pytest.raises(StoreError, match="below FULL"):
        R.save_attempt(db, 1, 1, {}, make_sequence(), "x")


def test_one_writer_many_readers(tmp_path, db):
    with pytest.raises(StoreError, match="already open for writing"):
        connect(tmp_path / "fc.db")
    reader = connect(tmp_path / "fc.db", readonly=True)
    with pytest.raises(StoreError, match="read-only"):
        R.create_class(reader, "x")
    reader.close()
    db.close()
    connect(tmp_path / "fc.db").close()  # the lock went with the first writer


def test_transactions_roll_back_and_do_not_nest(db):
    with pytest.raises(RuntimeError):
        with write_transaction(db):
            db.execute("INSERT INTO classes (name, created_at) VALUES ('a', 'x')")
            raise RuntimeError("boom")
    assert db.execute("SELECT COUNT(*) FROM classes").fetchone()[0] == 0
    with write_transaction(db):
        with pytest.raises(StoreError, match="do not nest"):
            with write_transaction(db):
                pass
    assert not db.in_transaction


def test_concurrent_reader_does_not_block_writer(tmp_path, world, db):
    save(db, world)
    reader = connect(tmp_path / "fc.db", readonly=True, busy_timeout_ms=0)
    with read_snapshot(reader):
        assert reader.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 1
        db.execute("PRAGMA busy_timeout = 0")  # the writer must not have to wait at all
        t0 = time.perf_counter()
        save(db, world)
        assert time.perf_counter() - t0 < 2.0
        assert reader.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 1  # its snapshot
    assert reader.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 2
    reader.close()


def test_foreign_keys_are_enforced(db, world):
    c, ann, _, s = world
    aid = save(db, world)
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO skeletons (attempt_id, data) VALUES (999, x'00')")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("DELETE FROM classes WHERE id = ?", (c.id,))
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("DELETE FROM students WHERE id = ?", (ann.id,))
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        db.execute("UPDATE attempts SET score = 1 WHERE id = ?", (aid,))
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE attempts SET keyframes = 'not json' WHERE id = ?", (aid,))


# ---------------------------------------------------------------- skeleton blobs


def test_skeleton_blob_round_trip_and_corruption():
    joints = make_sequence(45).joints.copy()
    joints[3, 5] = np.nan
    seq = SkeletonSequence.from_positions(joints, 30.0, action=ACTION, subject="k", t0=1.5)
    seq = SkeletonSequence(seq.joints, seq.confidence, seq.t, seq.fps, seq.action, seq.subject, {"source": np.str_("sim")})
    blob = skeleton_blob.encode(seq)
    back = skeleton_blob.decode(blob)
    for a, b in ((back.joints, seq.joints), (back.confidence, seq.confidence), (back.t, seq.t)):
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    assert (back.fps, back.action, back.subject, str(back.meta["source"])) == (30.0, ACTION, "k", "sim")
    assert skeleton_blob.encode(back) == blob  # byte-reproducible
    assert len(blob) < seq.joints.nbytes + seq.confidence.nbytes
    for bad, msg in (
        (blob[: len(blob) // 2], "truncated|corrupt"),
        (blob[:20] + bytes([blob[20] ^ 0xFF]) + blob[21:], "corrupt|truncated|readable"),
        (b"XXXX" + blob[4:], "magic"),
        (blob + b"extra", "trailing"),
    ):
        with pytest.raises(skeleton_blob.SkeletonBlobError, match=msg):
            skeleton_blob.decode(bad)


# ---------------------------------------------------------------- attempts


def test_attempt_round_trip(db, world):
    _, ann, _, s = world
    seq = make_sequence(75, seed=3)
    rep = report_for(seq)
    aid = R.save_attempt(db, s.id, ann.id, rep, seq, "cfg0123456789abc", app_version="9.9")
    a = R.get_attempt(db, aid)
    assert (a.session_id, a.student_id, a.action, a.n_frames, a.fps) == (s.id, ann.id, ACTION, 75, 30.0)
    for key in ("phase_scores", "keyframes", "metrics", "problems", "strengths", "guidance"):
        assert getattr(a, key) == rep[key], key
    assert (a.score, a.grade, a.effective_score, a.effective_grade) == (72.5, "medium", 72.5, "medium")
    assert a.effective_problems == ["shallow_countermovement", "no_arm_backswing"] and not a.overridden
    assert (a.model_name, a.model_version, a.model_sha256) == ("agcn", "1.0", "ab" * 32)
    assert (a.config_hash, a.app_version, a.video_path) == ("cfg0123456789abc", "9.9", None)
    assert len(a.created_at) == 27 and a.created_at.endswith("Z")
    assert np.array_equal(a.skeleton.joints, seq.joints) and np.array_equal(a.skeleton.t, seq.t)
    blob = db.execute("SELECT data FROM skeletons WHERE attempt_id = ?", (aid,)).fetchone()[0]
    assert skeleton_blob.encode(a.skeleton) == blob
    assert R.get_attempt(db, aid, with_skeleton=False).skeleton is None
    assert [x.id for x in R.list_attempts(db, session_id=s.id)] == [aid]


def test_save_attempt_refusals(tmp_path, db, world):
    c, ann, _, s = world
    seq = make_sequence()
    other = R.create_class(db, "8A")
    stranger = R.create_student(db, other.id, "Eve")
    cases = [
        (dict(report={k: v for k, v in report_for(seq).items() if k != "metrics"}), "lacks keys: metrics"),
        (dict(report={**report_for(seq), "action": "sit_up"}), "is for sit_up|labelled"),
        (dict(report={**report_for(seq), "score": 130.0}), "0-100"),
        (dict(report={**report_for(seq), "grade": "A+"}), "grade must be one of"),
        (dict(report={**report_for(seq), "n_frames": 3}), "3 frames"),
        (dict(student_id=stranger.id), "not in the class"),
        (dict(video_path=tmp_path / "v.mkv"), "storing video is switched off"),
    ]
    for kw, msg in cases:
        args = dict(session_id=s.id, student_id=ann.id, report=report_for(seq), skeleton=seq, config_hash="c")
        args.update(kw)
        with pytest.raises(R.RecordError, match=msg):
            R.save_attempt(db, **args)
    assert db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 0
    video = tmp_path / "v.mkv"
    video.write_bytes(b"v")
    aid = R.save_attempt(db, s.id, ann.id, report_for(seq), seq, "c", video_path=video, store_video=True)
    assert R.get_attempt(db, aid, with_skeleton=False).video_path == str(video)
    R.end_session(db, s.id)
    with pytest.raises(R.RecordError, match="ended"):
        save(db, world)


def test_created_ns_is_monotonic_when_the_clock_goes_back(db, world, monkeypatch):
    first = save(db, world)
    t_first = R.get_attempt(db, first, with_skeleton=False).created_ns
    monkeypatch.setattr(R, "utc_now", lambda: ("2001-01-01T00:00:00.000000Z", 978307200 * 10**9))
    second = save(db, world)
    a = R.get_attempt(db, second, with_skeleton=False)
    assert a.created_ns == t_first + 1 and a.created_at.startswith("2001")


def test_override_keeps_the_original_and_changes_effective_values(db, world):
    aid = save(db, world)
    with pytest.raises(R.RecordError, match="not a problem of"):
        R.override_attempt(db, aid, "Ms K", problems=["made_up_problem"])
    with pytest.raises(R.RecordError, match="needs a score"):
        R.override_attempt(db, aid, "Ms K")
    R.override_attempt(db, aid, "Ms K", score=88.0, note="measured by tape")
    R.override_attempt(db, aid, "Mr L", grade="good", problems=["no_arm_backswing"])
    R.override_attempt(db, aid, "Ms K", score=90.0)
    a = R.get_attempt(db, aid, with_skeleton=False)
    assert (a.score, a.grade, [p["id"] for p in a.problems]) == (72.5, "medium", ["shallow_countermovement", "no_arm_backswing"])
    assert (a.effective_score, a.effective_grade, a.effective_problems, a.overridden) == (90.0, "good", ["no_arm_backswing"], True)
    hist = R.list_overrides(db, aid)
    assert [(o.teacher, o.score, o.grade) for o in hist] == [("Ms K", 88.0, None), ("Mr L", None, "good"), ("Ms K", 90.0, None)]
    assert hist[0].note == "measured by tape"
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE overrides SET score = 1")


def test_labels_for_training_use_overrides(db, world):
    seqs = [make_sequence(seed=i) for i in range(3)]
    ids = [save(db, world, seq=q, score=50.0 + i) for i, q in enumerate(seqs)]
    R.override_attempt(db, ids[1], "Ms K", score=99.0, grade="excellent", problems=[])
    labels = R.labels_for_training(db, ACTION)
    assert [lb.attempt_id for lb in labels] == ids
    assert [lb.score for lb in labels] == [50.0, 99.0, 52.0]
    assert [lb.grade for lb in labels] == ["medium", "excellent", "medium"]
    assert labels[1].problems == [] and labels[0].problems == ["shallow_countermovement", "no_arm_backswing"]
    assert np.array_equal(labels[2].skeleton.joints, seqs[2].joints)
    only = R.labels_for_training(db, ACTION, only_overridden=True)
    assert [lb.attempt_id for lb in only] == [ids[1]]
    assert R.labels_for_training(db, "sit_up") == []


def test_best_scores_use_effective_values(db, world):
    c, ann, bob, _ = world
    save(db, world, score=60.0)
    a2 = save(db, world, score=70.0)
    b1 = save(db, world, student=bob, score=65.0)
    R.override_attempt(db, b1, "Ms K", score=95.0)
    best = R.best_scores(db, c.id, ACTION)
    assert [(b.student_id, b.score, b.n_attempts) for b in best] == [(bob.id, 95.0, 1), (ann.id, 70.0, 2)]
    assert best[1].attempt_id == a2


# ---------------------------------------------------------------- CSV


def test_safe_cell_neutralises_formulas():
    for bad in ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=x"):
        assert safe_cell(bad) == "'" + bad
    assert safe_cell("Ann") == "Ann" and safe_cell(72.5) == "72.5" and safe_cell(None) == ""


def test_class_csv_content_and_injection_safety(tmp_path, db, world):
    c, ann, _, s = world
    evil = R.create_student(db, c.id, '=HYPERLINK("http://x","y")')
    a1 = save(db, world)
    a2 = save(db, world, student=evil, problems=[])
    R.override_attempt(db, a1, "Ms K", score=91.0, grade="excellent")
    R.override_attempt(db, a2, "Ms K", problems=["excessive_countermovement"])
    path = tmp_path / "out" / "7B.csv"
    assert export_class_csv(db, c.id, path) == 2
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [int(r["attempt_id"]) for r in rows] == [a1, a2]
    r1, r2 = rows
    assert (r1["student"], r1["display_name"], r1["action"]) == (ann.pseudonym, "Ann", ACTION)
    assert (r1["score"], r1["grade"], r1["overridden"]) == ("91.0", "excellent", "yes")
    assert (r1["original_score"], r1["original_grade"]) == ("72.5", "medium")
    assert r1["top_problems"] == "No arm backswing; Shallow countermovement"  # most probable first
    assert r1["phase_scores"] == "preparation 80.0; takeoff 70.2; flight ; landing 65.0"
    assert r2["display_name"] == "'" + '=HYPERLINK("http://x","y")'
    assert (r2["overridden"], r2["score"], r2["grade"]) == ("yes", "72.5", "medium")
    titles = {p.id: p.title for p in load_action(ACTION).problems}
    assert r2["top_problems"] == titles["excessive_countermovement"]  # the teacher's problem, titled by the spec
    assert [p.name for p in path.parent.iterdir()] == ["7B.csv"]  # no temp file left
    reader = connect(tmp_path / "fc.db", readonly=True)  # an export needs no write access
    assert class_csv(reader, c.id)[0] == raw
    reader.close()


# ---------------------------------------------------------------- retention


def test_retention_purge_removes_only_old_attempts(tmp_path, db, world):
    c, ann, _, s = world
    seq = make_sequence()
    video = tmp_path / "old.mkv"
    video.write_bytes(b"video")
    old = R.save_attempt(db, s.id, ann.id, report_for(seq), seq, "c", video_path=video, store_video=True)
    R.override_attempt(db, old, "Ms K", score=10.0)
    s2 = R.start_session(db, c.id, ACTION)
    new = R.save_attempt(db, s2.id, ann.id, report_for(seq), seq, "c")
    t_new = R.get_attempt(db, new, with_skeleton=False).created_ns
    with pytest.raises(R.RecordError, match="positive number of days"):
        R.purge_older_than(db, 0)
    # "now" is 30 days after the newer attempt: only the older one is past 30 days.
    res = R.purge_older_than(db, 30, now_ns=t_new + 30 * 86_400 * 10**9)
    assert (res.attempts, res.sessions, res.videos) == (1, 1, 1)
    assert not video.exists()
    assert [a.id for a in R.list_attempts(db, class_id=c.id)] == [new]
    assert db.execute("SELECT COUNT(*) FROM skeletons WHERE attempt_id = ?", (old,)).fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM overrides").fetchone()[0] == 0
    assert [x.id for x in R.list_sessions(db, c.id)] == [s2.id]
    assert R.get_student(db, ann.id).pseudonym == ann.pseudonym  # the roster stays
    assert integrity_check(db) == "ok"
    with pytest.raises(R.RecordError, match="no attempt"):
        R.get_attempt(db, old)


def test_students_are_pseudonymous(db):
    c = R.create_class(db, "9C")
    students = [R.create_student(db, c.id) for _ in range(20)]
    assert len({s.pseudonym for s in students}) == 20
    assert all(s.pseudonym.startswith("S-") and len(s.pseudonym) == 10 and s.display_name is None for s in students)
    assert R.find_student(db, students[3].pseudonym).id == students[3].id
    with pytest.raises(R.RecordError, match="already exists"):
        R.create_class(db, "9C")
    with pytest.raises(R.RecordError, match="unknown action"):
        R.start_session(db, c.id, "juggling")


def test_guidance_written_after_the_save_once_and_nothing_else_changes(db, world):
    _, ann, _, s = world
    seq = make_sequence()
    report = report_for(seq)
    report["guidance"] = None  # the service saves first, the guidance follows
    aid = R.save_attempt(db, s.id, ann.id, report, seq, "cfg0123456789abc")
    assert R.get_attempt(db, aid, with_skeleton=False).guidance is None
    R.set_guidance(db, aid, {"text": "Swing both arms back.", "sources": ["kb:slj_1"], "score": np.float32(0.5)})
    stored = R.get_attempt(db, aid, with_skeleton=False)
    assert stored.guidance["text"] == "Swing both arms back." and stored.guidance["score"] == 0.5
    with pytest.raises(R.RecordError, match="already has its guidance"):
        R.set_guidance(db, aid, {"text": "again"})
    with pytest.raises(R.RecordError, match="no attempt with id"):
        R.set_guidance(db, aid + 100, {"text": "x"})
    with pytest.raises(R.RecordError, match="guidance object"):
        R.set_guidance(db, aid, {"sources": []})
    # the trigger still refuses every other change, also together with a guidance change
    for sql in ("UPDATE attempts SET score = 99 WHERE id = ?", "UPDATE attempts SET guidance = NULL WHERE id = ?",
                "UPDATE attempts SET guidance = '{\"text\": \"y\"}', grade = 'excellent' WHERE id = ?"):
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            with write_transaction(db):
                db.execute(sql, (aid,))
    assert R.get_attempt(db, aid, with_skeleton=False).score == 72.5
