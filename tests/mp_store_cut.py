"""Power cuts at chosen file operations of firmware/store.py, under the Unix port.

    micropython mp_store_cut.py ROOT run KILL_AT   runs the fixed plan; at file operation
                                                  number KILL_AT (writes cut half way) the
                                                  process SIGKILLs itself; -1: never
    micropython mp_store_cut.py ROOT check        loads the store, checks it, prints it

`run` prints "B f b u seq" before each segment write and "A f b u seq" after it, and
"N points" at the end; `check` prints "C f b u saved_seq sum_f sum_b sum_u nrec gaps".
"""
import os as _os
import sys

import store

ROOT = sys.argv[1]
MODE = sys.argv[2]
KILL = int(sys.argv[3]) if len(sys.argv) > 3 else -1
_pt = [0]
_now = [0]


def point(f=None, data=None):
    _pt[0] += 1
    if _pt[0] == KILL:
        if f is not None and data:
            f.write(data[:len(data) // 2])
            f.flush()
        sys.stdout.flush() if hasattr(sys.stdout, "flush") else None
        _os.system("kill -9 $PPID")
        while True:
            pass


class _File:
    def __init__(self, f):
        self.f = f

    def write(self, data):
        point(self.f, data)
        return self.f.write(data)

    def read(self, *a):
        return self.f.read(*a)

    def flush(self):
        self.f.flush()

    def close(self):
        self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.f.close()


def _open(name, mode="r"):
    f = open(name, mode)
    if "w" in mode:
        return _File(f)
    return f


class _Os:
    def listdir(self, p):
        return _os.listdir(p)

    def stat(self, p):
        return _os.stat(p)

    def mkdir(self, p):
        return _os.mkdir(p)

    def urandom(self, n):
        return _os.urandom(n)

    def rename(self, a, b):
        point()
        _os.rename(a, b)
        point()

    def remove(self, p):
        point()
        _os.remove(p)


store.open = _open
store.os = _Os()


class CutStore(store.Store):
    def _write_seg(self):
        t = self._tot
        print("B", t[0], t[1], t[2], self.next_seq - 1)
        super()._write_seg()
        print("A", t[0], t[1], t[2], self.next_seq - 1)


def clock():
    return _now[0]


st = CutStore(ROOT, clock, settings_defaults={"retro_goal": 400}, save_every_s=100)
if MODE == "run":
    for i in range(400):
        _now[0] += 37
        st.add_steps(i % 7, i % 3, i % 2)
        if i % 9 == 0:
            st.event({"type": "retro_session", "ago_ms": 5000, "steps": i, "dur_ms": 1000})
        if i % 40 == 17:
            st.set_settings({"retro_goal": 300 + i})
        if i % 23 == 5:
            st.cut()
        st.poll()
    st.close()
    print("N", _pt[0])
else:
    buf = bytearray(1024)
    n = 0
    sf = sb = su = 0
    nrec = 0
    gaps = 0
    prev = st.first_seq() - 1
    while True:
        c, used = st.read_since(n, buf)
        if not c:
            break
        i = 0
        while i < used:
            seq, boot, kind, ln, t = store.struct.unpack_from("<IHBHI", buf, i)
            if seq != prev + 1:
                gaps += 1
            prev = seq
            if kind == 1:
                f, b, u, d = store.struct.unpack_from("<HHHH", buf, i + 13)
                sf += f
                sb += b
                su += u
            nrec += 1
            n = seq
            i += 13 + ln
    t = st._tot
    print("C", t[0], t[1], t[2], st.saved_seq, sf, sb, su, nrec, gaps, st.first_seq(),
          st.settings["retro_goal"])
