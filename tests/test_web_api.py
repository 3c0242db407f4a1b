"""The teacher's screen without a browser: the ScreenState bus, "saved" only after the durable commit,
the data behind each screen (whatever report fields are null), the angle plot's band, the JSON API
and the live event stream over a real socket, and the demo publisher end to end."""

from __future__ import annotations

import http.client
import json
import threading
import time

import numpy as np
import pytest

from edge.actions.spec import load_action
from edge.config import FieldCoachConfig
from edge.report import empty_report
from edge.sim import simulate
from edge.store.db import connect
from edge.store.repository import (
    create_class,
    create_student,
    end_session,
    get_attempt,
    list_attempts,
    save_attempt,
    start_session,
)
from edge.web.curves import angle_curve, key_joint, reference_band, warp_to
from edge.web.demo import DemoPublisher, simulated_references
from edge.web.passwords import ScryptParams
from edge.web.projection import facing_direction, live_view, poses_at
from edge.web.publish import save_and_publish, stream_text
from edge.web.routing import Request
from edge.web.runtime import ScreenRuntime
from edge.web.settings import WebSettings
from edge.web.state import ScreenState, StateError
from edge.web.views import attempt_view, class_overview, trend

ACTION = "standing_long_jump"
FAST = ScryptParams(n=2**10, r=8, p=1)


def null_report(seq, action=ACTION) -> dict:
    """A report as the pipeline gives it with no stage installed: every field null or empty."""
    return empty_report(action, seq.n_frames, seq.fps)


def fake_report(seq, sample, action=ACTION) -> dict:
    """Test input with every field filled: keyframes and score from the simulator's truth, one problem."""
    r = empty_report(action, seq.n_frames, seq.fps)
    spec = load_action(action)
    r["score"], r["grade"] = sample.score, sample.grade
    r["phase_scores"] = {p.name: 70.0 + i for i, p in enumerate(spec.phases)}
    r["keyframes"] = [{"name": k, "frame": f, "t": float(seq.t[f])} for k, f in sample.keyframes.items()]
    p = spec.problems[0]
    r["problems"] = [{"id": p.id, "title": p.title, "probability": 0.6, "evidence": "test evidence"}]
    r["guidance"] = {"text": "Bend the knees more. Swing the arms forward.", "sources": ["x"], "engine": "composer"}
    return r


@pytest.fixture()
def store(tmp_path):
    conn = connect(tmp_path / "screen.db")
    cls = create_class(conn, "7B")
    students = [create_student(conn, cls.id, n) for n in ("Ana", "Ben", "Caro")]
    session = start_session(conn, cls.id, ACTION)
    yield conn, cls, students, session, tmp_path / "screen.db"
    conn.close()


@pytest.fixture(scope="module")
def sample():
    return simulate(ACTION, 11, idle=(0.3, 0.3))


# ---------------------------------------------------------------- the bus


def test_subscribers_get_a_snapshot_then_events_in_order():
    st = ScreenState()
    st.set_phase("recording", "Ana")
    sub = st.subscribe(0.0)
    first = sub.next(1.0)
    assert [k for k, _ in first] == ["snapshot"] and first[0][1]["phase"]["phase"] == "recording"
    st.set_phase("analysing")
    key = st.attempt_result(attempt_view(null_report(_tiny_seq()), None))
    st.guidance_token(key, "Bend")
    st.guidance_token(key, " knees")
    st.attempt_saved(key, 7)
    events = sub.next(1.0)
    assert [k for k, _ in events] == ["phase", "attempt", "guidance", "guidance", "saved"]
    assert events[1][1]["saved"] is False and events[-1][1] == {"key": key, "attempt_id": 7}
    assert st.last_attempt["guidance_stream"] == "Bend knees" and st.last_attempt["saved"] is True
    assert sub.next(0.05) == []
    sub.close()
    assert st.subscribers == 0


def _tiny_seq():
    return simulate(ACTION, 3, idle=(0.0, 0.0)).sequence


def test_frames_are_coalesced_to_the_stream_rate():
    st = ScreenState()
    sub = st.subscribe(0.2)
    sub.next(0.1)  # snapshot
    j, c = np.zeros((17, 3)), np.ones(17)
    for i in range(10):
        j[:, 1] = i
        st.publish_frame(j, c, t=float(i))
    got = sub.next(0.5)
    assert len(got) == 1 and got[0][0] == "frame" and got[0][1]["t"] == 9.0  # only the latest
    st.publish_frame(j, c, t=10.0)
    t0 = time.monotonic()
    got = sub.next(1.0)
    assert got[0][1]["t"] == 10.0 and time.monotonic() - t0 >= 0.1  # not before the interval


def test_a_subscriber_that_falls_behind_is_resynchronised():
    st = ScreenState()
    sub = st.subscribe()
    sub.next(0.1)
    for i in range(2100):
        st.set_phase("waiting", str(i))
    got = sub.next(0.1)
    assert [k for k, _ in got] == ["snapshot"] and got[0][1]["phase"]["detail"] == "2099"


def test_saved_needs_the_store_id_and_stale_keys_are_ignored():
    st = ScreenState()
    k1 = st.attempt_result(attempt_view(null_report(_tiny_seq()), None))
    for bad in (None, 0, -3, True, "5"):
        with pytest.raises(StateError):
            st.attempt_saved(k1, bad)
    k2 = st.attempt_result(attempt_view(null_report(_tiny_seq()), None))
    st.attempt_saved(k1, 5)  # an older attempt: the screen shows the newer one
    st.guidance_token(k1, "old")
    assert st.last_attempt["key"] == k2 and st.last_attempt["saved"] is False
    assert st.last_attempt["guidance_stream"] == ""
    with pytest.raises(StateError):
        st.set_phase("jumping")
    with pytest.raises(StateError):
        st.publish_frame(np.zeros((16, 3)), np.ones(16))


# ---------------------------------------------------------------- saved means durably saved


def test_saved_is_published_only_after_the_commit_is_readable(store, sample):
    conn, cls, students, session, db = store
    st = ScreenState()
    sub = st.subscribe(0.0)
    sub.next(0.1)
    seen = {}
    reader = connect(db, readonly=True)

    def watch():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "saved" not in seen:
            for kind, data in sub.next(0.5):
                if kind == "attempt":
                    seen["attempt_rows"] = len(list_attempts(reader, session_id=session.id))
                if kind == "saved":
                    seen["saved"] = get_attempt(reader, data["attempt_id"], with_skeleton=False).id

    t = threading.Thread(target=watch)
    t.start()
    key, aid = save_and_publish(st, conn, session_id=session.id, student=students[0],
                                report=fake_report(sample.sequence, sample), skeleton=sample.sequence,
                                config_hash="test")  # fmt: skip
    t.join(15)
    reader.close()
    assert aid is not None and seen["saved"] == aid
    assert seen["attempt_rows"] == 0  # the result was on screen before it was stored ("saving…")


def test_a_failed_save_is_never_called_saved(store, sample):
    conn, cls, students, session, _ = store
    end_session(conn, session.id)  # saving into an ended session fails
    st = ScreenState()
    key, aid = save_and_publish(st, conn, session_id=session.id, student=students[0],
                                report=null_report(sample.sequence), skeleton=sample.sequence,
                                config_hash="test")  # fmt: skip
    a = st.last_attempt
    assert aid is None and a["saved"] is False and a["attempt_id"] is None and "ended" in a["save_error"]


def test_guidance_text_streams_in_pieces(store):
    st = ScreenState()
    key = st.attempt_result(attempt_view(null_report(_tiny_seq()), None))
    sub = st.subscribe(0.0)
    sub.next(0.1)
    g = {"text": "Land softly with bent knees.", "sources": [], "engine": "composer"}
    stream_text(st, key, g, words_per_s=0)
    kinds = [k for k, _ in sub.next(0.5)]
    assert kinds.count("guidance") == 5 and kinds[-1] == "guidance_done"
    assert st.last_attempt["guidance_stream"] == g["text"] and st.last_attempt["guidance_done"]


# ---------------------------------------------------------------- views


def test_a_report_with_every_field_null_still_makes_a_screen(sample):
    seq = sample.sequence
    v = attempt_view(null_report(seq), seq)
    assert v["score"] is None and v["grade"] is None and v["phase_scores"] is None
    assert v["keyframes"] == [] and v["problems"] == [] and v["guidance"] is None
    c = v["curve"]
    assert c["band_low"] is None and "no keyframes" in c["band_note"] and c["ranges"] == []
    assert len(c["angle"]) == seq.n_frames and sum(a is not None for a in c["angle"]) > 0.8 * seq.n_frames
    json.dumps(v, allow_nan=False)  # JSON-safe
    assert attempt_view(null_report(seq), None)["curve"] is None


def test_a_full_report_makes_keyframe_poses_phases_problems_and_a_band(sample):
    seq = sample.sequence
    spec = load_action(ACTION)
    refs = simulated_references(ACTION, 2)
    v = attempt_view(fake_report(seq, sample), seq, references=refs)
    assert [p["name"] for p in v["phase_scores"]] == [p.name for p in spec.phases]
    assert [k["name"] for k in v["keyframes"]] == list(sample.keyframes)
    for k in v["keyframes"]:
        pose = k["pose"]
        assert len(pose) == 17 and sum(p is not None for p in pose) >= 12
        hips = [pose[11][0], pose[12][0]]
        assert abs(sum(hips) / 2) < 0.05  # each figure centred on its hips
    p = v["problems"][0]
    assert p["cue"] == spec.problems[0].cue  # the screen cue comes from the spec when the report has none
    c = v["curve"]
    assert c["band_low"] is not None and "2 reference" in c["band_note"]
    assert {r["metric"] for r in c["ranges"]} == {"cm_knee_angle", "takeoff_knee_angle"}  # not the abs_diff ones


def test_key_joint_and_angle_curve():
    spec = load_action(ACTION)
    label, triplets = key_joint(spec)
    assert label == "knee" and len(triplets) == 2
    j = np.zeros((2, 17, 3))
    hip, knee, ankle = (spec.salient_joints[0].triplet)
    from edge.skeleton.joints import JOINT_NAMES as N

    for side in ("left", "right"):
        j[:, N.index(f"{side}_hip")] = [0, 1, 0]
        j[:, N.index(f"{side}_knee")] = [0, 0.5, 0]
    j[0, N.index("left_ankle")] = j[0, N.index("right_ankle")] = [0, 0, 0]  # straight: 180 deg
    j[1, N.index("left_ankle")] = j[1, N.index("right_ankle")] = [0.5, 0.5, 0]  # bent: 90 deg
    np.testing.assert_allclose(angle_curve(j, triplets), [180.0, 90.0], atol=1e-6)
    conf = np.ones((2, 17))
    conf[1, N.index("left_knee")] = 0.0  # one side unseen: the other side still gives the angle
    np.testing.assert_allclose(angle_curve(j, triplets, conf), [180.0, 90.0], atol=1e-6)


def test_reference_warp_and_band():
    kf = {"a": 10, "b": 30, "c": 50}
    np.testing.assert_allclose(warp_to(61, kf, kf, 61), np.arange(61))
    w = warp_to(61, kf, {"a": 20, "b": 60, "c": 100}, 121)  # a reference twice as slow
    np.testing.assert_allclose(w[[10, 20, 30, 40, 50]], [20, 40, 60, 80, 100])
    assert warp_to(61, kf, {"a": 5}, 61) is None  # one shared keyframe cannot align
    s = simulate(ACTION, 2**31 + 7, faults=[], idle=(0.3, 0.3))
    from edge.align.template import Template

    ref = Template(ACTION, s.clean_joints, s.sequence.fps, s.keyframes)
    _, triplets = key_joint(load_action(ACTION))
    low, high, n = reference_band(ref.n_frames, ref.keyframes, [ref], triplets)
    own = angle_curve(ref.joints, triplets)
    ok = np.isfinite(own)
    assert n == 1 and np.all(low[ok] <= own[ok] + 1e-6) and np.all(own[ok] <= high[ok] + 1e-6)


def test_side_view_faces_the_direction_of_travel():
    s = simulate(ACTION, 4, idle=(0.2, 0.2))
    truth = json.loads(s.sequence.meta["truth"])
    f = facing_direction(s.sequence.joints)
    yaw = np.radians(truth["camera"]["yaw_deg"])
    # the athlete faces +x of the world; the camera frame is the world turned by the yaw about y (up)
    assert np.dot(f, [np.cos(yaw), -np.sin(yaw)]) > 0.99 and abs(np.degrees(yaw)) > 5
    kf = s.keyframes
    poses = poses_at(s.sequence.joints, s.sequence.confidence, [kf["start"], kf["landing"]])
    assert all(len(p) == 17 for p in poses)
    frame = live_view(s.sequence.joints[kf["landing"]], s.sequence.confidence[kf["landing"]])
    u0 = live_view(s.sequence.joints[kf["start"]], s.sequence.confidence[kf["start"]])["points"][11][0]
    assert frame["view"] == "side" and frame["points"][11][0] > u0 + 1.0  # landed more than a metre ahead


def test_trend():
    assert trend([50.0, 60.0]) is None
    assert trend([50.0, 55.0, 61.0])["direction"] == "up"
    assert trend([70.0, 60.0, 50.0, 45.0])["direction"] == "down"
    assert trend([60.0, 60.5, 59.8])["direction"] == "flat"


def test_class_overview_after_override(store, sample):
    conn, cls, students, session, _ = store
    seq = sample.sequence
    ids = []
    for st, score in ((students[0], 50.0), (students[0], 58.0), (students[0], 66.0), (students[1], 80.0)):
        r = fake_report(seq, sample)
        r["score"] = score
        ids.append(save_attempt(conn, session.id, st.id, r, seq, "test"))
    from edge.store.repository import override_attempt

    override_attempt(conn, ids[3], "Ms Rivera", score=40.0)
    ov = class_overview(conn, cls.id, ACTION)
    rows = {r["label"]: r for r in ov["students"]}
    assert set(rows) == {"Ana", "Ben", "Caro"} and ov["n_attempts"] == 4
    assert [a["score"] for a in rows["Ana"]["attempts"]] == [50.0, 58.0, 66.0]
    assert rows["Ana"]["best"]["score"] == 66.0 and rows["Ana"]["trend"]["direction"] == "up"
    assert rows["Ben"]["best"]["score"] == 40.0 and rows["Ben"]["attempts"][0]["overridden"] is True
    assert rows["Caro"]["attempts"] == [] and rows["Caro"]["best"] is None


# ---------------------------------------------------------------- the API and the event stream


@pytest.fixture()
def running(tmp_path):
    """The whole screen on 127.0.0.1 (kiosk trusted) with the demo publisher and a fast fake analyser."""
    samples = {}

    def analyze(seq, action):
        s = samples.setdefault(seq.subject, simulate(action, int(seq.subject.rsplit("-", 1)[1]), idle=(0.1, 0.1)))
        return fake_report(seq, s, action)

    settings = WebSettings(credentials_file=tmp_path / "t.json", demo=True)
    rt = ScreenRuntime.open(tmp_path / "db.sqlite", settings, port=0, scrypt_params=FAST,
                            demo_options={"speed": 20.0, "analyze": analyze, "idle_s": 0.1})  # fmt: skip
    rt.start()
    yield rt
    rt.close()


def _kiosk(rt, method, path, body=None, csrf=None, cookie=None):
    c = http.client.HTTPConnection("127.0.0.1", rt.server.port, timeout=15)
    h = {"Host": f"localhost:{rt.server.port}"}
    if cookie:
        h["Cookie"] = cookie
    if csrf:
        h["X-CSRF-Token"] = csrf
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = r.read()
    c.close()
    return r, out


def test_api_attempt_override_and_csv(running):
    rt = running
    r, data = _kiosk(rt, "GET", "/api/session")
    cookie, csrf = r.getheader("Set-Cookie").split(";")[0], json.loads(data)["csrf"]
    assert rt.demo.trigger_attempt() and rt.demo.wait_idle(30)
    aid = rt.state.last_attempt["attempt_id"]
    assert aid and rt.state.last_attempt["saved"]
    r, data = _kiosk(rt, "GET", f"/api/attempts/{aid}")
    view = json.loads(data)
    assert r.status == 200 and view["attempt_id"] == aid and len(view["keyframes"]) == 6 and view["curve"]["band_low"]
    spec = load_action(ACTION)
    new_problems = [spec.problems[2].id]
    r, data = _kiosk(rt, "POST", f"/api/attempts/{aid}/override", cookie=cookie, csrf=csrf,
                     body={"score": 42.5, "grade": "pass", "problems": new_problems, "note": "fell back"})  # fmt: skip
    view = json.loads(data)
    assert r.status == 200 and view["score"] == 42.5 and view["grade"] == "pass" and view["overridden"]
    assert view["model_score"] != 42.5 and [p["id"] for p in view["problems"]] == new_problems
    assert view["problems"][0]["cue"] == spec.problems[2].cue and view["problems"][0]["from_teacher"]
    assert rt.state.last_attempt["score"] == 42.5  # the live screen follows the correction
    for bad in ({"score": 140}, {"grade": "superb"}, {"problems": ["not_a_problem"]}, {"colour": "red"}, {}):
        r, _ = _kiosk(rt, "POST", f"/api/attempts/{aid}/override", cookie=cookie, csrf=csrf, body=bad)
        assert r.status == 400, bad
    r, _ = _kiosk(rt, "POST", "/api/attempts/999/override", cookie=cookie, csrf=csrf, body={"score": 10})
    assert r.status == 404
    assert _kiosk(rt, "GET", "/api/attempts/999")[0].status == 404
    cls_id = rt.state.snapshot()["context"]["class_id"]
    r, data = _kiosk(rt, "GET", f"/api/classes/{cls_id}/export.csv")
    assert r.status == 200 and r.getheader("Content-Type").startswith("text/csv")
    assert "attachment" in r.getheader("Content-Disposition")
    lines = data.decode("utf-8-sig").splitlines()
    header = lines[0].split(",")
    row = dict(zip(header, lines[1].split(",")))
    assert row["attempt_id"] == str(aid) and row["score"] == "42.5" and row["grade"] == "pass" and row["overridden"] == "yes"


def test_api_control_action_and_next_student(running):
    rt = running
    r, data = _kiosk(rt, "GET", "/api/session")
    cookie, csrf = r.getheader("Set-Cookie").split(";")[0], json.loads(data)["csrf"]
    ctx = rt.state.snapshot()["context"]
    r, data = _kiosk(rt, "GET", f"/api/classes/{ctx['class_id']}/students")
    students = json.loads(data)
    assert r.status == 200 and len(students) == 6
    r, _ = _kiosk(rt, "POST", "/api/next", cookie=cookie, csrf=csrf, body={"student_id": students[3]["id"]})
    assert r.status == 200 and rt.state.snapshot()["next"]["id"] == students[3]["id"]
    r, _ = _kiosk(rt, "POST", "/api/next", cookie=cookie, csrf=csrf, body={"student_id": 9999})
    assert r.status == 400
    r, _ = _kiosk(rt, "POST", "/api/settings/action", cookie=cookie, csrf=csrf, body={"action": "sit_up"})
    new = rt.state.snapshot()["context"]
    assert r.status == 200 and new["action"] == "sit_up" and new["session_id"] != ctx["session_id"]
    r, data = _kiosk(rt, "GET", "/api/settings")
    s = json.loads(data)
    assert s["action"] == "sit_up" and s["camera"]["state"] == "simulated" and s["kiosk"] and s["demo"]
    r, _ = _kiosk(rt, "POST", "/api/settings/action", cookie=cookie, csrf=csrf, body={"action": "high_jump"})
    assert r.status == 400
    r, data = _kiosk(rt, "GET", "/api/meta")
    meta = json.loads(data)
    assert len(meta["edges"]) > 10 and {a["id"] for a in meta["actions"]} >= {ACTION, "sit_up"}


def test_event_stream_carries_an_attempt_to_saved(running):
    rt = running
    c = http.client.HTTPConnection("127.0.0.1", rt.server.port, timeout=15)
    c.request("GET", "/api/events", headers={"Host": f"localhost:{rt.server.port}"})
    r = c.getresponse()
    assert r.status == 200 and r.getheader("Content-Type") == "text/event-stream"
    kinds: list[str] = []
    started = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "guidance_done" not in kinds:
        line = r.fp.readline().decode()
        if line.startswith("event: "):
            kinds.append(line[7:].strip())
            if kinds[-1] == "snapshot" and not started:
                started = rt.demo.trigger_attempt()
    c.close()
    assert kinds[0] == "snapshot" and "frame" in kinds
    order = [k for k in kinds if k in ("attempt", "saved", "guidance_done")]
    assert order == ["attempt", "saved", "guidance_done"]
    assert kinds.index("attempt") > kinds.index("frame")


def test_demo_with_the_real_pipeline_saves_or_says_why_not(tmp_path):
    """Whatever stages are installed: either the attempt is saved and published as saved, or the
    screen shows why it could not be analysed and nothing is stored."""
    conn = connect(tmp_path / "db.sqlite")
    st = ScreenState()
    demo = DemoPublisher(st, conn, FieldCoachConfig(), speed=50.0, words_per_s=0, idle_s=0.1)
    demo.setup()
    aid = demo.run_attempt()
    rows = list_attempts(conn, session_id=demo.session.id)
    if aid is None:
        assert rows == [] and demo.last_error and "could not analyse" in st.snapshot()["phase"]["detail"]
        assert st.last_attempt is None
    else:
        assert [a.id for a in rows] == [aid] and st.last_attempt["saved"] and st.last_attempt["attempt_id"] == aid
    assert st.snapshot()["phase"]["phase"] == "waiting"
    conn.close()


def test_handle_is_safe_on_garbage_input(running):
    app = running.app
    for method, path, body in (
        ("POST", "/api/login", b"\xff\xfe"),
        ("POST", "/api/login", b"[1,2]"),
        ("GET", "/api/attempts/0", b""),
        ("GET", "/api/attempts/abc", b""),
        ("GET", "/api/classes/1/overview?action=flying", b""),
    ):
        h = [("Host", "localhost"), ("Content-Type", "application/json")]
        resp = app.handle(Request.build(method, path, h, body, "127.0.0.1"))
        assert 400 <= resp.status < 500, (path, resp.status)


def test_event_streams_are_capped_and_release_their_slot(tmp_path):
    settings = WebSettings(credentials_file=tmp_path / "t.json", max_streams=2)
    rt = ScreenRuntime.open(tmp_path / "db.sqlite", settings, port=0, scrypt_params=FAST)
    app = rt.app
    req = lambda: Request.build("GET", "/api/events", [("Host", "localhost")], b"", "127.0.0.1")  # noqa: E731
    try:
        a, b = app.handle(req()), app.handle(req())
        assert a.status == b.status == 200 and rt.state.subscribers == 2
        c = app.handle(req())
        assert c.status == 503 and c.header("Retry-After")
        a.stream.close()  # never iterated (the client left before the first byte): the slot comes back
        a.stream.close()  # idempotent
        assert rt.state.subscribers == 1
        d = app.handle(req())
        assert d.status == 200
        first = next(iter(d.stream))
        assert first.startswith(b"retry:")
        b.stream.close()
        d.stream.close()
        assert rt.state.subscribers == 0 and app._streams == 0
    finally:
        rt.close()
