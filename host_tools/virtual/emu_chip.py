"""What the emulated IMUs share: a register file, a byte FIFO, and a sample clock.

A chip makes one sample per output period of the rate its registers select, taking the
next values from its source (trace_source), converting them to counts at the selected
range (rounded, clipped to int16) and, while its FIFO collects, appending them in the
chip's own byte layout. Time comes from the sim clock (`time.now_us()`), so samples
appear while the firmware sleeps, exactly as on a board.

Subclasses define: reset(), period_us(), collecting(), pack(vals) -> frame length in
self._fb, read_reg(reg), write_reg(reg, val), is_fifo_reg(reg), fifo_filler(i),
int_level(), int_due_us(now_us) and the attribute `overflow_policy`:
"oldest" (a full FIFO drops its oldest frame) or "newest" (it drops the new one).
"""
import math

import time


def counts(v, lsb):
    c = math.floor(v * lsb + 0.5)
    if c > 32767:
        return 32767
    if c < -32768:
        return -32768
    return c


class EmuChip:
    name = "?"
    overflow_policy = "oldest"

    def __init__(self, addr, source, fifo_bytes):
        self.addr = addr
        self.source = source
        self.regs = bytearray(128)
        self.fifo = bytearray(fifo_bytes)
        self.fifo_bytes = fifo_bytes
        self._head = 0
        self.flen = 0
        self._fb = bytearray(16)
        # views made once: slices of them copy nothing, so a FIFO read allocates no
        # buffer in the heap the firmware is given
        self._fmv = memoryview(self.fifo)
        self._fbv = memoryview(self._fb)
        self._vals = [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
        self._next_us = None
        self.exhausted = False
        self.made = 0          # samples taken from the source
        self.dropped = 0       # samples lost to FIFO overflows
        self.overflowed = False
        self.reset()

    # ---- time ---------------------------------------------------------------------
    def sync(self, now_us=None):
        """Makes every sample due by now."""
        if now_us is None:
            now_us = time.now_us()
        per = self.period_us()
        if per <= 0 or self.exhausted:
            self._next_us = None
            return
        if self._next_us is None:
            self._next_us = now_us + per
            return
        while self._next_us <= now_us:
            if not self.source.next(self._vals):
                self.exhausted = True
                self._next_us = None
                return
            self.made += 1
            self.on_sample(self._vals)
            self._next_us += per

    def on_sample(self, vals):
        if self.collecting():
            self.push(self.pack(vals))

    def burst(self, n):
        """n samples at once, as if the host had not read for that long (overflow fault)."""
        for _ in range(n):
            if not self.source.next(self._vals):
                self.exhausted = True
                return
            self.made += 1
            self.on_sample(self._vals)

    def next_sample_us(self):
        return self._next_us

    # ---- FIFO -----------------------------------------------------------------------
    def fifo_clear(self):
        self._head = 0
        self.flen = 0

    def push(self, n):
        cap = self.fifo_bytes
        if self.flen + n > cap:
            self.overflowed = True
            self.dropped += 1
            self.on_overflow()
            if self.overflow_policy == "newest":
                return
            self._head = (self._head + n) % cap
            self.flen -= n
        pos = (self._head + self.flen) % cap
        first = min(n, cap - pos)
        self._fmv[pos:pos + first] = self._fbv[:first]
        if first < n:
            self._fmv[0:n - first] = self._fbv[first:n]
        self.flen += n

    def on_overflow(self):
        pass

    def pop_into(self, buf, start, n):
        """Moves up to n FIFO bytes into buf[start:]; returns how many were there."""
        k = min(n, self.flen)
        cap = self.fifo_bytes
        h = self._head
        first = min(k, cap - h)
        buf[start:start + first] = self._fmv[h:h + first]
        if first < k:
            buf[start + first:start + k] = self._fmv[0:k - first]
        self._head = (h + k) % cap
        self.flen -= k
        return k

    # ---- bus side -------------------------------------------------------------------
    def read_into(self, reg, buf):
        if self.is_fifo_reg(reg):
            k = self.pop_into(buf, 0, len(buf))
            for i in range(k, len(buf)):
                buf[i] = self.fifo_filler(i)
            return
        for i in range(len(buf)):
            buf[i] = self.read_reg((reg + i) & 0x7F)

    def write_from(self, reg, data):
        for i in range(len(data)):
            self.write_reg((reg + i) & 0x7F, data[i])

    def fifo_filler(self, i):
        return 0

    def int_level(self):
        return False

    def int_due_us(self, now_us):
        return None

    def due_after(self, units_now, units_wm, units_per_sample):
        """When the FIFO will hold `units_wm` units at one sample's `units_per_sample`."""
        if self._next_us is None or units_per_sample <= 0:
            return None
        need = units_wm - units_now
        if need <= 0:
            return 0
        k = (need + units_per_sample - 1) // units_per_sample
        return self._next_us + (k - 1) * self.period_us()
