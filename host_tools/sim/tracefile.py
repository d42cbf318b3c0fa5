"""Writes simulated traces in the trace format (`retrostep-trace/1`) chunk by chunk, with
their manifest entries. Files appear whole or not at all: each is written to a
temporary name beside it and renamed when complete.

Values are written with enough decimals that `round(value * lsb)` gives back the
sensor's exact counts (5 decimals of g for 4096 LSB/g or more, 3 of dps).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..trace import FORMAT

GROUND_TRUTH = ("simulated: step_ms are the simulated foot contacts, step_dir their direction"
                " (host_tools/sim)")


def _decimals(lsb: float) -> int:
    return max(3, int(np.ceil(np.log10(lsb))) + 1)


def _rows(t: np.ndarray, acc: np.ndarray, gyr: np.ndarray, da: int, dg: int) -> str:
    """CSV text for a chunk, formatted column-wise with numpy (no per-value Python formatting)."""
    cols = [t.astype(np.int64).astype(str)]
    for k in range(3):
        cols.append(np.char.mod(f"%.{da}f", acc[:, k]))
    for k in range(3):
        cols.append(np.char.mod(f"%.{dg}f", gyr[:, k]))
    out = cols[0]
    for c in cols[1:]:
        out = np.char.add(np.char.add(out, ","), c)
    return "\n".join(out.tolist()) + "\n"


def header_lines(meta: dict) -> list[str]:
    lines = [f"# format: {FORMAT}"]
    for k, v in meta.items():
        if k not in ("format", "accel_unit", "gyro_unit"):
            lines.append(f"# {k}: {v}")
    lines += ["# accel_unit: g", "# gyro_unit: dps", "t_ms,ax,ay,az,gx,gy,gz"]
    return lines


def _atomic_write_text(path: Path, text: str):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


GENERATED_LICENSE = "generated (no restrictions)"
PER_RECORDING = "per recording (see each recording's \"{key}\")"


def update_manifest(folder: Path, entry: dict, dataset: str | None = None,
                    license: str = GENERATED_LICENSE, ground_truth: str = GROUND_TRUTH):
    """Add `entry` to <folder>/manifest.json, replacing one for the same file.

    A new manifest takes `license` and `ground_truth` as the folder's. When an existing
    manifest says otherwise, the folder's value moves into each recording that has none
    of its own, the new entry carries its own, and the folder's says "per recording",
    so that no recording is labelled with another's licence or ground truth."""
    mpath = folder / "manifest.json"
    if mpath.exists():
        try:
            doc = json.loads(mpath.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UserError(f"{mpath}: cannot update: {e}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("recordings"), list):
            raise UserError(f"{mpath}:1: expected an object with a \"recordings\" list")
    else:
        doc = {"dataset": dataset or folder.name, "license": license,
               "ground_truth": ground_truth, "recordings": []}
    recs = [r for r in doc["recordings"] if not (isinstance(r, dict) and r.get("file") == entry["file"])]
    entry = dict(entry)
    for key, value in (("license", license), ("ground_truth", ground_truth)):
        folder_value = doc.get(key)
        if key in entry or folder_value == value:
            continue
        per = PER_RECORDING.format(key=key)
        if folder_value != per:
            for r in recs:
                if isinstance(r, dict) and key not in r and folder_value is not None:
                    r[key] = folder_value
            doc[key] = per
        entry[key] = value
    recs.append(entry)
    doc["recordings"] = recs
    _atomic_write_text(mpath, json.dumps(doc, indent=1) + "\n")


def manifest_entry(file: str, sim, activity: str | None = None) -> dict:
    from . import _direction
    dirs = list(sim.step_dir)
    e = {"file": file, "placement": sim.placement, "activity": activity or sim.activity,
         "steps": len(sim.step_ms), "direction": _direction(dirs),
         "step_ms": [int(x) for x in sim.step_ms]}
    if e["direction"] == "mixed":
        e["step_dir"] = dirs
    e["simulated"] = True
    e["sensor"] = getattr(sim, "sensor_name", None) or getattr(sim, "sensor", "")
    if not isinstance(e["sensor"], str):
        e["sensor"] = str(getattr(e["sensor"], "spec", e["sensor"]).name)
    e["rate_hz"] = sim.rate_hz
    e["lsb_per_g"] = sim.lsb_per_g
    if sim.forward_axis:
        e["forward_axis"] = sim.forward_axis
    if getattr(sim, "seed", None) is not None:
        e["seed"] = sim.seed
    if sim.events:
        e["events"] = [{"t_ms": int(t), "kind": k} for t, k in sim.events]
    return e


def write_sim(sim, folder, name: str, activity: str | None = None) -> Path:
    """Write a SimStream (consumed chunk by chunk) or a SimTrace to <folder>/<name>.csv and
    add its entry to <folder>/manifest.json. Returns the trace path."""
    from . import SimStream, SimTrace
    folder = Path(folder)
    if not name or "/" in name or name.startswith("."):
        raise UserError(f"bad trace name {name!r}")
    fname = name if name.endswith(".csv") else name + ".csv"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{folder}: cannot create folder: {e.strerror or e}") from None
    path = folder / fname
    tmp = folder / f".{fname}.{os.getpid()}.tmp"
    da = _decimals(sim.lsb_per_g)
    dg = _decimals(sim.lsb_per_dps)
    try:
        with open(tmp, "w") as fh:
            fh.write("\n".join(header_lines(sim.meta())) + "\n")
            if isinstance(sim, SimStream):
                for ch in sim:
                    fh.write(_rows(ch.t_ms, ch.accel, ch.gyro, da, dg))
            elif isinstance(sim, SimTrace):
                for k in range(0, len(sim), 65536):
                    sl = slice(k, k + 65536)
                    fh.write(_rows(sim.t_ms[sl], sim.raw[sl, :3] / sim.lsb_per_g,
                                   sim.raw[sl, 3:] / sim.lsb_per_dps, da, dg))
            else:
                raise TypeError("write_sim takes a SimStream or a SimTrace")
        os.replace(tmp, path)
    except OSError as e:
        raise UserError(f"{path}: cannot write: {e.strerror or e}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    update_manifest(folder, manifest_entry(fname, sim, activity))
    return path
