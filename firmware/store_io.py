"""The store's loading and sync side: needed at boot and while a host syncs, not between.

    load(st)                         reads the newest segment's state at boot
    open_seg(st, k, parse=True)      (file at the records, header, records length) or None
    read_since(st, n, buf), set_time(st, epoch_s, tz_min), boots(st), set_settings(st, d)
                                     what the Store methods of the same names do

Store (store.py) imports this module for those calls only and drops it after loading;
the link drops it when the host has gone quiet, so its code takes no heap between syncs.
File operations go through the store module's `os` and `_open`, as the store's own do.
"""
import json
import struct
from binascii import crc32, hexlify

from micropython import const

import store as _s

_HDR = const(13)            # record header size (as store.py)
_BOOTS = const(16)          # boots whose wall-clock offset is kept


def load(st):
    try:
        _s.os.stat(st.root)
    except OSError:
        _s.os.mkdir(st.root)
    ks = _segs(st)
    got = None
    while ks:
        got = open_seg(st, ks[-1])
        if got:
            break
        # the newest segment is damaged (flash fault): fall back to the one before
        _s.os.remove(_s._join(st.root, "s%d.rs" % ks.pop()))
        st.lost_segments += 1
    st._index = []          # [k, first_seq, last_seq] of stored closed segments
    for k in ks[:-1]:
        old = open_seg(st, k)
        if old is None:
            _s.os.remove(_s._join(st.root, "s%d.rs" % k))
            st.lost_segments += 1
            continue
        old[0].close()
        h = old[1]
        if h.get("first"):
            st._index.append([k, h["first"], h["seq"] - 1])
    if got:
        f, h, n = got
        f.close()               # its records stay in the file: saves copy them over
        st._k = ks[-1]
        st.next_seq = h["seq"]
        st.acked = h["ack"]
        st.boot = (h["boot"] + 1) & 0xFFFF
        st._tot = h["tot"]
        st._days = h["days"]
        st._boots = h["boots"]
        st.tz_min = h["tz"]
        st.dropped = h["drop"]
        st.sid = h["sid"]
        st._used = n
        st._first = h.get("first", 0)
    else:
        st._k = 0
        st.next_seq = 1
        st.acked = 0
        st.boot = 1
        st._tot = [0, 0, 0]
        st._days = []
        st._boots = []
        st.tz_min = 0
        st.dropped = 0
        # names this store's sequence: a wiped store starts a new one
        st.sid = hexlify(_s.os.urandom(4)).decode()
        st._used = 0
        st._first = 0
    st._saved_used = st._used
    st.saved_seq = st.next_seq - 1
    st._dirty = True        # the new boot number and its table entry
    st._offset = None       # epoch - uptime of this boot, once the host tells
    st._boots.append([st.boot, None, 0])
    del st._boots[:-_BOOTS]
    now = st.clock()
    st._bin = [0, 0, 0]
    st._start_bin(now)
    st._last_save = now
    load_settings(st)


def _segs(st):
    ks = []
    for name in _s.os.listdir(st.root):
        if name.endswith(".tmp"):
            # a save that the power cut interrupted: the old file is still whole
            _s.os.remove(_s._join(st.root, name))
        elif name[0] == "s" and name.endswith(".rs"):
            try:
                ks.append(int(name[1:-3]))
            except ValueError:
                pass
    ks.sort()
    return ks


def open_seg(st, k, parse=True):
    """(file positioned at the records, header dict (None unless `parse`), records
    length), or None when the segment is damaged (bad magic, size or CRC). Reads in
    small chunks: no big buffer."""
    name = _s._join(st.root, "s%d.rs" % k)
    try:
        size = _s.os.stat(name)[6]
        f = _s._open(name, "rb")
    except OSError:
        return None
    try:
        head = f.read(5)
        if len(head) != 5 or head[:3] != _s._MAGIC:
            raise ValueError
        hl = struct.unpack("<H", head[3:5])[0]
        n = size - 9 - hl
        if n < 0:
            raise ValueError
        crc = crc32(head)
        hdr = None
        if parse:
            raw = f.read(hl)
            crc = crc32(raw, crc)
            hdr = json.loads(raw)
            left = n
        else:
            left = hl + n
        sc = st._scratch
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


def load_settings(st):
    try:
        with _s._open(_s._join(st.root, "settings.json")) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return
    for k in saved:
        if k in st._defaults:
            st.settings[k] = saved[k]


def read_since(st, n, buf):
    """Saved records with seq > n, whole ones only, packed into buf: (count, nbytes)."""
    cap = len(buf)
    used = 0
    count = 0
    for k, first, last in st._index:
        if last <= n:
            continue
        c, used, full = _read_seg(st, k, n, buf, used, cap)
        count += c
        if full:
            return count, used
    if st._saved_used:
        c, used, _ = _read_seg(st, st._k, n, buf, used, cap)
        count += c
    return count, used


def _read_seg(st, k, n, buf, used, cap):
    got = open_seg(st, k, False)
    if got is None:
        return 0, used, False
    f = got[0]
    try:
        return _copy_file(st, f, got[2], n, buf, used, cap)
    finally:
        f.close()


def _copy_file(st, f, end, n, buf, used, cap):
    # record by record, straight into buf: no segment-sized read
    rh = st._rh
    mv = memoryview(buf)
    i = 0
    c = 0
    while i + _HDR <= end:
        f.readinto(rh)
        seq, _, _, ln, _ = struct.unpack(_s._REC, rh)
        sz = _HDR + ln
        if n < seq <= st.saved_seq:
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


def set_time(st, epoch_s, tz_min=0):
    now = st.clock()
    first = st._offset is None
    st._offset = epoch_s - now
    st.tz_min = tz_min
    st._start_bin(st._bin_t)   # the open bin now ends on the wall clock's grid
    if first:
        today = st._day_key(now)
        for d in st._days:
            if d[0] == -1:
                d[0] = today
        merged = []
        for d in sorted(st._days):
            if merged and merged[-1][0] == d[0]:
                m = merged[-1]
                m[1] += d[1]
                m[2] += d[2]
                m[3] += d[3]
            else:
                merged.append(d)
        st._days = merged
    st._dirty = True


def boots(st):
    """Each stored boot with its offset (epoch = uptime + offset); a boot the host never
    set the time in is placed just before the next one began (estimated=True)."""
    out = []
    nxt = None
    for b, off, last in reversed(st._boots):
        if b == st.boot:
            off = st._offset
            last = st.clock()
        est = False
        if off is None and nxt is not None:
            off = nxt - last
            est = True
        out.append((b, off, last, est))
        nxt = off
    out.reverse()
    return out


def set_settings(st, new):
    """Checks every key and type first; raises ValueError naming the bad one."""
    for k in new:
        if k not in st._defaults:
            raise ValueError("unknown setting " + str(k))
        if type(new[k]) is not type(st._defaults[k]):
            raise ValueError("setting %s must be %s" % (k, type(st._defaults[k]).__name__))
    for k in new:
        st.settings[k] = new[k]
    name = _s._join(st.root, "settings.json")
    data = json.dumps(st.settings)
    with _s._open(name + ".tmp", "w") as f:
        f.write(data)
    _s.os.rename(name + ".tmp", name)
    st.writes += 1
    st.bytes_written += len(data)
