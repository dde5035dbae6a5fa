import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from jepaworld.data import HELD_OUT_SEED_BASE, make_env
from jepaworld.envs import PUSH_T_ID, TWO_ROOM_ID
from jepaworld.envs.adapter import EnvError, PixelEnv
from jepaworld.envs.policies import data_policy
from jepaworld.eval import EvalConfig, held_out_seeds, wilson_interval
from jepaworld.eval.agents import compiled_predictor, model_functions, planning_bounds
from jepaworld.eval.goals import START_STREAM, episode_limit, make_goal_task
from jepaworld.eval.protocol import run_episode, summarise
from jepaworld.models import build_world_model
from jepaworld.planning import PLANNERS, PlannerConfig, build_planner

from .conftest import PATCH_MODEL, TINY_MODEL


def test_wilson_interval_known_values():
    low, high = wilson_interval(95, 100)
    assert low == pytest.approx(0.8882, abs=1e-3) and high == pytest.approx(0.9785, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_held_out_seeds_are_disjoint_blocks_above_training_seeds():
    a, b = held_out_seeds(0, 500), held_out_seeds(1, 500)
    assert min(a) >= HELD_OUT_SEED_BASE and not set(a) & set(b)
    assert held_out_seeds(3, 5) == held_out_seeds(3, 5)


def test_a_row_averages_the_distances_there_are():
    """Episodes whose env reports no state keep None distances (JSON null): the row's means skip them,
    and are None when no episode has one."""
    records = [
        {"success": True, "steps": 3, "start_distance": 4.0, "final_distance": 1.0, "plan_ms_per_step": 2.0},
        {"success": False, "steps": 5, "start_distance": None, "final_distance": None},
        {"success": False, "steps": 5, "start_distance": 6.0, "final_distance": 3.0},
    ]
    row = summarise("world_model", records)
    assert (row["mean_start_distance"], row["mean_final_distance"], row["successes"]) == (5.0, 2.0, 1)
    blind = summarise("random", [{"success": False, "steps": 5, "start_distance": None, "final_distance": None}])
    assert blind["mean_start_distance"] is None and blind["mean_final_distance"] is None


def test_eval_config_rejects_bad_values():
    with pytest.raises(ValueError, match="episodes must be >= 1"):
        EvalConfig(episodes=0)
    with pytest.raises(ValueError, match="seed must be in"):
        EvalConfig(seed=-1)


@pytest.mark.parametrize("model_config", [TINY_MODEL, PATCH_MODEL], ids=["vector", "patches"])
def test_compiled_planning_rollout_matches_eager_and_planners_run_on_it(model_config):
    torch.manual_seed(0)
    model = build_world_model(model_config).eval()
    for p in model.predictor.parameters():  # adaLN-zero starts as the identity: make the predictor matter
        torch.nn.init.normal_(p, std=0.2)
    _, eager = model_functions(model, model_config.frameskip, context=1)
    _, compiled = model_functions(model, model_config.frameskip, context=1, compile=True)
    z0, actions = torch.randn(1, model_config.latent_dim).expand(6, -1), torch.rand(6, 4, 2) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(compiled(z0, actions), eager(z0, actions), atol=1e-4, rtol=1e-4)
    for name in PLANNERS.names():  # inference mode, a batch of one (MPPI's mean), gradients (gradient planner)
        config = PlannerConfig(planner=name, horizon=4, samples=16, iterations=3, elites=4, icem_keep_elites=2)
        result = build_planner(config, [-1, -1], [1, 1]).plan(z0[0], torch.randn(model_config.latent_dim), compiled)
        assert result.actions.shape == (4, 2) and torch.isfinite(result.actions).all()


def test_a_block_rollout_of_a_repeated_action_is_the_held_rollout():
    torch.manual_seed(0)
    model = build_world_model(TINY_MODEL).eval()
    for p in model.predictor.parameters():
        torch.nn.init.normal_(p, std=0.2)
    k = TINY_MODEL.frameskip
    _, held = model_functions(model, k, context=1)
    _, blocks = model_functions(model, k, context=1, blocks=True)
    z0, actions = torch.randn(3, TINY_MODEL.latent_dim), torch.rand(3, 4, 2) * 2 - 1
    with torch.inference_mode():
        torch.testing.assert_close(blocks(z0, actions.repeat(1, 1, k)), held(z0, actions))
        braking = actions.repeat(1, 1, k)
        braking[..., -2:] = -braking[..., -2:]  # the block's last env action reversed: another imagined future
        assert not torch.allclose(blocks(z0, braking), held(z0, actions))
    low, high = planning_bounds([-1, -2], [1, 2], k, blocks=True)
    np.testing.assert_array_equal(low, [-1, -2] * k)
    np.testing.assert_array_equal(high, [1, 2] * k)
    np.testing.assert_array_equal(planning_bounds([-1, -2], [1, 2], k, blocks=False)[0], [-1, -2])


def test_a_compiler_failure_falls_back_to_eager_planning_with_a_warning(monkeypatch):
    def broken_compile(module, **kwargs):
        def fails(*args):
            raise RuntimeError("no C++ compiler")

        return fails

    monkeypatch.setattr(torch, "compile", broken_compile)
    model = build_world_model(TINY_MODEL).eval()
    with pytest.warns(UserWarning, match="torch.compile failed, planning runs eager: RuntimeError: no C"):
        assert compiled_predictor(model, torch.device("cpu")) is None


def test_a_start_offset_starts_on_the_data_policys_run_and_takes_the_goal_further_along_it():
    """LeWM's pairs: the start is where the data policy is 0..K steps (drawn per seed) after reset, the goal
    25 steps further along the same run; the episode replays the first steps, so the block may be moving."""
    env = make_env(PUSH_T_ID, max_episode_steps=episode_limit(50, 40))
    task = make_goal_task(env, 25, "state", 0.0, 0.9, start_offset=40)
    drawn = {seed: int(np.random.default_rng([seed, START_STREAM]).integers(0, 41)) for seed in range(6)}
    assert len(set(drawn.values())) > 3  # the number of steps before the start differs from pair to pair
    for seed in (s for s in drawn if drawn[s] > 0):
        run = make_env(PUSH_T_ID)  # the data policy's run on a fresh env
        states = [run.reset(seed=seed)[1]["state"]]
        policy = data_policy(run, np.random.default_rng(seed), 0.9)
        states += [run.step(policy())[4]["state"] for _ in range(drawn[seed] + 100)]
        obs, info, goal = task.reset(env, seed)
        np.testing.assert_array_equal(info["state"], states[drawn[seed]])
        np.testing.assert_array_equal(obs, env.unwrapped.render_state(states[drawn[seed]]))
        further = [i for i, state in enumerate(states) if np.array_equal(state, goal.state.astype(np.float32))]
        assert further and min(further) >= drawn[seed] + 25
        np.testing.assert_allclose(env.unwrapped.goal, goal.state)  # the env was told the goal
        again = task.reset(env, seed)
        np.testing.assert_array_equal(again[1]["state"], info["state"])
        np.testing.assert_array_equal(again[2].frame, goal.frame)
    with pytest.raises(ValueError, match="--start-offset 5 draws starts from the data policy's run"):
        make_goal_task(env, 0, "state", 0.0, 0.9, start_offset=5)
    with pytest.raises(ValueError, match="start_offset must be >= 0, got -1"):
        EvalConfig(start_offset=-1)


def test_a_budget_shorter_than_the_goal_offset_does_not_cut_the_goal_short():
    """--max-steps 5 --goal-offset 25: the goal is still where the data policy is 25 (or more) steps on. The
    eval env's time limit once ended the goal's rollout at the budget, so the goal was 5 steps ahead and a
    pair whose block had not moved yet was solved at step 0."""
    env = make_env(PUSH_T_ID, max_episode_steps=episode_limit(5, 0, 25))
    task = make_goal_task(env, 25, "state", 0.0, 0.9)
    for seed in range(3):
        run = make_env(PUSH_T_ID)  # the data policy's run on a fresh env
        states = [run.reset(seed=seed)[1]["state"]]
        policy = data_policy(run, np.random.default_rng(seed), 0.9)
        states += [run.step(policy())[4]["state"] for _ in range(100)]
        _, info, goal = task.reset(env, seed)
        further = [i for i, state in enumerate(states) if np.array_equal(state, goal.state.astype(np.float32))]
        assert further and min(further) >= 25, (seed, further)
        assert not task.met(info["state"].astype(np.float64), goal.state)  # not solved before the first step
    assert episode_limit(50, 75, 25) == 175 and episode_limit(200, 0, 25) == 200 and episode_limit(5, 0, 0) == 100


class PointOnALine(gym.Env):
    """A point on a line, seen as blank frames, its position in ``info["x"]``; subclasses say how it moves."""

    def __init__(self) -> None:
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.observation_space = gym.spaces.Box(0, 255, (8, 8, 3), np.uint8)
        self.x = 0.0

    def seen(self):
        """What ``reset`` returns: (frame, info)."""
        return np.zeros((8, 8, 3), np.uint8), {"x": [self.x]}

    def stepped(self):
        """What ``step`` returns."""
        frame, info = self.seen()
        return frame, 0.0, False, False, info


class Drifting(PointOnALine):
    """An env that does not replay: each reset starts a little further along than the last."""

    resets = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.resets += 1
        self.x = 0.01 * self.resets
        return self.seen()

    def step(self, action):
        self.x += float(action[0])
        return self.stepped()


class Stalling(PointOnALine):
    """An env whose runs stall: after 8 steps of an episode its state moves no more."""

    steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.steps = 0.0, 0
        return self.seen()

    def step(self, action):
        self.steps += 1
        self.x += 1.0 if self.steps <= 8 else 0.0
        return self.stepped()


def test_a_drawn_start_whose_run_stalls_is_drawn_again_and_at_last_starts_at_reset():
    """Every pair needs motion: where the run from a drawn start stalls, the goal would be the start itself."""
    env = PixelEnv(Stalling(), 8)
    task = make_goal_task(env, 3, "x", 0.5, 0.9, start_offset=40)
    for seed in range(12):
        draws = np.random.default_rng([seed, START_STREAM]).integers(0, 41, size=3)
        _, info, goal = task.reset(env, seed)
        start = info["x"][0]
        assert goal.state[0] - start >= 1  # the goal lies ahead of the start: the pair needs motion
        assert start == next((int(k) for k in draws if k < 8), 0)  # the first draw whose run still moves
    assert any(all(np.random.default_rng([s, START_STREAM]).integers(0, 41, size=3) >= 8) for s in range(12))


def test_a_start_offset_in_an_env_that_does_not_replay_is_refused():
    task = make_goal_task(PixelEnv(Drifting(), 8), 3, "x", 0.01, 0.9, start_offset=10)
    seed = next(s for s in range(20) if np.random.default_rng([s, START_STREAM]).integers(0, 11) > 0)
    with pytest.raises(EnvError, match=r"--start-offset: env reset on seed \d+ with the same \d+ actions ended in "):
        task.reset(PixelEnv(Drifting(), 8), seed)


def test_goal_offset_goals_are_where_the_data_policy_goes_from_the_same_start():
    env = make_env(TWO_ROOM_ID)
    task = make_goal_task(env, goal_offset=25, state_key="state", success_radius=0.0, momentum=0.9)
    assert task.radius == env.unwrapped.success_radius  # the env's own radius by default
    _, info, goal = task.reset(env, seed=7)
    _, _, again = task.reset(env, seed=7)
    assert np.array_equal(goal.frame, again.frame) and np.array_equal(goal.state, again.state)  # reproducible
    start = info["state"]
    assert np.array_equal(start, env.unwrapped.reset(seed=7)[1]["state"])  # the episode starts where it did
    assert 0 < np.linalg.norm(goal.state - start) <= 25 * env.unwrapped.physics.max_speed
    np.testing.assert_array_equal(goal.frame, env.unwrapped.physics.render(goal.state[None])[0])

    seen = {}

    class Still:
        def reset(self, env, seed, goal):
            seen["goal"] = env.unwrapped.goal  # the env was told the goal, so its is_success agrees

        def act(self, obs, env):
            return np.zeros(2, np.float32)

    record = run_episode(env, Still(), 7, max_steps=3, task=task)
    np.testing.assert_allclose(seen["goal"], goal.state)
    assert record["steps"] == 3 and record["final_distance"] == pytest.approx(np.linalg.norm(goal.state - start))
    assert record["start_distance"] == record["final_distance"]  # standing still: no closer than at the start
    np.testing.assert_allclose(record["final_state"], start)  # where it ended and what it aimed at, kept
    np.testing.assert_allclose(record["goal_state"], goal.state)
    json.dumps({k: v for k, v in record.items() if k not in ("frames", "goal_frame")})  # as results.json holds it
