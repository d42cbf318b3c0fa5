"""The board's config file (board.json, from boards/NAME.json) and its axis names.

    cfg = load()                 dict, as in boards/*.json (see the README, section boards)
    axis_code("+x") -> 1 ... axis_code("-z") -> -3, None/"" -> 0; axis_name(code) back

Needed at boot, and by the IMU's connection and the calibration, which import it again:
they and main.py drop it afterwards, so its code takes no heap while the loop runs. The
pins the config names are hardware.py's.
"""
import json


def load(path="board.json"):
    with open(path) as f:
        cfg = json.load(f)
    for k in ("title", "notes", "usb", "port", "mpy_arch"):
        cfg.pop(k, None)        # the host's part: no heap for it on the board
    return cfg


def axis_code(name):
    if not name:
        return 0
    code = "xyz".index(name[-1].lower()) + 1
    return -code if name[0] == "-" else code


def axis_name(code):
    if not code:
        return None
    return ("-" if code < 0 else "+") + "xyz"[abs(code) - 1]
