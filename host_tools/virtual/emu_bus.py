"""An emulated I2C bus with the machine.I2C methods the drivers use, and fault injection.

    bus = EmuI2C()
    bus.attach(chip)                     an emulated chip at chip.addr
    bus.scan(), bus.readfrom_mem_into(addr, reg, buf), bus.readfrom_mem(addr, reg, n),
    bus.writeto_mem(addr, reg, buf), bus.writeto(addr, buf), bus.readfrom_into(addr, buf)
    bus.fail("eio" | "nak" | "timeout", count=1)   the next `count` transactions raise
                                         OSError(EIO / ENODEV / ETIMEDOUT)
    bus.stuck = True                     every transaction times out (a chip holds SDA low)
                                         until SCL is clocked nine times and the bus
                                         created anew (machine.py; imu_probe.recover_bus)
    bus.absent(addr, True)               the chip stops answering (NAK, gone from scan)
    bus.transactions, bus.errors         counters
    bus.on_transaction                   optional callable run before each transaction
"""
import errno

_ERR = {"eio": errno.EIO, "nak": errno.ENODEV, "timeout": errno.ETIMEDOUT}


class EmuI2C:
    def __init__(self):
        self.chips = {}
        self._gone = {}
        self._fail_kind = None
        self._fail_left = 0
        self.stuck = False
        self.transactions = 0
        self.errors = 0
        self.on_transaction = None
        self._ptr = {}

    def attach(self, chip):
        self.chips[chip.addr] = chip

    def absent(self, addr, gone):
        if gone:
            self._gone[addr] = 1
        else:
            self._gone.pop(addr, None)

    def fail(self, kind, count=1):
        self._fail_kind = kind
        self._fail_left = count

    def _chip(self, addr):
        self.transactions += 1
        if self.on_transaction is not None:
            self.on_transaction()
        if self.stuck:
            self.errors += 1
            raise OSError(errno.ETIMEDOUT)
        if self._fail_left > 0:
            self._fail_left -= 1
            self.errors += 1
            raise OSError(_ERR[self._fail_kind])
        chip = self.chips.get(addr)
        if chip is None or addr in self._gone:
            self.errors += 1
            raise OSError(errno.ENODEV)
        chip.sync()
        return chip

    def scan(self):
        self.transactions += 1
        if self.stuck:
            return []
        return [a for a in sorted(self.chips) if a not in self._gone]

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        self._chip(addr).read_into(memaddr, buf)

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        b = bytearray(nbytes)
        self._chip(addr).read_into(memaddr, b)
        return bytes(b)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        chip = self._chip(addr)
        chip.write_from(memaddr, buf)
        chip.sync()         # a sensor switched on starts its sample clock now

    def writeto(self, addr, buf, stop=True):
        chip = self._chip(addr)
        if len(buf):
            self._ptr[addr] = buf[0]
            if len(buf) > 1:
                chip.write_from(buf[0], memoryview(buf)[1:])
                chip.sync()
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        self._chip(addr).read_into(self._ptr.get(addr, 0), buf)

    def readfrom(self, addr, nbytes, stop=True):
        b = bytearray(nbytes)
        self.readfrom_into(addr, b)
        return bytes(b)
