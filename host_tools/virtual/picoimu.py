"""The emulated Pico's IMU: one of the register-level chip models here, fed by a trace,
served to the Pico emulator (host_tools/pico/pico.mjs) over a pair of named pipes.

    micropython picoimu.py REQ_FIFO REPLY_FIFO CHIP ADDR TRACE|- END

CHIP is a name of simworld.CHIPS, ADDR its I2C address (0: the chip's usual one), TRACE a
retrostep-trace/1 file ("-": lying still), END what happens when it ends: "exit" (no more
samples: the chip's `exhausted`), "rest" or "loop" (see trace_source.py).

The emulator asks, one line each, and waits for the answer (it runs the I2C controller,
so the chip answers at once in simulated time). Every request starts with the emulator's
clock in microseconds, to which the chip's sample clock is brought first:

    T s ADDR          a transaction starts: "1" if the chip answers at ADDR, else "0"
    T w HEX           bytes written in it: the register pointer, then data ("." back)
    T r               the next byte read in it (the FIFO register pops, others count up)
    T i               "LEVEL DUE EXHAUSTED FLEN MADE": the interrupt line, when it will
                      next rise (microseconds, -1: not due), whether the trace has ended,
                      bytes in the FIFO, samples made

The chip's time is the emulator's: `time.now_us` (the sim clock's, time.py) answers the
time of the last request.
"""
import sys

import time

import simworld

_now = [0]


def _now_us():
    return _now[0]


time.now_us = _now_us       # the chip models read the clock through it


def main():
    req_path, rep_path, name, addr, trace, end = sys.argv[1:7]
    # the pipes first: the emulator waits on them, and sees them close if what follows fails
    req = open(req_path, "rb")
    rep = open(rep_path, "wb")
    addr = int(addr, 0) or None
    src = simworld.make_source(None if trace == "-" else trace, end)
    chip = simworld.make_chip(name, src, addr)
    ptr = 0                 # the register pointer the last write set
    i = 0                   # bytes read since the transaction started
    b1 = bytearray(1)
    while True:
        line = req.readline()
        if not line:
            return          # the emulator is gone
        parts = line.split()
        _now[0] = int(parts[0])
        op = parts[1]
        if op == b"r":
            if chip.is_fifo_reg(ptr):
                if chip.pop_into(b1, 0, 1) == 0:
                    b1[0] = chip.fifo_filler(i)
            else:
                b1[0] = chip.read_reg((ptr + i) & 0x7F)
            i += 1
            out = b"%d\n" % b1[0]
        elif op == b"s":
            chip.sync()
            i = 0
            out = b"1\n" if int(parts[2]) == chip.addr else b"0\n"
        elif op == b"w":
            data = bytes.fromhex(parts[2])
            if data:
                ptr = data[0]
                i = 0
                if len(data) > 1:
                    chip.write_from(ptr, data[1:])
                    chip.sync()         # a sensor switched on starts its sample clock now
            out = b".\n"
        elif op == b"i":
            chip.sync()
            due = chip.int_due_us(_now[0]) if not chip.int_level() else None
            out = b"%d %d %d %d %d\n" % (1 if chip.int_level() else 0,
                                          -1 if due is None else due,
                                          1 if chip.exhausted else 0, chip.flen, chip.made)
        else:
            out = b"?\n"
        rep.write(out)          # unbuffered on the Unix port: the answer is out


main()
