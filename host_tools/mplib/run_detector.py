# Runs firmware/stepdetect.py under the MicroPython Unix port over a file of samples.
#
#   micropython run_detector.py SAMPLES RATE LSB_PER_G FORWARD_AXIS PLACEMENT LSB_PER_DPS STRIDE BLOCK
#
# SAMPLES holds little-endian int16 ax, ay, az per sample (STRIDE 3), then gx, gy, gz
# (STRIDE 6, LSB_PER_DPS > 0). The file is read in blocks
# into one preallocated array, as the board reads its FIFO, and the events are drained
# after every block, and once more after flush() at the end. Output, one per line: "E <index> <dir>" for each step event, then
# "T <steps> <forward> <backward> <unknown> <n>".
import sys
from array import array

import stepdetect


def main():
    a = sys.argv
    path = a[1]
    rate = float(a[2])
    lsb = int(a[3])
    fwd = int(a[4])
    placement = int(a[5])
    dps = float(a[6])
    stride = int(a[7])
    block = int(a[8])
    det = stepdetect.StepDetector(rate, lsb, fwd, placement, dps)
    buf = array("h", bytes(2 * stride * block))
    idx = array("i", bytes(4 * 64))
    dirs = bytearray(64)
    last = 0
    with open(path, "rb") as f:
        while True:
            got = f.readinto(buf)
            if not got:
                break
            det.feed(buf, got // (2 * stride), stride)
            k = det.read(idx, dirs)
            for i in range(k):
                print("E", idx[i], dirs[i])
            if det.steps - last != k:
                print("X lost events")
            last = det.steps
    det.flush()        # the input ends: a short walk still waiting is credited
    k = det.read(idx, dirs)
    for i in range(k):
        print("E", idx[i], dirs[i])
    print("T", det.steps, det.forward, det.backward, det.unknown, det.n)


main()
