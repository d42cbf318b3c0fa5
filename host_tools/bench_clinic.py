"""Benchmark of a clinic's history (`retrostep bench`, area `clinic`): many devices synced at
once by many stations into one database.

200 virtual devices, each holding a month without a sync (30 days of 5-minute bins and an
event every 6 hours: 8,760 records, as `bench sync`'s month), are synced by 8 concurrent
writers (threads, each with its own connection, as 8 sync stations would be) through
`sync_device`, the code `retrostep sync` runs, in the batches the link delivers (about 48
records each, one transaction per batch). One device in ten is synced by two stations at
the same moment (both ask from the same point, both store the same records: the
database's key must refuse every second copy). Then every device is synced once more (a
repeated sync: nothing new). Afterwards the totals are checked exactly: the history's
count of records, and each device's forward, backward and unknown steps, against what the
devices hold (nothing lost, nothing doubled). Figures: records stored per second (and
offered per second, duplicates included), the time the clinic view takes over the full
database, and its size.

The same load runs through PostgreSQL (a throwaway server of its own, started by
host_tools/pgserver.py with PostgreSQL's default durability: fsync on) and through an
SQLite file, for comparison. Where no PostgreSQL server can be started, its figures say
why. `--quick`: 20 devices of 3 days.
"""
from __future__ import annotations

import queue
import random
import shutil
import tempfile
import threading
import time
from pathlib import Path

from .link_client import K_BIN, K_EVENT, Record

DEVICES, DAYS, WRITERS = 200, 30, 8
QUICK_DEVICES, QUICK_DAYS = 20, 3
BATCH = 48                  # records in one RECORDS reply of the link (1 KB of 5-minute bins)
TWICE_EVERY = 10            # one device in ten: synced by two stations at once


class MonthDevice:
    """A virtual device's unsynced records (a month of bins and events, drawn from its own
    seed), served through the calls `sync_device` makes of a LinkClient."""

    def __init__(self, index: int, days: int, start: float):
        self.index = index
        self.uid = f"clinic-{index:04d}"
        self.sid = f"{index * 7919 % 65536:04x}"
        self.days = days
        self.offset = int(start)               # the epoch of uptime 0 of its one boot
        self.count = days * 288 + days * 4     # a bin every 5 min, an event every 6 h
        self.goal = 300 + 50 * (index % 5)
        self.acked = 0
        self.lock = threading.Lock()
        self.totals = [0, 0, 0]
        for r in self._records(0):
            if r.kind == K_BIN:
                self.totals[0] += r.fwd
                self.totals[1] += r.bwd
                self.totals[2] += r.unk

    def _records(self, since: int):
        rng = random.Random(self.index)
        seq = 0
        for i in range(self.days * 288):
            walking = 90 <= i % 288 < 250
            f = rng.randrange(20, 120) if walking else rng.randrange(0, 3)
            b = rng.randrange(0, 60) if walking and i % 288 in range(140, 150) else 0
            u = rng.randrange(0, 6) if walking else 0
            seq += 1
            if seq > since:
                yield Record(seq, 1, K_BIN, i * 300, f, b, u, 300)
            if i % 72 == 71:
                seq += 1
                if seq > since:
                    yield Record(seq, 1, K_EVENT, i * 300 + 200, data=self._event(i // 72))

    def _event(self, n: int) -> dict:
        if n % 4 == 1:
            return {"type": "retro_session", "steps": 420, "backward": 400, "unknown": 20,
                    "forward": 0, "dur_ms": 250000, "cadence": 100, "unknown_pm": 48, "long": 0}
        if n % 4 == 2 and self.index % 3 == 0:
            return {"type": "retro_long", "by": "steps", "steps": 500, "dur_ms": 301000,
                    "limit_ms": 300000, "limit_steps": 500}
        if n % 16 == 3 and self.index % 7 == 0:
            return {"type": "fall", "kind": "stumble" if n % 32 == 3 else "fall",
                    "activity": "walk_backward", "peak_mg": 2900, "tilt_deg": 60}
        return {"type": "boot", "boot": 1}

    # ---- what sync_device asks of a LinkClient ------------------------------------------
    def identify(self) -> dict:
        return {"uid": self.uid, "sid": self.sid, "board": "sim", "fw": "bench",
                "totals": list(self.totals), "saved_seq": self.count, "acked": self.acked}

    def set_time(self, now: float) -> list:
        return [[1, self.offset, None, 0]]

    def get_settings(self) -> dict:
        return {"retro_goal": self.goal, "retro_long_s": 300, "retro_long_steps": 500}

    def records(self, since: int, cut: bool = True):
        batch: list[Record] = []
        for r in self._records(since):
            batch.append(r)
            if len(batch) == BATCH:
                yield self.count, batch
                batch = []
        yield self.count, batch

    def ack(self, upto: int) -> int:
        with self.lock:
            self.acked = max(self.acked, upto)
        return self.acked


def load(db, devices: int, days: int, writers: int) -> dict:
    """Syncs `devices` virtual devices of `days` days into the history `db` with `writers`
    concurrent stations; returns the figures and the exact checks."""
    from .history_db import History
    from .sync_cmd import sync_device
    now = time.time()
    start = now - days * 86400
    devs = [MonthDevice(i, days, start) for i in range(devices)]
    work: queue.Queue = queue.Queue()
    for d in devs:
        work.put(d)
        if d.index % TWICE_EVERY == 0:
            work.put(d)                     # a second station, at the same moment
    results: list = []
    errors: list = []
    go = threading.Barrier(writers)

    def station():
        try:
            with History(db) as hist:
                go.wait()
                while True:
                    try:
                        d = work.get_nowait()
                    except queue.Empty:
                        return
                    res = sync_device(d, hist, now=now)
                    results.append((d.uid, res.received, res.new))
        except Exception as e:          # reported with the figures, never lost in a thread
            errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=station) for _ in range(writers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    if errors:
        raise RuntimeError(f"a station failed: {errors[0]}")
    # a repeated sync of every device: nothing new
    t1 = time.monotonic()
    with History(db) as hist:
        again = sum(sync_device(d, hist, now=now).new for d in devs)
    repeat_secs = time.monotonic() - t1
    expected = sum(d.count for d in devs)
    offered = sum(r for _, r, _ in results)
    new = sum(n for _, _, n in results)
    with History(db, mode="read") as hist:
        t2 = time.monotonic()
        view = hist.clinic(7)
        view_secs = time.monotonic() - t2
        stored = hist.con.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        # every device's sequence whole (1..count, each once: the key allows no other)
        seqs = {u: (n, lo, hi) for u, n, lo, hi in hist.con.execute(
            "SELECT uid, COUNT(*), MIN(seq), MAX(seq) FROM records GROUP BY uid").fetchall()}
        whole = all(seqs.get(d.uid) == (d.count, 1, d.count) for d in devs)
        exact = all(hist.totals(d.uid) == tuple(d.totals) for d in devs)
    return {
        "records_per_s": round(expected / secs),
        "offered_per_s": round(offered / secs),
        "seconds": round(secs, 2),
        "syncs": len(results),
        "records_offered": offered,
        "records_new": new,
        "duplicates_refused": offered - new,
        "records_stored": stored,
        "records_expected": expected,
        "nothing_lost": whole and stored == expected,
        "nothing_doubled": new == expected == stored,
        "device_totals_exact": exact,
        "repeat_sync_new": again,
        "repeat_sync_seconds": round(repeat_secs, 2),
        "clinic_view_seconds": round(view_secs, 3),
        "clinic_view_devices": len(view),
    }


def run(quick: bool) -> dict:
    from .pgserver import PgServer, PgUnavailable
    devices, days = (QUICK_DEVICES, QUICK_DAYS) if quick else (DEVICES, DAYS)
    per = days * 288 + days * 4
    out: dict = {"devices": devices, "records_per_device": per, "writers": WRITERS,
                 "records": devices * per, "batch": BATCH,
                 "synced_twice_at_once": len(range(0, devices, TWICE_EVERY))}
    try:
        with PgServer(durable=True) as pg:
            url = pg.create_database("clinic")
            figures = load(url, devices, days, WRITERS)
            figures["database_bytes"] = pg.admin("SELECT pg_database_size('clinic')")[0][0]
            figures["server"] = pg.admin("SHOW server_version")[0][0]
            out["postgresql"] = figures
    except PgUnavailable as e:
        out["postgresql"] = f"not run: {e}"
    tmp = Path(tempfile.mkdtemp(prefix="retrostep-clinic-"))
    try:
        db = tmp / "clinic.sqlite"
        figures = load(db, devices, days, WRITERS)
        figures["database_bytes"] = sum(p.stat().st_size for p in tmp.iterdir())
        out["sqlite"] = figures
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    import json
    import sys
    print(json.dumps(run("--quick" in sys.argv), indent=1))
