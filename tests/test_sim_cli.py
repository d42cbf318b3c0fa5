"""`retrostep simulate`: files in the trace format, manifest labels, clear errors, reversal."""
import json
import time

import numpy as np
import pytest

from host_tools.cli import main
from host_tools.sim import stream
from host_tools.trace import read_manifest, read_trace


def test_simulate_writes_trace_and_manifest(tmp_path, capsys):
    rc = main(["simulate", "--script", "walk 20, turn, retro 12, stand 3s", "-p", "wrist", "-r", "12.5",
               "--seed", "3", "-o", str(tmp_path), "--name", "mix"])
    assert rc == 0
    assert "24 forward, 12 backward" in capsys.readouterr().out
    tr = read_trace(tmp_path / "mix.csv")
    m = read_manifest(tmp_path)
    rec = m.recordings[0]
    assert rec.direction == "mixed" and rec.steps == 36
    assert rec.step_dir == ["F"] * 24 + ["B"] * 12
    assert tr.meta["placement"] == "wrist" and tr.meta["forward_axis"] == "+y"
    assert tr.nominal_rate_hz == 12.5 and tr.gyro is not None
    # the written values give back the exact sensor counts
    lsb = float(tr.meta["lsb_per_g"])
    assert np.allclose(tr.accel * lsb, np.rint(tr.accel * lsb), atol=0.2)


def test_scripts_name_stumbles_and_falls(tmp_path, capsys):
    rc = main(["simulate", "--script", "walk 30, stumble, walk 20, fall", "-p", "waist",
               "--seed", "2", "-o", str(tmp_path), "--name", "events"])
    assert rc == 0
    rec = read_manifest(tmp_path).recordings[0]
    raw = json.loads((tmp_path / "manifest.json").read_text())["recordings"][0]
    kinds = [e["kind"] for e in raw["events"]]
    assert kinds == ["stumble", "fall"]
    # the stumble comes after the first walk's steps, the fall after the second walk's
    first, second = raw["events"][0]["t_ms"], raw["events"][1]["t_ms"]
    assert rec.step_ms[29] < first < second and rec.step_ms[-1] < second


@pytest.mark.parametrize("argv, msg", [
    (["-n", "-5"], "steps"),
    (["-p", "knee"], "placement"),
    (["-r", "5"], "rate"),
    (["-r", "1001"], "rate"),
    (["--seed", "x"], "seed"),
    (["-a", "desk", "-n", "3"], "duration"),
    (["-d", "0s"], "duration"),
    (["--sensor", "adxl"], "sensor"),
    (["--mount", "sideways"], "mount"),
])
def test_invalid_options_write_nothing(tmp_path, capsys, argv, msg):
    out = tmp_path / "out"
    rc = main(["simulate", *argv, "-o", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "error" in err and msg in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_reverse_command_mirrors_steps(tmp_path, capsys):
    assert main(["simulate", "-a", "walk", "-n", "20", "-p", "lower_back", "-o", str(tmp_path),
                 "--name", "fw", "--seed", "1"]) == 0
    assert main(["simulate", "--reverse", str(tmp_path / "fw.csv"), "-o", str(tmp_path)]) == 0
    src = read_trace(tmp_path / "fw.csv")
    rev = read_trace(tmp_path / "fw_reversed.csv")
    recs = {r.file: r for r in read_manifest(tmp_path).recordings}
    r = recs["fw_reversed.csv"]
    assert r.direction == "backward" and r.steps == 20
    # reversed contacts mirror the forward ones (moved by the double support)
    fwd = np.array(recs["fw.csv"].step_ms)
    mirrored = src.t_ms[-1] - fwd[::-1]
    assert np.all(np.abs(np.array(r.step_ms) - mirrored) < 200)
    assert np.allclose(rev.accel, src.accel[::-1], atol=1e-4)
    assert np.allclose(rev.gyro, -src.gyro[::-1], atol=1e-3)


def test_reverse_of_missing_trace_is_a_clear_error(tmp_path, capsys):
    assert main(["simulate", "--reverse", str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o")]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_day_at_50hz_streams(capsys):
    """A whole day at 50 Hz streams in bounded chunks; prints the time it took (a figure,
    not an assertion)."""
    t0 = time.perf_counter()
    s = stream(script="walk 9000, stand 2h, desk 8h, walk 3000, drive 1h, stand 12h", placement="wrist",
               rate_hz=50, seed=1)
    n = 0
    biggest = 0
    for ch in s:
        n += len(ch.t_ms)
        biggest = max(biggest, len(ch.t_ms))
    dt = time.perf_counter() - t0
    with capsys.disabled():
        print(f"\n[figure] simulated 24 h+ at 50 Hz ({n} samples, {len(s.step_ms)} steps) in {dt:.1f} s")
    assert n > 24 * 3600 * 50 and biggest <= 4096 and len(s.step_ms) == 12000


def _manifest_doc(folder):
    return json.loads((folder / "manifest.json").read_text())


def test_reverse_of_a_simulated_trace_keeps_its_licence_and_derives_its_ground_truth(tmp_path, capsys):
    src = tmp_path / "src"
    assert main(["simulate", "-n", "16", "-p", "waist", "-o", str(src), "--name", "fw", "--seed", "4"]) == 0
    out = tmp_path / "out"
    assert main(["simulate", "--reverse", str(src / "fw.csv"), "-o", str(out)]) == 0
    doc = _manifest_doc(out)
    assert doc["license"] == _manifest_doc(src)["license"] == "generated (no restrictions)"
    gt = doc["ground_truth"]
    assert gt.startswith("time-reversed from fw.csv (") and _manifest_doc(src)["ground_truth"] in gt
    assert not gt.startswith("simulated")
    # the same folder then gets a simulated trace: each keeps its own labels
    assert main(["simulate", "-n", "10", "-o", str(out), "--name", "plain"]) == 0
    doc = _manifest_doc(out)
    recs = {r["file"]: r for r in doc["recordings"]}
    assert recs["fw_reversed.csv"]["ground_truth"] == gt
    assert recs["plain.csv"]["ground_truth"].startswith("simulated")
    assert read_manifest(out).recordings   # still a valid manifest


def test_reverse_of_a_recording_keeps_its_licence(tmp_path, capsys):
    from host_tools.paths import data_dir
    folder = data_dir() / "oxford"
    name = "oxford_pixel_jamie_hard_frontpocket_1.csv"
    if not (folder / name).exists() or not (folder / "manifest.json").exists():
        pytest.skip(f"recording {name} not found in {folder}")
    src = _manifest_doc(folder)
    out = tmp_path / "out"
    # a folder that already holds a simulated trace (licence "generated")
    assert main(["simulate", "-n", "10", "-o", str(out), "--name", "plain"]) == 0
    assert main(["simulate", "--reverse", str(folder / name), "-o", str(out)]) == 0
    doc = _manifest_doc(out)
    recs = {r["file"]: r for r in doc["recordings"]}
    rev = recs[name.replace(".csv", "_reversed.csv")]
    assert rev["license"] == src["license"] and "CC BY 4.0" in rev["license"]
    assert rev["ground_truth"].startswith(f"time-reversed from {name} (")
    assert src["ground_truth"] in rev["ground_truth"]
    # the simulated trace keeps its own, and the folder claims neither for all
    assert recs["plain.csv"]["license"] == "generated (no restrictions)"
    assert "CC BY" not in doc["license"] and "generated" not in doc["license"]
    assert read_trace(out / rev["file"]).meta["license"] == "CC BY 4.0"
    # alone in a new folder, the folder's licence is the recording's
    assert main(["simulate", "--reverse", str(folder / name), "-o", str(tmp_path / "alone")]) == 0
    assert _manifest_doc(tmp_path / "alone")["license"] == src["license"]


@pytest.mark.parametrize("argv, msg", [
    (["-r", "5", "-p", "knee", "-n", "-3"], "must be at least 0"),
    (["-r", "5"], "rate 5 Hz is outside"),
    (["-p", "knee"], "unknown placement"),
    (["--sensor", "adxl"], "unknown sensor"),
    (["--seed", "x"], "seed"),
    (["--mount", "sideways"], "mount"),
    (["--height", "9"], "height"),
    (["-r", "100"], "do not apply to it: -r/--rate"),
    (["-p", "wrist", "--seed", "2"], "do not apply to it: -p/--placement, --seed"),
    (["-n", "30"], "-n/--steps"),
    (["-d", "10s"], "-d/--duration"),
    (["--ideal-sensor"], "--ideal-sensor"),
    (["--cadence", "100"], "--cadence"),
])
def test_reverse_refuses_bad_and_irrelevant_options(tmp_path, capsys, argv, msg):
    src = tmp_path / "src"
    assert main(["simulate", "-n", "12", "-o", str(src), "--name", "fw"]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    rc = main(["simulate", "--reverse", str(src / "fw.csv"), *argv, "-o", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "error" in err and msg in err and "Traceback" not in err
    assert not out.exists()


def test_reverse_takes_out_and_name(tmp_path, capsys):
    src = tmp_path / "src"
    assert main(["simulate", "-n", "12", "-o", str(src), "--name", "fw"]) == 0
    assert main(["simulate", "--reverse", str(src / "fw.csv"), "-o", str(tmp_path / "o"), "--name", "bw"]) == 0
    assert (tmp_path / "o" / "bw.csv").exists()


def test_empty_script_is_an_error_not_a_walk(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["simulate", "--script", "", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "empty script" in err and "Traceback" not in err
    assert not out.exists()
