"""On-board storage of step counts and events, made to survive power cuts.

    st = Store(root, clock, settings_defaults=None)
        root       directory on the board's littlefs (a temp dir under the Unix port)
        clock      callable -> uptime in whole seconds (the loop owns the clock)
    st.add_steps(fwd, bwd, unk)   steps into the open 5-minute bin
    st.event(rec, up=None)        an event dict {"type": str, ...}: retro sessions, falls, faults
    st.poll()                     call every batch: closes due bins, saves when due
    st.cut()                      closes the open bin now and saves (before a sync)
    st.close()                    clean shutdown: cut() and save
    st.read_since(n, buf) -> (count, nbytes)  saved records with seq > n, packed into buf
    st.ack(n)                     the host holds every record up to seq n
    st.set_time(epoch_s, tz_min)  wall clock from the host; places earlier records in time
    st.boots()                    [(boot, offset or None, last_uptime, estimated)]
    st.set_settings(d) / st.settings
    st.totals()                   (forward, backward, unknown) ever counted, open bin included
    st.today()                    (forward, backward, unknown) of the local day, open bin included
    attach(app)                   plugs a Store into the counting loop (firmware/counting.py)
    st.next_seq, st.saved_seq, st.acked, st.boot, st.sid, st.writes, st.bytes_written
    st.dropped        records lost: the store was full before a sync, or flash writes failed
    st.write_errors   failed saves (flash full or failing): counting goes on in RAM

Records (the unit of sync), little-endian, back to back:
    seq u32 | boot u16 | kind u8 | len u16 | t u32 | payload[len]
    t is the uptime in seconds of that boot; `boots()` gives each boot's wall-clock
    offset (epoch = t + offset) once the host has set the time in it.
    kind 1 BIN: payload forward u16, backward u16, unknown u16, seconds u16
    kind 2 EVENT: payload compact JSON of the event dict without its times
Sequence numbers start at 1 and only grow, across reboots.

Files under root, each written to `<name>.tmp` and renamed over the old one, so a power
cut at any instant leaves either the old or the new file, never half a file:
    s<k>.rs   segment k: b"RS1" | header length u16 | header JSON | records | CRC32 u32
              the newest valid segment's header is the state (next seq, totals, boots,
              days, ack); older segments only contribute their records
    settings.json
A power cut loses at most the steps counted since the last save (saves happen when a
bin closes, at most every `save_every_s`, at every sync and on clean shutdown).
Memory: a 512-byte buffer holds the records not yet saved (a save copies the segment's
saved records from its file, in small chunks, into the new file); segments are read
record by record, never whole, so no big block of heap is ever needed. Loading is in
store_load.py, imported by Store() and dropped right after (set_settings too); the
sync side (read_since, set_time, boots) is in store_io.py, imported for those calls
(the link drops it once a sync has gone quiet).
The settings methods serve boards without a loop that owns settings (tests); on the
board the link keeps settings in the loop's app.settings.
"""
import json
import os
import struct
from binascii import crc32

from micropython import const

BIN_S = const(300)          # bin length, seconds
SEG_BYTES = const(4096)     # record bytes per segment file (one littlefs block)
_TAIL = const(512)          # unsaved record bytes held in RAM (a full one is saved at once)
MAX_SEGS = const(80)        # 80 * 4 KB: over 30 days of full 5-minute bins plus events
_DAYS = const(35)           # daily totals kept
_HDR = const(13)            # record header size
_RESERVE = const(600)       # poll() starts a new segment when less than this is left
_MAGIC = b"RS1"

K_BIN = const(1)
K_EVENT = const(2)

_REC = "<IHBHI"
_BINP = "<HHHH"


def _join(root, name):
    return root + "/" + name if root else name


def _open(name, mode="r"):
    # store_io opens files through here: what replaces this module's `open` applies
    return open(name, mode)


def _io():
    # loading and sync code, imported when needed (see store_io.py); a collection first
    # gives its code the holes the last batches left
    import sys
    if "store_io" not in sys.modules:
        import gc
        gc.collect()
    import store_io
    return store_io


def _drop(*names):
    import gc
    import sys
    for n in names:
        sys.modules.pop(n, None)
    gc.collect()


class Store:
    # the state store_load.load() reads from the newest segment at boot
    next_seq: int
    saved_seq: int
    acked: int
    boot: int
    tz_min: int
    dropped: int
    sid: str
    _k: int
    _tot: list
    _days: list
    _boots: list
    _used: int
    _saved_used: int
    _first: int
    _dirty: bool
    _offset: "int | None"
    _bin: list
    _last_save: int

    def __init__(self, root, clock, settings_defaults=None, save_every_s=120, bin_s=BIN_S):
        self.root = root
        self.clock = clock
        self.save_every_s = save_every_s
        self.bin_s = bin_s
        self.writes = 0           # files written since boot (flash wear figures)
        self.bytes_written = 0
        self.lost_segments = 0    # corrupt segments found at load
        self.write_errors = 0     # saves that failed (flash full or failing)
        self._buf = bytearray(_TAIL)    # the records after the saved ones
        self._scratch = bytearray(256)
        self._rh = bytearray(_HDR)
        self._defaults = dict(settings_defaults or {})
        self.settings = dict(self._defaults)
        # k, first_seq, last_seq of each stored closed segment, one after the other in one
        # flat list: a month of segments costs 12 bytes each, not a list of its own
        self._index = []
        _io()                       # store_load uses store_io's open_seg: collect, load it first
        import store_load
        store_load.load(self)
        _drop("store_load", "store_io")     # loading is done: its code leaves the heap

    # ---- loading ---------------------------------------------------------------------
    # ---- counting --------------------------------------------------------------------
    def add_steps(self, fwd, bwd, unk=0):
        try:
            self._roll(self.clock())
        except MemoryError:
            pass    # no heap to close the bin now: it closes at the next call, these steps in it
        b = self._bin
        b[0] += fwd
        b[1] += bwd
        b[2] += unk

    def event(self, rec, up=None):
        """Store an event dict, dated `up` (uptime s) or else `ago_ms` before now."""
        t = up
        if t is None:
            t = self.clock() - rec.get("ago_ms", 0) // 1000
        p = {}
        for key in rec:
            if key not in ("t", "ago_ms", "start"):
                p[key] = rec[key]
        self._append(K_EVENT, max(0, t), json.dumps(p).encode())

    def poll(self):
        now = self.clock()
        self._roll(now)
        try:
            if self._used and self._used > SEG_BYTES - _RESERVE:
                self._next_segment()    # here, not mid-append: a failed write is retried
            if self._used > self._saved_used and now - self._last_save >= self.save_every_s:
                self.save()
        except OSError:
            # flash full or failing: keep counting in RAM and try again next interval
            self.write_errors += 1
            self._last_save = now

    def _roll(self, now):
        if now >= self._bin_end:
            self._close_bin(now)

    def _start_bin(self, t):
        # bins end on the wall clock's 5-minute grid once it is known
        self._bin_t = t
        self._bin_end = t + self.bin_s - (t + (self._offset or 0)) % self.bin_s

    def _close_bin(self, now):
        b = self._bin
        end = min(now, self._bin_end)
        if b[0] or b[1] or b[2]:
            if not self._append(K_BIN, self._bin_t, struct.pack(_BINP, b[0], b[1], b[2],
                                                                 end - self._bin_t)):
                b[0] = b[1] = b[2] = 0   # could not be stored: not counted in the totals
                self._start_bin(end if now - end < self.bin_s else now)
                return
            t = self._tot
            t[0] += b[0]
            t[1] += b[1]
            t[2] += b[2]
            self._day_add(self._bin_t, b)
            b[0] = b[1] = b[2] = 0
        self._start_bin(end if now - end < self.bin_s else now)

    def _day_key(self, t):
        if self._offset is None:
            return -1   # before the first sync: merged into the day the time gets set
        return (t + self._offset + self.tz_min * 60) // 86400

    def _day_add(self, t, b):
        key = self._day_key(t)
        days = self._days
        for d in days:
            if d[0] == key:
                d[1] += b[0]
                d[2] += b[1]
                d[3] += b[2]
                return
        days.append([key, b[0], b[1], b[2]])
        days.sort()
        del days[:-_DAYS]

    def _append(self, kind, t, payload):
        n = _HDR + len(payload)
        try:
            if self._used + n > SEG_BYTES:
                self._next_segment()
            if self._used - self._saved_used + n > _TAIL:
                self._write_seg()   # RAM holds this much unsaved: to flash first
        except OSError:
            self.write_errors += 1
            self.dropped += 1
            return False
        if n > _TAIL:
            self.dropped += 1       # never happens with the records the loop makes
            return False
        o = self._used - self._saved_used
        struct.pack_into(_REC, self._buf, o, self.next_seq, self.boot, kind, len(payload), t)
        self._buf[o + _HDR:o + n] = payload
        if not self._first:
            self._first = self.next_seq
        self._used += n
        self.next_seq += 1
        return True

    def _next_segment(self):
        if self._used > self._saved_used or self._dirty:
            self._write_seg()     # the full segment must be on flash before it is left
        if self._first:
            self._index += (self._k, self._first, self.next_seq - 1)
        self._k += 1
        self._used = self._saved_used = 0
        self._first = 0
        self._dirty = True

    # ---- saving ----------------------------------------------------------------------
    def save(self):
        if self._used == self._saved_used and not self._dirty:
            return False
        self._write_seg()
        self._prune()
        return True

    def cut(self):
        """Close the open bin and save: everything counted so far becomes syncable."""
        now = self.clock()
        self._close_bin(now)
        self.save()

    def close(self):
        self.cut()

    def _write_seg(self):
        now = self.clock()
        for b in self._boots:
            if b[0] == self.boot:
                b[1] = self._offset
                b[2] = now
        hdr = json.dumps({"seq": self.next_seq, "ack": self.acked, "boot": self.boot,
                          "tot": self._tot, "days": self._days, "boots": self._boots,
                          "tz": self.tz_min, "drop": self.dropped,
                          "sid": self.sid, "first": self._first}).encode()
        tail = memoryview(self._buf)[:self._used - self._saved_used]
        head = _MAGIC + struct.pack("<H", len(hdr))
        name = _join(self.root, "s%d.rs" % self._k)
        try:
            with open(name + ".tmp", "wb") as f:
                f.write(head)       # the header JSON is written as it is: no joined copy
                f.write(hdr)
                crc = crc32(hdr, crc32(head))
                if self._saved_used:
                    crc = self._copy_saved(name, f, crc)
                f.write(tail)
                f.write(struct.pack("<I", crc32(tail, crc) & 0xFFFFFFFF))
        except ValueError:
            # the saved part of this segment went bad on flash: its records are lost
            # (counted); what RAM holds goes on in a new segment
            os.remove(name + ".tmp")
            os.remove(name)
            self.lost_segments += 1
            if self._first:
                self.dropped += self.saved_seq - self._first + 1
            self._k += 1
            self._used -= self._saved_used
            self._saved_used = 0
            self._first = self.saved_seq + 1 if self._used else 0
            return self._write_seg()
        os.rename(name + ".tmp", name)
        self.writes += 1
        self.bytes_written += len(head) + len(hdr) + self._used + 4
        self._saved_used = self._used
        self.saved_seq = self.next_seq - 1
        self._dirty = False
        self._last_save = now

    def _copy_saved(self, name, out, crc):
        """Copies the saved records of segment file `name` into `out` through the small
        scratch buffer; returns the new file's CRC so far. The old file's own CRC is
        checked on the way: damaged records are never sealed under a new CRC."""
        sc = self._scratch
        mv = memoryview(sc)
        with open(name, "rb") as f:
            head = f.read(5)
            if len(head) != 5 or head[:3] != _MAGIC:
                raise ValueError
            old = crc32(head)
            left = struct.unpack("<H", head[3:5])[0]
            while left:             # the old header: checked, not copied
                got = f.readinto(mv[:min(left, len(sc))])
                if not got:
                    raise ValueError
                old = crc32(mv[:got], old)
                left -= got
            left = self._saved_used
            while left:
                got = f.readinto(mv[:min(left, len(sc))])
                if not got:
                    raise ValueError
                old = crc32(mv[:got], old)
                crc = crc32(mv[:got], crc)
                out.write(mv[:got])
                left -= got
            tail = f.read(4)
            if len(tail) != 4 or struct.unpack("<I", tail)[0] != old & 0xFFFFFFFF:
                raise ValueError
        return crc

    def _prune(self):
        idx = self._index
        while len(idx) >= 3 * MAX_SEGS:
            k, first, last = idx[0], idx[1], idx[2]
            del idx[:3]
            if last > self.acked:
                # full before the host fetched these: oldest go first, and the loss is counted
                self.dropped += last - max(first - 1, self.acked)
                self._dirty = True
            try:
                os.remove(_join(self.root, "s%d.rs" % k))
            except OSError:
                pass

    # ---- sync ------------------------------------------------------------------------
    def first_seq(self):
        if self._index:
            return self._index[1]
        return self._first or self.next_seq

    def read_since(self, n, buf):
        """Saved records with seq > n, whole ones only, packed into buf: (count, nbytes)."""
        return _io().read_since(self, n, buf)

    def ack(self, n):
        n = min(n, self.saved_seq)
        if n > self.acked:
            self.acked = n
            self._dirty = True

    def set_time(self, epoch_s, tz_min=0):
        """Wall clock from the host; places this boot's earlier records in time."""
        _io().set_time(self, epoch_s, tz_min)

    def boots(self):
        """Each stored boot with its offset (epoch = uptime + offset); a boot the host never
        set the time in is placed just before the next one began (estimated=True)."""
        return _io().boots(self)

    # ---- settings --------------------------------------------------------------------
    def set_settings(self, new):
        """Checks every key and type first; raises ValueError naming the bad one."""
        import store_load       # rare: only boards without the counting loop get here
        try:
            store_load.set_settings(self, new)
        finally:
            _drop("store_load")

    # ---- figures ---------------------------------------------------------------------
    def totals(self):
        t = self._tot
        b = self._bin
        return (t[0] + b[0], t[1] + b[1], t[2] + b[2])

    def today(self):
        key = self._day_key(self.clock())
        f = b_ = u = 0
        for d in self._days:
            if d[0] == key:
                f, b_, u = d[1], d[2], d[3]
        b = self._bin
        return (f + b[0], b_ + b[1], u + b[2])


class _Hooks:
    """The store's listener on the counting loop, and its clock: seconds since boot from
    time.ticks_ms, carried across its wrap-around (the loop polls every batch, far more
    often than the few days a wrap takes)."""
    st: "Store"             # set by attach() once the store, which needs the clock, exists

    def __init__(self, time_mod):
        self._time = time_mod
        self._t = time_mod.ticks_ms()
        self._ms = 0

    def __call__(self):
        tm = self._time
        now = tm.ticks_ms()
        self._ms += tm.ticks_diff(now, self._t)
        self._t = now
        return self._ms // 1000

    def on_steps(self, idx, dirs, k, t_ms):
        f = b = u = 0
        for i in range(k):
            d = dirs[i]
            if d == 1:
                f += 1
            elif d == 2:
                b += 1
            else:
                u += 1
        self.st.add_steps(f, b, u)

    def on_batch(self, t_ms):
        self.st.poll()

    def on_record(self, rec):
        st = self.st
        up = None
        t = rec.get("t")
        if t is not None:
            # the loop's records carry ticks_ms: date them by how long ago that was
            up = self() - self._time.ticks_diff(self._time.ticks_ms(), t) // 1000
        st.event(rec, up)

    def on_shutdown(self):
        self.st.close()


def attach(app):
    import time
    # board.json may shorten the save interval and the bins (tests of power cuts
    # during writes); the defaults are what a board needs
    cfg = app.cfg
    hooks = _Hooks(time)
    st = Store("data", hooks, save_every_s=cfg.get("store_save_s", 120),
               bin_s=cfg.get("store_bin_s", BIN_S))
    hooks.st = st
    st.event({"type": "boot", "board": app.board_name})
    app.add_listener(hooks)
    return st
