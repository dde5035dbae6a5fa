"""Any Gymnasium env: MODULE:CLASS loading, pixels from render(), clear errors, collect -> train -> eval."""

import json
import re
from pathlib import Path

import gymnasium as gym
import h5py
import numpy as np
import pytest

from jepaworld.cli.main import main
from jepaworld.envs.adapter import EnvError, make_env
from jepaworld.eval.protocol import EvalConfig

PUCK = str(Path(__file__).resolve().parents[1] / "examples" / "custom_env.py") + ":PuckEnv"


class BadRender(gym.Env):
    """An env whose render is wrong in a way chosen by ``kind``; its actions are whatever ``action`` says."""

    def __init__(self, render_mode=None, kind="none", action="box"):
        self.render_mode, self.kind = render_mode, kind
        self.observation_space = gym.spaces.Box(-1, 1, (1,), np.float32)
        if action == "discrete":
            self.action_space = gym.spaces.Discrete(3)
        elif action == "unbounded":
            self.action_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
        else:
            self.action_space = gym.spaces.Box(-1, 1, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 0.0, False, False, {}

    def render(self):
        return {
            "none": None,
            "float": np.zeros((32, 32, 3), np.float32),
            "gray": np.zeros((32, 32), np.uint8),
            "list": [[0, 0, 0]],
        }[self.kind]


def test_a_file_class_env_is_seen_as_square_frames_of_the_model_size():
    env = make_env(PUCK, image_size=48)
    frame, info = env.reset(seed=3)
    assert frame.shape == (48, 48, 3) and frame.dtype == np.uint8 and frame.flags.writeable
    assert env.observation_space.shape == (48, 48, 3) and not env.uses_observation  # render(), not the state vector
    again, _ = env.reset(seed=3)
    assert np.array_equal(frame, again)  # same seed, same frame
    moved, *_ = env.step(np.ones(2, np.float32))
    assert not np.array_equal(frame, moved)
    assert "position" in info and not env.has_goal_frame


def test_a_module_class_spec_is_imported_from_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "my_envs.py").write_text(Path(PUCK.rpartition(":")[0]).read_text())
    monkeypatch.chdir(tmp_path)
    assert make_env("my_envs:PuckEnv").reset(seed=0)[0].shape == (64, 64, 3)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("none", "render() returned None; expected an RGB image [H, W, 3] uint8"),
        ("float", "render() returned an array float32 [32, 32, 3]; expected [H, W, 3] uint8"),
        ("gray", "render() returned an array uint8 [32, 32]; expected [H, W, 3] uint8"),
        ("list", "render() returned list; expected a numpy RGB image"),
    ],
)
def test_a_wrong_render_is_a_clear_error(kind, message):
    env = make_env(f"{__file__}:BadRender", kind=kind)
    with pytest.raises(EnvError, match=re.escape(message)):
        env.reset(seed=0)


@pytest.mark.parametrize(
    "spec, kwargs, message",
    [
        ("nowhere_module:Env", {}, "cannot import module 'nowhere_module'"),
        ("NoSuchEnv-v9", {}, "unknown environment 'NoSuchEnv-v9'; expected jepaworld's own"),
        (f"{__file__}:Missing", {}, "to be a gymnasium.Env class, got None"),
        ("/no/such/file.py:Env", {}, "no file /no/such/file.py"),
        (f"{__file__}:BadRender", {"action": "discrete"}, "needs a 1-D Box action space (continuous actions)"),
        (f"{__file__}:BadRender", {"action": "unbounded"}, "needs finite bounds"),
        (f"{__file__}:BadRender", {"colour": 3}, "could not be made with"),
    ],
)
def test_an_env_jepaworld_cannot_use_is_named_with_what_was_expected(spec, kwargs, message):
    with pytest.raises(EnvError, match=re.escape(message)):
        make_env(spec, **kwargs)


def test_collect_refuses_a_state_key_the_env_does_not_have_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "puck.h5"
    argv = ["collect", "--env", PUCK, "--episodes", "2", "--steps", "5", "--state-key", "where", "--out", str(out)]
    assert main([*argv, "--no-progress"]) == 2
    assert "reset info has no 'where' (--state-key); its keys: ['position']" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.iterdir())
    assert main(["collect", "--env", PUCK, "--env-kwargs", "[1]", "--out", str(out)]) == 2
    assert "--env-kwargs must be a JSON object" in capsys.readouterr().err


def test_eval_without_a_way_to_judge_success_says_what_to_give(tmp_path, capsys, puck_run):
    assert main(["eval", "--checkpoint", puck_run, "--env", PUCK, "--episodes", "1", "--out", str(tmp_path)]) == 2
    assert "success then needs --state-key KEY" in capsys.readouterr().err
    argv = ["eval", "--checkpoint", puck_run, "--env", PUCK, "--plan-context", "4", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "--plan-context 4: " in (err := capsys.readouterr().err) and "expected 1..3" in err


def test_eval_plans_action_blocks_when_asked_and_records_it(tmp_path, puck_run):
    argv = ["eval", "--checkpoint", puck_run, "--env", PUCK, "--state-key", "position", "--success-radius", "0.1"]
    argv += ["--episodes", "2", "--max-steps", "6", "--plan-blocks", "--samples", "16", "--iterations", "2"]
    assert main([*argv, "--elites", "4", "--out", str(tmp_path), "--no-progress", "--device", "cpu"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["eval"]["plan_blocks"] is True and len(results["episodes_detail"]["world_model"]) == 2


def test_another_planner_seed_plans_the_same_pairs_differently(tmp_path, puck_run):
    argv = ["eval", "--checkpoint", puck_run, "--env", PUCK, "--state-key", "position", "--success-radius", "1e-4"]
    argv += ["--episodes", "2", "--max-steps", "6", "--samples", "16", "--iterations", "2", "--elites", "4"]
    results = {}
    for planner_seed in ("-1", "0", "5"):
        out = tmp_path / planner_seed
        extra = ["--planner-seed", planner_seed, "--out", str(out), "--no-progress", "--device", "cpu"]
        assert main([*argv, *extra]) == 0
        results[planner_seed] = json.loads((out / "results.json").read_text())
    ends = {
        k: {a: [e["final_distance"] for e in es] for a, es in r["episodes_detail"].items()} for k, r in results.items()
    }
    assert results["-1"]["planner_seed"] == 0 and results["5"]["planner_seed"] == 5
    assert ends["-1"] == ends["0"]  # -1 is --seed's planner: the figures made before the option reproduce
    assert ends["5"]["random"] == ends["0"]["random"]  # the same pairs and the same random floor
    assert all(a != b for a, b in zip(ends["5"]["world_model"], ends["0"]["world_model"], strict=True))
    assert "(seed block 0, planner seed 5)" in (tmp_path / "5" / "results.md").read_text()
    with pytest.raises(ValueError, match=re.escape("planner_seed must be >= 0 (or -1: the same as seed), got -2")):
        EvalConfig(planner_seed=-2)


def test_eval_draws_starts_from_the_data_policys_run_when_asked_and_says_so(tmp_path, puck_run):
    argv = ["eval", "--checkpoint", puck_run, "--env", PUCK, "--state-key", "position", "--success-radius", "0.1"]
    argv += ["--episodes", "3", "--max-steps", "6", "--samples", "16", "--iterations", "2", "--elites", "4"]
    assert main([*argv, "--start-offset", "30", "--out", str(tmp_path), "--no-progress", "--device", "cpu"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["start_offset"] == 30 and results["eval"]["start_offset"] == 30
    starts = {e["seed"]: e["start_distance"] for e in results["episodes_detail"]["world_model"]}
    assert starts == {e["seed"]: e["start_distance"] for e in results["episodes_detail"]["random"]}  # same pairs
    said = (tmp_path / "results.md").read_text()
    assert "starts: where the data policy is 0-30 steps (drawn per pair) after reset; goals: where the data" in said


def test_eval_in_the_steps_metric_measures_it_on_the_training_data_and_says_so(tmp_path, puck_run, capsys):
    argv = ["eval", "--checkpoint", puck_run, "--env", PUCK, "--state-key", "position", "--success-radius", "0.1"]
    argv += ["--episodes", "2", "--max-steps", "6", "--samples", "16", "--iterations", "2", "--elites", "4"]
    argv += ["--metric", "steps", "--no-progress", "--device", "cpu"]
    assert main([*argv, "--out", str(tmp_path / "steps")]) == 0
    results = json.loads((tmp_path / "steps" / "results.json").read_text())
    data = str(Path(puck_run).parent / "puck.h5")
    assert results["metric"] == "steps" and results["metric_data"] == data
    assert results["eval"]["metric_shrink"] == 0.1 and len(results["episodes_detail"]["world_model"]) == 2
    assert f"energies in the steps metric, measured on `{data}`" in (tmp_path / "steps" / "results.md").read_text()
    missing = tmp_path / "moved.h5"
    assert main([*argv, "--metric-data", str(missing), "--out", str(tmp_path / "bad")]) == 2
    said = capsys.readouterr().err
    assert f"the metric data {missing} is not a file here: give the metric's data (--metric-data FILE" in said
    assert not (tmp_path / "bad" / "results.json").exists()
    for option, value, message in [("--metric", "cosine", "metric must be one of"), ("--metric-shrink", "0", "(0, 1]")]:
        assert main([*argv, option, value, "--out", str(tmp_path / "bad")]) == 2
        assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def puck_run(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("puck")
    data, run = root / "puck.h5", root / "run"
    collect = ["collect", "--env", PUCK, "--episodes", "40", "--steps", "40", "--state-key", "position"]
    assert main([*collect, "--out", str(data), "--no-progress"]) == 0
    with h5py.File(data) as f:
        assert f["frames"].shape == (40 * 41, 64, 64, 3) and f["state"].shape == (40 * 41, 2)
    model = ["--encoder-width", "8", "--predictor-width", "32", "--latent-dim", "16", "--frameskip", "2"]
    train = ["train", "--data", str(data), "--out", str(run), "--steps", "200", "--batch-size", "32"]
    assert main([*train, *model, "--no-progress", "--device", "cpu"]) == 0
    return str(run)


@pytest.mark.slow
def test_a_custom_env_is_collected_trained_and_evaluated_end_to_end(tmp_path, puck_run):
    out = tmp_path / "eval"
    argv = ["eval", "--checkpoint", puck_run, "--env", PUCK, "--state-key", "position", "--success-radius", "0.1"]
    assert main([*argv, "--episodes", "12", "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["env"] == PUCK and results["goal_offset"] == 25 and results["success_radius"] == 0.1
    assert [row["agent"] for row in results["rows"]] == ["world_model", "random"]  # no simulator: no oracle rows
    assert results["oracle_success_rate"] is None and results["random_success_rate"] is not None
    assert results["success_rate"] > results["random_success_rate"]
    assert "goals: where the data policy goes in 25 steps" in (out / "results.md").read_text()
