"""Builds small trace files and datasets for the host-tool tests (synthetic signals)."""
import json

import numpy as np

from host_tools.testsignal import mixed_day, walk
from host_tools.trace import write_trace


def walk_trace(path, rate_hz=50.0, seconds=20.0, cadence=110.0, seed=0, jitter_ms=0.0,
               placement="waist", forward_axis=None, rate_header=None):
    """A synthetic walk written as a trace; returns its true step times (ms)."""
    t, acc, steps = walk(rate_hz, seconds, cadence, seed)
    if jitter_ms:
        rng = np.random.default_rng(seed + 100)
        t = t + rng.uniform(-jitter_ms, jitter_ms, len(t))
        t = np.round(np.maximum.accumulate(t) + np.arange(len(t)) * 1e-3, 1)
    meta = {"rate_hz": rate_header if rate_header is not None else rate_hz, "placement": placement,
            "source": "synthetic (tests)"}
    if forward_axis:
        meta["forward_axis"] = forward_axis
    write_trace(path, t, acc, meta)
    return steps


def still_trace(path, rate_hz=25.0, seconds=60.0, seed=0):
    rng = np.random.default_rng(seed)
    n = int(rate_hz * seconds)
    t = np.arange(n) * 1000.0 / rate_hz
    acc = np.array([0.1, -0.2, 0.97]) + rng.normal(0, 0.003, (n, 3))
    write_trace(path, t, acc, {"rate_hz": rate_hz, "placement": "wrist"})


def day_trace(path, rate_hz=100.0, seed=0):
    t, acc = mixed_day(rate_hz, seed)
    write_trace(path, t, acc, {"rate_hz": rate_hz, "placement": "front_pocket"})


def dataset(folder, name="synthetic"):
    """A dataset folder with a manifest: walks at several rates (one with phone-like
    timestamps and step times), a still recording and a short 'mixed' walk."""
    folder.mkdir(parents=True, exist_ok=True)
    recs = []
    s = walk_trace(folder / "walk50.csv", 50.0, 40.0, 110.0, seed=1)
    recs.append({"file": "walk50.csv", "placement": "waist", "steps": len(s), "direction": "forward",
                 "step_ms": [round(x) for x in s]})
    s = walk_trace(folder / "walk_phone.csv", 100.0, 35.0, 100.0, seed=2, jitter_ms=2.0,
                   placement="front_pocket", rate_header="about 100 (irregular)")
    recs.append({"file": "walk_phone.csv", "placement": "front_pocket", "steps": len(s),
                 "direction": "forward"})
    s = walk_trace(folder / "walk12.csv", 12.5, 20.0, 120.0, seed=3, placement="wrist")
    recs.append({"file": "walk12.csv", "placement": "wrist", "steps": len(s), "direction": "backward"})
    still_trace(folder / "still.csv")
    recs.append({"file": "still.csv", "placement": "wrist", "steps": 0, "direction": "none"})
    s = walk_trace(folder / "short.csv", 50.0, 6.0, 100.0, seed=4, forward_axis="+x", placement="ankle")
    recs.append({"file": "short.csv", "placement": "ankle", "steps": len(s), "direction": "mixed",
                 "step_ms": [round(x) for x in s], "step_dir": ["F", "B"] * (len(s) // 2) + ["F"] * (len(s) % 2)})
    (folder / "manifest.json").write_text(json.dumps({"dataset": name, "recordings": recs}, indent=1))
    return recs
