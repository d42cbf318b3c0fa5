"""Benchmark of the simulator (`retrostep bench` runs `run`).

- day: a day of continuous walking at 50 Hz (quick: an hour), waist, default sensor,
  streamed chunk by chunk and consumed as it comes (nothing kept but the step labels):
  seconds, samples per second (target from issue 3: 24 h in under a minute);
- peak_mb: the peak of tracemalloc's traced memory over a second run of the same
  generation (a run of its own, as tracing slows it down), and the same for a run a
  24th of as long (quick: a 6th), to show that memory does not grow with the samples:
  what grows is the per-step ground truth (step times and directions, which a manifest
  needs) and the segment's per-contact arrays, about `peak_bytes_per_step` each.
"""
from __future__ import annotations

import time
import tracemalloc

RATE_HZ = 50.0


def generate(duration_s: float, placement: str = "waist", seed: int = 1) -> tuple[int, int, int]:
    """Stream `duration_s` of walking at 50 Hz, consuming chunk by chunk.
    Returns (samples, steps, largest chunk in samples)."""
    from .sim import stream
    s = stream(activity="walk", duration_s=duration_s, placement=placement, rate_hz=RATE_HZ, seed=seed)
    n = biggest = 0
    for ch in s:
        n += len(ch.t_ms)
        biggest = max(biggest, len(ch.t_ms))
    return n, len(s.step_ms), biggest


def peak_traced_bytes(duration_s: float, placement: str = "waist", seed: int = 1) -> tuple[int, int]:
    """(peak tracemalloc bytes, steps) while streaming `duration_s` of walking at 50 Hz."""
    was = tracemalloc.is_tracing()
    if not was:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        _, steps, _ = generate(duration_s, placement, seed)
        return tracemalloc.get_traced_memory()[1] - base, steps
    finally:
        if not was:
            tracemalloc.stop()


def _timed(duration_s: float) -> dict:
    t0 = time.perf_counter()
    n, steps, biggest = generate(duration_s)
    secs = time.perf_counter() - t0
    return {"samples": n, "steps": steps, "largest_chunk": biggest, "seconds": round(secs, 2),
            "samples_per_s": round(n / secs)}


def _label(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def run(quick: bool = False) -> dict:
    long_s = 3600.0 if quick else 86400.0
    short_s = 600.0 if quick else 3600.0
    long = _timed(long_s)
    peak_long, steps_long = peak_traced_bytes(long_s)
    peak_short, steps_short = peak_traced_bytes(short_s)
    per_step = (peak_long - peak_short) / max(1, steps_long - steps_short)
    # what holding the day would take: the raw counts alone (int32, 6 axes)
    held = long["samples"] * 6 * 4
    return {
        "walking_hours": long_s / 3600,
        "rate_hz": RATE_HZ,
        "placement": "waist",
        **long,
        "under_a_minute_per_day": long["seconds"] * 86400.0 / long_s < 60.0,
        "peak_mb": {_label(long_s): round(peak_long / 1e6, 2), _label(short_s): round(peak_short / 1e6, 2)},
        "peak_bytes_per_step": round(per_step),
        "raw_counts_mb_if_held": round(held / 1e6, 1),
    }
