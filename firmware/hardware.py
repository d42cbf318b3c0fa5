"""The board's pins while the loop runs: LED, buzzer, vibration motor, button, VBUS sense.

    hw = Hardware(cfg)           cfg from board.load(): the only place that creates
                                 machine objects for the pins the config names
    hw.i2c()                     a fresh bus (after imu_probe.recover_bus(hw) when it was stuck)
    hw.led_on(on), hw.buzz(on), hw.vibrate(on)   outputs the board has (others: no-ops)
    hw.button_pressed()          None when the board has no button
    hw.usb_host()                True/False from the VBUS sense pin, None when unknown
    hw.int_pin                   machine.Pin of the IMU interrupt, or None
    hw.wdt(ms), hw.lightsleep(ms), hw.unique_id()
"""
import machine


def _pin_spec(spec):
    # an output is a pin id, or {"pin": id, "active_low": bool, "neopixel": bool}
    if spec is None:
        return None, False, False
    if isinstance(spec, dict):
        return spec.get("pin"), bool(spec.get("active_low")), bool(spec.get("neopixel"))
    return spec, False, False


class Hardware:
    def __init__(self, cfg):
        self.cfg = cfg
        Pin = machine.Pin
        pin, self._led_low, neo = _pin_spec(cfg.get("led"))
        self._np = None
        self._led = None
        if pin is not None and neo:
            from neopixel import NeoPixel
            self._np = NeoPixel(Pin(pin), 1)
        elif pin is not None:
            self._led = Pin(pin, Pin.OUT, value=1 if self._led_low else 0)
        pin, self._buzz_low, _ = _pin_spec(cfg.get("buzzer"))
        self._buzzer = machine.PWM(Pin(pin), freq=2700, duty_u16=0) if pin is not None else None
        pin, self._vib_low, _ = _pin_spec(cfg.get("vibration"))
        self._vib = Pin(pin, Pin.OUT, value=1 if self._vib_low else 0) if pin is not None else None
        pin, self._btn_low, _ = _pin_spec(cfg.get("button"))
        self._btn = None
        if pin is not None:
            self._btn = Pin(pin, Pin.IN, Pin.PULL_UP) if self._btn_low else Pin(pin, Pin.IN)
        pin, self._vbus_low, _ = _pin_spec(cfg.get("vbus_pin"))
        self._vbus = Pin(pin, Pin.IN) if pin is not None else None
        ip = cfg["imu"].get("int_pin")
        self.int_pin = Pin(ip, Pin.IN) if ip is not None else None

    def i2c(self):
        c = self.cfg["i2c"]
        scl = machine.Pin(c["scl"])
        sda = machine.Pin(c["sda"])
        if c.get("id") is None:
            return machine.SoftI2C(scl=scl, sda=sda, freq=c.get("freq", 400000))
        return machine.I2C(c["id"], scl=scl, sda=sda, freq=c.get("freq", 400000))

    def led_on(self, on):
        if self._np is not None:
            self._np[0] = (0, 24, 8) if on else (0, 0, 0)
            self._np.write()
        elif self._led is not None:
            self._led.value(1 if bool(on) != self._led_low else 0)

    def buzz(self, on):
        if self._buzzer is not None:
            self._buzzer.duty_u16(32768 if on else 0)

    def vibrate(self, on):
        if self._vib is not None:
            self._vib.value(1 if bool(on) != self._vib_low else 0)

    def button_pressed(self):
        if self._btn is None:
            return None
        return self._btn.value() == (0 if self._btn_low else 1)

    def usb_host(self):
        if self._vbus is None:
            return None
        return self._vbus.value() == (0 if self._vbus_low else 1)

    def wdt(self, ms):
        return machine.WDT(timeout=ms)

    def lightsleep(self, ms):
        machine.lightsleep(ms)

    def unique_id(self):
        import binascii
        return binascii.hexlify(machine.unique_id()).decode()
