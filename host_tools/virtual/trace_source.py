"""Samples for the emulated IMUs: a trace file (retrostep-trace/1) read line by line.

    src = TraceSource(path, end="exit")     end: "exit" (stop), "rest" (hold the last
                                            accelerometer reading, gyro 0), "loop"
    ok = src.next(vals)                     vals: list of 6 floats, ax ay az in g,
                                            gx gy gz in dps (0 without gyro columns)
    src.count                               samples handed out
    RestSource()                            a device lying still, flat (1 g on +z)

Lines are read through a 4 KB buffer made at start-up, so a day-long trace never sits in
the heap and a sample allocates nothing but its float values. The sample times are not
used: the chip hands out one line per output period of its own.
"""


class TraceSource:
    def __init__(self, path, end="exit"):
        self.path = path
        self.end = end
        self.meta = {}
        self.count = 0
        self.ended = False
        self._f = open(path, "rb")
        self._ncol = 3
        # the file is read through this buffer, made now (before the firmware's heap
        # budget is set): a sample's parsing allocates only its small float objects,
        # never a line buffer that a fragmented heap could refuse
        self._buf = bytearray(4096)
        self._mv = memoryview(self._buf)
        self._len = 0
        self._pos = 0
        self._start()

    def _line(self):
        """(start, end) of the next line in the buffer, refilled as needed; None at the end."""
        b = self._buf
        while True:
            e = b.find(b"\n", self._pos, self._len)
            if e >= 0:
                a = self._pos
                self._pos = e + 1
                return a, e
            rest = self._len - self._pos
            if rest >= len(b):
                raise ValueError("%s: a line longer than %d bytes" % (self.path, len(b)))
            self._mv[0:rest] = self._mv[self._pos:self._len]
            self._pos = 0
            self._len = rest
            got = self._f.readinto(self._mv[rest:])
            if not got:
                if rest:            # a last line without its newline
                    self._buf[rest] = 10
                    self._len = rest + 1
                    continue
                return None
            self._len = rest + got

    def _start(self):
        while True:
            got = self._line()
            if got is None:
                raise ValueError("%s: no column header line (t_ms,ax,ay,az...)" % self.path)
            line = str(bytes(self._mv[got[0]:got[1]]), "utf-8").strip()
            if line.startswith("#"):
                k, _, v = line[1:].partition(":")
                self.meta[k.strip()] = v.strip()
                continue
            if line:
                cols = line.split(",")
                if cols[0] != "t_ms" or len(cols) not in (4, 7):
                    raise ValueError("%s: unexpected columns %s" % (self.path, line))
                self._ncol = len(cols) - 1
                return

    def next(self, vals):
        b = self._buf
        got = self._line()
        while got is not None and (got[0] == got[1] or b[got[0]] == 35 or b[got[0]] == 13):
            got = self._line()      # blank lines and comments ("#")
        if got is None:
            if self.end == "loop":
                self._f.seek(0)
                self._len = self._pos = 0
                self._start()
                return self.next(vals)
            self.ended = True
            if self.end == "rest":
                vals[3] = vals[4] = vals[5] = 0.0
                return True
            return False
        a, e = got
        a = b.find(b",", a, e) + 1         # past the time column
        mv = self._mv
        for k in range(self._ncol):
            c = b.find(b",", a, e)
            if c < 0:
                c = e
            vals[k] = float(mv[a:c])
            a = c + 1
        self.count += 1
        return True


class RestSource:
    ended = False
    count = 0
    meta = {}

    def next(self, vals):
        vals[0] = vals[1] = vals[3] = vals[4] = vals[5] = 0.0
        vals[2] = 1.0
        self.count += 1
        return True
