"""Gait statistics shared by the simulator's validation against recorded traces.

For a stretch of steady walking: per-axis acceleration RMS (sorted, since devices
are held differently), RMS of the acceleration magnitude, the dominant frequency of
the magnitude (and the spectrum's bin width, its resolution), and its harmonic ratio
(even over odd stride harmonics, Menz et al. 2003), averaged over strides.
"""
from __future__ import annotations

import numpy as np


def walking_stats(t_ms, acc, step_ms=None, rate_hz=50.0):
    """Statistics of the walking stretch between the first and last step (whole trace when
    step_ms is None). Resamples to `rate_hz`."""
    t = np.asarray(t_ms, dtype=float)
    a = np.asarray(acc, dtype=float)
    if step_ms is not None and len(step_ms) > 8:
        lo, hi = step_ms[2], step_ms[-3]
    else:
        lo, hi = t[0] + 3000, t[-1] - 3000
    grid = np.arange(lo, hi, 1000.0 / rate_hz)
    x = np.column_stack([np.interp(grid, t, a[:, k]) for k in range(3)])
    mag = np.linalg.norm(x, axis=1)
    axis_rms = np.sort(x.std(axis=0))[::-1]
    m = mag - mag.mean()
    n = len(m)
    win = np.hanning(n)
    spec = np.abs(np.fft.rfft(m * win))
    freqs = np.fft.rfftfreq(n, 1.0 / rate_hz)
    band = (freqs > 0.5) & (freqs < 3.5)
    fdom = float(freqs[band][np.argmax(spec[band])])
    # stride frequency: cadence / 2
    if step_ms is not None and len(step_ms) > 8:
        sm = np.asarray(step_ms, float)
        sm = sm[(sm >= lo) & (sm <= hi)]
        step_s = float(np.median(np.diff(sm))) / 1000.0
    else:
        sb = band & (freqs > 1.2)
        step_s = 1.0 / float(freqs[sb][np.argmax(spec[sb])])
    stride = 2 * step_s
    hrs = []
    L = int(round(stride * rate_hz))
    for s0 in range(0, n - L, L):
        seg = m[s0:s0 + L]
        f = np.abs(np.fft.rfft(seg - seg.mean()))[1:21]
        odd, even = f[0::2].sum(), f[1::2].sum()
        if odd > 0:
            hrs.append(even / odd)
    return {"axis_rms": axis_rms, "mag_rms": float(m.std()), "f_dom": fdom,
            "f_res": rate_hz / n,       # the spectrum's bin width: f_dom is known to this
            "cadence_spm": 60.0 / step_s, "hr": float(np.median(hrs)) if hrs else float("nan")}
