"""Gait statistics shared by the simulator's validation against recorded traces.

For a stretch of steady walking: per-axis acceleration RMS (sorted, since devices
are held differently), RMS of the acceleration magnitude, the dominant frequency of
the magnitude (and the spectrum's bin width, its resolution), and its harmonic ratio
(even over odd stride harmonics, Menz et al. 2003), averaged over strides. For a limb:
the contacts of the sensor's own leg, each stride's (vertical, forward) orbit as the step
detector sums it, and stride-mean waveforms from contact to contact.
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


def _two_poles(x, rate_hz, fc):
    """Two one-pole low-passes at fc in a row (as the step detector smooths its orbit)."""
    c = 1.0 - np.exp(-2.0 * np.pi * fc / rate_hz)
    y = np.empty(len(x))
    s1 = s2 = float(x[0])
    for i, v in enumerate(x):
        s1 += (v - s1) * c
        s2 += (s1 - s2) * c
        y[i] = s2
    return y


def _slow_mean(x, rate_hz, tau_s):
    c = 1.0 - np.exp(-1.0 / (tau_s * rate_hz))
    y = np.empty(len(x))
    s = float(x[0])
    for i, v in enumerate(x):
        s += (v - s) * c
        y[i] = s
    return y


def own_contacts(t_ms, pitch_dps, step_ms):
    """The contacts of the sensor's own leg among a walk's alternating foot contacts: those
    that end its swing, where the limb's pitch rate (swinging forward positive) peaks in
    the step before them."""
    t = np.asarray(t_ms, dtype=float)
    c = np.asarray(step_ms, dtype=float)
    peak = []
    for k, ck in enumerate(c):
        m = (t > (c[k - 1] if k else ck - 600.0)) & (t <= ck)
        peak.append(float(np.max(pitch_dps[m])) if m.any() else 0.0)
    even, odd = np.mean(peak[0::2]), np.mean(peak[1::2])
    return c[0::2] if even >= odd else c[1::2]


def stride_orbits(t_ms, acc, forward, contacts, rate_hz=50.0, fc=5.0, tau_s=1.5):
    """The (vertical, forward) orbit of each stride between consecutive `contacts` (ms), as
    the step detector sums it: v = |a|^2 and f = the forward acceleration (g), each less its
    slow mean and low-passed by two poles at `fc`; area = sum(v[k-1] f[k] - v[k] f[k-1])
    over the stride, divided by the stride's sum((v^2 + f^2) / 2). Its sense flips when time
    is reversed; walking forward it is negative at the trunk and at the ankle."""
    t = np.asarray(t_ms, dtype=float)
    grid = np.arange(t[0], t[-1], 1000.0 / rate_hz)
    a = np.column_stack([np.interp(grid, t, np.asarray(acc)[:, k]) for k in range(3)])
    fw = np.interp(grid, t, np.asarray(forward, dtype=float))
    m2 = (a * a).sum(axis=1)
    v = _two_poles(m2 - _slow_mean(m2, rate_hz, tau_s), rate_hz, fc)
    f = _two_poles(fw - _slow_mean(fw, rate_hz, tau_s), rate_hz, fc)
    out = []
    for c0, c1 in zip(contacts[:-1], contacts[1:]):
        i = (grid >= c0) & (grid < c1)
        vv, ff = v[i], f[i]
        e = float(np.sum(vv * vv + ff * ff)) / 2.0
        if len(vv) > 4 and e > 0:
            out.append(float(np.sum(vv[:-1] * ff[1:] - vv[1:] * ff[:-1])) / e)
    return out


def stride_means(t_ms, signals, contacts, nb=50):
    """Each signal's mean over strides between consecutive `contacts` (ms), in `nb` phase
    bins from contact to contact: (len(signals), nb)."""
    t = np.asarray(t_ms, dtype=float)
    rows = []
    for c0, c1 in zip(contacts[:-1], contacts[1:]):
        ph = np.linspace(c0, c1, nb, endpoint=False)
        rows.append([np.interp(ph, t, np.asarray(s, dtype=float)) for s in signals])
    return np.mean(rows, axis=0)
