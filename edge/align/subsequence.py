"""Subsequence search: where in a long series does a query match best (MotionDTW Stage 1).

Same local distance, costs, band and input rules as ``edge.align.dtw``.

- ``subsequence_search(query, series, radius, step=1, min_scale=0.7, max_scale=1.4,
  weights=None, n_scales=8, cost=..., normalize="query") -> SubsequenceMatch(start, end, cost)``:
  the sliding-window search of MotionDTW Stage 1 (every window of ``n_scales`` lengths between
  ``min_scale`` and ``max_scale`` times the query length, every ``step`` frames, banded DTW of
  the whole query against each window). ``end`` is inclusive. The cost is normalized by the
  query length (``normalize="query"``, default: path cost / n) or by the warping-path length
  (``"path"``: the mean D along the path; for ``sqrt_sum_squared`` sqrt(sum D**2 / length)).
  Path-length normalization favours windows that take in idle frames matching the template's
  still ends (on synthetic jumps it widened the interval by about 10 frames per side, query
  normalization narrowed it by 2–4); both gave the same keyframes after Stage 2.
  ``subsequence_search_sqdist`` does the same on a precomputed (n_query, n_series) D**2 matrix.
- ``subsequence_dtw(query, series, weights=None, cost=..., min_scale=None, max_scale=None)``:
  open-begin/open-end subsequence DTW (Mueller, Fundamentals of Music Processing, Sec. 7.2): one
  pass over the whole series in which the query may start and end at any frame; the cost is the
  unnormalized optimum divided by the query length (as dtaidistance's ``SubsequenceAlignment``).
  ``subsequence_dtw_profile`` returns, for every end frame, the best cost, its start frame and
  its path length.

Both return ``SubsequenceMatch(start, end, cost)`` with ``end`` inclusive.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from edge.align.dtw import _band, _cost, _pair, _pairwise_sqdist, _radius, _sqdist, _weights

NORMALIZATIONS = ("path", "query")


class SubsequenceMatch(NamedTuple):
    """Best match of a query in a series: frames [start, end] (inclusive) and its normalized cost."""

    start: int
    end: int
    cost: float


@njit(cache=True)
def _window_search(dmat, lengths, step, radius, by_path, rooted):
    """Banded DTW of the query (rows of dmat) against every window; returns best (start, end, cost).

    dmat holds the per-cell path cost (D, or D**2 when ``rooted``: the result is then square-rooted).
    Windows whose lower bound (the smallest accumulated cost of a row, divided by the largest
    possible normalizer) cannot beat the best so far are abandoned early; this never changes the
    result because cell costs are non-negative.
    """
    n = dmat.shape[0]
    total_cols = dmat.shape[1]
    inf = np.inf
    best_cost = inf
    best_s = 0
    best_e = 0
    for li in range(lengths.shape[0]):
        ln = lengths[li]
        lo, hi, offs = _band(n, ln, radius)
        width = 0
        for i in range(n):
            width = max(width, hi[i] - lo[i] + 1)
        prev = np.empty(width, dtype=np.float64)
        cur = np.empty(width, dtype=np.float64)
        prevl = np.empty(width, dtype=np.int64)
        curl = np.empty(width, dtype=np.int64)
        max_norm = float(n + ln - 1) if by_path else float(n)
        for s in range(0, total_cols - ln + 1, step):
            abandoned = False
            for i in range(n):
                l0 = lo[i]
                h0 = hi[i]
                rowmin = inf
                if i == 0:
                    run = 0.0
                    for j in range(l0, h0 + 1):
                        run += dmat[0, s + j]
                        cur[j - l0] = run
                        curl[j - l0] = j + 1
                    rowmin = cur[0]
                else:
                    pl = lo[i - 1]
                    ph = hi[i - 1]
                    for j in range(l0, h0 + 1):
                        b = inf
                        bl = 0
                        if pl <= j - 1 <= ph:
                            b = prev[j - 1 - pl]
                            bl = prevl[j - 1 - pl]
                        if pl <= j <= ph:
                            v = prev[j - pl]
                            if v < b:
                                b = v
                                bl = prevl[j - pl]
                        if j > l0:
                            v = cur[j - 1 - l0]
                            if v < b:
                                b = v
                                bl = curl[j - 1 - l0]
                        a = dmat[i, s + j] + b
                        cur[j - l0] = a
                        curl[j - l0] = bl + 1
                        if a < rowmin:
                            rowmin = a
                bound = np.sqrt(rowmin / max_norm) if (rooted and by_path) else (
                    np.sqrt(rowmin) / max_norm if rooted else rowmin / max_norm)
                if bound >= best_cost:
                    abandoned = True
                    break
                prev, cur = cur, prev
                prevl, curl = curl, prevl
            if abandoned:
                continue
            total = prev[hi[n - 1] - lo[n - 1]]
            pl_end = prevl[hi[n - 1] - lo[n - 1]]
            denom = float(pl_end) if by_path else float(n)
            if rooted:
                c = np.sqrt(total / denom) if by_path else np.sqrt(total) / denom
            else:
                c = total / denom
            if c < best_cost:
                best_cost = c
                best_s = s
                best_e = s + ln - 1
    return best_s, best_e, best_cost


@njit(cache=True)
def _open_end_profile(sq, euclid):
    """Open-begin/open-end DTW: for every end column, best accumulated cost, start, path length."""
    n = sq.shape[0]
    m = sq.shape[1]
    acc_prev = np.empty(m, dtype=np.float64)
    acc_cur = np.empty(m, dtype=np.float64)
    st_prev = np.empty(m, dtype=np.int64)
    st_cur = np.empty(m, dtype=np.int64)
    pl_prev = np.empty(m, dtype=np.int64)
    pl_cur = np.empty(m, dtype=np.int64)
    for j in range(m):
        s = sq[0, j]
        acc_prev[j] = np.sqrt(s) if euclid else s
        st_prev[j] = j
        pl_prev[j] = 1
    for i in range(1, n):
        for j in range(m):
            s = sq[i, j]
            dij = np.sqrt(s) if euclid else s
            best = np.inf
            bs = 0
            bl = 0
            if j > 0:
                v = acc_prev[j - 1]
                if v < best:
                    best = v
                    bs = st_prev[j - 1]
                    bl = pl_prev[j - 1]
            v = acc_prev[j]
            if v < best:
                best = v
                bs = st_prev[j]
                bl = pl_prev[j]
            if j > 0:
                v = acc_cur[j - 1]
                if v < best:
                    best = v
                    bs = st_cur[j - 1]
                    bl = pl_cur[j - 1]
            acc_cur[j] = dij + best
            st_cur[j] = bs
            pl_cur[j] = bl + 1
        acc_prev, acc_cur = acc_cur, acc_prev
        st_prev, st_cur = st_cur, st_prev
        pl_prev, pl_cur = pl_cur, pl_prev
    return acc_prev.copy(), st_prev.copy(), pl_prev.copy()


def window_lengths(n_query: int, n_series: int, min_scale: float, max_scale: float, n_scales: int) -> np.ndarray:
    """The window lengths Stage 1 tries: round(n_query * s) for n_scales evenly spaced scales in
    [min_scale, max_scale], clipped to [1, n_series], unique, ascending."""
    if not (np.isfinite(min_scale) and np.isfinite(max_scale)) or min_scale <= 0 or max_scale < min_scale:
        raise ValueError(f"scales must satisfy 0 < min_scale <= max_scale, got {min_scale} and {max_scale}.")
    if isinstance(n_scales, bool) or not isinstance(n_scales, (int, np.integer)) or n_scales < 1:
        raise ValueError(f"n_scales must be an int >= 1, got {n_scales!r}.")
    scales = np.linspace(min_scale, max_scale, int(n_scales)) if n_scales > 1 else np.array([min_scale])
    lengths = np.clip(np.floor(n_query * scales + 0.5).astype(np.int64), 1, n_series)
    return np.unique(lengths)


def _step(step) -> int:
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"step must be an int >= 1, got {step!r}.")
    return int(step)


def _normalize(normalize: str) -> bool:
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, got {normalize!r}.")
    return normalize == "path"


def subsequence_search_sqdist(
    sqdist,
    radius,
    step: int = 1,
    min_scale: float = 0.7,
    max_scale: float = 1.4,
    n_scales: int = 8,
    cost: str = "sum_euclidean",
    normalize: str = "query",
) -> SubsequenceMatch:
    """Sliding-window search on a precomputed (n_query, n_series) matrix of D**2 (see module doc)."""
    sq = _sqdist(sqdist)
    r = _radius(radius)
    st = _step(step)
    euclid = _cost(cost)
    by_path = _normalize(normalize)
    lengths = window_lengths(sq.shape[0], sq.shape[1], min_scale, max_scale, n_scales)
    dmat = np.sqrt(sq) if euclid else sq
    s, e, c = _window_search(dmat, lengths, st, r, by_path, not euclid)
    return SubsequenceMatch(int(s), int(e), float(c))


def subsequence_search(
    query,
    series,
    radius,
    step: int = 1,
    min_scale: float = 0.7,
    max_scale: float = 1.4,
    weights=None,
    n_scales: int = 8,
    cost: str = "sum_euclidean",
    normalize: str = "query",
) -> SubsequenceMatch:
    """Best window of ``series`` for ``query`` by banded DTW over sliding windows (Stage 1).

    Windows have n_scales lengths round(len(query) * s), s evenly spaced in [min_scale,
    max_scale] (clipped to the series length), and start every ``step`` frames. Returns the
    window (start, end inclusive) with the lowest normalized cost; ties keep the shortest, earliest.
    """
    q, s = _pair(query, series, "query", "series")
    w = _weights(weights, q.shape[1])
    sq = _pairwise_sqdist(q, np.ascontiguousarray(s.T), w)
    return subsequence_search_sqdist(sq, radius, step, min_scale, max_scale, n_scales, cost, normalize)


def subsequence_dtw_profile_sqdist(sqdist, cost: str = "sum_euclidean") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open-begin/open-end DTW on a (n_query, n_series) D**2 matrix.

    Returns three (n_series,) arrays indexed by the end frame j: the optimal cost of the query
    ending at j (unnormalized; for ``sqrt_sum_squared`` already square-rooted), the start frame of
    that optimal path and its length in cells.
    """
    sq = _sqdist(sqdist)
    euclid = _cost(cost)
    acc, start, plen = _open_end_profile(sq, euclid)
    if not euclid:
        acc = np.sqrt(acc)
    return acc, start, plen


def subsequence_dtw_profile(query, series, weights=None, cost: str = "sum_euclidean"):
    """``subsequence_dtw_profile_sqdist`` on features: query (n, d), series (m, d)."""
    q, s = _pair(query, series, "query", "series")
    w = _weights(weights, q.shape[1])
    return subsequence_dtw_profile_sqdist(_pairwise_sqdist(q, np.ascontiguousarray(s.T), w), cost)


def subsequence_dtw_sqdist(
    sqdist, cost: str = "sum_euclidean", min_scale: float | None = None, max_scale: float | None = None
) -> SubsequenceMatch:
    """Best open-begin/open-end match on a D**2 matrix; cost divided by the query length.

    ``min_scale``/``max_scale`` (optional) keep only ends whose optimal match spans between
    min_scale and max_scale times the query length; ValueError if no end qualifies.
    """
    acc, start, _ = subsequence_dtw_profile_sqdist(sqdist, cost)
    n = np.asarray(sqdist).shape[0]
    length = np.arange(acc.shape[0]) - start + 1
    ok = np.ones(acc.shape[0], dtype=bool)
    if min_scale is not None:
        ok &= length >= min_scale * n
    if max_scale is not None:
        ok &= length <= max_scale * n
    if not ok.any():
        raise ValueError("no open-end match has a length within [min_scale, max_scale] times the query length.")
    cand = np.where(ok, acc, np.inf)
    end = int(np.argmin(cand))
    return SubsequenceMatch(int(start[end]), end, float(acc[end] / n))


def subsequence_dtw(
    query, series, weights=None, cost: str = "sum_euclidean", min_scale: float | None = None, max_scale: float | None = None
) -> SubsequenceMatch:
    """Open-begin/open-end subsequence DTW of query (n, d) in series (m, d); see the module doc."""
    q, s = _pair(query, series, "query", "series")
    w = _weights(weights, q.shape[1])
    return subsequence_dtw_sqdist(_pairwise_sqdist(q, np.ascontiguousarray(s.T), w), cost, min_scale, max_scale)
