"""Over-the-air model updates (edge/ota): every failure leaves the old models active and serving.

Bundles here hold one tiny ONNX scorer (score = 10 * mean(x) + bias, so the bias tells which
version answered), a card, golden samples and a knowledge-base file. "Serving" is checked the way
the service would: through ``models/current``, the golden samples pass and the model answers
with the expected version's bias.
"""

from __future__ import annotations

import http.server
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cryptography")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from edge.ota.apply import ApplyError, Hooks, apply_bundle, rollback  # noqa: E402
from edge.ota.bundle import build_bundle, extract_bundle, read_index, verify_unpacked  # noqa: E402
from edge.ota.check import READY_FILE, check_update, pull_update, ready_bundle  # noqa: E402
from edge.ota.fetch import FetchError, IncompleteDownload, download  # noqa: E402
from edge.ota.golden import verify_bundle_models  # noqa: E402
from edge.ota.manifest import (  # noqa: E402
    BundleError,
    admission_problems,
    canonical_json,
    manifest_from_bytes,
    parse_version,
)
from edge.checksum import file_sha256  # noqa: E402
from edge.ota.sign import SignatureError, generate_keypair, load_public_key  # noqa: E402
from edge.ota.slots import SlotError, SlotStore  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ACTION = "standing_long_jump"
HW = "x86_64-cpu"
BIAS = {"1.0.0": 50.0, "1.1.0": 60.0, "1.2.0": 70.0, "0.9.0": 40.0}
CREATED = 1_700_000_000


# -- fixtures and helpers ------------------------------------------------------------------------
def _model_bytes(bias: float) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("skeleton", TensorProto.FLOAT, ["N", 3, "T", 17])
    y = helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N"])
    nodes = [
        helper.make_node("ReduceMean", ["skeleton"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["m", "w"], ["mw"]),
        helper.make_node("Add", ["mw", "b"], ["score"]),
    ]
    inits = [numpy_helper.from_array(np.array(10.0, np.float32), "w"),
             numpy_helper.from_array(np.array(bias, np.float32), "b")]
    model = helper.make_model(helper.make_graph(nodes, "scorer", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString()


def make_parts(root: Path, bias: float, golden_offset: float = 0.0) -> dict[str, Path]:
    d = root / "models" / ACTION
    d.mkdir(parents=True)
    (d / "scorer.onnx").write_bytes(_model_bytes(bias))
    (d / "card.json").write_text(json.dumps({"action": ACTION, "sha256": file_sha256(d / "scorer.onnx")}))
    x = np.random.default_rng(0).normal(size=(3, 3, 30, 17)).astype(np.float32)
    score = (x.mean(axis=(1, 2, 3)) * 10.0 + bias + golden_offset).astype(np.float32)
    np.savez(d / "golden.npz", x=x, score=score)
    kb = root / "kb" / ACTION
    kb.mkdir(parents=True)
    (kb / "drills.yaml").write_text(f"drills: [{bias}]\n")
    return {"models": root / "models", "kb": root / "kb"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    priv, pub = generate_keypair(d / "good")
    other_priv, _ = generate_keypair(d / "other")
    return {"priv": priv, "pub": pub, "pubkey": load_public_key(pub), "other_priv": other_priv}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, keys):
    """Good bundles 0.9.0 ... 1.2.0, built once."""
    out = {}
    for v, bias in BIAS.items():
        root = tmp_path_factory.mktemp(f"src{v}")
        out[v] = build_bundle(make_parts(root, bias), root / "out", version=v, hardware=[HW, "jetson-nano-jetpack4.6"],
                              min_app_version="0.1.0", private_key_path=keys["priv"], created=CREATED)
    return out


def build(tmp: Path, keys, version: str, *, bias=None, hardware=(HW,), min_app="0.1.0", key=None, golden_offset=0.0):
    root = tmp / f"src-{version}-{len(list(tmp.iterdir()))}"
    parts = make_parts(root, BIAS.get(version, 80.0) if bias is None else bias, golden_offset)
    return build_bundle(parts, root / "out", version=version, hardware=list(hardware), min_app_version=min_app,
                        private_key_path=key or keys["priv"], created=CREATED)


def apply(tar, data, keys, **kw):
    return apply_bundle(tar, data, keys["pubkey"], hardware=kw.pop("hardware", HW), app_version=kw.pop("app", "0.1.0"), **kw)


@pytest.fixture
def installed(tmp_path, keys, bundles):
    """A data directory serving 1.0.0 from slot a."""
    data = tmp_path / "data"
    apply(bundles["1.0.0"].tar_path, data, keys)
    return data


def served_score(data: Path) -> float:
    """What the active scorer answers for an all-zero input (= the version's bias)."""
    model = data / "models" / "current" / "models" / ACTION / "scorer.onnx"
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return float(sess.run(None, {"skeleton": np.zeros((1, 3, 30, 17), np.float32)})[0][0])


def assert_serving(data: Path, version: str, keys) -> None:
    store = SlotStore(data)
    state = store.read_state()
    active = store.active()
    assert active is not None and state.pending is None
    assert state.slots[active].version == version and state.slots[active].status == "ready"
    current = data / "models" / "current"
    extra = tuple(state.slots[active].device_files)
    assert verify_unpacked(current, keys["pubkey"], extra_ok=extra).version == version
    assert verify_bundle_models(current) == []
    assert served_score(data) == pytest.approx(BIAS[version])
    assert not (data / "models" / ".staging").exists()


def rewrite_tar(src: Path, dst: Path, replace: dict[str, bytes] | None = None, drop: set[str] = frozenset()):
    """Copy a bundle tar, replacing or dropping members (headers keep their order)."""
    replace = replace or {}
    with tarfile.open(src, "r:") as tin, tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as tout:
        for m in tin:
            if m.name in drop:
                continue
            data = replace.get(m.name, tin.extractfile(m).read())
            info = tarfile.TarInfo(m.name)
            info.size, info.mtime, info.mode = len(data), m.mtime, m.mode
            tout.addfile(info, io.BytesIO(data))
    return dst


def run_cli(*args, env_extra=None, timeout=60):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "edge.ota", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def device_args(data: Path, keys) -> list[str]:
    return ["--data-dir", str(data), "--pubkey", str(keys["pub"]), "--hardware", HW, "--service", ""]


# -- manifest, signature, bundle -----------------------------------------------------------------
def test_manifest_is_canonical_and_strict(bundles):
    m = bundles["1.0.0"].manifest
    raw = m.to_bytes()
    assert manifest_from_bytes(raw) == m
    assert raw == canonical_json(json.loads(raw))
    pretty = json.dumps(json.loads(raw), indent=1).encode()
    with pytest.raises(BundleError, match="canonical"):
        manifest_from_bytes(pretty)
    bad = json.loads(raw)
    bad["files"][0]["path"] = "../etc/passwd"
    with pytest.raises(BundleError, match="not a valid manifest"):
        manifest_from_bytes(canonical_json(bad))
    bad = json.loads(raw)
    bad["surprise"] = 1
    with pytest.raises(BundleError):
        manifest_from_bytes(canonical_json(bad))
    assert parse_version("1.10.0") > parse_version("1.9.3")
    for v in ("1.0", "01.0.0", "1.0.0-rc1", "v1.0.0"):
        with pytest.raises(BundleError):
            parse_version(v)


def test_bundle_is_byte_reproducible_and_indexed(tmp_path, keys, bundles):
    again = build(tmp_path, keys, "1.0.0", hardware=(HW, "jetson-nano-jetpack4.6"))
    assert again.tar_path.read_bytes() == bundles["1.0.0"].tar_path.read_bytes()
    index = read_index(bundles["1.0.0"].index_path.read_bytes(), keys["pubkey"])
    assert index.size == bundles["1.0.0"].tar_path.stat().st_size
    assert index.sha256 == file_sha256(bundles["1.0.0"].tar_path)
    assert [f.path for f in index.manifest.files] == ["kb/standing_long_jump/drills.yaml",
                                                      f"models/{ACTION}/card.json", f"models/{ACTION}/golden.npz",
                                                      f"models/{ACTION}/scorer.onnx"]
    with tarfile.open(bundles["1.0.0"].tar_path) as tf:
        assert tf.getnames()[:2] == ["manifest.json", "manifest.sig"]


def test_extract_refuses_unlisted_and_linked_members(tmp_path, keys, bundles):
    src = bundles["1.0.0"].tar_path
    extra = tmp_path / "extra.tar"
    shutil.copy(src, extra)
    with tarfile.open(extra, "a") as tf:  # append a member the manifest does not list
        info = tarfile.TarInfo("models/evil.py")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"boom"))
    with pytest.raises(BundleError, match="does not list"):
        extract_bundle(extra, tmp_path / "x1", keys["pubkey"])
    linked = tmp_path / "linked.tar"
    with tarfile.open(src) as tin, tarfile.open(linked, "w", format=tarfile.PAX_FORMAT) as tout:
        for m in tin:
            if m.name.endswith("drills.yaml"):
                link = tarfile.TarInfo(m.name)
                link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tout.addfile(link)
            else:
                tout.addfile(m, tin.extractfile(m))
    with pytest.raises(BundleError, match="not a regular file"):
        extract_bundle(linked, tmp_path / "x2", keys["pubkey"])


# -- a good update, rollback, status ---------------------------------------------------------------
def test_good_bundle_switches_and_rolls_back(installed, keys, bundles):
    assert_serving(installed, "1.0.0", keys)
    restarts = []
    res = apply(bundles["1.1.0"].tar_path, installed, keys, hooks=Hooks(restart=lambda: restarts.append(1)))
    assert (res.version, res.slot, res.previous_version) == ("1.1.0", "b", "1.0.0")
    assert restarts == [1]
    assert_serving(installed, "1.1.0", keys)
    assert os.readlink(installed / "models" / "current") == "b"
    back = rollback(installed, keys["pubkey"])
    assert (back.version, back.slot) == ("1.0.0", "a")
    assert_serving(installed, "1.0.0", keys)
    status = SlotStore(installed).status()
    assert status["active"]["version"] == "1.0.0" and status["inactive"]["version"] == "1.1.0"
    assert [e["operation"] for e in status["history"]] == ["apply", "apply", "rollback"]
    # 1.2.0 goes into the inactive slot b (replacing 1.1.0); a keeps 1.0.0 for rollback
    apply(bundles["1.2.0"].tar_path, installed, keys)
    assert_serving(installed, "1.2.0", keys)
    assert SlotStore(installed).read_state().slots["a"].version == "1.0.0"


# -- every failure leaves the old models active and serving ---------------------------------------
def test_tampered_file_is_refused(installed, tmp_path, keys, bundles):
    src = bundles["1.1.0"].tar_path
    with tarfile.open(src) as tf:
        onnx_bytes = tf.extractfile(f"models/{ACTION}/scorer.onnx").read()
    evil = onnx_bytes.replace(np.array(60.0, np.float32).tobytes(), np.array(99.0, np.float32).tobytes())
    assert evil != onnx_bytes and len(evil) == len(onnx_bytes)
    tampered = rewrite_tar(src, tmp_path / "tampered.tar", replace={f"models/{ACTION}/scorer.onnx": evil})
    with pytest.raises(BundleError, match="does not match its manifest sha256"):
        apply(tampered, installed, keys)
    assert_serving(installed, "1.0.0", keys)
    assert "refused" in SlotStore(installed).read_state().history[-1].message


def test_bad_signature_is_refused(installed, tmp_path, keys, bundles):
    src = bundles["1.1.0"].tar_path
    with tarfile.open(src) as tf:
        raw = tf.extractfile("manifest.json").read()
    edited = json.loads(raw)
    edited["compatible_hardware"].append("anything")  # still canonical, but not what was signed
    forged = rewrite_tar(src, tmp_path / "forged.tar", replace={"manifest.json": canonical_json(edited)})
    with pytest.raises(SignatureError, match="does not verify"):
        apply(forged, installed, keys)
    assert_serving(installed, "1.0.0", keys)
    other = build(tmp_path, keys, "1.1.0", key=keys["other_priv"])
    with pytest.raises(SignatureError, match="signed with key"):
        apply(other.tar_path, installed, keys)
    zeroed = rewrite_tar(src, tmp_path / "zeroed.tar", replace={"manifest.sig": b"0" * 128 + b"\n"})
    with pytest.raises(SignatureError):
        apply(zeroed, installed, keys)
    assert_serving(installed, "1.0.0", keys)


def _cut_points(tar: Path) -> dict[str, int]:
    with tarfile.open(tar) as tf:
        members = tf.getmembers()
    last = members[-1]
    return {"in the manifest": members[0].offset_data + members[0].size // 2,
            "in a middle file": members[2].offset_data + members[2].size // 2,
            "in the last file": last.offset_data + last.size // 2}


@pytest.mark.parametrize("where", ["in the manifest", "in a middle file", "in the last file"])
def test_truncated_bundle_is_refused(installed, tmp_path, keys, bundles, where):
    src = bundles["1.1.0"].tar_path
    cut = tmp_path / "cut.tar"
    cut.write_bytes(src.read_bytes()[: _cut_points(src)[where]])
    with pytest.raises(BundleError, match="truncated"):
        apply(cut, installed, keys)
    assert_serving(installed, "1.0.0", keys)


def test_bundle_missing_a_file_is_refused(installed, tmp_path, keys, bundles):
    missing = rewrite_tar(bundles["1.1.0"].tar_path, tmp_path / "short.tar", drop={f"models/{ACTION}/scorer.onnx"})
    with pytest.raises(BundleError, match="lacks 1 of its 4 files"):
        apply(missing, installed, keys)
    assert_serving(installed, "1.0.0", keys)


def test_wrong_compatible_string_is_refused(installed, tmp_path, keys):
    jetson_only = build(tmp_path, keys, "1.1.0", hardware=("jetson-nano-jetpack4.6",))
    with pytest.raises(BundleError, match="not for this device"):
        apply(jetson_only.tar_path, installed, keys)
    assert_serving(installed, "1.0.0", keys)
    assert apply(jetson_only.tar_path, installed, keys, hardware="jetson-nano-jetpack4.6").version == "1.1.0"


def test_downgrade_and_reinstall_are_refused(installed, keys, bundles):
    with pytest.raises(BundleError, match="downgrade"):
        apply(bundles["0.9.0"].tar_path, installed, keys)
    with pytest.raises(BundleError, match="already the active version"):
        apply(bundles["1.0.0"].tar_path, installed, keys)
    assert_serving(installed, "1.0.0", keys)
    assert apply(bundles["0.9.0"].tar_path, installed, keys, allow_downgrade=True).version == "0.9.0"
    assert_serving(installed, "0.9.0", keys)


def test_too_new_for_the_app_is_refused(installed, tmp_path, keys):
    future = build(tmp_path, keys, "1.1.0", min_app="9.0.0")
    with pytest.raises(BundleError, match="needs FieldCoach 9.0.0"):
        apply(future.tar_path, installed, keys)
    assert_serving(installed, "1.0.0", keys)


def test_failing_golden_sample_is_refused(installed, tmp_path, keys):
    bad = build(tmp_path, keys, "1.1.0", golden_offset=0.5)  # the model misses its golden scores by 0.5
    with pytest.raises(ApplyError, match="golden samples"):
        apply(bad.tar_path, installed, keys)
    assert_serving(installed, "1.0.0", keys)
    state = SlotStore(installed).read_state()
    assert state.slots["b"] is None  # nothing was written into the inactive slot


def test_failed_health_check_switches_back(installed, keys, bundles):
    seen, restarts = [], []

    def unhealthy(slot_dir, version):
        seen.append((os.readlink(installed / "models" / "current"), version))
        return ["the service reports status 'loading'"]

    with pytest.raises(ApplyError, match="switched back to 1.0.0"):
        apply(bundles["1.1.0"].tar_path, installed, keys,
              hooks=Hooks(restart=lambda: restarts.append(1), health_check=unhealthy))
    assert seen == [("b", "1.1.0")]  # the check really ran against the new slot
    assert restarts == [1, 1]  # once onto the new models, once back onto the old ones
    assert_serving(installed, "1.0.0", keys)
    assert SlotStore(installed).read_state().slots["b"].status == "failed"
    with pytest.raises(ApplyError, match="failed its health check"):
        rollback(installed, keys["pubkey"])  # a failed slot is not a rollback target
    assert_serving(installed, "1.0.0", keys)


def test_restart_that_raises_switches_back(installed, keys, bundles):
    def boom():
        if os.readlink(installed / "models" / "current") == "b":
            raise RuntimeError("systemctl restart timed out")

    with pytest.raises(ApplyError, match="systemctl restart timed out"):
        apply(bundles["1.1.0"].tar_path, installed, keys, hooks=Hooks(restart=boom))
    assert_serving(installed, "1.0.0", keys)


def test_rollback_refuses_a_changed_slot(installed, keys, bundles):
    apply(bundles["1.1.0"].tar_path, installed, keys)
    kb = installed / "models" / "a" / "kb" / ACTION / "drills.yaml"
    kb.write_text("edited by hand\n")
    with pytest.raises(ApplyError, match="no longer intact"):
        rollback(installed, keys["pubkey"])
    assert_serving(installed, "1.1.0", keys)


def test_engines_built_on_the_device_are_kept_and_checked(installed, keys, bundles, monkeypatch):
    """Where TensorRT exists, apply builds scorer.engine in the staged slot (here a stand-in builder)."""
    import edge.ota.engines as engines
    import export.tensorrt_build as trt_build

    built = []

    def fake_build(onnx_path, engine_path, fp16=True, workspace_mb=512):
        Path(engine_path).write_bytes(b"engine for " + Path(onnx_path).read_bytes()[:16])
        built.append(Path(engine_path).parent.name)
        return Path(engine_path)

    monkeypatch.setattr(engines, "tensorrt_available", lambda: True)
    monkeypatch.setattr(trt_build, "build_engine", fake_build)
    res = apply(bundles["1.1.0"].tar_path, installed, keys)
    assert built == [ACTION] and res.device_files == (f"models/{ACTION}/scorer.engine",)
    assert (installed / "models/current/models" / ACTION / "scorer.engine").is_file()
    assert SlotStore(installed).read_state().slots["b"].device_files == [f"models/{ACTION}/scorer.engine"]
    rollback(installed, keys["pubkey"])  # a -> b -> a: slot a has no engine, slot b keeps its own
    rollback(installed, keys["pubkey"])
    assert_serving(installed, "1.1.0", keys)

    def broken_build(onnx_path, engine_path, fp16=True, workspace_mb=512):
        raise RuntimeError("TensorRT could not parse the model")

    monkeypatch.setattr(trt_build, "build_engine", broken_build)
    with pytest.raises(engines.EngineBuildError, match="could not be built"):
        apply(bundles["1.2.0"].tar_path, installed, keys)
    assert_serving(installed, "1.1.0", keys)


KILL_POINTS = ["extracted", "golden_passed", "slot_invalidated", "slot_half_replaced", "slot_replaced",
               "pending_recorded", "switched", "restarted", "health_passed"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_during_apply_leaves_old_models(installed, keys, bundles, point):
    r = run_cli("apply", "--bundle", str(bundles["1.1.0"].tar_path), *device_args(installed, keys),
                env_extra={"FIELDCOACH_OTA_FAILPOINT": point})
    assert r.returncode == -9, (r.returncode, r.stderr[-500:])  # it really died at that point
    on_trial = point in ("switched", "restarted", "health_passed")  # killed while the new slot was linked
    assert (os.readlink(installed / "models" / "current") == "b") == on_trial
    if point in ("pending_recorded", "switched"):
        # what the service's ExecStartPre runs before it loads the models
        rec = run_cli("recover", "--if-idle", *device_args(installed, keys))
        assert rec.returncode == 0, rec.stderr
        assert "interrupted apply to 1.1.0 (slot b) was undone; slot a is active again" in rec.stdout
    elif point == "restarted":  # any OTA command recovers first; apply then restarts the service
        restarts = []
        apply(bundles["1.1.0"].tar_path, installed, keys, hooks=Hooks(restart=lambda: restarts.append(1)))
        assert restarts == [1, 1]  # once back onto the old models, once onto the new ones
        history = [e.message for e in SlotStore(installed).read_state().history]
        assert any("slot a is active again" in m for m in history)
        assert_serving(installed, "1.1.0", keys)
        return
    else:
        store = SlotStore(installed)
        with store.locked():
            assert store.recover().switched == on_trial
    assert_serving(installed, "1.0.0", keys)
    if point == "slot_half_replaced":  # the device still updates normally afterwards
        apply(bundles["1.1.0"].tar_path, installed, keys)
        assert_serving(installed, "1.1.0", keys)


def test_sigterm_during_the_health_check_switches_back(installed, keys, bundles):
    r = run_cli("apply", "--bundle", str(bundles["1.1.0"].tar_path), *device_args(installed, keys),
                env_extra={"FIELDCOACH_OTA_FAILPOINT": "restarted:term"})
    assert r.returncode == 2 and "interrupted" in r.stderr, (r.returncode, r.stderr[-500:])
    assert SlotStore(installed).read_state().pending is None  # undone by the process itself, no recovery needed
    assert_serving(installed, "1.0.0", keys)


def test_kill_after_commit_keeps_the_new_models(installed, keys, bundles):
    r = run_cli("apply", "--bundle", str(bundles["1.1.0"].tar_path), *device_args(installed, keys),
                env_extra={"FIELDCOACH_OTA_FAILPOINT": "committed"})
    assert r.returncode == -9
    assert run_cli("status", *device_args(installed, keys)).returncode == 0
    assert_serving(installed, "1.1.0", keys)


def test_recover_leaves_a_running_apply_alone(installed, keys, bundles):
    store = SlotStore(installed)
    with store.locked():  # an apply in progress, between its switch and its health check
        state = store.read_state()
        from edge.ota.slots import Pending

        state.pending = Pending(slot="b", previous="a", version="1.1.0", operation="apply", started="x")
        store.write_state(state)
        r = run_cli("recover", "--if-idle", *device_args(installed, keys))
        assert r.returncode == 0 and "holds the slot lock" in r.stdout
        assert store.read_state().pending is not None
        with pytest.raises(SlotError, match="another update"):
            with SlotStore(installed).locked(blocking=False):
                pass
    with store.locked():
        rec = store.recover()
        assert not rec.switched and "interrupted apply to 1.1.0" in rec.notes[0]  # the link still pointed to a
    assert_serving(installed, "1.0.0", keys)


def test_no_attempt_is_lost_while_switching(installed, keys, bundles):
    """A scorer loop reading through ``current`` keeps scoring every attempt across the switch."""
    results, errors, stop = [], [], threading.Event()

    def serve():
        while not stop.is_set() or len(results) < 3:
            try:
                results.append(served_score(installed))
            except Exception as e:  # any failure is a lost attempt
                errors.append(repr(e))

    def wait_for(n):
        deadline = time.monotonic() + 30
        while len(results) < n and time.monotonic() < deadline:
            time.sleep(0.005)

    t = threading.Thread(target=serve)
    t.start()
    try:
        wait_for(3)
        apply(bundles["1.1.0"].tar_path, installed, keys)
        wait_for(len(results) + 3)
    finally:
        stop.set()
        t.join(30)
    assert errors == []
    assert set(np.round(results, 3)) == {50.0, 60.0}
    first_new = results.index(pytest.approx(60.0))
    assert all(r == pytest.approx(60.0) for r in results[first_new:])  # switched once, never back


# -- check, pull, fetch ----------------------------------------------------------------------------
class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _handler(files: dict[str, bytes], log: list, cut_first: set):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            name = self.path.lstrip("/")
            log.append((name, self.headers.get("Range")))
            if name == "moved":
                self.send_response(302)
                self.send_header("Location", "http://example.com/x")
                self.end_headers()
                return
            data = files.get(name)
            if data is None:
                self.send_error(404)
                return
            start = 0
            rng = self.headers.get("Range")
            if rng:
                start = int(rng.split("=")[1].rstrip("-"))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            body = data[start:]
            if name in cut_first:
                cut_first.discard(name)
                body = body[: len(body) // 3]  # the connection drops a third of the way in
            self.wfile.write(body)

    return H


@pytest.fixture
def server(bundles):
    files = {p.name: p.read_bytes() for p in (bundles["1.1.0"].tar_path, bundles["1.1.0"].index_path)}
    log, cut = [], set()
    srv = _Server(("127.0.0.1", 0), _handler(files, log, cut))
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        yield {"url": f"http://127.0.0.1:{srv.server_address[1]}/", "files": files, "log": log, "cut": cut}
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)


def test_truncated_download_resumes_and_applies(installed, keys, bundles, server):
    tar_name = bundles["1.1.0"].tar_path.name
    server["cut"].add(tar_name)
    res = check_update(server["url"], installed, keys["pubkey"], hardware=HW, app_version="0.1.0")
    assert res.available and res.active_version == "1.0.0" and res.index.manifest.version == "1.1.0"
    updates = installed / "updates"
    with pytest.raises(IncompleteDownload, match="resume"):
        pull_update(res, installed, progress=False)
    part = updates / (tar_name + ".part")
    size = len(server["files"][tar_name])
    assert 0 < part.stat().st_size < size
    assert not (updates / tar_name).exists() and not (updates / READY_FILE).exists()
    with pytest.raises(BundleError, match="no downloaded update"):
        ready_bundle(installed, keys["pubkey"])
    assert_serving(installed, "1.0.0", keys)
    got = part.stat().st_size
    tar = pull_update(res, installed, progress=False)
    assert (tar_name, f"bytes={got}-") in server["log"]  # resumed, not restarted
    assert tar.read_bytes() == server["files"][tar_name] and not part.exists()
    r = run_cli("apply", *device_args(installed, keys))
    assert r.returncode == 0, r.stderr
    assert_serving(installed, "1.1.0", keys)
    assert not (updates / tar_name).exists()  # the download is removed once applied


def test_corrupt_download_is_deleted(tmp_path, server, bundles):
    tar_name = bundles["1.1.0"].tar_path.name
    good = server["files"][tar_name]
    server["files"][tar_name] = good[:-1] + bytes([good[-1] ^ 1])
    dest = tmp_path / tar_name
    with pytest.raises(FetchError, match="sha256 does not match"):
        download(server["url"] + tar_name, dest, expected_size=len(good), expected_sha256=file_sha256(
            bundles["1.1.0"].tar_path), progress=False)
    assert not dest.exists() and not (tmp_path / (tar_name + ".part")).exists()


def test_fetch_refuses_redirects_and_oversize(tmp_path, server, bundles):
    with pytest.raises(FetchError, match="redirect"):
        download(server["url"] + "moved", tmp_path / "x.tar", expected_size=10, expected_sha256="0" * 64, progress=False)
    tar_name = bundles["1.1.0"].tar_path.name
    with pytest.raises(FetchError, match="larger than"):
        download(server["url"] + tar_name, tmp_path / "y.tar", expected_size=100, expected_sha256="0" * 64,
                 progress=False)
    assert [p for p in tmp_path.iterdir()] == []


def test_check_and_pull_from_a_path(installed, keys, bundles):
    usb = bundles["1.1.0"].tar_path.parent
    r = run_cli("check", "--url", str(usb), "--json", *device_args(installed, keys))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["available"] is True
    r = run_cli("pull", "--url", f"file://{usb}", "--no-progress", *device_args(installed, keys))
    assert r.returncode == 0, r.stderr
    assert (installed / "updates" / bundles["1.1.0"].tar_path.name).is_file()
    r = run_cli("pull", "--url", str(bundles["0.9.0"].index_path), *device_args(installed, keys))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "downgrade" in r.stderr


def test_cli_refusal_is_one_sentence(installed, tmp_path, keys):
    jetson_only = build(tmp_path, keys, "1.1.0", hardware=("jetson-nano-jetpack4.6",))
    r = run_cli("apply", "--bundle", str(jetson_only.tar_path), *device_args(installed, keys))
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr and "not for this device" in r.stderr
    assert_serving(installed, "1.0.0", keys)


# -- the golden-sample contract --------------------------------------------------------------------
def test_golden_layout_problems(tmp_path):
    parts = make_parts(tmp_path / "slot", 50.0)
    d = parts["models"] / ACTION
    assert verify_bundle_models(tmp_path / "slot") == []
    with np.load(d / "golden.npz") as z:
        x, score = z["x"], z["score"]
    cases = {
        "no expected 'score'": dict(x=x),
        "does not output": dict(x=x, score=score, phase_scores=np.zeros((3, 4), np.float32)),
        "needs 'x' float32": dict(x=x.astype(np.float64), score=score),
        "misses its golden samples": dict(x=x, score=score + 0.06),
        "unusable": dict(x=x, score=score, atol=np.float64(-1.0)),
        "has shape": dict(x=x, score=score[:, None]),
    }
    for expected, arrays in cases.items():
        np.savez(d / "golden.npz", **arrays)
        problems = verify_bundle_models(tmp_path / "slot")
        assert len(problems) == 1 and expected in problems[0], (expected, problems)
    np.savez(d / "golden.npz", x=x, score=score + 0.06, atol=np.float64(0.1))  # within a looser tolerance
    assert verify_bundle_models(tmp_path / "slot") == []
    (d / "scorer.onnx").write_bytes(_model_bytes(51.0))
    assert "does not hash to the sha256" in verify_bundle_models(tmp_path / "slot")[0]
    shutil.rmtree(parts["models"])
    assert "no models/ folder" in verify_bundle_models(tmp_path / "slot")[0]


def test_admission_rules(bundles):
    m = bundles["1.1.0"].manifest
    assert admission_problems(m, hardware=HW, app_version="0.1.0", active_version="1.0.0") == []
    assert admission_problems(m, hardware=HW, app_version="0.1.0", active_version=None) == []
    assert len(admission_problems(m, hardware="armv7l-cpu", app_version="0.0.9", active_version="2.0.0")) == 3


# -- the make targets ------------------------------------------------------------------------------
def test_make_targets_end_to_end(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    included = "make/ota.mk" in (REPO / "Makefile").read_text()
    files = ["-f", "Makefile"] + ([] if included else ["-f", "make/ota.mk"])
    parts = make_parts(tmp_path / "src", 50.0)
    keys_dir, out, data = tmp_path / "keys", tmp_path / "bundle", tmp_path / "data"
    common = [f"PY={sys.executable}", "STAMP=", f"OTA_KEYS={keys_dir}", f"OTA_PUBKEY={keys_dir}/ota_ed25519.pub",
              f"OTA_DATA_DIR={data}"]
    env = {**os.environ, "FIELDCOACH_SERVICE": "", "FIELDCOACH_HARDWARE": HW}

    def make(*args):
        r = subprocess.run(["make", "--no-print-directory", *files, *args, *common], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout[-1000:] + r.stderr[-1000:]
        return r.stdout

    make("keygen")
    assert (keys_dir / "ota_ed25519.pem").stat().st_mode & 0o077 == 0
    make("bundle", "VERSION=1.0.0", f"HARDWARE={HW}", f"BUNDLE_DIR={out}",
         f"BUNDLE_PARTS=models={parts['models']} kb={parts['kb']}")
    assert "update available: 1.0.0" in make("ota-check", f"URL={out}")
    make("ota-pull", f"URL={out}")
    make("ota-apply")
    assert "active:   1.0.0 (slot a" in make("ota-status")


# -- the service health contract -------------------------------------------------------------------
def test_http_health_contract():
    from edge.ota.service import http_health

    answers = [{"status": "loading"}, {"status": "ok", "models_version": "1.1.0"}]

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = json.dumps(answers[0] if len(answers) == 1 else answers.pop(0)).encode()
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = _Server(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    try:
        port = srv.server_address[1]
        assert http_health(port, "1.1.0", timeout_s=5, interval_s=0.05) == []  # "loading" first, then ok
        wrong = http_health(port, "1.2.0", timeout_s=1, interval_s=0.05)
        assert len(wrong) == 1 and "serves models 1.1.0, not 1.2.0" in wrong[0]
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)
    silent = http_health(port, "1.1.0", timeout_s=0.3, interval_s=0.05)  # nobody listens any more
    assert len(silent) == 1 and "did not answer" in silent[0]


def test_device_settings_come_from_update_env(tmp_path, monkeypatch):
    from edge.ota.hardware import detect_hardware
    from edge.ota.settings import device_setting

    env = tmp_path / "update.env"
    env.write_text('# comment\nFIELDCOACH_UPDATE_URL="http://updates.school.lan/fc/"\nFIELDCOACH_HARDWARE=jetson-nano-jetpack4.6\n')
    monkeypatch.setenv("FIELDCOACH_UPDATE_ENV", str(env))
    monkeypatch.delenv("FIELDCOACH_UPDATE_URL", raising=False)
    monkeypatch.delenv("FIELDCOACH_HARDWARE", raising=False)
    assert device_setting("FIELDCOACH_UPDATE_URL") == "http://updates.school.lan/fc/"
    assert detect_hardware() == "jetson-nano-jetpack4.6"
    monkeypatch.setenv("FIELDCOACH_HARDWARE", "x86_64-cpu")  # the environment wins
    assert detect_hardware() == "x86_64-cpu"
    monkeypatch.delenv("FIELDCOACH_HARDWARE")
    monkeypatch.setenv("FIELDCOACH_UPDATE_ENV", str(tmp_path / "absent.env"))
    tegra = tmp_path / "nv_tegra_release"
    tegra.write_text("# R32 (release), REVISION: 6.1, GCID: 27863751, BOARD: t210ref, EABI: aarch64\n")
    assert detect_hardware(tegra) == "jetson-nano-jetpack4.6"
    assert detect_hardware(tmp_path / "none").endswith("-cpu")
