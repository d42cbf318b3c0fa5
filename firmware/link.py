"""The USB serial link, its resident part: a host session on demand.

    attach(app)   plugs the link into the counting loop (firmware/counting.py): the serial
                  port is polled between batches; the protocol is link_session.py's

The session's code and buffers (link_session.py, and the store's sync side, store_io.py)
are loaded at the host's first byte and dropped once it has been quiet for ten batches
(about ten seconds) and is not recording, so a board between syncs keeps that heap for
counting. With no heap for a session, a byte is read and lost (the host asks again after
its timeout) and Ctrl-C still stops the loop, as at the REPL.
"""
import gc
import sys

from micropython import const

from counting import _drop

_QUIET_BATCHES = const(10)


class _Wake:
    def __init__(self, app):
        self.app = app
        self.inp = sys.stdin.buffer
        self.lk = None          # the session's Link while a host talks
        self.quiet = 0

    def on_input(self):
        lk = self.lk
        if lk is None:
            c = self.inp.read(1)
            if not c:
                return False    # the port has closed: no host any more, and no session made
            lk = self._open()
            if lk is None:      # no heap for a session: the byte is lost, the host asks again
                if c[0] == 3:
                    raise KeyboardInterrupt
                return True
            lk.feed_byte(c[0])
        self.quiet = 0
        return lk.on_input()

    def _open(self):
        gc.collect()            # the session's code finds the holes the last batches left
        try:
            import link_session
            self.lk = link_session.session(self.app, self.inp)
        except MemoryError:
            self._close()
        return self.lk

    def _close(self):
        self.lk = None
        _drop("link_session", "link_more", "store_io")

    def on_samples(self, buf, n, stride, t_ms):
        lk = self.lk
        if lk is not None and lk.streaming:
            lk.on_samples(buf, n, stride, t_ms)

    def on_batch(self, t_ms):
        if self.lk is not None:
            self.quiet += 1
            if self.quiet >= _QUIET_BATCHES and not self.lk.streaming:
                self._close()


def attach(app):
    """Serve the host from the counting loop: needs the store attached before."""
    if app.modules.get("store") is None:
        raise RuntimeError("the link needs the store module")
    w = _Wake(app)
    app.add_reader(w.inp, w.on_input)
    app.add_listener(w)
    return w
