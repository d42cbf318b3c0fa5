"""Reads and writes recorded traces (format `retrostep-trace/1`) and dataset manifests.

A trace is a CSV file with `# key: value` metadata lines, a column header and one
sample per line (see README, "Trace format"). Every problem in a file is reported
as a `TraceError` naming the file and the line, never skipped silently.

Any length: `TraceReader` reads a trace a block at a time (BLOCK_BYTES), checking as it
goes, so a day-long recording streams through in flat memory; `read_trace` collects the
same checked samples into arrays. The unit checks need the median over the whole
recording: they keep log-spaced histograms (a fixed size) instead of the samples.

Truncated last line: every line of a complete trace ends with a newline, so a
last line without one was cut short (a crash, a pulled cable, a full disk; a cut
number like "0.98" from "0.9876" still parses, so parsing cannot tell). It is an
error by default; with `strict=False` (`--lenient` on the command line) a
`TruncatedLineWarning` names it, and the line is dropped when it does not parse,
kept when it does.

Duplicate rows: some phones log a sample twice (the same time, the same values). Such
exact duplicates are dropped, with a `DuplicateRowWarning` naming their lines; the same
time with other values is an error.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
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

BLOCK_BYTES = 1 << 18     # read at a time: memory stays flat whatever the trace's length
MAX_LINE = 1 << 16        # a sample's line is under 200 bytes: a longer one is not a trace
_DUP_LINES_NAMED = 5      # duplicate rows named in the warning (all are counted)


class TraceError(UserError):
    """A malformed trace or manifest: the message names the file and the line."""


class TruncatedLineWarning(UserWarning):
    """The last line of a trace was cut short and dropped (strict=False)."""


class DuplicateRowWarning(UserWarning):
    """Exact duplicate rows (the same time and values, as some phones log) were dropped."""


class _Header:
    """What the metadata says, shared by a whole Trace and a streaming TraceReader."""
    meta: dict[str, str]

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


@dataclass
class Trace(_Header):
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
    def duration_s(self) -> float:
        return float(self.t_ms[-1] - self.t_ms[0]) / 1000.0 if len(self.t_ms) else 0.0

    def __len__(self):
        return len(self.t_ms)


def _rate_number(text: str) -> float | None:
    """The number in a rate_hz header ("50", "12.5 Hz"), None when it is words."""
    try:
        return float(text.strip().lower().removesuffix("hz"))
    except ValueError:
        return None


def parse_rate(text: str | None) -> float | None:
    """A rate_hz header's rate when it is a plain number above 0, else None."""
    r = _rate_number(text) if text is not None else None
    return r if r is not None and math.isfinite(r) and r > 0 else None


# ---------------------------------------------------------------- checks on values

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


class LogHistogram:
    """The median of positive values in fixed memory: counts in log-spaced bins of 0.06%
    (4000 a decade) from 10**lo to 10**hi; values outside fall in the end bins."""

    PER_DECADE = 4000

    def __init__(self, lo: float, hi: float):
        self.lo = lo
        self.counts = np.zeros(int((hi - lo) * self.PER_DECADE), dtype=np.int64)
        self.n = 0

    def add(self, x: np.ndarray):
        if not len(x):
            return
        with np.errstate(divide="ignore"):
            k = np.floor((np.log10(x) - self.lo) * self.PER_DECADE)
        k = np.clip(np.nan_to_num(k, nan=0.0, neginf=0.0), 0, len(self.counts) - 1).astype(np.intp)
        self.counts += np.bincount(k, minlength=len(self.counts))
        self.n += len(x)

    def median(self) -> float:
        """The centre of the bin holding the middle value (the lower middle of an even count)."""
        i = int(np.searchsorted(np.cumsum(self.counts), (self.n + 1) // 2))
        return float(10.0 ** (self.lo + (i + 0.5) / self.PER_DECADE))


# ---------------------------------------------------------------- reading

class TraceReader(_Header):
    """A trace read a block at a time, checked as it goes, in flat memory for any length.

        with TraceReader(path) as rd:       # the header is read and checked here
            rd.meta, rd.columns
            for t_ms, data in rd.chunks():  # float64 arrays, each (k,) and (k, 3 or 6)
                ...
        rd.samples, rd.t_first, rd.t_last, rd.duplicates, rd.truncated

    Every error is a TraceError naming the file and line; the checks that need the whole
    recording (the units, from the median magnitude and interval) run when chunks() ends.
    """

    def __init__(self, path, strict: bool = True, block_bytes: int = BLOCK_BYTES):
        self.path = Path(path)
        self.strict = strict
        self.block_bytes = max(256, int(block_bytes))
        self.samples = 0
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.truncated = False          # a cut-short last line was met (strict=False)
        self.duplicates = 0             # exact duplicate rows dropped
        self.notes: list[tuple[type, str]] = []   # the warnings given, for the cache
        self._dup_lines: list[int] = []
        self._key_lines: dict[str, int] = {}
        self._line = 0                  # lines read so far
        self._prev: np.ndarray | None = None      # the last row kept
        self._blank_at: int | None = None         # a blank line that only the end may follow
        self._mag = LogHistogram(-6, 6)
        self._dt = LogHistogram(-3, 10)
        self._done = False
        try:
            self._f = open(self.path, "rb")
        except OSError as e:
            raise TraceError(f"{self.path}: cannot read: {e.strerror or e}") from None
        try:
            self.meta, self.columns = self._read_header()
        except BaseException:
            self._f.close()
            raise
        self.first_data_line = self._line + 1

    def close(self):
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def duration_s(self) -> float:
        return (self.t_last - self.t_first) / 1000.0 if self.samples else 0.0

    def __len__(self):
        return self.samples

    def _err(self, line: int, msg: str) -> TraceError:
        return TraceError(f"{self.path}:{line}: {msg}")

    # ---- header --------------------------------------------------------------------
    def _text_line(self) -> str | None:
        raw = self._f.readline(MAX_LINE + 1)
        if not raw:
            return None
        self._line += 1
        if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
            raise self._err(self._line, f"no line end within {MAX_LINE} bytes: not a trace"
                            " (a text file with one sample a line)")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self._err(self._line, "not UTF-8 text") from None
        if self._line == 1 and text.startswith("\ufeff"):   # a byte-order mark (spreadsheets)
            text = text[1:]
        return text

    def _read_header(self) -> tuple[dict[str, str], tuple[str, ...]]:
        meta: dict[str, str] = {}
        line = self._text_line()
        while line is not None and not line.strip():
            line = self._text_line()
        if line is None or not line.startswith("#"):
            raise self._err(self._line if line is not None else self._line + 1,
                            f"missing '# format: {FORMAT}' header (is this a retrostep trace?)")
        while line is not None and line.startswith("#"):
            body = line[1:].strip()
            if body:
                key, sep, value = body.partition(":")
                if not sep:
                    raise self._err(self._line, f"metadata line is not 'key: value': {line.strip()!r}")
                key = key.strip().lower()
                value = value.strip()
                if not meta and key != "format":
                    raise self._err(self._line, f"the first metadata line must be '# format: {FORMAT}',"
                                    f" found {line.strip()!r}")
                if key in meta:
                    raise self._err(self._line, f"{key!r} is given twice (first on line"
                                    f" {self._key_lines[key]}): which one is meant?")
                if "  " in value:   # drop trailing remarks like "dps            (only when ...)"
                    value = value.split("  ")[0].strip()
                meta[key] = value
                self._key_lines[key] = self._line
            line = self._text_line()
        if not meta:
            raise self._err(1, f"missing '# format: {FORMAT}' header")
        if meta["format"] != FORMAT:
            raise self._err(1, f"unsupported format {meta['format']!r} (expected {FORMAT!r})")
        if line is None:
            raise self._err(self._line + 1, "missing column header line 't_ms,ax,ay,az'")
        cols = tuple(c.strip().lower() for c in line.split(","))
        if cols not in (ACCEL_COLUMNS, ACCEL_COLUMNS + GYRO_COLUMNS):
            raise self._err(self._line, "column header must be 't_ms,ax,ay,az' or"
                            f" 't_ms,ax,ay,az,gx,gy,gz', found {line.strip()!r}")
        self._check_header(meta, cols)
        return meta, cols

    def _key_line(self, key: str) -> int:
        return self._key_lines.get(key, 1)

    def _check_header(self, meta: dict[str, str], cols: tuple[str, ...]):
        acc = meta.get("accel_unit")
        if acc is None:
            raise self._err(1, "missing '# accel_unit: g' header")
        if acc.lower() != "g":
            raise self._err(self._key_line("accel_unit"), f"accel_unit is {acc!r}; the format"
                            " stores acceleration in g (divide m/s^2 by 9.80665)")
        if len(cols) > 4:
            gyr = meta.get("gyro_unit")
            if gyr is None:
                raise self._err(1, "gyro columns present but no '# gyro_unit: dps' header")
            if gyr.lower() != "dps":
                raise self._err(self._key_line("gyro_unit"), f"gyro_unit is {gyr!r}; the format"
                                " stores angular rate in degrees per second (dps)")
        fa = meta.get("forward_axis")
        if fa is not None and fa.strip().lower() not in AXES:
            raise self._err(self._key_line("forward_axis"), "forward_axis must be one of"
                            f" {', '.join(AXES)}, found {fa!r}")
        rate = meta.get("rate_hz")
        if rate is not None:
            number = _rate_number(rate)   # None: words, e.g. "about 100 (irregular)" (phones)
            if number is not None and not (math.isfinite(number) and number > 0):
                raise self._err(self._key_line("rate_hz"), f"rate_hz is {rate!r}: the nominal"
                                " sample rate must be a number of samples a second above 0 (or"
                                " words such as 'about 100 (irregular)' when it varies)")
        pl = meta.get("placement")
        if pl is not None and pl not in PLACEMENTS and pl != "unknown":
            raise self._err(self._key_line("placement"), f"placement {pl!r} is not one of"
                            f" {', '.join(PLACEMENTS)} (or unknown)")

    # ---- samples -------------------------------------------------------------------
    def chunks(self):
        """Yields (t_ms, data) for the checked samples, in order; runs the whole-recording
        checks at the end. Can be run once."""
        if self._done:
            raise RuntimeError("a TraceReader reads its file once")
        self._done = True
        pending = b""
        line0 = self._line + 1          # the line number of pending's first line
        while True:
            got = self._f.read(self.block_bytes)
            if not got:
                break
            pending += got
            cut = pending.rfind(b"\n") + 1
            if cut == 0:
                if len(pending) > MAX_LINE:
                    raise self._err(line0, f"no line end within {MAX_LINE} bytes: not a trace")
                continue
            block, pending = pending[:cut], pending[cut:]
            nlines = block.count(b"\n")
            if len(pending) > MAX_LINE:
                raise self._err(line0 + nlines, f"no line end within {MAX_LINE} bytes: not a trace")
            yield from self._block(block, line0, nlines)
            line0 += nlines
        if pending:
            yield from self._last_line(pending, line0)
        self._finish()

    def _decode(self, raw: bytes, line0: int) -> str:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise self._err(line0 + raw.count(b"\n", 0, e.start), "not UTF-8 text") from None
        return text.replace("\r\n", "\n") if "\r" in text else text

    def _block(self, raw: bytes, line0: int, nlines: int):
        lines = self._decode(raw, line0).split("\n")[:nlines]
        end = nlines
        while end and not lines[end - 1].strip():
            end -= 1        # blank lines: allowed at the end of the file only
        if end:
            if self._blank_at is not None:
                raise self._err(self._blank_at, "empty line inside the data")
            yield from self._rows(lines[:end], line0)
        if end < nlines and self._blank_at is None:
            self._blank_at = line0 + end

    def _rows(self, lines: list[str], line0: int):
        ncol = len(self.columns)
        arr = None
        try:    # fast; the line by line parse below finds the exact line of any problem
            arr = np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2, comments=None)
            if arr.shape != (len(lines), ncol):
                arr = None
        except ValueError:
            arr = None
        if arr is None:
            rows = []
            for j, ln in enumerate(lines):
                vals, problem = self._parse_line(ln)
                if problem is not None:
                    raise self._err(line0 + j, problem)
                rows.append(vals)
            arr = np.array(rows, dtype=np.float64).reshape(-1, ncol)
        yield from self._checked(arr, line0)

    def _parse_line(self, line: str) -> tuple[list[float] | None, str | None]:
        text = line.strip()
        if not text:
            return None, "empty line inside the data"
        if text.startswith("#"):
            return None, "metadata line after the data started"
        parts = text.split(",")
        ncol = len(self.columns)
        if len(parts) != ncol:
            return None, f"expected {ncol} comma-separated values, found {len(parts)}: {text[:200]!r}"
        vals = []
        for k, p in enumerate(parts):
            try:
                # float() takes "1_000" and other scripts' digits; a number in a CSV has neither
                if "_" in p or not p.isascii():
                    raise ValueError(p)
                vals.append(float(p))
            except ValueError:
                return None, f"bad number {p.strip()[:40]!r} in column {k + 1}: {text[:200]!r}"
        return vals, None

    def _last_line(self, raw: bytes, lineno: int):
        text = self._decode(raw, lineno)
        if not text.strip():
            return
        if self._blank_at is not None:
            raise self._err(self._blank_at, "empty line inside the data")
        vals, problem = self._parse_line(text)
        why = problem or "no newline at the end of the file: it may have been cut short"
        msg = f"{self.path}:{lineno}: truncated last line ({why}): {text.strip()[:200]!r}"
        if self.strict:
            raise TraceError(msg + "; read it leniently (--lenient, strict=False) to drop it,"
                             " or keep it when it parses, with a warning")
        self.truncated = True
        self._warn(TruncatedLineWarning, msg + ("; kept" if problem is None else "; dropped"))
        if problem is None:
            yield from self._checked(np.array([vals], dtype=np.float64), lineno)

    def _warn(self, category: type, msg: str):
        self.notes.append((category, msg))
        warnings.warn(msg, category, stacklevel=4)

    def _checked(self, arr: np.ndarray, line0: int):
        """Finite values, time strictly increasing (exact duplicate rows dropped); yields
        the rows kept and notes what the unit checks need."""
        bad = ~np.isfinite(arr)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise self._err(line0 + int(r), f"{self.columns[c]} is {float(arr[r, c])};"
                            " values must be finite numbers")
        had_prev = self._prev is not None
        full = np.vstack([self._prev, arr]) if had_prev else arr
        d = np.diff(full[:, 0])
        if (d <= 0).any():
            dup = (d == 0) & (full[1:] == full[:-1]).all(axis=1)
            wrong = np.nonzero((d <= 0) & ~dup)[0]
            if len(wrong):
                i = int(wrong[0])
                line = line0 + i + 1 - had_prev
                t, before = full[i + 1, 0], full[i, 0]
                if d[i] < 0:
                    raise self._err(line, f"time goes backwards (t_ms {t:g} after {before:g});"
                                    " timestamps must strictly increase")
                raise self._err(line, f"time goes nowhere (t_ms {t:g} again, with other values"
                                f" than line {line - 1}); timestamps must strictly increase")
            rows = np.nonzero(dup)[0] + 1 - had_prev      # their indices in arr
            self.duplicates += len(rows)
            self._dup_lines += [line0 + int(r) for r in rows[:_DUP_LINES_NAMED - len(self._dup_lines)]]
            arr = np.delete(arr, rows, axis=0)
            full = np.vstack([self._prev, arr]) if had_prev else arr
        if not len(arr):
            return
        self._mag.add(np.sqrt((arr[:, 1:4] ** 2).sum(axis=1)))
        self._dt.add(np.diff(full[:, 0]))
        if self.t_first is None:
            self.t_first = float(arr[0, 0])
        self.t_last = float(arr[-1, 0])
        self.samples += len(arr)
        self._prev = arr[-1].copy()
        yield arr[:, 0], arr[:, 1:]

    def _finish(self):
        first = self.first_data_line
        if self.duplicates:
            named = ", ".join(map(str, self._dup_lines))
            more = f" and {self.duplicates - len(self._dup_lines)} more" \
                if self.duplicates > len(self._dup_lines) else ""
            self._warn(DuplicateRowWarning,
                       f"{self.path}:{self._dup_lines[0]}: {self.duplicates} exact duplicate"
                       f" row{'s' if self.duplicates > 1 else ''} dropped (line {named}{more}):"
                       " the same time with the same values, as some phones log")
        if not self.samples:
            raise self._err(first, "no samples")
        last = first + self.samples + self.duplicates - 1
        span = f"lines {first}-{last}" if last > first else f"line {first}"
        mag = self._mag.median()
        unit_line = self._key_line("accel_unit")
        if mag > MAX_MEDIAN_G:
            guess = ("m/s^2: divide by 9.80665" if 5.0 <= mag <= 20.0 else
                     "mg: divide by 1000" if 500.0 <= mag <= 2000.0 else
                     "raw sensor counts or another unit: convert to g")
            raise self._err(unit_line, f"accel_unit is g, but the samples ({span}) have a median"
                            f" magnitude of {mag:.3g}, where a worn device reads about 1 g:"
                            f" they look like {guess}")
        if mag < MIN_MEDIAN_G:
            raise self._err(unit_line, f"accel_unit is g, but the samples ({span}) have a median"
                            f" magnitude of {mag:.3g}, where a worn device reads about 1 g: they"
                            " look like acceleration with gravity removed (a phone's 'linear"
                            " acceleration'); the format needs the accelerometer's own reading,"
                            " gravity included")
        if self.samples < 3:
            return
        dt = self._dt.median()
        rate = parse_rate(self.meta.get("rate_hz"))
        where = first + 1
        if rate is not None:
            want = 1000.0 / rate
            if dt * RATE_MISMATCH < want or dt > want * RATE_MISMATCH:
                unit = "seconds" if dt < want else "microseconds"
                raise self._err(where, f"t_ms steps by {dt:.3g} (median) but line"
                                f" {self._key_line('rate_hz')} says rate_hz {self.meta['rate_hz']}"
                                f" ({want:.6g} ms apart): t_ms looks like {unit}, not milliseconds")
        elif dt < MIN_MEDIAN_DT_MS or dt > MAX_MEDIAN_DT_MS:
            unit = "seconds" if dt < MIN_MEDIAN_DT_MS else "microseconds"
            raise self._err(where, f"t_ms steps by {dt:.3g} (median), {1000.0 / dt:.3g} samples a"
                            f" second if in ms: t_ms looks like {unit}, not milliseconds")


def check_trace(path, strict: bool = True) -> TraceReader:
    """Reads a whole trace for its checks only (flat memory): its TraceReader, read to the
    end, or a TraceError."""
    with TraceReader(path, strict) as rd:
        for _ in rd.chunks():
            pass
    return rd


def read_trace(path, strict: bool = True, cache: bool = False) -> Trace:
    """Read a trace file into arrays. `cache=True` keeps parsed arrays as .npy under the user
    cache dir, keyed by path, size and modification time, so repeat evaluations skip the CSV."""
    path = Path(path)
    if cache:
        got = _cache_load(path, strict)
        if got is not None:
            return got
    with TraceReader(path, strict) as rd:
        parts = [np.column_stack([t, d]) for t, d in rd.chunks()]
    arr = np.concatenate(parts) if len(parts) > 1 else parts[0]
    tr = Trace(str(path), rd.meta, np.ascontiguousarray(arr[:, 0]), np.ascontiguousarray(arr[:, 1:]),
               rd.columns, rd.truncated)
    if cache:
        _cache_store(path, tr, rd.notes)
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
    h = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|v3".encode()).hexdigest()[:20]
    return h


_NOTES = {c.__name__: c for c in (TruncatedLineWarning, DuplicateRowWarning)}


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
    for name, msg in meta.get("notes", []):    # the warnings the file gave when it was read
        warnings.warn(msg, _NOTES.get(name, UserWarning), stacklevel=3)
    return Trace(str(path), meta["meta"], np.ascontiguousarray(arr[:, 0]),
                 np.ascontiguousarray(arr[:, 1:]), tuple(meta["columns"]), meta.get("truncated", False))


def _cache_store(path: Path, tr: Trace, notes=()):
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
        tmpj.write_text(json.dumps({"meta": tr.meta, "columns": list(tr.columns), "truncated": tr.truncated,
                                    "notes": [[c.__name__, m] for c, m in notes]}))
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
