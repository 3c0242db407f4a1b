"""The demo publisher: simulated attempts through the real path, so the screen works without a camera.

simulate (``edge.sim``) -> replay the skeleton live at its frame rate -> analyse
(``edge.analyze.analyze_sequence``) -> ``save_and_publish`` (durable save, then "saved") ->
stream the guidance text -> wait for the next student. It implements ``ServiceControl`` (change
the action, choose the next student, start an attempt) the way the real-time service will.

A demo class ("Demo class", students "Student A".. with generated pseudonyms) and a session are
created in the given database if missing. Guidance that arrives as finished text is streamed
word by word (``publish.stream_text``) so the screen shows it as the local model would.
If analysis fails (e.g. the reference bundle is not installed), the screen shows why and nothing
is saved. When the reference library has no performances for the action, references for the plot's
band are made from fault-free simulated attempts (calibration seeds, clean joints).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from edge import __version__
from edge.actions.spec import ACTION_IDS, load_action
from edge.config import FieldCoachConfig
from edge.store.repository import (
    RecordError,
    Session,
    Student,
    create_student,
    end_session,
    list_students,
    start_session,
)
from edge.web.publish import next_in_roster, open_class, save_and_publish, stream_text, student_for_session, student_ref
from edge.web.references import ReferenceLibrary
from edge.web.state import ScreenState

log = logging.getLogger(__name__)

DEMO_CLASS = "Demo class"
#: Seeds of the simulated references (the calibration range, apart from evaluation seeds).
REFERENCE_SEED_BASE = 2**31
N_SIMULATED_REFERENCES = 5


def simulated_references(action: str, n: int = N_SIMULATED_REFERENCES) -> list:
    """``n`` fault-free simulated performances of ``action`` as templates (clean joints, true keyframes)."""
    from edge.align.template import Template
    from edge.sim import simulate

    out = []
    for i in range(n):
        s = simulate(action, REFERENCE_SEED_BASE + i, faults=[], idle=(0.3, 0.3))
        out.append(Template(action, s.clean_joints, s.sequence.fps, s.keyframes, name=f"simulated reference {i}"))
    return out


def models_status(report: dict) -> dict:
    """What the settings screen says about models, from the last report (what really ran)."""
    m = report.get("model") or {}
    ref = report.get("reference") or {}
    return {
        "app": __version__,
        "scorer": f"{m.get('name')} {m.get('version')} ({(m.get('sha256') or '')[:12]})" if m else "not installed",
        "references": ref.get("version") or "not installed",
    }


class DemoPublisher:
    """Publishes simulated attempts into ``state`` and saves them through ``conn`` (writable)."""

    def __init__(
        self,
        state: ScreenState,
        conn,
        config: FieldCoachConfig,
        *,
        analyze: Callable[[object, str], dict] | None = None,
        references: ReferenceLibrary | None = None,
        n_students: int = 6,
        speed: float = 1.0,
        words_per_s: float = 25.0,
        seed: int = 1,
        idle_s: float = 0.4,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"the replay speed must be positive, got {speed}.")
        self.state = state
        self.conn = conn
        self.config = config
        self.analyze = analyze or (lambda seq, action: _analyze(seq, action, config))
        self.references = references or ReferenceLibrary(None)
        self.n_students = n_students
        self.speed = speed
        self.words_per_s = words_per_s
        self.idle_s = idle_s
        self._seed = seed
        self._lock = threading.Lock()
        self._busy = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.session: Session | None = None
        self.students: list[Student] = []
        self._next: Student | None = None
        self.last_error: str | None = None

    # ---------------------------------------------------------------- set-up

    def setup(self, action: str | None = None) -> None:
        """Find or create the demo class and its students, open a session, publish the context."""
        cls = open_class(self.conn, DEMO_CLASS)
        students = list_students(self.conn, cls.id)
        for i in range(len(students), self.n_students):
            students.append(create_student(self.conn, cls.id, f"Student {chr(ord('A') + i)}"))
        self.students = students
        self._open_session(cls, action or self.config.action)
        self.state.set_status(
            camera={"state": "simulated", "detail": "no camera: the simulated athlete (demo mode)"},
            models={"app": __version__, "analysis": "not run yet"},
            update={"state": "not configured", "detail": "model updates come with the appliance's update service"},
        )
        self._next = students[0] if students else None
        self.state.set_next_student(student_ref(self._next) if self._next else None)
        self.state.set_phase("waiting", "demo mode: press “Simulate attempt”")

    def _open_session(self, cls, action: str) -> None:
        self.session = start_session(self.conn, cls.id, action, device="simulator")
        self.state.set_context(
            class_id=cls.id, class_name=cls.name, session_id=self.session.id,
            action=action, action_name=load_action(action).name,
        )  # fmt: skip

    # ---------------------------------------------------------------- ServiceControl

    def set_action(self, action: str) -> None:
        if action not in ACTION_IDS:
            raise RecordError(f"unknown action {action!r}.")
        with self._busy:  # not in the middle of an attempt
            with self._lock:
                if self.session is not None and self.session.action == action:
                    return
                from edge.store.repository import get_class

                cls = get_class(self.conn, self.session.class_id)
                end_session(self.conn, self.session.id)
                self._open_session(cls, action)

    def set_next_student(self, student_id: int) -> None:
        student = student_for_session(self.conn, self.session, student_id)
        with self._lock:
            self._next = student
        self.state.set_next_student(student_ref(student))

    def trigger_attempt(self) -> bool:
        """Start one simulated attempt in the background; False if one is running."""
        if not self._busy.acquire(blocking=False):
            return False
        t = threading.Thread(target=self._run_locked, name="demo-attempt", daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()
        return True

    # ---------------------------------------------------------------- one attempt

    def _run_locked(self) -> None:
        try:
            self.run_attempt()
        except Exception:  # the demo thread must not die silently
            log.exception("simulated attempt failed")
            self.state.set_phase("waiting", "the simulated attempt failed; see the log")
        finally:
            self._busy.release()

    def run_attempt(self) -> int | None:
        """One attempt, synchronously (call ``trigger_attempt`` for the background version).
        Returns the saved attempt id, or None when analysis or saving failed."""
        from edge.analyze import AnalysisError
        from edge.sim import simulate

        with self._lock:
            student, session = self._next, self.session
            seed = self._seed
            self._seed += 1
        if student is None or session is None:
            raise RecordError("the demo is not set up (no student or session).")
        action = session.action
        sample = simulate(action, seed, idle=(self.idle_s, self.idle_s))
        seq = sample.sequence
        self.state.set_phase("recording", f"{student.label}: {load_action(action).name}")
        t_start = time.monotonic()
        for i in range(seq.n_frames):
            if self._stop.is_set():
                return None
            self.state.publish_frame(seq.joints[i], seq.confidence[i], float(seq.t[i]))
            delay = t_start + float(seq.t[i] - seq.t[0]) / self.speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        self.state.set_phase("analysing", student.label)
        try:
            report = self.analyze(seq, action)
        except AnalysisError as e:
            self.last_error = str(e)
            self.state.set_phase("waiting", f"could not analyse the attempt: {e}")
            return None
        self.state.set_status(models=models_status(report))
        refs = self.references(action)
        if not refs:
            refs = simulated_references(action)
            self.references.put(action, refs)
        key, attempt_id = save_and_publish(
            self.state, self.conn, session_id=session.id, student=student, report=report, skeleton=seq,
            config_hash=report.get("config_hash") or self.config.config_hash(), references=refs,
        )  # fmt: skip
        if attempt_id is None:
            self.last_error = self.state.last_attempt.get("save_error")
        stream_text(self.state, key, report.get("guidance"), words_per_s=self.words_per_s * self.speed)
        self._advance(student)
        self.state.set_phase("waiting", None)
        return attempt_id

    def _advance(self, done: Student) -> None:
        with self._lock:
            if self._next is not None and self._next.id != done.id:
                return  # the teacher already chose someone else
            self._next = nxt = next_in_roster(self.students, done)
        self.state.set_next_student(student_ref(nxt) if nxt else None)

    # ---------------------------------------------------------------- automatic mode

    def start_auto(self, interval_s: float) -> None:
        """Start an attempt every ``interval_s`` seconds until ``stop``."""

        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.trigger_attempt()

        t = threading.Thread(target=loop, name="demo-auto", daemon=True)
        self._threads.append(t)
        t.start()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no attempt is running (tests); True if idle in time."""
        if self._busy.acquire(timeout=timeout):
            self._busy.release()
            return True
        return False

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)


def _analyze(seq, action: str, config: FieldCoachConfig) -> dict:
    from edge.analyze import analyze_sequence

    return analyze_sequence(seq, action, config)

