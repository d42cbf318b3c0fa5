"""Samples for the emulated IMUs: a trace file (retrostep-trace/1) read line by line.

    src = TraceSource(path, end="exit")     end: "exit" (stop), "rest" (hold the last
                                            accelerometer reading, gyro 0), "loop"
    ok = src.next(vals)                     vals: list of 6 floats, ax ay az in g,
                                            gx gy gz in dps (0 without gyro columns)
    src.count                               samples handed out
    RestSource()                            a device lying still, flat (1 g on +z)

Lines are read one at a time, so a day-long trace never sits in the 64 KB heap. The
sample times are not used: the chip hands out one line per output period of its own.
"""


class TraceSource:
    def __init__(self, path, end="exit"):
        self.path = path
        self.end = end
        self.meta = {}
        self.count = 0
        self.ended = False
        self._f = open(path)
        self._ncol = 3
        self._start()

    def _start(self):
        f = self._f
        while True:
            line = f.readline()
            if not line:
                raise ValueError("%s: no column header line (t_ms,ax,ay,az...)" % self.path)
            if line.startswith("#"):
                k, _, v = line[1:].partition(":")
                self.meta[k.strip()] = v.strip()
                continue
            if line.strip():
                cols = line.strip().split(",")
                if cols[0] != "t_ms" or len(cols) not in (4, 7):
                    raise ValueError("%s: unexpected columns %s" % (self.path, line.strip()))
                self._ncol = len(cols) - 1
                return

    def next(self, vals):
        line = self._f.readline()
        while line and (line[0] == "#" or line[0] == "\n"):
            line = self._f.readline()
        if not line:
            if self.end == "loop":
                self._f.seek(0)
                self._start()
                return self.next(vals)
            self.ended = True
            if self.end == "rest":
                vals[3] = vals[4] = vals[5] = 0.0
                return True
            return False
        p = line.split(",")
        for k in range(self._ncol):
            vals[k] = float(p[k + 1])
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
