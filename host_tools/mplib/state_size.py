# Heap kept by new detectors under the MicroPython Unix port, one per configuration.
#
#   micropython state_size.py RATE:FORWARD_AXIS:PLACEMENT[:LSB_PER_DPS] [...]
#
# For each configuration prints "<rate> <forward_axis> <placement> <lsb_per_dps> <bytes>",
# measured as
# `retrostep bench` measures state_bytes (host_tools/mplib/bench_detector.py imports it).
import gc
import sys

import stepdetect


def state_bytes(rate, lsb, fwd, placement, dps=0):
    # The heap a detector holds: the larger of the growth over its construction and what
    # dropping it frees. Either alone can fall short: the collector scans the C stack
    # conservatively, so garbage it keeps at one reading may be gone at the next.
    gc.collect()
    m0 = gc.mem_alloc()
    det = stepdetect.StepDetector(rate, lsb, fwd, placement, dps)
    gc.collect()
    m1 = gc.mem_alloc()
    det = None
    gc.collect()
    m2 = gc.mem_alloc()
    return max(m1 - m0, m1 - m2)


def main():
    for spec in sys.argv[1:]:
        r, f, p, g = (spec + ":0").split(":")[:4]
        print(r, f, p, g, state_bytes(float(r), 4096, int(f), int(p), float(g)))


if __name__ == "__main__":
    main()
