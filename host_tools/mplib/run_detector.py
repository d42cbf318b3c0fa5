# Runs firmware/stepdetect.py under the MicroPython Unix port over a file of samples.
#
#   micropython run_detector.py SAMPLES RATE LSB_PER_G FORWARD_AXIS PLACEMENT LSB_PER_DPS STRIDE BLOCK [STRETCHES]
#
# SAMPLES holds little-endian int16 ax, ay, az per sample (STRIDE 3), then gx, gy, gz
# (STRIDE 6, LSB_PER_DPS > 0). The file is read in blocks
# into one preallocated array, as the board reads its FIFO, and the events are drained
# after every block, and after flush() at the end of each stretch. STRETCHES (optional) lists the samples of each stretch between breaks
# in the trace's time, one number a line: the detector is reset at the start of each
# stretch after the first (which prints "S"), as the PC's run does. Output, one per line:
# "E <index> <dir>" for each step event, then "T <steps> <forward> <backward> <unknown> <n>"
# summed over the stretches.
import sys
from array import array

import stepdetect


def end_stretch(det, idx, dirs, tot):
    # a stretch (or the input) ends: a short walk still waiting is credited, its events
    # printed, and the stretch's totals added to the run's
    det.flush()
    k = det.read(idx, dirs)
    for i in range(k):
        print("E", idx[i], dirs[i])
    for i, v in enumerate((det.steps, det.forward, det.backward, det.unknown, det.n)):
        tot[i] += v


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
    lengths = []
    if len(a) > 9:
        with open(a[9]) as f:
            for line in f:
                if line.strip():
                    lengths.append(int(line))
    det = stepdetect.StepDetector(rate, lsb, fwd, placement, dps)
    buf = array("h", bytes(2 * stride * block))
    mv = memoryview(buf)
    idx = array("i", bytes(4 * 64))
    dirs = bytearray(64)
    last = 0
    tot = [0, 0, 0, 0, 0]
    seg = 0
    left = lengths[0] if lengths else -1     # samples left in this stretch; -1: to the end
    with open(path, "rb") as f:
        while True:
            if left == 0:
                seg += 1
                if seg >= len(lengths):
                    break
                end_stretch(det, idx, dirs, tot)
                det.reset()
                print("S")
                left = lengths[seg]
                last = 0
                continue
            want = block if left < 0 else min(block, left)
            got = f.readinto(mv[:2 * stride * want])
            if not got:
                break
            n = got // (2 * stride)
            det.feed(buf, n, stride)
            if left > 0:
                left -= n
            k = det.read(idx, dirs)
            for i in range(k):
                print("E", idx[i], dirs[i])
            if det.steps - last != k:
                print("X lost events")
            last = det.steps
    end_stretch(det, idx, dirs, tot)
    print("T", tot[0], tot[1], tot[2], tot[3], tot[4])


main()
