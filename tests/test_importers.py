"""Importers: BVH (small hand-built files, forward kinematics checked by hand) and UI-PRMD (the real
deep-squat recordings in shared/data: every file loads, bones are rigid, feet on the floor, squats
look like squats, correct reps are deeper than incorrect ones, Kinect and Vicon agree)."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from edge.importers import FORMATS, ImportFormatError, import_file, read_bvh, read_uiprmd_kinect, read_uiprmd_vicon
from edge.importers.bvh import bvh_forward_kinematics, normalize_joint_name, parse_bvh
from edge.importers.uiprmd import KINECT_PARENTS, fit_limb_lengths, kinect_forward_kinematics
from edge.skeleton.joints import Joint
from edge.skeleton.sequence import bone_lengths

J = Joint
FACE = [J.NOSE, J.LEFT_EYE, J.RIGHT_EYE, J.LEFT_EAR, J.RIGHT_EAR]
BODY = [j for j in J if j not in FACE]


# ---------------------------------------------------------------------------------------------
# Helpers


def rx(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def ry(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rz(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def robust_bone_spread(joints: np.ndarray) -> np.ndarray:
    """Per rigid bone: max |length - median| over the frames left after dropping the worst 1%."""
    lengths = bone_lengths(joints)
    lengths = lengths[np.isfinite(lengths).all(axis=1)]
    dev = np.abs(lengths - np.median(lengths, axis=0))
    worst = dev.max(axis=1)
    keep = np.argsort(worst)[: len(worst) - len(worst) // 100]
    return dev[keep].max(axis=0)


def mid_hip_y(seq) -> np.ndarray:
    return 0.5 * (seq.joints[:, J.LEFT_HIP, 1] + seq.joints[:, J.RIGHT_HIP, 1]).astype(np.float64)


def squat_figures(seq) -> dict:
    """Pelvis drop, bottom frame and heights, from the frames where hips and knees are seen."""
    ok = np.isfinite(seq.joints[:, [J.LEFT_HIP, J.RIGHT_HIP, J.LEFT_KNEE, J.RIGHT_KNEE]]).all(axis=(1, 2))
    j = seq.joints[ok].astype(np.float64)
    hip = 0.5 * (j[:, J.LEFT_HIP, 1] + j[:, J.RIGHT_HIP, 1])
    n0 = max(3, len(hip) // 20)
    b = int(np.argmin(hip))
    ankles = j[:n0][:, [J.LEFT_ANKLE, J.RIGHT_ANKLE], 1]
    return {
        "start_hip": float(hip[:n0].mean()),
        "drop": float(hip[:n0].mean() - hip[b]),
        "bottom_frac": float(np.flatnonzero(ok)[b] / len(ok)),
        "hip_bottom": float(hip[b]),
        "knee_bottom": float(0.5 * (j[b, J.LEFT_KNEE, 1] + j[b, J.RIGHT_KNEE, 1])),
        "ankles_start": ankles[np.isfinite(ankles)],
        "knee_x_minus_hip_x_bottom": float(
            0.5 * (j[b, J.LEFT_KNEE, 0] + j[b, J.RIGHT_KNEE, 0]) - 0.5 * (j[b, J.LEFT_HIP, 0] + j[b, J.RIGHT_HIP, 0])
        ),
        "thigh": float(np.median(np.linalg.norm(j[:, J.LEFT_KNEE] - j[:, J.LEFT_HIP], axis=-1))),
    }


def assert_one_sentence(err: pytest.ExceptionInfo, *must_contain: str) -> None:
    msg = str(err.value)
    assert "\n" not in msg and msg.endswith("."), msg
    for part in must_contain:
        assert part in msg, msg


# ---------------------------------------------------------------------------------------------
# BVH

CHAIN_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Neck
    {
      OFFSET 0 20 0
      CHANNELS 3 Xrotation Yrotation Zrotation
      End Site
      {
        OFFSET 0 5 0
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
0 0 0 0 0 0 0 0 0 0 0 0
1 2 3 30 45 60 90 0 0 0 90 0
"""


def test_bvh_forward_kinematics_matches_hand_computation():
    bvh = parse_bvh(CHAIN_BVH, "chain.bvh")
    assert [n.name for n in bvh.nodes] == ["Hips", "Spine", "Neck", "Neck_end"]
    assert [n.parent for n in bvh.nodes] == [-1, 0, 1, 2]
    assert bvh.frame_time == 0.04 and bvh.motion.shape == (2, 12)
    pos = bvh_forward_kinematics(bvh)
    # Frame 0: the rest pose, a vertical chain.
    np.testing.assert_allclose(pos[0], [[0, 0, 0], [0, 10, 0], [0, 30, 0], [0, 35, 0]], atol=1e-9)
    # Frame 1, by hand: root at (1, 2, 3) with R0 = Rz(30) Rx(45) Ry(60) (declared Z X Y);
    # Spine R1 = Rz(90); Neck declares X Y Z: R2 = Rx(0) Ry(90) Rz(0).
    r0 = rz(30) @ rx(45) @ ry(60)
    r1 = r0 @ rz(90)
    r2 = r1 @ ry(90)
    root = np.array([1.0, 2.0, 3.0])
    spine = root + r0 @ [0, 10, 0]
    neck = spine + r1 @ [0, 20, 0]
    end = neck + r2 @ [0, 5, 0]
    np.testing.assert_allclose(pos[1], [root, spine, neck, end], atol=1e-9)
    # Bone lengths survive any rotation.
    assert np.linalg.norm(pos[1, 2] - pos[1, 1]) == pytest.approx(20.0)


@pytest.mark.parametrize(
    "order, expected",
    [
        # Zrotation 90 then Xrotation 90 (intrinsic): R = Rz(90) Rx(90); (0,1,0) -> (0,0,1)
        ("Zrotation Xrotation Yrotation", rz(90) @ rx(90) @ ry(0)),
        # The same angle values in another declared order give a different rotation.
        ("Xrotation Zrotation Yrotation", rx(90) @ rz(90) @ ry(0)),
        ("Yrotation Xrotation Zrotation", ry(0) @ rx(90) @ rz(90)),
    ],
)
def test_bvh_rotation_order_follows_channels(order, expected):
    values = {"Xrotation": 90.0, "Yrotation": 0.0, "Zrotation": 90.0}
    row = " ".join(str(values[c]) for c in order.split())
    text = (
        "HIERARCHY\nROOT Root\n{\n OFFSET 0 0 0\n CHANNELS 3 " + order + "\n"
        " End Site\n {\n  OFFSET 0 1 0\n }\n}\nMOTION\nFrames: 1\nFrame Time: 0.1\n" + row + "\n"
    )
    pos = bvh_forward_kinematics(parse_bvh(text))
    np.testing.assert_allclose(pos[0, 1], expected @ [0, 1, 0], atol=1e-9)
    assert not np.allclose(rz(90) @ rx(90) @ [0, 1, 0], rx(90) @ rz(90) @ [0, 1, 0])


def humanoid_bvh(up: str = "y", unit: float = 1.0, names: dict | None = None, frames: int = 3) -> str:
    """A CMU-named humanoid in centimetres (times ``unit``), facing +z, y up (or z up)."""
    n = {
        "Hips": "Hips", "LeftUpLeg": "LeftUpLeg", "LeftLeg": "LeftLeg", "LeftFoot": "LeftFoot",
        "RightUpLeg": "RightUpLeg", "RightLeg": "RightLeg", "RightFoot": "RightFoot", "Spine": "Spine",
        "Head": "Head", "LeftShoulder": "LeftShoulder", "LeftArm": "LeftArm", "LeftForeArm": "LeftForeArm",
        "LeftHand": "LeftHand", "RightShoulder": "RightShoulder", "RightArm": "RightArm",
        "RightForeArm": "RightForeArm", "RightHand": "RightHand",
    }  # fmt: skip
    n.update(names or {})

    def off(x, y, z):
        v = np.array([x, y, z], dtype=float) * unit
        if up == "z":  # the same body with z up: (x, y, z)_yup -> (x, -z, y)
            v = np.array([v[0], -v[2], v[1]])
        return "OFFSET " + " ".join(f"{c:g}" for c in v)

    rot = "CHANNELS 3 Zrotation Xrotation Yrotation"

    def leg(side, sx):
        return f"""JOINT {n[side + 'UpLeg']}
  {{
    {off(sx * 9, -5, 0)}
    {rot}
    JOINT {n[side + 'Leg']}
    {{
      {off(0, -42, 0)}
      {rot}
      JOINT {n[side + 'Foot']}
      {{
        {off(0, -40, 0)}
        {rot}
        End Site
        {{
          {off(0, -7, 12)}
        }}
      }}
    }}
  }}"""

    def arm(side, sx):
        return f"""JOINT {n[side + 'Shoulder']}
    {{
      {off(sx * 3, 22, 0)}
      {rot}
      JOINT {n[side + 'Arm']}
      {{
        {off(sx * 15, 0, 0)}
        {rot}
        JOINT {n[side + 'ForeArm']}
        {{
          {off(sx * 28, 0, 0)}
          {rot}
          JOINT {n[side + 'Hand']}
          {{
            {off(sx * 25, 0, 0)}
            {rot}
            End Site
            {{
              {off(sx * 8, 0, 0)}
            }}
          }}
        }}
      }}
    }}"""

    text = f"""HIERARCHY
ROOT {n['Hips']}
{{
  {off(0, 0, 0)}
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  {leg('Left', 1)}
  {leg('Right', -1)}
  JOINT {n['Spine']}
  {{
    {off(0, 25, 0)}
    {rot}
    {arm('Left', 1)}
    {arm('Right', -1)}
    JOINT {n['Head']}
    {{
      {off(0, 30, 0)}
      {rot}
      End Site
      {{
        {off(0, 20, 0)}
      }}
    }}
  }}
}}
MOTION
Frames: {frames}
Frame Time: 0.0333333
"""
    n_channels = 6 + 3 * 16
    for f in range(frames):
        vals = np.zeros(n_channels)
        root = np.array([5.0 * f, 94.0, 0.0]) * unit
        vals[:3] = root if up == "y" else [root[0], -root[2], root[1]]
        text += " ".join(f"{v:g}" for v in vals) + "\n"
    return text


def test_read_bvh_humanoid_cm_to_coco(tmp_path):
    p = tmp_path / "walk.bvh"
    p.write_text(humanoid_bvh())
    seq = read_bvh(p)
    assert seq.meta["units"] == "cm" and seq.meta["scale_m_per_unit"] == 0.01
    assert seq.meta["up_axis"] == "y" and seq.meta["up_axis_detected"]
    assert seq.fps == pytest.approx(30.0, rel=1e-4) and seq.n_frames == 3
    j = seq.joints.astype(np.float64)
    # Floor: the toe end sites (7 cm below the ankle) are at y = 0, so ankles at 0.07 m.
    np.testing.assert_allclose(j[:, [J.LEFT_ANKLE, J.RIGHT_ANKLE], 1], 0.07, atol=1e-6)
    # Root at 0.94 m (its toe end site 5 + 42 + 40 + 7 cm lower, on the floor).
    np.testing.assert_allclose(j[0, J.LEFT_HIP], [0.09, 0.94 - 0.05, 0.0], atol=1e-6)
    np.testing.assert_allclose(j[0, J.LEFT_KNEE], [0.09, 0.94 - 0.47, 0.0], atol=1e-6)
    # LeftArm (not the clavicle "LeftShoulder") is the shoulder; LeftHand the wrist.
    np.testing.assert_allclose(j[0, J.LEFT_SHOULDER], [0.18, 0.94 + 0.47, 0.0], atol=1e-6)
    np.testing.assert_allclose(j[0, J.LEFT_WRIST], [0.71, 0.94 + 0.47, 0.0], atol=1e-6)
    np.testing.assert_allclose(j[2, J.RIGHT_HIP, 0] - j[0, J.RIGHT_HIP, 0], 0.10, atol=1e-6)
    # The head joint is not the nose: face points missing with confidence 0; body seen with 1.
    assert np.isnan(j[:, FACE]).all() and (seq.confidence[:, FACE] == 0).all()
    assert (seq.confidence[:, BODY] == 1).all()
    assert "nose" in seq.meta["unmapped"] and "left_shoulder=LeftArm" in seq.meta["joint_map"]


def test_read_bvh_z_up_and_units_agree_with_y_up(tmp_path):
    ref_p, z_p, m_p, in_p = (tmp_path / f"{k}.bvh" for k in ("ref", "zup", "metres", "inches"))
    ref_p.write_text(humanoid_bvh())
    z_p.write_text(humanoid_bvh(up="z"))
    m_p.write_text(humanoid_bvh(unit=0.01))
    in_p.write_text(humanoid_bvh(unit=1 / 2.54))
    ref = read_bvh(ref_p)
    z = read_bvh(z_p)
    assert z.meta["up_axis"] == "z"
    np.testing.assert_allclose(z.joints, ref.joints, atol=1e-5)
    metres = read_bvh(m_p)
    assert metres.meta["units"] == "m"
    np.testing.assert_allclose(metres.joints, ref.joints, atol=1e-5)
    inches = read_bvh(in_p)
    assert inches.meta["units"] == "in"
    np.testing.assert_allclose(inches.joints, ref.joints, atol=1e-5)
    # Explicit arguments override the guesses.
    forced = read_bvh(z_p, up_axis="z", scale=0.01, ground=False)
    assert forced.meta["units"] == "given" and not forced.meta["up_axis_detected"]
    np.testing.assert_allclose(forced.joints[..., 1] - ref.meta["floor_offset_m"], ref.joints[..., 1], atol=1e-5)


def test_bvh_name_maps(tmp_path):
    mixamo = {k: f"mixamorig:{k}" for k in ("Hips", "LeftArm", "LeftForeArm", "LeftHand", "LeftUpLeg", "LeftLeg")}
    p = tmp_path / "mixamo.bvh"
    p.write_text(humanoid_bvh(names=mixamo))
    seq = read_bvh(p)
    assert "left_elbow=mixamorig:LeftForeArm" in seq.meta["joint_map"]
    assert normalize_joint_name("Bip01 L UpperArm") == "lupperarm"
    assert normalize_joint_name("L_Shoulder") == "lshoulder"
    # Custom map: the Head joint as the nose (the user's choice), the shoulders unmapped.
    custom = read_bvh(p, name_map={"nose": "HEAD", "left_shoulder": [], "right_shoulder": ()})
    assert np.isfinite(custom.joints[:, J.NOSE]).all() and custom.confidence[0, J.NOSE] == 1
    assert np.isnan(custom.joints[:, J.LEFT_SHOULDER]).all()
    with pytest.raises(ImportFormatError) as err:
        read_bvh(p, name_map={"nose": "Snout"})
    assert_one_sentence(err, str(p), "nose")
    with pytest.raises(ValueError, match="not a COCO-17 joint"):
        read_bvh(p, name_map={"pelvis": "Hips"})


def test_bvh_unknown_names_need_a_map(tmp_path):
    odd = {k: f"bone{i}" for i, k in enumerate(["LeftUpLeg", "LeftLeg", "LeftFoot", "RightUpLeg", "RightLeg",
                                                 "RightFoot", "LeftArm", "LeftForeArm", "LeftHand", "RightArm",
                                                 "RightForeArm", "RightHand"])}  # fmt: skip
    p = tmp_path / "odd.bvh"
    p.write_text(humanoid_bvh(names=odd))
    with pytest.raises(ImportFormatError) as err:
        read_bvh(p)
    assert_one_sentence(err, str(p), "name map")
    seq = read_bvh(p, name_map={"left_hip": "bone0", "right_hip": "bone3", "left_ankle": "bone2", "right_ankle": "bone5"})
    assert seq.meta["units"] == "cm" and np.isfinite(seq.joints[:, J.LEFT_ANKLE]).all()


@pytest.mark.parametrize(
    "mutate, expect",
    [
        (lambda t: t.rsplit("\n", 2)[0] + "\n", "truncated"),
        (lambda t: t.replace("1 2 3 30 45 60 90 0 0 0 90 0", "1 2 3 30 45 60 90 0 0 0 90"), "11 values"),
        (lambda t: t.replace("1 2 3 30 45 60", "1 2 x 30 45 60"), "not a number"),
        (lambda t: t.replace("CHANNELS 3 Xrotation", "CHANNELS 2 Xrotation"), "says 2 channels"),
        (lambda t: t.replace("CHANNELS 3 Xrotation Yrotation Zrotation", "CHANNELS 3 Xrotation Yrotation Wrotation"),
         "unknown channel"),
        (lambda t: t.replace("CHANNELS 3 Xrotation Yrotation", "CHANNELS 3 Xrotation Xrotation"), "listed twice"),
        (lambda t: t.replace("OFFSET 0 20 0", "OFFSET 0 20"), "OFFSET needs 3 numbers"),
        (lambda t: t.replace("Frame Time: 0.04", "Frame Time: 0"), "must be positive"),
        (lambda t: t.replace("Frames: 2", "Frames: two"), "whole number"),
        (lambda t: t.split("MOTION")[0], "no MOTION"),
        (lambda t: t.replace("HIERARCHY", "HIERARCHIE"), "not a BVH file"),
        (lambda t: t.replace("  }\n}\nMOTION", "  }\nMOTION"), "unclosed braces"),
        (lambda t: t.replace("Frames: 2", "Frames: 1"), "more motion rows"),
    ],
)
def test_bvh_errors_are_one_sentence(tmp_path, mutate, expect):
    p = tmp_path / "bad.bvh"
    p.write_text(mutate(CHAIN_BVH))
    with pytest.raises(ImportFormatError) as err:
        read_bvh(p, scale=0.01, up_axis="y", name_map={"nose": "Neck"})
    assert_one_sentence(err, str(p), expect)


def test_bvh_missing_and_short_files(tmp_path):
    with pytest.raises(ImportFormatError) as err:
        read_bvh(tmp_path / "nope.bvh")
    assert_one_sentence(err, "nope.bvh", "no such file")
    one = tmp_path / "one.bvh"
    one.write_text(CHAIN_BVH.replace("Frames: 2", "Frames: 1").rsplit("\n", 2)[0] + "\n")
    with pytest.raises(ImportFormatError) as err:
        read_bvh(one, name_map={"nose": "Neck"}, scale=0.01, up_axis="y")
    assert_one_sentence(err, "at least 2 frames")


# ---------------------------------------------------------------------------------------------
# Registry


def test_registry_dispatch_and_errors(tmp_path):
    assert FORMATS == ("bvh", "uiprmd-kinect", "uiprmd-vicon")
    p = tmp_path / "walk.bvh"
    p.write_text(humanoid_bvh())
    np.testing.assert_array_equal(import_file(p, "bvh").joints, read_bvh(p).joints)
    with pytest.raises(ImportFormatError) as err:
        import_file(p, "c3d")
    assert_one_sentence(err, str(p), "c3d")
    assert issubclass(ImportFormatError, ValueError)
    with pytest.raises(ImportFormatError) as err:
        import_file(tmp_path / "missing.txt", "uiprmd-vicon")
    assert_one_sentence(err, "missing.txt")


# ---------------------------------------------------------------------------------------------
# UI-PRMD: synthetic checks of the building blocks


def test_kinect_forward_kinematics_by_hand():
    """Two frames of the 22-joint hierarchy: offsets rotate with the parent's accumulated R."""
    n = 2
    offsets = np.zeros((n, 22, 3))
    offsets[:, 0] = [1.0, 90.0, -200.0]
    offsets[:, 1] = [0.0, 25.0, 0.0]  # spine above the waist
    offsets[:, 14] = [7.0, 0.0, 3.0]  # left hip
    offsets[:, 15] = [0.0, -40.0, 0.0]  # left knee below the hip
    angles = np.zeros((n, 22, 3))
    angles[1, 0] = [10.0, 20.0, 30.0]  # waist: ax, ay, az
    angles[1, 14] = [90.0, 0.0, 0.0]  # hip flexion about x
    pos = kinect_forward_kinematics(offsets.reshape(n, 66), angles.reshape(n, 66))
    np.testing.assert_allclose(pos[0, 15], [8.0, 50.0, -197.0], atol=1e-9)
    r0 = rz(30) @ rx(10) @ ry(20)
    hip = offsets[1, 0] + r0 @ offsets[1, 14]
    knee = hip + r0 @ rx(90) @ offsets[1, 15]
    np.testing.assert_allclose(pos[1, 14], hip, atol=1e-9)
    np.testing.assert_allclose(pos[1, 15], knee, atol=1e-9)
    assert KINECT_PARENTS[15] == 14 and KINECT_PARENTS[7] == 6 and KINECT_PARENTS[6] == 2


def test_fit_limb_lengths_moves_little_and_keeps_straight_limbs_straight():
    rng = np.random.default_rng(3)
    t = 200
    hip = np.zeros((t, 3)) + [0, 0.9, 0]
    bend = np.linspace(0, 2.2, t)  # straight leg to deep knee flexion
    knee = hip + 0.42 * np.stack([np.sin(bend / 2), -np.cos(bend / 2), 0 * bend], axis=-1)
    ankle = knee + 0.40 * np.stack([-np.sin(bend / 2), -np.cos(bend / 2), 0 * bend], axis=-1)
    noisy = [a + rng.normal(0, 0.01, a.shape) for a in (hip, knee, ankle)]
    p, m, d = fit_limb_lengths(*noisy, 0.42, 0.40)
    np.testing.assert_allclose(np.linalg.norm(m - p, axis=-1), 0.42, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(d - m, axis=-1), 0.40, atol=1e-4)
    # The fit stays near the truth: no worse than the noise it removes (a few cm at most).
    assert np.abs(m - knee).max() < 0.06 and np.abs(d - ankle).max() < 0.04
    # A straight limb that is 1 cm too short is lengthened along itself, not folded sideways.
    p, m, d = fit_limb_lengths(hip[:1], knee[:1] + [0, 0.005, 0], ankle[:1] + [0, 0.005, 0], 0.42, 0.40)
    assert abs(m[0, 0] - knee[0, 0]) < 1e-3


# ---------------------------------------------------------------------------------------------
# UI-PRMD: the real recordings


@pytest.fixture(scope="module")
def uiprmd() -> Path:
    from tests.conftest import SHARED_DATA

    root = SHARED_DATA / "ui-prmd-deep-squat"
    if not root.is_dir():
        pytest.fail(f"the UI-PRMD data folder {root} is missing; set FIELDCOACH_SHARED_DATA")
    return root


def rep_files(root: Path, sensor: str) -> list[Path]:
    files = sorted(root.glob(f"*/{sensor}/Positions/*.txt.gz"))
    assert len(files) == 200, f"expected 200 {sensor} repetitions under {root}, found {len(files)}"
    return files


@pytest.fixture(scope="module")
def all_reps(uiprmd) -> dict[str, list]:
    """Every repetition of both sensors, imported once: {"Kinect": [...], "Vicon": [...]}."""
    return {
        "Kinect": [(p, read_uiprmd_kinect(p)) for p in rep_files(uiprmd, "Kinect")],
        "Vicon": [(p, read_uiprmd_vicon(p)) for p in rep_files(uiprmd, "Vicon")],
    }


@pytest.mark.parametrize("sensor, fps", [("Kinect", 30.0), ("Vicon", 100.0)])
def test_every_uiprmd_file_loads_with_labels(all_reps, sensor, fps):
    for path, seq in all_reps[sensor]:
        seq.validate()
        assert seq.fps == fps and seq.action == "deep_squat"
        assert seq.subject == path.name.split("_")[1] and seq.subject.startswith("s")
        label = "incorrect" if path.parts[-4] == "incorrect" else "correct"
        assert seq.meta["label"] == label and seq.meta["correct"] == (label == "correct")
        assert seq.meta["source_format"] == f"uiprmd-{sensor.lower()}"
        assert np.isnan(seq.joints[:, FACE]).all() and (seq.confidence[:, FACE] == 0).all()
        seen = np.isfinite(seq.joints[:, BODY]).all(axis=-1)
        assert (seq.confidence[:, BODY][seen] == 1.0).all()
        if sensor == "Vicon":  # 100 Hz kept, not resampled; markers are never missing here
            assert seen.all() and np.allclose(np.diff(seq.t), 0.01)


def test_kinect_tracking_flips_are_missing_frames(all_reps):
    flips = {p.name: s.meta["tracking_flip_frames"] for p, s in all_reps["Kinect"]}
    # Measured: the tracker turned the body round in three incorrect reps of subject s06 only.
    assert {k for k, v in flips.items() if v} == {
        "m01_s06_e05_positions_inc.txt.gz", "m01_s06_e06_positions_inc.txt.gz", "m01_s06_e10_positions_inc.txt.gz"
    }  # fmt: skip
    seq = dict((p.name, s) for p, s in all_reps["Kinect"])["m01_s06_e06_positions_inc.txt.gz"]
    missing = np.isnan(seq.joints[:, BODY]).all(axis=(1, 2))
    assert missing.sum() == flips["m01_s06_e06_positions_inc.txt.gz"] and missing[0]
    assert (seq.confidence[missing] == 0).all()


@pytest.mark.parametrize("sensor, left_right_tol", [("Kinect", 0.08), ("Vicon", 0.04)])
def test_uiprmd_bones_are_rigid(all_reps, sensor, left_right_tol):
    for path, seq in all_reps[sensor]:
        spread = robust_bone_spread(seq.joints)
        assert spread.max() < 0.02, f"{path.name}: bone length spread {spread.round(3)} m"
        # Left and right segments of the same person agree (Kinect: its standing lengths differ
        # by up to 7.5 cm, Vicon by up to 2.6 cm, measured).
        lengths = np.nanmedian(bone_lengths(seq.joints), axis=0)
        left, right = lengths[[0, 1, 4, 5]], lengths[[2, 3, 6, 7]]
        assert np.abs(left - right).max() < left_right_tol, f"{path.name}: {left.round(3)} vs {right.round(3)}"
        assert ((lengths > 0.18) & (lengths < 0.55)).all(), f"{path.name}: {lengths.round(3)}"


@pytest.mark.parametrize("sensor, end_max, middle_max", [("Kinect", 0.10, 0.20), ("Vicon", 0.05, 0.12)])
def test_uiprmd_rigid_fit_moves_joints_little(all_reps, sensor, end_max, middle_max):
    """The skeleton fit corrects the sources' stretch without inventing a different pose."""
    for path, seq in all_reps[sensor]:
        for limb in ("left_leg", "right_leg", "left_arm", "right_arm"):
            assert seq.meta[f"{limb}_end_move_max_m"] < end_max, path.name
            assert seq.meta[f"{limb}_middle_move_max_m"] < middle_max, path.name


@pytest.mark.parametrize("reader", [read_uiprmd_kinect, read_uiprmd_vicon])
def test_uiprmd_raw_joint_centres_stretch(uiprmd, reader):
    """Without the fit, the sources' own segment-length changes show (why the fit exists)."""
    sensor = "Kinect" if reader is read_uiprmd_kinect else "Vicon"
    spreads = [robust_bone_spread(reader(p, rigid=False).joints) for p in rep_files(uiprmd, sensor)[::20]]
    spreads = np.array(spreads)
    # Legs: thigh and shank stretch by cm in a deep squat (skin markers / depth tracking).
    assert np.median(spreads[:, 4:]) > 0.02
    assert spreads.max() < 0.25


# Ankle heights while standing: Vicon ankle centres 5.4-11 cm (measured); the Kinect floor is its
# toe joint, which sits above the sole, so its ankles come out lower and more spread (1.8-15.6 cm).
@pytest.mark.parametrize("sensor, ankle_band", [("Kinect", (0.01, 0.17)), ("Vicon", (0.03, 0.15))])
def test_uiprmd_feet_on_the_floor_facing_x(all_reps, sensor, ankle_band):
    lo, hi = ankle_band
    for path, seq in all_reps[sensor]:
        f = squat_figures(seq)
        ankles = f["ankles_start"]
        assert lo < ankles.min() and ankles.max() < hi, f"{path.name}: ankles at {ankles.min():.3f}-{ankles.max():.3f} m"
        # Left side at smaller z (facing +x) in every valid frame.
        j = seq.joints[np.isfinite(mid_hip_y(seq))]
        assert (j[:, J.LEFT_HIP, 2] < j[:, J.RIGHT_HIP, 2]).all(), path.name
        assert not (j[:, J.LEFT_ANKLE, 2] >= j[:, J.RIGHT_ANKLE, 2]).any(), path.name  # NaN: not seen
        # At the bottom the knees are in front of the hips (+x): hips go back, knees forward.
        assert f["knee_x_minus_hip_x_bottom"] > 0.05, path.name
        # Start: between the ankles at x = z = 0.
        mid = 0.5 * (j[: len(j) // 20 + 3, J.LEFT_ANKLE] + j[: len(j) // 20 + 3, J.RIGHT_ANKLE])
        assert np.nanmax(np.abs(mid[:, [0, 2]])) < 0.1, path.name
    if sensor == "Vicon":
        heights = np.array([s.meta["foot_marker_height_m"] for _, s in all_reps[sensor]])
        # Toe/heel markers (14 mm balls on the shoe) sit 3-6.5 cm above the lab floor.
        assert 0.03 < heights.min() and heights.max() < 0.065


@pytest.mark.parametrize("sensor", ["Kinect", "Vicon"])
def test_uiprmd_squats_look_like_squats(all_reps, sensor):
    """Bounds: a standing hip at 0.7-1.1 m; the hip never reaches the floor (> 0.08 m at the
    bottom); the thigh at most ~44 degrees below horizontal (hip above knee - 0.7 thigh; the
    deepest measured is 0.54 thigh, 33 degrees); correct reps drop the pelvis 0.3-0.8 m, incorrect
    ones (some barely bend) 0.05-0.8 m; the bottom lies well inside the rep (20-80 %)."""
    inside = []
    for path, seq in all_reps[sensor]:
        f = squat_figures(seq)
        correct = seq.meta["correct"]
        assert 0.7 < f["start_hip"] < 1.1, path.name
        assert f["hip_bottom"] > 0.08, path.name
        assert f["hip_bottom"] > f["knee_bottom"] - 0.7 * f["thigh"], path.name
        assert (0.3 if correct else 0.05) < f["drop"] < 0.8, f"{path.name}: drop {f['drop']:.3f} m"
        inside.append((correct, 0.2 < f["bottom_frac"] < 0.8))
    assert all(ok for correct, ok in inside if correct)
    # One Vicon incorrect rep (s07 e04) ends while still going down.
    assert sum(ok for correct, ok in inside if not correct) >= 99


def test_correct_reps_are_deeper_than_incorrect(all_reps):
    for sensor in ("Kinect", "Vicon"):
        drops = {True: [], False: []}
        for _, seq in all_reps[sensor]:
            drops[seq.meta["correct"]].append(squat_figures(seq)["drop"])
        correct, incorrect = np.median(drops[True]), np.median(drops[False])
        # Measured (mid-hip): Vicon 0.505 vs 0.376 m, Kinect 0.542 vs 0.424 m; the Vicon pelvis
        # markers give 0.507 vs 0.378 m (SOURCE.txt: about 0.53 vs 0.40 m). The ranges overlap.
        assert 0.45 < correct < 0.62 and 0.33 < incorrect < 0.48, sensor
        assert 0.08 < correct - incorrect < 0.2, sensor
        assert max(drops[False]) > min(drops[True])


def test_kinect_and_vicon_agree_on_each_rep(all_reps):
    """The two sensors recorded the same repetitions: similar durations, depth and height."""
    vicon = {p.name: s for p, s in all_reps["Vicon"]}
    rows = []
    for path, k in all_reps["Kinect"]:
        v = vicon[path.name]
        fk, fv = squat_figures(k), squat_figures(v)
        rows.append((k.duration, v.duration, fk["drop"], fv["drop"], fk["start_hip"], fv["start_hip"]))
    dur_k, dur_v, drop_k, drop_v, hip_k, hip_v = np.array(rows).T
    # Measured: durations r = 0.85 (median ratio 1.00; 14 reps cut differently by > 20 %),
    # pelvis drops r = 0.92 with a mean difference of 3.7 cm (sd 5.5 cm).
    assert np.corrcoef(dur_k, dur_v)[0, 1] > 0.8 and abs(np.median(dur_k / dur_v) - 1) < 0.05
    assert np.corrcoef(drop_k, drop_v)[0, 1] > 0.85
    assert abs(np.mean(drop_k - drop_v)) < 0.06 and np.std(drop_k - drop_v) < 0.08
    # Kinect hips stand ~5 cm lower (its toe joint, used as the floor, is above the sole).
    assert abs(np.mean(hip_k - hip_v)) < 0.08 and np.std(hip_k - hip_v) < 0.08


def ankle_drift(seq) -> float:
    """95th percentile distance (m) of the seen ankles from where they stood at the start."""
    ankles = seq.joints[:, [J.LEFT_ANKLE, J.RIGHT_ANKLE]].astype(np.float64)
    seen = np.isfinite(ankles).all(axis=(1, 2))
    ankles = ankles[seen]
    drift = np.linalg.norm(ankles - np.median(ankles[: max(3, len(ankles) // 10)], axis=0), axis=-1)
    return float(np.percentile(drift, 95))


def test_feet_stay_planted(all_reps):
    """In a squat the feet do not move. Vicon ankles stay within 10 cm (measured: median 1.8 cm,
    worst 7.1 cm). For the Kinect this guards the Euler order R = Rz Rx Ry (median drift 8 cm;
    when the order was chosen every other axis order gave 25 cm or more); legs the tracker lost
    (ankle > 0.2 m from where it stood) are rare and reported missing."""
    for path, seq in all_reps["Vicon"]:
        assert ankle_drift(seq) < 0.1, path.name
    drifts = [ankle_drift(seq) for _, seq in all_reps["Kinect"]]
    assert np.median(drifts) < 0.1
    lost = sum(s.meta["lost_leg_frames"] for _, s in all_reps["Kinect"])
    legs = sum(2 * s.n_frames for _, s in all_reps["Kinect"])
    assert 0 < lost < 0.02 * legs
    for _, seq in all_reps["Kinect"]:
        seen = np.isfinite(seq.joints[:, [J.LEFT_ANKLE, J.RIGHT_ANKLE]]).all(axis=-1)
        assert seen.mean() > 0.5 and (seq.confidence[:, [J.LEFT_ANKLE, J.RIGHT_ANKLE]][~seen] == 0).all()


def test_imported_sequences_survive_the_skeleton_file(tmp_path, all_reps):
    from edge.skeleton.io import read_npz, write_npz

    for sensor in ("Kinect", "Vicon"):
        path, seq = all_reps[sensor][-1]
        out = tmp_path / f"{sensor}.npz"
        write_npz(out, seq)
        back = read_npz(out)
        np.testing.assert_array_equal(back.joints, seq.joints)
        assert back.action == "deep_squat" and back.subject == seq.subject and back.fps == seq.fps
        assert str(back.meta["label"]) == seq.meta["label"] and str(back.meta["source_file"]) == str(path)


# ---------------------------------------------------------------------------------------------
# UI-PRMD: bad files


def test_uiprmd_bad_files(tmp_path, uiprmd):
    src = next(iter(rep_files(uiprmd, "Vicon")))
    rows = gzip.decompress(src.read_bytes()).decode().splitlines()

    def write(name: str, lines: list[str], gz: bool = True) -> Path:
        p = tmp_path / name
        data = ("\n".join(lines) + "\n").encode()
        p.write_bytes(gzip.compress(data) if gz else data)
        return p

    # Plain text is accepted as well as gzip, and the name gives subject and label.
    plain = read_uiprmd_vicon(write("m01_s03_e02_positions_inc.txt", rows, gz=False))
    assert plain.subject == "s03" and plain.meta["label"] == "incorrect" and plain.meta["episode"] == "e02"
    cases = {
        "short": ([r.rsplit(",", 1)[0] for r in rows], "116 values"),
        "word": ([rows[0], rows[1].replace(",", ",abc,", 1).rsplit(",", 1)[0]] + rows[2:], "line 2"),
        "nan": ([rows[0], "nan," + rows[1].split(",", 1)[1]] + rows[2:], "NaN"),
        "one_row": (rows[:1], "at least 2 rows"),
    }
    for name, (lines, expect) in cases.items():
        with pytest.raises(ImportFormatError) as err:
            read_uiprmd_vicon(write(f"{name}.txt.gz", lines))
        assert_one_sentence(err, name, expect)
    corrupt = tmp_path / "corrupt.txt.gz"
    corrupt.write_bytes(src.read_bytes()[:300])
    with pytest.raises(ImportFormatError) as err:
        read_uiprmd_vicon(corrupt)
    assert_one_sentence(err, "corrupt.txt.gz", "not a readable")
    # Z = 0 must be the floor: lift the whole recording by 1 m.
    lifted = []
    for r in rows:
        v = np.array(r.split(","), dtype=float).reshape(39, 3)
        v[:, 2] += 1000.0
        lifted.append(",".join(f"{x:.3f}" for x in v.ravel()))
    with pytest.raises(ImportFormatError) as err:
        read_uiprmd_vicon(write("lifted.txt.gz", lifted))
    assert_one_sentence(err, "lifted", "not the floor")


def test_uiprmd_kinect_needs_its_angles(tmp_path, uiprmd):
    pos = next(iter(rep_files(uiprmd, "Kinect")))
    lone = tmp_path / "Positions" / pos.name
    lone.parent.mkdir()
    lone.write_bytes(pos.read_bytes())
    with pytest.raises(ImportFormatError) as err:
        read_uiprmd_kinect(lone)
    assert_one_sentence(err, "Angles file", "does not exist")
    angles = pos.parent.parent / "Angles" / pos.name.replace("positions", "angles")
    short = tmp_path / "short_angles.txt.gz"
    short.write_bytes(gzip.compress("\n".join(gzip.decompress(angles.read_bytes()).decode().splitlines()[:-3]).encode()))
    with pytest.raises(ImportFormatError) as err:
        read_uiprmd_kinect(lone, short)
    assert_one_sentence(err, "angle rows")
    seq = read_uiprmd_kinect(lone, angles)
    np.testing.assert_array_equal(seq.joints, import_file(pos, "uiprmd-kinect").joints)
