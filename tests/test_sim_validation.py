"""The simulator against the public recordings: for the same placement and cadence, the
simulated walking's acceleration statistics (RMS of the magnitude, RMS of each axis sorted
busiest first, dominant frequency, harmonic ratio) fall within the spread of the real ones.

Each recording is simulated at its own cadence, so the dominant frequency is compared as a
multiple of the step frequency (1: the steps dominate; 0.5: the stride does, as for a
strong arm swing): in hertz its range would only repeat the cadences that were recorded."""
import numpy as np
import pytest

from host_tools.paths import data_dir
from host_tools.sim import simulate
from host_tools.sim.validate import walking_stats


def _real(dataset, keep):
    from host_tools.trace import read_manifest, read_trace
    folder = data_dir() / dataset
    if not (folder / "manifest.json").exists():
        pytest.skip(f"recordings not found at {folder}")
    out = []
    for r in read_manifest(folder).recordings:
        if keep(r):
            tr = read_trace(r.path, cache=True)
            out.append((r, tr))
    return out


# every statistic within the recordings' range (min..max), not widened (the dominant
# frequency to one bin of the spectra compared)
CHECKS = ("mag_rms", "rms_axis1", "rms_axis2", "rms_axis3", "f_dom_per_step", "hr")


def _compare(real_stats, sim_stats, label):
    lines = [f"{label}: statistic  real min..max  simulated min..max"]
    ok = True
    for key in CHECKS:
        rv = [s[key] for s in real_stats]
        sv = [s[key] for s in sim_stats]
        # a frequency is known to one bin of its spectrum, no finer
        tol = max(s["f_res_per_step"] for s in real_stats + sim_stats) if key == "f_dom_per_step" else 0.0
        inside = min(rv) - tol <= min(sv) and max(sv) <= max(rv) + tol
        ok &= inside
        lines.append(f"  {key:14s} {min(rv):.3f}..{max(rv):.3f}   {min(sv):.3f}..{max(sv):.3f}"
                     f"  {'ok' if inside else 'OUTSIDE'}")
    return ok, "\n".join(lines)


def _stats(t, a, steps, rate):
    s = walking_stats(t, a, steps, rate)
    for k in range(3):          # per-axis RMS, busiest axis first
        s[f"rms_axis{k + 1}"] = float(s["axis_rms"][k])
    s["f_dom_per_step"] = s["f_dom"] * 60.0 / s["cadence_spm"]
    s["f_res_per_step"] = s["f_res"] * 60.0 / s["cadence_spm"]
    return s


def test_wrist_matches_bangle_recordings(capsys):
    real = _real("bangle", lambda r: r.activity == "walking" and r.steps <= 200)
    rs, ss = [], []
    for k, (r, tr) in enumerate(real):
        s = _stats(tr.t_ms, tr.accel, None, 12.5)
        rs.append(s)
        sim = simulate(activity="walk", placement="wrist", steps=120, seed=k, rate_hz=12.5,
                       cadence_spm=s["cadence_spm"])
        ss.append(_stats(sim.t_ms, sim.accel, None, 12.5))
    ok, table = _compare(rs, ss, "wrist vs bangle (12.5 Hz)")
    with capsys.disabled():
        print("\n" + table)
    assert ok, table


def test_front_pocket_matches_oxford_recordings(capsys):
    real = _real("oxford", lambda r: r.placement == "front_pocket")
    rs, ss = [], []
    for k, (r, tr) in enumerate(real):
        s = _stats(tr.t_ms, tr.accel, r.step_ms, 100.0)
        rs.append(s)
        sim = simulate(activity="walk", placement="front_pocket", steps=120, seed=k, rate_hz=100,
                       cadence_spm=s["cadence_spm"])
        ss.append(_stats(sim.t_ms, sim.accel, sim.step_ms, 100.0))
    ok, table = _compare(rs, ss, "front pocket vs oxford (100 Hz)")
    with capsys.disabled():
        print("\n" + table)
    assert ok, table
