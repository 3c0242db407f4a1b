"""Nothing reaches the network: with sockets blocked, a simulated attempt is analysed, diagnosed
and guided (store build, retrieval, the llama.cpp engine on the tiny GGUF, the composer)."""

from __future__ import annotations

import socket

import pytest

from edge.guide.embed import load_embedder
from edge.guide.guide import Guide, GuideConfig, add_guidance
from edge.guide.kb_schema import load_corpus
from edge.guide.store import build_index

ACTION = "standing_long_jump"


class NetworkBlocked(OSError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Every way Python opens a connection or resolves a name raises; attempts are recorded."""
    attempts: list[str] = []

    def refuse(what):
        def _refuse(*args, **kwargs):
            attempts.append(f"{what}{args[1:2] if what.startswith('socket.') else args[:1]}")
            raise NetworkBlocked(f"network access attempted in an offline test: {what}")

        return _refuse

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket.socket, "sendto", refuse("socket.sendto"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "gethostbyname", refuse("gethostbyname"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return attempts


def test_the_block_works(no_network):
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("example.org", 80), timeout=1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(NetworkBlocked):
            s.connect(("10.255.255.1", 80))
    finally:
        s.close()
    assert len(no_network) == 2


def test_analyze_and_guide_offline(no_network, tmp_path, shared_data):
    pytest.importorskip("llama_cpp")
    from edge.actions.spec import load_action
    from edge.analyze import analyze_sequence
    from edge.config import FieldCoachConfig
    from edge.diagnose import diagnose
    from edge.report import to_json
    from edge.sim.simulate import simulate

    # the attempt: simulated student with a stiff landing; analysed by the pipeline as it stands
    sample = simulate(ACTION, 7, faults={"stiff_landing": 0.9})
    report = analyze_sequence(sample.sequence, ACTION, FieldCoachConfig())
    if not report["problems"]:
        # analyze does not run MotionDTW/KISMAM yet: diagnose at the simulator's keyframes
        d = diagnose(sample.sequence, load_action(ACTION), sample.keyframes)
        report.update(d.to_report())
        report["score"], report["grade"] = sample.score, sample.grade
    assert report["problems"], "KISMAM found no problem in a faulty attempt"

    index = tmp_path / "kb"
    entries = [e for e in load_corpus() if e.action in (ACTION, "general")]
    build_index(index, entries, load_embedder())
    config = GuideConfig(index_dir=index, model_path=shared_data / "gguf" / "stories260K.gguf", chat_format="chatml",
                         n_ctx=2048, max_tokens=256, timeout_s=60, warn_stale_index=False)
    tokens: list[str] = []
    with Guide(config) as g:
        add_guidance(report, g, on_token=tokens.append)
        assert g.engine is not None  # the model loaded and ran
    guidance = report["guidance"]
    assert tokens, "the model streamed no tokens"
    assert guidance["engine"] == "composer" and guidance["fallback_reason"]
    assert "What can be improved:" in guidance["text"]
    for p in report["problems"]:
        assert p["title"] in guidance["text"]
    assert f"{ACTION}_{report['problems'][0]['id']}" in guidance["sources"]
    assert report["timings_ms"]["guidance"] > 0
    assert not any(str(x).startswith("guidance") for x in report.get("not_computed", []))
    to_json(report)  # the report with guidance is still valid JSON
    assert no_network == [], f"network access was attempted: {no_network}"
