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
