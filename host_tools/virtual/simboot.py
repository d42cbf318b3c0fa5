"""The sim board's power-on for measured runs: the emulation, then the firmware.

Loads the emulation (the stand-ins for machine, select and time, which a board has built
in), leaves exactly RETROSTEP_SIM_FREE_KB of heap free (simworld.World.leave_free), then
runs the firmware's main.py: every byte the firmware takes, from its first module on,
comes out of that budget, and nothing the emulation holds does.
"""
import machine
import select  # noqa: F401  (the emulated one, loaded before the budget is set)
import time  # noqa: F401

machine.world.leave_free()

import main  # noqa: E402,F401
