"""The real-time loop: capture -> fusion -> segmentation -> analysis -> store -> screen -> guidance.

Four threads, joined by queues, so that nothing slow can hold up the camera:

1. **capture** reads the source (Azure Kinect, recording, simulator). Live and paced sources put
   captures into a bounded queue; when the pipeline is behind, the *oldest* capture is dropped and
   counted (``frames_dropped``): back-pressure never blocks the camera driver. Sources played
   as fast as possible (``speed`` 0) block instead, since nothing is lost by waiting. A camera
   that times out or disconnects is reopened after a pause; the screen's camera status says so.
2. **process** runs the fusion (not for skeleton sources), publishes the live skeleton, and feeds
   the attempt segmenter; each attempt it emits is handed on with the student who was up next.
3. **analysis** runs scorer + MotionDTW + KISMAM (``edge.analyze.analyze_sequence`` without
   guidance), then ``save_and_publish``: the result goes on the screen at once and "saved" only
   after the durable commit. Teachers' changes of action are applied here, in order, between
   attempts. It also purges attempts older than ``retention_days``.
4. **guidance** writes the guidance with the local model and streams it to the screen token by
   token, then stores it with the attempt. Its queue is short: when attempts come faster than the
   model writes, the oldest waiting guidance is skipped (counted) - the score never waits for it.

``stop()`` (SIGTERM) stops reading, lets the segmenter finish the attempt in progress, analyses
and saves everything queued, finishes the guidance being written and returns.
``problems()`` is the liveness check behind the systemd watchdog and ``/health``: a thread that
died, or one whose heartbeat is older than ``heartbeat_timeout_s``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from edge.actions.spec import ACTION_IDS, load_action
from edge.capture.frames import CorruptRecording, EndOfStream, SourceTimeout
from edge.config import FieldCoachConfig
from edge.service.metrics import ServiceMetrics
from edge.store.db import StoreError
from edge.store.repository import (
    RecordError,
    Student,
    create_student,
    end_session,
    list_students,
    purge_older_than,
    set_guidance,
    start_session,
)
from edge.web.publish import next_in_roster, open_class, save_and_publish, student_for_session, student_ref
from edge.web.state import ScreenState

log = logging.getLogger(__name__)

SKELETON_KINDS = ("npz", "sim-class")
GUIDANCE_NICE = 10
_END = object()


@dataclass
class ServiceOptions:
    """How the loop runs (``fieldcoach serve`` sets these from its options)."""

    kind: str = "k4a"
    class_name: str = "Class 1"
    students: int = 30  # a new class gets this many numbered students ("Student 1", ...)
    speed: float = 1.0  # recorded/simulated sources: x real time; 0 = as fast as possible
    capture_queue: int = 8
    guidance_queue: int = 2
    guidance: bool = True
    live_fps: float = 15.0
    picture_fps: float = 4.0
    loop_source: bool = False  # reopen a simulated source when it ends (an endless demo)
    heartbeat_timeout_s: float = 20.0
    reopen_delay_s: float = 2.0
    purge_every_s: float = 6 * 3600.0


class _Queue:
    """A bounded FIFO that either drops its oldest item (counted) or blocks when full."""

    def __init__(self, maxlen: int | None, droppable: Callable[[object], bool] = lambda item: True) -> None:
        self._items: deque = deque()
        self._cond = threading.Condition()
        self.maxlen = maxlen
        self._droppable = droppable

    def put(self, item, *, drop: bool = False, stop: threading.Event | None = None, force: bool = False):
        """Returns the item dropped to make room (None when nothing was dropped). ``force``: append
        beyond the bound (the end marker, which must neither wait nor push out real work)."""
        with self._cond:
            dropped = None
            if self.maxlen is not None and not force:
                while len(self._items) >= self.maxlen:
                    if drop:
                        dropped = self._drop_oldest()
                        if dropped is not None:
                            break
                    if stop is not None and stop.is_set():
                        break
                    self._cond.wait(0.2)
            self._items.append(item)
            self._cond.notify_all()
            return dropped

    def _drop_oldest(self):
        for i, item in enumerate(self._items):
            if self._droppable(item):
                del self._items[i]
                return item
        return None

    def get(self, timeout: float):
        """The next item, or None after ``timeout`` s."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            if not self._items:
                return None
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


class _KeypointTap:
    """Wraps the 2D pose model to remember the last keypoints (for the skeleton over the picture)."""

    def __init__(self, model) -> None:
        self.model = model
        self.last = None

    def estimate(self, capture, box):
        kp = self.model.estimate(capture, box)
        if kp is not None and capture.color is not None:
            h, w = capture.color.shape[:2]
            self.last = kp.uv / [w, h]
        return kp


class RealtimeService:
    """The loop (see the module docstring) and the ``ServiceControl`` the screen talks to."""

    def __init__(
        self,
        config: FieldCoachConfig,
        conn,
        state: ScreenState,
        open_source: Callable[[str, int], object],
        *,
        options: ServiceOptions | None = None,
        pose_factory: Callable[[object], object] | None = None,
        metrics: ServiceMetrics | None = None,
        analyze: Callable[[object, str], dict] | None = None,
        guide: Callable[[dict, Callable[[str], None]], dict | None] | None = None,
        references=None,
        models_version: str | None = None,
    ) -> None:
        self.config = config
        self.conn = conn
        self.state = state
        self.options = options or ServiceOptions()
        self.metrics = metrics or ServiceMetrics()
        self._open_source = open_source
        self._pose_factory = pose_factory
        quiet = config.model_copy(update={"guidance_in_analyze": False})
        from edge.service.health import slot_reference_dir

        self.reference_dir = slot_reference_dir(config.paths.models_dir)
        self.analyze = analyze or (lambda seq, action: _analyze(seq, action, quiet, self.reference_dir))
        self.guide = guide or (lambda report, on_token: _guide(report, config, on_token))
        self.references = references
        self.models_version = models_version
        self.action = config.action
        self.session = None
        self.students: list[Student] = []
        self._next: Student | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._captures = _Queue(self.options.capture_queue, droppable=_is_capture)
        self._attempts = _Queue(None)  # attempts are student data: never dropped
        self._guidance = _Queue(self.options.guidance_queue or None, droppable=lambda item: item is not _END)
        self._threads: dict[str, threading.Thread] = {}
        self._beats: dict[str, float] = {}
        self._finished: set[str] = set()
        self._pending_action: str | None = None
        self._source_action = self.action
        self._moving = False
        self._analysing = 0
        self._phase: tuple | None = None
        self._phase_lock = threading.Lock()
        self.source_ended = threading.Event()
        self.on_saved: Callable[[int, int | None, dict], None] | None = None  # (key, attempt id, report)
        self.on_guidance: Callable[[int, dict | None], None] | None = None
        self.last_error: str | None = None
        self.camera: dict = {"state": "starting", "detail": "the source is being opened", "source": self.options.kind}
        self._models_shown: dict | None = None

    # ---------------------------------------------------------------- start and stop

    def setup(self) -> None:
        """Find or create the class and its students, open a session, publish the context."""
        cls = open_class(self.conn, self.options.class_name)
        students = list_students(self.conn, cls.id)
        if not students:
            students = [create_student(self.conn, cls.id, f"Student {i + 1}") for i in range(self.options.students)]
        self.students = students
        self._open_session(cls.id, cls.name, self.action)
        self._next = students[0] if students else None
        self.state.set_next_student(student_ref(self._next) if self._next else None)
        self._set_phase()
        self._purge()

    def warm_up(self) -> float:
        """Analyse one simulated attempt (and write its guidance when guidance is on) before the
        loop starts, so that the first student does not wait for kernels to compile, references and
        models to load. Returns the seconds it took."""
        from edge.sim import simulate

        t0 = time.perf_counter()
        if self.options.kind not in SKELETON_KINDS:  # the fusion's compiled kernels, before the first capture
            from edge.fusion.pipeline import warm_up

            warm_up()
        seq = simulate(self.action, 2**31 - 7, faults=[]).sequence
        report = self.analyze(seq, self.action)
        if self.options.guidance:
            self.guide(report, lambda token: None)
        return time.perf_counter() - t0

    def start(self) -> "RealtimeService":
        if self.session is None:
            self.setup()
        for name, target in (("capture", self._capture_loop), ("process", self._process_loop),
                             ("analysis", self._analysis_loop), ("guidance", self._guidance_loop)):  # fmt: skip
            self._beats[name] = time.monotonic()
            t = threading.Thread(target=self._guarded(name, target), name=f"fieldcoach-{name}", daemon=True)
            self._threads[name] = t
            t.start()
        return self

    def stop(self, timeout: float = 25.0) -> bool:
        """Finish the attempt in progress, save what is queued, end; True if all threads ended in time."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for name in ("capture", "process", "analysis", "guidance"):
            t = self._threads.get(name)
            if t is not None:
                t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads.values())

    def wait_idle(self, timeout: float) -> bool:
        """Scripts and tests: wait until a finite source has ended and the end marker has passed
        through every thread (each attempt analysed, saved and its guidance written)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.source_ended.is_set() and {"process", "analysis", "guidance"} <= self._finished:
                return True
            time.sleep(0.05)
        return False

    def problems(self) -> list[str]:
        """Empty when every thread is alive and has reported within the heartbeat time-out."""
        out = []
        now = time.monotonic()
        for name, t in self._threads.items():
            if name in self._finished:
                continue
            if not t.is_alive():
                out.append(f"the {name} thread has stopped ({self.last_error or 'no error recorded'})")
            elif now - self._beats.get(name, now) > self.options.heartbeat_timeout_s:
                out.append(f"the {name} thread has not reported for {now - self._beats[name]:.0f} s")
        return out

    def _guarded(self, name: str, target):
        def run() -> None:
            try:
                target()
                self._finished.add(name)
            except Exception as e:  # a thread that dies is reported by problems() and the watchdog
                self.last_error = f"{type(e).__name__}: {e}"
                log.exception("the %s thread failed", name)

        return run

    def _beat(self, name: str) -> None:
        self._beats[name] = time.monotonic()

    # ---------------------------------------------------------------- ServiceControl

    def set_action(self, action: str) -> None:
        if action not in ACTION_IDS:
            raise RecordError(f"unknown action {action!r}.")
        with self._lock:
            if action == (self._pending_action or self.action):
                return
            self._pending_action = action

    def set_next_student(self, student_id: int) -> None:
        student = student_for_session(self.conn, self.session, student_id)
        with self._lock:
            self._next = student
        self.state.set_next_student(student_ref(student))

    def trigger_attempt(self) -> bool:
        return False  # attempts come from the camera; only the demo simulates one on request

    # ---------------------------------------------------------------- 1. capture

    def _capture_loop(self) -> None:
        kind = self.options.kind
        generation = 0
        drop = kind == "k4a" or self.options.speed > 0
        from edge.service.sources import Pacer

        while not self._stop.is_set():
            self._beat("capture")
            action = self._source_action
            try:
                source = self._open_source(action, generation)
            except Exception as e:  # camera not plugged in, no permission, bad file
                self._camera("not available", str(e))
                if kind != "k4a":
                    log.error("the source cannot be opened: %s", e)
                    break
                self._stop.wait(self.options.reopen_delay_s)
                continue
            pose = None
            if kind not in SKELETON_KINDS:
                pose = _KeypointTap(self._pose_factory(source)) if self._pose_factory else None
            self._captures.put(("source", source.calibration, pose), force=True)
            self._camera("ok" if kind == "k4a" else "simulated" if kind.startswith("sim") else "recording",
                         f"{kind} source")  # fmt: skip
            pacer = Pacer(0 if kind == "k4a" else self.options.speed)
            ended = self._read_source(source, pacer, drop)
            try:
                source.close()
            except Exception:
                log.exception("closing the source failed")
            generation += 1
            if ended == "reopen" or (ended == "end" and self.options.loop_source and kind.startswith("sim")):
                continue
            if ended == "lost" and kind == "k4a":
                self.metrics.count("camera_reopens")
                self._stop.wait(self.options.reopen_delay_s)
                continue
            break
        self._captures.put(_END, force=True)
        self.source_ended.set()

    def _read_source(self, source, pacer, drop: bool) -> str:
        """Read until the end ("end"), a lost camera ("lost"), an action change ("reopen") or stop."""
        timeouts = 0
        last_status = time.monotonic()
        while not self._stop.is_set():
            self._beat("capture")
            if self.options.kind.startswith("sim") and self._source_action != self._wanted_action():
                self._source_action = self._wanted_action()
                return "reopen"
            try:
                item = source.read()
            except EndOfStream:
                return "end"
            except CorruptRecording as e:
                self._camera("recording damaged", str(e))
                return "end"
            except SourceTimeout as e:
                timeouts += 1
                self.metrics.count("camera_timeouts")
                self._camera("not responding", f"{e} ({timeouts} in a row)")
                if timeouts >= 10:
                    return "lost"
                continue
            except Exception as e:  # SourceDisconnected and driver errors: reopen the camera
                self._camera("disconnected", str(e))
                return "lost"
            if timeouts:
                timeouts = 0
                self._camera("ok", "the camera answers again")
            self.metrics.count("captures")
            pacer.wait(_stream_time(item))
            if self._captures.put(item, drop=drop, stop=self._stop) is not None:
                self.metrics.count("frames_dropped")
            if time.monotonic() - last_status > 2.0:
                last_status = time.monotonic()
                self._camera_rates()
        return "stop"

    def _wanted_action(self) -> str:
        with self._lock:
            return self._pending_action or self.action

    def _camera(self, state: str, detail: str) -> None:
        self.camera = {"state": state, "detail": detail, "source": self.options.kind}
        self.state.set_status(camera=dict(self.camera))

    def _camera_rates(self) -> None:
        self.state.set_status(camera={**self.camera, "captures": self.metrics.get("captures"),
                                      "dropped": self.metrics.get("frames_dropped")})  # fmt: skip

    # ---------------------------------------------------------------- 2. process

    def _process_loop(self) -> None:
        from edge.fusion.segment import AttemptSegmenter

        spec = load_action(self.action)
        seg = AttemptSegmenter(spec, self.config.fps)
        pipeline = None
        pose = None
        last_live = last_picture = 0.0
        last_t = None
        while True:
            self._beat("process")
            item = self._captures.get(0.5)
            switch = self._take_pending_action()
            if switch is not None:
                self._emit(seg.flush(), last_t)
                self._attempts.put(("switch", switch))
                seg = AttemptSegmenter(load_action(switch), self.config.fps)
            if item is None:
                continue
            if item is _END:
                frames = pipeline.flush() if pipeline is not None else []
                for f in frames:
                    self._emit(seg.push(f), f.t)
                self._emit(seg.flush(), last_t)
                self._moving = False
                self._set_phase()
                self._attempts.put(_END)
                return
            if isinstance(item, tuple) and item[0] == "source":
                _, calibration, pose = item
                if pipeline is not None:
                    for f in pipeline.flush():
                        self._emit(seg.push(f), f.t)
                pipeline = None
                if calibration is not None:
                    from edge.fusion.pipeline import FusionPipeline

                    pipeline = FusionPipeline(calibration, pose)
                continue
            if pipeline is not None:
                frames = pipeline.process(item)
                st = pipeline.stats
                if st.timings_ms:
                    self.metrics.extend("fusion_ms", st.timings_ms)
                    del st.timings_ms[:], st.cpu_ms[:], st.pose_ms[:]  # bounded: the metrics keep a window
                now = time.monotonic()
                if item.color is not None and now - last_picture >= 1.0 / self.options.picture_fps:
                    last_picture = now
                    self._publish_picture(item.color)
            else:
                frames = [item]
            for f in frames:
                self.metrics.count("skeleton_frames")
                last_t = f.t
                now = time.monotonic()
                if now - last_live >= 1.0 / self.options.live_fps:
                    last_live = now
                    image_points = pose.last if pose is not None and f.person else None
                    self.state.publish_frame(f.joints, f.confidence, f.t, image_points=image_points)
                self._emit(seg.push(f), f.t)
                if seg.moving != self._moving:
                    self._moving = seg.moving
                    self._set_phase()

    def _take_pending_action(self) -> str | None:
        with self._lock:
            action, self._pending_action = self._pending_action, None
            if action is None or action == self.action:
                return None
            self.action = action
            return action

    def _emit(self, attempts, stream_t: float | None) -> None:
        for att in attempts:
            t_emit = time.monotonic()
            self.metrics.count("attempts_detected")
            if stream_t is not None:
                self.metrics.observe("confirm_delay_ms", (stream_t - float(att.sequence.t[-1])) * 1e3)
            with self._lock:
                student = self._next
                if student is not None:
                    self._next = next_in_roster(self.students, student)
                nxt = self._next
            self.state.set_next_student(student_ref(nxt) if nxt else None)
            self._attempts.put(("attempt", att, student, t_emit))

    def _publish_picture(self, color) -> None:
        import cv2

        h, w = color.shape[:2]
        scale = min(1.0, 480.0 / max(w, 1))
        small = cv2.resize(color, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else color
        ok, jpeg = cv2.imencode(".jpg", small[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
        if ok:
            self.state.publish_picture(jpeg.tobytes())

    # ---------------------------------------------------------------- 3. analysis

    def _analysis_loop(self) -> None:
        from edge.analyze import AnalysisError

        last_purge = time.monotonic()
        while True:
            self._beat("analysis")
            item = self._attempts.get(0.5)
            if item is None:
                if time.monotonic() - last_purge > self.options.purge_every_s:
                    last_purge = time.monotonic()
                    self._purge()
                continue
            if item is _END:
                self._guidance.put(_END, force=True)
                return
            if item[0] == "switch":
                self._switch_session(item[1])
                continue
            _, att, student, t_emit = item
            if student is None:
                log.error("attempt %d not saved: the class has no students", att.index)
                self.metrics.count("attempts_not_saved")
                continue
            self._analysing += 1
            self._set_phase(student.label)
            try:
                self._analyse_one(att, student, t_emit, AnalysisError)
            finally:
                self._analysing -= 1
                self._set_phase()

    def _analyse_one(self, att, student: Student, t_emit: float, AnalysisError) -> None:
        t0 = time.monotonic()
        try:
            report = self.analyze(att.sequence, att.action)
        except AnalysisError as e:
            self.metrics.count("analysis_failed")
            self.last_error = str(e)
            self.state.set_phase("waiting", f"could not analyse the attempt: {e}")
            return
        self.metrics.count("attempts_analysed")
        self.metrics.observe("analysis_ms", (time.monotonic() - t0) * 1e3)
        models = _models_status(report, self.models_version)
        if models != self._models_shown:  # the same models answer every attempt: publish changes only
            self._models_shown = models
            self.state.set_status(models=models)
        refs = self.references(att.action) if self.references is not None else ()

        def shown(_key: int) -> None:
            self.metrics.observe("end_to_screen_ms", (time.monotonic() - t_emit) * 1e3)

        key, attempt_id = save_and_publish(
            self.state, self.conn, session_id=self.session.id, student=student, report=report,
            skeleton=att.sequence, config_hash=report.get("config_hash") or self.config.config_hash(),
            references=refs, on_shown=shown,
        )  # fmt: skip
        self.metrics.observe("end_to_saved_ms", (time.monotonic() - t_emit) * 1e3)
        self.metrics.count("attempts_saved" if attempt_id is not None else "attempts_not_saved")
        if self.on_saved is not None:
            self.on_saved(key, attempt_id, report)
        if not self.options.guidance:
            self.state.guidance_done(key, None)
            return
        dropped = self._guidance.put((key, attempt_id, report), drop=True)
        if dropped is not None and dropped is not _END:
            self.metrics.count("guidance_skipped")
            self.state.guidance_done(dropped[0], None)
            if self.on_guidance is not None:
                self.on_guidance(dropped[0], None)

    def _open_session(self, class_id: int, class_name: str, action: str) -> None:
        self.session = start_session(self.conn, class_id, action, device=self.options.kind,
                                     model_version=self.models_version)  # fmt: skip
        self.state.set_context(class_id=class_id, class_name=class_name, session_id=self.session.id,
                               action=action, action_name=load_action(action).name)  # fmt: skip

    def _switch_session(self, action: str) -> None:
        from edge.store.repository import get_class

        cls = get_class(self.conn, self.session.class_id)
        end_session(self.conn, self.session.id)
        self._open_session(cls.id, cls.name, action)
        log.info("now recording %s (session %d)", action, self.session.id)

    def _purge(self) -> None:
        try:
            r = purge_older_than(self.conn, self.config.retention_days)
        except RecordError as e:
            log.error("retention purge failed: %s", e)
            return
        if getattr(r, "attempts", 0):
            log.info("retention: %s", r)

    def _set_phase(self, detail: str | None = None) -> None:
        """Publish waiting / recording (who) / analysing (whose attempt) when it changes."""
        with self._phase_lock:  # the process and analysis threads both call this
            phase = "recording" if self._moving else "analysing" if self._analysing else "waiting"
            if phase == "recording" and self._next is not None:
                detail = self._next.label
            if (phase, detail) != self._phase:
                self._phase = (phase, detail)
                self.state.set_phase(phase, detail)

    # ---------------------------------------------------------------- 4. guidance

    def _guidance_loop(self) -> None:
        # Guidance is best effort and the local model would take every core: run this thread (and
        # the worker threads llama.cpp starts from it, which inherit it) at a lower CPU priority so
        # that scoring the next attempt always comes first. Raising one's own nice needs no privilege.
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + GUIDANCE_NICE))
        while True:
            self._beat("guidance")
            item = self._guidance.get(0.5)
            if item is None:
                continue
            if item is _END:
                return
            key, attempt_id, report = item
            t0 = time.monotonic()

            def on_token(token: str, key=key) -> None:
                self._beat("guidance")
                self.state.guidance_token(key, token)

            try:
                g = self.guide(report, on_token)
            except Exception as e:  # the guidance is extra: a failure must not stop the service
                log.exception("guidance failed")
                g = None
                self.last_error = f"guidance: {e}"
            self.metrics.observe("guidance_ms", (time.monotonic() - t0) * 1e3)
            self.state.guidance_done(key, g)
            if g is None:
                self.metrics.count("guidance_failed")
            elif attempt_id is not None:
                try:
                    set_guidance(self.conn, attempt_id, g)
                    self.metrics.count("guidance_written")
                except (RecordError, StoreError, sqlite3.Error) as e:
                    log.error("guidance of attempt %d not stored: %s", attempt_id, e)
            if self.on_guidance is not None:
                self.on_guidance(key, g)


def _is_capture(item) -> bool:
    """Captures and skeleton frames may be dropped; the end marker and source changes may not."""
    return item is not _END and not isinstance(item, tuple)


def _stream_time(item) -> float | None:
    t = getattr(item, "t", None)
    if t is not None:
        return float(t)
    ts = getattr(item, "device_ts_usec", None)
    return None if ts is None else ts / 1e6


def _models_status(report: dict, version: str | None) -> dict:
    from edge.web.demo import models_status

    return {**models_status(report), "bundle": version or "unknown"}


def _analyze(seq, action: str, config: FieldCoachConfig, reference_dir) -> dict:
    from edge.analyze import analyze_sequence

    return analyze_sequence(seq, action, config, reference_dir)


def _guide(report: dict, config: FieldCoachConfig, on_token) -> dict | None:
    from edge.analyze import attach_guidance

    attach_guidance(report, config, on_token=on_token)
    if report.get("guidance") is None:
        log.warning("no guidance: %s", "; ".join(p for p in report.get("not_computed", []) if p.startswith("guidance")))
    return report.get("guidance")
