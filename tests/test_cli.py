"""The fieldcoach command: reports with every DESIGN.md key, and one-sentence errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edge.report import REPORT_KEYS
from edge.skeleton.io import write_npz
from tests.conftest import REPO, make_sequence


def run_cli(*args, check_rc=None):
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr + proc.stdout
    return proc


def test_version():
    p = run_cli("--version", check_rc=0)
    assert p.stdout.startswith("fieldcoach ")


def test_analyze_json_has_every_key(tmp_path):
    f = tmp_path / "s.npz"
    write_npz(f, make_sequence(45))
    p = run_cli("analyze", f, "--action", "standing_long_jump", "--json", check_rc=0)
    rep = json.loads(p.stdout)
    for key in REPORT_KEYS:
        assert key in rep, key
    assert rep["n_frames"] == 45 and rep["fps"] == pytest.approx(30.0)
    assert rep["action"] == "standing_long_jump"
    assert set(rep["timings_ms"]) >= {"validate", "normalize"}
    text = run_cli("analyze", f, check_rc=0).stdout
    assert "standing_long_jump" in text and "frames: 45" in text


def _bad_files(tmp_path):
    s = make_sequence(30)
    files = {}
    g = tmp_path / "garbage.npz"
    g.write_bytes(b"\x00\xffnot a zip at all" * 50)
    files["garbage"] = g
    w = tmp_path / "shape.npz"
    np.savez(w, joints=s.joints[:, :10], confidence=s.confidence, t=s.t)
    files["wrong shape"] = w
    nt = tmp_path / "nan_t.npz"
    t = s.t.copy()
    t[5] = np.nan
    np.savez(nt, joints=s.joints, confidence=s.confidence, t=t)
    files["NaN timestamps"] = nt
    good = tmp_path / "good.npz"
    write_npz(good, s)
    tr = tmp_path / "trunc.npz"
    tr.write_bytes(good.read_bytes()[:700])
    files["truncated"] = tr
    return files


def test_malformed_files_exit_2_one_sentence(tmp_path):
    for what, f in _bad_files(tmp_path).items():
        p = run_cli("analyze", f, "--action", "standing_long_jump", "--json")
        assert p.returncode == 2, (what, p.stderr)
        assert p.stdout == "", what
        err = p.stderr.strip()
        assert "Traceback" not in err, (what, err)
        assert len(err.splitlines()) == 1 and err.startswith("fieldcoach: error: "), (what, err)


def test_wrong_action_and_missing_file(tmp_path):
    f = tmp_path / "s.npz"
    write_npz(f, make_sequence(20))
    p = run_cli("analyze", f, "--action", "sit_up")
    assert p.returncode == 2 and "not sit_up" in p.stderr
    p = run_cli("analyze", tmp_path / "missing.npz", "--action", "sit_up")
    assert p.returncode == 2 and "no such file" in p.stderr
    # an unknown action is refused by the parser (exit 2 as well)
    p = run_cli("analyze", f, "--action", "javelin")
    assert p.returncode == 2


def test_bad_config_is_one_sentence(tmp_path):
    f = tmp_path / "s.npz"
    write_npz(f, make_sequence(20))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("analysis:\n  min_confidence: 3\n  typo_key: 1\n")
    p = run_cli("analyze", f, "--config", cfg)
    assert p.returncode == 2 and "configuration file" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_doctor_lists_backends():
    p = run_cli("doctor", "--json", check_rc=0)
    rep = json.loads(p.stdout)
    for name in ("onnxruntime", "tensorrt", "pyk4a", "llama.cpp", "chroma"):
        assert name in rep["backends"]
        e = rep["backends"][name]
        assert e["present"] or e["error"], name


def test_simulate_then_analyze_the_issue_example(tmp_path):
    """The exact example of the foundation issue: simulate seed 7, analyse with --json."""
    x = tmp_path / "x.npz"
    png = tmp_path / "x.png"
    p = run_cli("simulate", "--action", "standing_long_jump", "--seed", 7, "--out", x, "--plot", png, check_rc=0)
    assert "standing_long_jump seed 7" in p.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rep = json.loads(run_cli("analyze", x, "--action", "standing_long_jump", "--json", check_rc=0).stdout)
    for key in REPORT_KEYS:
        assert key in rep, key
    assert rep["n_frames"] > 30 and rep["action"] == "standing_long_jump"
    # same seed, same bytes
    y = tmp_path / "y.npz"
    run_cli("simulate", "--action", "standing_long_jump", "--seed", 7, "--out", y, check_rc=0)
    assert x.read_bytes() == y.read_bytes()


def test_simulate_rejects_unknown_fault(tmp_path):
    p = run_cli("simulate", "--action", "sit_up", "--seed", 1, "--faults", "no_such_fault", "--out", tmp_path / "s.npz")
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s.npz").exists()


def test_guide_command_fills_guidance_from_a_report(tmp_path):
    """`fieldcoach guide REPORT.json`: guidance {text, sources, engine} from an index named in the config."""
    from edge.guide.kb_schema import load_corpus
    from edge.guide.store import build_index

    index = tmp_path / "kb"
    entries = [e for e in load_corpus() if e.action in ("standing_long_jump", "general")]
    build_index(index, entries=entries)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"guide:\n  index_dir: {index}\n")
    x = tmp_path / "x.npz"
    run_cli("simulate", "--action", "standing_long_jump", "--seed", 3, "--faults", "stiff_landing", "--out", x, check_rc=0)
    rep_path = tmp_path / "r.json"
    rep_path.write_text(run_cli("analyze", x, "--config", cfg, "--json", check_rc=0).stdout)
    out = json.loads(run_cli("guide", rep_path, "--config", cfg, "--json", check_rc=0).stdout)
    g = out["guidance"]
    assert g["engine"] == "composer" and g["text"].strip()
    assert g["sources"] and all(isinstance(s, str) for s in g["sources"])
    problem_ids = {p["id"] for p in out["problems"]}
    assert problem_ids, "the injected stiff landing should be diagnosed"
    assert all(f"standing_long_jump_{pid}" in g["sources"] for pid in problem_ids)
    bad = tmp_path / "bad.json"
    bad.write_text('{"x": 1}')
    p = run_cli("guide", bad, "--config", cfg)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
