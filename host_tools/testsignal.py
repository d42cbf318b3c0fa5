"""Small synthetic accelerometer signals for benchmarks and tests of the host tools.

Not a gait model (the simulator is one): a walk here is a periodic vertical bounce
with a forward sway, turned into an arbitrary sensor orientation, between still
stretches, so that the detector's walking, idle and rotation paths all run.
"""
from __future__ import annotations

import numpy as np


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def walk(rate_hz: float, seconds: float, cadence_spm: float = 110.0, seed: int = 0,
         still_s: float = 2.0, amplitude_g: float = 0.35, noise_g: float = 0.01):
    """(t_ms, accel in g (n, 3), true step times in ms): still, walking, still.
    Each step is one bounce of the vertical acceleration; the sensor frame is a random rotation."""
    rng = np.random.default_rng(seed)
    n = int(round((seconds + 2 * still_s) * rate_hz))
    t = np.arange(n) * 1000.0 / rate_hz
    ts = t / 1000.0
    f = cadence_spm / 60.0
    active = (ts >= still_s) & (ts < still_s + seconds)
    ph = 2 * np.pi * f * (ts - still_s)
    env = active.astype(float)
    vert = amplitude_g * (np.sin(ph) + 0.3 * np.sin(2 * ph + 0.5)) * env
    fwd = 0.5 * amplitude_g * np.sin(ph + 1.2) * env
    side = 0.25 * amplitude_g * np.sin(0.5 * ph) * env
    body = np.column_stack([fwd, side, 1.0 + vert]) + rng.normal(0.0, noise_g, (n, 3))
    acc = body @ random_rotation(rng).T
    k = np.arange(int(np.floor(seconds * f)))
    steps = (still_s + (k + 0.25) / f) * 1000.0   # the bounce peaks
    return t, acc, steps


def mixed_day(rate_hz: float, seed: int = 0, walks=((20, 110), (60, 95), (8, 150))):
    """Several walks with still pauses and a new sensor orientation for each."""
    ts, accs = [], []
    offset = 0.0
    for i, (secs, cad) in enumerate(walks):
        t, a, _ = walk(rate_hz, secs, cad, seed + i)
        ts.append(t + offset)
        accs.append(a)
        offset = ts[-1][-1] + 1000.0 / rate_hz
    return np.concatenate(ts), np.concatenate(accs)
