"""`retrostep sync`: fetch new records from a device into the history, then acknowledge.

Order matters for never losing or double-counting a step: the device saves everything it
counted before it sends it; the history commits each batch before anything is
acknowledged; records are keyed by sequence number, so a sync cut short anywhere is simply
done again.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

from .errors import UserError
from .history_db import History, add_db_argument

# USB vendor:product ids of boards that run MicroPython (None: any product of that vendor)
USB_IDS = [
    (0x2E8A, None),    # Raspberry Pi: Pico, Pico W, Pico 2, XIAO RP2040 with MicroPython
    (0x303A, None),    # Espressif native USB: ESP32-S3 boards
    (0xF055, None),    # MicroPython's own id
    (0x10C4, 0xEA60),  # CP210x bridge: ESP32 DevKitC
    (0x1A86, None),    # CH340 / CH9102 bridges: ESP32 boards, M5StickC Plus
    (0x0403, 0x6001),  # FTDI bridge: M5StickC Plus
]


def usb_ids() -> list[tuple[int, int | None]]:
    """The ids above plus every "VID:PID" listed under `usb` in boards/*.json."""
    import json
    from .paths import BOARDS
    ids = list(USB_IDS)
    for f in sorted(BOARDS.glob("*.json")):
        try:
            for vp in json.loads(f.read_text()).get("usb") or []:
                v, p = vp.split(":")
                ids.append((int(v, 16), int(p, 16)))
        except (ValueError, AttributeError):
            continue   # a malformed board file is reported by the commands that read it
    return ids


def find_port() -> str:
    """The serial port of an attached board: $RETROSTEP_PORT, else the first USB match."""
    env = os.environ.get("RETROSTEP_PORT")
    if env:
        return env
    from serial.tools import list_ports
    found = []
    ids = usb_ids()
    for p in list_ports.comports():
        if any(p.vid == vid and (pid is None or p.pid == pid) for vid, pid in ids):
            found.append(p.device)
    if not found:
        raise UserError("no board found on USB (looked for MicroPython boards' USB ids); "
                        "give --port PORT, or start a virtual device with `retrostep emulate`")
    if len(found) > 1:
        print(f"several boards found ({', '.join(found)}); using {found[0]}", file=sys.stderr)
    return found[0]


@dataclass
class SyncResult:
    uid: str
    sid: str
    received: int
    new: int
    last_seq: int
    device_totals: tuple
    info: dict
    seconds: float


def sync_device(client, hist: History, now: float | None = None,
                abort_after: int | None = None) -> SyncResult:
    """One full sync over an open LinkClient. `abort_after`: stop (as if unplugged) after
    that many batches, before acknowledging (used by the fault tests)."""
    t0 = time.monotonic()
    info = client.identify()
    uid, sid = str(info["uid"]), str(info["sid"])
    now = time.time() if now is None else now
    boots = client.set_time(now)
    settings = client.get_settings()
    since = hist.last_seq(uid, sid)
    received = new = 0
    batches = 0
    for saved, recs in client.records(since, cut=True):
        if recs:
            new += hist.store_batch(uid, sid, info, boots, recs, now, settings)
            received += len(recs)
            since = recs[-1].seq
        else:
            hist.store_batch(uid, sid, info, boots, [], now, settings)
        batches += 1
        if abort_after is not None and batches >= abort_after:
            raise ConnectionAbortedError("sync stopped on purpose")
    if since:
        client.ack(since)
    after = client.identify()
    hist.log_sync(uid, sid, now, received, new, since)
    return SyncResult(uid, sid, received, new, since, tuple(after["totals"]), after,
                      time.monotonic() - t0)


def add_parser(sub):
    p = sub.add_parser("sync", help="copy a device's counts into the history",
                       description="Fetch the records the device has not yet given to this "
                       "history, store them, and acknowledge them. Safe to repeat.")
    p.add_argument("--port", help="serial port (default: $RETROSTEP_PORT, else the first board"
                   " found by its USB id)")
    add_db_argument(p)
    return p


def run(args) -> int:
    import serial
    from .link_client import LinkClient, LinkError
    # the history first: a damaged, read-only or foreign file is refused before the device
    # is asked for anything, and a new one is only made once there is something to store
    with History(args.db, mode="write") as hist:
        port = args.port or find_port()
        with LinkClient.open(port) as client:
            try:
                client.wake(log=lambda m: print(f"retrostep sync: {m}", file=sys.stderr))
                res = sync_device(client, hist)
            except LinkError as e:
                raise UserError(f"{port}: {e} (is retrostep's firmware running there? "
                                "`retrostep deploy --board NAME --port PORT` installs it)") from None
            except (serial.SerialException, OSError) as e:
                raise UserError(f"{port}: the port went away during the sync ({e}); what "
                                "arrived is kept: sync again to fetch the rest") from None
        f, b, u = hist.totals(res.uid)
    print(f"synced {res.uid} ({res.info.get('board')}, firmware {res.info.get('fw')}) on {port}: "
          f"{res.received} records, {res.new} new, up to #{res.last_seq}")
    print(f"history for {res.uid}: {f + b + u} steps ({f} forward, {b} backward, {u} unknown) "
          f"in {hist.where}")
    if res.info.get("dropped"):
        print(f"warning: the device had to drop {res.info['dropped']} records it could not "
              "keep before this sync (its storage was full)", file=sys.stderr)
    return 0
