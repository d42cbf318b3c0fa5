"""Lets CPython import the firmware's files unchanged.

The firmware uses `from micropython import const` and the `@micropython.native` and
`@micropython.viper` decorators (and viper's `ptr8`/`ptr16`/`ptr32` annotations). On CPython those are registered here as a small module whose
decorators return the function as it is and whose `const` is the identity, so
the same source runs on the board, under the Unix port and on the PC.
"""
import sys
import types


def install():
    if "micropython" in sys.modules:
        return
    mod = types.ModuleType("micropython")
    mod.const = lambda x: x
    mod.native = lambda f: f
    mod.viper = lambda f: f
    # viper's pointer annotations, evaluated when CPython defines the function: on CPython
    # a viper function runs on the arrays themselves (it is written to give the same values)
    import builtins
    for name in ("ptr8", "ptr16", "ptr32"):
        if not hasattr(builtins, name):
            setattr(builtins, name, object)
    mod.heap_lock = lambda: 0
    mod.heap_unlock = lambda: 0
    mod.alloc_emergency_exception_buf = lambda n: None
    sys.modules["micropython"] = mod


def firmware_module(name: str):
    """Import `firmware/<name>.py` as the board would, from the firmware folder itself."""
    import importlib
    from .paths import FIRMWARE
    install()
    if str(FIRMWARE) not in sys.path:
        sys.path.insert(0, str(FIRMWARE))
    return importlib.import_module(name)


def use_firmware():
    """Makes the firmware's files importable on CPython as they are on the board:
    `use_firmware(); from stepdetect import StepDetector` (README, "The step detector")."""
    from .paths import FIRMWARE
    install()
    if str(FIRMWARE) not in sys.path:
        sys.path.insert(0, str(FIRMWARE))
