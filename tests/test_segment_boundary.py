"""The learnt boundary correction (edge.fusion.boundary, an experiment the appliance does not use):
numpy inference equals PyTorch's, training finds a planted boundary, a written model is checked
against its card, and on a fused session a refiner only moves boundaries within what the segmenter
has."""

import json
import numpy as np
import pytest

from edge.fusion.boundary import (
    FRAME_CHANNELS, N_CHANNELS, W, BoundaryNet, BoundaryRefiner, load_boundary, save_boundary,
)
from edge.fusion.boundary_train import train_net


def _planted(n, rng):
    """Windows whose boundary is where a step in the 'act' channel begins, the rule's frame anywhere
    within 6 frames of it; the other channels noise."""
    x = rng.normal(0, 0.3, (n, N_CHANNELS, 2 * W + 1)).astype(np.float32)
    x[:, 0] = 1.0
    x[:, FRAME_CHANNELS.index("offset")] = np.arange(-W, W + 1) / W
    y = W + rng.integers(-6, 7, n)
    act = FRAME_CHANNELS.index("act")
    for i in range(n):
        x[i, act] = rng.normal(0.2, 0.1, 2 * W + 1)
        x[i, act, y[i] + 1 :] += np.linspace(1, 4, 2 * W - y[i])
    return x, y


def test_training_finds_a_planted_boundary_and_numpy_matches_torch():
    import torch

    rng = np.random.default_rng(0)
    x, y = _planted(300, rng)
    net = train_net(x, y, epochs=150, hidden=8, weight_decay=1e-3, seed=1)
    xt, yt = _planted(200, rng)
    got = np.array([net.offset(f) + W for f in xt])
    assert np.mean(np.abs(got - yt) <= 1) >= 0.9, np.mean(np.abs(got - yt) <= 1)
    # a network that always answered the rule's frame would be right 1 in 13 times here
    assert np.mean(got == W) < 0.3
    # numpy inference == PyTorch's on the same weights
    tnet = torch.nn.Sequential(
        torch.nn.Conv1d(N_CHANNELS, net.w1.shape[0], 5, padding=2), torch.nn.ReLU(),
        torch.nn.Conv1d(net.w1.shape[0], net.w2.shape[0], 5, padding=4, dilation=2), torch.nn.ReLU(),
        torch.nn.Conv1d(net.w2.shape[0], 1, 1))
    with torch.no_grad():
        for p, v in zip(tnet.parameters(), (net.w1, net.b1, net.w2, net.b2, net.w3, net.b3)):
            p.copy_(torch.tensor(v))
        ref = tnet(torch.tensor(xt[:5]))[:, 0].numpy()
    np.testing.assert_allclose(np.stack([net.scores(f) for f in xt[:5]]), ref, atol=1e-4)


def test_the_offset_never_lands_on_a_frame_the_segmenter_has_not_got():
    rng = np.random.default_rng(2)
    x, y = _planted(200, rng)
    net = train_net(x, y, epochs=60, hidden=8, seed=0)
    f = x[0].copy()
    f[0, W + 1 :] = 0.0  # nothing after the rule's frame yet
    assert net.offset(f) <= 0


def _tiny_nets():
    rng = np.random.default_rng(3)
    x, y = _planted(120, rng)
    net = train_net(x, y, epochs=40, hidden=8, seed=0)
    return {"start": net, "end": net}


def test_a_written_model_is_checked_against_its_card(tmp_path):
    d = tmp_path / "segment"
    sha = save_boundary(d / "boundary.npz", _tiny_nets())
    (d / "card.json").write_text(json.dumps({"version": f"1.{sha[:8]}", "sha256": sha}))
    ref = load_boundary(d)
    assert isinstance(ref, BoundaryRefiner) and ref.version == f"1.{sha[:8]}"
    raw = bytearray((d / "boundary.npz").read_bytes())
    raw[-40] ^= 0xFF
    (d / "boundary.npz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="does not match its card"):
        load_boundary(d)
    (d / "boundary.npz").unlink()
    with pytest.raises(FileNotFoundError, match="no boundary model"):
        load_boundary(d)
    # weights made for another number of feature channels are refused in one sentence
    nets = {k: BoundaryNet(np.zeros((4, N_CHANNELS + 1, 5), np.float32), np.zeros(4, np.float32),
                           np.zeros((4, 4, 5), np.float32), np.zeros(4, np.float32),
                           np.zeros((1, 4, 1), np.float32), np.zeros(1, np.float32)) for k in ("start", "end")}
    sha = save_boundary(d / "boundary.npz", nets)
    (d / "card.json").write_text(json.dumps({"sha256": sha}))
    with pytest.raises(ValueError, match="feature channels"):
        load_boundary(d)


def test_on_a_fused_session_the_correction_stays_within_what_the_segmenter_has():
    """Free-throw session 500 fused: every boundary a refiner returns lies within W frames of the
    rules' and on a frame the segmenter already had when it emitted the attempt (the refiner here is
    trained on planted windows, so it moves boundaries freely)."""
    from edge.actions.spec import load_action
    from edge.fusion.bench import match_attempts, segment_fused
    from edge.fusion.evaluate import fuse_simulated
    from edge.fusion.segment import AttemptSegmenter

    inner = BoundaryRefiner(_tiny_nets())
    seen = []

    def spy(seg, cand, start, end, end_pose):
        s, e = inner(seg, cand, start, end, end_pose)
        seen.append((start, end, s, e, seg._offset, seg._offset + len(seg._act) - 1))
        return s, e

    fs = fuse_simulated("basketball_free_throw", 500, n_attempts=3)
    truth, det, _ = segment_fused(fs, AttemptSegmenter(load_action("basketball_free_throw"), refiner=spy))
    assert len(seen) == 3 and len(det) == 3
    for start, end, s, e, lo, hi in seen:
        assert abs(s - start) <= W and abs(e - end) <= W
        assert lo <= s < e and (e <= hi or e == end)
    assert match_attempts(truth, det, W) == 3, (truth, det)  # the same three attempts, boundaries moved
