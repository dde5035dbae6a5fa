"""The oracle_dynamics row: the planner imagines with the true simulator and scores with the world model's
energy. Its imagined latents must be exactly those of the frames the env then shows."""

import numpy as np
import pytest
import torch

from jepaworld.data import make_env
from jepaworld.envs import CUBE_ID, PUSH_T_ID, REACHER_ID, TWO_ROOM_ID
from jepaworld.envs.policies import data_policy
from jepaworld.eval import EvalConfig
from jepaworld.eval.agents import SimulatorAgent, has_simulator_frames
from jepaworld.eval.goals import make_goal_task
from jepaworld.eval.protocol import evaluate, held_out_seeds
from jepaworld.models import build_world_model
from jepaworld.planning import PlannerConfig, build_planner
from jepaworld.train import TrainConfig, train

from .conftest import TINY_MODEL

FAST_PLANNER = PlannerConfig(horizon=3, samples=12, iterations=2, elites=4, icem_keep_elites=2)
SIMULATED = [TWO_ROOM_ID, PUSH_T_ID, CUBE_ID, "jepaworld/Cube-v0"]


@pytest.mark.parametrize("env_id", SIMULATED)
def test_the_simulator_rolls_out_states_and_draws_them_as_the_env_does(env_id):
    env = make_env(env_id, 64, max_episode_steps=100)
    assert has_simulator_frames(env)
    unwrapped = env.unwrapped
    obs, _ = env.reset(seed=5)
    np.testing.assert_array_equal(unwrapped.render_state(unwrapped.state), obs)  # the frame of a state at rest
    policy = data_policy(env, np.random.default_rng(0))
    start = getattr(unwrapped.physics, "observe", lambda e: e.state)(unwrapped)
    actions = np.array([policy() for _ in range(12)])
    stepped = np.array([env.step(a)[-1]["state"] for a in actions], dtype=np.float64)
    imagined = unwrapped.physics.rollout_states(np.asarray(start)[None], actions[None])
    assert imagined.shape == (1, 12, stepped.shape[1])
    np.testing.assert_allclose(imagined[0], stepped, atol=1e-3)


def test_the_simulator_agent_imagines_the_latents_of_the_frames_the_env_then_shows():
    """Push-T: a plan's imagined latents are the encoder's latents of the real frames after its actions."""
    env = make_env(PUSH_T_ID, 64, max_episode_steps=50)
    model = build_world_model(TINY_MODEL).eval()
    encode_frames = model.encode_frames
    frameskip = TINY_MODEL.frameskip
    planner = build_planner(FAST_PLANNER, env.action_space.low, env.action_space.high, seed=0)
    agent = SimulatorAgent(planner, env.unwrapped.physics, env.unwrapped.render_state, encode_frames, frameskip, 1)
    task = make_goal_task(env, 10, "state", 0.0, 0.0)
    obs, _, goal = task.reset(env, held_out_seeds(0, 1)[0])
    agent.reset(env, 0, goal)
    for _ in range(2 * frameskip):  # under way: the agent moves when the plan starts
        obs = env.step(agent.act(obs, env))[0]
    agent.act(obs, env)  # a model step begins: it plans from the state the env is in now
    plan = torch.as_tensor(agent.mpc.last_plan.actions, dtype=torch.float32)  # [H, A]
    imagined = agent.mpc.rollout_fn(agent.mpc.encode(obs)[None], plan[None])[0]  # [H, D]
    real = []
    for action in plan.numpy():
        for _ in range(frameskip):
            obs = env.step(action)[0]
        real.append(encode_frames(obs[None])[0])
    assert imagined.shape == (FAST_PLANNER.horizon, TINY_MODEL.latent_dim)
    torch.testing.assert_close(imagined, torch.stack(real), atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def tiny_run(tiny_data, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("oracle-dynamics") / "run"
    train(TrainConfig(data=tiny_data, out=str(out), steps=3, batch_size=8, progress=False), TINY_MODEL)
    return str(out)


def test_eval_reports_the_oracle_dynamics_row_beside_the_world_model(tiny_run, tmp_path):
    config = EvalConfig(
        checkpoint=tiny_run,
        episodes=2,
        max_steps=6,
        oracle=False,
        oracle_dynamics=True,
        out=str(tmp_path),
        progress=False,
    )
    results = evaluate(config, FAST_PLANNER)
    agents = [row["agent"] for row in results["rows"]]
    assert agents == ["world_model", "oracle_dynamics", "random"]
    row = results["rows"][1]
    assert row["episodes"] == 2 and row["plan_ms_per_step_median"] > 0
    assert results["oracle_dynamics_success_rate"] == row["success_rate"]
    assert "| oracle_dynamics |" in (tmp_path / "results.md").read_text()


def test_oracle_dynamics_on_an_env_without_a_simulator_is_a_clear_error(tiny_run, tmp_path):
    config = EvalConfig(checkpoint=tiny_run, env=REACHER_ID, episodes=1, oracle_dynamics=True, out=str(tmp_path))
    with pytest.raises(ValueError, match=r"--oracle-dynamics needs an env whose simulator .*/Reacher-v0 does not"):
        evaluate(config, FAST_PLANNER)
