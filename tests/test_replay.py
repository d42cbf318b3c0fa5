"""`retrostep replay`: bouts, the printed report, the JSON, the plot and bad input."""
import json

from hypothesis import given, settings, strategies as st

import tracekit
from host_tools import cli
from host_tools.detector_run import run_trace
from host_tools.replay_cmd import BOUT_GAP_S, bouts, clock
from host_tools.trace import read_trace


def test_bouts_split_on_pauses():
    ev = [(0.0, 1), (500.0, 1), (1000.0, 2), (1000.0 + BOUT_GAP_S * 1000 + 1, 0), (9000.0 + BOUT_GAP_S * 1000, 1)]
    b = bouts(ev)
    assert [(x["start_ms"], x["end_ms"], x["steps"]) for x in b] == [
        (0.0, 1000.0, 3), (ev[3][0], ev[3][0], 1), (ev[4][0], ev[4][0], 1)]
    assert (b[0]["forward"], b[0]["backward"], b[0]["unknown"]) == (2, 1, 0)
    assert bouts([]) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e6, allow_nan=False), st.integers(0, 2)), max_size=60))
def test_bouts_cover_every_step_once(events):
    events.sort()
    b = bouts(events)
    assert sum(x["steps"] for x in b) == len(events)
    assert all(x["forward"] + x["backward"] + x["unknown"] == x["steps"] for x in b)
    assert all(b2["start_ms"] - b1["end_ms"] > BOUT_GAP_S * 1000 for b1, b2 in zip(b, b[1:]))


def test_clock():
    assert clock(61_500) == "1:01.50" and clock(3_723_000) == "1:02:03.00"


def test_replay_prints_counts_bouts_json_and_plot(tmp_path, capsys):
    p = tmp_path / "walk.csv"
    tracekit.walk_trace(p, rate_hz=50.0, seconds=30.0, forward_axis="-z")
    png = tmp_path / "out.png"
    js = tmp_path / "out.json"
    assert cli.main(["replay", str(p), "--plot", str(png), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    direct = run_trace(read_trace(p))
    assert f"steps {direct.steps}: forward {direct.forward}, backward {direct.backward}," \
           f" unknown {direct.unknown}" in out
    assert "forward axis -z" in out and "detector at 50 Hz" in out
    doc = json.loads(js.read_text())
    assert doc["steps"] == direct.steps and len(doc["events"]) == direct.steps
    assert sum(b["steps"] for b in doc["bouts"]) == direct.steps
    assert f"bouts {len(doc['bouts'])}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_replay_under_micropython_prints_the_same(tmp_path, capsys):
    p = tmp_path / "walk.csv"
    tracekit.walk_trace(p, rate_hz=25.0, seconds=20.0)
    assert cli.main(["replay", str(p)]) == 0
    a = capsys.readouterr().out
    assert cli.main(["replay", str(p), "--interpreter", "micropython"]) == 0
    assert capsys.readouterr().out == a


def test_replay_reports_bad_and_truncated_traces(tmp_path, capsys):
    p = tmp_path / "cut.csv"
    tracekit.walk_trace(p, rate_hz=25.0, seconds=5.0)
    p.write_text(p.read_text()[:-4])   # cut the last line short, no newline
    lines = p.read_text().count("\n") + 1
    assert cli.main(["replay", str(p)]) == 2
    assert f"{p}:{lines}: truncated last line" in capsys.readouterr().err
    assert cli.main(["replay", str(p), "--lenient"]) == 0
    cap = capsys.readouterr()
    assert "steps" in cap.out and "truncated last line" in cap.err
    assert cli.main(["replay", str(tmp_path / "none.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_traces_forward_axis_reaches_the_detector(tmp_path, capsys):
    # one walk, three headers: no mount (every step unknown), +z and -z (opposite labels)
    got = {}
    for axis in (None, "+z", "-z"):
        p = tmp_path / f"w{axis}.csv"
        js = tmp_path / f"w{axis}.json"
        tracekit.walk_trace(p, rate_hz=50.0, seconds=30.0, seed=5, forward_axis=axis)
        assert cli.main(["replay", str(p), "--json", str(js)]) == 0
        got[axis] = json.loads(js.read_text())
    capsys.readouterr()
    n = got[None]["steps"]
    assert n > 40 and got[None]["unknown"] == n
    assert got["+z"]["steps"] == got["-z"]["steps"] == n
    plus, minus = got["+z"], got["-z"]
    assert plus["forward"] + plus["backward"] >= 0.9 * n   # the mount is used
    assert (plus["forward"], plus["backward"]) == (minus["backward"], minus["forward"])


def test_the_detector_rate_stays_within_12_5_to_200_hz(tmp_path, capsys):
    for rate, want in ((400.0, "200"), (10.0, "12.5"), (104.0, "104")):
        p = tmp_path / f"r{rate:g}.csv"
        tracekit.walk_trace(p, rate_hz=rate, seconds=8.0)
        assert cli.main(["replay", str(p)]) == 0
        assert f"detector at {want} Hz" in capsys.readouterr().out
