# Runs firmware/stepdetect.py with the heap locked from the first sample on.
#
#   micropython heap_lock_check.py SAMPLES RATE LSB_PER_G FORWARD_AXIS PLACEMENT LSB_PER_DPS STRIDE BLOCK
#
# SAMPLES: little-endian int16 ax, ay, az (and gx, gy, gz when STRIDE is 6) per sample.
#
# After the detector is built, micropython.heap_lock() makes any allocation raise
# MemoryError. The samples are then copied block by block into one preallocated
# buffer (as a FIFO read would fill it) and fed with feed(), events drained after
# every block, then flush(); a second pass feeds the same samples one by one through update().
# Prints "ok <samples> <steps>" or "alloc <path> <sample>" where the first allocation
# happened.
import sys
from array import array

import micropython
import stepdetect


def main():
    a = sys.argv
    with open(a[1], "rb") as f:
        src = array("h", f.read())
    w = int(a[7])
    n = len(src) // w
    block = int(a[8])
    det = stepdetect.StepDetector(float(a[2]), int(a[3]), int(a[4]), int(a[5]), float(a[6]))
    buf = array("h", bytes(2 * w * block))
    idx = array("i", bytes(4 * 64))
    dirs = bytearray(64)
    where = "feed"
    done = 0
    failed = False
    micropython.heap_lock()
    try:
        while done < n:
            m = n - done
            if m > block:
                m = block
            base = w * done
            for j in range(w * m):
                buf[j] = src[base + j]
            det.feed(buf, m, w)
            det.read(idx, dirs)
            done += m
        where = "flush"
        det.flush()         # the input ends mid-walk: the steps under way count, no heap
        det.read(idx, dirs)
        where = "update"
        det.reset()
        done = 0
        i = 0
        while done < n:
            if w == 6:
                det.update_gyro(src[i], src[i + 1], src[i + 2], src[i + 3], src[i + 4], src[i + 5])
            else:
                det.update(src[i], src[i + 1], src[i + 2])
            i += w
            done += 1
            if det.pending:
                det.read(idx, dirs)
    except MemoryError:
        failed = True
    micropython.heap_unlock()
    if failed:
        print("alloc", where, done)
    else:
        print("ok", n, det.steps)


main()
