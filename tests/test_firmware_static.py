"""Every firmware file type-checks against the rp2 and esp32 MicroPython stubs (basedpyright)
and compiles with mpy-cross for armv6m (RP2040) and xtensawin (ESP32)."""
import subprocess
from pathlib import Path

import pytest

from host_tools.paths import FIRMWARE, micropython_binary
from host_tools.typecheck import PORTS, check, describe, port_stubs

FILES = sorted(FIRMWARE.rglob("*.py"))


def stubs_or_skip(port):
    try:
        return port_stubs(port)
    except RuntimeError as e:
        pytest.skip(f"{port} stubs unavailable: {e}")


# rp2.PIO exists only on the RP2040 and esp32.NVS only on the ESP32; a checker that saw the
# other port's stubs (or none) would get one of these wrong. Checked in the same run as the
# firmware (one basedpyright run per port).
PROBES = {
    "uses_rp2.py": "import rp2\nfrom machine import I2C\nsm = rp2.PIO(0)\nbus = I2C(0)\n",
    "uses_esp32.py": "import esp32\nnvs = esp32.NVS('retrostep')\n",
    "wrong.py": "from micropython import const\nX: str = const(1)\n",
}


@pytest.fixture(scope="module")
def diagnostics(tmp_path_factory):
    probes = tmp_path_factory.mktemp("probes")
    for name, text in PROBES.items():
        (probes / name).write_text(text)
    cache = {}

    def get(port):
        if port not in cache:
            stubs_or_skip(port)
            cache[port] = check(FILES + sorted(probes.iterdir()), port)
        return cache[port]
    return get


def by_file(diags, name):
    return [d for d in diags if Path(d["file"]).name == name]


@pytest.mark.parametrize("port", PORTS)
def test_firmware_type_checks(port, diagnostics):
    diags = [d for d in diagnostics(port) if Path(d["file"]).parent == FIRMWARE
             or FIRMWARE in Path(d["file"]).parents]
    assert not diags, f"basedpyright on {port}:\n" + describe(diags)


def test_the_checks_use_each_ports_own_stubs(diagnostics):
    rp2, esp32 = diagnostics("rp2"), diagnostics("esp32")
    assert by_file(rp2, "uses_rp2.py") == [] and by_file(esp32, "uses_esp32.py") == []
    assert any("rp2" in d["message"] for d in by_file(esp32, "uses_rp2.py"))
    assert any("esp32" in d["message"] for d in by_file(rp2, "uses_esp32.py"))
    assert by_file(rp2, "wrong.py") and by_file(esp32, "wrong.py")


def mpy_cross():
    exe = Path(micropython_binary()).with_name("mpy-cross")
    return str(exe) if exe.exists() else "mpy-cross"


@pytest.mark.parametrize("arch", ["armv6m", "xtensawin"])
def test_firmware_compiles_with_mpy_cross(arch, tmp_path):
    assert FILES
    failures = []
    for f in FILES:
        out = tmp_path / f.relative_to(FIRMWARE).with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([mpy_cross(), f"-march={arch}", "-o", str(out), str(f)],
                              capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            failures.append(f"{f.name}: {proc.stderr.strip()}")
    assert not failures, "\n".join(failures)
