"""Direction, short walks and retro days on real bodies: the targets hold on the recordings
with a known forward axis (`ipol_dev`, `mocap_dev`) whenever they are there.

Backward walking is their time-reversed copies (`retrostep eval --reverse`).
"""
import pytest

from host_tools.eval_cmd import REVERSED, STANDING, evaluate, gait
from host_tools.paths import data_dir
from host_tools.retro_day import RETRO_GOAL, retro_days

SETS = ("ipol_dev", "mocap_dev")
# placements with a direction model on real walks: (dataset, placement)
TOLD = (("ipol_dev", "lower_back"), ("mocap_dev", "waist"), ("mocap_dev", "front_pocket"),
        ("mocap_dev", "ankle"))


def _dirs():
    root = data_dir()
    dirs = [root / s for s in SETS if (root / s / "manifest.json").exists()]
    if len(dirs) < len(SETS):
        pytest.skip(f"ipol_dev and mocap_dev not found at {root}")
    return dirs


@pytest.fixture(scope="module")
def evaluated():
    return evaluate(_dirs(), reverse=True, standing=True)


@pytest.fixture(scope="module")
def scored(evaluated):
    return evaluated.summary["datasets"]


def _wrist(evaluated, kind):
    # mocap_dev's wrist recordings of 8 or more steps, walking (turns included) or running
    rows = [r for r in evaluated.recordings if r["dataset"] == "mocap_dev" and r["placement"] == "wrist"
            and gait(r["activity"]) == kind and r["true_steps"] >= 8]
    assert len(rows) >= 15, kind
    return rows


@pytest.mark.parametrize("dataset,placement", TOLD)
def test_real_forward_walking_is_not_called_backward(scored, dataset, placement):
    a = scored[dataset]["direction_by_placement"][f"{placement} walking forward"]
    assert a["wrong_pct"] <= 0.5, a
    assert a["unknown_pct"] <= 10.0, a


@pytest.mark.parametrize("dataset,placement", TOLD)
def test_reversed_real_walking_is_found_backward(scored, dataset, placement):
    a = scored[dataset + REVERSED]["direction_by_placement"][f"{placement} walking backward"]
    assert a["right_pct"] >= 95.0, a
    assert a["wrong_pct"] <= 1.0, a


def test_running_is_never_called_backward_at_the_trunk(scored):
    # a runner's trunk traces a backward walker's orbit: over 148 steps/min that orbit
    # is forward running, and the other one is left unknown, not guessed
    a = scored["mocap_dev"]["direction_by_placement"]["waist running forward"]
    assert a["wrong_pct"] == 0.0 and a["steps"] > 150, a
    assert a["right_pct"] >= 75.0, a


@pytest.mark.parametrize("placement", ["waist", "front_pocket", "ankle", "wrist"])
def test_short_real_walks_are_counted(scored, placement):
    w = scored["mocap_dev"]["short_walks"][placement]["short_walks"]
    assert w["within_2_pct"] >= 95.0, w
    # of 6 or more steps, none missed
    assert w["missed"] == 0, w


@pytest.mark.parametrize("placement", ["waist", "front_pocket", "ankle", "wrist"])
def test_short_real_walks_ending_in_standing_are_counted(scored, placement):
    # as at home: the wearer stands still before and after; the walk's rhythm fades as
    # it stops instead of being cut off by the input's end
    w = scored["mocap_dev" + STANDING]["short_walks"][placement]["short_walks"]
    assert w["within_2_pct"] >= 95.0, w
    assert w["missed"] <= (1 if placement == "wrist" else 0), w


@pytest.mark.parametrize("placement", ["waist", "front_pocket", "ankle", "wrist"])
def test_real_runs_are_counted(scored, placement):
    # runs of 8+ steps, the last steps under way when the recording ends included
    w = scored["mocap_dev"]["short_walks"][placement]["runs"]
    assert abs(w["error_pct"]) <= 5.0, w


def test_wrist_jogs_are_counted_by_step_and_walks_not_doubled(evaluated):
    # A jog's arm swing can hide its steps from the wrist's signal (elderly jogs: a slow
    # lag whose half is in anti-phase, as a slow walk's step); read as a step it counts
    # half the run. Its strength tells it from a walk, whose arm swings gently: every
    # run is counted by its steps, and no walk at twice its rate.
    for r in _wrist(evaluated, "running"):
        assert r["steps"] * 4 >= r["true_steps"] * 3, r
    for r in _wrist(evaluated, "walking"):
        assert r["steps"] * 4 <= r["true_steps"] * 5, r


@pytest.mark.parametrize("placement", ["waist", "front_pocket", "ankle", "wrist"])
def test_standing_arm_gestures_give_few_false_steps(scored, placement):
    # waving and raising the arms while standing (30 trials a placement): at most one
    # false step a trial; at the wrist a wave is told from a walk's arm swing (_SPIN)
    g = scored["mocap_dev"]["short_walks"][placement]["no_steps"]
    assert g["recordings"] >= 30, g
    assert g["per_recording"] <= 1.0, g


def test_the_wrist_says_no_direction(scored):
    a = scored["mocap_dev"]["direction_by_placement"]["wrist walking forward"]
    assert a["unknown_pct"] == 100.0, a


def test_retro_days_find_the_backward_steps():
    days = retro_days(_dirs(), seeds=(1,), day_steps=3000)
    assert set(days) == {f"{d} {p}" for d, p in TOLD}
    for k, a in days.items():
        assert abs(a["backward_error_pct"]) <= 10.0, (k, a)
        assert a["false_backward_per_1000"] <= 5.0, (k, a)
        # forward walking alone never reaches the daily retro goal
        assert a["forward_only_backward_max"] < RETRO_GOAL // 4, (k, a)
