"""Simulator: physics sanity, labels, determinism, sensors, time reversal, streaming."""
import numpy as np
import pytest
from hypothesis import given, settings

from host_tools.errors import UserError
from host_tools.sim import Person, simulate, stream
from host_tools.sim.reverse import reverse_arrays, reverse_steps
from host_tools.sim.sensors import SENSORS, forward_axis_of, mount_from_axes
from host_tools.sim.strategies import sim_kwargs
from host_tools.sim.tables import Wave


def _step_freq(x, rate):
    x = x - x.mean()
    f = np.fft.rfftfreq(len(x), 1 / rate)
    s = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    band = (f > 0.5) & (f < 4)
    return f[band][np.argmax(s[band])]


@pytest.mark.parametrize("placement", ["waist", "lower_back", "front_pocket", "ankle", "wrist"])
def test_gravity_and_step_labels(placement):
    tr = simulate(activity="walk", placement=placement, steps=60, seed=4, sensor="ideal")
    # at rest at the start the device reads 1 g
    still = tr.accel[:10]
    assert np.allclose(np.linalg.norm(still, axis=1), 1.0, atol=0.05)
    assert len(tr.step_ms) == 60 and set(tr.step_dir) == {"F"}
    d = np.diff(tr.step_ms)
    assert 480 < np.median(d) < 630          # default 108 steps/min
    assert tr.t_ms[0] < tr.step_ms[0] and tr.step_ms[-1] < tr.t_ms[-1]


def test_trunk_vertical_amplitude_and_frequency():
    tr = simulate(activity="walk", placement="lower_back", steps=80, seed=2, sensor="ideal",
                  cadence_spm=114)
    up = tr.accel[:, 1]            # lower_back default mount: +y up
    mid = (tr.t_ms > tr.step_ms[5]) & (tr.t_ms < tr.step_ms[-5])
    v = up[mid] - up[mid].mean()
    assert 0.12 < v.std() < 0.4
    assert 0.2 < np.percentile(np.abs(v), 95) < 0.8
    assert abs(_step_freq(v, tr.rate_hz) - 1.9) < 0.1


def _harmonic_ratio(x, rate_hz, step_ms):
    # even over odd stride harmonics (1..20), median over strides (Menz et al. 2003)
    ratios = []
    for j in range(2, len(step_ms) - 4, 2):
        seg = x[int(step_ms[j] * rate_hz / 1000):int(step_ms[j + 2] * rate_hz / 1000)]
        h = np.abs(np.fft.rfft(seg - seg.mean()))[1:21]
        ratios.append(h[1::2].sum() / h[0::2].sum())
    return float(np.median(ratios))


@pytest.mark.parametrize("placement", ["lower_back", "waist"])
def test_trunk_harmonic_ratios_are_the_published_ones(placement):
    # Menz et al. 2003, pelvis at preferred speed: about 3 for V and AP (even over odd),
    # 2.5 for ML (odd over even); a perfectly regular trunk would give 6-9 here
    tr = simulate(script="stand 3s, walk 80, stand 3s", placement=placement, rate_hz=100.0,
                  seed=4, sensor="mpu6050")
    mount = {"lower_back": (1, 2, 0), "waist": (1, 2, 0)}[placement]   # V, AP, ML sensor axes
    hr = [_harmonic_ratio(tr.accel[:, k], tr.rate_hz, tr.step_ms) for k in mount]
    v, ap, ml = hr
    assert 2.0 < v < 4.5 and 2.0 < ap < 4.5, hr
    assert 1.8 < 1 / ml < 4.5, hr


def test_ankle_larger_than_trunk_and_wrist_swings():
    kw = dict(activity="walk", steps=40, seed=3, sensor="ideal")
    ank = simulate(placement="ankle", **kw)
    trunk = simulate(placement="waist", **kw)
    wr = simulate(placement="wrist", **kw)
    mag = lambda t: np.linalg.norm(t.accel, axis=1).std()
    assert mag(ank) > 2 * mag(trunk)
    # the shank swings at 200-450 dps, the forearm at tens of dps
    assert 200 < np.abs(ank.gyro).max() < 500
    assert 30 < np.abs(wr.gyro).max() < 250


def test_backward_is_time_reversed_forward_motion():
    """Forward trunk AP rises slowly and drops fast at contact; backward walking shows the
    mirror image. Checked on the mean step waveform of the forward axis."""
    def mean_step(act):
        tr = simulate(activity=act, placement="waist", steps=120, seed=5, sensor="ideal", rate_hz=100)
        ap = tr.accel[:, 2]       # waist default: +z forward
        L = 50
        segs = [ap[int(s / 10): int(s / 10) + L] for s in tr.step_ms[5:-5]]
        return np.mean([s - s.mean() for s in segs if len(s) == L], axis=0)

    f, b = mean_step("walk"), mean_step("retro")
    # steepest fall is much faster than steepest rise in forward walking, and the other way round
    assert -np.diff(f).min() > 1.5 * np.diff(f).max()
    assert np.diff(b).max() > 1.5 * -np.diff(b).min()


def test_backward_steps_shorter_same_cadence_labels():
    f = simulate(activity="walk", placement="waist", steps=50, seed=1)
    b = simulate(activity="retro", placement="waist", steps=50, seed=1)
    assert set(b.step_dir) == {"B"} and b.direction == "backward"
    assert abs(np.median(np.diff(f.step_ms)) - np.median(np.diff(b.step_ms))) < 30
    assert np.linalg.norm(b.accel, axis=1).std() < np.linalg.norm(f.accel, axis=1).std()


def test_deterministic_per_seed_and_seed_matters():
    a = simulate(script="walk 20, turn, retro 15, stand 3s", placement="wrist", seed=7)
    b = simulate(script="walk 20, turn, retro 15, stand 3s", placement="wrist", seed=7)
    c = simulate(script="walk 20, turn, retro 15, stand 3s", placement="wrist", seed=8)
    assert np.array_equal(a.raw, b.raw) and a.step_ms == b.step_ms
    assert not np.array_equal(a.raw[:len(c)], c.raw[:len(a)])


def test_stream_equals_collect_and_chunks_bounded():
    kw = dict(activity="walk", placement="ankle", steps=30, seed=9)
    whole = simulate(**kw)
    s = stream(chunk=256, **kw)
    parts = list(s)
    assert max(len(p.t_ms) for p in parts) <= 256
    assert np.array_equal(np.concatenate([p.raw for p in parts]), whole.raw)
    assert s.step_ms == whole.step_ms
    assert sum(len(p.steps) for p in parts) == 30


@pytest.mark.parametrize("placement", ["wrist", "front_pocket", "waist", "lower_back", "ankle"])
def test_any_chunk_size_gives_the_same_trace(placement):
    # standing, walking both ways: accelerations and angular rates alike, to the count
    kw = dict(script="stand 3s, walk 12, stand 2s, retro 10", placement=placement, seed=4, rate_hz=50)
    whole = simulate(**kw)
    for chunk in (1, 97, 4096):
        parts = list(stream(chunk=chunk, **kw))
        assert np.array_equal(np.concatenate([p.raw for p in parts]), whole.raw), chunk


def test_pocket_jostle_is_chunk_independent_and_only_in_the_pocket():
    # the phone's own motion in the pocket is drawn per contact, not per chunk
    kw = dict(script="walk 12, retro 10, stand 2s", placement="front_pocket", seed=4, rate_hz=100)
    whole = simulate(**kw)
    parts = list(stream(chunk=97, **kw))
    assert np.array_equal(np.concatenate([p.raw for p in parts]), whole.raw)
    # it shows on the axes across the thigh (pocket default: +y along the thigh)
    ideal = simulate(activity="walk", placement="front_pocket", steps=40, seed=2, sensor="ideal",
                     rate_hz=100)
    mid = (ideal.t_ms > ideal.step_ms[3]) & (ideal.t_ms < ideal.step_ms[-3])
    x = ideal.accel[mid]
    box = np.ones(15) / 15               # above about 7 Hz
    fast = np.column_stack([x[:, k] - np.convolve(x[:, k], box, "same") for k in range(3)])[20:-20]
    # a phone strapped to the thigh would give about 0.05 g there (the phones: 0.1-0.3 g)
    assert np.all(fast[:, [0, 2]].std(axis=0) > 0.12)


def test_script_mix_labels_and_turn_gyro():
    tr = simulate(script="walk 30, turn, retro 20, stand 5s", placement="waist", seed=1, sensor="ideal")
    assert tr.step_dir == ["F"] * 34 + ["B"] * 20
    assert tr.direction == "mixed"
    # a 180 degree turn: the yaw rate (up axis +y) integrates to about 180 degrees
    t0, t1 = tr.step_ms[29], tr.step_ms[34]
    sel = (tr.t_ms > t0) & (tr.t_ms < t1 + 1500)
    assert 140 < abs(tr.gyro[sel, 1].sum() / tr.rate_hz) < 220


@pytest.mark.parametrize("name", [n for n in SENSORS if n != "ideal"])
def test_sensor_counts_quantised_and_saturate(name):
    tr = simulate(activity="run", placement="ankle", steps=30, seed=1, sensor=name, accel_range_g=2)
    spec = SENSORS[name]
    assert tr.lsb_per_g == pytest.approx(spec.accel_lsb[2])
    assert tr.raw.dtype == np.int32
    # running at the ankle exceeds +-2 g: the counts clip at the 16-bit limits
    assert tr.raw[:, :3].max() == 32767 or tr.raw[:, :3].min() == -32768
    assert np.abs(tr.accel).max() <= 32768 / tr.lsb_per_g


def test_sensor_noise_and_offsets_follow_datasheet():
    quiet = simulate(activity="stand", placement="waist", duration_s=30, seed=3, sensor="mpu6050")
    ideal = simulate(activity="stand", placement="waist", duration_s=30, seed=3, sensor="ideal")
    diff = quiet.accel - ideal.accel
    sigma = 400e-6 * np.sqrt(25)               # 400 ug/rtHz over 25 Hz
    hf = np.diff(diff, axis=0).std(axis=0) / np.sqrt(2)
    assert np.all((hf > 0.6 * sigma) & (hf < 1.6 * sigma))
    assert np.abs(diff.mean(axis=0)).max() < 0.2      # offsets within the datasheet's spread


def test_mounts_and_forward_axis():
    M = mount_from_axes("-z", "+y")
    assert forward_axis_of(M) == "-z"
    tr = simulate(activity="walk", placement="waist", steps=10, seed=1, mount="fwd=-x,up=+z", sensor="ideal")
    assert tr.forward_axis == "-x"
    assert tr.accel[:10, 2].mean() == pytest.approx(1.0, abs=0.05)
    assert simulate(activity="walk", placement="waist", steps=10, seed=1, mount="random").forward_axis is None


@pytest.mark.parametrize("kw, msg", [
    (dict(activity="walk", steps=-1), "steps"),
    (dict(activity="walk", steps=10, placement="knee"), "placement"),
    (dict(activity="walk", steps=10, rate_hz=5), "rate"),
    (dict(activity="walk", steps=10, rate_hz=2000), "rate"),
    (dict(activity="hop", steps=10), "activity"),
    (dict(activity="walk", steps=10, sensor="adxl345"), "sensor"),
    (dict(script="walk 10, fly 3"), "fly"),
    (dict(activity="desk", steps=5), "duration"),
    (dict(activity="walk", steps=10, person=Person(height_m=3.0)), "height"),
    (dict(activity="walk", steps=10, mount="fwd=+x,up=+x"), "mount"),
])
def test_invalid_options_raise_user_error(kw, msg):
    with pytest.raises(UserError, match=msg):
        simulate(**kw)


def test_wave_reversal_flips_rates():
    w = Wave.from_points([(0, 0), (0.1, 1), (0.6, -0.5)], 6)
    r = w.reversed(0.3)
    ph = np.linspace(0, 1, 50, endpoint=False)
    assert np.allclose(r(ph), w(0.3 - ph), atol=1e-3)
    assert np.allclose(r.deriv(ph), -w.deriv(0.3 - ph), atol=0.05 * np.abs(w.deriv(ph)).max())


def test_reverse_arrays_keep_accel_sign_flip_gyro():
    t = np.array([0.0, 20, 45, 60])
    d = np.arange(24, dtype=float).reshape(4, 6)
    t2, d2 = reverse_arrays(t, d)
    assert list(t2) == [0, 15, 40, 60]
    assert np.array_equal(d2[:, :3], d[::-1, :3]) and np.array_equal(d2[:, 3:], -d[::-1, 3:])
    r, dirs = reverse_steps([1000, 1500, 2000], 0, 3000)
    assert dirs == ["B"] * 3 and r == sorted(r) and all(0 <= x <= 3000 for x in r)
    assert r == [900, 1400, 1900]


@settings(max_examples=15, deadline=None)
@given(sim_kwargs())
def test_any_parameters_give_a_sane_labelled_trace(kw):
    tr = simulate(**kw)
    assert len(tr.step_ms) == kw["steps"]
    assert np.all(np.diff(tr.t_ms) > 0) and np.all(np.diff(tr.step_ms) > 0)
    assert tr.t_ms[0] <= tr.step_ms[0] and tr.step_ms[-1] <= tr.t_ms[-1]
    g = np.median(np.linalg.norm(tr.accel, axis=1))
    assert 0.75 < g < 1.4          # about 1 g; the ankle reads more (swing centripetal)
    assert set(tr.step_dir) == {"F" if kw["activity"] == "walk" else "B"}


@pytest.mark.parametrize("activity", ["stand", "desk", "gestures", "drive", "cycle"])
def test_activities_without_steps(activity):
    for placement in ("wrist", "front_pocket", "waist", "lower_back", "ankle"):
        tr = simulate(activity=activity, placement=placement, duration_s=40, seed=2)
        assert tr.step_ms == [] and tr.direction == "none"
        assert len(tr) == 40 * 50
        assert 0.85 < np.median(np.linalg.norm(tr.accel, axis=1)) < 1.6


def test_cycling_pedals_at_crank_rate_and_driving_bounces():
    tr = simulate(activity="cycle", placement="ankle", duration_s=60, seed=1, sensor="ideal")
    f = _step_freq(np.linalg.norm(tr.accel, axis=1), tr.rate_hz)
    assert 0.9 < f < 1.6                     # 60-90 rpm
    dr = simulate(activity="drive", placement="waist", duration_s=120, seed=1, sensor="ideal")
    up = dr.accel[:, 1]
    assert 0.02 < up.std() < 0.15


def test_custom_segments_and_registered_names():
    """Other modules insert event segments (falls, stumbles) through this hook."""
    from host_tools.sim import BodyChunk, scenario

    class Thump:
        label = "thump"

        def samples(self, ctx):
            n = int(ctx.rate_hz)
            f = np.tile([0.0, 0.0, 1.0], (n, 1))
            f[n // 2, 2] = 3.0
            yield BodyChunk(f, np.zeros((n, 3)), steps=[], events=[(ctx.ms(ctx.i0 + n // 2), "thump")])

    segs = scenario.parse_script("walk 10") + [Thump()] + scenario.parse_script("stand 2s")
    tr = simulate(segments=segs, placement="waist", sensor="ideal", seed=1)
    assert len(tr.step_ms) == 10 and len(tr.events) == 1
    t_ev = tr.events[0][0]
    k = int(np.searchsorted(tr.t_ms, t_ev))
    assert tr.accel[k, 1] == pytest.approx(3.0, abs=0.01)      # waist: +y is up
    scenario.register("thump", lambda amount, person: Thump())
    tr2 = simulate(script="walk 10, thump, stand 2s", placement="waist", sensor="ideal", seed=1)
    assert np.array_equal(tr2.raw, tr.raw) and tr2.events == tr.events


# ------------------------------------------------------------------ backward walking's features

def _walk_pair(placement, rate_hz=200.0, **person):
    """A forward and a backward walk at the same cadence, by an even, regular walker."""
    p = dict(asymmetry=0.0, variability=0.0)
    p.update(person)
    return tuple(simulate(activity=act, placement=placement, steps=80, seed=3, sensor="ideal",
                          rate_hz=rate_hz, cadence_spm=108, person=Person(**p))
                 for act in ("walk", "retro"))


def _stride_mean(tr, x, nb=100):
    """Mean over strides of `x` in `nb` phase bins, phase 0 at the left foot's contact
    (the labelled steps alternate, the first is the left foot's)."""
    left = np.array(tr.step_ms[4:-4:2]) / 1000.0
    acc = np.zeros((nb, x.shape[1]))
    cnt = np.zeros(nb)
    for a, b in zip(left[:-1], left[1:]):
        i = np.arange(int(a * tr.rate_hz), int(b * tr.rate_hz))
        k = np.minimum(((i / tr.rate_hz - a) / (b - a) * nb).astype(int), nb - 1)
        np.add.at(acc, k, x[i])
        np.add.at(cnt, k, 1)
    return acc / cnt[:, None]


def _corr(a, b):
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def _foot_down(waves, nb=1000, direction=1.0):
    """Share of the stride the model's ankle stands on the ground (planted: its speed over
    the ground under a tenth of its peak). The model gives the knee's path relative to the
    walking speed (forward, or backward for backward walking) and the shank below it."""
    from host_tools.sim.kinematics import D2R
    p = np.arange(nb) / nb
    b = waves.shank(p) * D2R
    vx = waves.knee_x.deriv(p) + direction + waves.shank_len * np.cos(b) * waves.shank.deriv(p) * D2R
    vz = waves.knee_z.deriv(p) + waves.shank_len * np.sin(b) * waves.shank.deriv(p) * D2R
    speed = np.hypot(vx, vz)
    return float(np.mean(speed < 0.1 * speed.max()))


def test_backward_walking_has_longer_double_support():
    from host_tools.sim.gait import BACKWARD_DS, FORWARD_DS, backward_waves, walking_waves
    assert BACKWARD_DS > FORWARD_DS
    # the double-support parameter acts: each foot stays down longer by half the extra
    # double support of a step (it is spent with both feet down, once per step)
    short, long_ = _foot_down(walking_waves(0.2)), _foot_down(walking_waves(0.3))
    assert long_ - short == pytest.approx(0.05, abs=0.01)
    # and backward walking uses the longer one: reversal keeps how long the foot is down
    fwd, bwd = _foot_down(walking_waves()), _foot_down(backward_waves(), direction=-1.0)
    assert bwd == pytest.approx(_foot_down(walking_waves(BACKWARD_DS)), abs=0.005)
    assert bwd - fwd == pytest.approx((BACKWARD_DS - FORWARD_DS) / 2, abs=0.01)
    # seen in the trace: the shank is still (|rate| under 30 % of its peak) for a larger
    # share of the stride walking backwards (measured 0.44 forward, 0.54 backward)
    f, b = _walk_pair("ankle")
    still = [float(np.mean(m < 0.3 * m.max()))
             for m in (np.linalg.norm(_stride_mean(t, t.gyro), axis=1) for t in (f, b))]
    assert still[1] > still[0] + 0.05, still


@pytest.mark.parametrize("placement", ["ankle", "lower_back"])
def test_backward_contacts_are_softer(placement):
    # the contact transient is what the contacts add: the trace minus the same trace
    # (same seed) from a wearer whose contacts carry no shock (impact 0)
    peaks = {}
    for act in ("walk", "retro"):
        kw = dict(activity=act, placement=placement, steps=60, seed=3, sensor="ideal", rate_hz=200.0,
                  cadence_spm=108)
        with_shock = simulate(person=Person(asymmetry=0.0, variability=0.0), **kw)
        without = simulate(person=Person(asymmetry=0.0, variability=0.0, impact=0.0), **kw)
        d = np.linalg.norm(with_shock.accel - without.accel, axis=1)
        assert np.array_equal(with_shock.raw[:, 3:], without.raw[:, 3:])   # only accelerations
        # it sits at the contacts: its peak within 0.15 s after a labelled contact
        contacts = np.array(with_shock.step_ms)
        after = (with_shock.t_ms[:, None] - contacts[None, :])
        near = np.any((after >= 0) & (after <= 150), axis=1)
        assert d[near].max() > 3 * d[~near].max()
        peaks[act] = np.median([d[(with_shock.t_ms >= c) & (with_shock.t_ms <= c + 150)].max()
                                for c in contacts[2:-2]])
    # softer toe-first contacts walking backwards (measured: about half the forward peak)
    assert peaks["retro"] < 0.7 * peaks["walk"], peaks


@pytest.mark.parametrize("placement", ["ankle", "lower_back", "wrist"])
def test_backward_rates_are_the_forward_ones_reversed_and_negated(placement):
    from host_tools.sim.gait import walking_waves
    f, b = _walk_pair(placement)
    nb = 100
    fg, bg = _stride_mean(f, f.gyro, nb), _stride_mean(b, b.gyro, nb)
    fa, ba = _stride_mean(f, f.accel, nb), _stride_mean(b, b.accel, nb)
    # the forward stride played backwards about the left toe-off, which becomes the
    # backward left contact: backward phase p is forward phase (toe-off - p)
    idx = np.round((walking_waves().stance - np.arange(nb) / nb) * nb).astype(int) % nb
    # angular rates flip sign (measured 0.95 to 0.97), accelerations keep it (0.88 to 0.93 at
    # the lower back and wrist; 0.73 at the ankle, whose accelerations are the shank's swing
    # about the knee, centripetal and tangential, and so change more than the others with
    # backward walking's shorter steps, shorter swing and softer contacts: 0.85 without
    # the contacts' transients)
    assert _corr(bg, -fg[idx]) > 0.85
    assert _corr(ba, fa[idx]) > (0.65 if placement == "ankle" else 0.8)
    # and neither is the forward walk as it is
    assert _corr(bg, fg) < _corr(bg, -fg[idx]) - 0.3


def test_streaming_memory_does_not_grow_with_the_samples():
    """Generating 2 h of walking at 50 Hz peaks at about the same traced memory as 10 min
    (no timing here: the speed is a `retrostep bench` figure). What does grow is the
    step labels (times and directions, which the manifest needs), tens of bytes a step."""
    from host_tools.bench_sim import generate, peak_traced_bytes
    short, steps_short = peak_traced_bytes(600.0)
    long_, steps_long = peak_traced_bytes(7200.0)
    assert steps_long > 11 * steps_short
    # measured 2.5 MB and 3.6 MB; holding the samples would add 8.6 MB of counts alone
    assert long_ < 2.0 * short, (short, long_)
    samples = 7200 * 50
    extra = (long_ - short) / (samples - 600 * 50)
    assert extra < 6.0, f"{extra:.1f} bytes per extra sample (the raw counts alone are 24)"
    n, _, biggest = generate(60.0)
    assert n == 60 * 50 and biggest <= 4096
