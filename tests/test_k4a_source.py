"""The live Azure Kinect source with a fake pyk4a injected through sys.modules (and a real-device test)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from edge.capture.frames import Capture, EndOfStream, SourceDisconnected, SourceTimeout


def _calibration_json() -> str:
    from edge.capture.sim_calibration import CALIBRATION_JSON

    return CALIBRATION_JSON


class _Script:
    """What the fake device does: a list of events per get_capture call, and start() outcomes."""

    def __init__(self, captures, starts=None):
        self.captures = list(captures)  # "ok", "timeout", "fail"
        self.starts = list(starts or [])  # True / False for successive start() calls after the first
        self.started = 0
        self.stopped = 0
        self.ts = 1_000_000


def make_fake_pyk4a(script: _Script) -> types.ModuleType:
    m = types.ModuleType("pyk4a")

    class K4AException(Exception):
        pass

    class K4ATimeoutException(K4AException):
        pass

    class Enum:
        def __getattr__(self, name):
            return name

    class Config:
        def __init__(self, **kw):
            self.kw = kw

    class FakeCapture:
        def __init__(self, ts):
            self.depth = np.full((576, 640), 2000, np.uint16)
            self.color = np.zeros((720, 1280, 4), np.uint8)
            self.color[..., 2] = 200  # BGRA red channel
            self.depth_timestamp_usec = ts
            self.color_timestamp_usec = ts + 500

    class PyK4A:
        def __init__(self, config=None, device_id=0):
            self.config = config
            self._imu = []

        def start(self):
            if script.started > 0 and script.starts:
                ok = script.starts.pop(0)
                if not ok:
                    script.started += 1
                    raise K4AException("no device")
            script.started += 1

        def stop(self):
            script.stopped += 1

        @property
        def calibration_raw(self):
            return _calibration_json()

        def get_capture(self, timeout=-1):
            event = script.captures.pop(0) if script.captures else "ok"
            if event == "timeout":
                raise K4ATimeoutException()
            if event == "fail":
                raise K4AException("device lost")
            script.ts += 33_333
            self._imu = [
                {"temperature": 31.0, "acc_sample": (0.0, -9.8, 0.1), "acc_timestamp": script.ts - 600 + 100 * i,
                 "gyro_sample": (0.0, 0.0, 0.0), "gyro_timestamp": script.ts - 590 + 100 * i}
                for i in range(5)
            ]
            return FakeCapture(script.ts)

        def get_imu_sample(self, timeout=-1):
            if not self._imu:
                raise K4ATimeoutException()
            return self._imu.pop(0)

    m.K4AException = K4AException
    m.K4ATimeoutException = K4ATimeoutException
    m.PyK4A = PyK4A
    m.Config = Config
    m.ColorResolution = Enum()
    m.DepthMode = Enum()
    m.FPS = Enum()
    m.ImageFormat = Enum()
    return m


@pytest.fixture
def fake(monkeypatch):
    def install(captures, starts=None):
        script = _Script(captures, starts)
        monkeypatch.setitem(sys.modules, "pyk4a", make_fake_pyk4a(script))
        return script

    return install


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, s):
        self.sleeps.append(s)
        self.now += s

    def __call__(self):
        return self.now


def test_reads_captures_with_imu_and_rgb(fake):
    from edge.capture.k4a_source import K4aSource

    script = fake(["ok", "ok", "ok"])
    with K4aSource() as src:
        assert src.calibration is not None and src.calibration.depth.width == 640
        caps = [src.read() for _ in range(3)]
    assert script.stopped == 1
    assert all(isinstance(c, Capture) for c in caps)
    c = caps[0]
    assert c.depth.dtype == np.uint16 and c.color.shape == (720, 1280, 3)
    assert c.color[0, 0, 0] == 200  # BGRA -> RGB
    assert c.color_device_ts_usec - c.depth_device_ts_usec == 500
    assert len(c.imu) == 5 and np.all(np.diff(c.imu.device_ts_usec) > 0)
    assert [x.index for x in caps] == [0, 1, 2]
    with pytest.raises(EndOfStream):
        src.read()


def test_timeout_is_its_own_error(fake):
    from edge.capture.k4a_source import K4aSource

    fake(["timeout", "ok"])
    with K4aSource(timeout_ms=50) as src:
        with pytest.raises(SourceTimeout, match="50 ms"):
            src.read()
        assert src.read().depth is not None  # the next one comes


def test_unplug_reconnects_with_backoff(fake):
    from edge.capture.k4a_source import K4aSource

    script = fake(["ok", "fail", "ok"], starts=[False, False, True])
    clock = FakeClock()
    with K4aSource(reconnect_s=30, backoff_s=0.5, backoff_max_s=5.0, sleep=clock.sleep, clock=clock) as src:
        first = src.read()
        second = src.read()  # the device fails, comes back on the third try
        assert src.reconnects == 1
    assert clock.sleeps == [0.5, 1.0]  # doubling back-off
    assert second.depth_device_ts_usec > first.depth_device_ts_usec
    assert script.started == 4


def test_gone_for_good_is_a_clear_error(fake):
    from edge.capture.k4a_source import K4aSource

    fake(["fail"], starts=[False] * 100)
    clock = FakeClock()
    with K4aSource(reconnect_s=10, backoff_s=0.5, backoff_max_s=4.0, sleep=clock.sleep, clock=clock) as src:
        with pytest.raises(SourceDisconnected, match="did not come back within 10 s"):
            src.read()
    assert sum(clock.sleeps) <= 10 and clock.sleeps[:4] == [0.5, 1.0, 2.0, 4.0]


def test_missing_pyk4a_is_reported(monkeypatch):
    from edge.capture.k4a_source import K4aSource

    monkeypatch.setitem(sys.modules, "pyk4a", None)  # makes `import pyk4a` fail
    with pytest.raises(ImportError, match="pyk4a"):
        K4aSource().open()


@pytest.mark.device
def test_real_azure_kinect():
    from edge.capture.k4a_source import K4aSource

    with K4aSource() as src:
        caps = [src.read() for _ in range(10)]
    assert all(c.depth is not None and c.depth.shape == (576, 640) for c in caps)
    assert all(c.color is not None and c.color.shape == (720, 1280, 3) for c in caps)
    d = np.array([c.depth_device_ts_usec for c in caps])
    assert np.all(np.diff(d) > 0)
    assert sum(len(c.imu) for c in caps) > 100  # ~1.6 kHz
