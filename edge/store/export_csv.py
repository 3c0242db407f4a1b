"""A class's attempts as one CSV file for a spreadsheet, written atomically.

One row per attempt, oldest first: the attempt and session ids, date (UTC), the student's
pseudonym and display name, action, effective score and grade (teacher overrides applied), phase
scores (``phase score; phase score``), the top problems by title, whether a teacher overrode the
result, the model's original score and grade, model version and config hash.

Spreadsheet safety: a cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return would be
run as a formula by Excel/LibreOffice (CSV injection); such a cell gets a leading apostrophe. Every
cell is treated so, names included. The file is UTF-8 with a byte-order mark so that Excel shows
accented names correctly, with CRLF line ends (RFC 4180).
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3

from edge.skeleton.io import atomic_write_bytes
from edge.store.db import read_snapshot
from edge.store.repository import Attempt, get_class, list_attempts, list_students

COLUMNS: tuple[str, ...] = (
    "attempt_id",
    "date_utc",
    "session_id",
    "student",
    "display_name",
    "action",
    "score",
    "grade",
    "phase_scores",
    "top_problems",
    "overridden",
    "original_score",
    "original_grade",
    "model_version",
    "config_hash",
)
#: How many problems the ``top_problems`` cell lists.
TOP_PROBLEMS = 3
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    """The cell text of ``value``, neutralised if a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _num(v) -> str:
    return "" if v is None else f"{v:.1f}"


def _problem_titles(a: Attempt) -> list[str]:
    """Effective problems, most probable first (the teacher's order for an override), as titles."""
    by_id = {p["id"]: p for p in a.problems}
    ids = list(a.effective_problems)
    if ids == [p["id"] for p in a.problems]:
        ids.sort(key=lambda i: -(by_id[i].get("probability") or 0.0))
    titles = {}
    if any(i not in by_id for i in ids):
        from edge.actions.spec import load_action

        titles = {p.id: p.title for p in load_action(a.action).problems}
    return [(by_id[i].get("title") or i) if i in by_id else titles.get(i, i) for i in ids]


def attempt_row(a: Attempt, pseudonym: str, display_name: str | None) -> list[str]:
    """One CSV row (unsanitised values) of an attempt, in ``COLUMNS`` order."""
    phases = "; ".join(f"{k} {_num(v)}" for k, v in (a.phase_scores or {}).items())
    return [
        str(a.id),
        a.created_at,
        str(a.session_id),
        pseudonym,
        display_name or "",
        a.action,
        _num(a.effective_score),
        a.effective_grade or "",
        phases,
        "; ".join(_problem_titles(a)[:TOP_PROBLEMS]),
        "yes" if a.overridden else "no",
        _num(a.score),
        a.grade or "",
        a.model_version or "",
        a.config_hash,
    ]


def class_csv(conn: sqlite3.Connection, class_id: int) -> tuple[bytes, int]:
    """The CSV bytes of every attempt made in the class's sessions (one consistent snapshot) and
    the number of attempt rows."""
    with read_snapshot(conn):
        get_class(conn, class_id)
        students = {s.id: s for s in list_students(conn, class_id)}
        attempts = list_attempts(conn, class_id=class_id)
        missing = {a.student_id for a in attempts} - students.keys()
        if missing:  # a student moved to another class after the attempt
            from edge.store.repository import get_student

            students.update({i: get_student(conn, i) for i in missing})
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for a in attempts:
        s = students[a.student_id]
        w.writerow([safe_cell(v) for v in attempt_row(a, s.pseudonym, s.display_name)])
    return buf.getvalue().encode("utf-8-sig"), len(attempts)


def export_class_csv(conn: sqlite3.Connection, class_id: int, path: str | os.PathLike) -> int:
    """Write the class's CSV to ``path`` atomically (temp file, fsync, rename); returns the row count."""
    data, n_rows = class_csv(conn, class_id)
    atomic_write_bytes(path, data)
    return n_rows
