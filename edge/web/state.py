"""What the teacher's screen shows right now, and the in-process bus that carries its changes.

The real-time service (capture -> fusion -> segmenter -> analysis -> store) *publishes* into one
``ScreenState``; every open screen (the kiosk, a tablet) *subscribes* and receives the changes as
events over server-sent events. Publishing never blocks on a slow screen: each subscriber has a
bounded queue; one that falls behind is resynchronised with a full snapshot instead.

Events (``type``, ``data``):

- ``phase``: {phase: waiting|recording|analysing, detail}
- ``next``: the student who is up next ({id, label, pseudonym}) or null
- ``context``: {class_id, class_name, session_id, action, action_name}
- ``status``: {camera, models, update} (free-form dicts from the service)
- ``frame``: the live skeleton (latest only, coalesced to the stream rate): {t, view, points, conf}
- ``attempt``: the analysed result of an attempt (``key`` numbers attempts), not yet saved
- ``saved``: {key, attempt_id}: the store's durable commit has returned
- ``not_saved``: {key, reason}: saving failed; the screen must not say "saved"
- ``guidance``: {key, token}: the next piece of streaming guidance text
- ``guidance_done``: {key, guidance}: the final guidance (or null when there is none)
- ``updated``: a stored attempt's view after a teacher's override
- ``snapshot``: the whole state (sent first and after a resync)

"Saved" can only be published with an attempt id, i.e. after ``save_attempt`` returned (see
``edge.web.publish.save_and_publish``): the promise "a result the screen calls saved survives a
power cut" rests on the store's synchronous=FULL commit.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from typing import Callable

import numpy as np

from edge.web.projection import live_view

PHASES = ("waiting", "recording", "analysing")
MAX_QUEUED_EVENTS = 2000
MAX_PICTURE_BYTES = 2 * 1024 * 1024


class StateError(ValueError):
    """A publisher passed something the screen cannot show; the message is one sentence."""


class Subscription:
    """One screen's view of the bus: queued events plus the latest live frame (coalesced)."""

    def __init__(self, state: "ScreenState", min_frame_interval_s: float) -> None:
        self._state = state
        self._events: deque = deque()
        self._frame: dict | None = None
        self._resync = True  # the first thing a subscriber gets is a snapshot
        self._next_frame_at = 0.0
        self.min_frame_interval_s = float(min_frame_interval_s)
        self.closed = False

    def _push(self, event: tuple[str, dict]) -> None:  # called with the state's lock held
        if len(self._events) >= MAX_QUEUED_EVENTS:
            self._events.clear()
            self._resync = True
        else:
            self._events.append(event)

    def next(self, timeout: float) -> list[tuple[str, dict]]:
        """Wait up to ``timeout`` s for events; returns them in order ([] on time-out or close)."""
        cond = self._state._cond
        deadline = time.monotonic() + timeout
        with cond:
            while not self.closed:
                now = time.monotonic()
                if self._resync:
                    self._resync = False
                    self._events.clear()
                    self._frame = None
                    return [("snapshot", self._state._snapshot_locked())]
                out = list(self._events)
                self._events.clear()
                frame_due = self._frame is not None and now >= self._next_frame_at
                if frame_due:
                    out.append(("frame", self._frame))
                    self._frame = None
                    self._next_frame_at = now + self.min_frame_interval_s
                if out:
                    return out
                wait = deadline - now
                if self._frame is not None:
                    wait = min(wait, self._next_frame_at - now)
                if wait <= 0:
                    return []
                cond.wait(wait)
            return []

    def close(self) -> None:
        with self._state._cond:
            self.closed = True
            self._state._subs.discard(self)
            self._state._cond.notify_all()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ScreenState:
    """The screen's state and its publish/subscribe bus; every method is thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._subs: set[Subscription] = set()
        self._phase = {"phase": "waiting", "detail": None, "since": clock()}
        self._next: dict | None = None
        self._context: dict = {}
        self._status: dict = {}
        self._frame: dict | None = None
        self._picture: bytes | None = None
        self._attempt: dict | None = None
        self._key = 0

    # ---------------------------------------------------------------- internals

    def _emit(self, kind: str, data: dict) -> None:  # lock held
        for s in self._subs:
            s._push((kind, data))
        self._cond.notify_all()

    def _snapshot_locked(self) -> dict:
        return copy.deepcopy(
            {
                "phase": self._phase,
                "next": self._next,
                "context": self._context,
                "status": self._status,
                "frame": self._frame,
                "picture": self._picture is not None,
                "attempt": self._attempt,
            }
        )

    # ---------------------------------------------------------------- readers

    def snapshot(self) -> dict:
        """The whole state as JSON-ready data."""
        with self._cond:
            return self._snapshot_locked()

    def subscribe(self, min_frame_interval_s: float = 1 / 15) -> Subscription:
        s = Subscription(self, min_frame_interval_s)
        with self._cond:
            self._subs.add(s)
        return s

    def close_subscriptions(self) -> None:
        """End every subscription (their ``next`` returns []): used when the server shuts down."""
        with self._cond:
            for s in list(self._subs):
                s.closed = True
            self._subs.clear()
            self._cond.notify_all()

    @property
    def subscribers(self) -> int:
        with self._cond:
            return len(self._subs)

    def picture(self) -> bytes | None:
        """The latest camera picture (JPEG), held in memory only and never stored."""
        with self._cond:
            return self._picture

    @property
    def last_attempt(self) -> dict | None:
        with self._cond:
            return copy.deepcopy(self._attempt)

    # ---------------------------------------------------------------- publishers

    def set_phase(self, phase: str, detail: str | None = None) -> None:
        if phase not in PHASES:
            raise StateError(f"unknown screen phase {phase!r}; choose one of {', '.join(PHASES)}.")
        with self._cond:
            self._phase = {"phase": phase, "detail": detail, "since": self._clock()}
            self._emit("phase", dict(self._phase))

    def set_next_student(self, student: dict | None) -> None:
        """``student``: {id, label, pseudonym} or None when nobody is queued."""
        if student is not None and not ({"id", "label"} <= set(student)):
            raise StateError("the next student needs at least an id and a label.")
        with self._cond:
            self._next = None if student is None else dict(student)
            self._emit("next", copy.deepcopy(self._next) if self._next else {})

    def set_context(self, **context) -> None:
        """Class, session and action now in use (class_id, class_name, session_id, action, action_name)."""
        with self._cond:
            self._context.update(context)
            self._emit("context", dict(self._context))

    def set_status(self, **status) -> None:
        """Camera, model and update status as the service sees them (e.g. camera={'state': 'ok'})."""
        with self._cond:
            self._status.update(copy.deepcopy(status))
            self._emit("status", copy.deepcopy(self._status))

    def publish_frame(self, joints, confidence, t: float | None = None, image_points=None) -> None:
        """The live skeleton: ``joints`` (17, 3) metres (y up), ``confidence`` (17,) in [0, 1]; optional
        ``image_points`` (17, 2) in picture coordinates scaled to [0, 1] (drawn over the camera picture)."""
        try:
            frame = live_view(np.asarray(joints, dtype=float), np.asarray(confidence, dtype=float), image_points)
        except ValueError as e:
            raise StateError(str(e)) from None
        frame["t"] = None if t is None else float(t)
        with self._cond:
            self._frame = frame
            for s in self._subs:
                s._frame = frame
            self._cond.notify_all()

    def publish_picture(self, jpeg: bytes | None) -> None:
        """The latest camera picture (JPEG bytes) for the kiosk's live view; kept in memory only."""
        if jpeg is not None and (not isinstance(jpeg, bytes) or not jpeg.startswith(b"\xff\xd8") or len(jpeg) > MAX_PICTURE_BYTES):
            raise StateError("the camera picture must be JPEG bytes of at most 2 MiB.")
        with self._cond:
            self._picture = jpeg

    def attempt_result(self, view: dict) -> int:
        """Show an analysed attempt (``edge.web.views.attempt_view``) as *not yet saved*; returns its key."""
        if not isinstance(view, dict) or "score" not in view:
            raise StateError("an attempt result must be the dict built by edge.web.views.attempt_view.")
        with self._cond:
            self._key += 1
            self._attempt = {
                **copy.deepcopy(view),
                "key": self._key,
                "saved": False,
                "attempt_id": None,
                "save_error": None,
                "guidance_stream": "",
                "guidance_done": False,
            }
            self._emit("attempt", copy.deepcopy(self._attempt))
            return self._key

    def attempt_saved(self, key: int, attempt_id: int) -> None:
        """The attempt ``key`` is durably stored as ``attempt_id`` (call only after save_attempt returned)."""
        if isinstance(attempt_id, bool) or not isinstance(attempt_id, int) or attempt_id < 1:
            raise StateError(f"a saved attempt needs the positive id the store returned, got {attempt_id!r}.")
        with self._cond:
            if self._attempt is None or self._attempt["key"] != key:
                return  # a newer attempt replaced it; the class view shows it from the store
            self._attempt.update(saved=True, attempt_id=attempt_id, save_error=None)
            self._emit("saved", {"key": key, "attempt_id": attempt_id})

    def attempt_not_saved(self, key: int, reason: str) -> None:
        with self._cond:
            if self._attempt is None or self._attempt["key"] != key:
                return
            self._attempt.update(saved=False, save_error=str(reason))
            self._emit("not_saved", {"key": key, "reason": str(reason)})

    def attempt_updated(self, view: dict) -> None:
        """A stored attempt changed (a teacher's override): refresh it where the screen shows it."""
        aid = view.get("attempt_id")
        with self._cond:
            if self._attempt is not None and self._attempt.get("attempt_id") == aid:
                keep = {k: self._attempt[k] for k in ("key", "saved", "save_error", "guidance_stream", "guidance_done")}
                self._attempt = {**copy.deepcopy(view), **keep, "attempt_id": aid}
            self._emit("updated", copy.deepcopy(view))

    def guidance_token(self, key: int, token: str) -> None:
        """Append a piece of streaming guidance text to attempt ``key``."""
        with self._cond:
            if self._attempt is None or self._attempt["key"] != key or self._attempt["guidance_done"]:
                return
            self._attempt["guidance_stream"] += str(token)
            self._emit("guidance", {"key": key, "token": str(token)})

    def guidance_done(self, key: int, guidance: dict | None) -> None:
        """The guidance of attempt ``key`` is complete (``guidance``: the report's field, or None)."""
        with self._cond:
            if self._attempt is None or self._attempt["key"] != key:
                return
            self._attempt["guidance_done"] = True
            self._attempt["guidance"] = copy.deepcopy(guidance)
            if guidance and guidance.get("text"):
                self._attempt["guidance_stream"] = guidance["text"]
            self._emit("guidance_done", {"key": key, "guidance": copy.deepcopy(guidance)})
