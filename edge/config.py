"""The one validated configuration of FieldCoach.

A YAML file (``--config FILE`` or ``$FIELDCOACH_CONFIG``) is merged over the defaults; unknown keys
are rejected and every field has bounds and a description. ``config_hash`` is recorded with every
result so a stored score says which configuration produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.actions.spec import ACTION_IDS
from edge.guide.guide import GuideConfig


class ConfigError(ValueError):
    """The configuration file is missing or invalid; the message is one sentence."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AnalysisConfig(_Section):
    min_confidence: float = Field(
        0.5, ge=0.0, le=1.0, description="joints below this confidence count as not seen (gap-filled)"
    )
    normalize_centre: str = Field(
        "trunk", pattern="^(trunk|all)$", description="Eq. 2 centre: mean of trunk joints or of all joints"
    )
    normalize_per_frame: bool = Field(True, description="Eq. 2 per frame (paper) or one centre/scale per sequence")
    max_missing_fraction: float = Field(
        0.6, ge=0.0, le=1.0, description="refuse to analyse a sequence with more missing joints than this"
    )


class PathsConfig(_Section):
    data_dir: Path = Field(Path("/var/lib/fieldcoach"), description="student data (database, sessions)")
    models_dir: Path = Field(Path("models/shipped"), description="active model bundle")


class FieldCoachConfig(_Section):
    action: str = Field("standing_long_jump", description="default action for the session")
    fps: float = Field(30.0, gt=1.0, le=240.0, description="nominal skeleton rate (Hz)")
    store_video: bool = Field(False, description="store raw video/depth; off by default (students are minors)")
    retention_days: int = Field(
        365, ge=1, le=3650, description="attempts older than this many days are purged with their skeletons"
    )
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig, description="analysis settings")
    paths: PathsConfig = Field(default_factory=PathsConfig, description="file locations")
    guide: GuideConfig = Field(default_factory=GuideConfig, description="SportsRAG guidance: index, embedder, GGUF model")
    guidance_in_analyze: bool = Field(True, description="write guidance as part of every analysis")

    def model_post_init(self, __context) -> None:
        if self.action not in ACTION_IDS:
            raise ValueError(f"action must be one of {', '.join(ACTION_IDS)}")

    def config_hash(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def load_config(path: str | os.PathLike | None = None) -> FieldCoachConfig:
    """Defaults, overridden by the YAML file at ``path`` or ``$FIELDCOACH_CONFIG`` when given."""
    path = path or os.environ.get("FIELDCOACH_CONFIG")
    if not path:
        return FieldCoachConfig()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"configuration file {p} does not exist.")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"configuration file {p} is not valid YAML ({e.__class__.__name__}).") from None
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {p} must hold a mapping of settings.")
    try:
        return FieldCoachConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise ConfigError(f"configuration file {p}: {loc}: {err['msg']}.") from None
