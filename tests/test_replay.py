"""`retrostep replay`: bouts, the printed report, the JSON, the plot and bad input."""
import json
import sys

import numpy as np
import pytest
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


# ---------------------------------------------------------------- gaps, long traces, options

def _joined(tmp_path, name, parts, gap_ms):
    """Traces glued one after another, `gap_ms` between the end of one and the next."""
    head, rows, t_end = None, [], None
    for p in parts:
        lines = p.read_text().splitlines(keepends=True)
        h = [ln for ln in lines if not ln[:1].isdigit()]
        data = [ln for ln in lines if ln[:1].isdigit()]
        head = head or h
        shift = 0.0 if t_end is None else t_end + gap_ms - float(data[0].split(",")[0])
        for ln in data:
            t, rest = ln.split(",", 1)
            rows.append(f"{float(t) + shift:.1f},{rest}")
        t_end = float(rows[-1].split(",")[0])
    out = tmp_path / name
    out.write_text("".join(head + rows))
    return out


def test_a_long_gap_is_a_break_nothing_is_invented(tmp_path, capsys):
    from host_tools.detector_run import BREAK_S
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    tracekit.walk_trace(a, rate_hz=50.0, seconds=30.0, seed=1)
    tracekit.walk_trace(b, rate_hz=50.0, seconds=30.0, seed=2)
    ra, rb = run_trace(read_trace(a)), run_trace(read_trace(b))
    for gap_ms in (BREAK_S * 1000 + 500, 600_000.0, 100_080_000.0, 115 * 86400e3):
        p = _joined(tmp_path, "ab.csv", [a, b], gap_ms)
        res = run_trace(read_trace(p))
        # the detector starts afresh after the gap: each walk counts as it does alone, at its
        # own time, and only the recorded samples are fed
        assert res.breaks == 1 and res.n == ra.n + rb.n
        assert res.steps == ra.steps + rb.steps
        second = [t for t, _ in res.events][ra.steps:]
        shift = float(read_trace(p).t_ms[len(read_trace(a))]) - float(read_trace(b).t_ms[0])
        assert np.allclose(second, [t + shift for t, _ in rb.events])
        assert cli.main(["replay", str(p)]) == 0
        out = capsys.readouterr().out
        assert "breaks 1 (gaps over 3 s" in out and f"steps {ra.steps + rb.steps}:" in out
    # a gap shorter than a break is interpolated over: one stretch
    p = _joined(tmp_path, "short_gap.csv", [a, b], 1000.0)
    assert run_trace(read_trace(p)).breaks == 0


def test_a_timestamp_far_ahead_costs_nothing(tmp_path, capsys):
    # the cases: one timestamp of 1e20, a 27.8 h jump in a 200-row file
    import resource
    import time
    p = tmp_path / "w.csv"
    tracekit.walk_trace(p, rate_hz=50.0, seconds=4.0)
    lines = p.read_text().splitlines(keepends=True)
    q = tmp_path / "far.csv"
    q.write_text("".join(lines[:-1]) + "1e20,0,0,1\n")
    jump = tmp_path / "jump.csv"
    head = [ln for ln in lines if not ln[:1].isdigit()]
    rows = [ln for ln in lines if ln[:1].isdigit()][:200]
    jump.write_text("".join(head + rows[:100] + [f"{int(r.split(',')[0]) + 100_080_000},{r.split(',', 1)[1]}"
                                                for r in rows[100:]]))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    for f in (q, jump):
        assert cli.main(["replay", str(f)]) == 0
        assert "breaks 1" in capsys.readouterr().out
    assert time.perf_counter() - t0 < 10
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000   # KB


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_replay_memory_is_flat_in_the_traces_length(tmp_path):
    """`retrostep replay` streams its file: six times the samples, the same peak memory
    (read whole, as before, 150,000 more samples took about 75 MB)."""
    from host_tools.bench_replay import measured, write_trace
    short, long = tmp_path / "5min.csv", tmp_path / "30min.csv"
    write_trace(short, 1 / 12)
    write_trace(long, 0.5)
    a = measured(["replay", str(short)])
    b = measured(["replay", str(long)])
    assert "steps" in a["out"] and "steps" in b["out"]
    assert b["peak_rss_mb"] - a["peak_rss_mb"] < 6, (a["peak_rss_mb"], b["peak_rss_mb"])


def test_streaming_replay_equals_the_whole_trace_run(tmp_path):
    # a block at a time (small blocks: many of them) gives exactly the events of the
    # whole trace in memory, under both interpreters
    from host_tools.detector_run import run_file
    p = tmp_path / "day.csv"
    tracekit.day_trace(p, rate_hz=50.0)
    whole = run_trace(read_trace(p))
    res, rd = run_file(p, block_bytes=4096)
    assert res.events == whole.events and res.steps == whole.steps > 20
    assert rd.samples == len(read_trace(p))
    mp, _ = run_file(p, interpreter="micropython", block_bytes=4096)
    assert mp.events == whole.events


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 500), min_size=1, max_size=12), st.integers(2, 50))
def test_the_plot_envelope_keeps_every_peak_in_fixed_memory(sizes, cap):
    import numpy as np
    from host_tools.replay_cmd import Envelope
    env = Envelope(points=cap)
    mags = []
    t = 0
    rng = np.random.default_rng(len(sizes))
    for n in sizes:
        v = rng.uniform(0.5, 2.0, n)
        env(np.arange(t, t + n, dtype=float) * 10, np.column_stack([v, 0 * v, 0 * v]))
        mags.append(v)
        t += n
    m = np.concatenate(mags)
    assert len(env.t) <= cap
    e = env.every
    for j in range(len(env.t)):     # point j is samples j*e .. (j+1)*e - 1
        seg = m[j * e:(j + 1) * e]
        assert env.t[j] == j * e * 10 and env.lo[j] == seg.min() and env.hi[j] == seg.max()
    assert len(env.t) == -(-len(m) // e)


def test_replay_options_are_checked_before_the_work(tmp_path, capsys):
    p = tmp_path / "walk.csv"
    tracekit.walk_trace(p, rate_hz=25.0, seconds=5.0)
    for args, words in ((["--plot", str(tmp_path / "x.xyz")], "cannot draw a .xyz file"),
                        (["--plot", str(tmp_path / "no" / "x.png")], "does not exist"),
                        (["--json", str(tmp_path)], "is a folder"),
                        (["--rate", "0"], "--rate 0: the detector runs at 12.5 to 200 Hz"),
                        (["--rate", "-5"], "--rate -5"), (["--rate", "nan"], "--rate nan")):
        assert cli.main(["replay", str(p), *args]) == 2
        cap = capsys.readouterr()
        assert words in cap.err and "steps" not in cap.out, (args, cap.err)
    # a name without an extension gets a PNG, named as written
    assert cli.main(["replay", str(p), "--plot", str(tmp_path / "noext")]) == 0
    assert f"plot written to {tmp_path / 'noext.png'}" in capsys.readouterr().out
    assert (tmp_path / "noext.png").read_bytes()[:4] == b"\x89PNG"
    assert cli.main(["replay", str(p), "--plot", str(tmp_path / "x.svg")]) == 0
    assert (tmp_path / "x.svg").read_text().lstrip().startswith("<?xml")
