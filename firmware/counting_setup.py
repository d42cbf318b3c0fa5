"""The counting loop's state at boot: Pedometer() (counting.py) imports this module, sets
itself up through init() and drops it, so this code takes no heap while the loop runs.

    init(app, cfg, hw, settings_file)   the attributes counting.py's docstring lists, the
                                        settings read from `settings_file`, the poller
"""
import json
import select
from array import array

from micropython import const

from counting import IrqFlag, _now

_BATCH = const(64)          # samples per FIFO burst (as counting._BATCH)
_EV = const(32)             # step events read at once (as counting._EV)


def init(app, cfg, hw, settings_file):
    app.cfg = cfg
    app.hw = hw
    app.board_name = cfg.get("name", "?")
    app.uid = hw.unique_id()
    app.settings_file = settings_file
    app.settings = {}
    _load_settings(app)
    app.imu = None
    app.det = None
    app.placement = 0
    app.rate_hz = 0
    app.lsb_per_g = 0
    app.lsb_per_dps = 0
    app.stride = 3
    app.forward_axis = 0
    app.steps = 0
    app.forward = 0
    app.backward = 0
    app.unknown = 0
    app.samples = 0
    app.faults = {"i2c": 0, "overflow": 0, "no_imu": 0, "reinit": 0, "listener": 0}
    app.modules = {}
    app.batch_ms = 1000
    app.t_last = _now()        # ticks of the newest sample read
    app.n_last = 0             # det.n after it
    app._l_samples = []
    app._l_steps = []
    app._l_batch = []
    app._l_record = []
    app._l_shutdown = []
    app._readers = []          # [stream, fn] polled between batches
    # made (and registered) now, before any code loaded on demand comes and goes
    app._poller = select.poll()
    app._flag = IrqFlag()      # set by the IMU's interrupt
    app._poller.register(app._flag, select.POLLIN)
    for _ in app._poller.ipoll(0):     # its result tuple, made once, made now
        pass
    app._awake = {}
    app._host_t = _now()
    app._fault_t = {}
    app._fault_n = {}
    app._buf = array("h", bytes(2 * 3 * _BATCH))     # regrown for gyro on connect
    app._ev_idx = array("i", bytes(4 * _EV))
    app._ev_dir = bytearray(_EV)
    app._irq = False           # True when the IMU's interrupt wakes the loop
    app._wdt = None
    app._cue = None            # the pattern playing, its next step, and when that is due
    app._cue_i = 0
    app._cue_t = 0
    app._cue_out = True        # False: the LED alone (blink codes)
    app._btn_t = None          # when the button is looked at next (None: no button)
    app._t_down = None         # since when it is held; False: its long press is handled
    app._retry_t = None        # no IMU: when to look for it again
    app._cal = None
    app.cal_result = None
    app._shut = False
    app.later = ()              # modules to attach once the IMU is open (main.py)


def _load_settings(app):
    try:
        with open(app.settings_file) as f:
            app.settings = json.load(f)
    except (OSError, ValueError):
        app.settings = {}
