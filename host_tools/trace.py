"""Reads and writes recorded traces (format `retrostep-trace/1`) and dataset manifests.

A trace is a CSV file with `# key: value` metadata lines, a column header and one
sample per line (see README, "Trace format"). Every problem in a file is reported
as a `TraceError` naming the file and the line, never skipped silently.

Truncated last line: every line of a complete trace ends with a newline, so a
last line without one was cut short (a crash, a pulled cable, a full disk; a cut
number like "0.98" from "0.9876" still parses, so parsing cannot tell). It is an
error by default; with `strict=False` (`--lenient` on the command line) a
`TruncatedLineWarning` names it, and the line is dropped when it does not parse,
kept when it does.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UserError

FORMAT = "retrostep-trace/1"
ACCEL_COLUMNS = ("t_ms", "ax", "ay", "az")
GYRO_COLUMNS = ("gx", "gy", "gz")
AXES = {"+x": 1, "-x": -1, "+y": 2, "-y": -2, "+z": 3, "-z": -3}
PLACEMENTS = ("wrist", "hand", "hand_swinging", "upper_arm", "front_pocket", "back_pocket",
              "waist", "lower_back", "neck", "bag", "ankle", "foot")
DIRECTIONS = ("forward", "backward", "none", "mixed")
_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*$")


class TraceError(UserError):
    """A malformed trace or manifest: the message names the file and the line."""


class TruncatedLineWarning(UserWarning):
    """The last line of a trace was cut short and dropped (strict=False)."""


@dataclass
class Trace:
    path: str
    meta: dict[str, str]
    t_ms: np.ndarray            # float64, strictly increasing
    data: np.ndarray            # float64 (n, 3) in g, or (n, 6) with gyro in dps
    columns: tuple[str, ...] = ACCEL_COLUMNS
    truncated: bool = False     # a cut-short last line was dropped (strict=False)

    @property
    def accel(self) -> np.ndarray:
        return self.data[:, :3]

    @property
    def gyro(self) -> np.ndarray | None:
        return self.data[:, 3:6] if self.data.shape[1] >= 6 else None

    @property
    def nominal_rate_hz(self) -> float | None:
        """The `rate_hz` header when it is a plain number, else None ("about 100 ...")."""
        return parse_rate(self.meta.get("rate_hz"))

    @property
    def forward_axis(self) -> int:
        """Detector code of the `forward_axis` header: +-1 x, +-2 y, +-3 z, 0 when absent."""
        return AXES.get(self.meta.get("forward_axis", "").strip().lower(), 0)

    @property
    def placement(self) -> str:
        return self.meta.get("placement", "unknown").strip() or "unknown"

    @property
    def duration_s(self) -> float:
        return float(self.t_ms[-1] - self.t_ms[0]) / 1000.0 if len(self.t_ms) else 0.0

    def __len__(self):
        return len(self.t_ms)


def parse_rate(text: str | None) -> float | None:
    if text is None:
        return None
    m = _NUMBER.match(text)
    if not m:
        return None
    r = float(m.group(1))
    return r if r > 0 else None


# ---------------------------------------------------------------- reading

def _read_header(path: Path, lines: list[str]) -> tuple[dict[str, str], tuple[str, ...], int]:
    """Metadata and columns; returns the index of the first data line."""
    meta: dict[str, str] = {}
    i = 0
    n = len(lines)
    while i < n and lines[i].strip() == "":
        i += 1
    if i >= n or not lines[i].startswith("#"):
        raise TraceError(f"{path}:{i + 1}: missing '# format: {FORMAT}' header"
                         " (is this a retrostep trace?)")
    while i < n and lines[i].startswith("#"):
        body = lines[i][1:].strip()
        if body:
            key, sep, value = body.partition(":")
            if not sep:
                raise TraceError(f"{path}:{i + 1}: metadata line is not 'key: value': {lines[i].strip()!r}")
            key = key.strip().lower()
            value = value.strip()
            if not meta and key != "format":
                raise TraceError(f"{path}:{i + 1}: the first metadata line must be"
                                 f" '# format: {FORMAT}', found {lines[i].strip()!r}")
            if "  " in value:   # drop trailing remarks like "dps            (only when ...)"
                value = value.split("  ")[0].strip()
            meta[key] = value
        i += 1
    if not meta:
        raise TraceError(f"{path}:1: missing '# format: {FORMAT}' header")
    if meta["format"] != FORMAT:
        raise TraceError(f"{path}:1: unsupported format {meta['format']!r} (expected {FORMAT!r})")
    if i >= n:
        raise TraceError(f"{path}:{i + 1}: missing column header line 't_ms,ax,ay,az'")
    cols = tuple(c.strip().lower() for c in lines[i].split(","))
    if cols not in (ACCEL_COLUMNS, ACCEL_COLUMNS + GYRO_COLUMNS):
        raise TraceError(f"{path}:{i + 1}: column header must be 't_ms,ax,ay,az' or"
                         f" 't_ms,ax,ay,az,gx,gy,gz', found {lines[i].strip()!r}")
    _check_units(path, meta, cols, lines)
    return meta, cols, i + 1


def _meta_line(lines: list[str], key: str) -> int:
    for j, ln in enumerate(lines):
        if ln.startswith("#") and ln[1:].strip().lower().startswith(key + ":"):
            return j + 1
        if not ln.startswith("#") and ln.strip():
            break
    return 1


def _check_units(path: Path, meta: dict[str, str], cols: tuple[str, ...], lines: list[str]):
    acc = meta.get("accel_unit")
    if acc is None:
        raise TraceError(f"{path}:1: missing '# accel_unit: g' header")
    if acc.lower() != "g":
        raise TraceError(f"{path}:{_meta_line(lines, 'accel_unit')}: accel_unit is {acc!r};"
                         " the format stores acceleration in g (divide m/s^2 by 9.80665)")
    if len(cols) > 4:
        gyr = meta.get("gyro_unit")
        if gyr is None:
            raise TraceError(f"{path}:1: gyro columns present but no '# gyro_unit: dps' header")
        if gyr.lower() != "dps":
            raise TraceError(f"{path}:{_meta_line(lines, 'gyro_unit')}: gyro_unit is {gyr!r};"
                             " the format stores angular rate in degrees per second (dps)")
    fa = meta.get("forward_axis")
    if fa is not None and fa.strip().lower() not in AXES:
        raise TraceError(f"{path}:{_meta_line(lines, 'forward_axis')}: forward_axis must be one of"
                         f" {', '.join(AXES)}, found {fa!r}")


def _parse_rows_slow(path: Path, lines: list[str], first: int, ncol: int, strict: bool,
                     ends_with_newline: bool) -> tuple[np.ndarray, bool]:
    """Line by line with exact error positions (used when the fast path fails)."""
    rows: list[list[float]] = []
    truncated = False
    last = len(lines) - 1
    while last >= first and lines[last].strip() == "":
        last -= 1
    for j in range(first, last + 1):
        text = lines[j].strip()
        lineno = j + 1
        if not text:
            raise TraceError(f"{path}:{lineno}: empty line inside the data")
        if text.startswith("#"):
            raise TraceError(f"{path}:{lineno}: metadata line after the data started")
        parts = text.split(",")
        problem = None
        if len(parts) != ncol:
            problem = f"expected {ncol} comma-separated values, found {len(parts)}"
            vals = None
        else:
            vals = []
            for k, p in enumerate(parts):
                try:
                    if "_" in p:   # float() takes "1_000"; a number in a CSV does not have one
                        raise ValueError(p)
                    v = float(p)
                except ValueError:
                    problem = f"bad number {p.strip()!r} in column {k + 1}"
                    break
                vals.append(v)
        if j == last and not ends_with_newline:
            why = problem or "no newline at the end of the file: it may have been cut short"
            msg = f"{path}:{lineno}: truncated last line ({why}): {text!r}"
            if strict:
                raise TraceError(msg + "; read it leniently to drop or keep it with a warning")
            truncated = True
            if problem is not None:
                warnings.warn(msg + "; dropped", TruncatedLineWarning, stacklevel=4)
                continue
            warnings.warn(msg + "; kept", TruncatedLineWarning, stacklevel=4)
        elif problem is not None:
            raise TraceError(f"{path}:{lineno}: {problem}: {text!r}")
        rows.append(vals)  # type: ignore[arg-type]
    arr = np.array(rows, dtype=np.float64).reshape(-1, ncol)
    return arr, truncated


def _parse_rows(path: Path, text: str, lines: list[str], first: int, ncol: int,
                strict: bool) -> tuple[np.ndarray, bool]:
    ends_nl = text.endswith("\n")
    body = "\n".join(lines[first:])
    arr = None
    if ends_nl and any(ln.strip() for ln in lines[first:first + 1]):   # fast path; the slow one finds the exact line of any problem
        try:
            arr = np.loadtxt(body.splitlines(), delimiter=",", dtype=np.float64, ndmin=2, comments=None)
            if arr.size == 0:
                arr = arr.reshape(0, ncol)
            if arr.shape[1] != ncol or any(not ln.strip() for ln in lines[first:]):
                arr = None
        except ValueError:
            arr = None
    if arr is None:
        return _parse_rows_slow(path, lines, first, ncol, strict, ends_nl)
    return arr, False


def _check_values(path: Path, arr: np.ndarray, first: int, cols: tuple[str, ...]):
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise TraceError(f"{path}:{first + r + 1}: {cols[c]} is {float(arr[r, c])}; values must be finite numbers")
    if len(arr) == 0:
        raise TraceError(f"{path}:{first + 1}: no samples")
    t = arr[:, 0]
    d = np.diff(t)
    if (d <= 0).any():
        r = int(np.argmax(d <= 0)) + 1
        raise TraceError(f"{path}:{first + r + 1}: time goes {'backwards' if d[r - 1] < 0 else 'nowhere'}"
                         f" (t_ms {t[r]:g} after {t[r - 1]:g}); timestamps must strictly increase")


# Plausible magnitudes: a worn device reads about 1 g in total (its median over a
# recording stays near 1 g, and under 3 g running with it on an ankle); m/s^2 reads
# about 9.8, mg about 1000.
MAX_MEDIAN_G = 6.0
MIN_MEDIAN_G = 0.25
# Timestamps in seconds or microseconds are 1000 times off: refused when the median
# interval is this many times off the rate_hz header, or, without a numeric rate,
# outside these bounds (2 kHz to 0.5 Hz).
RATE_MISMATCH = 100.0
MIN_MEDIAN_DT_MS = 0.5
MAX_MEDIAN_DT_MS = 2000.0


def _check_units_of_values(path: Path, arr: np.ndarray, first: int, meta: dict[str, str],
                           lines: list[str]):
    """Samples whose size says the header's units are wrong (m/s^2 or mg labelled g,
    gravity removed, t_ms in seconds or microseconds)."""
    n = len(arr)
    span = f"lines {first + 1}-{first + n}" if n > 1 else f"line {first + 1}"
    mag = float(np.median(np.sqrt((arr[:, 1:4] ** 2).sum(axis=1))))
    unit_line = _meta_line(lines, "accel_unit")
    if mag > MAX_MEDIAN_G:
        guess = ("m/s^2: divide by 9.80665" if 5.0 <= mag <= 20.0 else
                 "mg: divide by 1000" if 500.0 <= mag <= 2000.0 else
                 "raw sensor counts or another unit: convert to g")
        raise TraceError(f"{path}:{unit_line}: accel_unit is g, but the samples ({span}) have a median"
                         f" magnitude of {mag:.3g}, where a worn device reads about 1 g:"
                         f" they look like {guess}")
    if mag < MIN_MEDIAN_G:
        raise TraceError(f"{path}:{unit_line}: accel_unit is g, but the samples ({span}) have a median"
                         f" magnitude of {mag:.3g}, where a worn device reads about 1 g: they look like"
                         " acceleration with gravity removed (a phone's 'linear acceleration');"
                         " the format needs the accelerometer's own reading, gravity included")
    if n < 3:
        return
    dt = float(np.median(np.diff(arr[:, 0])))
    rate = parse_rate(meta.get("rate_hz"))
    where = f"{path}:{first + 2}: t_ms"
    if rate is not None:
        want = 1000.0 / rate
        if dt * RATE_MISMATCH < want or dt > want * RATE_MISMATCH:
            unit = "seconds" if dt < want else "microseconds"
            raise TraceError(f"{where} steps by {dt:.6g} (median) but line {_meta_line(lines, 'rate_hz')}"
                             f" says rate_hz {meta['rate_hz']} ({want:.6g} ms apart): t_ms looks like"
                             f" {unit}, not milliseconds")
    elif dt < MIN_MEDIAN_DT_MS or dt > MAX_MEDIAN_DT_MS:
        unit = "seconds" if dt < MIN_MEDIAN_DT_MS else "microseconds"
        raise TraceError(f"{where} steps by {dt:.6g} (median), {1000.0 / dt:.6g} samples a second if in"
                         f" ms: t_ms looks like {unit}, not milliseconds")


def read_trace(path, strict: bool = True, cache: bool = False) -> Trace:
    """Read a trace file. `cache=True` keeps parsed arrays as .npy under the user cache dir,
    keyed by path, size and modification time, so repeat evaluations skip the CSV."""
    path = Path(path)
    if cache:
        got = _cache_load(path, strict)
        if got is not None:
            return got
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise TraceError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise TraceError(f"{path}:{line}: not UTF-8 text") from None
    if text.startswith("\ufeff"):   # a byte-order mark from some spreadsheet exports
        text = text[1:]
    lines = text.splitlines()
    meta, cols, first = _read_header(path, lines)
    arr, truncated = _parse_rows(path, text, lines, first, len(cols), strict)
    _check_values(path, arr, first, cols)
    _check_units_of_values(path, arr, first, meta, lines)
    tr = Trace(str(path), meta, np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1:]),
               cols, truncated)
    if cache:
        _cache_store(path, tr)
    return tr


# ---------------------------------------------------------------- cache

def cache_dir() -> Path:
    env = os.environ.get("RETROSTEP_CACHE")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_cache_dir("retrostep")) / "traces"


def _cache_key(path: Path) -> str | None:
    try:
        st = path.stat()
    except OSError:
        return None
    h = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|v2".encode()).hexdigest()[:20]
    return h


def _cache_load(path: Path, strict: bool) -> Trace | None:
    key = _cache_key(path)
    if key is None:
        return None
    base = cache_dir() / key
    try:
        meta = json.loads((base.with_suffix(".json")).read_text())
        arr = np.load(base.with_suffix(".npy"), allow_pickle=False)
    except (OSError, ValueError):
        return None
    if meta.get("truncated") and strict:
        return None   # let the reader raise the error again
    return Trace(str(path), meta["meta"], np.ascontiguousarray(arr[:, 0]),
                 np.ascontiguousarray(arr[:, 1:]), tuple(meta["columns"]), meta.get("truncated", False))


def _cache_store(path: Path, tr: Trace):
    key = _cache_key(path)
    if key is None:
        return
    d = cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        base = d / key
        tmp = base.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, np.column_stack([tr.t_ms, tr.data]), allow_pickle=False)
        os.replace(tmp, base.with_suffix(".npy"))
        tmpj = base.with_suffix(f".{os.getpid()}.tmp.json")
        tmpj.write_text(json.dumps({"meta": tr.meta, "columns": list(tr.columns), "truncated": tr.truncated}))
        os.replace(tmpj, base.with_suffix(".json"))
    except OSError:
        pass   # the cache only saves time


# ---------------------------------------------------------------- writing

def write_trace(path, t_ms, data, meta: dict[str, str] | None = None, decimals: int = 4):
    """Write a trace; `data` is (n, 3) accel in g or (n, 6) with gyro in dps.
    `meta` adds header lines (rate_hz, placement, forward_axis, source, ...)."""
    t = np.asarray(t_ms)
    a = np.asarray(data, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] not in (3, 6) or len(a) != len(t):
        raise ValueError("data must be (n, 3) or (n, 6) with one row per timestamp")
    if not np.isfinite(a).all() or (np.diff(t) <= 0).any():
        raise ValueError("values must be finite and timestamps strictly increasing")
    m = {"format": FORMAT}
    for k, v in (meta or {}).items():
        if k not in ("format", "accel_unit", "gyro_unit"):
            m[k] = str(v)
    m["accel_unit"] = "g"
    if a.shape[1] == 6:
        m["gyro_unit"] = "dps"
    cols = ACCEL_COLUMNS + (GYRO_COLUMNS if a.shape[1] == 6 else ())
    integral = np.all(t == np.round(t))
    out = [f"# {k}: {v}" for k, v in m.items()]
    out.append(",".join(cols))
    fmt_t = (lambda x: str(int(x))) if integral else (lambda x: repr(float(x)))
    for ti, row in zip(t, a):
        out.append(fmt_t(ti) + "," + ",".join(f"{v:.{decimals}f}" for v in row))
    Path(path).write_text("\n".join(out) + "\n")


# ---------------------------------------------------------------- resampling

def resample(t_ms: np.ndarray, data: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation onto a regular grid t0 + k * 1000 / rate_hz covering the trace.
    Returns (grid times in ms, values (m, channels))."""
    if rate_hz <= 0:
        raise ValueError("rate_hz must be positive")
    t = np.asarray(t_ms, dtype=np.float64)
    step = 1000.0 / rate_hz
    m = int(math.floor((t[-1] - t[0]) / step + 1e-9)) + 1
    grid = t[0] + np.arange(m) * step
    d = np.asarray(data, dtype=np.float64)
    out = np.empty((m, d.shape[1]))
    for c in range(d.shape[1]):
        out[:, c] = np.interp(grid, t, d[:, c])
    return grid, out


# ---------------------------------------------------------------- manifests

@dataclass
class Recording:
    file: str
    path: Path
    placement: str
    steps: int
    direction: str
    activity: str = ""
    step_ms: list[float] | None = None
    step_dir: list[str] | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Manifest:
    path: Path
    dataset: str
    recordings: list[Recording]
    meta: dict = field(default_factory=dict)


def _locate(text: str, needle: str) -> int:
    """Line number of the first occurrence of needle in the JSON text (for messages)."""
    k = text.find(needle)
    return text.count("\n", 0, k) + 1 if k >= 0 else 1


def read_manifest(folder) -> Manifest:
    """Read and validate `<folder>/manifest.json`; every listed trace must exist."""
    folder = Path(folder)
    path = folder / "manifest.json"
    if not folder.is_dir():
        raise TraceError(f"{folder}: not a folder")
    try:
        text = path.read_text()
    except OSError as e:
        raise TraceError(f"{path}: cannot read: {e.strerror or e}"
                         " (each dataset folder needs a manifest.json)") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TraceError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("recordings"), list):
        raise TraceError(f"{path}:1: expected an object with a \"recordings\" list")
    dataset = doc.get("dataset") or folder.name
    recs: list[Recording] = []
    seen = set()
    for i, r in enumerate(doc["recordings"]):
        where = f"{path}:{_locate(text, json.dumps(r.get('file'))) if isinstance(r, dict) else 1}"
        if not isinstance(r, dict):
            raise TraceError(f"{where}: recording {i} is not an object")
        f = r.get("file")
        if not isinstance(f, str) or not f:
            raise TraceError(f"{where}: recording {i} has no \"file\"")
        if f in seen:
            raise TraceError(f"{where}: {f} is listed twice")
        seen.add(f)
        steps = r.get("steps")
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
            raise TraceError(f"{where}: {f}: \"steps\" must be a whole number >= 0, found {steps!r}")
        direction = r.get("direction", "forward" if steps else "none")
        if direction not in DIRECTIONS:
            raise TraceError(f"{where}: {f}: \"direction\" must be one of {', '.join(DIRECTIONS)},"
                             f" found {direction!r}")
        placement = r.get("placement", "unknown")
        if placement not in PLACEMENTS and placement != "unknown":
            raise TraceError(f"{where}: {f}: unknown placement {placement!r}"
                             f" (one of {', '.join(PLACEMENTS)})")
        step_ms = r.get("step_ms")
        if step_ms is not None:
            if (not isinstance(step_ms, list)
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in step_ms)):
                raise TraceError(f"{where}: {f}: \"step_ms\" must be a list of numbers")
            if any(b < a for a, b in zip(step_ms, step_ms[1:])):
                raise TraceError(f"{where}: {f}: \"step_ms\" must be in time order")
            if len(step_ms) != steps:
                raise TraceError(f"{where}: {f}: \"steps\" is {steps} but \"step_ms\" lists {len(step_ms)}")
        step_dir = r.get("step_dir")
        if direction == "mixed":
            if step_ms is None or not isinstance(step_dir, list) or len(step_dir) != len(step_ms) \
                    or any(d not in ("F", "B") for d in step_dir):
                raise TraceError(f"{where}: {f}: direction \"mixed\" needs \"step_ms\" and a \"step_dir\""
                                 " of \"F\"/\"B\" for each step")
        if (steps == 0) != (direction == "none"):
            raise TraceError(f"{where}: {f}: direction \"none\" goes with 0 steps and only with 0 steps")
        p = folder / f
        if not p.is_file():
            raise TraceError(f"{where}: {f} is listed but {p} does not exist")
        known = {"file", "steps", "direction", "placement", "activity", "step_ms", "step_dir"}
        recs.append(Recording(f, p, placement, steps, direction, str(r.get("activity", "")),
                              step_ms, step_dir, {k: v for k, v in r.items() if k not in known}))
    return Manifest(path, str(dataset), recs, {k: v for k, v in doc.items() if k != "recordings"})
