"""Typed reads and writes of classes, students, sessions, attempts and teacher overrides.

Every function takes a connection from :func:`edge.store.db.connect`. Writes run in their own
``write_transaction``; when a write function returns, its commit is durable (synchronous=FULL).
Bad input or an unknown id raises :class:`RecordError` with one sentence.

Decisions worth knowing:

- Students are pseudonymous: the id shown everywhere is ``S-`` + 8 random Crockford base-32
  characters (40 bits); the display name is optional and only shown on the teacher's screen/CSV.
- An attempt row is never changed. A teacher override is a new row (who, when, why) holding any of
  score, grade, problem ids; the *effective* value of each field is the latest override of that
  field, else the model's. Overriding the score does not change the grade (and vice versa).
- ``created_ns`` orders attempts and is *monotonic-safe*: it is the wall clock, but never less than
  1 ns after the previous attempt, so a clock set back (an offline box without network time) cannot
  reorder or collide results. ``created_at`` is the wall clock as it was (for people).
- Retention (:func:`purge_older_than`) deletes attempts older than N days with their skeletons,
  overrides (their training labels go too) and video files, and sessions left empty; the class roster
  (students) stays. No aggregate (e.g. best score) is kept: it is personal data too, and the
  purpose of the retention setting is that old data of minors is gone. It trusts the system clock.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from edge.report import json_safe, to_json
from edge.skeleton.io import SkeletonFileError
from edge.skeleton.sequence import SkeletonSequence
from edge.store import skeleton_blob
from edge.store.db import iso_from_ns, require_durable, utc_now, write_transaction
from edge.store.migrations import GRADES

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_NS_PER_DAY = 86_400 * 1_000_000_000


class RecordError(ValueError):
    """A record cannot be written or found as asked; the message is one sentence."""


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class ClassInfo:
    id: int
    name: str
    created_at: str


@dataclass(frozen=True)
class Student:
    id: int
    class_id: int
    pseudonym: str
    display_name: str | None
    created_at: str

    @property
    def label(self) -> str:
        """The display name when there is one, else the pseudonym."""
        return self.display_name or self.pseudonym


@dataclass(frozen=True)
class Session:
    id: int
    class_id: int
    action: str
    started_at: str
    ended_at: str | None
    device: str | None
    model_version: str | None


@dataclass(frozen=True)
class Attempt:
    """A saved attempt: the model's original values, the effective ones, and optionally the skeleton.

    score/grade/problems are as the model reported them; ``effective_*`` apply teacher overrides.
    ``effective_problems`` is a list of problem ids. ``skeleton`` is None unless asked for.
    """

    id: int
    session_id: int
    student_id: int
    action: str
    created_at: str
    created_ns: int
    n_frames: int
    fps: float
    score: float | None
    grade: str | None
    phase_scores: dict | None
    keyframes: list
    metrics: list
    problems: list
    strengths: list
    guidance: dict | None
    model_name: str | None
    model_version: str | None
    model_sha256: str | None
    config_hash: str
    app_version: str
    video_path: str | None
    effective_score: float | None
    effective_grade: str | None
    effective_problems: list[str]
    overridden: bool
    skeleton: SkeletonSequence | None = None


@dataclass(frozen=True)
class Override:
    id: int
    attempt_id: int
    score: float | None
    grade: str | None
    problems: list[str] | None
    teacher: str
    note: str | None
    created_at: str


@dataclass(frozen=True)
class BestScore:
    student_id: int
    pseudonym: str
    display_name: str | None
    score: float
    attempt_id: int
    n_attempts: int


@dataclass(frozen=True)
class TrainingLabel:
    """One retraining example: the skeleton and the effective (teacher-corrected) labels."""

    attempt_id: int
    skeleton: SkeletonSequence
    score: float | None
    grade: str | None
    problems: list[str]
    overridden: bool


@dataclass(frozen=True)
class PurgeResult:
    cutoff_at: str
    attempts: int
    sessions: int
    videos: int


# ---------------------------------------------------------------- helpers


def _rows(conn: sqlite3.Connection, sql: str, params=()) -> list[sqlite3.Row]:
    cur = conn.cursor()
    cur.row_factory = sqlite3.Row
    return cur.execute(sql, params).fetchall()


def _one(conn: sqlite3.Connection, sql: str, params, what: str) -> sqlite3.Row:
    rows = _rows(conn, sql, params)
    if not rows:
        raise RecordError(f"there is no {what}.")
    return rows[0]


def _check_id(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RecordError(f"a {what} id must be a positive integer, got {value!r}.")
    return value


def _name(value, what: str, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise RecordError(f"the {what} must be a non-empty text of at most 100 characters, got {value!r}.")
    return value.strip()


def _score(value, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RecordError(f"the {what} must be a finite number, got {value!r}.")
    if not 0.0 <= float(value) <= 100.0:
        raise RecordError(f"the {what} must lie in 0-100, got {value}.")
    return float(value)


def _grade(value, what: str) -> str | None:
    if value is not None and value not in GRADES:
        raise RecordError(f"the {what} must be one of {', '.join(GRADES)}, got {value!r}.")
    return value


def _action_id(action) -> str:
    from edge.actions.spec import ACTION_IDS

    if action not in ACTION_IDS:
        raise RecordError(f"unknown action {action!r}; choose one of {', '.join(ACTION_IDS)}.")
    return action


def _dumps(value) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, allow_nan=False)


def _loads(text: str | None):
    return None if text is None else json.loads(text)


# ---------------------------------------------------------------- classes and students


def create_class(conn: sqlite3.Connection, name: str) -> ClassInfo:
    """A new class (teaching group); its name must be unique."""
    name = _name(name, "class name")
    created_at, _ = utc_now()
    try:
        with write_transaction(conn):
            cur = conn.execute("INSERT INTO classes (name, created_at) VALUES (?, ?)", (name, created_at))
    except sqlite3.IntegrityError:
        raise RecordError(f"a class named {name!r} already exists.") from None
    return ClassInfo(cur.lastrowid, name, created_at)


def get_class(conn: sqlite3.Connection, class_id: int) -> ClassInfo:
    r = _one(conn, "SELECT * FROM classes WHERE id = ?", (_check_id(class_id, "class"),), f"class with id {class_id}")
    return ClassInfo(r["id"], r["name"], r["created_at"])


def list_classes(conn: sqlite3.Connection) -> list[ClassInfo]:
    return [ClassInfo(r["id"], r["name"], r["created_at"]) for r in _rows(conn, "SELECT * FROM classes ORDER BY name")]


def _new_pseudonym() -> str:
    return "S-" + "".join(secrets.choice(_CROCKFORD) for _ in range(8))


def _student(r: sqlite3.Row) -> Student:
    return Student(r["id"], r["class_id"], r["pseudonym"], r["display_name"], r["created_at"])


def create_student(conn: sqlite3.Connection, class_id: int, display_name: str | None = None) -> Student:
    """A new student of ``class_id`` with a generated pseudonym and an optional display name."""
    get_class(conn, class_id)
    display_name = _name(display_name, "display name", optional=True)
    created_at, _ = utc_now()
    for _ in range(5):  # 40 random bits: a collision is rare; retry a few times
        pseudonym = _new_pseudonym()
        try:
            with write_transaction(conn):
                cur = conn.execute(
                    "INSERT INTO students (class_id, pseudonym, display_name, created_at) VALUES (?, ?, ?, ?)",
                    (class_id, pseudonym, display_name, created_at),
                )
            return Student(cur.lastrowid, class_id, pseudonym, display_name, created_at)
        except sqlite3.IntegrityError:
            continue
    raise RecordError("could not generate a unique pseudonym in 5 tries.")


def get_student(conn: sqlite3.Connection, student_id: int) -> Student:
    sid = _check_id(student_id, "student")
    return _student(_one(conn, "SELECT * FROM students WHERE id = ?", (sid,), f"student with id {sid}"))


def find_student(conn: sqlite3.Connection, pseudonym: str) -> Student:
    """The student with this pseudonym (e.g. ``S-7K3QX9MA``)."""
    return _student(_one(conn, "SELECT * FROM students WHERE pseudonym = ?", (pseudonym,), f"student {pseudonym!r}"))


def list_students(conn: sqlite3.Connection, class_id: int) -> list[Student]:
    get_class(conn, class_id)
    return [_student(r) for r in _rows(conn, "SELECT * FROM students WHERE class_id = ? ORDER BY id", (class_id,))]


# ---------------------------------------------------------------- sessions


def _session(r: sqlite3.Row) -> Session:
    return Session(r["id"], r["class_id"], r["action"], r["started_at"], r["ended_at"], r["device"], r["model_version"])


def start_session(
    conn: sqlite3.Connection,
    class_id: int,
    action: str,
    *,
    device: str | None = None,
    model_version: str | None = None,
) -> Session:
    """Open a session of ``action`` for a class; attempts are saved into it until it is ended."""
    get_class(conn, class_id)
    _action_id(action)
    started_at, started_ns = utc_now()
    with write_transaction(conn):
        cur = conn.execute(
            "INSERT INTO sessions (class_id, action, started_at, started_ns, device, model_version)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (class_id, action, started_at, started_ns, device, model_version),
        )
    return Session(cur.lastrowid, class_id, action, started_at, None, device, model_version)


def get_session(conn: sqlite3.Connection, session_id: int) -> Session:
    sid = _check_id(session_id, "session")
    return _session(_one(conn, "SELECT * FROM sessions WHERE id = ?", (sid,), f"session with id {sid}"))


def end_session(conn: sqlite3.Connection, session_id: int) -> Session:
    """Close a session; no attempt can be saved into it afterwards."""
    s = get_session(conn, session_id)
    if s.ended_at is not None:
        raise RecordError(f"session {s.id} already ended at {s.ended_at}.")
    ended_at, _ = utc_now()
    with write_transaction(conn):
        conn.execute("UPDATE sessions SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (ended_at, s.id))
    return get_session(conn, s.id)


def list_sessions(conn: sqlite3.Connection, class_id: int) -> list[Session]:
    get_class(conn, class_id)
    return [_session(r) for r in _rows(conn, "SELECT * FROM sessions WHERE class_id = ? ORDER BY id", (class_id,))]


# ---------------------------------------------------------------- attempts


def _clean_report(report: dict, skeleton: SkeletonSequence) -> dict:
    """The report as JSON-safe values (edge.report.to_json rules), with its fields checked."""
    if not isinstance(report, dict):
        raise RecordError(f"the report must be a dict, got {type(report).__name__}.")
    try:
        r = json.loads(to_json(report, indent=None))
    except (TypeError, ValueError) as e:
        raise RecordError(f"the report cannot be stored ({e}).") from None
    if r["n_frames"] != skeleton.n_frames:
        raise RecordError(f"the report says {r['n_frames']} frames but the skeleton has {skeleton.n_frames}.")
    if not isinstance(r["fps"], (int, float)) or abs(r["fps"] - skeleton.fps) > 1e-6 * skeleton.fps:
        raise RecordError(f"the report says {r['fps']} Hz but the skeleton runs at {skeleton.fps} Hz.")
    if skeleton.action is not None and skeleton.action != r["action"]:
        raise RecordError(f"the report is for {r['action']} but the skeleton is labelled {skeleton.action}.")
    _score(r["score"], "score")
    _grade(r["grade"], "grade")
    ps = r["phase_scores"]
    if ps is not None:
        if not isinstance(ps, dict):
            raise RecordError("the report's phase_scores must be a mapping of phase to score.")
        for k, v in ps.items():
            _score(v, f"phase score of {k!r}")
    for key in ("keyframes", "metrics", "problems", "strengths"):
        if not isinstance(r[key], list):
            raise RecordError(f"the report's {key} must be a list.")
    for p in r["problems"]:
        if not isinstance(p, dict) or not isinstance(p.get("id"), str) or not p["id"]:
            raise RecordError("every problem in the report needs a text 'id'.")
    if r["guidance"] is not None and not isinstance(r["guidance"], dict):
        raise RecordError("the report's guidance must be a mapping or null.")
    m = r["model"]
    if m is not None:
        if not isinstance(m, dict):
            raise RecordError("the report's model must be a mapping of name, version and sha256, or null.")
        for k in ("name", "version", "sha256"):
            if m.get(k) is not None and not isinstance(m[k], str):
                raise RecordError(f"the report's model {k} must be text.")
    return r


def save_attempt(
    conn: sqlite3.Connection,
    session_id: int,
    student_id: int,
    report: dict,
    skeleton: SkeletonSequence,
    config_hash: str,
    *,
    app_version: str | None = None,
    video_path: str | os.PathLike | None = None,
    store_video: bool = False,
) -> int:
    """Save one analysed attempt and return its id once the commit is durable (fsynced WAL).

    ``report`` has the keys of ``edge.report.REPORT_KEYS``; its action must be the session's.
    ``skeleton`` is stored compressed (``skeleton_blob``). ``video_path`` (an existing absolute
    file) is refused unless ``store_video`` (the ``store_video`` setting) is true.
    """
    require_durable(conn)
    if not isinstance(skeleton, SkeletonSequence):
        raise RecordError(f"the skeleton must be a SkeletonSequence, got {type(skeleton).__name__}.")
    if not isinstance(config_hash, str) or not config_hash:
        raise RecordError("the config hash must be a non-empty text.")
    r = _clean_report(report, skeleton)
    if video_path is not None:
        if not store_video:
            raise RecordError("a video path was given but storing video is switched off (store_video is false).")
        video_path = Path(video_path)
        if not video_path.is_absolute() or not video_path.is_file():
            raise RecordError(f"the video path {video_path} must be an existing file given as an absolute path.")
        video_path = str(video_path)
    if app_version is None:
        from edge import __version__ as app_version
    try:
        blob = skeleton_blob.encode(skeleton)
    except (SkeletonFileError, skeleton_blob.SkeletonBlobError) as e:
        raise RecordError(f"the skeleton cannot be stored: {e}") from None
    session = get_session(conn, session_id)
    student = get_student(conn, student_id)
    model = r["model"] or {}
    created_at, now_ns = utc_now()
    try:
        with write_transaction(conn):
            # Re-read inside the transaction: the session may have ended meanwhile.
            ended = conn.execute("SELECT ended_at FROM sessions WHERE id = ?", (session.id,)).fetchone()[0]
            if ended is not None:
                raise RecordError(f"session {session.id} ended at {ended}; start a new session to save attempts.")
            if r["action"] != session.action:
                raise RecordError(f"session {session.id} is for {session.action}, not {r['action']}.")
            if student.class_id != session.class_id:
                raise RecordError(f"student {student.pseudonym} is not in the class of session {session.id}.")
            last_ns = conn.execute("SELECT MAX(created_ns) FROM attempts").fetchone()[0]
            created_ns = now_ns if last_ns is None else max(now_ns, last_ns + 1)
            cur = conn.execute(
                """INSERT INTO attempts (session_id, student_id, action, created_at, created_ns, n_frames, fps,
                    score, grade, phase_scores, keyframes, metrics, problems, strengths, guidance,
                    model_name, model_version, model_sha256, config_hash, app_version, video_path)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    session.id, student.id, r["action"], created_at, created_ns, skeleton.n_frames,
                    float(skeleton.fps), r["score"], r["grade"], _dumps(r["phase_scores"]),
                    _dumps(r["keyframes"]), _dumps(r["metrics"]), _dumps(r["problems"]),
                    _dumps(r["strengths"]), _dumps(r["guidance"]), model.get("name"),
                    model.get("version"), model.get("sha256"), config_hash, str(app_version), video_path,
                ),
            )  # fmt: skip
            attempt_id = cur.lastrowid
            conn.execute("INSERT INTO skeletons (attempt_id, data) VALUES (?, ?)", (attempt_id, blob))
    except sqlite3.IntegrityError as e:
        raise RecordError(f"the database refused the attempt ({e}).") from None
    return attempt_id


def set_guidance(conn: sqlite3.Connection, attempt_id: int, guidance: dict) -> None:
    """Store the guidance written after an attempt was saved (the real-time service saves the
    result first and streams the guidance afterwards). Guidance is written once: an attempt that
    already has guidance keeps it (RecordError)."""
    aid = _check_id(attempt_id, "attempt")
    if not isinstance(guidance, dict) or not isinstance(guidance.get("text"), str):
        raise RecordError("guidance must be the report's guidance object with its text.")
    text = json.dumps(json_safe(guidance), ensure_ascii=False, allow_nan=False)
    with write_transaction(conn):
        row = conn.execute("SELECT guidance FROM attempts WHERE id = ?", (aid,)).fetchone()
        if row is None:
            raise RecordError(f"there is no attempt with id {aid}.")
        if row[0] is not None:
            raise RecordError(f"attempt {aid} already has its guidance.")
        conn.execute("UPDATE attempts SET guidance = ? WHERE id = ?", (text, aid))


def _attempt(r: sqlite3.Row, skeleton: SkeletonSequence | None = None) -> Attempt:
    return Attempt(
        id=r["id"],
        session_id=r["session_id"],
        student_id=r["student_id"],
        action=r["action"],
        created_at=r["created_at"],
        created_ns=r["created_ns"],
        n_frames=r["n_frames"],
        fps=r["fps"],
        score=r["original_score"],
        grade=r["original_grade"],
        phase_scores=_loads(r["phase_scores"]),
        keyframes=_loads(r["keyframes"]),
        metrics=_loads(r["metrics"]),
        problems=_loads(r["problems"]),
        strengths=_loads(r["strengths"]),
        guidance=_loads(r["guidance"]),
        model_name=r["model_name"],
        model_version=r["model_version"],
        model_sha256=r["model_sha256"],
        config_hash=r["config_hash"],
        app_version=r["app_version"],
        video_path=r["video_path"],
        effective_score=r["effective_score"],
        effective_grade=r["effective_grade"],
        effective_problems=_loads(r["problem_ids"]),
        overridden=bool(r["overridden"]),
        skeleton=skeleton,
    )


def load_skeleton(conn: sqlite3.Connection, attempt_id: int) -> SkeletonSequence:
    """The decompressed, validated skeleton of an attempt."""
    aid = _check_id(attempt_id, "attempt")
    row = _one(conn, "SELECT data FROM skeletons WHERE attempt_id = ?", (aid,), f"skeleton for attempt {aid}")
    try:
        return skeleton_blob.decode(row["data"])
    except skeleton_blob.SkeletonBlobError as e:
        raise RecordError(f"attempt {aid}: {e}") from None


def get_attempt(conn: sqlite3.Connection, attempt_id: int, *, with_skeleton: bool = True) -> Attempt:
    """One attempt with original and effective values (and its skeleton unless ``with_skeleton`` is false)."""
    aid = _check_id(attempt_id, "attempt")
    r = _one(conn, "SELECT * FROM attempts_effective WHERE id = ?", (aid,), f"attempt with id {aid}")
    return _attempt(r, load_skeleton(conn, aid) if with_skeleton else None)


def list_attempts(
    conn: sqlite3.Connection,
    *,
    session_id: int | None = None,
    student_id: int | None = None,
    class_id: int | None = None,
    action: str | None = None,
) -> list[Attempt]:
    """Attempts (without skeletons) matching every filter given, oldest first; at least one of
    session, student or class is required. ``class_id`` means attempts made in that class's sessions."""
    where, params = [], []
    if session_id is not None:
        where.append("e.session_id = ?")
        params.append(_check_id(session_id, "session"))
    if student_id is not None:
        where.append("e.student_id = ?")
        params.append(_check_id(student_id, "student"))
    if class_id is not None:
        where.append("s.class_id = ?")
        params.append(_check_id(class_id, "class"))
    if not where:
        raise RecordError("list_attempts needs a session, student or class to filter on.")
    if action is not None:
        where.append("e.action = ?")
        params.append(action)
    sql = (
        "SELECT e.* FROM attempts_effective AS e JOIN sessions AS s ON s.id = e.session_id "
        f"WHERE {' AND '.join(where)} ORDER BY e.created_ns, e.id"
    )
    return [_attempt(r) for r in _rows(conn, sql, params)]


def best_scores(conn: sqlite3.Connection, class_id: int, action: str) -> list[BestScore]:
    """Each student's best effective score for ``action`` in the class's sessions, best first."""
    get_class(conn, class_id)
    # SQLite returns the bare columns of the row that holds MAX(): the best attempt's id.
    rows = _rows(
        conn,
        """SELECT st.id AS student_id, st.pseudonym, st.display_name, MAX(e.effective_score) AS best,
                  e.id AS attempt_id, COUNT(*) AS n
           FROM attempts_effective AS e
           JOIN sessions AS s ON s.id = e.session_id
           JOIN students AS st ON st.id = e.student_id
           WHERE s.class_id = ? AND e.action = ? AND e.effective_score IS NOT NULL
           GROUP BY st.id ORDER BY best DESC, st.id""",
        (class_id, action),
    )
    return [
        BestScore(r["student_id"], r["pseudonym"], r["display_name"], r["best"], r["attempt_id"], r["n"]) for r in rows
    ]


# ---------------------------------------------------------------- teacher overrides


def _problem_ids(action: str, problems) -> list[str]:
    from edge.actions.spec import ActionSpecError, load_action

    if not isinstance(problems, (list, tuple)) or not all(isinstance(p, str) for p in problems):
        raise RecordError("overridden problems must be a list of problem ids.")
    if len(set(problems)) != len(problems):
        raise RecordError("overridden problems list a problem more than once.")
    try:
        known = {p.id for p in load_action(action).problems}
    except ActionSpecError as e:
        raise RecordError(f"cannot check problem ids against the {action} spec: {e}") from None
    unknown = [p for p in problems if p not in known]
    if unknown:
        raise RecordError(f"{', '.join(unknown)} is not a problem of {action}.")
    return list(problems)


def override_attempt(
    conn: sqlite3.Connection,
    attempt_id: int,
    teacher: str,
    *,
    score: float | None = None,
    grade: str | None = None,
    problems: list[str] | None = None,
    note: str | None = None,
) -> Override:
    """Record a teacher's correction of any of score, grade and problem ids; the original stays.

    ``problems`` replaces the problem list (ids from the action's spec; ``[]`` means no problem).
    The corrected values become the attempt's effective values and its training labels.
    """
    aid = _check_id(attempt_id, "attempt")
    teacher = _name(teacher, "teacher's name")
    if score is None and grade is None and problems is None:
        raise RecordError("an override needs a score, a grade or a problem list.")
    score = _score(score, "overridden score")
    grade = _grade(grade, "overridden grade")
    action = _one(conn, "SELECT action FROM attempts WHERE id = ?", (aid,), f"attempt with id {aid}")["action"]
    if problems is not None:
        problems = _problem_ids(action, problems)
    if note is not None and not isinstance(note, str):
        raise RecordError("an override note must be text.")
    created_at, created_ns = utc_now()
    with write_transaction(conn):
        cur = conn.execute(
            "INSERT INTO overrides (attempt_id, score, grade, problems, teacher, note, created_at, created_ns)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (aid, score, grade, _dumps(problems), teacher, note, created_at, created_ns),
        )
    return Override(cur.lastrowid, aid, score, grade, problems, teacher, note, created_at)


def list_overrides(conn: sqlite3.Connection, attempt_id: int) -> list[Override]:
    """The override history of an attempt, oldest first."""
    aid = _check_id(attempt_id, "attempt")
    rows = _rows(conn, "SELECT * FROM overrides WHERE attempt_id = ? ORDER BY id", (aid,))
    return [
        Override(
            r["id"], r["attempt_id"], r["score"], r["grade"], _loads(r["problems"]), r["teacher"], r["note"], r["created_at"]
        )
        for r in rows
    ]


def labels_for_training(
    conn: sqlite3.Connection, action: str, *, only_overridden: bool = False
) -> list[TrainingLabel]:
    """Every attempt of ``action`` as (skeleton, effective score, grade, problem ids), oldest first.

    Effective values apply teacher overrides, so corrected attempts teach the corrected labels.
    ``only_overridden`` keeps just the attempts a teacher corrected. Score/grade may be None where
    the scorer was not installed and no teacher set them.
    """
    _action_id(action)
    sql = (
        "SELECT e.id, e.effective_score, e.effective_grade, e.problem_ids, e.overridden, k.data "
        "FROM attempts_effective AS e JOIN skeletons AS k ON k.attempt_id = e.id WHERE e.action = ?"
        + (" AND e.overridden" if only_overridden else "")
        + " ORDER BY e.created_ns, e.id"
    )
    out = []
    for r in _rows(conn, sql, (action,)):
        try:
            seq = skeleton_blob.decode(r["data"])
        except skeleton_blob.SkeletonBlobError as e:
            raise RecordError(f"attempt {r['id']}: {e}") from None
        out.append(
            TrainingLabel(
                r["id"], seq, r["effective_score"], r["effective_grade"], _loads(r["problem_ids"]), bool(r["overridden"])
            )
        )
    return out


# ---------------------------------------------------------------- retention


def purge_older_than(conn: sqlite3.Connection, days: float, *, now_ns: int | None = None) -> PurgeResult:
    """Delete attempts created more than ``days`` days before now, as the module docstring says.

    Video files of purged attempts are unlinked inside the transaction, before the rows go: a crash
    part-way leaves rows whose video is already gone (a rerun finishes the job), never a video
    without its row. Afterwards the WAL is checkpointed and truncated so the zeroed pages
    (secure_delete) replace the old content in the database file.
    """
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not math.isfinite(days) or days <= 0:
        raise RecordError(f"the retention period must be a positive number of days, got {days!r}.")
    now_ns = utc_now()[1] if now_ns is None else int(now_ns)
    cutoff_ns = now_ns - int(days * _NS_PER_DAY)
    with write_transaction(conn):
        videos = [
            row[0]
            for row in conn.execute(
                "SELECT video_path FROM attempts WHERE created_ns < ? AND video_path IS NOT NULL", (cutoff_ns,)
            )
        ]
        for v in videos:
            try:
                Path(v).unlink(missing_ok=True)
            except OSError as e:
                raise RecordError(f"cannot delete the video {v} of a purged attempt ({e.strerror}).") from None
        n_attempts = conn.execute("DELETE FROM attempts WHERE created_ns < ?", (cutoff_ns,)).rowcount
        n_sessions = conn.execute(
            "DELETE FROM sessions WHERE started_ns < ? AND NOT EXISTS "
            "(SELECT 1 FROM attempts WHERE attempts.session_id = sessions.id)",
            (cutoff_ns,),
        ).rowcount
    if n_attempts:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return PurgeResult(iso_from_ns(cutoff_ns), n_attempts, n_sessions, len(videos))


__all__ = [
    "Attempt",
    "BestScore",
    "ClassInfo",
    "Override",
    "PurgeResult",
    "RecordError",
    "Session",
    "Student",
    "TrainingLabel",
    "best_scores",
    "create_class",
    "create_student",
    "end_session",
    "find_student",
    "get_attempt",
    "get_class",
    "get_session",
    "get_student",
    "labels_for_training",
    "list_attempts",
    "list_classes",
    "list_overrides",
    "list_sessions",
    "list_students",
    "load_skeleton",
    "override_attempt",
    "purge_older_than",
    "save_attempt",
]
