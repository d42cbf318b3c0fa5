"""retrostep firmware entry point: the board runs this file at boot.

Reads board.json, starts the counting loop, and plugs in the optional modules that are
on the board (each exposes attach(app); see counting.py for what they may hook into).
Ctrl-C stops it cleanly (counts are saved by the store's on_shutdown).
"""
import gc

import counting
from hardware import Hardware

# in order of need: counts kept on flash, then served to the host, then retro guidance,
# then fall detection; on a board short of heap the last ones are left out (and named)
OPTIONAL = ("store", "link", "retro", "fall")


def main():
    import board
    cfg = board.load()
    hw = Hardware(cfg)          # its pins, made by board.pins()
    board = None
    counting._drop("board")     # needed again only to connect the IMU and to calibrate
    app = counting.Pedometer(cfg, hw)
    print("retrostep %s on %s (%s)" % (counting.FW_VERSION, app.board_name, app.uid))
    # the IMU driver, detector and buffers first, while the heap is still in one piece
    app.attach_modules(OPTIONAL, app.start_imu())
    gc.collect()
    try:
        print("retrostep: modules: %s; free heap %d" % (
            " ".join(n for n in OPTIONAL if n in app.modules) or "-", gc.mem_free()))
    except MemoryError:
        pass
    app.run_forever()


main()
