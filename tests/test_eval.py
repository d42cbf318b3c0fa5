"""`retrostep eval`: scoring functions, the evaluation over a synthetic dataset, the CLI and its JSON."""
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tracekit
from host_tools import cli
from host_tools.detector_run import RunResult, run_trace
from host_tools.eval_cmd import (MATCH_TOL_MS, evaluate, f1_scores, match_steps, score_recording,
                                 standing_recording, summarise)
from host_tools.trace import read_manifest, read_trace

times = st.lists(st.floats(0, 20000, allow_nan=False), max_size=40).map(sorted)


@settings(max_examples=150, deadline=None)
@given(times, times)
def test_matching_is_one_to_one_within_tolerance_and_maximal(det, true):
    pairs = match_steps(det, true)
    di = [i for i, _ in pairs]
    ti = [j for _, j in pairs]
    assert len(set(di)) == len(di) and len(set(ti)) == len(ti)
    assert all(abs(det[i] - true[j]) <= MATCH_TOL_MS for i, j in pairs)
    # greedy leaves no unmatched pair within the tolerance
    free_d = set(range(len(det))) - set(di)
    free_t = set(range(len(true))) - set(ti)
    assert not any(abs(det[i] - true[j]) <= MATCH_TOL_MS for i in free_d for j in free_t)


@settings(max_examples=80, deadline=None)
@given(times, st.floats(-200, 200))
def test_shifted_copy_matches_everything(true, shift):
    true = sorted(set(round(t, -3) for t in true))   # at least 1 s apart
    pairs = match_steps([t + shift for t in true], true)
    assert pairs == [(i, i) for i in range(len(true))]


def test_matching_prefers_the_closest_pair():
    # detection 0 is 200 ms from true 0 but true 0 is 10 ms from detection 1
    assert match_steps([1000, 1190], [1200]) == [(1, 0)]
    assert match_steps([], [1, 2]) == [] and match_steps([1], []) == []


def test_f1_scores():
    assert f1_scores(8, 2, 0) == pytest.approx((0.8, 1.0, 2 * 0.8 / 1.8))
    assert f1_scores(0, 0, 0) == (1.0, 1.0, 1.0)
    assert f1_scores(0, 3, 0)[2] == 0.0


def test_score_recording_direction_and_errors(tmp_path):
    recs = tracekit.dataset(tmp_path / "ds")
    m = read_manifest(tmp_path / "ds")
    fwd = m.recordings[0]
    res = RunResult(steps=75, forward=60, backward=5, unknown=10, n=0, rate_hz=50.0,
                    events=[(float(t), 1) for t in fwd.step_ms] + [(99999.0, 0), (99000.0, 2)])
    s = score_recording(fwd, res, 44.0)
    assert s["error"] == 75 - recs[0]["steps"]
    assert s["ape"] == pytest.approx(abs(75 - recs[0]["steps"]) / recs[0]["steps"] * 100)
    assert s["false_steps"] is None
    assert (s["dir_right"], s["dir_total"]) == (60, 75)
    assert (s["tp"], s["fp"], s["fn"]) == (len(fwd.step_ms), 2, 0)
    mixed = m.recordings[4]
    ev = [(float(t), 1 if d == "F" else 2) for t, d in zip(mixed.step_ms, mixed.step_dir)]
    ev[0] = (ev[0][0], 0)   # one unknown: not right
    res = RunResult(len(ev), 0, 0, 0, 0, 50.0, ev)
    s = score_recording(mixed, res, 10.0)
    assert (s["dir_right"], s["dir_total"]) == (len(ev) - 1, len(ev))
    assert s["ape"] is None and s["false_steps"] == 0
    still = m.recordings[3]
    s = score_recording(still, RunResult(7, 0, 0, 7, 0, 25.0, []), 60.0)
    assert s["false_steps"] == 7 and s["dir_total"] is None


def test_summary_arithmetic():
    rows = [
        {"dataset": "a", "file": "w1", "ape": 10.0, "false_steps": None, "dir_total": 100, "dir_right": 90,
         "unknown": 5, "steps": 100, "true_steps": 110, "tp": 80, "fp": 20, "fn": 30, "duration_s": 60},
        {"dataset": "a", "file": "w2", "ape": 4.0, "false_steps": None, "dir_total": 50, "dir_right": 50,
         "unknown": 0, "steps": 52, "true_steps": 50, "tp": None, "fp": None, "fn": None, "duration_s": 30},
        {"dataset": "a", "file": "car", "ape": None, "false_steps": 6, "dir_total": None, "dir_right": None,
         "unknown": 6, "steps": 6, "true_steps": 0, "tp": None, "fp": None, "fn": None, "duration_s": 1800},
        {"dataset": "a", "file": "few", "ape": None, "false_steps": 0, "dir_total": 3, "dir_right": 1,
         "unknown": 2, "steps": 3, "true_steps": 4, "tp": None, "fp": None, "fn": None, "duration_s": 1800},
    ]
    s = summarise(rows, ["a"])["datasets"]["a"]
    assert s["mape"] == pytest.approx(7.0) and s["worst_file"] == "w1" and s["worst_ape"] == 10.0
    assert s["false_steps"] == 6 and s["false_steps_per_hour"] == pytest.approx(6.0)
    assert s["direction_accuracy"] == pytest.approx(141 / 153)
    assert s["unknown_share"] == pytest.approx(7 / 155)
    assert s["precision"] == pytest.approx(0.8) and s["recall"] == pytest.approx(80 / 110)


def test_evaluate_matches_single_runs_and_scores_consistently(tmp_path):
    tracekit.dataset(tmp_path / "ds", "synth")
    res = evaluate([tmp_path / "ds"], workers=2)
    m = read_manifest(tmp_path / "ds")
    assert [r["file"] for r in res.recordings] == [r.file for r in m.recordings]
    for row, rec in zip(res.recordings, m.recordings):
        direct = run_trace(read_trace(rec.path))
        assert (row["steps"], row["forward"], row["backward"], row["unknown"]) == \
            (direct.steps, direct.forward, direct.backward, direct.unknown)
        assert row["true_steps"] == rec.steps and row["true_direction"] == rec.direction
    assert res.recordings[1]["rate_hz"] == 100.0   # phone-like header -> the phone rate
    assert res.recordings[2]["rate_hz"] == 12.5
    s = res.summary["datasets"]["synth"]
    walks = [r for r in res.recordings if r["true_steps"] >= 50]
    assert s["n_walks"] == len(walks) == 2
    assert s["mape"] == pytest.approx(np.mean([abs(r["steps"] - r["true_steps"]) / r["true_steps"] * 100
                                               for r in walks]))
    short = [r for r in res.recordings if r["true_steps"] < 50]
    hours = sum(r["duration_s"] for r in short) / 3600
    fs = sum(max(0, r["steps"] - r["true_steps"]) for r in short)
    assert s["false_steps_per_hour"] == pytest.approx(fs / hours)
    one = evaluate([tmp_path / "ds"], workers=1)
    assert [r["steps"] for r in one.recordings] == [r["steps"] for r in res.recordings]


def test_eval_command_json_table_and_progress(tmp_path, capsys):
    tracekit.dataset(tmp_path / "d1", "one")
    tracekit.dataset(tmp_path / "d2", "two")
    out = tmp_path / "r.json"
    assert cli.main(["eval", str(tmp_path / "d1"), str(tmp_path / "d2"), "--json", str(out)]) == 0
    cap = capsys.readouterr()
    assert "== one (5 recordings)" in cap.out and "== two" in cap.out and "MAPE" in cap.out
    assert "[" in cap.err and "10/10" in cap.err   # the progress bar
    for words in ("APE%", "fwd", "bwd", "unk", "F1", "false steps", "/h", "direction right",
                  "step-time F1"):
        assert words in cap.out, words
    doc = json.loads(out.read_text())
    assert len(doc["recordings"]) == 10
    for r in doc["recordings"]:
        for k in ("dataset", "file", "placement", "true_steps", "steps", "forward", "backward",
                  "unknown", "true_direction"):
            assert k in r
        assert r["forward"] + r["backward"] + r["unknown"] == r["steps"]
    assert set(doc["summary"]["datasets"]) == {"one", "two"}
    assert doc["summary"]["all"]["n_recordings"] == 10
    assert doc["summary"]["interpreter"] == "cpython"


def test_eval_scores_the_rest_when_recordings_cannot_be_read(tmp_path, capsys):
    # a phone's duplicated sample is dropped with a warning naming its line; a bad number,
    # the same time with other values, a cut last line and a placement the manifest
    # contradicts are rows marked failed, each with its file and line; the others are
    # scored exactly as without them, and the exit status says something failed
    good = tmp_path / "good"
    tracekit.dataset(good)
    base = evaluate([good], workers=1)
    d = tmp_path / "bad"
    tracekit.dataset(d)
    walk = (d / "walk50.csv").read_text().splitlines(keepends=True)
    (d / "walk50.csv").write_text("".join(walk[:30] + [walk[29]] + walk[30:]))  # line 31 twice
    phone = (d / "walk_phone.csv").read_text().splitlines(keepends=True)
    t, _, rest = phone[40].partition(",")
    phone[41] = t + ",0.5," + rest.split(",", 1)[1]       # line 42: line 41's time, other values
    (d / "walk_phone.csv").write_text("".join(phone))
    (d / "walk12.csv").write_text((d / "walk12.csv").read_text().replace("\n160,", "\n160,x", 1))
    (d / "still.csv").write_text((d / "still.csv").read_text()[:-3])          # cut short
    (d / "short.csv").write_text((d / "short.csv").read_text().replace("# placement: ankle", "# placement: wrist"))
    assert cli.main(["eval", str(d), "--workers", "1", "--json", str(tmp_path / "e.json")]) == 1
    cap = capsys.readouterr()
    assert f"{d / 'walk50.csv'}:31: 1 exact duplicate row dropped (line 31)" in cap.err
    rows = {r["file"]: r for r in json.loads((tmp_path / "e.json").read_text())["recordings"]}
    assert rows["walk50.csv"]["steps"] == next(r["steps"] for r in base.recordings if r["file"] == "walk50.csv")
    assert f"{d / 'walk_phone.csv'}:42: time goes nowhere" in rows["walk_phone.csv"]["failed"]
    assert "bad number 'x" in rows["walk12.csv"]["failed"]
    assert "truncated last line" in rows["still.csv"]["failed"] and "--lenient" in rows["still.csv"]["failed"]
    assert "manifest says placement 'ankle' but the trace's header says 'wrist'" in rows["short.csv"]["failed"]
    for f in ("walk_phone.csv", "walk12.csv", "still.csv", "short.csv"):
        assert rows[f]["failed"] in cap.err and f"{f} " in cap.out and "failed:" in cap.out
    assert "4 of 5 recordings could not be read" in cap.out and "Traceback" not in cap.err
    # --lenient reads the cut one (with a warning) and eval still says what failed
    assert cli.main(["eval", str(d), "--workers", "2", "--lenient"]) == 1
    cap = capsys.readouterr()
    assert "truncated last line" in cap.err and "3 of 5 recordings could not be read" in cap.out
    assert cli.main(["eval", str(tmp_path / "nowhere")]) == 2
    assert "not a folder" in capsys.readouterr().err
    for bad in (["--rate", "0"], ["--rate", "-5"], ["--json", str(tmp_path)]):
        assert cli.main(["eval", str(good), *bad]) == 2
        assert "retrostep eval: error: " + bad[0] in capsys.readouterr().err


def test_recorded_datasets_evaluate():
    """The real datasets go through end to end (figures are printed, not asserted)."""
    from host_tools.paths import data_dir
    root = data_dir()
    if not (root / "bangle" / "manifest.json").exists():
        pytest.skip(f"recorded datasets not found at {root}")
    res = evaluate([root / "bangle"], workers=2)
    assert len(res.recordings) == len(read_manifest(root / "bangle").recordings)
    print(res.table())


def test_eval_uses_each_traces_forward_axis(tmp_path):
    d = tmp_path / "mounts"
    d.mkdir()
    recs = []
    for name, axis in (("mounted.csv", "+z"), ("loose.csv", None)):
        s = tracekit.walk_trace(d / name, rate_hz=50.0, seconds=30.0, seed=5, forward_axis=axis)
        recs.append({"file": name, "placement": "waist", "steps": len(s), "direction": "forward"})
    (d / "manifest.json").write_text(json.dumps({"dataset": "mounts", "recordings": recs}))
    mounted, loose = evaluate([d], workers=1).recordings
    assert loose["steps"] > 40 and loose["unknown"] == loose["steps"] and loose["dir_right"] == 0
    assert mounted["steps"] == loose["steps"]
    assert mounted["forward"] + mounted["backward"] >= 0.9 * mounted["steps"]
    assert mounted["dir_right"] == mounted["forward"]


# The targets on the public recordings, which the detector's two swing floors
# (stepdetect._FMIN to start a walk, _FMIN_WALK inside one) were tuned to. Counts are
# deterministic, so these hold exactly run to run; a change that loses them shows here.
RECORDED_TARGETS = {
    "bangle": {"mape": 3.0, "worst_ape": 8.0, "false_steps_per_hour": 10.0},
    "oxford": {"mape": 2.0, "worst_ape": 8.0},
}


def test_recorded_datasets_meet_the_counting_targets():
    from host_tools.paths import data_dir
    root = data_dir()
    if not all((root / name / "manifest.json").exists() for name in RECORDED_TARGETS):
        pytest.skip(f"recorded datasets not found at {root} (set RETROSTEP_DATA)")
    res = evaluate([root / name for name in RECORDED_TARGETS], workers=2)
    for name, targets in RECORDED_TARGETS.items():
        s = res.summary["datasets"][name]
        for key, most in targets.items():
            assert s[key] <= most, f"{name}: {key} {s[key]:.2f} over the target {most}"


def test_standing_copy_stands_still_around_the_walk(tmp_path, capsys):
    # `--standing`: the walk unchanged between 4 s of standing still before and after,
    # its true step times moved with it; a simulated short walk is counted in it too
    assert cli.main(["simulate", "--script", "walk 12", "-p", "waist", "-r", "50", "--seed", "5",
                     "-o", str(tmp_path), "--name", "w"]) == 0
    rec = read_manifest(tmp_path).recordings[0]
    tr = read_trace(rec.path)
    rec2, tr2 = standing_recording(rec, tr)
    n = len(tr2) - len(tr)
    assert n == 2 * 200 and tr2.t_ms[0] == 0 and np.all(np.diff(tr2.t_ms) > 0)
    assert np.array_equal(tr2.data[200:-200], tr.data)
    still = np.concatenate([tr2.accel[:200], tr2.accel[-200:]])
    assert np.allclose(np.linalg.norm(still, axis=1), 1.0, atol=0.02)
    assert np.all(tr2.gyro[:200] == 0) and np.all(tr2.gyro[-200:] == 0)
    shift = tr2.t_ms[200] - tr.t_ms[0]
    assert np.allclose(np.array(rec2.step_ms) - np.array(rec.step_ms), shift)
    res = evaluate([tmp_path], standing=True, workers=1)
    assert sorted(r["dataset"].endswith("~standing") for r in res.recordings) == [False, True]
    for r in res.recordings:
        assert abs(r["steps"] - 12) <= 2, r
