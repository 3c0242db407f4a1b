"""This device's compatible-hardware string, matched against a bundle's ``compatible_hardware``.

``FIELDCOACH_HARDWARE`` wins (environment or ``/etc/fieldcoach/update.env``, see ``settings``); otherwise a Jetson with
L4T R32.6/R32.7 (JetPack 4.6.x) is ``jetson-nano-jetpack4.6``, any other Jetson
``jetson-l4t-r<major>.<minor>``, and every other machine ``<arch>-cpu`` (e.g. ``x86_64-cpu``).
"""

from __future__ import annotations

import platform
import re
from pathlib import Path

from edge.ota.settings import device_setting

HARDWARE_ENV = "FIELDCOACH_HARDWARE"
TEGRA_RELEASE = Path("/etc/nv_tegra_release")


def detect_hardware(tegra_release: Path = TEGRA_RELEASE) -> str:
    env = device_setting(HARDWARE_ENV).strip()
    if env:
        return env
    try:
        text = tegra_release.read_text(errors="replace")
    except OSError:
        text = ""
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)", text)
    if m:
        major, minor = int(m[1]), int(m[2])
        if major == 32 and minor in (6, 7):
            return "jetson-nano-jetpack4.6"
        return f"jetson-l4t-r{major}.{minor}"
    return f"{platform.machine().lower() or 'unknown'}-cpu"
