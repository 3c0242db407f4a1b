"""Banded DTW kernels against a slow, obviously correct reference and against dtaidistance."""

from __future__ import annotations

import numpy as np
import pytest

from edge.align import banded_dtw, banded_dtw_sqdist, pairwise_sqdist, subsequence_dtw, subsequence_dtw_profile, subsequence_search
from edge.align.subsequence import subsequence_search_sqdist, window_lengths

COSTS = ("sum_euclidean", "sqrt_sum_squared")

# ---------------------------------------------------------------------------------------------
# Reference: full matrix, explicit band mask, plain Python loops.
# ---------------------------------------------------------------------------------------------


def ref_mask(n: int, m: int, r: int) -> np.ndarray:
    """The documented band: distance from the (0,0)-(n-1,m-1) line along the shorter axis <= r + 1/2."""
    mask = np.zeros((n, m), dtype=bool)
    for i in range(n):
        for j in range(m):
            if n == 1 or m == 1:
                mask[i, j] = True
            elif n <= m:
                mask[i, j] = abs(i - j * (n - 1) / (m - 1)) <= r + 0.5 + 1e-12
            else:
                mask[i, j] = abs(j - i * (m - 1) / (n - 1)) <= r + 0.5 + 1e-12
    return mask


def ref_local(x, y, w) -> np.ndarray:
    """Weighted squared distances, summed in the kernel's order (so exact ties break the same way)."""
    n, m = len(x), len(y)
    d = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            s = 0.0
            for k in range(x.shape[1]):
                diff = x[i, k] - y[j, k]
                s += w[k] * diff * diff
            d[i, j] = s
    return d


def ref_dp(sq: np.ndarray, mask: np.ndarray, cost: str):
    """Accumulated matrix over the masked cells; returns (acc, path) with the kernel's tie order."""
    n, m = sq.shape
    c = np.sqrt(sq) if cost == "sum_euclidean" else sq
    acc = np.full((n, m), np.inf)
    for i in range(n):
        for j in range(m):
            if not mask[i, j]:
                continue
            if i == 0 and j == 0:
                acc[i, j] = c[i, j]
                continue
            prev = [np.inf]
            if i > 0 and j > 0:
                prev.append(acc[i - 1, j - 1])
            if i > 0:
                prev.append(acc[i - 1, j])
            if j > 0:
                prev.append(acc[i, j - 1])
            acc[i, j] = c[i, j] + min(prev)
    path = [(n - 1, m - 1)]
    i, j = n - 1, m - 1
    while (i, j) != (0, 0):
        cands = []
        if i > 0 and j > 0:
            cands.append((acc[i - 1, j - 1], i - 1, j - 1))
        if i > 0:
            cands.append((acc[i - 1, j], i - 1, j))
        if j > 0:
            cands.append((acc[i, j - 1], i, j - 1))
        best = min(v for v, _, _ in cands)
        _, i, j = next(cand for cand in cands if cand[0] == best)
        path.append((i, j))
    return acc, np.array(path[::-1])


def ref_cost(x, y, r, w=None, cost="sum_euclidean", mask=None):
    w = np.ones(x.shape[1]) if w is None else w
    mask = ref_mask(len(x), len(y), r) if mask is None else mask
    acc, path = ref_dp(ref_local(x, y, w), mask, cost)
    total = acc[-1, -1]
    return (total if cost == "sum_euclidean" else np.sqrt(total)), path


def path_cost(x, y, path, w=None, cost="sum_euclidean") -> float:
    w = np.ones(x.shape[1]) if w is None else w
    sq = np.array([np.sum(w * (x[i] - y[j]) ** 2) for i, j in path])
    return float(np.sum(np.sqrt(sq))) if cost == "sum_euclidean" else float(np.sqrt(np.sum(sq)))


def assert_valid_path(path, n, m, r):
    assert path.dtype == np.int64 and path.ndim == 2 and path.shape[1] == 2
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (n - 1, m - 1)
    steps = np.diff(path, axis=0)
    assert ((steps == [1, 1]).all(1) | (steps == [1, 0]).all(1) | (steps == [0, 1]).all(1)).all()
    mask = ref_mask(n, m, r)
    assert mask[path[:, 0], path[:, 1]].all()


# ---------------------------------------------------------------------------------------------
# banded_dtw
# ---------------------------------------------------------------------------------------------


def test_banded_dtw_matches_reference_on_random_inputs():
    rng = np.random.default_rng(1)
    for _ in range(120):
        n, m = (int(v) for v in rng.integers(1, 22, 2))
        d = int(rng.integers(1, 5))
        r = int(rng.integers(0, 7))
        x = rng.normal(size=(n, d))
        y = rng.normal(size=(m, d))
        w = rng.uniform(0.0, 2.0, d) if rng.random() < 0.5 else None
        cost = COSTS[int(rng.integers(2))]
        got, path = banded_dtw(x, y, r, weights=w, cost=cost)
        want, want_path = ref_cost(x, y, r, w, cost)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
        np.testing.assert_array_equal(path, want_path)
        assert_valid_path(path, n, m, r)
        assert path_cost(x, y, path, w, cost) == pytest.approx(got, rel=1e-12, abs=1e-12)


def test_equal_length_band_is_abs_i_minus_j_at_most_radius():
    rng = np.random.default_rng(2)
    for _ in range(40):
        n = int(rng.integers(2, 25))
        r = int(rng.integers(0, 8))
        x, y = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
        idx = np.arange(n)
        mask = np.abs(idx[:, None] - idx[None, :]) <= r  # independent of the documented formula
        want, _ = ref_cost(x, y, r, mask=mask)
        got, path = banded_dtw(x, y, r)
        assert got == pytest.approx(want, rel=1e-12)
        assert (np.abs(path[:, 0] - path[:, 1]) <= r).all()


def test_band_constrains_the_warp():
    # A pure 5-frame shift needs radius >= 5 to be followed; a narrower band must cost more.
    t = np.linspace(0, 4 * np.pi, 60)
    x = np.sin(t)[:, None]
    y = np.sin(t - 5 * (t[1] - t[0]))[:, None]
    wide, _ = banded_dtw(x, y, 8)
    narrow, path = banded_dtw(x, y, 2)
    assert narrow > wide
    assert (np.abs(path[:, 0] - path[:, 1]) <= 2).all()


@pytest.mark.parametrize("cost", COSTS)
def test_symmetric_in_x_and_y(cost):
    rng = np.random.default_rng(3)
    for _ in range(20):
        n, m = (int(v) for v in rng.integers(1, 30, 2))
        x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
        r = int(rng.integers(0, 5))
        a, pa = banded_dtw(x, y, r, cost=cost)
        b, pb = banded_dtw(y, x, r, cost=cost)
        assert a == pytest.approx(b, rel=1e-12)


def test_dtaidistance_agrees_for_equal_lengths():
    dtw_ndim = pytest.importorskip("dtaidistance.dtw_ndim")
    from dtaidistance import dtw as dtai_dtw

    assert dtai_dtw.try_import_c(verbose=False), "dtaidistance's C library is not available"
    rng = np.random.default_rng(4)
    for trial in range(150):
        n = int(rng.integers(1, 60))
        d = int(rng.integers(1, 6))
        r = int(rng.integers(0, 12)) if trial % 10 else n + 3
        x = np.ascontiguousarray(rng.normal(size=(n, d)))
        y = np.ascontiguousarray(rng.normal(size=(n, d)))
        ours, _ = banded_dtw(x, y, r, cost="sqrt_sum_squared")
        # dtaidistance's window is exclusive: |i - j| < window, so radius r is window r + 1.
        theirs = dtw_ndim.distance(x, y, window=r + 1, use_c=True)
        assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-6), (n, d, r)


def test_length_one_series():
    x = np.array([[1.0, 2.0]])
    y = np.array([[1.0, 0.0], [3.0, 2.0], [1.0, 2.0]])
    c, path = banded_dtw(x, x, 0)
    assert c == 0.0 and path.tolist() == [[0, 0]]
    c, path = banded_dtw(x, y, 0)
    assert path.tolist() == [[0, 0], [0, 1], [0, 2]]
    assert c == pytest.approx(2.0 + 2.0 + 0.0)
    c2, path2 = banded_dtw(y, x, 0)
    assert c2 == pytest.approx(c) and path2.tolist() == [[0, 0], [1, 0], [2, 0]]


@pytest.mark.parametrize("r", [0, 1, 5])
def test_identical_series_cost_zero_diagonal_path(r):
    x = np.random.default_rng(5).normal(size=(17, 4))
    for cost in COSTS:
        c, path = banded_dtw(x, x, r, cost=cost)
        assert c == 0.0
        np.testing.assert_array_equal(path, np.stack([np.arange(17)] * 2, axis=1))


def test_radius_zero_equal_lengths_is_the_lockstep_distance():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(12, 3))
    c, path = banded_dtw(x, y, 0)
    assert c == pytest.approx(np.linalg.norm(x - y, axis=1).sum())
    np.testing.assert_array_equal(path[:, 0], path[:, 1])


def test_very_different_lengths():
    rng = np.random.default_rng(7)
    for n, m, r in [(3, 200, 0), (200, 3, 0), (5, 150, 2), (90, 300, 9)]:
        x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
        c, path = banded_dtw(x, y, r)
        assert np.isfinite(c)
        assert_valid_path(path, n, m, r)
        if n * m <= 1000:
            assert c == pytest.approx(ref_cost(x, y, r)[0], rel=1e-12)


def test_sqdist_entry_points_agree():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(15, 6)), rng.normal(size=(23, 6))
    w = rng.uniform(0, 3, 6)
    sq = pairwise_sqdist(x, y, w)
    np.testing.assert_allclose(sq, ((x[:, None, :] - y[None, :, :]) ** 2 * w).sum(-1), rtol=1e-12)
    for cost in COSTS:
        a, pa = banded_dtw(x, y, 4, w, cost)
        b, pb = banded_dtw_sqdist(sq, 4, cost)
        assert a == pytest.approx(b, rel=1e-12)
        np.testing.assert_array_equal(pa, pb)


def test_invalid_inputs_are_rejected_with_the_argument_named():
    x = np.zeros((5, 2))
    bad = x.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"^x contains NaN"):
        banded_dtw(bad, x, 1)
    with pytest.raises(ValueError, match=r"^y contains NaN"):
        banded_dtw(x, np.where(bad == 0, np.inf, bad), 1)
    with pytest.raises(ValueError, match="same feature dimension"):
        banded_dtw(x, np.zeros((5, 3)), 1)
    with pytest.raises(ValueError, match="2-D"):
        banded_dtw(np.zeros(5), x, 1)
    with pytest.raises(ValueError, match="at least one frame"):
        banded_dtw(np.zeros((0, 2)), x, 1)
    for r in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="radius"):
            banded_dtw(x, x, r)
    with pytest.raises(ValueError, match="weights"):
        banded_dtw(x, x, 1, weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="weights"):
        banded_dtw(x, x, 1, weights=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="cost"):
        banded_dtw(x, x, 1, cost="manhattan")
    with pytest.raises(ValueError, match="query contains NaN"):
        subsequence_search(bad, np.zeros((20, 2)), 2)
    with pytest.raises(ValueError, match="series contains NaN"):
        subsequence_dtw(x, np.vstack([bad, x]))


# ---------------------------------------------------------------------------------------------
# Subsequence search (sliding windows) and open-begin/open-end subsequence DTW
# ---------------------------------------------------------------------------------------------


def ref_window_search(q, s, r, step, min_scale, max_scale, n_scales, cost, normalize):
    n = len(q)
    sq = ref_local(q, s, np.ones(q.shape[1]))
    best = (np.inf, 0, 0)
    for ln in window_lengths(n, len(s), min_scale, max_scale, n_scales):
        mask = ref_mask(n, int(ln), r)
        for st in range(0, len(s) - ln + 1, step):
            acc, path = ref_dp(sq[:, st : st + ln], mask, cost)
            total = acc[-1, -1]
            denom = len(path) if normalize == "path" else n
            if cost == "sum_euclidean":
                c = total / denom
            else:
                c = np.sqrt(total / denom) if normalize == "path" else np.sqrt(total) / denom
            if c < best[0]:
                best = (c, st, st + int(ln) - 1)
    return best


def test_subsequence_search_matches_brute_force_reference():
    rng = np.random.default_rng(9)
    for trial in range(24):
        n = int(rng.integers(2, 10))
        total = int(rng.integers(n, 40))
        q, s = rng.normal(size=(n, 2)), rng.normal(size=(total, 2))
        r = int(rng.integers(0, 4))
        step = int(rng.integers(1, 4))
        cost = COSTS[trial % 2]
        normalize = ("path", "query")[(trial // 2) % 2]
        got = subsequence_search(q, s, r, step=step, min_scale=0.6, max_scale=1.5, n_scales=4, cost=cost, normalize=normalize)
        want = ref_window_search(q, s, r, step, 0.6, 1.5, 4, cost, normalize)
        assert got.cost == pytest.approx(want[0], rel=1e-12)
        assert (got.start, got.end) == (want[1], want[2])


def ref_open_end(q, s, cost):
    n, m = len(q), len(s)
    c = ref_local(q, s, np.ones(q.shape[1]))
    c = np.sqrt(c) if cost == "sum_euclidean" else c
    acc = np.full((n, m), np.inf)
    start = np.zeros((n, m), dtype=int)
    for i in range(n):
        for j in range(m):
            if i == 0:
                acc[i, j], start[i, j] = c[i, j], j
                continue
            cands = [(acc[i - 1, j - 1], start[i - 1, j - 1])] if j > 0 else []
            cands.append((acc[i - 1, j], start[i - 1, j]))
            if j > 0:
                cands.append((acc[i, j - 1], start[i, j - 1]))
            v, st = min(cands, key=lambda t: t[0])
            acc[i, j], start[i, j] = c[i, j] + v, st
    last = acc[-1] if cost == "sum_euclidean" else np.sqrt(acc[-1])
    return last, start[-1]


@pytest.mark.parametrize("cost", COSTS)
def test_open_end_profile_matches_reference(cost):
    rng = np.random.default_rng(10)
    for _ in range(15):
        n, m = int(rng.integers(1, 9)), int(rng.integers(1, 35))
        q, s = rng.normal(size=(n, 3)), rng.normal(size=(m, 3))
        acc, start, plen = subsequence_dtw_profile(q, s, cost=cost)
        want_acc, want_start = ref_open_end(q, s, cost)
        np.testing.assert_allclose(acc, want_acc, rtol=1e-12)
        np.testing.assert_array_equal(start, want_start)
        assert (plen >= np.maximum(n, np.arange(m) - start + 1)).all()


def test_open_end_matches_dtaidistance_subsequence_alignment():
    pytest.importorskip("dtaidistance")
    from dtaidistance.subsequence.subsequencealignment import subsequence_alignment

    rng = np.random.default_rng(11)
    for _ in range(10):
        q, s = rng.normal(size=(8, 3)), rng.normal(size=(50, 3))
        sa = subsequence_alignment(q, s, penalty=0.0, use_c=True)
        acc, start, _ = subsequence_dtw_profile(q, s, cost="sqrt_sum_squared")
        # dtaidistance's matching function is sqrt(accumulated squared cost) / query length.
        np.testing.assert_allclose(acc / len(q), sa.matching_function(), rtol=1e-9, atol=1e-12)
        best = sa.best_match(minlength=1)
        end = int(np.argmin(acc))
        assert [int(v) for v in best.segment] == [int(start[end]), end]


def _planted(rng, lead_in, lead_out, scale, warp_amp):
    """A smooth random 3-D pattern, time-warped into Gaussian noise; returns query, series, (start, end)."""
    n = 40
    t = np.linspace(0, 1, n)
    freqs = rng.uniform(1, 3, 3)
    phases = rng.uniform(0, 2 * np.pi, 3)

    def pattern(u):
        return np.stack([np.sin(2 * np.pi * f * u + p) for f, p in zip(freqs, phases)], axis=1)

    q = pattern(t)
    ln = int(round(n * scale))
    u = np.linspace(0, 1, ln)
    u = u + warp_amp * np.sin(2 * np.pi * u) / (2 * np.pi)
    core = pattern(u) + rng.normal(0, 0.05, (ln, 3))
    series = np.vstack([rng.normal(0, 0.6, (lead_in, 3)), core, rng.normal(0, 0.6, (lead_out, 3))])
    return q, series, (lead_in, lead_in + ln - 1)


def _iou(a, b):
    inter = max(0, min(a[1], b[1]) - max(a[0], b[0]) + 1)
    return inter / (max(a[1], b[1]) - min(a[0], b[0]) + 1)


def test_windows_and_open_end_both_find_a_planted_pattern():
    rng = np.random.default_rng(12)
    ious = {"windows": [], "open_end": []}
    for _ in range(10):
        q, s, truth = _planted(rng, int(rng.integers(10, 80)), int(rng.integers(10, 80)), rng.uniform(0.8, 1.25), rng.uniform(-0.4, 0.4))
        w = subsequence_search(q, s, radius=6)
        o = subsequence_dtw(q, s, min_scale=0.7, max_scale=1.4)
        ious["windows"].append(_iou((w.start, w.end), truth))
        ious["open_end"].append(_iou((o.start, o.end), truth))
    for method, v in ious.items():
        assert min(v) >= 0.8, (method, v)


def test_subsequence_search_window_lengths_and_short_series():
    np.testing.assert_array_equal(window_lengths(10, 100, 0.7, 1.4, 8), [7, 8, 9, 10, 11, 12, 13, 14])
    np.testing.assert_array_equal(window_lengths(10, 9, 0.7, 1.4, 3), [7, 9])
    rng = np.random.default_rng(13)
    q, s = rng.normal(size=(10, 2)), rng.normal(size=(4, 2))
    m = subsequence_search(q, s, 2)
    assert (m.start, m.end) == (0, 3)
    with pytest.raises(ValueError, match="min_scale"):
        subsequence_search(q, s, 2, min_scale=1.5, max_scale=1.0)
    with pytest.raises(ValueError, match="step"):
        subsequence_search_sqdist(np.ones((3, 9)), 1, step=0)


def test_windowed_sqdist_equals_distances_of_windowed_features():
    from edge.align import windowed_sqdist
    from edge.align.features import temporal_window

    rng = np.random.default_rng(14)
    for n, m, f, w in [(9, 30, 4, 4), (1, 5, 2, 3), (12, 3, 3, 2), (20, 20, 5, 0), (6, 40, 3, 10)]:
        x, y = rng.normal(size=(n, f)), rng.normal(size=(m, f))
        wt = rng.uniform(0, 2, f)
        want = pairwise_sqdist(temporal_window(x, w), temporal_window(y, w), np.tile(wt, 2 * w + 1))
        np.testing.assert_allclose(windowed_sqdist(x, y, w, wt), want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="window"):
        windowed_sqdist(x, y, -1)
