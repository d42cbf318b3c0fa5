"""Time reversal: a forward-walking trace, recorded or simulated, played backwards.

Walking backwards is close to walking forwards played backwards in time (Winter,
Pluck & Yang 1989, J Mot Behav 21:291-305). Reversing a trace keeps every
acceleration's sign (the second derivative is even in time) and flips every
angular rate (the first derivative is odd). Timestamps are mirrored about the
middle of the recording, so the trace still starts at its first timestamp.

Step times: a backward step's foot contact is the time-reversed image of a
forward toe-off, and each forward contact is followed by the other foot's toe-off
after the double support, about `DOUBLE_SUPPORT` of a step (Perry & Burnfield
2010). The reversed step times are therefore the mirrored forward contacts moved
by that much of the local step time. Directions swap: F becomes B and B becomes F.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..trace import read_trace, write_trace

DOUBLE_SUPPORT = 0.2


def reverse_arrays(t_ms: np.ndarray, data: np.ndarray):
    """Reversed (t_ms, data): rows in reverse order, times mirrored, gyro columns negated."""
    t = np.asarray(t_ms, dtype=np.float64)
    d = np.asarray(data, dtype=np.float64)[::-1].copy()
    if d.shape[1] >= 6:
        d[:, 3:6] *= -1.0
    t2 = t[0] + (t[-1] - t[::-1])
    return t2, d


def reverse_steps(step_ms, t_first: float, t_last: float, step_dir=None):
    """Mirrored step times (in time order) and swapped directions."""
    s = np.asarray(step_ms, dtype=np.float64)
    if len(s) == 0:
        return [], []
    if len(s) > 1:
        gaps = np.diff(s)
        T = np.concatenate([gaps, gaps[-1:]])            # step time following each contact
        T = np.minimum(T, np.median(gaps) * 1.5)         # a pause is not a long step
    else:
        T = np.array([550.0])
    r = t_first + (t_last - (s + DOUBLE_SUPPORT * T))
    r = np.clip(r, t_first, t_last)
    order = np.argsort(r, kind="stable")
    dirs = list(step_dir) if step_dir is not None else ["F"] * len(s)
    swapped = ["B" if d == "F" else "F" for d in dirs]
    return [int(round(x)) for x in r[order]], [swapped[i] for i in order]


def _manifest_entry(path: Path):
    """(the source folder's manifest, the source's entry in it), either {} when missing."""
    m = path.parent / "manifest.json"
    if not m.exists():
        return {}, {}
    try:
        doc = json.loads(m.read_text())
    except (OSError, json.JSONDecodeError):
        return {}, {}
    if not isinstance(doc, dict) or not isinstance(doc.get("recordings"), list):
        return {}, {}
    for r in doc["recordings"]:
        if isinstance(r, dict) and r.get("file") == path.name:
            return doc, r
    return doc, {}


def _provenance(path: Path, doc: dict, entry: dict, meta: dict) -> tuple[str, str]:
    """(licence, ground truth) of the reversed copy of the trace at `path`: the source's
    licence unchanged (a reversed recording is still the recording), and its ground
    truth described as derived from the source's."""
    from .tracefile import PER_RECORDING
    def pick(key):
        for v in (entry.get(key), doc.get(key)):
            if isinstance(v, str) and v and v != PER_RECORDING.format(key=key):
                return v
        return None
    lic = pick("license") or meta.get("license") or "unknown (the source states no licence)"
    src_truth = pick("ground_truth")
    if "step_ms" in entry:
        how = "step_ms are the source's step times mirrored and moved by the double support"
    elif isinstance(entry.get("steps"), int):
        how = "the source's step count"
    else:
        how = "no step labels (the source has no manifest entry)"
    truth = (f"time-reversed from {path.name} ({src_truth or 'source ground truth not stated'});"
             f" {how} (host_tools/sim/reverse.py)")
    return lic, truth


def reverse_trace(path, out_folder, name: str | None = None) -> Path:
    """Write the time-reversed copy of the trace at `path` into `out_folder` (with a manifest
    entry; step times come from the source's manifest when it lists them)."""
    from .tracefile import update_manifest
    path = Path(path)
    tr = read_trace(path)
    doc, entry = _manifest_entry(path)
    if entry.get("direction") == "backward":
        pass   # reversing backward walking gives forward walking: allowed
    t2, d2 = reverse_arrays(tr.t_ms, tr.data)
    t_first, t_last = float(tr.t_ms[0]), float(tr.t_ms[-1])
    step_ms = entry.get("step_ms")
    step_dir = entry.get("step_dir")
    if step_dir is None and step_ms is not None:
        step_dir = ["B" if entry.get("direction") == "backward" else "F"] * len(step_ms)
    out = Path(out_folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{out}: cannot create folder: {e.strerror or e}") from None
    fname = (name or f"{path.stem}_reversed")
    fname = fname if fname.endswith(".csv") else fname + ".csv"
    target = out / fname
    if target.resolve() == path.resolve():
        raise UserError(f"{target}: the reversed trace would overwrite its source")
    meta = {k: v for k, v in tr.meta.items() if k not in ("format", "accel_unit", "gyro_unit")}
    meta["source"] = f"time reversal of {path.name} ({tr.meta.get('source', 'unknown source')})"
    integral = bool(np.all(t2 == np.round(t2)))
    decimals = 5 if any(k == "lsb_per_g" for k in meta) else 4
    tmp = out / f".{fname}.{os.getpid()}.tmp"
    try:
        write_trace(tmp, t2.astype(np.int64) if integral else t2, d2, meta, decimals=decimals)
        os.replace(tmp, target)
    except OSError as e:
        raise UserError(f"{target}: cannot write: {e.strerror or e}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    new = {"file": fname, "placement": entry.get("placement", tr.placement),
           "activity": f"time-reversed {entry.get('activity', 'walking')}".strip()}
    steps = entry.get("steps")
    if step_ms is not None:
        r, dirs = reverse_steps(step_ms, t_first, t_last, step_dir)
        new["steps"] = len(r)
        new["direction"] = "backward" if set(dirs) == {"B"} else ("forward" if set(dirs) == {"F"} else
                                                                  ("none" if not dirs else "mixed"))
        new["step_ms"] = r
        if new["direction"] == "mixed":
            new["step_dir"] = dirs
    elif isinstance(steps, int):
        new["steps"] = steps
        d = entry.get("direction", "forward" if steps else "none")
        new["direction"] = {"forward": "backward", "backward": "forward"}.get(d, d)
    else:
        new["steps"] = 0
        new["direction"] = "none"
        new["note"] = "source has no manifest entry: step count unknown"
    new["reversed_from"] = path.name
    for k in ("sensor", "rate_hz", "lsb_per_g", "forward_axis"):
        if k in entry:
            new[k] = entry[k]
    lic, truth = _provenance(path, doc, entry, tr.meta)
    update_manifest(out, new, license=lic, ground_truth=truth)
    return target
