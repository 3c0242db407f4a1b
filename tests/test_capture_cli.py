"""``fieldcoach capture`` and ``fieldcoach record``: the loop on every source, and its failure modes."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from edge.cli import main


def test_capture_sim_prints_a_line_per_attempt(capsys):
    rc = main(["capture", "--source", "sim", "--action", "sit_up", "--attempts", "1", "--seed", "3"])
    out = capsys.readouterr().out
    assert rc == 0
    lines = [ln for ln in out.splitlines() if ln.startswith("attempt ")]
    assert len(lines) == 1 and "sit_up frames" in lines[0]
    assert "1 attempts" in out.splitlines()[-1]


def test_record_then_replay_the_skeleton_file(tmp_path, capsys):
    from edge.capture.record import read_depth_recording
    from edge.skeleton.io import read_npz

    out = tmp_path / "session.npz"
    rc = main(["record", "--source", "sim", "--action", "deep_squat", "--attempts", "1", "--seed", "2",
               "--out", str(out), "--depth", "--max-frames", "120"])
    assert rc == 0, capsys.readouterr().err
    seq = read_npz(out)
    assert seq.action == "deep_squat" and seq.n_frames > 90
    ts = np.asarray(seq.meta["device_ts_usec"])
    assert ts.shape == (seq.n_frames,) and np.all(np.diff(ts) > 0)
    depth = read_depth_recording(tmp_path / "session.depth.npz")
    assert depth["depth"].shape == (120, 576, 640) and depth["calibration"].depth.width == 640
    capsys.readouterr()
    rc = main(["capture", "--source", "npz", "--file", str(out), "--action", "deep_squat"])
    text = capsys.readouterr().out
    assert rc == 0 and f"{seq.n_frames} skeleton frames" in text
    rc = main(["capture", "--source", "npz", "--file", str(out), "--action", "deep_squat", "--windows"])
    text = capsys.readouterr().out
    assert rc == 0 and text.count("attempt ") >= 1 and "(90 frames" in text


def test_bad_inputs_are_one_sentence_errors(tmp_path, capsys, shared_data, monkeypatch):
    rc = main(["capture", "--source", "mkv", "--file", str(shared_data / "azure-kinect" / "recording.mkv")])
    assert rc == 2 and "--pose-model" in capsys.readouterr().err
    rc = main(["capture", "--source", "npz", "--file", str(tmp_path / "missing.npz")])
    assert rc == 2 and "no such file" in capsys.readouterr().err
    rc = main(["capture", "--source", "npz"])
    assert rc == 2 and "--file" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "pyk4a", None)
    rc = main(["capture", "--source", "k4a"])
    assert rc == 2 and "pyk4a" in capsys.readouterr().err


def _tiny_pose_model(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hm = np.zeros((1, 17, 16, 12), np.float32)
    hm[0, :, 8, 6] = 0.9
    nodes = [helper.make_node("ReduceMean", ["image"], ["m"], keepdims=1),
             helper.make_node("Mul", ["m", "zero"], ["z"]),
             helper.make_node("Add", ["hm", "z"], ["heatmaps"])]
    inits = [numpy_helper.from_array(np.zeros((1, 1, 1, 1), np.float32), "zero"), numpy_helper.from_array(hm, "hm")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 64, 48])],
                              [helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [1, 17, 16, 12])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("keep", [1.0, 0.5, 0.93])
def test_mkv_intact_and_damaged_never_hang(tmp_path, capsys, shared_data, keep):
    data = (shared_data / "azure-kinect" / "recording.mkv").read_bytes()
    mkv = tmp_path / "rec.mkv"
    mkv.write_bytes(data[: int(len(data) * keep)])
    model = _tiny_pose_model(tmp_path / "pose.onnx")
    rc = main(["capture", "--source", "mkv", "--file", str(mkv), "--pose-model", str(model)])
    captured = capsys.readouterr()
    if keep == 1.0:
        assert rc == 0 and "0 attempts" in captured.out
    else:  # a clear sentence either way: the header is gone, or the damage is named after the intact part
        assert (rc == 2 and "byte offset" in captured.err) or (rc == 0 and "stopped early" in captured.out and "byte offset" in captured.out)
