"""Plugs the optional modules into the counting loop: Pedometer.attach_modules loads this
at boot (main.py, after its first attempt to open the IMU) and again for the modules that
waited for the IMU, and drops it once they are in.

    attach(app, name, room=None)   imports `name` if it is on the board and calls its
                                   attach(app); returns what that gave, or None
    attach_all(app, names, opened=True)
                                   each in turn, in order of need, with room() as the test;
                                   `opened` is what app.start_imu() said

A module that fails, finds no heap, or after which room() says too little heap is left,
leaves nothing behind (its listeners, readers and the modules it loaded go), is named on
the console, counted in app.faults["listener"], and the loop counts on without it.
"""
import gc
import sys

from micropython import const

import counting

_SPARE = const(2048)        # kept beyond room()'s trials (a reply's garbage, a new driver)
_ON_SAMPLES = ("retro", "fall")     # they work on the IMU's samples


def attach(app, name, room=None):
    lists = (app._l_samples, app._l_steps, app._l_batch, app._l_record, app._l_shutdown,
             app._readers)
    try:
        had = tuple(sys.modules)
        sizes = [len(x) for x in lists]
    except MemoryError as e:
        return _broken(app, name, e)
    try:
        mod = __import__(name)
    except ImportError as e:
        if ("'%s'" % name) in str(e):
            return None             # not on this board
        return _undo(app, name, e, had, lists, sizes)
    except Exception as e:          # a broken add-on must never stop the counting
        return _undo(app, name, e, had, lists, sizes)
    try:
        hook = getattr(mod, "attach", None)
        app.modules[name] = hook(app) if hook else mod
        if room is not None and not room(app):
            raise MemoryError("too little heap left beside it")
    except Exception as e:
        return _undo(app, name, e, had, lists, sizes)
    return app.modules[name]


def attach_all(app, names, opened: "bool | None" = True):
    # with the IMU not open, the modules that work on its samples wait for it in app.later
    # (counting.py attaches them once it is); all of them when the heap was too short to
    # open it (opened is None): counting comes first
    if not opened:
        app.later = names if opened is None else tuple(n for n in names if n in _ON_SAMPLES)
        names = tuple(n for n in names if n not in app.later)
    for name in names:
        gc.collect()
        attach(app, name, room)


def room(app):
    """Whether the board can still do what it must do later, tried now, one at a time as
    they would come: open the IMU again after an I2C fault (imu_probe and board come
    back), and with the link attached serve a host (its session and the store's sync
    side); each with _SPARE bytes to spare."""
    if not _fits(app, ("imu_probe", "board")):
        return False
    return app.modules.get("link") is None or _fits(app, ("link_session", "store_io"))


def _fits(app, names):
    gc.collect()
    made = spare = None
    try:
        for m in names:
            __import__(m)
        if "link_session" in names:
            made = sys.modules["link_session"].session(app, app.modules["link"].inp)
        # then what the work leaves about (a reply's garbage, a new driver), beside it
        spare = bytearray(_SPARE)
        return True
    except MemoryError:
        return False
    finally:
        made = spare = None
        counting._drop(*names)


def _undo(app, name, e, had, lists, sizes):
    # allocates nothing until the module's objects are unreferenced and collected: it
    # runs when the heap may be full
    app.modules.pop(name, None)
    for i in range(len(lists)):
        lst = lists[i]
        while len(lst) > sizes[i]:
            r = lst.pop()
            if lst is app._readers:
                app._poller.unregister(r[0])
    sys.modules.pop(name, None)
    gc.collect()                    # the half-made module's objects, before the list below
    try:
        for m in [m for m in sys.modules if m not in had]:
            sys.modules.pop(m)
    except MemoryError:
        pass
    return _broken(app, name, e)


def _broken(app, name, e):
    app.faults["listener"] += 1
    gc.collect()
    try:
        print("retrostep: module %s not started: %r" % (name, e))
    except MemoryError:
        pass                        # no heap for the line: the count keeps it
    return None
