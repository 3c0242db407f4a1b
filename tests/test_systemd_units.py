"""The systemd units (systemd/): `make install` stages them, `systemd-analyze verify` finds nothing.

`systemd-analyze verify` checks that every ExecStart binary exists, so the units are verified as
`make install DESTDIR=... APP_DIR=...` writes them, with stub executables in a temporary app
folder. Without systemd-analyze (Debian package `systemd`) these tests skip locally and fail under
CI=true.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNITS = REPO / "systemd"
SYSTEM_UNITS = ("fieldcoach.service", "fieldcoach-update.service", "fieldcoach-update.timer")
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        msg = f"{tool} is not installed (Debian/Ubuntu package 'systemd'); .ci/run must install it."
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def directives(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, in order (keys may repeat)."""
    out, section = [], ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def values(path: Path, key: str) -> list[str]:
    return [v for _, k, v in directives(path) if k == key]


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """`make install` into a temporary root, with stub executables for ExecStart."""
    need("systemd-analyze")
    need("systemctl")
    if shutil.which("make") is None:
        pytest.fail("make is not installed") if IN_CI else pytest.skip("make is not installed")
    tmp = tmp_path_factory.mktemp("install")
    app, root = tmp / "app", tmp / "root"
    for stub in (app / ".venv" / "bin" / "python", app / ".venv" / "bin" / "fieldcoach", app / "chromium"):
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    r = subprocess.run(
        ["make", "--no-print-directory", "-f", "make/install.mk", "install", f"DESTDIR={root}", f"APP_DIR={app}",
         f"KIOSK_BROWSER={app / 'chromium'}"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return {"root": root, "app": app, "system": root / "etc/systemd/system", "user": root / "etc/systemd/user",
            "tmp": tmp}


def verify(paths: list[Path], user: bool = False, runtime_dir: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if user:
        runtime_dir.mkdir(mode=0o700, exist_ok=True)
        env["XDG_RUNTIME_DIR"] = str(runtime_dir)
    cmd = ["systemd-analyze", *(["--user"] if user else []), "verify", "--man=no", *map(str, paths)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)


def test_system_units_verify_clean(staged):
    r = verify([staged["system"] / u for u in SYSTEM_UNITS])
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr


def test_kiosk_user_unit_verifies_clean(staged):
    r = verify([staged["user"] / "fieldcoach-kiosk.service"], user=True, runtime_dir=staged["tmp"] / "xdg")
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr


def test_verify_would_catch_mistakes(staged, tmp_path):
    """The clean results above mean something: a typo, a bad value or a missing binary is reported."""
    text = (staged["system"] / "fieldcoach.service").read_text()
    broken = tmp_path / "fieldcoach.service"
    broken.write_text(text.replace("WatchdogSec=30s", "WatchdogSec=thirty").replace("NoNewPrivileges=", "NoNewPrivilege="))
    r = verify([broken])
    assert "WatchdogSec" in r.stderr + r.stdout or "thirty" in r.stderr + r.stdout
    assert "NoNewPrivilege" in r.stderr + r.stdout
    raw = verify([UNITS / "fieldcoach.service"])  # as in the repository: /opt/fieldcoach does not exist here
    if not Path("/opt/fieldcoach/.venv/bin/fieldcoach").exists():
        assert raw.returncode != 0 and "not executable" in raw.stderr


def test_install_stages_everything(staged):
    root, app = staged["root"], staged["app"]
    for u in SYSTEM_UNITS:
        installed = (staged["system"] / u).read_text()
        assert "/opt/fieldcoach" not in installed
        assert installed == (UNITS / u).read_text().replace("/opt/fieldcoach", str(app))
    wants = {
        "etc/systemd/system/graphical.target.wants/fieldcoach.service": "/etc/systemd/system/fieldcoach.service",
        "etc/systemd/system/timers.target.wants/fieldcoach-update.timer": "/etc/systemd/system/fieldcoach-update.timer",
        "etc/systemd/user/graphical-session.target.wants/fieldcoach-kiosk.service":
            "/etc/systemd/user/fieldcoach-kiosk.service",
    }
    for link, target in wants.items():
        assert os.readlink(root / link) == target
    assert (root / "etc/sysusers.d/fieldcoach.conf").is_file() and (root / "etc/tmpfiles.d/fieldcoach.conf").is_file()
    assert (root / "etc/fieldcoach/update.env.example").is_file()
    for d in ("var/lib/fieldcoach", "var/lib/fieldcoach/models", "var/lib/fieldcoach/updates"):
        assert (root / d).is_dir()
    if shutil.which("systemd-sysusers"):
        passwd = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
        assert passwd["fieldcoach"][5] == "/var/lib/fieldcoach" and passwd["fieldcoach"][6].endswith("nologin")
        assert int(passwd["fieldcoach"][2]) != 0
        groups = {line.split(":")[0]: line.split(":")[3].split(",") for line in (root / "etc/group").read_text().splitlines()}
        assert "fieldcoach" in groups["video"] and "fieldcoach" in groups["plugdev"]
        if os.geteuid() == 0:
            assert (root / "var/lib/fieldcoach").stat().st_uid == int(passwd["fieldcoach"][2])
            assert (root / "var/lib/fieldcoach").stat().st_mode & 0o007 == 0  # student data: no access for others


def test_installed_config_is_valid_and_points_at_the_active_slot(staged):
    from edge.config import load_config

    cfg = load_config(staged["root"] / "etc/fieldcoach/config.yaml")
    assert cfg.paths.models_dir == Path("/var/lib/fieldcoach/models/current/models")
    assert cfg.paths.data_dir == Path("/var/lib/fieldcoach")


def test_service_is_hardened_and_watched():
    from edge.ota.cli import DEFAULT_DATA_DIR
    from edge.ota.service import DEFAULT_PORT

    svc = UNITS / "fieldcoach.service"
    one = {k: v for _, k, v in directives(svc)}
    assert one["Type"] == "notify" and one["Restart"] == "on-failure"
    assert one["User"] == "fieldcoach" and set(one["SupplementaryGroups"].split()) >= {"video", "plugdev"}
    assert int(re.fullmatch(r"(\d+)s", one["WatchdogSec"])[1]) <= 60
    for key, want in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
                      "ReadWritePaths": DEFAULT_DATA_DIR, "IPAddressDeny": "any",
                      "CapabilityBoundingSet": "", "DevicePolicy": "closed"}.items():
        assert one[key] == want, key
    # loopback and the private ranges of a school network (tablets); never the internet
    allowed = " ".join(values(svc, "IPAddressAllow")).split()
    assert allowed[0] == "localhost" and {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(allowed)
    assert not {"any", "0.0.0.0/0", "::/0"} & set(allowed)
    # ExecStart is a command line `fieldcoach serve` accepts, with the unit's environment filled in
    from edge.cli import build_parser

    env = dict(v.split("=", 1) for v in values(svc, "Environment"))
    argv = values(svc, "ExecStart")[0].split()
    assert argv[0].endswith("/fieldcoach") and argv[1] == "serve"
    args = build_parser().parse_args([re.sub(r"\$\{(\w+)\}", lambda m: env[m[1]], a) for a in argv[1:]])
    assert (args.bind, args.port, args.source) == ("127.0.0.1", DEFAULT_PORT, "k4a")
    assert f"FIELDCOACH_PORT={DEFAULT_PORT}" in values(svc, "Environment")
    pre = values(svc, "ExecStartPre")
    assert any("edge.ota recover --if-idle" in p and p.startswith("-") for p in pre)
    kiosk = UNITS / "fieldcoach-kiosk.service"
    assert "graphical-session.target" in values(kiosk, "After") and values(kiosk, "ConditionUser") == ["kiosk"]
    assert f"FIELDCOACH_PORT={DEFAULT_PORT}" in values(kiosk, "Environment")
    assert "--app=http://127.0.0.1:${FIELDCOACH_PORT}/" in values(kiosk, "ExecStart")[0]
    upd = UNITS / "fieldcoach-update.service"
    assert "check --pull" in values(upd, "ExecStart")[0] and values(upd, "User") == ["fieldcoach"]
    timer = {k: v for _, k, v in directives(UNITS / "fieldcoach-update.timer")}
    assert timer["Persistent"] == "true" and timer["OnCalendar"]


def test_security_exposure_is_low(staged):
    help_text = subprocess.run(["systemd-analyze", "security", "--help"], capture_output=True, text=True).stdout
    if "--offline" not in help_text:
        pytest.skip("this systemd-analyze cannot assess unit files offline (systemd < 250)")
    for unit in ("fieldcoach.service", "fieldcoach-update.service"):
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=25", "--no-pager",
                            str(staged["system"] / unit)], capture_output=True, text=True, timeout=60)
        level = re.search(r"Overall exposure level for \S+: (\d+\.\d)", r.stdout)
        assert r.returncode == 0 and level and float(level[1]) <= 2.5, r.stdout[-600:] + r.stderr[-600:]
