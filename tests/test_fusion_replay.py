"""The replay of recorded pre-smoothing streams (edge.fusion.replay) reproduces the fused session."""

import pickle

import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.fusion.bench import segment_fused
from edge.fusion.evaluate import fuse_simulated
from edge.fusion.replay import main, record_session, replay
from edge.fusion.segment import AttemptSegmenter


def test_replay_with_the_pipelines_settings_reproduces_the_fused_session(tmp_path):
    rec = record_session("deep_squat", 300, n_attempts=2)
    truth, det, errors = replay(rec)
    fs = fuse_simulated("deep_squat", 300, n_attempts=2)
    want_truth, want_det, _ = segment_fused(fs, AttemptSegmenter(load_action("deep_squat")))
    assert truth == want_truth and det == want_det and len(det) == 2
    assert np.isclose(1000 * errors.mean(), fs.mpjpe_mm(), atol=0.01)
    # another smoother gives other joints: the settings reach the replay
    other = replay(rec, smooth={"window": 5, "order": 2, "long_window": None})[2]
    assert not np.isclose(other.mean(), errors.mean(), rtol=1e-6)
    # a record from the recorder before the pipeline's settings were kept: one sentence, not a KeyError
    old = {k: v for k, v in rec.items() if k != "config"}
    with pytest.raises(ValueError, match="older recorder .* record it again"):
        replay(old)
    path = tmp_path / "deep_squat-300.pkl"
    path.write_bytes(pickle.dumps(old))
    with pytest.raises(SystemExit, match="deep_squat-300.pkl: .*record it again"):
        main(["run", "--records", str(tmp_path)])
