"""``python -m edge.ota keygen|bundle|check|pull|apply|rollback|status|recover`` (the make targets).

Defaults come from the environment (the update URL and the hardware string also from
``/etc/fieldcoach/update.env``, see ``settings``): ``FIELDCOACH_DATA_DIR`` (/var/lib/fieldcoach),
``FIELDCOACH_OTA_PUBKEY`` (/etc/fieldcoach/ota_ed25519.pub), ``FIELDCOACH_UPDATE_URL``,
``FIELDCOACH_HARDWARE`` (detected), ``FIELDCOACH_SERVICE`` (fieldcoach.service; empty: do not touch
a service), ``FIELDCOACH_PORT`` (8765). Any refusal or failure prints one sentence on stderr and
exits 2; the previous models stay active.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path

from edge import __version__
from edge.ota import OtaError

EXIT_FAILED = 2
DEFAULT_DATA_DIR = "/var/lib/fieldcoach"
DEFAULT_PUBKEY = "/etc/fieldcoach/ota_ed25519.pub"


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _pubkey(args):
    from edge.ota.sign import load_public_key

    return load_public_key(args.pubkey)


def _hooks(args):
    """Restart + HTTP health when the service runs now; otherwise no restart and the self-test."""
    from edge.ota.apply import Hooks
    from edge.ota.service import RUNNING_STATES, http_health, restart_service, service_state

    hooks = Hooks()
    state = service_state(args.service)
    if state in RUNNING_STATES:
        hooks.restart = lambda: restart_service(args.service)
        hooks.health_check = lambda slot, version: http_health(args.port, version, args.health_timeout)
        print(f"{args.service} is {state}: it will be restarted and its health endpoint checked.", file=sys.stderr)
    return hooks


def _restart_after(recovered, args) -> list[str]:
    """Restart the running service after a recovery moved ``current`` back (it may hold the other models)."""
    from edge.ota.service import RUNNING_STATES, restart_service, service_state

    if not recovered.switched or service_state(args.service) not in RUNNING_STATES:
        return []
    try:
        restart_service(args.service)
        return [f"restarted {args.service} on the restored models"]
    except OtaError as e:
        return [f"warning: {e} Restart {args.service} so that it loads the restored models."]


def cmd_keygen(args) -> int:
    from edge.ota.sign import generate_keypair

    priv, pub = generate_keypair(args.out, force=args.force)
    print(f"private key {priv} (keep it on this machine, never on a device)\npublic key  {pub} (install on every device)")
    return 0


def cmd_bundle(args) -> int:
    from edge.ota.bundle import build_bundle
    from edge.ota.golden import check_scorer
    from edge.ota.manifest import BundleError

    parts = {}
    for item in args.part:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise BundleError(f"--part {item!r} must be NAME=DIRECTORY.")
        if name in parts:
            raise BundleError(f"--part {name} is given twice.")
        parts[name] = Path(path)
    if "models" not in parts:
        raise BundleError("a bundle needs the scorers: --part models=DIRECTORY (e.g. models/shipped).")
    if not args.skip_golden:
        models = parts["models"]
        actions = sorted(p for p in models.iterdir() if p.is_dir()) if models.is_dir() else []
        problems = [p for a in actions for p in check_scorer(a)] if actions else [f"{models} holds no scorer folder."]
        if problems:
            raise BundleError(f"the scorers fail their golden samples, so no bundle was built: {problems[0]}")
    res = build_bundle(parts, args.out, version=args.version, hardware=args.hardware, min_app_version=args.min_app,
                       private_key_path=args.key, created=args.created, notes=args.notes)
    m = res.manifest
    print(f"bundle {m.version}: {len(m.files)} files, {m.total_size} bytes, for {', '.join(m.compatible_hardware)} "
          f"-> {res.tar_path} (+ {res.index_path.name})")
    return 0


def _check(args, allow_downgrade=False):
    from edge.ota.check import check_update

    from edge.ota.settings import device_setting

    url = args.url or device_setting("FIELDCOACH_UPDATE_URL")
    return check_update(url, args.data_dir, _pubkey(args), hardware=args.hardware, app_version=__version__,
                        allow_downgrade=allow_downgrade)


def cmd_check(args) -> int:
    from edge.ota.check import pull_update

    res = _check(args, allow_downgrade=args.allow_downgrade)
    if args.json:
        print(json.dumps({"available": res.available, "offered": res.index.manifest.version,
                          "active": res.active_version, "problems": list(res.problems),
                          "size": res.index.size, "notes": res.index.manifest.notes}, indent=1))
    else:
        print(res.summary())
    if args.pull and res.available:
        tar = pull_update(res, args.data_dir, progress=not args.no_progress)
        print(f"downloaded {tar}; apply it with `make ota-apply`")
    return 0


def cmd_pull(args) -> int:
    from edge.ota.check import pull_update
    from edge.ota.manifest import BundleError

    res = _check(args, allow_downgrade=args.allow_downgrade)
    if not res.available:
        raise BundleError(res.summary() + ".")
    tar = pull_update(res, args.data_dir, progress=not args.no_progress)
    print(f"downloaded {res.index.manifest.version} to {tar}; apply it with `make ota-apply`")
    return 0


def cmd_apply(args) -> int:
    from edge.ota.apply import apply_bundle
    from edge.ota.check import forget_download, ready_bundle

    key = _pubkey(args)
    tar = Path(args.bundle) if args.bundle else ready_bundle(args.data_dir, key)
    res = apply_bundle(tar, args.data_dir, key, hardware=args.hardware, app_version=__version__,
                       allow_downgrade=args.allow_downgrade, hooks=_hooks(args))
    for note in res.notes:
        print(note, file=sys.stderr)
    if not args.bundle:
        forget_download(args.data_dir, tar)
    built = f"; built on the device: {', '.join(res.device_files)}" if res.device_files else ""
    print(f"models {res.version} active (slot {res.slot}); previous: {res.previous_version or 'none'}{built}")
    return 0


def cmd_rollback(args) -> int:
    from edge.ota.apply import rollback

    res = rollback(args.data_dir, _pubkey(args), hooks=_hooks(args))
    print(f"rolled back: models {res.version} active (slot {res.slot}); {res.previous_version} is kept in slot {res.previous_slot}")
    return 0


def cmd_status(args) -> int:
    from edge.ota.slots import SlotStore

    store = SlotStore(args.data_dir)
    notes = []
    if store.root.is_dir() and os.access(store.root, os.W_OK):
        with store.locked():
            recovered = store.recover()
        notes = recovered.notes + _restart_after(recovered, args)
    st = store.status()
    st["hardware"], st["app_version"], st["recovered"] = args.hardware, __version__, notes
    if args.json:
        print(json.dumps(st, indent=1))
        return 0
    for n in notes:
        print(n)
    a, i = st["active"], st["inactive"]
    print(f"active:   {a['version']} (slot {a['slot']}, installed {a['installed_at']})" if a else "active:   no models installed")
    print(f"previous: {i['version']} (slot {i['slot']}, {i['status']})" if i else "previous: none")
    print(f"hardware: {args.hardware}; app {__version__}")
    for e in st["history"]:
        print(f"  {e['time']} {e['operation']} {'ok' if e['ok'] else 'FAILED'}: {e['message']}")
    return 0


def cmd_recover(args) -> int:
    from edge.ota.slots import SlotError, SlotStore

    store = SlotStore(args.data_dir)
    try:
        with store.locked(blocking=not args.if_idle):
            recovered = store.recover()
    except SlotError:
        if args.if_idle:
            print("an update holds the slot lock; nothing to recover now.")
            return 0
        raise
    notes = recovered.notes + (_restart_after(recovered, args) if args.restart_service else [])
    for n in notes:
        print(n)
    return 0


def _terminate(signum, frame):
    raise KeyboardInterrupt  # unwinds like Ctrl-C: an apply on trial switches back first


def build_parser() -> argparse.ArgumentParser:
    from edge.ota.hardware import detect_hardware
    from edge.ota.service import DEFAULT_PORT, DEFAULT_SERVICE

    p = argparse.ArgumentParser(prog="python -m edge.ota", description="FieldCoach over-the-air model updates.")
    sub = p.add_subparsers(dest="cmd", required=True)

    def device(sp):
        sp.add_argument("--data-dir", default=_env("FIELDCOACH_DATA_DIR", DEFAULT_DATA_DIR), help="data directory")
        sp.add_argument("--pubkey", default=_env("FIELDCOACH_OTA_PUBKEY", DEFAULT_PUBKEY), help="trusted public key")
        sp.add_argument("--hardware", default=detect_hardware(), help="this device's compatible string")
        sp.add_argument("--service", default=_env("FIELDCOACH_SERVICE", DEFAULT_SERVICE), help="unit to restart ('' none)")
        sp.add_argument("--port", type=int, default=int(_env("FIELDCOACH_PORT", str(DEFAULT_PORT))), help="service port")
        sp.add_argument("--health-timeout", type=float, default=60.0, help="seconds to wait for a healthy service")
        return sp

    k = sub.add_parser("keygen", help="make the ed25519 key pair that signs bundles")
    k.add_argument("--out", default="keys", help="folder for ota_ed25519.pem/.pub")
    k.add_argument("--force", action="store_true", help="replace an existing key pair")
    k.set_defaults(func=cmd_keygen)

    b = sub.add_parser("bundle", help="build a signed bundle (training machine)")
    b.add_argument("--version", required=True, help="bundle version MAJOR.MINOR.PATCH")
    b.add_argument("--part", action="append", default=[], help="NAME=DIRECTORY (repeat); models=... is required")
    b.add_argument("--hardware", action="append", required=True, help="compatible hardware string (repeat)")
    b.add_argument("--min-app", default=__version__, help="oldest app version that can use it")
    b.add_argument("--key", default="keys/ota_ed25519.pem", help="private signing key")
    b.add_argument("--out", default="out/bundle", help="output folder")
    b.add_argument("--created", type=int, default=None, help="build time, UNIX seconds (default $SOURCE_DATE_EPOCH or now)")
    b.add_argument("--notes", default="", help="release notes")
    b.add_argument("--skip-golden", action="store_true", help="do not run the scorers' golden samples first")
    b.set_defaults(func=cmd_bundle)

    for name, func, text in (("check", cmd_check, "is there an installable update at URL?"),
                             ("pull", cmd_pull, "download the update from URL (resumable)")):
        c = device(sub.add_parser(name, help=text))
        c.add_argument("--url", default="", help="update location: http(s) URL or path (default $FIELDCOACH_UPDATE_URL)")
        c.add_argument("--no-progress", action="store_true", help="no progress bar")
        c.add_argument("--allow-downgrade", action="store_true", help="accept an older version")
        c.set_defaults(func=func)
        if name == "check":
            c.add_argument("--pull", action="store_true", help="download it when one is available")
            c.add_argument("--json", action="store_true", help="print JSON")

    a = device(sub.add_parser("apply", help="install the downloaded (or given) bundle and switch to it"))
    a.add_argument("--bundle", default="", help="bundle tar (default: the one `pull` downloaded)")
    a.add_argument("--allow-downgrade", action="store_true", help="accept an older version")
    a.set_defaults(func=cmd_apply)

    r = device(sub.add_parser("rollback", help="switch back to the previous models"))
    r.set_defaults(func=cmd_rollback)
    s = device(sub.add_parser("status", help="active and previous models, recent history"))
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=cmd_status)
    v = device(sub.add_parser("recover", help="undo an interrupted apply (the service runs this before it starts)"))
    v.add_argument("--if-idle", action="store_true", help="do nothing if an update holds the lock")
    v.add_argument("--restart-service", action="store_true", help="restart the service if it was switched back")
    v.set_defaults(func=cmd_recover)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, _terminate)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except OtaError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except PermissionError as e:
        print(f"error: permission denied on {e.filename}; run this as root (sudo make ...) or as the fieldcoach user.",
              file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("error: interrupted; the previous models stay active.", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
