"""Two-stage MotionDTW on synthetic jumps with known timing; templates; multi-reference voting."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.align import (
    AlignmentError,
    KeyframeResult,
    MotionDTWConfig,
    RefineConfig,
    Template,
    TemplateError,
    align,
    align_multi,
    prepare_template,
    vote,
)
from edge.align import synthetic as syn
from edge.skeleton.sequence import SkeletonSequence

SPEC = load_action("standing_long_jump")
#: The synthetic stick figure's keyframes are moments of its angle profiles, not the spec's hip
#: events (its "stabilized" is not where the hips become still), so the tests of the paper's
#: transfer run without the event refinement (edge.align.refine, tested in test_align_refine.py).
TRANSFER_ONLY = MotionDTWConfig(refine=RefineConfig(enabled=False))


def reference(name="ref", amps=None) -> Template:
    return Template(action=SPEC.id, joints=syn.template_joints(amps), fps=30.0, keyframes=syn.KEYFRAMES, name=name)


def attempts(seed: int, count: int):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        att = syn.make_attempt(
            rng,
            scale=rng.uniform(0.8, 1.25),
            warp=(rng.uniform(-0.3, 0.3), rng.uniform(-0.15, 0.15)),
            lead_in=int(rng.integers(10, 120)),
            lead_out=int(rng.integers(10, 120)),
            noise_m=0.005,
            amp_jitter=0.08,
        )
        out.append((att, SkeletonSequence.from_positions(att.joints, 30.0)))
    return out


CASES = attempts(seed=21, count=10)


def errors(result: KeyframeResult, att) -> np.ndarray:
    return np.array([abs(result.keyframes[k] - round(v)) for k, v in att.true_keyframes.items()])


def iou(a, b) -> float:
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]) + 1)
    return inter / (max(a[1], b[1]) - min(a[0], b[0]) + 1)


@pytest.mark.parametrize("stage1", ["open_end", "windows"])
def test_keyframes_recovered_within_one_frame(stage1):
    cfg = TRANSFER_ONLY.model_copy(update={"stage1": stage1})
    prepared = prepare_template(reference(), SPEC, cfg)
    for att, seq in CASES:
        r = align(prepared, seq, SPEC, cfg)
        assert set(r.keyframes) == set(SPEC.keyframe_names)
        assert errors(r, att).max() <= 1, (stage1, r.keyframes, att.true_keyframes)
        # Stage 1 isolates the action: the interval overlaps the warped motion well.
        assert iou(r.interval, att.core) >= 0.75, (stage1, r.interval, att.core)
        # The path runs from the template's first frame at t_start to its last at t_end.
        assert tuple(r.path[0]) == (0, r.interval[0]) and tuple(r.path[-1]) == (syn.TEMPLATE_FRAMES - 1, r.interval[1])
        frames = [r.keyframes[k] for k in SPEC.keyframe_names]
        assert frames == sorted(frames)


def test_one_stage_ablation_is_much_worse():
    two, one = [], []
    tpl = prepare_template(reference(), SPEC)
    for att, seq in CASES:
        two.append(errors(align(tpl, seq, SPEC), att).mean())
        r1 = align(tpl, seq, SPEC, MotionDTWConfig(stage1="none"))
        assert r1.interval == (0, seq.n_frames - 1)
        one.append(errors(r1, att).mean())
    assert np.mean(one) > 3.0 and np.mean(one) > 5 * np.mean(two), (np.mean(one), np.mean(two))


def test_prepared_template_gives_the_same_result():
    att, seq = CASES[0]
    a = align(reference(), seq, SPEC)
    b = align(prepare_template(reference(), SPEC), seq, SPEC)
    assert a.keyframes == b.keyframes and a.interval == b.interval
    np.testing.assert_array_equal(a.path, b.path)


def _reference_from_attempt(rng, name, scale, warp, amps_jitter):
    att = syn.make_attempt(rng, scale=scale, warp=warp, lead_in=0, lead_out=0, noise_m=0.002, amp_jitter=amps_jitter)
    kf = {k: int(round(v)) for k, v in att.true_keyframes.items()}
    return Template(action=SPEC.id, joints=att.joints, fps=30.0, keyframes=kf, name=name)


def test_multi_reference_voting_and_robustness_to_a_bad_reference():
    rng = np.random.default_rng(5)
    refs = [
        reference("ref_a"),
        _reference_from_attempt(rng, "ref_b", 1.1, (0.2, 0.0), 0.05),
        _reference_from_attempt(rng, "ref_c", 0.9, (-0.2, 0.1), 0.05),
    ]
    bad = dataclasses.replace(refs[2], keyframes={k: min(v + 8, refs[2].n_frames - 1) for k, v in refs[2].keyframes.items()}, name="bad")
    for att, seq in CASES[:4]:
        voted = align_multi(refs, seq, SPEC, TRANSFER_ONLY)
        assert errors(voted, att).max() <= 1
        assert len(voted.references) == 3 and all(len(v) >= 1 for v in voted.votes.values())
        # One reference with wrong keyframe labels is outvoted by the two good ones.
        robust = align_multi([refs[0], refs[1], bad], seq, SPEC, TRANSFER_ONLY)
        assert errors(robust, att).max() <= 1
        single_bad = align(bad, seq, SPEC, TRANSFER_ONLY)
        assert errors(single_bad, att).max() >= 5


def test_vote_drops_references_far_costlier_than_the_best():
    path = np.zeros((1, 2), dtype=np.int64)
    rs = [
        KeyframeResult({"a": 10, "b": 20}, (0, 30), 1.0, path, reference="r1"),
        KeyframeResult({"a": 12, "b": 21}, (0, 30), 1.5, path, reference="r2"),
        KeyframeResult({"a": 40, "b": 60}, (0, 30), 9.0, path, reference="r3"),
    ]
    v = vote(rs, cost_ratio=2.0)
    assert v.votes == {"a": (10, 12), "b": (20, 21)}
    assert v.keyframes == {"a": 11, "b": 21}  # medians 11 and 20.5 (half rounds up)
    assert v.reference == "r1" and v.cost == 1.0
    assert vote(rs, cost_ratio=10.0).keyframes == {"a": 12, "b": 21}


def test_misuse_is_refused():
    att, seq = CASES[0]
    with pytest.raises(AlignmentError, match="not 'standing_long_jump'"):
        align(dataclasses.replace(reference(), action="sit_up"), seq, SPEC)
    with pytest.raises(AlignmentError, match="fps"):
        align(reference(), dataclasses.replace(seq, fps=60.0), SPEC)
    with pytest.raises(AlignmentError, match="exactly the keyframes"):
        align(dataclasses.replace(reference(), keyframes={"start": 1}), seq, SPEC)
    swapped = dict(syn.KEYFRAMES, takeoff=60)
    with pytest.raises(AlignmentError, match="temporal order"):
        align(dataclasses.replace(reference(), keyframes=swapped), seq, SPEC)
    with pytest.raises(AlignmentError, match="at least one"):
        align_multi([], seq, SPEC)


def test_template_roundtrip_and_refusals(tmp_path):
    t = reference("coach_demo")
    j = t.joints.copy()
    j[3, 9] = np.nan  # a missing joint survives the round trip
    t = dataclasses.replace(t, joints=j)
    p = tmp_path / "slj.npz"
    t.save(p)
    back = Template.load(p)
    assert back.action == t.action and back.name == "coach_demo" and back.fps == 30.0
    assert back.keyframes == t.keyframes
    np.testing.assert_array_equal(back.joints, t.joints)
    assert [f.name for f in tmp_path.iterdir()] == ["slj.npz"]  # no temp file left behind

    with np.load(p) as z:
        data = dict(z)
    data["format_version"] = np.int64(99)
    np.savez(tmp_path / "v99.npz", **data)
    with pytest.raises(TemplateError, match="version 99"):
        Template.load(tmp_path / "v99.npz")
    del data["keyframe_frames"]
    data["format_version"] = np.int64(1)
    np.savez(tmp_path / "nokf.npz", **data)
    with pytest.raises(TemplateError, match="lacks keyframe_frames"):
        Template.load(tmp_path / "nokf.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(TemplateError, match="not a readable template"):
        Template.load(tmp_path / "junk.npz")
    with pytest.raises(TemplateError, match="no such"):
        Template.load(tmp_path / "missing.npz")
    with pytest.raises(TemplateError, match="outside"):
        Template(action=SPEC.id, joints=t.joints, fps=30.0, keyframes={"start": 90})
    with pytest.raises(TemplateError, match="shape"):
        Template(action=SPEC.id, joints=np.zeros((5, 17)), fps=30.0, keyframes={"start": 0})


def test_bench_reports_timings_and_finds_the_keyframes():
    from edge.align.bench import bench_align

    res = bench_align(repeats=3, peers=False)
    assert res["machine"]["cores"] >= 1 and res["machine"]["cpu"]
    w = res["work"]
    assert (w["template_frames"], w["input_frames"], w["features_per_frame"]) == (90, 300, 216)
    for stage1 in ("open_end", "windows"):
        row = res[f"motiondtw_{stage1}_total"]
        assert 0 < row["median_ms"] <= row["p99_ms"]
        for k, v in w["true_keyframes"].items():
            assert abs(w[f"keyframes_{stage1}"][k] - v) <= 1.0
