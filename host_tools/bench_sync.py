"""Benchmark of storage and sync (`retrostep bench` runs `run`).

- sync: a month without a sync, 30 full days of 5-minute bins (every bin with steps) and
  a few events a day, written into a flash directory by firmware/store.py itself (run on
  the PC through host_tools.mpcompat), then the real firmware boots on the virtual device
  (sim board, MicroPython Unix port) with that flash and `retrostep sync` fetches it all
  over the pseudo-terminal: records per second (target: the whole month in under 5 s).
- flash wear: firmware/store.py through a simulated day (a typical day: walking in 30% of
  the waking minutes, a retro session, one sync; and a busy day: steps in every minute
  of 24 hours), counting its file writes and bytes; the lifetime estimate assumes a 1 MB
  littlefs partition of 4 KB blocks rated for 100,000 erase cycles, wear-levelled, and
  one block erased per started 4 KB written plus one metadata block per file written.
"""
from __future__ import annotations

import math
import random
import tempfile
import time
from pathlib import Path

BLOCK = 4096
PARTITION = 1 << 20
CYCLES = 100_000


class _Clock:
    def __init__(self):
        self.t = 0

    def __call__(self):
        return self.t


def _store():
    from .mpcompat import firmware_module
    return firmware_module("store")


def prefill_month(data: Path, days: int = 30) -> int:
    """Writes `days` full days of bins and events into a store at `data`; returns records."""
    store = _store()
    clk = _Clock()
    st = store.Store(str(data), clk, save_every_s=3600)
    rng = random.Random(1)
    for i in range(days * 288):
        st.add_steps(40 + rng.randrange(80), rng.randrange(12), rng.randrange(4))
        if i % 72 == 0:
            st.event({"type": "retro_session", "steps": 420, "backward": 400, "unknown": 20,
                      "forward": 0, "dur_ms": 250000, "cadence": 100, "unknown_pm": 48,
                      "long": 0})
        clk.t += 300
        st.poll()
    st.close()
    return st.next_seq - 1


def bench_sync(days: int = 30) -> dict:
    from .emulate_cmd import install_firmware, sim_board
    from .history_db import History
    from .link_client import LinkClient
    from .sync_cmd import sync_device
    with tempfile.TemporaryDirectory(prefix="retrostep-bench-") as tmp:
        flash = install_firmware(Path(tmp) / "flash")
        n = prefill_month(flash / "data", days)
        size = sum(p.stat().st_size for p in (flash / "data").iterdir())
        with sim_board(flash, fast=False) as dev, History(Path(tmp) / "h.db") as hist:
            with LinkClient.open(dev.path, timeout=3.0) as c:
                c.identify()
                t0 = time.monotonic()
                res = sync_device(c, hist)
                secs = time.monotonic() - t0
                ok = hist.totals(res.uid) == res.device_totals
    return {"sync_days": days, "sync_records": res.received, "records_prefilled": n,
            "sync_seconds": round(secs, 3), "sync_records_per_s": round(res.received / secs),
            "sync_under_5_s": secs < 5.0, "sync_totals_exact": ok,
            "store_bytes_for_30_days": size}


def _day(busy: bool) -> dict:
    store = _store()
    rng = random.Random(2)
    with tempfile.TemporaryDirectory(prefix="retrostep-wear-") as tmp:
        clk = _Clock()
        st = store.Store(tmp, clk)
        st.set_time(1_700_000_000, 0)
        w0, b0 = st.writes, st.bytes_written
        steps = 0
        for minute in range(24 * 60):
            awake = 7 * 60 <= minute < 23 * 60
            active = busy or (awake and rng.random() < 0.3)
            for _ in range(6):          # the loop polls after every batch; 10 s here
                clk.t += 10
                if active:
                    n = rng.randrange(8, 20)
                    back = n if 12 * 60 <= minute < 12 * 60 + 5 else 0
                    st.add_steps(n - back, back, 0)
                    steps += n
                st.poll()
            if minute == 12 * 60 + 6:
                st.event({"type": "retro_session", "steps": 420, "dur_ms": 300000})
            if minute == 20 * 60:
                st.cut()                # the evening sync
        st.close()
        writes = st.writes - w0
        nbytes = st.bytes_written - b0
        seg = sum(p.stat().st_size for p in Path(tmp).glob("s*.rs")) / max(1, len(list(Path(tmp).glob("s*.rs"))))
    # erase blocks: each file write rewrites ceil(size / 4 KB) data blocks + one metadata block
    per_write = nbytes / max(1, writes)
    blocks = writes * (math.ceil(per_write / BLOCK) + 1)
    life_days = (PARTITION // BLOCK) * CYCLES / max(1, blocks)
    return {"writes_per_day": writes, "bytes_per_day": nbytes, "steps": steps,
            "avg_bytes_per_write": round(per_write), "avg_segment_bytes": round(seg),
            "erase_blocks_per_day": blocks, "flash_lifetime_years": round(life_days / 365, 1)}


def run(quick: bool) -> dict:
    out = bench_sync(30)
    for name, busy in (("typical_day", False), ("busy_day", True)):
        for k, v in _day(busy).items():
            out[f"{name}_{k}"] = v
    out["flash_model"] = "1 MB littlefs, 4 KB blocks, 100k erase cycles, wear-levelled"
    return out


if __name__ == "__main__":
    import json
    print(json.dumps(run(False), indent=1))
