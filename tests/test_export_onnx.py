"""ONNX export for TensorRT 8.2: opset 13, allow-listed ops only, dynamic axes, parity with PyTorch."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from export.onnx_export import (
    INPUT_NAME,
    TENSORRT_82_OPS,
    ExportError,
    _session,
    export_onnx,
    onnxruntime_latency,
    parity_with_onnxruntime,
    tensorrt_problems,
)
from models import AdaptiveGCNScorer, NetworkConfig, ScorerConfig, ablation_config, fixed_gcn_baseline_config

torch.set_num_threads(2)


def _trained_looking(cfg: NetworkConfig, seed: int = 0) -> AdaptiveGCNScorer:
    """A scorer whose B, batch-norm statistics and biases are not at their initial values."""
    torch.manual_seed(seed)
    model = AdaptiveGCNScorer(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("adaptive_adjacency"):
                p.normal_(0.0, 0.1)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    cfg = ScorerConfig()
    model = _trained_looking(cfg.network)
    res = export_onnx(model, tmp_path_factory.mktemp("onnx") / "scorer.onnx", config=cfg, version="test")
    return model, res, onnx.load(str(res.path))


def test_opset_13_and_only_tensorrt_82_ops(exported):
    _, res, model = exported
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    assert opsets == {"ai.onnx": 13}
    ops = {n.op_type for n in model.graph.node}
    assert "Einsum" not in ops
    assert ops <= set(TENSORRT_82_OPS), ops - set(TENSORRT_82_OPS)
    assert "Einsum" not in TENSORRT_82_OPS and "Reciprocal" not in TENSORRT_82_OPS
    assert tensorrt_problems(model) == []
    assert res.op_counts == {op: sum(n.op_type == op for n in model.graph.node) for op in ops}
    assert {"Conv", "MatMul", "Softmax", "Clip"} <= ops  # the graph products really are MatMuls


def test_tensorrt_check_rejects_what_the_parser_cannot_build():
    def model_of(nodes, inputs, opset=13, inits=()):
        graph = helper.make_graph(
            nodes,
            "g",
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in inputs],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            initializer=list(inits),
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])

    einsum = model_of([helper.make_node("Einsum", ["a", "b"], ["y"], equation="ij,jk->ik")], ["a", "b"])
    assert any("Einsum" in p for p in tensorrt_problems(einsum))
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3], np.ones(36, np.float32).tolist())
    conv1d = model_of([helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3])], ["x"], inits=[w])
    assert any("1D kernel" in p for p in tensorrt_problems(conv1d))
    dyn_axes = model_of([helper.make_node("Unsqueeze", ["x", "axes"], ["y"])], ["x", "axes"])
    assert any("must be a constant" in p for p in tensorrt_problems(dyn_axes))
    opset17 = model_of([helper.make_node("Relu", ["x"], ["y"])], ["x"], opset=17)
    assert any("opset 17" in p for p in tensorrt_problems(opset17))
    recip = model_of([helper.make_node("Reciprocal", ["x"], ["y"])], ["x"])
    assert any("Reciprocal" in p for p in tensorrt_problems(recip))


def test_dynamic_batch_and_time_axes(exported):
    _, res, model = exported
    (inp,) = model.graph.input
    dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert inp.name == INPUT_NAME and dims == ["batch", 3, "frames", 17]
    outs = {o.name: [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}
    assert outs["score"] == ["batch"]
    assert outs["grade_logits"] == ["batch", 5]
    assert outs["phase_scores"] == ["batch", 4]
    assert outs["phase_assignment"] == ["batch", 4, "backbone_frames"]
    assert outs["temporal_attention"] == ["batch", "backbone_frames"]
    assert outs["region_attention"] == ["batch", 5]
    sess = _session(res.path, threads=2)
    for frames in (30, 60, 90, 120):
        x = np.random.default_rng(frames).standard_normal((4, 3, frames, 17)).astype(np.float32)
        got = dict(zip(res.output_names, sess.run(None, {INPUT_NAME: x})))
        assert got["score"].shape == (4,)
        assert got["phase_assignment"].shape == (4, 4, -(-frames // 4))
        assert ((got["score"] >= 0) & (got["score"] <= 100)).all()


def test_parity_with_pytorch_within_1e4(exported):
    model, res, _ = exported
    diffs = parity_with_onnxruntime(model, res.path, frames=(30, 60, 90, 120), batches=(1, 4))
    assert set(diffs) == {(n, t) for n in (1, 4) for t in (30, 60, 90, 120)}
    worst = max(diffs.values())
    assert worst <= 1e-4, diffs


def test_metadata_names_the_model_and_its_config(exported):
    model, res, onnx_model = exported
    meta = {p.key: p.value for p in onnx_model.metadata_props}
    assert NetworkConfig.model_validate_json(meta["network_config"]) == model.config
    assert ScorerConfig.model_validate_json(meta["scorer_config"]).config_hash() == meta["scorer_config_hash"]
    assert meta["frame_stride"] == "4" and meta["version"] == "test"
    assert meta["outputs"].split(",") == list(res.output_names)
    assert meta["grade_names"] == "excellent,good,medium,pass,fail"


def test_export_leaves_training_mode_and_refuses_a_mismatched_config(tmp_path):
    model = AdaptiveGCNScorer(ablation_config("E").network).train()
    export_onnx(model, tmp_path / "e.onnx")
    assert model.training
    with pytest.raises(ExportError, match="does not describe"):
        export_onnx(model, tmp_path / "x.onnx", config=ScorerConfig())
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("variant", ["D", "baseline"])
def test_ablation_variants_export_cleanly(tmp_path, variant):
    cfg = fixed_gcn_baseline_config() if variant == "baseline" else ablation_config(variant)
    model = _trained_looking(cfg.network, seed=1)
    res = export_onnx(model, tmp_path / f"{variant}.onnx", config=cfg)
    assert "phase_scores" not in res.output_names and "score" in res.output_names
    assert tensorrt_problems(onnx.load(str(res.path))) == []
    diffs = parity_with_onnxruntime(model, res.path, frames=(30, 90), batches=(2,))
    assert max(diffs.values()) <= 1e-4


def test_latency_helper_reports_percentiles(exported):
    _, res, _ = exported
    lat = onnxruntime_latency(res.path, frames=30, runs=5, warmup=1)
    assert 0 < lat["median_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    json.dumps(lat)
