"""A simulated 8-hour lesson day at accelerated speed: memory, crashes, end-of-attempt -> score.

The real service objects run in this process: ``RealtimeService`` (segmentation, scorer, MotionDTW,
KISMAM, SQLite store, guidance with the configured local model unless ``--no-guidance``) and the
screen's web server with one kiosk following ``/api/events`` over HTTP. The class is
``SimClassSource`` at skeleton level: lessons of ``--lesson-min`` minutes with students taking
turns (``--attempts`` attempts each, 15-45 s between students; guidance by the configured engine,
or llama.cpp on ``--gguf``), ``--break-min`` minute breaks
with an empty scene, ``--hours`` hours of stream in all, fed as fast as the loop takes it (the
capture queue blocks instead of dropping, so every simulated frame is processed).

Figures printed: stream hours and wall time (the acceleration), attempts detected/saved,
guidance written/skipped, thread problems, resident memory after the first lesson (warm) and at
the end (growth), and the latency from the segmenter emitting an attempt to its score on the
screen's bus (median, p99). Exit 1 when memory grows by 50 MB or more, a thread died, an attempt
was not saved, or the p99 exceeds 200 ms.

    python -m edge.service.lessonday --hours 8
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path


def run(hours: float, *, lesson_min: float = 45.0, break_min: float = 10.0, attempts: int = 2, seed: int = 1,
        guidance: bool = True, action: str = "standing_long_jump", gguf: Path | None = None, workdir: Path,
        log=print) -> dict:  # fmt: skip
    from edge.config import FieldCoachConfig
    from edge.service.metrics import ServiceMetrics, rss_mb
    from edge.service.powercut import SavedListener, free_port
    from edge.service.realtime import RealtimeService, ServiceOptions
    from edge.service.sources import SimClassSource
    from edge.store.db import connect
    from edge.web.runtime import ScreenRuntime
    from edge.web.settings import WebSettings
    from edge.web.state import ScreenState

    lesson_s, break_s = lesson_min * 60.0, break_min * 60.0
    n_lessons = max(1, int(round(hours * 3600.0 / (lesson_s + break_s))))
    config = FieldCoachConfig(action=action)
    if gguf is not None:  # let llama.cpp word the guidance (checked; the composer when rejected)
        config = config.model_copy(update={"guide": config.guide.model_copy(update={"model_path": Path(gguf)})})
    db = workdir / "fieldcoach.db"
    conn = connect(db)
    state = ScreenState()
    metrics = ServiceMetrics()
    sources: list = []

    def open_(act: str, generation: int):
        sources.append(SimClassSource(act, seed + generation, attempts_per_turn=attempts, wait_s=(15.0, 45.0),
                                      lesson_s=lesson_s, break_s=break_s, lessons=n_lessons))  # fmt: skip
        return sources[-1]

    options = ServiceOptions(kind="sim-class", speed=0.0, guidance=guidance, students=28)
    service = RealtimeService(config, conn, state, open_, options=options, metrics=metrics)
    service.setup()
    log(f"warm-up took {service.warm_up():.1f} s")
    port = free_port()
    settings = WebSettings(credentials_file=workdir / "teachers.json", port=port)
    rt = ScreenRuntime.open(db, settings, config, state=state, writer=conn, control=service,
                            metrics=metrics.snapshot)  # fmt: skip
    rt.start()
    kiosk = SavedListener(port)
    kiosk.start()
    kiosk.connected.wait(10)

    samples: list[tuple[float, float, int]] = []  # (stream hours, rss MiB, attempts saved)
    warm_rss: float | None = None
    t0 = time.monotonic()
    service.start()
    stop = threading.Event()
    while not stop.is_set():
        time.sleep(1.0)
        frames = metrics.get("skeleton_frames")
        stream_h = frames / config.fps / 3600.0
        samples.append((stream_h, rss_mb(), metrics.get("attempts_saved")))
        if warm_rss is None and stream_h * 3600.0 >= lesson_s + break_s:
            warm_rss = rss_mb()
            log(f"after the first lesson ({stream_h:.2f} h of stream): {warm_rss:.1f} MiB resident")
        if len(samples) % 60 == 0:
            log(f"{stream_h:.2f} h of stream, {samples[-1][2]} attempts saved, {samples[-1][1]:.1f} MiB")
        if service.source_ended.is_set() and service.wait_idle(0.5):
            stop.set()
        if service.problems():
            log("problems: " + "; ".join(service.problems()))
            stop.set()
    wall = time.monotonic() - t0
    problems = service.problems()
    service.stop(30)
    end_rss = rss_mb()
    rt.close()
    conn.close()
    kiosk.join(5)
    snap = metrics.snapshot()
    c = snap["counters"]
    stream_h = c["skeleton_frames"] / config.fps / 3600.0
    warm = warm_rss if warm_rss is not None else (samples[0][1] if samples else end_rss)
    return {
        "lessons": n_lessons,
        "stream_hours": round(stream_h, 2),
        "wall_minutes": round(wall / 60.0, 1),
        "acceleration": round(stream_h * 3600.0 / wall, 1) if wall else None,
        "counters": c,
        "kiosk_saved_events": len(kiosk.saved),
        "true_attempts": sum(len(src.truth) for src in sources),
        "rss_warm_mb": round(warm, 1),
        "rss_end_mb": round(end_rss, 1),
        "rss_peak_mb": round(max([s[1] for s in samples] + [end_rss]), 1),
        "growth_mb": round(end_rss - warm, 1),
        "latency_ms": snap["latency_ms"],
        "problems": problems,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, default=8.0)
    p.add_argument("--lesson-min", type=float, default=45.0)
    p.add_argument("--break-min", type=float, default=10.0)
    p.add_argument("--attempts", type=int, default=2, help="attempts per student turn")
    p.add_argument("--action", default="standing_long_jump")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-guidance", action="store_true")
    p.add_argument("--gguf", default=None, help="a GGUF model for llama.cpp guidance (default: the configuration's)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fieldcoach-lessonday-") as tmp:
        r = run(args.hours, lesson_min=args.lesson_min, break_min=args.break_min, attempts=args.attempts,
                seed=args.seed, guidance=not args.no_guidance, action=args.action, gguf=args.gguf,
                workdir=Path(tmp))  # fmt: skip
    c, lat = r["counters"], r["latency_ms"]
    e2s = lat["end_to_screen_ms"]
    print(f"machine: {os.uname().machine}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}")
    print(f"lesson day: {r['lessons']} lessons, {r['stream_hours']} h of stream in {r['wall_minutes']} min "
          f"({r['acceleration']}x); {r['true_attempts']} simulated attempts, {c['attempts_detected']} detected, {c['attempts_saved']} saved, "
          f"{c['attempts_not_saved']} not saved, {c['analysis_failed']} not analysable; guidance {c['guidance_written']} "
          f"written, {c['guidance_skipped']} skipped; kiosk saw {r['kiosk_saved_events']} 'saved' events")  # fmt: skip
    print(f"memory: {r['rss_warm_mb']} MiB after the first lesson, {r['rss_end_mb']} MiB at the end "
          f"(growth {r['growth_mb']} MiB, peak {r['rss_peak_mb']} MiB)")  # fmt: skip
    print(f"end of attempt -> score on screen: median {e2s['median']} ms, p99 {e2s['p99']} ms, max {e2s['max']} ms "
          f"(n={e2s['n']}); -> saved: p99 {lat['end_to_saved_ms']['p99']} ms; analysis p99 {lat['analysis_ms']['p99']} ms")  # fmt: skip
    print(f"thread problems: {r['problems'] or 'none'}")
    ok = (r["growth_mb"] < 50 and not r["problems"] and c["attempts_not_saved"] == 0
          and e2s["p99"] is not None and e2s["p99"] <= 200)  # fmt: skip
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
