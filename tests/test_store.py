"""firmware/store.py: counts survive reloads, power cuts at any file operation, damaged
files and a full store; records are placed in time once the host sets the clock."""
import random
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from host_tools.link_client import parse_records
from host_tools.mpcompat import firmware_module
from host_tools.mprun import micropython_env
from host_tools.paths import micropython_binary

store = firmware_module("store")
HERE = Path(__file__).parent


class Clock:
    def __init__(self, t=0):
        self.t = t

    def __call__(self):
        return self.t


def all_records(st_):
    buf = bytearray(1024)
    out = []
    n = 0
    while True:
        c, used = st_.read_since(n, buf)
        if not c:
            return out
        recs = parse_records(bytes(buf[:used]))
        assert len(recs) == c
        out += recs
        n = recs[-1].seq


def bin_sums(recs):
    return (sum(r.fwd for r in recs if r.kind == 1), sum(r.bwd for r in recs if r.kind == 1),
            sum(r.unk for r in recs if r.kind == 1))


def test_counts_survive_a_clean_restart(tmp_path):
    clk = Clock(100)
    s = store.Store(str(tmp_path), clk)
    s.add_steps(5, 3, 1)
    clk.t += 400                      # the bin closes when the next step comes
    s.add_steps(2, 0, 0)
    s.event({"type": "fall", "ago_ms": 3000, "kind": "fall", "activity": "walk_backward"})
    s.close()
    assert s.totals() == (7, 3, 1)
    recs = all_records(s)
    assert [r.seq for r in recs] == [1, 2, 3]
    assert recs[0].kind == 1 and (recs[0].fwd, recs[0].bwd, recs[0].unk) == (5, 3, 1)
    assert recs[0].t == 100 and recs[0].dur == 200   # 100..300: bins end on a 5-minute grid
    assert recs[1].data == {"type": "fall", "kind": "fall", "activity": "walk_backward"}
    assert recs[1].t == 497                           # dated by ago_ms, not by when stored
    s2 = store.Store(str(tmp_path), Clock(5))
    assert s2.totals() == (7, 3, 1)
    assert s2.boot == s.boot + 1 and s2.next_seq == 4 and s2.sid == s.sid
    s2.add_steps(1, 1, 1)
    s2.close()
    assert [r.seq for r in all_records(s2)] == [1, 2, 3, 4]
    assert all_records(s2)[-1].boot == s2.boot


def test_steps_stay_in_the_open_bin_when_closing_it_finds_no_heap(tmp_path, monkeypatch):
    clk = Clock(100)
    s = store.Store(str(tmp_path), clk)
    s.add_steps(5, 3, 1)
    clk.t += 400                      # the bin is due to close at the next step...
    real = s._append

    def short_of_heap(*a):
        raise MemoryError
    monkeypatch.setattr(s, "_append", short_of_heap)
    s.add_steps(2, 0, 0)              # ...but there is no heap to record it: nothing is lost
    assert s.totals() == (7, 3, 1)
    monkeypatch.setattr(s, "_append", real)
    clk.t += 300
    s.add_steps(1, 0, 0)              # the next call closes it, with every step
    s.close()
    recs = all_records(s)
    assert bin_sums(recs) == (8, 3, 1) and s.totals() == (8, 3, 1)


def test_saves_at_most_every_interval_and_only_saved_records_are_readable(tmp_path):
    clk = Clock(0)
    s = store.Store(str(tmp_path), clk, save_every_s=120)
    writes = s.writes
    for _ in range(100):              # 100 minutes of walking, polled every 20 s
        for _ in range(3):
            clk.t += 20
            s.add_steps(30, 2, 0)
            s.poll()
    assert s.writes - writes <= 100 * 60 // 120 + 1
    assert s.writes - writes >= 100 * 60 // 300 - 1
    unsaved = s.next_seq - 1 - s.saved_seq
    assert all(r.seq <= s.saved_seq for r in all_records(s))
    s.cut()
    assert s.saved_seq == s.next_seq - 1 and unsaved >= 0
    assert bin_sums(all_records(s)) == s.totals() == (9000, 600, 0)


def test_set_time_places_earlier_records_and_earlier_boots(tmp_path):
    clk = Clock(1000)
    s = store.Store(str(tmp_path), clk)
    s.add_steps(10, 0, 0)
    clk.t = 5000
    s.close()                          # boot 1 ends at uptime 5000 without ever seeing the time
    clk2 = Clock(50)
    s2 = store.Store(str(tmp_path), clk2)
    s2.add_steps(0, 4, 0)
    clk2.t = 200
    s2.set_time(1_700_000_000, 60)
    boots = {b: (off, last, est) for b, off, last, est in s2.boots()}
    assert boots[s2.boot] == (1_700_000_000 - 200, 200, False)
    # the boot before is placed right before this one began, and says it is an estimate
    assert boots[s.boot] == (1_700_000_000 - 200 - 5000, 5000, True)
    s2.cut()
    recs = all_records(s2)
    first = recs[0]
    assert first.boot == s.boot and first.t + boots[s.boot][0] == 1_700_000_000 - 200 - 4000


def test_bins_follow_the_wall_clock_grid_once_set(tmp_path):
    clk = Clock(7)
    s = store.Store(str(tmp_path), clk)
    s.set_time(1_700_000_123, 0)       # wall = uptime + 1_700_000_116
    for _ in range(40):
        clk.t += 30
        s.add_steps(1, 0, 0)
    s.cut()
    recs = all_records(s)
    starts = [r.t + 1_700_000_116 for r in recs[1:]]
    assert starts and all(t % 300 == 0 for t in starts)
    assert sum(r.fwd for r in recs) == 40


def test_damaged_newest_segment_falls_back_to_the_one_before(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "SEG_BYTES", 256)
    clk = Clock(0)
    s = store.Store(str(tmp_path), clk)
    for i in range(60):
        clk.t += 300
        s.add_steps(1, 1, 0)
        s.poll()
    s.close()
    segs = sorted(tmp_path.glob("s*.rs"), key=lambda p: int(p.stem[1:]))
    assert len(segs) >= 3
    data = bytearray(segs[-1].read_bytes())
    data[len(data) // 2] ^= 0x40
    segs[-1].write_bytes(bytes(data))
    s2 = store.Store(str(tmp_path), Clock(0))
    assert s2.lost_segments == 1
    recs = all_records(s2)
    assert recs and [r.seq for r in recs] == list(range(recs[0].seq, recs[-1].seq + 1))
    assert bin_sums(recs) == s2.totals()[:3] and s2.totals()[0] < 60


def test_settings_are_checked_and_persist(tmp_path):
    d = {"retro_goal": 400, "cues": 1}
    s = store.Store(str(tmp_path), Clock(0), settings_defaults=d)
    with pytest.raises(ValueError, match="unknown setting"):
        s.set_settings({"retro_goal": 300, "bogus": 1})
    with pytest.raises(ValueError, match="retro_goal"):
        s.set_settings({"retro_goal": "many"})
    assert s.settings == d
    s.set_settings({"retro_goal": 250})
    assert store.Store(str(tmp_path), Clock(0), settings_defaults=d).settings["retro_goal"] == 250


def test_failing_flash_never_stops_the_counting(tmp_path, monkeypatch):
    """While every write fails (flash full), poll() and add_steps() go on; once writes work
    again everything counted meanwhile is saved, and records match the totals."""
    clk = Clock(0)
    s = store.Store(str(tmp_path), clk, save_every_s=60)
    real_open = open
    broken = [True]

    def failing_open(name, mode="r", *a):
        if "w" in mode and broken[0]:
            raise OSError(28, "no space left on device")
        return real_open(name, mode, *a)

    monkeypatch.setattr(store, "open", failing_open, raising=False)
    for _ in range(2000):             # 33 hours: more bins than a segment holds in RAM
        clk.t += 60
        s.add_steps(10, 2, 1)
        s.poll()
    assert s.write_errors > 0 and s.saved_seq == 0
    broken[0] = False
    clk.t += 60
    s.poll()
    s.cut()
    recs = all_records(s)
    assert bin_sums(recs) == s.totals()
    # bins that found no room were dropped, counted, and left out of the totals
    assert s.dropped > 0 and s.totals()[0] + 50 * s.dropped == 10 * 2000
    assert s.saved_seq == s.next_seq - 1
    again = store.Store(str(tmp_path), Clock(0))
    assert again.totals() == s.totals()


OPS = st.lists(st.one_of(
    st.tuples(st.just("steps"), st.integers(0, 40), st.integers(0, 40), st.integers(0, 5)),
    st.tuples(st.just("wait"), st.integers(1, 2000)),
    st.tuples(st.just("event"), st.integers(0, 3)),
    st.tuples(st.just("cut")),
    st.tuples(st.just("ack")),
    st.tuples(st.just("reboot")),
), max_size=120)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPS)
def test_model_small_segments(tmp_path_factory, monkeypatch, ops):
    """Random use with tiny segments and a tiny cap: records stay contiguous, their bins
    sum to the totals unless records were dropped (and then the drop is counted), and
    the seq never goes back."""
    monkeypatch.setattr(store, "SEG_BYTES", 200)
    monkeypatch.setattr(store, "_RESERVE", 40)
    monkeypatch.setattr(store, "MAX_SEGS", 4)
    root = tmp_path_factory.mktemp("st")
    clk = Clock(0)
    s = store.Store(str(root), clk)
    model = [0, 0, 0]
    last_seq = 0
    for op in ops:
        if op[0] == "steps":
            s.add_steps(*op[1:])
            for i in range(3):
                model[i] += op[1 + i]
        elif op[0] == "wait":
            clk.t += op[1]
            s.poll()
        elif op[0] == "event":
            s.event({"type": "retro_goal", "goal": op[1], "ago_ms": 0})
        elif op[0] == "cut":
            s.cut()
        elif op[0] == "ack":
            s.ack(s.saved_seq)
        else:
            s.close()
            clk.t = 0
            s = store.Store(str(root), clk)
        assert s.next_seq - 1 >= last_seq
        last_seq = s.next_seq - 1
    s.cut()
    assert s.totals() == tuple(model)
    recs = all_records(s)
    seqs = [r.seq for r in recs]
    assert seqs == list(range(s.first_seq(), s.next_seq))
    if s.dropped == 0 and (not recs or recs[0].seq == 1):
        assert bin_sums(recs) == tuple(model)
    assert s.dropped <= s.first_seq() - 1
    assert len(list(root.glob("s*.rs"))) <= 5


# ---- power cuts under the MicroPython Unix port ----------------------------------------

def mp(root, *args):
    p = subprocess.run([micropython_binary(), str(HERE / "mp_store_cut.py"), str(root), *args],
                       capture_output=True, text=True, env=micropython_env(), timeout=60)
    return p


def parse_check(out):
    line = [ln for ln in out.splitlines() if ln.startswith("C ")][-1].split()[1:]
    return [int(x) for x in line]


def test_power_cut_at_sampled_file_operations(tmp_path):
    full = mp(tmp_path / "ref", "run", "-1")
    assert full.returncode == 0, full.stderr
    npoints = int(full.stdout.split()[-1])
    ref = parse_check(mp(tmp_path / "ref", "check").stdout)
    assert ref[:4] == ref[4:8] and ref[8] == 0   # complete run: records sum to totals, no gaps
    rng = random.Random(5)
    points = sorted(rng.sample(range(1, npoints + 1), 16))
    cuts = 0
    for k in points:
        root = tmp_path / f"cut{k}"
        r = mp(root, "run", str(k))
        assert r.returncode == -9, (k, r.returncode, r.stderr[-500:])
        cuts += 1
        lines = [ln.split() for ln in r.stdout.splitlines() if ln[:1] in "AB"]
        done = [tuple(map(int, ln[1:])) for ln in lines if ln[0] == "A"]
        pending = [tuple(map(int, ln[1:])) for ln in lines if ln[0] == "B"]
        allowed = {done[-1] if done else (0, 0, 0, 0)}
        if len(pending) > len(done):
            allowed.add(pending[-1])
        c = parse_check(mp(root, "check").stdout)
        assert tuple(c[:4]) in allowed, (k, c, allowed)
        assert c[4:7] == c[:3] and c[8] == 0, (k, c)   # saved records sum to saved totals
        # the next boot carries on from there without a gap
        again = mp(root, "run", "-1")
        assert again.returncode == 0, again.stderr
        c2 = parse_check(mp(root, "check").stdout)
        assert c2[4:7] == c2[:3] and c2[8] == 0 and c2[3] > c[3]
    print(f"power cuts injected: {cuts} of {npoints} file operations")
