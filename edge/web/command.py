"""``fieldcoach screen``: run the teacher's screen, or manage teacher logins.

    fieldcoach screen --demo                          # kiosk only (127.0.0.1:8765), simulated athlete
    fieldcoach screen --bind 0.0.0.0 --db /var/lib/fieldcoach/fieldcoach.db
    fieldcoach screen --add-teacher "Ms Rivera"       # asks for a PIN/password twice
    echo 482913 | fieldcoach screen --add-teacher kim --password-stdin

The service refuses to run as root (run it as the unprivileged ``fieldcoach`` user; the port is
above 1024 so no privilege is needed). ``--allow-root`` exists for development containers only.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
import threading
from pathlib import Path

DEFAULT_DB_NAME = "fieldcoach.db"


def add_web_arguments(p: argparse.ArgumentParser) -> None:
    """The options shared by ``fieldcoach screen`` and ``fieldcoach serve``: configuration, database,
    where to listen, who may log in."""
    p.add_argument("--config", default=None, help="configuration YAML (default: built-in / $FIELDCOACH_CONFIG)")
    p.add_argument("--db", default=None, help=f"database file (default: <data_dir>/{DEFAULT_DB_NAME})")
    p.add_argument("--bind", "--host", dest="bind", default=None,
                   help="listen address: 127.0.0.1 (kiosk only, default) or 0.0.0.0 (school network)")
    p.add_argument("--port", type=int, default=None, help="TCP port (default 8765, as systemd/fieldcoach.service)")
    p.add_argument("--no-trust-local", action="store_true", help="the local kiosk must log in too")
    p.add_argument("--behind-proxy", action="store_true", help="a reverse proxy on this box forwards requests")
    p.add_argument("--cookie-secure", action="store_true", help="HTTPS in front: mark cookies Secure")
    p.add_argument("--tls-cert", default=None, help="serve HTTPS with this PEM certificate")
    p.add_argument("--tls-key", default=None, help="private key of --tls-cert")
    p.add_argument("--credentials", default=None, help="teacher logins file (default: <data_dir>/web/teachers.json)")
    p.add_argument("--references", default=None, help="reference performances for the angle plot (default: shipped)")
    p.add_argument("--allow-root", action="store_true", help="development containers only: run as root")
    p.add_argument("-v", "--verbose", action="store_true", help="log requests")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``fieldcoach screen``."""
    add_web_arguments(p)
    p.add_argument("--demo", action="store_true", help="no camera: publish simulated attempts")
    p.add_argument("--demo-interval", type=float, default=None, help="demo: start an attempt every N seconds")
    p.add_argument("--add-teacher", metavar="NAME", help="add a teacher login (or change its PIN) and exit")
    p.add_argument("--remove-teacher", metavar="NAME", help="remove a teacher login and exit")
    p.add_argument("--list-teachers", action="store_true", help="list teacher logins and exit")
    p.add_argument("--password-stdin", action="store_true", help="with --add-teacher: read the PIN from stdin")


def build_settings(args, config):
    """WebSettings: the configuration's ``web`` section when it has one, then the command-line options."""
    from edge.web.settings import WebSettings

    base = getattr(config, "web", None) or WebSettings(
        credentials_file=Path(config.paths.data_dir) / "web" / "teachers.json"
    )
    upd = base.model_dump()
    for key, value in (
        ("bind", args.bind),
        ("port", args.port),
        ("credentials_file", args.credentials),
        ("tls_cert", args.tls_cert),
        ("tls_key", args.tls_key),
    ):
        if value is not None:
            upd[key] = value
    if args.no_trust_local or args.behind_proxy:
        upd["trust_local"] = False
    if args.behind_proxy:
        upd["behind_proxy"] = True
    if args.cookie_secure:
        upd["cookie_secure"] = True
    if getattr(args, "demo", False):
        upd["demo"] = True
    return WebSettings.model_validate(upd)


def _teachers(args, settings, user_error) -> int:
    from edge.web.passwords import CredentialError, CredentialStore

    store = CredentialStore(settings.credentials_file)
    try:
        if args.list_teachers:
            names = store.teachers()
            print("\n".join(names) if names else f"no teacher logins in {settings.credentials_file}")
        elif args.remove_teacher:
            store.remove_teacher(args.remove_teacher)
            print(f"removed {args.remove_teacher!r} from {settings.credentials_file}")
        else:
            if args.password_stdin:
                secret = sys.stdin.readline().rstrip("\n")
            else:
                secret = getpass.getpass("PIN or password: ")
                if getpass.getpass("again: ") != secret:
                    raise user_error("the two entries differ.")
            store.set_teacher(args.add_teacher, secret)
            print(f"teacher {args.add_teacher!r} can log in (stored in {settings.credentials_file})")
    except CredentialError as e:
        raise user_error(str(e)) from None
    except OSError as e:
        raise user_error(f"cannot write {settings.credentials_file} ({e.strerror}).") from None
    return 0


def load_settings(args):
    """(config, WebSettings) from the options; UserError with one sentence when they are invalid."""
    from pydantic import ValidationError

    from edge.cli import UserError
    from edge.config import load_config

    config = load_config(args.config)
    try:
        settings = build_settings(args, config)
    except ValidationError as e:
        err = e.errors()[0]
        raise UserError(f"screen settings: {err['msg']}.") from None
    return config, settings


def refuse_root(args, what: str) -> None:
    from edge.cli import UserError

    if hasattr(os, "geteuid") and os.geteuid() == 0 and not args.allow_root:
        raise UserError(f"refusing to run the {what} as root; run it as the unprivileged fieldcoach user.")


def database_path(args, config) -> Path:
    return Path(args.db) if args.db else Path(config.paths.data_dir) / DEFAULT_DB_NAME


def references_dir(args):
    """The reference performances for the screen's angle plot: the option, else the shipped ones."""
    if args.references is not None:
        return args.references
    from calibration.reference import DEFAULT_REFERENCE_DIR

    return DEFAULT_REFERENCE_DIR


def warn_no_teacher(rt, settings) -> None:
    if settings.bind not in ("127.0.0.1", "::1", "localhost") and not rt.app.auth.credentials.teachers():
        print("warning: no teacher login exists, so no tablet can log in; add one with "
              "fieldcoach screen --add-teacher NAME", file=sys.stderr)  # fmt: skip


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM (systemd stopping the unit) or SIGINT (Ctrl-C)."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def run(args) -> int:
    """Entry point of ``fieldcoach screen``."""
    from edge.cli import UserError

    config, settings = load_settings(args)
    if args.add_teacher or args.remove_teacher or args.list_teachers:
        return _teachers(args, settings, UserError)
    refuse_root(args, "screen")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    from edge.store.db import StoreError
    from edge.web.runtime import ScreenRuntime

    db = database_path(args, config)
    try:
        rt = ScreenRuntime.open(db, settings, config, references_dir=references_dir(args))
    except StoreError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"cannot listen on {settings.bind}:{settings.port} ({e.strerror}).") from None
    warn_no_teacher(rt, settings)
    stop = stop_on_signals()
    rt.start()
    if rt.demo is not None and args.demo_interval:
        rt.demo.start_auto(args.demo_interval)
    print(f"FieldCoach screen on {rt.url} (database {db}; local kiosk trusted: {settings.trust_local})", flush=True)
    stop.wait()
    rt.close()
    return 0
