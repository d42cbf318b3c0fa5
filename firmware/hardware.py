"""The board's pins while the loop runs: LED, buzzer, vibration motor, button, VBUS sense.

    hw = Hardware(cfg)           cfg from board.load(); the pins the config names are
                                 made by board.pins() at boot (the only place that does)
    hw.i2c()                     a fresh bus (after imu_probe.recover_bus(hw) when it was stuck)
    hw.led_on(on), hw.buzz(on), hw.vibrate(on)   outputs the board has (others: no-ops)
    hw.button_pressed()          None when the board has no button
    hw.usb_host()                True/False from the VBUS sense pin, None when unknown
    hw.int_pin                   machine.Pin of the IMU interrupt, or None
    hw.wdt(ms), hw.lightsleep(ms), hw.unique_id()
    hw.keep_fed(wdt)             the loop stopped for the REPL: a timer feeds the watchdog
"""
import machine

try:
    from typing import TYPE_CHECKING
except ImportError:         # MicroPython: the name below is the type checker's only
    TYPE_CHECKING = False
if TYPE_CHECKING:
    import neopixel


class Hardware:
    # set up by board.pins() from the config (its code leaves the heap after boot)
    cfg: dict
    _np: "neopixel.NeoPixel | None"     # the LED, when it is one
    _led: "machine.Pin | None"
    _led_low: bool
    _buzzer: "machine.PWM | None"
    _buzz_low: bool
    _vib: "machine.Pin | None"
    _vib_low: bool
    _btn: "machine.Pin | None"
    _btn_low: bool
    _vbus: "machine.Pin | None"
    _vbus_low: bool
    int_pin: "machine.Pin | None"

    def __init__(self, cfg):
        import board        # loaded at boot for the config anyway; main.py drops it
        board.pins(self, cfg)

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

    def keep_fed(self, wdt):
        # the loop stopped for the REPL (a host at the console: mpremote, deploy): neither
        # the RP2040's watchdog nor the ESP32's can be turned off, so a timer feeds it until
        # the next reset, or it would reset the board under the host within seconds
        try:
            self._fed = machine.Timer(-1, period=1000, callback=lambda t: wdt.feed())
        except ValueError:          # ports whose timers are hardware ones only (esp32)
            self._fed = machine.Timer(0, period=1000, callback=lambda t: wdt.feed())

    def lightsleep(self, ms):
        machine.lightsleep(ms)

    def unique_id(self):
        import binascii
        return binascii.hexlify(machine.unique_id()).decode()
