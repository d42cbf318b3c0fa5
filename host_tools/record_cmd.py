"""`retrostep record`: stream raw IMU samples from a board into a trace file.

The board keeps counting while it streams. Sample times come from the board's sample
index (index * 1000 / rate), so a frame lost on the wire leaves a gap in the timestamps
instead of shifting everything after it.
"""
from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np

from .errors import UserError

_IDX_WRAP = 1 << 30      # the detector's sample index wraps here


def decode_stream(frames: list[tuple[int, int, bytes]]) -> tuple[np.ndarray, np.ndarray, int]:
    """(sample index (unwrapped), int counts (n, channels), frames lost) from STREAM
    payloads in arrival order."""
    idx_parts = []
    val_parts = []
    base = 0
    prev_first = None
    lost = 0
    prev_seq = None
    for seq, _, p in frames:
        if len(p) < 5:
            continue
        first, ch = struct.unpack_from("<IB", p)
        if ch < 3 or (len(p) - 5) % (2 * ch):
            continue
        vals = np.frombuffer(p, dtype="<i2", offset=5).reshape(-1, ch).astype(np.int32)
        if prev_first is not None and first < prev_first and prev_first - first > _IDX_WRAP // 2:
            base += _IDX_WRAP
        prev_first = first
        if prev_seq is not None and seq != (prev_seq + 1) & 0xFFFF:
            lost += (seq - prev_seq - 1) & 0xFFFF
        prev_seq = seq
        idx_parts.append(base + first + np.arange(len(vals)))
        val_parts.append(vals)
    if not val_parts:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 3), dtype=np.int32), lost
    nch = min(v.shape[1] for v in val_parts)
    return (np.concatenate(idx_parts), np.concatenate([v[:, :nch] for v in val_parts]), lost)


def record(client, seconds: float, out: Path, label: str | None = None) -> dict:
    from .trace import write_trace
    info = client.identify()
    meta = client.stream_start()
    try:
        client.pump(seconds)
    finally:
        client.stream_stop()
    idx, counts, lost = decode_stream(client.samples)
    if len(idx) < 2:
        raise UserError("the board sent no samples: is its IMU working? (retrostep sync shows "
                        "its faults)")
    keep = np.concatenate([[True], np.diff(idx) > 0])   # drop any repeated sample
    idx, counts = idx[keep], counts[keep]
    rate = float(meta.get("rate_hz") or 0)
    lsb = float(meta.get("lsb_per_g") or 0)
    if rate <= 0 or lsb <= 0:
        raise UserError(f"the board reported no usable rate/scale ({meta})")
    t_ms = np.round((idx - idx[0]) * 1000.0 / rate, 1)
    data = counts[:, :3] / lsb
    head = {"rate_hz": f"{rate:g}", "placement": meta.get("placement") or "unknown",
            "source": f"retrostep record from {info.get('board')} {info.get('uid')} "
                      f"({meta.get('imu')})", "lsb_per_g": f"{lsb:g}"}
    if meta.get("forward_axis"):
        head["forward_axis"] = meta["forward_axis"]
    if label:
        head["label"] = label
    lsb_dps = meta.get("lsb_per_dps")
    if counts.shape[1] >= 6 and lsb_dps:
        data = np.hstack([data, counts[:, 3:6] / float(lsb_dps)])
        head["lsb_per_dps"] = f"{float(lsb_dps):g}"
    write_trace(out, t_ms, data, head, decimals=5)
    gaps = int((np.diff(idx) > 1).sum())
    return {"samples": len(idx), "seconds": float(t_ms[-1]) / 1000, "gaps": gaps,
            "lost_frames": lost, "rate_hz": rate, "path": out}


def add_parser(sub):
    p = sub.add_parser("record", help="record raw IMU samples from a board into a trace",
                       description="Stream the board's raw accelerometer (and gyro) samples "
                       "into a trace file (see the trace format), for your own test sets.")
    p.add_argument("--port", required=True, help="the board's serial port")
    p.add_argument("--seconds", type=float, required=True, help="how long to record")
    p.add_argument("--label", help="free text kept in the trace header (e.g. 'backward 100')")
    p.add_argument("-o", "--output", type=Path, required=True, help="trace file to write")
    p.add_argument("--db", help="accepted like every command's; record keeps no history")
    return p


def run(args) -> int:
    from .link_client import LinkClient, LinkError
    if args.seconds <= 0:
        raise UserError("--seconds must be more than 0")
    with LinkClient.open(args.port) as c:
        try:
            res = record(c, args.seconds, args.output, args.label)
        except LinkError as e:
            raise UserError(f"{args.port}: {e}") from None
    print(f"recorded {res['samples']} samples ({res['seconds']:.1f} s at {res['rate_hz']:g} Hz) "
          f"into {res['path']}")
    if res["gaps"]:
        print(f"warning: {res['gaps']} gaps ({res['lost_frames']} frames lost on the wire); "
              "timestamps stay exact", file=sys.stderr)
    return 0
