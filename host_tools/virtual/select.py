"""The sim board's `select`: the counting loop's poll waits on the virtual clock (see time.py).

A poll with a timeout asks the real poller without waiting, then lets virtual time pass
until the timeout or until an emulated interrupt fires, whichever comes first; real
streams (the link's pseudo-terminal) are still polled for real between slices.
"""
import sys

_saved = sys.path
sys.path = []
try:
    import select as _rs    # the built-in module
finally:
    sys.path = _saved

import time

POLLIN = _rs.POLLIN
POLLOUT = _rs.POLLOUT
POLLERR = _rs.POLLERR
POLLHUP = _rs.POLLHUP


class _Poll:
    def __init__(self):
        self._p = _rs.poll()

    def register(self, obj, mask=POLLIN | POLLOUT):
        self._p.register(obj, mask)

    def modify(self, obj, mask):
        self._p.modify(obj, mask)

    def unregister(self, obj):
        self._p.unregister(obj)

    def poll(self, timeout=-1):
        return self._wait(timeout, 0, False)

    def ipoll(self, timeout=-1, flags=0):
        return self._wait(timeout, flags, True)

    def _wait(self, timeout, flags, it):
        waited = 0
        while True:
            got = self._p.poll(0)
            if got or timeout == 0 or (timeout > 0 and waited >= timeout):
                return self._p.ipoll(0, flags) if it else got
            if time.FAST:       # emulated interrupts end the wait early
                step = -1 if timeout < 0 else timeout - waited
            else:               # real streams: look again every 2 ms
                step = 2 if timeout < 0 else min(2, timeout - waited)
            t0 = time.now_ms()
            time.wait(step, early=True)
            waited += time.now_ms() - t0


def poll():
    return _Poll()
