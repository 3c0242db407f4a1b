"""Scorer data: simulated samples and their seeds, the on-disk cache, the 6:2:2 split, augmentations.

Seed scheme (training and evaluation never share a sample):

- training data of master seed S: sample i of an action is ``simulate(action, train_sample_seed(S,
  action, i), condition=train_condition(...))`` -- the same samples ``fieldcoach simulate --dataset``
  writes with ``--seed S`` (``edge.sim.dataset.sample_seed``), 20 % low light, 15 % occlusion;
- evaluation of seed S (``fieldcoach eval scorer --seed S``): sample i uses
  ``eval_sample_seed(S, action, i)``, drawn from a separate SeedSequence namespace (``EVAL_TAG``),
  so any S, the training seed included, gives samples the model has not seen; a simulate seed that
  nevertheless falls in the training set of the model's card is skipped (``fresh_eval_seeds``).

The split of a training set of n samples is a permutation of its indices by the master seed:
the first 60 % train, the next 20 % validation, the last 20 % test (paper Sec. 6.1). A set grown
from a smaller one by a continued run keeps the smaller set's split for its samples and splits the
new ones on their own (``split_indices(..., bases)``, the card's ``data.split_bases``).

Cache: ``out/cache/scorer/<action>-s<S>-n<n>-<input hash>.npz`` with ``x`` float32 (n, C, T, 17)
(``edge.score.preprocess.prepare_input``), ``y`` float32 (n,) label scores (mean of 3 raters),
``condition`` (n,) str, ``seed`` (n,) uint32 simulate seeds. Git-ignored; rebuilt when absent, from
the largest smaller cached set of the same seed when there is one (only the new samples are simulated).

Augmentations (paper Sec. 2, each applied independently with p = 0.5, ``augment_batch``):
temporal distortion phi(t) = t + A sin(2 pi f t), A in [0, 0.1] x length (Eq. after 2); joint
jitter N(0, 0.02^2) on every coordinate (Eq. 3, normalized units); rotation about y by U(-30, 30)
degrees (Eq. 4). They act on the x, y, z channels; a confidence channel is only time-warped.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.score.preprocess import InputSpec, prepare_input
from edge.sim.dataset import sample_condition, sample_seed
from edge.sim.simulate import simulate

#: Extra SeedSequence word that puts evaluation samples in their own namespace.
EVAL_TAG = 0xE7A1
#: Seed word of a training sample's cut jitter.
CUT_TAG = 0xC07
DEFAULT_CACHE = Path("out/cache/scorer")
SPLIT = (0.6, 0.2, 0.2)
LOW_LIGHT = 0.2
OCCLUSION = 0.15


def train_sample_seed(master: int, action: str, index: int) -> int:
    """simulate() seed of training-set sample ``index`` (= ``fieldcoach simulate --dataset``)."""
    return sample_seed(master, action, index)


def train_condition(master: int, action: str, index: int) -> str:
    return sample_condition(master, action, index, LOW_LIGHT, OCCLUSION)


def train_pairs(master: int, action: str, indices) -> list[tuple[int, str]]:
    """(simulate seed, condition) of the given training-set sample indices."""
    return [(train_sample_seed(master, action, int(i)), train_condition(master, action, int(i))) for i in indices]


def eval_sample_seed(seed: int, action: str, index: int) -> int:
    """simulate() seed of evaluation sample ``index`` for ``--seed seed`` (separate namespace)."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(action.encode()), int(index), EVAL_TAG])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def eval_condition(seed: int, action: str, index: int) -> str:
    u = np.random.default_rng([int(seed), zlib.crc32(action.encode()), int(index), EVAL_TAG, 7]).random()
    return "low_light" if u < LOW_LIGHT else "occlusion" if u < LOW_LIGHT + OCCLUSION else "normal"


def training_seed_set(master: int, action: str, n: int) -> set[int]:
    return {train_sample_seed(master, action, i) for i in range(int(n))}


def fresh_eval_seeds(seed: int, action: str, n: int, exclude: set[int] = frozenset()) -> list[tuple[int, str]]:
    """``n`` (simulate seed, condition) pairs for evaluation, skipping any seed in ``exclude``."""
    out: list[tuple[int, str]] = []
    i = 0
    while len(out) < int(n):
        s = eval_sample_seed(seed, action, i)
        if s not in exclude:
            out.append((s, eval_condition(seed, action, i)))
        i += 1
    return out


@dataclass
class ScoreData:
    """Prepared samples of one action: x (n, C, T, 17) float32, y (n,) points, condition (n,), seed (n,);
    ``x_cut``: the same samples cut to their attempts (training views "both"), else None."""

    action: str
    x: np.ndarray
    y: np.ndarray
    condition: np.ndarray
    seed: np.ndarray
    x_cut: np.ndarray | None = None

    def subset(self, idx: np.ndarray) -> "ScoreData":
        x_cut = None if self.x_cut is None else self.x_cut[idx]
        return ScoreData(self.action, self.x[idx], self.y[idx], self.condition[idx], self.seed[idx], x_cut)

    def __len__(self) -> int:
        return int(self.y.shape[0])


#: Frames the training cuts move each bound by, at most (the segmenter's tolerance, issue 3).
CUT_JITTER = 3
#: What a scorer is trained on (the card's ``data.views``): the whole simulated recording (idle before
#: and after, what ``fieldcoach analyze`` gets from a recorded file), the attempt as the segmenter cuts
#: it (what ``fieldcoach serve`` scores), or both views of every sample, one drawn per sample and batch.
VIEWS = ("whole", "cut", "both")
#: With two views, the probability that a sample of a batch is taken in its cut view (training, fine-tuning).
CUT_VIEW_P = 0.5


def batch_views(data: "ScoreData", idx: np.ndarray, rng: np.random.Generator, p: float) -> np.ndarray:
    """The inputs of batch ``idx``: each sample in its cut view with probability ``p`` when ``data``
    has one (``x_cut``), else in ``x``."""
    xb = data.x[idx]
    if data.x_cut is None or p <= 0:
        return xb
    pick = rng.random(len(idx)) < p
    return np.where(pick[:, None, None, None], data.x_cut[idx], xb)


def card_views(data: dict) -> str:
    """The training views of a card's or run's ``data`` section (older ones: a ``cut`` flag, or neither)."""
    views = data.get("views") or ("cut" if data.get("cut") else "whole")
    if views not in VIEWS:
        raise ValueError(f"unknown training views {views!r}; expected one of {', '.join(VIEWS)}.")
    return views


def attempt_cut(sample, jitter: np.random.Generator | None = None):
    """The observed sequence of a ``SimSample`` cut to its attempt as the appliance's segmenter
    cuts it (``edge.fusion.segment.movement_bounds`` on the clean motion: the segmenter's truth):
    the scorer then sees what it sees in ``fieldcoach serve``, without the idle recording around.
    ``jitter``: move each bound by up to ``CUT_JITTER`` frames (training: the segmenter's error)."""
    from dataclasses import replace

    from edge.actions.spec import load_action
    from edge.fusion.segment import movement_bounds

    q = sample.sequence
    kf = list(sample.keyframes.values())
    start, end = movement_bounds(sample.clean_joints, float(q.fps), load_action(sample.action), min(kf), max(kf))
    if jitter is not None:
        ds, de = jitter.integers(-CUT_JITTER, CUT_JITTER + 1, 2)
        start, end = max(0, start + int(ds)), min(q.n_frames - 1, end + int(de))
    return replace(q, joints=q.joints[start : end + 1], confidence=q.confidence[start : end + 1], t=q.t[start : end + 1])


def simulate_samples(
    action: str, pairs: list[tuple[int, str]], spec: InputSpec, progress: bool = False, cut: str | None = None
) -> ScoreData:
    """Simulate and prepare the given (simulate seed, condition) pairs; ``cut``: None for the whole
    recording, ``"attempt"`` for each cut to its attempt (``attempt_cut``), ``"jittered"`` for the
    same with its bounds moved by up to ``CUT_JITTER`` frames (drawn from the sample's seed)."""
    if cut not in (None, "attempt", "jittered"):
        raise ValueError(f"cut must be None, 'attempt' or 'jittered', got {cut!r}.")
    it = pairs
    if progress:
        from tqdm import tqdm

        it = tqdm(pairs, desc=f"simulate {action}", unit="sample", leave=False)
    xs, ys, cs, ss = [], [], [], []
    for s, cond in it:
        sample = simulate(action, int(s), condition=cond)
        seq = sample.sequence
        if cut is not None:
            seq = attempt_cut(sample, np.random.default_rng([int(s), CUT_TAG]) if cut == "jittered" else None)
        xs.append(prepare_input(seq, spec))
        ys.append(sample.score)
        cs.append(cond)
        ss.append(s)
    return ScoreData(
        action, np.stack(xs).astype(np.float32), np.asarray(ys, np.float32), np.asarray(cs), np.asarray(ss, np.uint32)
    )


def spec_hash(spec: InputSpec) -> str:
    """Cache key of an input spec (the default window mode is left out, so older caches stay valid)."""
    exclude = {"window_mode"} if spec.window_mode == "span" else None
    return hashlib.sha256(spec.model_dump_json(exclude=exclude).encode()).hexdigest()[:10]


def load_training_set(
    action: str, master: int, n: int, spec: InputSpec, cache_dir: Path | None = DEFAULT_CACHE, progress: bool = False,
    views: str = "whole",
) -> ScoreData:
    """All ``n`` training-set samples of ``action`` (cached as .npz when ``cache_dir`` is given).
    ``views`` (``VIEWS``): "whole" recordings; "cut": each sample cut to its attempt with jittered
    bounds (``simulate_samples``), as the appliance's segmenter hands attempts to the scorer; "both":
    the whole recordings in ``x`` and their cuts in ``x_cut`` (two caches, the same samples)."""
    if views not in VIEWS:
        raise ValueError(f"views must be one of {', '.join(VIEWS)}, got {views!r}.")
    if views == "both":
        whole = load_training_set(action, master, n, spec, cache_dir, progress, "whole")
        cut = load_training_set(action, master, n, spec, cache_dir, progress, "cut")
        if not (np.array_equal(whole.seed, cut.seed) and np.array_equal(whole.y, cut.y)):
            raise ValueError(f"the whole and cut training sets of {action} hold different samples; delete their caches.")
        return ScoreData(action, whole.x, whole.y, whole.condition, whole.seed, cut.x)
    cut = views == "cut"
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{action}-s{int(master)}-n{int(n)}-{spec_hash(spec)}{'-cut' if cut else ''}.npz"
        if path.is_file():
            return _read_cached(path, action)
    pairs = train_pairs(master, action, range(int(n)))
    head = _largest_cached_prefix(path, action, master, n) if path is not None else None
    how = "jittered" if cut else None
    if head is not None:  # sample i depends only on (master, action, i): simulate only the new ones
        rest = simulate_samples(action, pairs[len(head) :], spec, progress, how)
        data = ScoreData(action, np.concatenate([head.x, rest.x]), np.concatenate([head.y, rest.y]),
                         np.concatenate([head.condition, rest.condition]), np.concatenate([head.seed, rest.seed]))
    else:
        data = simulate_samples(action, pairs, spec, progress, how)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, x=data.x, y=data.y, condition=data.condition, seed=data.seed)
        tmp.replace(path)
    return data


def _largest_cached_prefix(path: Path, action: str, master: int, n: int) -> ScoreData | None:
    """The largest cached training set named like ``path`` (the same action, master seed, input
    spec and cut) with fewer than ``n`` samples (its samples are the first ones of the larger set),
    or None."""
    head = f"{action}-s{int(master)}-n"
    tail = path.name[len(f"{head}{int(n)}") :]  # "-<spec hash>[-cut].npz"
    best = None
    for other in path.parent.glob(f"{head}*{tail}"):
        size = other.name[len(head) : -len(tail)]
        if size.isdigit() and int(size) < int(n) and (best is None or int(size) > best[0]):
            best = (int(size), other)
    return None if best is None else _read_cached(best[1], action)


def _read_cached(path: Path, action: str) -> ScoreData:
    z = np.load(path, allow_pickle=False)
    return ScoreData(action, z["x"], z["y"], z["condition"], z["seed"])


def split_indices(n: int, master: int, bases: tuple[int, ...] | list[int] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / validation / test indices (6:2:2) of an n-sample training set.

    ``bases``: the sizes of the smaller sets this one grew from (a run continued on more samples,
    ``python -m models.train --init RUN --n N``; the card's ``data.split_bases``). The samples of
    each block ``[b_k, b_k+1)`` are split on their own, the first block exactly as a set of ``b_1``
    samples is, so no sample that trained the continued run's weights lands in the new validation or
    test split."""
    cuts = sorted({int(b) for b in bases})
    if any(b <= 0 or b >= int(n) for b in cuts):
        raise ValueError(f"split bases {cuts} must lie strictly between 0 and the set's {int(n)} samples.")
    parts: list[list[np.ndarray]] = [[], [], []]
    for lo, hi in zip([0] + cuts, cuts + [int(n)]):
        m = hi - lo
        words = [int(master), 0x5917] if lo == 0 else [int(master), 0x5917, lo]
        perm = np.random.default_rng(words).permutation(m) + lo
        a = int(round(SPLIT[0] * m))
        b = a + int(round(SPLIT[1] * m))
        for k, part in enumerate((perm[:a], perm[a:b], perm[b:])):
            parts[k].append(part)
    return tuple(np.sort(np.concatenate(p)) for p in parts)


def card_split(data: dict, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The split of a card's or run's ``data`` section (``seed``, ``split_bases`` when it grew)."""
    return split_indices(n, data["seed"], data.get("split_bases", ()))


# ----------------------------------------------------------------------------- augmentations


def temporal_distortion(x: np.ndarray, rng: np.random.Generator, max_amplitude: float = 0.1) -> np.ndarray:
    """phi(n) = n + A sin(2 pi f n / T), A ~ U(0, max_amplitude T), f ~ U(0.5, 2); (C, T, V) by linear interpolation."""
    t = x.shape[1]
    n = np.arange(t, dtype=np.float64)
    amp = rng.uniform(0.0, max_amplitude) * t
    f = rng.uniform(0.5, 2.0)
    pos = np.clip(n + amp * np.sin(2.0 * np.pi * f * n / t), 0.0, t - 1.0)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, t - 1)
    w = (pos - i0)[None, :, None]
    return ((1.0 - w) * x[:, i0] + w * x[:, i1]).astype(x.dtype)


def joint_jitter(x: np.ndarray, rng: np.random.Generator, sigma: float = 0.02) -> np.ndarray:
    """Eq. 3: N(0, sigma^2) on every x, y, z coordinate (channels 0-2) of (C, T, V)."""
    out = x.copy()
    out[:3] += rng.normal(0.0, sigma, out[:3].shape).astype(x.dtype)
    return out


def rotate_y(x: np.ndarray, rng: np.random.Generator, max_deg: float = 30.0) -> np.ndarray:
    """Eq. 4: rotation of channels 0-2 of (C, T, V) about the vertical by U(-max_deg, max_deg)."""
    a = np.radians(rng.uniform(-max_deg, max_deg))
    c, s = np.cos(a), np.sin(a)
    out = x.copy()
    out[0] = c * x[0] + s * x[2]
    out[2] = -s * x[0] + c * x[2]
    return out


def augment_batch(x: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Each of the three augmentations applied to each sample of (N, C, T, V) with probability p."""
    out = x.copy()
    for i in range(out.shape[0]):
        if rng.random() < p:
            out[i] = temporal_distortion(out[i], rng)
        if rng.random() < p:
            out[i] = joint_jitter(out[i], rng)
        if rng.random() < p:
            out[i] = rotate_y(out[i], rng)
    return out
