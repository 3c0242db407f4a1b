"""The scorer at run time: verified bundles, backends (TensorRT through a fake module), golden
parity, backend logging, batching, and the analysis report's score fields."""

from __future__ import annotations

import json
import logging
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from edge.score import BackendUnavailable, ModelFileError, Scorer, ScoringQueue, load_bundle, open_backend
from edge.score.attach import attach_score
from edge.score.backends import TensorRTBackend
from edge.score.bundle import write_card
from edge.score.preprocess import InputSpec
from edge.sim import simulate

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)


def build_tiny_bundle(root: Path, action: str = "sit_up") -> Path:
    """An untrained width-0.1 scorer exported as a complete bundle (ONNX, golden samples, card)."""
    import onnxruntime as ort

    from export.onnx_export import export_onnx
    from models.agcn import AdaptiveGCNScorer
    from models.card import build_card
    from models.train import variant_config

    torch.manual_seed(0)
    spec = InputSpec(frames=16)
    cfg = variant_config("full", 0.1, spec.channels, 80.0)
    model = AdaptiveGCNScorer(cfg.network).eval()
    d = root / action
    d.mkdir(parents=True)
    res = export_onnx(model, d / "scorer.onnx", config=cfg, example_frames=16, version="test")
    gx = np.random.default_rng(0).normal(size=(3, 4, 16, 17)).astype(np.float32)
    gs = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"]).run(["score"], {"skeleton": gx})[0]
    np.savez(d / "golden.npz", x=gx, score=gs)
    meta = {"data": {"seed": 5, "samples": 10, "split": [6, 2, 2]}, "settings": {"epochs": 0}, "test_metrics": {}}
    card = build_card(action, res.sha256, cfg, spec, meta, {"params": 0}, "test")
    write_card(d / "card.json", card)
    return root


@pytest.fixture(scope="module")
def bundle_root(tmp_path_factory) -> Path:
    return build_tiny_bundle(tmp_path_factory.mktemp("models"))


def _copy(bundle_root: Path, tmp_path: Path) -> Path:
    shutil.copytree(bundle_root, tmp_path / "m")
    return tmp_path / "m"


def test_scorer_scores_an_attempt(bundle_root, caplog):
    with caplog.at_level(logging.INFO, logger="fieldcoach.score"):
        scorer = Scorer.load(bundle_root, "sit_up")
    assert "scorer backend: ort-cpu" in caplog.text  # the choice is logged
    assert scorer.parity < 1e-3
    r = scorer.score(simulate("sit_up", 3).sequence)
    assert 0.0 <= r.score <= 100.0
    bands = dict(scorer.grades)
    assert r.grade == next((g for g, lo in bands.items() if r.score >= lo), "fail")
    assert list(r.phase_scores) == ["setup", "curl_up", "top", "lowering"]
    assert r.model["sha256"] == load_bundle(bundle_root / "sit_up").sha256
    assert sum(r.grade_probabilities.values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda d: d.joinpath("scorer.onnx").write_bytes(d.joinpath("scorer.onnx").read_bytes()[:-7] + b"garbage"), "sha256"),
        (lambda d: d.joinpath("card.json").write_text(d.joinpath("card.json").read_text().replace('"sha256": "', '"sha256": "0')), "sha256"),
        (lambda d: d.joinpath("card.json").write_text("{not json"), "not valid JSON"),
        (lambda d: d.joinpath("scorer.onnx").unlink(), "missing"),
        (lambda d: d.joinpath("golden.npz").write_bytes(b"PK\x03\x04 broken"), "cannot be read"),
    ],
)
def test_a_damaged_bundle_fails_with_one_sentence(bundle_root, tmp_path, damage, words):
    root = _copy(bundle_root, tmp_path)
    damage(root / "sit_up")
    with pytest.raises(ModelFileError) as e:
        Scorer.load(root, "sit_up")
    msg = str(e.value)
    assert words in msg and "\n" not in msg and msg.endswith(".")


def test_golden_parity_is_checked_on_load(bundle_root, tmp_path):
    root = _copy(bundle_root, tmp_path)
    g = root / "sit_up" / "golden.npz"
    with np.load(g) as z:
        x, s = z["x"], z["score"]
    np.savez(g, x=x, score=s + 3.0)
    with pytest.raises(ModelFileError, match="golden"):
        Scorer.load(root, "sit_up")
    with pytest.raises(ModelFileError, match="no scorer model"):
        Scorer.load(root, "deep_squat")


def test_cuda_backend_refuses_loudly_without_cuda(bundle_root):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA")
    with pytest.raises(BackendUnavailable, match="CUDAExecutionProvider"):
        open_backend(bundle_root / "sit_up" / "scorer.onnx", "ort-cuda")
    with pytest.raises(ValueError, match="unknown scorer backend"):
        open_backend(bundle_root / "sit_up" / "scorer.onnx", "gpu")


class _FakeCuda:
    """pycuda.driver stand-in: device memory is a dict of numpy arrays."""

    def __init__(self):
        self.memory: dict[int, np.ndarray] = {}
        self.copies = 0

    def pagelocked_empty(self, size, dtype):
        return np.zeros(size, dtype)

    def mem_alloc(self, nbytes):
        ptr = len(self.memory) + 1000
        self.memory[ptr] = np.zeros(nbytes // 4, np.float32)
        return ptr

    def memcpy_htod_async(self, device, host, stream):
        self.memory[device][: host.size] = host
        self.copies += 1

    def memcpy_dtoh_async(self, host, device, stream):
        host[:] = self.memory[device][: host.size]
        self.copies += 1

    class Stream:
        handle = 7

        def synchronize(self):
            pass


def _fake_tensorrt(cuda: _FakeCuda):
    """A TensorRT 8.2-like module: an engine with 2 profiles of bindings skeleton -> score, grade_logits."""
    names = ["skeleton", "score", "grade_logits"]

    class Context:
        def __init__(self):
            self.shape = None

        def set_binding_shape(self, i, shape):
            self.shape = shape
            return 30 <= shape[2] <= 120 or shape[2] == 16

        def get_binding_shape(self, i):
            n = self.shape[0]
            return {1: (n,), 2: (n, 5)}[i]

        def execute_async_v2(self, bindings, stream_handle):
            assert len(bindings) == 6 and bindings[3:] == [0, 0, 0]  # profile 1's bindings unused
            n = self.shape[0]
            x = cuda.memory[bindings[0]][: int(np.prod(self.shape))].reshape(self.shape)
            cuda.memory[bindings[1]][:n] = 50.0 + x.mean(axis=(1, 2, 3))
            cuda.memory[bindings[2]][: n * 5] = np.tile(np.arange(5, dtype=np.float32), n)

    class Engine:
        num_bindings = 6
        num_optimization_profiles = 2

        def create_execution_context(self):
            return Context()

        def get_binding_name(self, i):
            return names[i % 3]

        def binding_is_input(self, i):
            return i % 3 == 0

        def get_binding_dtype(self, i):
            return "float32"

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            return Engine() if data == b"fake-engine" else None

    class Logger:
        WARNING = 1

        def __init__(self, level):
            pass

    return types.SimpleNamespace(Logger=Logger, Runtime=Runtime, nptype=lambda dt: np.float32)


@pytest.fixture
def fake_trt(monkeypatch):
    cuda = _FakeCuda()
    pycuda = types.ModuleType("pycuda")
    driver = types.ModuleType("pycuda.driver")
    for name in ("pagelocked_empty", "mem_alloc", "memcpy_htod_async", "memcpy_dtoh_async"):
        setattr(driver, name, getattr(cuda, name))
    driver.Stream = _FakeCuda.Stream
    pycuda.driver = driver
    monkeypatch.setitem(sys.modules, "pycuda", pycuda)
    monkeypatch.setitem(sys.modules, "pycuda.driver", driver)
    monkeypatch.setitem(sys.modules, "pycuda.autoinit", types.ModuleType("pycuda.autoinit"))
    monkeypatch.setitem(sys.modules, "tensorrt", _fake_tensorrt(cuda))
    return cuda


def test_tensorrt_backend_moves_buffers_through_pycuda(fake_trt, tmp_path):
    engine = tmp_path / "scorer.engine"
    engine.write_bytes(b"fake-engine")
    be = TensorRTBackend(engine)
    x = np.random.default_rng(0).normal(size=(4, 4, 90, 17)).astype(np.float32)
    out = be.run(x)
    assert set(out) == {"score", "grade_logits"} and out["grade_logits"].shape == (4, 5)
    assert np.allclose(out["score"], 50.0 + x.mean(axis=(1, 2, 3)), atol=1e-5)
    assert fake_trt.copies == 3  # one upload, two downloads
    small = be.run(x[:1, :, :30])
    assert small["score"].shape == (1,)
    with pytest.raises(ValueError, match="optimization profiles"):
        be.run(np.zeros((1, 4, 200, 17), np.float32))
    engine.write_bytes(b"other version")
    with pytest.raises(BackendUnavailable, match="could not load"):
        TensorRTBackend(engine)


def test_auto_prefers_tensorrt_and_warns_when_it_cannot_load(bundle_root, tmp_path, fake_trt, monkeypatch, caplog):
    root = _copy(bundle_root, tmp_path)
    (root / "sit_up" / "scorer.engine").write_bytes(b"fake-engine")
    be = open_backend(root / "sit_up" / "scorer.onnx", "auto", engine_path=root / "sit_up" / "scorer.engine")
    assert be.name == "tensorrt"
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import fails
    with caplog.at_level(logging.INFO, logger="fieldcoach.score"):
        be = open_backend(root / "sit_up" / "scorer.onnx", "auto", engine_path=root / "sit_up" / "scorer.engine")
    assert be.name == "ort-cpu"
    assert any(r.levelno == logging.WARNING and "TensorRT" in r.getMessage() for r in caplog.records)


def test_queue_batches_waiting_attempts(bundle_root):
    scorer = Scorer.load(bundle_root, "sit_up")
    seqs = [simulate("sit_up", i).sequence for i in range(5)]
    single = [scorer.score(s).score for s in seqs]
    q = ScoringQueue(scorer, max_batch=4, max_wait_ms=300)
    futures = [q.submit(s) for s in seqs]
    got = [f.result(timeout=30).score for f in futures]
    q.close()
    assert np.allclose(got, single, atol=1e-3)
    assert max(q.batch_sizes) > 1 and max(q.batch_sizes) <= 4 and sum(q.batch_sizes) == 5


def test_report_gets_score_or_says_why(bundle_root, tmp_path):
    from edge.report import empty_report

    seq = simulate("sit_up", 4).sequence
    rep = empty_report("sit_up", seq.n_frames, seq.fps)
    attach_score(rep, seq, "sit_up", bundle_root)
    assert 0 <= rep["score"] <= 100 and rep["grade"] in ("excellent", "good", "medium", "pass", "fail")
    assert set(rep["phase_scores"]) == {"setup", "curl_up", "top", "lowering"}
    assert rep["model"]["sha256"] == load_bundle(bundle_root / "sit_up").sha256 and "score" in rep["timings_ms"]
    root = _copy(bundle_root, tmp_path)
    (root / "sit_up" / "scorer.onnx").write_bytes(b"corrupt")
    rep = empty_report("sit_up", seq.n_frames, seq.fps)
    attach_score(rep, seq, "sit_up", root)
    assert rep["score"] is None and rep["model"] is None
    assert any("sha256" in n for n in rep["not_computed"])


def test_shipped_models_score_from_a_fresh_clone():
    """Every action has a committed bundle whose card, sha256 and golden samples check out."""
    from edge.actions.spec import ACTION_IDS

    for action in ACTION_IDS:
        scorer = Scorer.load(REPO / "models" / "shipped", action)
        card = scorer.bundle.card
        assert card["data"]["seed"] is not None and card["training"]["epochs"] >= 1
        assert card["metrics"]["test_split"]["n"] >= 100
        r = scorer.score(simulate(action, 11).sequence)
        assert 0.0 <= r.score <= 100.0 and r.phase_scores
        json.dumps(card)


def test_the_shipped_version_follows_the_weights_not_only_the_configuration():
    from models.agcn import AdaptiveGCNScorer
    from models.card import weights_fingerprint
    from models.train import variant_config

    cfg = variant_config("full", 0.1, 4, 80.0)
    torch.manual_seed(0)
    a = AdaptiveGCNScorer(cfg.network)
    torch.manual_seed(0)
    b = AdaptiveGCNScorer(cfg.network)
    assert weights_fingerprint(a) == weights_fingerprint(b)  # same weights, same version
    with torch.no_grad():
        next(b.parameters()).view(-1)[0] += 1e-3
    assert weights_fingerprint(a) != weights_fingerprint(b)  # retrained: a new version
    assert len(weights_fingerprint(a)) == 8
