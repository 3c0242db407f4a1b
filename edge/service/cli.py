"""``fieldcoach serve``: the appliance's service (systemd/fieldcoach.service runs it).

    fieldcoach serve                                   # Azure Kinect, screen on 127.0.0.1:8765
    fieldcoach serve --bind 0.0.0.0                     # teachers' tablets may log in
    fieldcoach serve --source sim --loop --allow-root   # no camera: the simulated camera, endless
    fieldcoach serve --source npz --file a.npz --speed 0 --exit-when-done   # replay skeleton files

Start-up: open the database (single writer), check the models (each action's scorer is loaded
and reproduces its golden samples), warm the analysis up on one simulated attempt (compiles the
kernels, loads the references), start the loop and the screen, then tell systemd READY=1. While
running it sends WATCHDOG=1 at half the unit's WatchdogSec as long as every thread of the loop
reports (a hung pipeline is therefore restarted by systemd). On SIGTERM it sends STOPPING=1,
finishes and saves the attempt in progress, and exits.
"""

from __future__ import annotations

import argparse
import logging
import os

from edge.fusion.loop import SOURCES

SERVE_SOURCES = SOURCES + ("sim-class",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from edge.web.command import add_web_arguments

    add_web_arguments(p)
    p.add_argument("--source", choices=SERVE_SOURCES, default=os.environ.get("FIELDCOACH_SOURCE", "k4a"),
                   help="k4a: the Azure Kinect (default); sim: the simulated camera; sim-class: a simulated "
                        "class at skeleton level; mkv/npz: replay a recording")  # fmt: skip
    p.add_argument("--file", default=None, help="the .mkv or .npz to replay")
    p.add_argument("--pose-model", default=os.environ.get("FIELDCOACH_POSE_MODEL"),
                   help="17-keypoint ONNX pose model for k4a/mkv (default: $FIELDCOACH_POSE_MODEL)")
    p.add_argument("--device-id", type=int, default=0, help="Azure Kinect device index")
    p.add_argument("--seed", type=int, default=0, help="simulated sources: the seed")
    p.add_argument("--attempts", type=int, default=3, help="simulated sources: attempts per session or turn")
    p.add_argument("--turns", type=int, default=None, help="sim-class: number of turns (default: endless)")
    p.add_argument("--condition", default="normal", help="sim: normal, low_light or occlusion")
    p.add_argument("--speed", type=float, default=1.0, help="replay/simulation speed (x real time; 0 = as fast as possible)")
    p.add_argument("--loop", action="store_true", help="simulated sources: start again when they end")
    p.add_argument("--class", dest="class_name", default="Class 1", help="the class being taught (created if missing)")
    p.add_argument("--students", type=int, default=30, help="numbered students of a newly created class")
    p.add_argument("--no-guidance", action="store_true", help="do not write guidance (scores and problems only)")
    p.add_argument("--no-warmup", action="store_true", help="skip the warm-up analysis at start")
    p.add_argument("--exit-when-done", action="store_true", help="exit once a replayed source is fully analysed")


def make_source_factory(args):
    """(action, generation) -> an opened source of the chosen kind."""
    from edge.fusion.loop import open_source

    def open_(action: str, generation: int):
        if args.source == "sim-class":
            from edge.service.sources import SimClassSource

            return SimClassSource(action, args.seed + 7919 * generation, attempts_per_turn=args.attempts, turns=args.turns)
        if args.source == "sim":
            return open_source("sim", action=action, seed=args.seed + generation, attempts=args.attempts,
                               condition=args.condition)  # fmt: skip
        return open_source(args.source, file=args.file, device_id=args.device_id)

    return open_


def run(args) -> int:
    from edge.actions.spec import ACTION_IDS
    from edge.cli import UserError
    from edge.fusion.loop import pose_model_for
    from edge.service.health import check_models, slot_reference_dir, update_status
    from edge.service.metrics import ServiceMetrics
    from edge.service.notify import Notifier
    from edge.service.realtime import SKELETON_KINDS, RealtimeService, ServiceOptions
    from edge.store.db import StoreError, connect
    from edge.web.command import (
        database_path,
        load_settings,
        references_dir,
        refuse_root,
        stop_on_signals,
        warn_no_teacher,
    )
    from edge.web.references import ReferenceLibrary
    from edge.web.runtime import ScreenRuntime
    from edge.web.state import ScreenState

    config, settings = load_settings(args)
    refuse_root(args, "service")
    if args.source in ("mkv", "npz") and not args.file:
        raise UserError(f"--source {args.source} needs --file.")
    if args.source in ("k4a", "mkv") and not args.pose_model:
        raise UserError(f"--source {args.source} needs a 17-keypoint ONNX pose model (--pose-model or $FIELDCOACH_POSE_MODEL).")
    if args.speed < 0:
        raise UserError(f"--speed must be positive or 0, got {args.speed}.")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    log = logging.getLogger("fieldcoach.serve")
    notifier = Notifier()
    notifier.status("checking the models")

    models = check_models(config.paths.models_dir, ACTION_IDS)
    for p in models.problems:
        log.error("models: %s", p)
    db = database_path(args, config)
    try:
        conn = connect(db)
    except StoreError as e:
        raise UserError(str(e)) from None
    state = ScreenState()
    metrics = ServiceMetrics()
    refs_dir = args.references or slot_reference_dir(config.paths.models_dir) or references_dir(args)
    log.info("references: %s", refs_dir)
    refs = ReferenceLibrary(refs_dir)
    options = ServiceOptions(kind=args.source, class_name=args.class_name, students=args.students, speed=args.speed,
                             guidance=not args.no_guidance, loop_source=args.loop)  # fmt: skip
    pose_factory = None
    if args.source not in SKELETON_KINDS:
        pose_factory = lambda source: pose_model_for(args.source, source, args.pose_model)  # noqa: E731
    service = RealtimeService(config, conn, state, make_source_factory(args), options=options, pose_factory=pose_factory,
                              metrics=metrics, references=refs, models_version=models.version)  # fmt: skip
    try:
        service.setup()
    except Exception:
        conn.close()
        raise
    state.set_status(models={"bundle": models.version, "loaded": models.loaded, "problems": models.problems},
                     update=update_status(config.paths.data_dir))  # fmt: skip
    if not args.no_warmup:
        notifier.status("warming up the analysis")
        try:
            log.info("warm-up took %.1f s", service.warm_up())
        except Exception as e:  # a broken reference bundle shows on the screen and in /health
            models.problems.append(f"warm-up analysis failed: {e}")
            log.error("warm-up analysis failed: %s", e)

    def health() -> dict:
        problems = list(models.problems) + service.problems()
        return {"status": "ok" if models.ok and not problems else "degraded", "models_version": models.version,
                "problems": problems, "camera": service.camera["state"]}  # fmt: skip

    try:
        rt = ScreenRuntime.open(db, settings, config, state=state, writer=conn, control=service, health=health,
                                metrics=metrics.snapshot, references_dir=refs_dir)  # fmt: skip
    except OSError as e:
        conn.close()
        raise UserError(f"cannot listen on {settings.bind}:{settings.port} ({e.strerror}).") from None
    warn_no_teacher(rt, settings)
    stop = stop_on_signals()
    service.start()
    rt.start()
    print(f"FieldCoach service on {rt.url} (source {args.source}, database {db}, models {models.version})", flush=True)
    notifier.ready(status=f"serving on {rt.url}")
    interval = min(notifier.watchdog_interval_s or 5.0, 5.0)
    while not stop.wait(interval):
        problems = service.problems()
        if problems:
            log.error("not answering the watchdog: %s", "; ".join(problems))
        else:
            notifier.watchdog()
        c = metrics.snapshot()["counters"]
        notifier.status(f"{c['attempts_saved']} attempts saved, {c['frames_dropped']} frames dropped")
        if args.exit_when_done and service.source_ended.is_set() and service.wait_idle(0.1):
            break
    notifier.stopping("finishing the attempt in progress")
    log.info("stopping: finishing the attempt in progress")
    clean = service.stop(timeout=25.0)
    rt.close()
    conn.close()
    notifier.close()
    c = metrics.snapshot()["counters"]
    print(f"stopped: {c['attempts_saved']} attempts saved, {c['attempts_not_saved']} not saved, "
          f"{c['frames_dropped']} frames dropped", flush=True)  # fmt: skip
    return 0 if clean else 1
