"""The store's loading at boot: the newest valid segment's state, the index of the older
ones, the settings. Imported by Store() and dropped right after (see store.py); also by
Store.set_settings, which only boards without the counting loop use (the loop keeps the
settings itself).

    load(st)                  fills the Store's state (store.Store lists it)
    set_settings(st, d)       what Store.set_settings does
"""
import json
from binascii import hexlify

from micropython import const

import store as _s

_BOOTS = const(16)          # boots whose wall-clock offset is kept


def load(st):
    from store_io import open_seg
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
    # k, first_seq, last_seq of each stored closed segment (flat): made at its full size
    # first, so that it does not grow in steps among the headers' garbage (a fragmented heap)
    idx = [0] * (3 * (len(ks) - 1)) if ks else []
    j = 0
    for k in ks[:-1]:
        old = open_seg(st, k)
        if old is None:
            _s.os.remove(_s._join(st.root, "s%d.rs" % k))
            st.lost_segments += 1
            continue
        old[0].close()
        h = old[1]
        if h.get("first"):
            idx[j] = k
            idx[j + 1] = h["first"]
            idx[j + 2] = h["seq"] - 1
            j += 3
    del idx[j:]
    st._index = idx
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
    _settings(st)



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



def _settings(st):
    try:
        with _s._open(_s._join(st.root, "settings.json")) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return
    for k in saved:
        if k in st._defaults:
            st.settings[k] = saved[k]


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
