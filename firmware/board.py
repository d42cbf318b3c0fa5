"""The board's config file (board.json, from boards/NAME.json), its pins and axis names.

    cfg = load()                 dict, as in boards/*.json (see the README, section boards)
    pins(hw, cfg)                makes the machine objects of the pins the config names, on
                                 a hardware.Hardware (its constructor calls this)
    axis_code("+x") -> 1 ... axis_code("-z") -> -3, None/"" -> 0; axis_name(code) back

Needed at boot, and by the IMU's connection and the calibration, which import it again:
they and main.py drop it afterwards, so its code takes no heap while the loop runs.
hardware.py drives the pins.
"""
import json

import machine


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


def _pin_spec(spec):
    # an output is a pin id, or {"pin": id, "active_low": bool, "neopixel": bool}
    if spec is None:
        return None, False, False
    if isinstance(spec, dict):
        return spec.get("pin"), bool(spec.get("active_low")), bool(spec.get("neopixel"))
    return spec, False, False


def pins(hw, cfg):
    hw.cfg = cfg
    Pin = machine.Pin
    pin, hw._led_low, neo = _pin_spec(cfg.get("led"))
    hw._np = None
    hw._led = None
    if pin is not None and neo:
        from neopixel import NeoPixel
        hw._np = NeoPixel(Pin(pin), 1)
    elif pin is not None:
        hw._led = Pin(pin, Pin.OUT, value=1 if hw._led_low else 0)
    pin, hw._buzz_low, _ = _pin_spec(cfg.get("buzzer"))
    hw._buzzer = machine.PWM(Pin(pin), freq=2700, duty_u16=0) if pin is not None else None
    pin, hw._vib_low, _ = _pin_spec(cfg.get("vibration"))
    hw._vib = Pin(pin, Pin.OUT, value=1 if hw._vib_low else 0) if pin is not None else None
    pin, hw._btn_low, _ = _pin_spec(cfg.get("button"))
    hw._btn = None
    if pin is not None:
        hw._btn = Pin(pin, Pin.IN, Pin.PULL_UP) if hw._btn_low else Pin(pin, Pin.IN)
    pin, hw._vbus_low, _ = _pin_spec(cfg.get("vbus_pin"))
    hw._vbus = Pin(pin, Pin.IN) if pin is not None else None
    ip = cfg["imu"].get("int_pin")
    hw.int_pin = Pin(ip, Pin.IN) if ip is not None else None
