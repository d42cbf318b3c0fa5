# Measures firmware/stepdetect.py under the MicroPython Unix port.
#
#   micropython bench_detector.py SAMPLES RATE LSB_PER_G FORWARD_AXIS PLACEMENT LSB_PER_DPS STRIDE REPEAT
#
# SAMPLES holds little-endian int16 ax, ay, az per sample (and gx, gy, gz when STRIDE is
# 6), loaded whole into one array.
# Prints "key value" lines:
#   state_bytes  heap kept by a new detector (gc.mem_alloc after collection: the larger of
#                its growth over construction and what dropping the detector frees)
#   heap_feed / heap_update  bytes allocated over one pass through feed() / update()
#   locked       1 when a whole pass ran under micropython.heap_lock(), 0 on MemoryError
#   samples / us samples fed and microseconds taken by the fastest of REPEAT passes
#                through feed()
import gc
import sys
import time
from array import array

import micropython
import stepdetect
from state_size import state_bytes


def main():
    a = sys.argv
    rate = float(a[2])
    lsb = int(a[3])
    fwd = int(a[4])
    placement = int(a[5])
    dps = float(a[6])
    w = int(a[7])
    repeat = int(a[8])
    with open(a[1], "rb") as f:
        raw = f.read()
    src = array("h", raw)
    raw = None
    n = len(src) // w
    idx = array("i", bytes(4 * 64))
    dirs = bytearray(64)

    print("state_bytes", state_bytes(rate, lsb, fwd, placement, dps))
    det = stepdetect.StepDetector(rate, lsb, fwd, placement, dps)

    det.feed(src, min(n, 200), w)   # warm up: first-call caches, if any, are not per sample
    det.read(idx, dirs)

    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    det.feed(src, n, w)
    det.read(idx, dirs)
    m1 = gc.mem_alloc()
    i = 0
    for _ in range(n):
        if w == 6:
            det.update_gyro(src[i], src[i + 1], src[i + 2], src[i + 3], src[i + 4], src[i + 5])
        else:
            det.update(src[i], src[i + 1], src[i + 2])
        i += w
    det.read(idx, dirs)
    m2 = gc.mem_alloc()
    gc.enable()
    print("heap_feed", m1 - m0)
    print("heap_update", m2 - m1)
    print("n", n)

    ok = 1
    micropython.heap_lock()
    try:
        det.feed(src, n, w)
        det.read(idx, dirs)
    except MemoryError:
        ok = 0
    micropython.heap_unlock()
    print("locked", ok)

    # the fastest of REPEAT passes: on a shared machine the slower ones measure the others
    best = 0
    for _ in range(repeat):
        det.reset()
        gc.collect()
        t0 = time.ticks_us()
        det.feed(src, n, w)
        det.read(idx, dirs)
        dt = time.ticks_diff(time.ticks_us(), t0)
        if best == 0 or dt < best:
            best = dt
    print("samples", n)
    print("us", best)
    print("steps", det.steps)


main()
