"""Numbered schema migrations, applied atomically and recorded in ``schema_version``.

Each :class:`Migration` is a version number (1, 2, 3, ... without gaps) and an ordered list of SQL
statements. :func:`migrate` runs every migration above the database's version inside one
``BEGIN IMMEDIATE`` transaction and records each in ``schema_version``; SQLite DDL is
transactional, so a crash or an error part-way leaves the database exactly at its old version.
A database whose version is newer than this code knows is refused, never touched.

Rules for adding a migration: append, never edit a released one; keep to SQL that SQLite 3.22
understands (Ubuntu 18.04 / JetPack 4.6 ships 3.22: no STRICT tables, no RETURNING, no
DROP COLUMN, no UPSERT, no window functions).

Schema (version 1):

- ``classes``: a teaching group.
- ``students``: pseudonymous id (``S-`` + 8 random Crockford base-32 characters), optional
  display name, the class.
- ``sessions``: one lesson segment of one action for one class; started/ended, device, model.
- ``attempts``: one saved result, immutable once written (a trigger refuses UPDATE; from version 2
  the guidance alone may go from NULL to a value once, as the service writes it after saving);
  JSON columns are checked with ``json_valid`` and their JSON type.
- ``skeletons``: the compressed skeleton of an attempt, kept apart so listing attempts never reads
  the blobs; deleted with its attempt.
- ``overrides``: a teacher's correction of score, grade and/or problem ids, append-only (who,
  when, why); the attempt row keeps the model's original values.
- ``attempts_effective`` (view): each attempt with the latest override of each field applied,
  ``problem_ids`` (a JSON array of ids) and ``overridden`` (0/1).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from edge.store.db import StoreError, utc_now, write_transaction

#: Grades of the scorer (adaptive-GCN paper Sec. 4: five levels), best first.
GRADES: tuple[str, ...] = ("excellent", "good", "medium", "pass", "fail")
_GRADE_SQL = ", ".join(f"'{g}'" for g in GRADES)


class SchemaTooNewError(StoreError):
    """The database was written by a newer FieldCoach; this code must not touch it."""


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


def _json(col: str, kind: str, nullable: bool) -> str:
    check = f"json_valid({col}) AND json_type({col}) = '{kind}'"
    return f"CHECK ({col} IS NULL OR ({check}))" if nullable else f"NOT NULL CHECK ({check})"


def _latest_override(field: str) -> str:
    return (
        f"(SELECT o.{field} FROM overrides AS o WHERE o.attempt_id = a.id AND o.{field} IS NOT NULL "
        f"ORDER BY o.id DESC LIMIT 1)"
    )


_V1 = (
    """CREATE TABLE classes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0 AND length(name) <= 100),
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE students (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE RESTRICT,
        pseudonym TEXT NOT NULL UNIQUE CHECK (length(pseudonym) = 10 AND substr(pseudonym, 1, 2) = 'S-'),
        display_name TEXT CHECK (display_name IS NULL
                                 OR (length(trim(display_name)) > 0 AND length(display_name) <= 100)),
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX students_class ON students(class_id)",
    """CREATE TABLE sessions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE RESTRICT,
        action TEXT NOT NULL CHECK (length(action) > 0),
        started_at TEXT NOT NULL,
        started_ns INTEGER NOT NULL,
        ended_at TEXT,
        device TEXT,
        model_version TEXT
    )""",
    "CREATE INDEX sessions_class ON sessions(class_id)",
    f"""CREATE TABLE attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE RESTRICT,
        student_id INTEGER NOT NULL REFERENCES students(id) ON DELETE RESTRICT,
        action TEXT NOT NULL CHECK (length(action) > 0),
        created_at TEXT NOT NULL,
        created_ns INTEGER NOT NULL UNIQUE,
        n_frames INTEGER NOT NULL CHECK (n_frames >= 2),
        fps REAL NOT NULL CHECK (fps > 0),
        score REAL CHECK (score IS NULL OR (score >= 0 AND score <= 100)),
        grade TEXT CHECK (grade IS NULL OR grade IN ({_GRADE_SQL})),
        phase_scores TEXT {_json("phase_scores", "object", True)},
        keyframes TEXT {_json("keyframes", "array", False)},
        metrics TEXT {_json("metrics", "array", False)},
        problems TEXT {_json("problems", "array", False)},
        strengths TEXT {_json("strengths", "array", False)},
        guidance TEXT {_json("guidance", "object", True)},
        model_name TEXT,
        model_version TEXT,
        model_sha256 TEXT,
        config_hash TEXT NOT NULL CHECK (length(config_hash) > 0),
        app_version TEXT NOT NULL,
        video_path TEXT CHECK (video_path IS NULL OR length(video_path) > 0)
    )""",
    "CREATE INDEX attempts_session ON attempts(session_id)",
    "CREATE INDEX attempts_student ON attempts(student_id)",
    "CREATE INDEX attempts_action ON attempts(action, created_ns)",
    """CREATE TRIGGER attempts_immutable BEFORE UPDATE ON attempts
    BEGIN SELECT RAISE(ABORT, 'attempts are immutable; record a teacher override instead'); END""",
    """CREATE TRIGGER attempts_same_class BEFORE INSERT ON attempts
    WHEN (SELECT class_id FROM students WHERE id = NEW.student_id)
         IS NOT (SELECT class_id FROM sessions WHERE id = NEW.session_id)
    BEGIN SELECT RAISE(ABORT, 'the student is not in the class of this session'); END""",
    """CREATE TABLE skeletons (
        attempt_id INTEGER PRIMARY KEY REFERENCES attempts(id) ON DELETE CASCADE,
        data BLOB NOT NULL CHECK (length(data) > 0)
    )""",
    f"""CREATE TABLE overrides (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
        score REAL CHECK (score IS NULL OR (score >= 0 AND score <= 100)),
        grade TEXT CHECK (grade IS NULL OR grade IN ({_GRADE_SQL})),
        problems TEXT {_json("problems", "array", True)},
        teacher TEXT NOT NULL CHECK (length(trim(teacher)) > 0),
        note TEXT,
        created_at TEXT NOT NULL,
        created_ns INTEGER NOT NULL,
        CHECK (score IS NOT NULL OR grade IS NOT NULL OR problems IS NOT NULL)
    )""",
    "CREATE INDEX overrides_attempt ON overrides(attempt_id, id)",
    """CREATE TRIGGER overrides_append_only BEFORE UPDATE ON overrides
    BEGIN SELECT RAISE(ABORT, 'overrides are append-only; record a new override instead'); END""",
    f"""CREATE VIEW attempts_effective AS
    SELECT a.*,
        a.score AS original_score,
        a.grade AS original_grade,
        COALESCE({_latest_override("score")}, a.score) AS effective_score,
        COALESCE({_latest_override("grade")}, a.grade) AS effective_grade,
        COALESCE({_latest_override("problems")},
                 (SELECT json_group_array(json_extract(p.value, '$.id')) FROM json_each(a.problems) AS p))
            AS problem_ids,
        EXISTS (SELECT 1 FROM overrides AS o WHERE o.attempt_id = a.id) AS overridden
    FROM attempts AS a""",
)

#: Version 2: the real-time service saves an attempt first and writes its guidance afterwards, so
#: the one change an attempt accepts is its guidance going from NULL to a value, once.
_V2 = (
    "DROP TRIGGER attempts_immutable",
    """CREATE TRIGGER attempts_immutable BEFORE UPDATE ON attempts
    WHEN NOT (OLD.guidance IS NULL AND NEW.guidance IS NOT NULL
              AND NEW.id IS OLD.id AND NEW.session_id IS OLD.session_id AND NEW.student_id IS OLD.student_id
              AND NEW.action IS OLD.action AND NEW.created_at IS OLD.created_at AND NEW.created_ns IS OLD.created_ns
              AND NEW.n_frames IS OLD.n_frames AND NEW.fps IS OLD.fps AND NEW.score IS OLD.score
              AND NEW.grade IS OLD.grade AND NEW.phase_scores IS OLD.phase_scores AND NEW.keyframes IS OLD.keyframes
              AND NEW.metrics IS OLD.metrics AND NEW.problems IS OLD.problems AND NEW.strengths IS OLD.strengths
              AND NEW.model_name IS OLD.model_name AND NEW.model_version IS OLD.model_version
              AND NEW.model_sha256 IS OLD.model_sha256 AND NEW.config_hash IS OLD.config_hash
              AND NEW.app_version IS OLD.app_version AND NEW.video_path IS OLD.video_path)
    BEGIN SELECT RAISE(ABORT, 'attempts are immutable; record a teacher override instead'); END""",
)

#: Every migration, in order. Append only.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "classes, students, sessions, attempts, skeletons, teacher overrides", _V1),
    Migration(2, "an attempt's guidance may be written once after it was saved", _V2),
)
LATEST_VERSION = MIGRATIONS[-1].version

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at TEXT NOT NULL
)"""


def _check_sequence(migrations: tuple[Migration, ...]) -> None:
    if not migrations:
        raise StoreError("there are no migrations to apply.")
    for i, m in enumerate(migrations, start=1):
        if m.version != i:
            raise StoreError(f"migration number {m.version} is out of sequence; expected {i}.")
        if not m.statements:
            raise StoreError(f"migration {m.version} has no SQL statements.")


def _has_version_table(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    return row is not None


def schema_version(conn: sqlite3.Connection) -> int:
    """The highest migration recorded in the database; 0 for a database without any."""
    if not _has_version_table(conn):
        return 0
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])


def _refuse_newer(conn: sqlite3.Connection, current: int, latest: int) -> None:
    if current > latest:
        from edge import __version__

        raise SchemaTooNewError(
            f"the database {getattr(conn, 'path', '')} has schema version {current}, newer than the "
            f"{latest} that FieldCoach {__version__} understands; update FieldCoach instead of opening it "
            "with this version."
        )


def _refuse_foreign(conn: sqlite3.Connection) -> None:
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    ]
    if names and "schema_version" not in names:
        raise StoreError(
            f"the database {getattr(conn, 'path', '')} holds tables ({', '.join(sorted(names)[:3])}) "
            "but no FieldCoach schema version; it is not a FieldCoach database."
        )


def check_schema(conn: sqlite3.Connection, require_latest: bool, latest: int = LATEST_VERSION) -> int:
    """Check the version without changing anything; returns it.

    Refuses a database newer than ``latest``, and, when ``require_latest``, one that is older (a
    read-only connection cannot migrate it).
    """
    _refuse_foreign(conn)
    current = schema_version(conn)
    _refuse_newer(conn, current, latest)
    if require_latest and current < latest:
        raise StoreError(
            f"the database {getattr(conn, 'path', '')} has schema version {current}, older than {latest}; "
            "open it once for writing to migrate it."
        )
    return current


def migrate(conn: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply the missing migrations in one transaction; returns the resulting version.

    Idempotent: a database at the latest version is left as it is. Raises SchemaTooNewError for a
    newer database and StoreError for a database that is not FieldCoach's.
    """
    _check_sequence(migrations)
    latest = migrations[-1].version
    with write_transaction(conn):
        _refuse_foreign(conn)
        conn.execute(_VERSION_TABLE)
        current = schema_version(conn)
        _refuse_newer(conn, current, latest)
        for m in migrations[current:]:
            for sql in m.statements:
                conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                (m.version, m.description, utc_now()[0]),
            )
    return latest if current < latest else current
