"""Trace and manifest reading: round trips, resampling, and an error naming file and line
for every kind of malformed input."""
import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from host_tools.trace import (BLOCK_BYTES, DuplicateRowWarning, TraceError, TraceReader,
                              TruncatedLineWarning, read_manifest, read_trace, resample,
                              write_trace)

HEAD = "# format: retrostep-trace/1\n# rate_hz: 50\n# placement: waist\n# accel_unit: g\n"


def write(tmp_path, text, name="t.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(path, **kw):
    with pytest.raises(TraceError) as e:
        read_trace(path, **kw)
    return str(e.value)


def test_reads_header_columns_and_samples(tmp_path):
    p = write(tmp_path, HEAD + "# forward_axis: -z\n# source: bench\nt_ms,ax,ay,az\n0,0.1,0.2,0.9\n20,0.0,-0.1,1.1\n")
    tr = read_trace(p)
    assert tr.meta["source"] == "bench" and tr.placement == "waist"
    assert tr.nominal_rate_hz == 50.0
    assert tr.forward_axis == -3
    assert tr.t_ms.tolist() == [0, 20]
    assert tr.accel.tolist() == [[0.1, 0.2, 0.9], [0.0, -0.1, 1.1]]
    assert tr.gyro is None


def test_gyro_columns_and_irregular_rate_header(tmp_path):
    p = write(tmp_path, "# format: retrostep-trace/1\n# rate_hz: about 100 (phone)\n# accel_unit: g\n"
              "# gyro_unit: dps\nt_ms,ax,ay,az,gx,gy,gz\n0,0,0,1,1.5,-2,3\n7,0,0,1,0,0,0\n")
    tr = read_trace(p)
    assert tr.nominal_rate_hz is None
    assert tr.gyro.tolist()[0] == [1.5, -2, 3]
    assert tr.forward_axis == 0


@pytest.mark.parametrize("axis,code", [("+x", 1), ("-x", -1), ("+y", 2), ("-y", -2), ("+z", 3), ("-z", -3)])
def test_forward_axis_codes(tmp_path, axis, code):
    p = write(tmp_path, HEAD + f"# forward_axis: {axis}\nt_ms,ax,ay,az\n0,0,0,1\n")
    assert read_trace(p).forward_axis == code


@pytest.mark.parametrize("text,line,words", [
    ("t_ms,ax,ay,az\n0,0,0,1\n", 1, "missing '# format"),
    ("# rate_hz: 50\n# format: retrostep-trace/1\n# accel_unit: g\nt_ms,ax,ay,az\n0,0,0,1\n", 1, "first metadata line"),
    ("# format: retrostep-trace/2\n# accel_unit: g\nt_ms,ax,ay,az\n0,0,0,1\n", 1, "unsupported format"),
    ("# format: retrostep-trace/1\nt_ms,ax,ay,az\n0,0,0,1\n", 1, "accel_unit"),
    ("# format: retrostep-trace/1\n# accel_unit: m/s^2\nt_ms,ax,ay,az\n0,0,0,9.8\n", 2, "accel_unit is 'm/s^2'"),
    ("# format: retrostep-trace/1\n# accel_unit: g\n# gyro_unit: rad/s\nt_ms,ax,ay,az,gx,gy,gz\n0,0,0,1,0,0,0\n", 3,
     "gyro_unit is 'rad/s'"),
    ("# format: retrostep-trace/1\n# accel_unit: g\nt_ms,ax,ay,az,gx,gy,gz\n0,0,0,1,0,0,0\n", 1, "gyro_unit"),
    (HEAD + "# forward_axis: up\nt_ms,ax,ay,az\n0,0,0,1\n", 5, "forward_axis must be"),
    (HEAD + "time,x,y,z\n0,0,0,1\n", 5, "column header"),
    (HEAD, 5, "column header"),
    (HEAD + "t_ms,ax,ay,az\n", 6, "no samples"),
    (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n10,0,zero,1\n20,0,0,1\n", 7, "bad number 'zero' in column 3"),
    (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n10,0,0\n20,0,0,1\n", 7, "expected 4 comma-separated values, found 3"),
    (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n10,0,0,1,5\n", 7, "found 5"),
    (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n20,0,0,1\n10,0,0,1\n", 8, "time goes backwards"),
    (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n20,0,0,1\n20,0,0.1,1\n", 8, "time goes nowhere (t_ms 20 again, with other values than line 7)"),
    (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n10,nan,0,1\n", 7, "ax is nan"),
    (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n10,0,0,inf\n", 7, "az is inf"),
    (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n\n10,0,0,1\n", 7, "empty line"),
    (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n# note: late\n10,0,0,1\n", 7, "metadata line after"),
    (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n10,0,1_0,1\n", 7, "bad number '1_0' in column 3"),
    # wrong units behind a right-looking header: the samples' size gives them away
    (HEAD + "t_ms,ax,ay,az\n0,0.1,0,9.81\n20,0,0.2,9.79\n40,0.3,0,9.8\n", 4, "look like m/s^2"),
    (HEAD + "t_ms,ax,ay,az\n0,10,0,1001\n20,0,20,998\n40,0,0,1003\n", 4, "look like mg"),
    (HEAD + "t_ms,ax,ay,az\n0,0.01,0,0.02\n20,0,0.05,-0.1\n40,0.02,0,0\n", 4, "gravity removed"),
    (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n0.02,0,0,1\n0.04,0,0,1\n0.06,0,0,1\n", 7,
     "says rate_hz 50 (20 ms apart): t_ms looks like seconds"),
    (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n20000,0,0,1\n40000,0,0,1\n60000,0,0,1\n", 7,
     "t_ms looks like microseconds"),
    ("# format: retrostep-trace/1\n# accel_unit: g\nt_ms,ax,ay,az\n0,0,0,1\n0.01,0,0,1\n0.02,0,0,1\n", 5,
     "t_ms looks like seconds"),
    ("# format: retrostep-trace/1\n# accel_unit: g\nt_ms,ax,ay,az\n0,0,0,1\n10000,0,0,1\n20000,0,0,1\n", 5,
     "t_ms looks like microseconds"),
])
def test_errors_name_file_and_line(tmp_path, text, line, words):
    p = write(tmp_path, text)
    msg = error_of(p)
    assert msg.startswith(f"{p}:{line}: "), msg
    assert words in msg


def test_truncated_last_line_is_an_error_or_a_warning(tmp_path):
    p = write(tmp_path, HEAD + "t_ms,ax,ay,az\n0,0,0,1\n20,0.1,0.2,1\n40,0.1,0.")
    msg = error_of(p)
    assert msg.startswith(f"{p}:8: truncated last line")
    with pytest.warns(TruncatedLineWarning, match=r":8: truncated last line"):
        tr = read_trace(p, strict=False)
    assert tr.truncated and len(tr) == 2
    # a last line that parses but has no newline may be cut short: reported, kept when lenient
    q = write(tmp_path, HEAD + "t_ms,ax,ay,az\n0,0,0,1\n20,0.1,0.2,0.98", "cut.csv")
    assert error_of(q).startswith(f"{q}:7: truncated last line (no newline")
    with pytest.warns(TruncatedLineWarning, match=r":7: truncated last line .*kept"):
        tr = read_trace(q, strict=False)
    assert len(tr) == 2 and tr.accel[1, 2] == 0.98
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_trace(write(tmp_path, q.read_text() + "\n", "whole.csv"))) == 2


def test_plausible_extremes_are_not_mistaken_for_wrong_units(tmp_path):
    # hard running peaks near full scale, a phone at 400 Hz with a 90 s gap in its log, a
    # 12.5 Hz watch, a free fall and a device turned over: all in g and ms, all read
    t = np.arange(0, 20000, 2.5)
    t = np.concatenate([t, t[-1] + 90_000 + np.arange(0, 2000, 2.5)])
    ph = 2 * np.pi * 2.8 * t / 1000
    acc = np.column_stack([0.8 * np.sin(ph), 0.3 * np.cos(ph), 1 + 2.5 * np.maximum(0, np.sin(ph)) ** 4])
    acc[100:160] = 0.02     # a drop
    acc[400:700, 2] *= -1   # upside down
    write_trace(tmp_path / "run.csv", t, acc, {"rate_hz": "about 400 (phone)"})
    assert len(read_trace(tmp_path / "run.csv")) == len(t)
    write_trace(tmp_path / "sprint.csv", t, 3.5 * acc, {"rate_hz": "about 400 (phone)"})   # at the ankle
    assert len(read_trace(tmp_path / "sprint.csv")) == len(t)
    write_trace(tmp_path / "watch.csv", np.arange(50) * 80, np.tile([0.0, 0.1, 0.99], (50, 1)), {"rate_hz": 12.5})
    assert len(read_trace(tmp_path / "watch.csv")) == 50


def test_windows_line_ends_and_byte_order_mark(tmp_path):
    p = tmp_path / "win.csv"
    p.write_bytes(b"\xef\xbb\xbf" + (HEAD + "t_ms,ax,ay,az\n0,0,0,1\n20,0.5,0,1\n").replace("\n", "\r\n").encode())
    tr = read_trace(p)
    assert tr.accel.tolist() == [[0, 0, 1], [0.5, 0, 1]] and tr.meta["format"] == "retrostep-trace/1"


def test_unreadable_file_and_non_utf8(tmp_path):
    assert "cannot read" in error_of(tmp_path / "absent.csv")
    p = tmp_path / "bin.csv"
    p.write_bytes(HEAD.encode() + b"t_ms,ax,ay,az\n0,0,0,1\n\xff\xfe\n")
    assert error_of(p).startswith(f"{p}:7: not UTF-8")


finite = st.floats(-16, 16, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=60), st.data())
def test_write_read_round_trip(tmp_path_factory, gaps, data):
    t = np.concatenate([[0], np.cumsum(gaps)])
    # a worn device reads about 1 g (the reader refuses a trace whose median is far off);
    # one full-scale row among three or more still round-trips
    vals = np.array(data.draw(st.lists(st.tuples(st.floats(-2, 2), st.floats(-2, 2), st.floats(0.5, 2)),
                                       min_size=len(t), max_size=len(t))))
    if len(t) >= 3:
        vals[0] = data.draw(st.tuples(finite, finite, finite))
    p = tmp_path_factory.mktemp("rt") / "r.csv"
    write_trace(p, t, vals, {"rate_hz": 25, "placement": "ankle", "forward_axis": "+y"})
    tr = read_trace(p)
    assert tr.t_ms.tolist() == t.tolist()
    assert np.allclose(tr.accel, vals, atol=5e-5)
    assert tr.forward_axis == 2 and tr.placement == "ankle" and tr.nominal_rate_hz == 25


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.5, 40), min_size=2, max_size=80), finite, finite,
       st.sampled_from([12.5, 25, 50, 100, 200]))
def test_resampling_reproduces_a_linear_signal(gaps, slope, offset, rate):
    t = np.concatenate([[3.0], 3.0 + np.cumsum(gaps)])
    sig = np.column_stack([slope * t / 1000 + offset, -slope * t / 1000, np.full_like(t, offset)])
    grid, out = resample(t, sig, rate)
    assert grid[0] == t[0] and grid[-1] <= t[-1] + 1e-6
    assert len(grid) == math.floor((t[-1] - t[0]) * rate / 1000 + 1e-9) + 1
    assert np.allclose(np.diff(grid), 1000 / rate)
    assert np.allclose(out[:, 0], slope * grid / 1000 + offset, atol=1e-9)
    assert np.allclose(out[:, 2], offset)


def test_resampling_a_regular_grid_keeps_it():
    t = np.arange(0, 2000, 20.0)
    sig = np.random.default_rng(1).normal(size=(len(t), 3))
    grid, out = resample(t, sig, 50)
    assert np.array_equal(grid, t) and np.allclose(out, sig)


def test_cache_returns_the_same_trace_and_notices_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("RETROSTEP_CACHE", str(tmp_path / "cache"))
    p = write(tmp_path, HEAD + "t_ms,ax,ay,az\n0,0,0,1\n20,0.5,0,1\n")
    a = read_trace(p, cache=True)
    b = read_trace(p, cache=True)
    assert list((tmp_path / "cache").glob("*.npy"))
    assert b.meta == a.meta and np.array_equal(a.data, b.data) and np.array_equal(a.t_ms, b.t_ms)
    import os
    p.write_text(HEAD + "t_ms,ax,ay,az\n0,0,0,1\n20,0.25,0,1\n40,0,0,1\n")
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**9))
    c = read_trace(p, cache=True)
    assert len(c) == 3 and c.accel[1, 0] == 0.25


# ---------------------------------------------------------------- manifests

def make_dataset(tmp_path, recs, files=None):
    d = tmp_path / "ds"
    d.mkdir(exist_ok=True)
    for f in files if files is not None else [r["file"] for r in recs if "file" in r]:
        (d / f).write_text(HEAD + "t_ms,ax,ay,az\n0,0,0,1\n")
    (d / "manifest.json").write_text(json.dumps({"dataset": "mine", "recordings": recs}, indent=1))
    return d


def test_manifest_reads_recordings(tmp_path):
    d = make_dataset(tmp_path, [
        {"file": "a.csv", "placement": "waist", "steps": 3, "direction": "forward", "step_ms": [1, 2, 3]},
        {"file": "b.csv", "placement": "ankle", "steps": 2, "direction": "mixed", "step_ms": [5, 9],
         "step_dir": ["F", "B"], "note": "turned"},
        {"file": "c.csv", "steps": 0, "direction": "none"},
    ])
    m = read_manifest(d)
    assert m.dataset == "mine" and [r.file for r in m.recordings] == ["a.csv", "b.csv", "c.csv"]
    assert m.recordings[1].step_dir == ["F", "B"] and m.recordings[1].extra == {"note": "turned"}
    assert m.recordings[2].placement == "unknown"


@pytest.mark.parametrize("rec,words", [
    ({"file": "a.csv", "steps": -1, "direction": "none"}, "whole number"),
    ({"file": "a.csv", "steps": 2.5, "direction": "forward"}, "whole number"),
    ({"file": "a.csv", "steps": 2, "direction": "sideways"}, "direction"),
    ({"file": "a.csv", "steps": 2, "direction": "forward", "placement": "hat"}, "unknown placement"),
    ({"file": "a.csv", "steps": 2, "direction": "forward", "step_ms": [5, 1]}, "time order"),
    ({"file": "a.csv", "steps": 3, "direction": "forward", "step_ms": [1, 5]}, "lists 2"),
    ({"file": "a.csv", "steps": 2, "direction": "mixed", "step_ms": [1, 5]}, "step_dir"),
    ({"file": "a.csv", "steps": 2, "direction": "mixed", "step_ms": [1, 5], "step_dir": ["F", "X"]}, "step_dir"),
    ({"file": "a.csv", "steps": 0, "direction": "forward"}, "only with 0 steps"),
    ({"file": "a.csv", "steps": 4, "direction": "none"}, "only with 0 steps"),
    ({"steps": 4, "direction": "forward"}, "no \"file\""),
])
def test_manifest_errors(tmp_path, rec, words):
    d = make_dataset(tmp_path, [rec], files=["a.csv"])
    with pytest.raises(TraceError) as e:
        read_manifest(d)
    assert str(e.value).startswith(f"{d / 'manifest.json'}:") and words in str(e.value)


def test_manifest_missing_file_bad_json_and_no_manifest(tmp_path):
    d = make_dataset(tmp_path, [{"file": "gone.csv", "steps": 1, "direction": "forward"}], files=[])
    with pytest.raises(TraceError, match="gone.csv is listed but"):
        read_manifest(d)
    (d / "manifest.json").write_text('{"recordings": [\n  {"file": "a.csv",}\n]}')
    with pytest.raises(TraceError, match=r"manifest.json:2: not valid JSON"):
        read_manifest(d)
    e = tmp_path / "empty"
    e.mkdir()
    with pytest.raises(TraceError, match="needs a manifest.json"):
        read_manifest(e)


def test_shared_datasets_validate():
    from host_tools.paths import data_dir
    root = data_dir()
    if not (root / "bangle" / "manifest.json").exists():
        pytest.skip(f"recorded datasets not found at {root}")
    for name in ("bangle", "oxford"):
        m = read_manifest(root / name)
        assert m.recordings
        tr = read_trace(m.recordings[0].path, cache=True)
        assert len(tr) > 100 and tr.placement == m.recordings[0].placement


# ---------------------------------------------------------------- real-world faults

def test_exact_duplicate_rows_are_dropped_with_a_warning_naming_them(tmp_path):
    rows = [f"{20 * i},0,0.{i % 10},1\n" for i in range(12)]
    dup = rows[:3] + [rows[2]] + rows[3:8] + [rows[7], rows[7]] + rows[8:]   # lines 9, 15 and 16
    p = write(tmp_path, HEAD + "t_ms,ax,ay,az\n" + "".join(dup))
    with pytest.warns(DuplicateRowWarning) as rec:
        tr = read_trace(p)
    assert len(rec) == 1
    assert str(rec[0].message).startswith(f"{p}:9: 3 exact duplicate rows dropped (line 9, 15, 16)")
    assert tr.t_ms.tolist() == [20 * i for i in range(12)] and len(tr) == 12
    # many are counted, a few named
    many = rows[:1] + [rows[0]] * 9 + rows[1:]
    q = write(tmp_path, HEAD + "t_ms,ax,ay,az\n" + "".join(many), "many.csv")
    with pytest.warns(DuplicateRowWarning, match=r":7: 9 exact duplicate rows dropped \(line 7, 8, 9, 10, 11 and 4 more\)"):
        assert len(read_trace(q)) == 12


@pytest.mark.parametrize("lines,line,words", [
    ("# rate_hz: 0\n", 2, "rate_hz is '0'"),
    ("# rate_hz: -50\n", 2, "rate_hz is '-50'"),
    ("# rate_hz: nan\n", 2, "rate_hz is 'nan'"),
    ("# rate_hz: inf\n", 2, "rate_hz is 'inf'"),
    ("# rate_hz: 50\n# rate_hz: 100\n", 3, "'rate_hz' is given twice (first on line 2)"),
    ("# placement: moon\n", 2, "placement 'moon' is not one of wrist, hand"),
])
def test_header_values_are_checked_not_replaced(tmp_path, lines, line, words):
    p = write(tmp_path, "# format: retrostep-trace/1\n" + lines + "# accel_unit: g\nt_ms,ax,ay,az\n0,0,0,1\n20,0,0,1\n")
    msg = error_of(p)
    assert msg.startswith(f"{p}:{line}: ") and words in msg, msg


def test_rate_in_words_or_with_its_unit(tmp_path):
    for text, rate in (("50 Hz", 50.0), ("12.5hz", 12.5), ("about 100 (irregular)", None), ("1e2", 100.0)):
        p = write(tmp_path, f"# format: retrostep-trace/1\n# rate_hz: {text}\n# accel_unit: g\n"
                  "t_ms,ax,ay,az\n0,0,0,1\n10,0,0,1\n20,0,0,1\n")
        assert read_trace(p).nominal_rate_hz == rate


@settings(max_examples=25, deadline=None)
@given(st.integers(256, 4096), st.integers(0, 199), st.sampled_from(["bad", "back", "nan", "blank", "dup", "none"]))
def test_reading_a_block_at_a_time_gives_the_same_samples_and_lines(tmp_path_factory, block, at, fault):
    # a block boundary anywhere (in a line, between lines) changes nothing: the same
    # samples, the same error at the same line
    d = tmp_path_factory.mktemp("blk")
    t = np.arange(200) * 20
    acc = np.column_stack([np.sin(t / 300), np.cos(t / 200) * 0.2, 1 + 0.1 * np.sin(t / 100)])
    write_trace(d / "w.csv", t, acc, {"rate_hz": 50})
    lines = (d / "w.csv").read_text().splitlines(keepends=True)
    k = len(lines) - 200 + at            # the line of sample `at` (0-based index)
    if fault == "bad":
        lines[k] = lines[k].replace(",", ",x", 1)
    elif fault == "back" and at:
        lines[k] = "5" + lines[k][lines[k].index(","):]
    elif fault == "nan":
        lines[k] = lines[k].rsplit(",", 1)[0] + ",nan\n"
    elif fault == "blank" and at < 199:
        lines.insert(k, "\n")
    elif fault == "dup":
        lines.insert(k, lines[k])
    (d / "w.csv").write_text("".join(lines))
    outcomes = []
    for size in (block, BLOCK_BYTES):
        try:
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                with TraceReader(d / "w.csv", block_bytes=size) as rd:
                    got = [np.column_stack([a, b]) for a, b in rd.chunks()]
            outcomes.append(("ok", np.concatenate(got).tolist(), [str(x.message) for x in w]))
        except TraceError as e:
            outcomes.append(("error", str(e)))
    assert outcomes[0] == outcomes[1]
    if outcomes[0][0] == "error":
        assert outcomes[0][1].startswith(f"{d / 'w.csv'}:{k + 1}: "), outcomes[0][1]


# ---------------------------------------------------------------- fuzzing the reader

FUZZ_LINES = 250         # each source is the head of a recording: fast, and every kind of line


def _fuzz_sources() -> list[tuple[str, bytes]]:
    """The first lines of one real recording per dataset (accelerometer alone and with the
    gyro; 12.5 Hz, irregular phone timestamps, 50 and 100 Hz), else simulated ones."""
    from host_tools.paths import data_dir
    root = data_dir()
    out = []
    for ds, name in (("bangle", "bangle_walk150_1.csv"), ("oxford", "oxford_nexus_jamie_hard_inhand_1.csv"),
                     ("mocap_dev", "bandai2_active_run006_waist.csv"), ("ipol_dev", "ipol_1-1_fwd.csv")):
        p = root / ds / name
        if p.exists():
            with open(p, "rb") as f:
                out.append((name, b"".join(f.readline() for _ in range(FUZZ_LINES))))
    if out:
        return out
    import tempfile
    from pathlib import Path

    import tracekit
    from host_tools.sim import simulate, write as write_sim
    with tempfile.TemporaryDirectory() as tmp:
        tracekit.walk_trace(Path(tmp) / "walk.csv", rate_hz=50.0, seconds=3.0, jitter_ms=2.0,
                            rate_header="about 50 (irregular)")
        write_sim(simulate(script="walk 6", placement="front_pocket", rate_hz=100, seed=2), tmp, "sim")
        for n in ("walk.csv", "sim.csv"):
            with open(Path(tmp) / n, "rb") as f:
                out.append((n, b"".join(f.readline() for _ in range(FUZZ_LINES))))
    return out


FUZZ_SOURCES = _fuzz_sources()
NASTY = [b"nan", b"inf", b"-inf", b"1e20", b"-1e308", b"1e400", b"-0", b"", b" ", b"1_0", "\u0663".encode(),
         b"0x10", b"9" * 400, b"NaN", b"1e-400", b"+5", b"5.", b".5", b"--1", b"1,2", b"\x00", b"#", b"\xff\xfe"]


def _rejoin(lines):
    return bytearray(b"\n".join(lines))


@st.composite
def mutated(draw):
    """A source with one to four faults, mostly among its samples (some in its header)."""
    name, text = draw(st.sampled_from(FUZZ_SOURCES))
    data = bytearray(text)
    body = text.index(b"\nt_ms") + 1         # where the column header starts
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dupline", "swap", "number", "number",
                                   "cut", "jump", "jump", "crlf", "noeol", "header"]))
        n = len(data)
        lo = 0 if draw(st.integers(0, 9)) == 0 or body >= n else body
        pos = draw(st.integers(lo, max(lo, n - 1)))
        lines = bytes(data).split(b"\n")
        first = bytes(data[:body]).count(b"\n") + 1 if body < n else 0
        k = draw(st.integers(min(first, len(lines) - 1), len(lines) - 1))
        if op == "flip" and n:
            data[min(pos, n - 1)] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(max_size=24))
        elif op == "delete":
            del data[pos:pos + draw(st.integers(1, 300))]
        elif op == "dupline":
            lines.insert(k, lines[k])
            data = _rejoin(lines)
        elif op == "swap":
            j = draw(st.integers(min(first, len(lines) - 1), len(lines) - 1))
            lines[k], lines[j] = lines[j], lines[k]
            data = _rejoin(lines)
        elif op == "number":
            parts = lines[k].split(b",")
            parts[draw(st.integers(0, len(parts) - 1))] = draw(st.sampled_from(NASTY))
            lines[k] = b",".join(parts)
            data = _rejoin(lines)
        elif op == "cut":
            del data[pos:]
        elif op == "jump":     # the clock jumps ahead from line k on: seconds to centuries
            dt = draw(st.sampled_from([2999, 3001, 60_000, 100_080_000, 10**13, 10**20]))
            for j in range(k, len(lines)):
                t, sep, rest = lines[j].partition(b",")
                if sep and t.isdigit():
                    lines[j] = str(int(t) + dt).encode() + b"," + rest
            data = _rejoin(lines)
        elif op == "crlf":
            data = bytearray(bytes(data).replace(b"\n", draw(st.sampled_from([b"\r\n", b"\r"])),
                                                 draw(st.integers(1, 300))))
        elif op == "noeol":
            data = bytearray(bytes(data).rstrip(b"\n"))
        elif op == "header":
            head = draw(st.sampled_from([b"# rate_hz: 0", b"# rate_hz: 50", b"# placement: moon",
                                         b"# format: retrostep-trace/1", b"# accel_unit: mg", b"#",
                                         b"# x", b"t_ms,ax,ay,az"]))
            lines.insert(draw(st.integers(0, 12)), head)
            data = _rejoin(lines)
    return name, bytes(data), draw(st.booleans())


@settings(max_examples=150, deadline=None)
@given(mutated())
def test_fuzzed_real_traces_are_read_or_refused_with_a_line_number(tmp_path_factory, case):
    """Mutated recordings: each is read (finite values, strictly increasing times, then put
    on the detector's grid) or refused with the project's own error naming file and line;
    nothing else is raised, and time and memory stay within a bound linear in the file."""
    import re
    import time
    import tracemalloc

    from host_tools.detector_run import BREAK_S, detector_rate, prepare
    name, data, strict = case
    p = tmp_path_factory.mktemp("fuzz") / name
    p.write_bytes(data)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracemalloc.start()
        try:
            tr = read_trace(p, strict=strict)
        except TraceError as e:
            assert re.match(rf"^{re.escape(str(p))}:\d+: \S", str(e)), str(e)
            tr = None
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        if tr is not None:
            assert len(tr) and np.isfinite(tr.data).all() and np.isfinite(tr.t_ms).all()
            assert (np.diff(tr.t_ms) > 0).all() and tr.data.shape[1] in (3, 6)
            # on the detector's grid: a gap over BREAK_S is a break, nothing is filled in
            prep = prepare(tr)
            assert len(prep.samples) <= len(tr) * (BREAK_S * detector_rate(tr) + 1)
    assert {w.category for w in caught} <= {TruncatedLineWarning, DuplicateRowWarning}
    # the reader's fixed part (blocks, the unit checks' histograms) and what a byte of CSV
    # can become (a row of 8 bytes is 4 to 7 float64 values)
    assert peak < 3_000_000 + 60 * len(data), (peak, len(data))
    assert time.perf_counter() - t0 < 5.0
