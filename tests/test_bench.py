"""`retrostep bench`: the detector section's figures and the discovery of other areas' sections
(figures are printed, never compared with a time limit)."""
import json
import subprocess
from pathlib import Path

from host_tools import cli
from host_tools.bench_cmd import STATE_MOUNTS, STATE_RATES, areas, mpy_sizes, state_sizes
from host_tools.paths import FIRMWARE, micropython_binary


def test_bench_detector_section_json(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert cli.main(["bench", "--quick", "--only", "detector", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    for k in ("micropython_samples_per_s", "cpython_samples_per_s", "state_bytes"):
        assert isinstance(doc[k], int) and doc[k] > 0, k
    assert doc["heap_bytes_per_sample"] >= 0 and isinstance(doc["heap_lock_ok"], bool)
    assert set(doc["mpy_bytes"]) == {"armv6m", "xtensawin"}
    for arch in ("armv6m", "xtensawin"):
        assert doc["mpy_bytes"][arch]["firmware"] >= doc["mpy_bytes"][arch]["detector"] > 0
    worst = doc["state_bytes_worst"]
    assert worst["bytes"] >= doc["state_bytes"] and worst["rate_hz"] in STATE_RATES
    # the worst case is the measurement of its own configuration
    mount = next(m for m in STATE_MOUNTS if m[:2] == (worst["forward_axis"], worst["placement"]))
    assert state_sizes([(worst["rate_hz"], *mount)])[0][4] == worst["bytes"]
    printed = capsys.readouterr().out
    assert "[detector]" in printed and "micropython_samples_per_s" in printed


def test_mpy_sizes_are_the_compiled_files(tmp_path):
    sizes = mpy_sizes()
    exe = Path(micropython_binary()).with_name("mpy-cross")
    out = tmp_path / "s.mpy"
    subprocess.run([str(exe), "-march=armv6m", "-o", str(out), str(FIRMWARE / "stepdetect.py")], check=True)
    assert sizes["armv6m"]["detector"] == out.stat().st_size
    assert sizes["armv6m"]["files"] == len(list(FIRMWARE.rglob("*.py")))
    assert sizes["xtensawin"]["firmware"] >= sizes["xtensawin"]["detector"] > 0
    # the compiled detector stays under 16 KB on both boards' architectures
    assert max(sizes[a]["detector"] for a in ("armv6m", "xtensawin")) < 16 * 1024, sizes


def test_areas_are_the_bench_modules():
    here = Path(__file__).resolve().parent.parent / "host_tools"
    expected = sorted(p.stem[len("bench_"):] for p in here.glob("bench_*.py") if p.stem != "bench_cmd")
    assert areas() == expected


def test_unknown_section_is_refused(capsys):
    assert cli.main(["bench", "--only", "nonsense"]) == 2
    assert "unknown bench section 'nonsense'" in capsys.readouterr().err
