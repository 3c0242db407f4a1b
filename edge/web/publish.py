"""From an analysed attempt to the screen, in the order that keeps the promise "saved means saved".

1. The result is shown at once, marked *not yet saved* (``ScreenState.attempt_result``).
2. ``save_attempt`` writes it; it returns only after the durable commit (SQLite WAL,
   synchronous=FULL: the WAL is fsynced before COMMIT returns).
3. Only then is "saved" published, with the id the store returned (``attempt_saved``). A failed
   save is published as ``not_saved`` with its reason, and the screen never says "saved".

The real-time service and the demo publisher both go through :func:`save_and_publish`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Callable

from edge.skeleton.sequence import SkeletonSequence
from edge.store.db import StoreError
from edge.store.repository import (
    ClassInfo,
    RecordError,
    Student,
    create_class,
    end_session,
    get_student,
    list_classes,
    list_sessions,
    save_attempt,
)
from edge.web.state import ScreenState
from edge.web.views import attempt_view

log = logging.getLogger(__name__)


def student_ref(student: Student) -> dict:
    """How the screen names a student: {id, label (display name or pseudonym), pseudonym}."""
    return {"id": student.id, "label": student.label, "pseudonym": student.pseudonym}


def open_class(conn: sqlite3.Connection, name: str) -> ClassInfo:
    """The class called ``name`` (created when missing), with any session left open by an earlier
    run (a crash, a power cut) ended, so that a new session can start."""
    cls = {c.name: c for c in list_classes(conn)}.get(name) or create_class(conn, name)
    for s in list_sessions(conn, cls.id):
        if s.ended_at is None:
            end_session(conn, s.id)
    return cls


def student_for_session(conn: sqlite3.Connection, session, student_id: int) -> Student:
    """The student ``student_id``, checked to be in the class of ``session`` (RecordError if not)."""
    student = get_student(conn, student_id)
    if session is None or student.class_id != session.class_id:
        raise RecordError(f"student {student_id} is not in the class being recorded.")
    return student


def next_in_roster(students: list[Student], done: Student) -> Student | None:
    """Who is up after ``done``: the next student of the roster, wrapping round."""
    if not students:
        return None
    ids = [s.id for s in students]
    i = ids.index(done.id) if done.id in ids else -1
    return students[(i + 1) % len(students)]


def save_and_publish(
    state: ScreenState,
    conn: sqlite3.Connection,
    *,
    session_id: int,
    student: Student,
    report: dict,
    skeleton: SkeletonSequence,
    config_hash: str,
    references=(),
    on_shown: Callable[[int], None] | None = None,
) -> tuple[int, int | None]:
    """Show the result, save it durably, then say "saved". Returns (screen key, attempt id or None).
    ``on_shown(key)`` is called the moment the result is on the bus (before the save)."""
    view = attempt_view(report, skeleton, references=references, student=student_ref(student))
    key = state.attempt_result(view)
    if on_shown is not None:
        on_shown(key)
    t0 = time.perf_counter()
    try:
        attempt_id = save_attempt(conn, session_id, student.id, report, skeleton, config_hash)
    except (RecordError, StoreError, sqlite3.Error, OSError) as e:
        log.error("attempt of %s not saved: %s", student.pseudonym, e)
        state.attempt_not_saved(key, str(e))
        return key, None
    log.info("attempt %d saved in %.1f ms", attempt_id, (time.perf_counter() - t0) * 1e3)
    state.attempt_saved(key, attempt_id)
    return key, attempt_id


def stream_text(state: ScreenState, key: int, guidance: dict | None, *, words_per_s: float = 25.0,
                sleep=time.sleep) -> None:
    """Stream finished guidance text word by word (for guidance that did not come as tokens), then done."""
    text = (guidance or {}).get("text") or ""
    words = text.split(" ")
    for i, w in enumerate(words if text else []):
        state.guidance_token(key, w if i == 0 else " " + w)
        if words_per_s > 0:
            sleep(1.0 / words_per_s)
    state.guidance_done(key, guidance)
