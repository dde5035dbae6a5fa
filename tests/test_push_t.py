"""Push-T, and the checks every registered env passes: the env checker and same seed, same frames."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import jepaworld  # noqa: F401
from jepaworld.envs import PUSH_T_ID
from jepaworld.envs.policies import PushingDataPolicy, data_policy

REGISTERED = sorted(k for k in gym.registry if k.startswith("jepaworld/"))


def test_push_t_is_registered():
    assert PUSH_T_ID in REGISTERED


@pytest.mark.parametrize("env_id", REGISTERED)
def test_every_registered_env_passes_the_env_checker(env_id):
    check_env(gym.make(env_id).unwrapped, skip_render_check=False)


@pytest.mark.parametrize("env_id", REGISTERED)
def test_every_registered_env_gives_the_same_frames_for_the_same_seed(env_id):
    a, b = gym.make(env_id), gym.make(env_id)
    frame_a, _ = a.reset(seed=11)
    frame_b, _ = b.reset(seed=11)
    assert np.array_equal(frame_a, frame_b)
    policy_a = data_policy(a, np.random.default_rng(5))
    policy_b = data_policy(b, np.random.default_rng(5))
    for _ in range(40):
        assert np.array_equal(a.step(policy_a())[0], b.step(policy_b())[0])
    assert not np.array_equal(a.reset(seed=12)[0], frame_a)


@pytest.mark.parametrize("env_id", REGISTERED)
def test_an_episode_does_not_depend_on_the_episodes_before_it(env_id):
    """The evaluation's pairs and the collected episodes are functions of their seeds: a used env replays a
    seed's episode as a fresh one does (a physics engine that carries solver impulses across a reset
    would not, and a pair's goal, 25 pushes ahead, could land elsewhere)."""
    fresh, used = gym.make(env_id), gym.make(env_id)
    used.reset(seed=3)
    before = data_policy(used, np.random.default_rng(3))
    for _ in range(40):  # another episode first, pushing as a previous evaluation episode would
        used.step(before())
    episodes, states = [], []
    for env in (fresh, used):
        env.reset(seed=11)
        policy = data_policy(env, np.random.default_rng(5))
        steps = [env.step(policy()) for _ in range(40)]
        episodes.append(np.array([step[0] for step in steps]))
        states.append(np.array([step[4]["state"] for step in steps]))  # below what a frame shows, too
    assert np.array_equal(*episodes) and np.array_equal(*states)


def test_the_data_policy_pushes_the_block_and_the_walls_hold_it():
    env = gym.make(PUSH_T_ID, terminate_on_success=False)
    moved, states = 0, []
    for seed in range(5):
        _, info = env.reset(seed=seed)
        policy = data_policy(env, np.random.default_rng(seed))
        assert isinstance(policy, PushingDataPolicy)
        previous = info["state"]
        for _ in range(60):
            _, _, _, _, info = env.step(policy())
            moved += np.linalg.norm(info["state"][2:4] - previous[2:4]) > 0.5
            previous = info["state"]
            states.append(info["state"])
    states = np.array(states)
    assert moved / 300 > 0.3  # pushing data, not wandering
    assert states[:, :4].min() > 5 and states[:, :4].max() < 507  # nothing leaves the table
    assert np.ptp(states[:, 4]) > 1.0  # the block turns too


def test_success_is_the_block_pose_within_both_tolerances():
    env = gym.make(PUSH_T_ID).unwrapped
    goal = np.array([100.0, 100.0, 256.0, 256.0, 0.5])
    assert env.is_success(np.array([400, 400, 270, 256, 0.5 + 0.3]), goal)  # agent anywhere
    assert not env.is_success(np.array([0, 0, 280, 256, 0.5]), goal)  # 24 px off
    assert not env.is_success(np.array([0, 0, 256, 256, 0.5 + 0.4]), goal)  # 23 degrees off
    assert env.is_success(np.array([0, 0, 256, 256, 0.5 + 2 * np.pi]), goal)  # angles wrap


def test_reset_takes_a_goal_state_and_draws_it():
    env = gym.make(PUSH_T_ID).unwrapped
    _, info = env.reset(seed=0)
    np.testing.assert_allclose(info["goal"], env.standard_goal, rtol=1e-6)
    goal = np.array([60.0, 60.0, 300.0, 200.0, 1.0])
    frame, info = env.reset(seed=0, options={"goal": goal})
    np.testing.assert_allclose(info["goal"], goal, rtol=1e-6)
    picture = env.goal_observation()
    assert picture.shape == (64, 64, 3) and not np.array_equal(picture, frame)
    env._set(goal)
    np.testing.assert_array_equal(env.render(), picture)  # the goal frame is the frame of the goal state
    with pytest.raises(ValueError, match=r"expected \[agent x, agent y, block x, block y, angle\]"):
        env.reset(seed=0, options={"goal": [1, 2, 3]})


@pytest.mark.parametrize("bad", [[np.nan, 0.0], [1.0], "left"])
def test_a_bad_action_is_a_clear_error(bad):
    env = gym.make(PUSH_T_ID).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="PushT action: expected 2 finite numbers"):
        env.step(np.asarray(bad) if not isinstance(bad, str) else bad)


def test_the_oracle_simulator_imagines_what_the_env_then_does():
    """``physics.rollout`` (the oracle planner's model) from the env's full state, velocities included,
    replays the env: the same block poses while the agent pushes it."""
    env = gym.make(PUSH_T_ID, terminate_on_success=False)
    env.reset(seed=3)
    push_t = env.unwrapped
    policy = data_policy(env, np.random.default_rng(0))
    for _ in range(15):
        env.step(policy())  # under way: the agent and block move when the rollout starts
    start = push_t.physics.observe(push_t)
    assert np.any(start[5:] != 0)
    actions, stepped = [], []
    for _ in range(30):
        actions.append(policy())
        stepped.append(env.step(actions[-1])[-1]["state"].astype(np.float64))
    actions, stepped = np.array([np.random.default_rng(1).uniform(-1, 1, (30, 2)), actions]), np.array(stepped)
    imagined = push_t.physics.rollout(np.stack([start, start]), actions)
    assert imagined.shape == (2, 30, 6) and np.ptp(stepped[:, 2:4], axis=0).max() > 20  # the block was pushed
    np.testing.assert_allclose(imagined[1], push_t.physics.features(stepped), atol=1e-3)
    assert not np.allclose(imagined[0], imagined[1])
    goal = np.array([100.0, 100.0, 256.0, 256.0, 0.5])  # one tolerance off is about 1 away
    for offset in ([0, 0, 20.0, 0, 0], [0, 0, 0, 0, np.pi / 9]):
        gap = push_t.physics.features(goal + np.array(offset)) - push_t.physics.features(goal)
        assert np.sum(gap**2) == pytest.approx(1.0, abs=0.02)
