"""The scorer's one validated configuration: network shape, loss weights, Table 5 ablations.

Defaults are the paper's (adaptive-GCN paper, Sec. 3-5): 6 blocks of 64-64-128-128-256-256
channels, temporal branches (3,1), (5,2), (9,4), (1,1), d_a = 64, R = 5 limb regions with
C_L = 64, C_J = 128, P = 4 phases, G = 5 grades, Delta in [-10, 10], dropout 0.5,
lambda_1 = 0.5, lambda_2 = 0.2, lambda_3 = 0.1, gamma = tau = 1.0, delta = 5 points.

``ablation_config("A")`` .. ``("F")`` map the letters exactly as the paper's Table 5 does:

- A: no adaptive graph convolution (fixed physical A, no learned B^(l))
- B: no temporal multi-scale aggregation (one temporal conv, kernel 3, dilation 1)
- C: no attention-guided edge weight learning (neither spatial Eq. 7 nor temporal Eq. 8 attention)
- D: no segmented (phase) scoring head
- E: no contrastive bias correction (lambda_3 = 0 and no Delta term)
- F: no ranking loss (lambda_1 = 0)

``fixed_gcn_baseline_config()`` is the plain fixed-adjacency GCN regressor: all six removed.
Unknown keys are rejected everywhere; every field has bounds and a description.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge.skeleton.joints import JOINT_NAMES

#: Grade names, index order of the classifier output (paper Eq. 18: excellent ... fail).
GRADE_NAMES: tuple[str, ...] = ("excellent", "good", "medium", "pass", "fail")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TemporalBranch(_Section):
    """One branch of the temporal multi-scale module (Eq. 6)."""

    kernel: int = Field(..., ge=1, le=15, description="temporal kernel size k_m (frames)")
    dilation: int = Field(..., ge=1, le=8, description="dilation rate d_m (frames)")


class LimbRegion(_Section):
    """One limb region of interest of the local branch (Eq. 10)."""

    name: str = Field(..., min_length=1, max_length=32, description="region name (reported with its attention)")
    joints: tuple[str, ...] = Field(..., min_length=1, max_length=17, description="COCO-17 joint names in the region")

    @field_validator("joints")
    @classmethod
    def _known_joints(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            if name not in JOINT_NAMES:
                raise ValueError(f"unknown joint {name!r}")
        if len(set(v)) != len(v):
            raise ValueError("a region lists a joint twice")
        return v


PAPER_BRANCHES: tuple[TemporalBranch, ...] = (
    TemporalBranch(kernel=3, dilation=1),
    TemporalBranch(kernel=5, dilation=2),
    TemporalBranch(kernel=9, dilation=4),
    TemporalBranch(kernel=1, dilation=1),
)
SINGLE_SCALE_BRANCH: tuple[TemporalBranch, ...] = (TemporalBranch(kernel=3, dilation=1),)

#: The paper's R = 5 regions in its order: right arm, left arm, right leg, left leg, torso.
#: COCO-17 has no spine joints, so the torso is the four trunk joints of Eq. 2; the face joints
#: reach the score through the global branch only.
PAPER_REGIONS: tuple[LimbRegion, ...] = (
    LimbRegion(name="right_arm", joints=("right_shoulder", "right_elbow", "right_wrist")),
    LimbRegion(name="left_arm", joints=("left_shoulder", "left_elbow", "left_wrist")),
    LimbRegion(name="right_leg", joints=("right_hip", "right_knee", "right_ankle")),
    LimbRegion(name="left_leg", joints=("left_hip", "left_knee", "left_ankle")),
    LimbRegion(name="torso", joints=("left_shoulder", "right_shoulder", "left_hip", "right_hip")),
)


class NetworkConfig(_Section):
    """Shape of the adaptive spatio-temporal GCN and its hierarchical scoring head."""

    in_channels: int = Field(
        3, ge=1, le=16, description="input channels C per joint and frame: 3 = normalized x, y, z (Eq. 2); 4 adds confidence"
    )
    channels: tuple[int, ...] = Field(
        (64, 64, 128, 128, 256, 256),
        min_length=1,
        max_length=12,
        description="output channels of each spatio-temporal block, C_t = 64 * 2^floor((t-1)/2) (Sec. 3)",
    )
    strides: tuple[int, ...] = Field(
        (1, 1, 2, 1, 2, 1),
        min_length=1,
        max_length=12,
        description="temporal stride of each block; 2 halves the frames where the channels double (Sec. 3)",
    )
    width_multiplier: float = Field(
        1.0, gt=0.0, le=4.0, description="scales every block's channels (1.0 = the paper's widths)"
    )
    unit_temporal_kernel: int = Field(
        9,
        ge=1,
        le=15,
        description="kernel of the per-joint temporal convolution that follows each graph convolution and "
        "carries the stride (ST-GCN unit; Sec. 3 'alternating spatial graph convolution and temporal convolution')",
    )
    temporal_branches: tuple[TemporalBranch, ...] = Field(
        PAPER_BRANCHES, min_length=1, max_length=8, description="(kernel, dilation) of the Eq. 6 branches"
    )
    adaptive_graph: bool = Field(True, description="learn B^(l) per block (Eq. 5); False = ablation A")
    attention: bool = Field(
        True, description="spatial (Eq. 7) and temporal (Eq. 8) attention; False = ablation C"
    )
    attention_dim: int = Field(64, ge=1, le=1024, description="temporal attention hidden size d_a (Eq. 8)")
    regions: tuple[LimbRegion, ...] = Field(
        PAPER_REGIONS, min_length=1, max_length=17, description="limb regions of the local branch (Eq. 10)"
    )
    local_dim: int = Field(64, ge=1, le=1024, description="local feature size C_L = d_k (Eq. 10-11)")
    joint_dim: int = Field(128, ge=1, le=1024, description="joint encoding size C_J (Eq. 12)")
    phase_head: bool = Field(True, description="segmented phase scoring head (Eq. 13-14); False = ablation D")
    num_phases: int = Field(4, ge=1, le=16, description="number of phases P (Eq. 13)")
    phase_detector_dim: int = Field(
        64, ge=1, le=1024, description="hidden channels of the lightweight temporal phase detector"
    )
    bias_correction: bool = Field(True, description="Delta = 10 tanh(FC(f_joint)) term (Eq. 16); False = ablation E")
    bias_range: float = Field(10.0, gt=0.0, le=50.0, description="Delta range in points (Eq. 16: 10)")
    num_grades: int = Field(5, ge=2, le=10, description="grade classes G (Eq. 18)")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="dropout before the grade classifier (Sec. 3)")
    score_init: float = Field(
        50.0,
        ge=0.0,
        le=100.0,
        description="initial bias of each phase regressor (or of the score layer without a phase head), so "
        "an untrained model scores inside [0, 100] where the clip of Eq. 17 passes gradients",
    )
    min_frames: int = Field(8, ge=1, le=1000, description="shortest input accepted (frames at 30 Hz)")

    @model_validator(mode="after")
    def _consistent(self) -> "NetworkConfig":
        if len(self.channels) != len(self.strides):
            raise ValueError(f"channels has {len(self.channels)} blocks but strides has {len(self.strides)}")
        if any(c < 1 for c in self.channels):
            raise ValueError("every block needs at least one channel")
        if any(s not in (1, 2) for s in self.strides):
            raise ValueError("block strides must be 1 or 2")
        if self.unit_temporal_kernel % 2 == 0:
            raise ValueError("unit_temporal_kernel must be odd so the convolution is centred")
        if len({r.name for r in self.regions}) != len(self.regions):
            raise ValueError("region names must be unique")
        return self

    def block_channels(self) -> tuple[int, ...]:
        """Channels of each block after the width multiplier (at least 4, multiple of 2)."""
        return tuple(max(4, 2 * round(c * self.width_multiplier / 2)) for c in self.channels)

    def frame_stride(self) -> int:
        """Input frames per output frame L' of the backbone (product of the strides)."""
        out = 1
        for s in self.strides:
            out *= s
        return out

    def output_frames(self, frames: int) -> int:
        """L' for an input of ``frames`` frames (each stride-2 block gives ceil(L / 2))."""
        n = int(frames)
        for s in self.strides:
            n = (n + s - 1) // s
        return n


class LossConfig(_Section):
    """Weights and margins of the mixed loss (Sec. 4-5, Eq. 15 and 19-23)."""

    lambda_rank: float = Field(0.5, ge=0.0, le=10.0, description="lambda_1, ranking loss weight (Eq. 23); 0 = ablation F")
    lambda_local: float = Field(
        0.2, ge=0.0, le=10.0, description="lambda_2, weight of the phase-consistency and smoothness losses (Eq. 23)"
    )
    lambda_contrast: float = Field(
        0.1, ge=0.0, le=10.0, description="lambda_3, triplet contrastive loss weight (Eq. 23); 0 in ablation E"
    )
    lambda_grade: float = Field(
        1.0,
        ge=0.0,
        le=10.0,
        description="weight of the grade cross-entropy; the paper supervises the grade (Sec. 4) but gives no weight",
    )
    rank_margin: float = Field(1.0, ge=0.0, le=50.0, description="gamma, ranking margin in points (Eq. 20)")
    contrast_margin: float = Field(1.0, ge=0.0, le=100.0, description="tau, triplet margin (Eq. 15)")
    contrast_threshold: float = Field(
        5.0, gt=0.0, le=100.0, description="delta, score gap in points separating positives from negatives (Sec. 4)"
    )
    grade_thresholds: tuple[float, ...] = Field(
        (90.0, 80.0, 70.0, 60.0),
        min_length=1,
        max_length=9,
        description="lower score bound of each grade but the last, best first (excellent >= 90 ... fail < 60)",
    )

    @field_validator("grade_thresholds")
    @classmethod
    def _descending(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(not (0.0 <= x <= 100.0) for x in v):
            raise ValueError("grade thresholds must lie in [0, 100]")
        if any(a <= b for a, b in zip(v, v[1:])):
            raise ValueError("grade thresholds must be strictly decreasing")
        return v


class ScorerConfig(_Section):
    """Network and loss together: one object names a trained scorer's whole recipe."""

    name: str = Field("agcn-full", min_length=1, max_length=64, description="variant name (recorded with results)")
    network: NetworkConfig = Field(default_factory=NetworkConfig, description="network shape and module switches")
    loss: LossConfig = Field(default_factory=LossConfig, description="mixed loss weights")

    @model_validator(mode="after")
    def _consistent(self) -> "ScorerConfig":
        if not self.network.phase_head and self.loss.lambda_local > 0:
            raise ValueError("lambda_local must be 0 without a phase head: Eq. 21-22 need phase scores")
        if len(self.loss.grade_thresholds) != self.network.num_grades - 1:
            raise ValueError(
                f"{self.network.num_grades} grades need {self.network.num_grades - 1} grade thresholds, "
                f"got {len(self.loss.grade_thresholds)}"
            )
        return self

    def config_hash(self) -> str:
        """Short sha256 of the canonical JSON (recorded with every exported model)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


#: Table 5 rows: letter -> (the paper's label, network changes, loss changes).
ABLATIONS: dict[str, tuple[str, dict, dict]] = {
    "A": ("without adaptive graph convolution", {"adaptive_graph": False}, {}),
    "B": ("without temporal multi-scale aggregation", {"temporal_branches": SINGLE_SCALE_BRANCH}, {}),
    "C": ("without attention mechanism", {"attention": False}, {}),
    "D": ("without segmented scoring head", {"phase_head": False}, {"lambda_local": 0.0}),
    "E": ("without contrastive bias correction", {"bias_correction": False}, {"lambda_contrast": 0.0}),
    "F": ("without ranking loss", {}, {"lambda_rank": 0.0}),
}


def _with_changes(base: ScorerConfig, name: str, network: dict, loss: dict) -> ScorerConfig:
    data = base.model_dump()
    data["name"] = name
    data["network"].update(network)
    data["loss"].update(loss)
    return ScorerConfig.model_validate(data)


def ablation_config(letter: str, base: ScorerConfig | None = None) -> ScorerConfig:
    """Model-<letter> of Table 5 (A-F), derived from ``base`` (default: the full model)."""
    key = str(letter).upper()
    if key not in ABLATIONS:
        raise ValueError(f"unknown ablation {letter!r}; Table 5 has {', '.join(ABLATIONS)}")
    _, network, loss = ABLATIONS[key]
    return _with_changes(base or ScorerConfig(), f"agcn-ablation-{key}", network, loss)


def fixed_gcn_baseline_config(base: ScorerConfig | None = None) -> ScorerConfig:
    """The fixed-adjacency GCN baseline: every Table 5 component removed at once (A-F)."""
    network: dict = {}
    loss: dict = {}
    for _, n, lo in ABLATIONS.values():
        network.update(n)
        loss.update(lo)
    return _with_changes(base or ScorerConfig(), "gcn-fixed-baseline", network, loss)
