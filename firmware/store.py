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
Memory: one 4 KB segment buffer; older segments are read record by record, never whole.
The settings methods serve boards without a loop that owns settings (tests); on the
board the link keeps settings in the loop's app.settings.
"""
import json
import os
import struct
from binascii import crc32, hexlify

from micropython import const

BIN_S = const(300)          # bin length, seconds
SEG_BYTES = const(4096)     # record bytes per segment file (one littlefs block)
MAX_SEGS = const(80)        # 80 * 4 KB: over 30 days of full 5-minute bins plus events
_DAYS = const(35)           # daily totals kept
_BOOTS = const(16)          # boots whose wall-clock offset is kept
_HDR = const(13)            # record header size
_RESERVE = const(600)       # poll() starts a new segment when less than this is left
_MAGIC = b"RS1"

K_BIN = const(1)
K_EVENT = const(2)

_REC = "<IHBHI"
_BINP = "<HHHH"


def _join(root, name):
    return root + "/" + name if root else name


class Store:
    def __init__(self, root, clock, settings_defaults=None, save_every_s=120, bin_s=BIN_S):
        self.root = root
        self.clock = clock
        self.save_every_s = save_every_s
        self.bin_s = bin_s
        self.writes = 0           # files written since boot (flash wear figures)
        self.bytes_written = 0
        self.lost_segments = 0    # corrupt segments found at load
        self.write_errors = 0     # saves that failed (flash full or failing)
        self._buf = bytearray(SEG_BYTES)
        self._scratch = bytearray(256)
        self._rh = bytearray(_HDR)
        self._defaults = dict(settings_defaults or {})
        self.settings = dict(self._defaults)
        self._load()

    # ---- loading ---------------------------------------------------------------------
    def _segs(self):
        ks = []
        for name in os.listdir(self.root):
            if name.endswith(".tmp"):
                # a save that the power cut interrupted: the old file is still whole
                os.remove(_join(self.root, name))
            elif name[0] == "s" and name.endswith(".rs"):
                try:
                    ks.append(int(name[1:-3]))
                except ValueError:
                    pass
        ks.sort()
        return ks

    def _open_seg(self, k):
        """(file positioned at the records, header dict, records length), or None when the
        segment is damaged (bad magic, size or CRC). Reads in small chunks: no big buffer."""
        name = _join(self.root, "s%d.rs" % k)
        try:
            size = os.stat(name)[6]
            f = open(name, "rb")
        except OSError:
            return None
        try:
            head = f.read(5)
            if len(head) != 5 or head[:3] != _MAGIC:
                raise ValueError
            hl = struct.unpack("<H", head[3:5])[0]
            n = size - 9 - hl
            if n < 0:
                raise ValueError
            crc = crc32(head)
            raw = f.read(hl)
            crc = crc32(raw, crc)
            hdr = json.loads(raw)
            sc = self._scratch
            left = n
            while left:
                got = f.readinto(memoryview(sc)[:min(left, len(sc))])
                if not got:
                    raise ValueError
                crc = crc32(memoryview(sc)[:got], crc)
                left -= got
            tail = f.read(4)
            if len(tail) != 4 or struct.unpack("<I", tail)[0] != crc & 0xFFFFFFFF:
                raise ValueError
            f.seek(5 + hl)
            return f, hdr, n
        except (ValueError, OSError):
            f.close()
            return None

    def _load(self):
        try:
            os.stat(self.root)
        except OSError:
            os.mkdir(self.root)
        ks = self._segs()
        got = None
        while ks:
            got = self._open_seg(ks[-1])
            if got:
                break
            # the newest segment is damaged (flash fault): fall back to the one before
            os.remove(_join(self.root, "s%d.rs" % ks.pop()))
            self.lost_segments += 1
        self._index = []          # [k, first_seq, last_seq] of stored closed segments
        for k in ks[:-1]:
            old = self._open_seg(k)
            if old is None:
                os.remove(_join(self.root, "s%d.rs" % k))
                self.lost_segments += 1
                continue
            old[0].close()
            h = old[1]
            if h.get("first"):
                self._index.append([k, h["first"], h["seq"] - 1])
        if got:
            f, h, n = got
            try:
                f.readinto(memoryview(self._buf)[:n])
            finally:
                f.close()
            self._k = ks[-1]
            self.next_seq = h["seq"]
            self.acked = h["ack"]
            self.boot = (h["boot"] + 1) & 0xFFFF
            self._tot = h["tot"]
            self._days = h["days"]
            self._boots = h["boots"]
            self.tz_min = h["tz"]
            self.dropped = h["drop"]
            self.sid = h["sid"]
            self._used = n
            self._first = h.get("first", 0)
        else:
            self._k = 0
            self.next_seq = 1
            self.acked = 0
            self.boot = 1
            self._tot = [0, 0, 0]
            self._days = []
            self._boots = []
            self.tz_min = 0
            self.dropped = 0
            # names this store's sequence: a wiped store starts a new one
            self.sid = hexlify(os.urandom(4)).decode()
            self._used = 0
            self._first = 0
        self._saved_used = self._used
        self.saved_seq = self.next_seq - 1
        self._dirty = True        # the new boot number and its table entry
        self._offset = None       # epoch - uptime of this boot, once the host tells
        self._boots.append([self.boot, None, 0])
        del self._boots[:-_BOOTS]
        now = self.clock()
        self._bin = [0, 0, 0]
        self._start_bin(now)
        self._last_save = now
        self._load_settings()

    # ---- counting --------------------------------------------------------------------
    def add_steps(self, fwd, bwd, unk=0):
        self._roll(self.clock())
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
        if self._used + n > SEG_BYTES:
            try:
                self._next_segment()
            except OSError:
                self.write_errors += 1
                self.dropped += 1
                return False
        struct.pack_into(_REC, self._buf, self._used, self.next_seq, self.boot, kind,
                         len(payload), t)
        self._buf[self._used + _HDR:self._used + n] = payload
        if not self._first:
            self._first = self.next_seq
        self._used += n
        self.next_seq += 1
        return True

    def _next_segment(self):
        if self._used > self._saved_used or self._dirty:
            self._write_seg()     # the full segment must be on flash before it is left
        if self._first:
            self._index.append([self._k, self._first, self.next_seq - 1])
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
        mv = memoryview(self._buf)[:self._used]
        head = _MAGIC + struct.pack("<H", len(hdr)) + hdr
        crc = crc32(mv, crc32(head)) & 0xFFFFFFFF
        name = _join(self.root, "s%d.rs" % self._k)
        with open(name + ".tmp", "wb") as f:
            f.write(head)
            f.write(mv)
            f.write(struct.pack("<I", crc))
        os.rename(name + ".tmp", name)
        self.writes += 1
        self.bytes_written += len(head) + self._used + 4
        self._saved_used = self._used
        self.saved_seq = self.next_seq - 1
        self._dirty = False
        self._last_save = now

    def _prune(self):
        idx = self._index
        while len(idx) >= MAX_SEGS:
            k, first, last = idx.pop(0)
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
            return self._index[0][1]
        return self._first or self.next_seq

    def read_since(self, n, buf):
        """Saved records with seq > n, whole ones only, packed into buf: (count, nbytes)."""
        cap = len(buf)
        used = 0
        count = 0
        for k, first, last in self._index:
            if last <= n:
                continue
            got = self._open_seg(k)
            if got is None:
                continue
            f = got[0]
            try:
                c, used, full = self._copy_file(f, got[2], n, buf, used, cap)
            finally:
                f.close()
            count += c
            if full:
                return count, used
        c, used, _ = self._copy(self._buf, self._saved_used, n, buf, used, cap)
        return count + c, used

    def _copy_file(self, f, end, n, buf, used, cap):
        # record by record, straight into buf: no segment-sized read
        rh = self._rh
        mv = memoryview(buf)
        i = 0
        c = 0
        while i + _HDR <= end:
            f.readinto(rh)
            seq, _, _, ln, _ = struct.unpack(_REC, rh)
            sz = _HDR + ln
            if n < seq <= self.saved_seq:
                if used + sz > cap:
                    return c, used, True
                mv[used:used + _HDR] = rh
                f.readinto(mv[used + _HDR:used + sz])
                used += sz
                c += 1
            else:
                f.seek(ln, 1)
            i += sz
        return c, used, False

    def _copy(self, src, end, n, buf, used, cap):
        i = 0
        c = 0
        while i + _HDR <= end:
            seq, _, _, ln, _ = struct.unpack_from(_REC, src, i)
            sz = _HDR + ln
            if n < seq <= self.saved_seq:
                if used + sz > cap:
                    return c, used, True
                buf[used:used + sz] = src[i:i + sz]
                used += sz
                c += 1
            i += sz
        return c, used, False

    def ack(self, n):
        n = min(n, self.saved_seq)
        if n > self.acked:
            self.acked = n
            self._dirty = True

    def set_time(self, epoch_s, tz_min=0):
        now = self.clock()
        first = self._offset is None
        self._offset = epoch_s - now
        self.tz_min = tz_min
        self._start_bin(self._bin_t)   # the open bin now ends on the wall clock's grid
        if first:
            today = self._day_key(now)
            for d in self._days:
                if d[0] == -1:
                    d[0] = today
            merged = []
            for d in sorted(self._days):
                if merged and merged[-1][0] == d[0]:
                    m = merged[-1]
                    m[1] += d[1]
                    m[2] += d[2]
                    m[3] += d[3]
                else:
                    merged.append(d)
            self._days = merged
        self._dirty = True

    def boots(self):
        """Each stored boot with its offset (epoch = uptime + offset); a boot the host never
        set the time in is placed just before the next one began (estimated=True)."""
        out = []
        nxt = None
        for b, off, last in reversed(self._boots):
            if b == self.boot:
                off = self._offset
                last = self.clock()
            est = False
            if off is None and nxt is not None:
                off = nxt - last
                est = True
            out.append((b, off, last, est))
            nxt = off
        out.reverse()
        return out

    # ---- settings --------------------------------------------------------------------
    def _load_settings(self):
        try:
            with open(_join(self.root, "settings.json")) as f:
                saved = json.load(f)
        except (OSError, ValueError):
            return
        for k in saved:
            if k in self._defaults:
                self.settings[k] = saved[k]

    def set_settings(self, new):
        """Checks every key and type first; raises ValueError naming the bad one."""
        for k in new:
            if k not in self._defaults:
                raise ValueError("unknown setting " + str(k))
            if type(new[k]) is not type(self._defaults[k]):
                raise ValueError("setting %s must be %s" % (k, type(self._defaults[k]).__name__))
        for k in new:
            self.settings[k] = new[k]
        name = _join(self.root, "settings.json")
        data = json.dumps(self.settings)
        with open(name + ".tmp", "w") as f:
            f.write(data)
        os.rename(name + ".tmp", name)
        self.writes += 1
        self.bytes_written += len(data)

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


class Uptime:
    """Seconds since boot from time.ticks_ms, carried across its wrap-around (call it at
    least every few days: the loop polls the store every batch)."""

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


class _Hooks:
    """The store's listener on the counting loop."""

    def __init__(self, st, time_mod):
        self.st = st
        self._time = time_mod

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
            up = st.clock() - self._time.ticks_diff(self._time.ticks_ms(), t) // 1000
        st.event(rec, up)

    def on_shutdown(self):
        self.st.close()


def attach(app):
    import time
    # board.json may shorten the save interval and the bins (tests of power cuts
    # during writes); the defaults are what a board needs
    cfg = app.cfg
    st = Store("data", Uptime(time), save_every_s=cfg.get("store_save_s", 120),
               bin_s=cfg.get("store_bin_s", BIN_S))
    st.event({"type": "boot", "board": app.board_name})
    app.add_listener(_Hooks(st, time))
    return st
