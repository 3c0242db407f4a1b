"""The adaptive GCN scorer: shapes, Eq. 5-8 and 13-17 properties, Table 5 ablations, losses, counts."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest
import torch

from edge.skeleton.joints import adjacency, joint_index, normalized_adjacency
from models import (
    AdaptiveGCNScorer,
    NetworkConfig,
    ScorerConfig,
    ablation_config,
    fixed_gcn_baseline_config,
    input_from_joints,
    ordered_phase_segments,
)
from models.agcn import AdaptiveGraphConv, CausalDepthwiseConv, SpatialAttention, TemporalAttention
from models.complexity import flop_counts, parameter_counts
from models.losses import (
    contrastive_loss,
    grade_targets,
    local_consistency_loss,
    mse_loss,
    ranking_loss,
    smoothness_loss,
    total_loss,
)

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def scorer() -> AdaptiveGCNScorer:
    torch.manual_seed(0)
    return AdaptiveGCNScorer(NetworkConfig()).eval()


def _gcns(model: AdaptiveGCNScorer) -> list[AdaptiveGraphConv]:
    return [m for m in model.modules() if isinstance(m, AdaptiveGraphConv)]


@pytest.mark.parametrize("frames,batch", [(30, 1), (47, 3), (90, 2), (120, 4)])
def test_output_shapes_and_distributions(scorer, frames, batch):
    x = torch.randn(batch, 3, frames, 17)
    with torch.no_grad():
        out = scorer(x)
    lp = scorer.config.output_frames(frames)
    assert lp == -(-frames // 4)
    assert out.score.shape == (batch,)
    assert out.grade_logits.shape == (batch, 5)
    assert out.region_attention.shape == (batch, 5)
    assert out.embedding.shape == (batch, 128)
    assert out.phase_scores.shape == (batch, 4)
    assert out.phase_assignment.shape == (batch, 4, lp)
    assert out.temporal_attention.shape == (batch, lp)
    assert out.bias_correction.shape == (batch,)
    torch.testing.assert_close(out.phase_assignment.sum(1), torch.ones(batch, lp))
    torch.testing.assert_close(out.temporal_attention.sum(1), torch.ones(batch))
    torch.testing.assert_close(out.region_attention.sum(1), torch.ones(batch))
    assert bool((out.bias_correction.abs() <= 10.0).all())
    # Eq. 17 assembled from its parts (no clip active for an untrained model near score_init).
    torch.testing.assert_close(
        out.score_unclipped,
        scorer.head.score_layer(out.embedding).squeeze(-1) + out.bias_correction + out.phase_scores.mean(1),
    )


def test_batch_items_are_independent_in_eval(scorer):
    x = torch.randn(3, 3, 60, 17)
    with torch.no_grad():
        full = scorer(x).score
        single = torch.stack([scorer(x[i : i + 1]).score[0] for i in range(3)])
    torch.testing.assert_close(full, single, atol=1e-4, rtol=0)


def test_adaptive_adjacency_starts_at_zero_and_receives_gradients():
    torch.manual_seed(1)
    model = AdaptiveGCNScorer(NetworkConfig()).train()
    gcns = _gcns(model)
    assert len(gcns) == 6
    names = dict(model.named_parameters())
    for i, g in enumerate(gcns):
        assert f"backbone.blocks.{i}.gcn.adaptive_adjacency" in names
        assert g.adaptive_adjacency.shape == (17, 17)
        assert bool((g.adaptive_adjacency == 0).all())
    model(torch.randn(2, 3, 40, 17)).score.sum().backward()
    for g in gcns:
        assert g.adaptive_adjacency.grad is not None
        assert float(g.adaptive_adjacency.grad.abs().sum()) > 0.0
        # B reaches pairs with no physical edge: the left wrist -> right ankle entry learns too.
        assert float(g.adaptive_adjacency.grad[joint_index("left_wrist"), joint_index("right_ankle")].abs()) > 0.0


def test_physical_adjacency_is_the_coco17_buffer(scorer):
    buffers = dict(scorer.named_buffers())
    params = dict(scorer.named_parameters())
    expected = torch.from_numpy(adjacency(self_loops=True))
    for i, g in enumerate(_gcns(scorer)):
        assert f"backbone.blocks.{i}.gcn.physical_adjacency" in buffers
        assert f"backbone.blocks.{i}.gcn.physical_adjacency" not in params
        torch.testing.assert_close(g.physical_adjacency, expected)
    a = _gcns(scorer)[0].physical_adjacency
    assert a[joint_index("left_shoulder"), joint_index("left_elbow")] == 1
    assert a[joint_index("left_wrist"), joint_index("right_ankle")] == 0


def test_graph_without_attention_at_init_is_the_normalized_adjacency():
    gcn = AdaptiveGraphConv(8, 8, adaptive=True, attention=False)
    g = gcn.graph(torch.randn(2, 8, 10, 17))
    torch.testing.assert_close(g[0], torch.from_numpy(normalized_adjacency(self_loops=True)), atol=1e-4, rtol=0)
    with torch.no_grad():
        gcn.adaptive_adjacency[0, 16] = 0.5  # a learned nose -> right ankle link
    g = gcn.graph(torch.randn(1, 8, 10, 17))[0]
    a = torch.from_numpy(adjacency(self_loops=True))
    a[0, 16] += 0.5
    d = (a.sum(1) + 1e-4) ** -0.5
    torch.testing.assert_close(g, d[:, None] * a * d[None, :], atol=1e-6, rtol=0)


def test_spatial_attention_is_the_mlp_of_concatenated_joint_pairs():
    torch.manual_seed(2)
    att = SpatialAttention(6)
    x = torch.randn(2, 6, 5, 17)
    m = att(x)
    h = x.mean(2).transpose(1, 2)  # (N, V, C)
    w1 = torch.cat([att.first_i.weight, att.first_j.weight], dim=1)  # (H, 2C)
    ref = torch.empty(2, 17, 17)
    for n in range(2):
        for i in range(17):
            for j in range(17):
                pair = torch.cat([h[n, i], h[n, j]])
                hidden = torch.relu(w1 @ pair + att.first_i.bias)
                ref[n, i, j] = torch.sigmoid(att.second.weight[0] @ hidden + att.second.bias[0])
    torch.testing.assert_close(m, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (5, 2), (9, 4), (1, 1)])
def test_multiscale_branch_is_causal_with_its_dilation(kernel, dilation):
    conv = CausalDepthwiseConv(2, kernel, dilation)
    with torch.no_grad():
        conv.conv.weight.fill_(1.0)
        conv.conv.bias.zero_()
    x = torch.zeros(1, 2, 50, 1)
    x[0, :, 10, 0] = 1.0  # impulse at frame 10
    y = conv(x)[0, 0, :, 0]
    assert y.shape == (50,)
    hit = set(torch.nonzero(y).flatten().tolist())
    assert hit == {10 + dilation * j for j in range(kernel)}  # Eq. 6: Y[n] sees X[n - d j] only


def test_table5_ablations_change_the_structure_as_the_paper_says():
    full = AdaptiveGCNScorer(ScorerConfig().network)
    n_full = sum(p.numel() for p in full.parameters())
    for block in full.backbone.blocks:
        assert [(b.kernel, b.dilation) for b in block.multiscale.branches] == [(3, 1), (5, 2), (9, 4), (1, 1)]

    a = AdaptiveGCNScorer(ablation_config("A").network)
    assert not any("adaptive_adjacency" in n for n, _ in a.named_parameters())
    assert sum(p.numel() for p in a.parameters()) == n_full - 6 * 17 * 17

    b = AdaptiveGCNScorer(ablation_config("B").network)
    for block in b.backbone.blocks:
        assert [(br.kernel, br.dilation) for br in block.multiscale.branches] == [(3, 1)]

    c_cfg = ablation_config("C").network
    c = AdaptiveGCNScorer(c_cfg)
    assert not any(isinstance(m, (SpatialAttention, TemporalAttention)) for m in c.modules())
    out_c = c.eval()(torch.randn(1, 3, 30, 17))
    assert out_c.temporal_attention is None

    d_cfg = ablation_config("D")
    d = AdaptiveGCNScorer(d_cfg.network).eval()
    assert d.head.phase is None and d_cfg.loss.lambda_local == 0.0
    out_d = d(torch.randn(1, 3, 30, 17))
    assert out_d.phase_scores is None and out_d.phase_assignment is None
    assert 0.0 <= float(out_d.score.detach()[0]) <= 100.0

    e_cfg = ablation_config("E")
    e = AdaptiveGCNScorer(e_cfg.network).eval()
    assert e.head.bias_branch is None and e_cfg.loss.lambda_contrast == 0.0
    assert e(torch.randn(1, 3, 30, 17)).bias_correction is None

    f_cfg = ablation_config("f")
    assert f_cfg.network == ScorerConfig().network and f_cfg.loss.lambda_rank == 0.0

    base = fixed_gcn_baseline_config()
    net = base.network
    assert (net.adaptive_graph, net.attention, net.phase_head, net.bias_correction) == (False, False, False, False)
    assert len(net.temporal_branches) == 1
    assert (base.loss.lambda_rank, base.loss.lambda_contrast, base.loss.lambda_local) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="unknown ablation"):
        ablation_config("G")


def test_config_is_strict():
    with pytest.raises(pydantic.ValidationError):
        NetworkConfig(unknown_key=1)
    with pytest.raises(pydantic.ValidationError):
        NetworkConfig(channels=(64, 64), strides=(1, 2, 1))
    with pytest.raises(pydantic.ValidationError):
        NetworkConfig(strides=(1, 1, 3, 1, 2, 1))
    with pytest.raises(pydantic.ValidationError):
        NetworkConfig(regions=({"name": "arm", "joints": ("left_elbow", "left_hand")},))
    with pytest.raises(pydantic.ValidationError, match="lambda_local"):
        ScorerConfig(network={"phase_head": False})
    for name, field in NetworkConfig.model_fields.items():
        assert field.description, name
    assert NetworkConfig().block_channels() == (64, 64, 128, 128, 256, 256)
    assert NetworkConfig(width_multiplier=0.5).block_channels() == (32, 32, 64, 64, 128, 128)


def test_score_is_clipped_to_0_100():
    torch.manual_seed(3)
    model = AdaptiveGCNScorer(NetworkConfig()).eval()
    with torch.no_grad():
        model.head.score_layer.weight.mul_(1e4)
        out = model(torch.randn(8, 3, 30, 17) * 5.0)
    assert bool(((out.score >= 0.0) & (out.score <= 100.0)).all())
    assert bool(((out.score_unclipped < 0.0) | (out.score_unclipped > 100.0)).any())  # the clip was exercised


def test_one_optimisation_step_lowers_the_mse():
    torch.manual_seed(4)
    model = AdaptiveGCNScorer(NetworkConfig()).train()
    x = torch.randn(4, 3, 32, 17)
    y = torch.tensor([20.0, 45.0, 70.0, 95.0])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = mse_loss(model(x).score, y)
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = mse_loss(model(x).score, y)
    assert float(after) < float(before.detach())


def test_bad_input_is_refused(scorer):
    with pytest.raises(ValueError, match="must be"):
        scorer(torch.randn(1, 3, 30, 16))
    with pytest.raises(ValueError, match="frames"):
        scorer(torch.randn(1, 3, 4, 17))
    x = torch.randn(1, 3, 30, 17)
    x[0, 0, 5, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        scorer(x)
    joints = np.random.default_rng(0).normal(size=(30, 17, 3)).astype(np.float32)
    arr = input_from_joints(joints, confidence=np.ones((30, 17), np.float32))
    assert arr.shape == (4, 30, 17) and np.array_equal(arr[:3, 7, 2], joints[7, 2])
    joints[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        input_from_joints(joints)


def test_ordered_phase_segments_follow_the_assignment():
    p = np.full((4, 10), 0.01)
    truth = [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]
    for n, q in enumerate(truth):
        p[q, n] = 0.97
    p[0, 6] = 0.9  # one out-of-order frame must not break the ordering
    seg = ordered_phase_segments(p, frame_stride=4, n_frames=38)
    assert seg.tolist() == [[0, 7], [8, 19], [20, 27], [28, 37]]
    with pytest.raises(ValueError):
        ordered_phase_segments(p[:, :3], 4, 12)


def test_losses_follow_their_equations():
    y = torch.tensor([10.0, 50.0, 90.0])
    assert float(mse_loss(torch.tensor([12.0, 50.0, 86.0]), y)) == pytest.approx((4 + 0 + 16) / 3)
    assert float(ranking_loss(torch.tensor([10.0, 50.0, 90.0]), y, margin=1.0)) == 0.0
    # reversed order: pairs (50>10), (90>10), (90>50) each cost margin - (yhat_i - yhat_j)
    rev = ranking_loss(torch.tensor([90.0, 50.0, 10.0]), y, margin=1.0)
    assert float(rev) == pytest.approx((41 + 81 + 41) / 6)
    ps = torch.tensor([[60.0, 70.0, 70.0, 50.0]])
    assert float(local_consistency_loss(ps)) == pytest.approx((100 + 0 + 400) / 3)
    one_hot = torch.zeros(1, 4, 5)
    for n, q in enumerate([0, 1, 1, 2, 3]):
        one_hot[0, q, n] = 1.0
    assert float(smoothness_loss(ps, one_hot)) == pytest.approx((100 + 0 + 0 + 400) / 4)
    emb = torch.tensor([[0.0, 0.0], [0.1, 0.0], [3.0, 0.0]])
    scores = torch.tensor([50.0, 52.0, 90.0])
    assert float(contrastive_loss(emb, scores)) == 0.0  # negatives far beyond the margin
    close_negative = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, 0.0]])
    assert float(contrastive_loss(close_negative, scores)) > 0.0
    assert float(contrastive_loss(emb, torch.tensor([50.0, 50.0, 50.0]))) == 0.0  # no negatives at all
    assert grade_targets(torch.tensor([95.0, 85.0, 75.0, 65.0, 10.0, 90.0])).tolist() == [0, 1, 2, 3, 4, 0]


def test_total_loss_uses_the_configured_terms():
    torch.manual_seed(5)
    model = AdaptiveGCNScorer(NetworkConfig()).train()
    out = model(torch.randn(4, 3, 30, 17))
    y = torch.tensor([30.0, 52.0, 55.0, 90.0])
    total, terms = total_loss(out, y, ScorerConfig().loss)
    assert set(terms) == {"mse", "rank", "local", "smooth", "contrast", "grade"}
    assert float(total.detach()) == pytest.approx(
        terms["mse"] + 0.5 * terms["rank"] + 0.2 * (terms["local"] + terms["smooth"]) + 0.1 * terms["contrast"] + terms["grade"],
        rel=1e-5,
    )
    total.backward()
    d = ablation_config("D")
    out_d = AdaptiveGCNScorer(d.network).train()(torch.randn(4, 3, 30, 17))
    _, terms_d = total_loss(out_d, y, d.loss)
    assert "local" not in terms_d and "smooth" not in terms_d
    with pytest.raises(ValueError, match="phase head"):
        total_loss(out_d, y, ScorerConfig().loss)


def test_complexity_counts(scorer):
    params = parameter_counts(scorer)
    assert params["total"] == sum(p.numel() for p in scorer.parameters())
    b = sum(g.adaptive_adjacency.numel() for g in _gcns(scorer))
    assert b == 6 * 289
    f90 = flop_counts(scorer, 90)
    f30 = flop_counts(scorer, 30)
    assert f90["total"] == sum(v for k, v in f90.items() if k != "total")
    assert 2.5 < f90["total"] / f30["total"] < 3.5  # linear in T, up to rounding of the strides
    # the per-joint temporal conv: 2 * 9 C^2 MACs per joint and output frame, block 1 at 90 frames
    assert f90["per-joint temporal convolution"] > 2 * 9 * 64 * 64 * 17 * 90
