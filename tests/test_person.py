"""PersonFinder on synthetic depth images: who is taken for the athlete, and when.

The scene is a wall 4 m away; people are upright boxes drawn with the real NFOV calibration's
focal lengths. A classmate walks through the picture at 0.6 m/s, 1.7 m from the camera; the
athlete steps in at 3 m and stands still.
"""

import numpy as np
import pytest

from edge.capture.sim_calibration import default_calibration
from edge.fusion.person import PersonFinder

INTR = default_calibration().depth
WALL_MM = 4000
FPS = 30.0


def draw(depth: np.ndarray, x_m: float, z_m: float, width_m: float = 0.45, height_m: float = 1.6) -> None:
    """An upright box x_m to the side of the optical axis, z_m away, its bottom 0.9 m below the axis."""
    u0 = int(round(INTR.cx + INTR.fx * (x_m - width_m / 2) / z_m))
    u1 = int(round(INTR.cx + INTR.fx * (x_m + width_m / 2) / z_m))
    v0 = int(round(INTR.cy + INTR.fy * (0.9 - height_m) / z_m))
    v1 = int(round(INTR.cy + INTR.fy * 0.9 / z_m))
    h, w = depth.shape
    u0, u1, v0, v1 = max(u0, 0), min(u1, w), max(v0, 0), min(v1, h)
    if u1 > u0 and v1 > v0:
        region = depth[v0:v1, u0:u1]
        np.minimum(region, int(z_m * 1000), out=region)


def scene(k: int, walker_from: int | None, athlete_from: int | None, walker_z: float = 1.7) -> np.ndarray:
    depth = np.full((INTR.height, INTR.width), WALL_MM, np.uint16)
    if athlete_from is not None and k >= athlete_from:
        draw(depth, 0.0, 3.0)
    if walker_from is not None and k >= walker_from:
        x = -1.2 + 0.6 * (k - walker_from) / FPS  # 0.6 m/s across the picture
        draw(depth, x, walker_z, width_m=0.5, height_m=1.8)  # larger in metric area than the athlete
    return depth


def run(n: int, finder: PersonFinder, **kw) -> list:
    out = []
    for k in range(n):
        out.append(finder(scene(k, **kw)))
    return out


def test_a_classmate_walking_in_first_is_never_taken_for_the_athlete():
    finder = PersonFinder(INTR, learn_frames=15)
    # the walker is alone in the picture for 84 frames, then still in it (beside the athlete) until ~130
    dets = run(160, finder, walker_from=16, athlete_from=100)
    depths = [d.median_depth_m for d in dets if d is not None]
    assert depths, "the athlete standing at the station was never found"
    assert all(abs(z - 3.0) < 0.2 for z in depths), f"something other than the athlete was tracked: {sorted(set(np.round(depths, 2)))}"
    first = next(k for k, d in enumerate(dets) if d is not None)
    assert first == 100 + finder.dwell_frames - 1  # found once they have stood still for dwell_frames
    assert all(d is not None for d in dets[first:])


def test_a_still_athlete_is_acquired_after_the_dwell_and_not_before():
    finder = PersonFinder(INTR, learn_frames=15, dwell_frames=10)
    dets = run(40, finder, walker_from=None, athlete_from=20)
    found = [k for k, d in enumerate(dets) if d is not None]
    assert found[0] == 20 + 10 - 1
    assert found == list(range(found[0], 40))


def test_the_tracked_athlete_keeps_the_track_while_a_classmate_crosses_in_front():
    finder = PersonFinder(INTR, learn_frames=15)
    dets = run(160, finder, walker_from=40, athlete_from=16)
    tracked = [d for d in dets[40:] if d is not None]
    assert len(tracked) > 60
    assert all(abs(d.median_depth_m - 3.0) < 0.2 for d in tracked)


def test_a_walker_alone_is_never_reported():
    finder = PersonFinder(INTR, learn_frames=15)
    dets = run(100, finder, walker_from=16, athlete_from=None)
    assert all(d is None for d in dets)


@pytest.mark.parametrize("kw", [{"dwell_frames": 0}, {"dwell_radius_m": 0.0}])
def test_bad_dwell_settings_are_refused(kw):
    with pytest.raises(ValueError, match="dwell"):
        PersonFinder(INTR, **kw)


def test_a_slim_athlete_flickering_under_the_minimum_area_is_still_acquired():
    """A slim student in profile is barely ``min_area_m2`` of valid depth and drops under it every
    few frames; a missed frame keeps the candidate's count (``dwell_miss_frames``), a long absence
    does not."""

    def slim(k: int) -> np.ndarray:
        depth = np.full((INTR.height, INTR.width), WALL_MM, np.uint16)
        if k >= 20:
            draw(depth, -1.0, 3.0, width_m=0.12, height_m=0.6 if k % 3 == 0 else 1.0)  # ~0.05 / 0.093 m^2
        return depth

    found = {}
    for miss in (3, 0):
        finder = PersonFinder(INTR, learn_frames=15, dwell_miss_frames=miss)
        dets = [finder(slim(k)) for k in range(80)]
        found[miss] = [k for k, d in enumerate(dets) if d is not None]
    assert found[3] and found[3][0] == 20 + 15 + 15 // 2 - 1  # one frame in three missed: 22 frames
    assert found[3] == list(range(found[3][0], 80))  # tracked from then on (the tracking needs half the area)
    assert found[0] == []  # without the tolerance the count restarts at every missed frame
    with pytest.raises(ValueError, match="dwell_miss_frames"):
        PersonFinder(INTR, dwell_miss_frames=-1)
