"""Skeleton files: round trip, byte-reproducibility, and one-sentence rejection of bad files."""

from __future__ import annotations

import numpy as np
import pytest

from edge.skeleton import joints as J
from edge.skeleton.io import SkeletonFileError, read_npz, write_npz
from edge.skeleton.sequence import SkeletonSequence, bone_lengths
from tests.conftest import make_sequence


def test_coco17_contract():
    assert J.N_JOINTS == 17
    assert J.JOINT_NAMES[0] == "nose" and J.JOINT_NAMES[16] == "right_ankle"
    assert J.joint_index("left_hip") == 11
    a = J.adjacency()
    assert a.shape == (17, 17) and (a == a.T).all() and a.trace() == 0
    assert int(a.sum()) == 2 * len(J.EDGES) == 36
    # The skeleton graph is connected: every joint reachable from the nose.
    reach = {0}
    for _ in range(17):
        reach |= {j for i in list(reach) for j in np.flatnonzero(a[i])}
    assert reach == set(range(17))
    an = J.normalized_adjacency()
    assert np.allclose(an, an.T) and np.all(np.linalg.eigvalsh(an) <= 1 + 1e-6)
    with pytest.raises(ValueError, match="unknown joint"):
        J.joint_index("left_toe")


def test_round_trip_and_reproducible_bytes(tmp_path, seq):
    seq = SkeletonSequence(**{**seq.__dict__, "meta": {"truth": np.str_('{"a": 1}')}})
    p1, p2 = tmp_path / "a.npz", tmp_path / "b.npz"
    write_npz(p1, seq)
    write_npz(p2, seq)
    assert p1.read_bytes() == p2.read_bytes()
    back = read_npz(p1)
    assert back.joints.dtype == np.float32 and back.t.dtype == np.float64
    np.testing.assert_array_equal(back.joints, seq.joints)
    np.testing.assert_array_equal(back.t, seq.t)
    assert back.action == "standing_long_jump" and back.subject == "t01"
    assert back.fps == pytest.approx(30.0)
    assert str(back.meta["truth"]) == '{"a": 1}'
    assert not list(tmp_path.glob(".*.tmp")), "atomic write left a temp file"


def test_missing_joints_round_trip(tmp_path, seq):
    j = seq.joints.copy()
    c = seq.confidence.copy()
    j[5:9, 0] = np.nan
    c[5:9, 0] = 0.0
    s = SkeletonSequence(j, c, seq.t, seq.fps)
    write_npz(tmp_path / "m.npz", s)
    back = read_npz(tmp_path / "m.npz")
    assert np.isnan(back.joints[5:9, 0]).all() and (back.confidence[5:9, 0] == 0).all()
    assert back.visible()[5:9, 0].sum() == 0 and back.visible()[10, 0]


def _save_raw(path, **arrays):
    np.savez(path, **arrays)
    return path


def _arrays(n=30):
    s = make_sequence(n)
    return {"joints": s.joints, "confidence": s.confidence, "t": s.t}


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda a: a.update(joints=a["joints"][:, :15]), "shape (T, 17, 3)"),
        (lambda a: a.update(joints=a["joints"].astype(np.float64)), "must be float32"),
        (lambda a: a.update(t=a["t"].astype(np.float32)), "float64"),
        (lambda a: a["t"].__setitem__(3, np.nan), "NaN or infinite timestamps"),
        (lambda a: a["t"].__setitem__(3, a["t"][2]), "strictly increasing"),
        (lambda a: a.update(confidence=a["confidence"][:-1]), "'confidence' must have shape"),
        (lambda a: a["confidence"].__setitem__((0, 0), 1.5), "[0, 1]"),
        (lambda a: a["joints"].__setitem__((0, 0, 1), np.nan), "some but not all"),
        (lambda a: a["joints"].__setitem__((0, 0), np.nan), "non-zero confidence"),
        (lambda a: a["joints"].__setitem__((0, 0, 0), np.inf), "infinite"),
        (lambda a: a.pop("t"), "no 't' array"),
        (lambda a: a.update(fps=np.float64(60.0)), "timestamps run at"),
        (lambda a: a.update(joints=a["joints"][:1], confidence=a["confidence"][:1], t=a["t"][:1]), "at least 2"),
    ],
)
def test_contract_violations_rejected(tmp_path, mutate, fragment):
    a = _arrays()
    mutate(a)
    path = _save_raw(tmp_path / "bad.npz", **a)
    with pytest.raises(SkeletonFileError) as ei:
        read_npz(path)
    msg = str(ei.value)
    assert fragment in msg
    assert "\n" not in msg and msg.endswith(".")


def test_garbage_truncated_and_pickled_files(tmp_path, seq):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(np.random.default_rng(1).bytes(4096))
    good = tmp_path / "good.npz"
    write_npz(good, seq, compress=False)
    data = good.read_bytes()
    cases = [garbage]
    for frac in (0.1, 0.5, 0.9, 0.99):
        p = tmp_path / f"trunc{frac}.npz"
        p.write_bytes(data[: int(len(data) * frac)])
        cases.append(p)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, joints=np.array([{"a": 1}], dtype=object), confidence=seq.confidence, t=seq.t)
    cases.append(pickled)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    cases.append(empty)
    for p in cases:
        with pytest.raises(SkeletonFileError) as ei:
            read_npz(p)
        assert "\n" not in str(ei.value), p
    with pytest.raises(SkeletonFileError, match="no such file"):
        read_npz(tmp_path / "nope.npz")


def test_failed_write_keeps_old_file(tmp_path, seq):
    p = tmp_path / "keep.npz"
    write_npz(p, seq)
    before = p.read_bytes()
    bad = SkeletonSequence(seq.joints, seq.confidence, seq.t[::-1].copy(), seq.fps)
    with pytest.raises(SkeletonFileError):
        write_npz(p, bad)
    assert p.read_bytes() == before


def test_bone_lengths_shape(seq):
    bl = bone_lengths(seq.joints)
    assert bl.shape == (seq.n_frames, len(J.RIGID_BONES))
    assert np.all(bl > 0.1) and np.all(bl < 0.6)
