"""The store's sync side: needed while a host syncs (and by store_load at boot), not between.

    open_seg(st, k, parse=True)      (file at the records, header, records length) or None
    read_since(st, n, buf), set_time(st, epoch_s, tz_min), boots(st)
                                     what the Store methods of the same names do

Store (store.py) imports this module for those calls only; the link drops it when the
host has gone quiet, so its code takes no heap between syncs.
File operations go through the store module's `os` and `_open`, as the store's own do.
"""
import json
import struct
from binascii import crc32

from micropython import const

import store as _s

_HDR = const(13)            # record header size (as store.py)


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


def read_since(st, n, buf):
    """Saved records with seq > n, whole ones only, packed into buf: (count, nbytes)."""
    cap = len(buf)
    used = 0
    count = 0
    idx = st._index             # k, first, last per segment (store.py)
    for i in range(0, len(idx), 3):
        if idx[i + 2] <= n:
            continue
        c, used, full = _read_seg(st, idx[i], n, buf, used, cap)
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
