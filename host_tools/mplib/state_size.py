# Heap kept by new detectors under the MicroPython Unix port, one per configuration.
#
#   micropython state_size.py RATE:FORWARD_AXIS:PLACEMENT [...]
#
# For each configuration prints "<rate> <forward_axis> <placement> <bytes>", measured as
# `retrostep bench` measures state_bytes (host_tools/mplib/bench_detector.py): the larger
# of the heap's growth over construction and what dropping the detector frees.
import gc
import sys

import stepdetect


def state_bytes(rate, fwd, placement):
    gc.collect()
    m0 = gc.mem_alloc()
    det = stepdetect.StepDetector(rate, 4096, fwd, placement)
    gc.collect()
    m1 = gc.mem_alloc()
    det = None
    gc.collect()
    m2 = gc.mem_alloc()
    return max(m1 - m0, m1 - m2)


def main():
    for spec in sys.argv[1:]:
        r, f, p = spec.split(":")
        print(r, f, p, state_bytes(float(r), int(f), int(p)))


main()
