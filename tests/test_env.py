import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import jepaworld  # noqa: F401
from jepaworld.envs import SWM_TWO_ROOM_ID, TWO_ROOM_ID, TwoRoomPhysics
from jepaworld.envs.policies import scripted_two_room_action


def test_env_checker_passes():
    check_env(gym.make(TWO_ROOM_ID).unwrapped, skip_render_check=False)


def test_observation_is_64x64_rgb_and_render_matches():
    env = gym.make(TWO_ROOM_ID)
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert np.array_equal(env.render(), obs)
    assert set(info) >= {"state", "goal", "is_success"}


def test_reset_is_deterministic_per_seed():
    a, b = gym.make(TWO_ROOM_ID), gym.make(TWO_ROOM_ID)
    obs_a, info_a = a.reset(seed=42)
    obs_b, info_b = b.reset(seed=42)
    assert np.array_equal(obs_a, obs_b) and np.array_equal(info_a["goal"], info_b["goal"])
    actions = np.random.default_rng(0).uniform(-1, 1, size=(50, 2)).astype(np.float32)
    for action in actions:
        assert np.array_equal(a.step(action)[0], b.step(action)[0])
    other, _ = a.reset(seed=43)
    assert not np.array_equal(other, obs_a)


def test_start_and_goal_in_opposite_rooms():
    env = gym.make(TWO_ROOM_ID)
    physics = env.unwrapped.physics
    for seed in range(50):
        _, info = env.reset(seed=seed)
        assert physics.room(info["state"][None])[0] != physics.room(info["goal"][None])[0]


def test_wall_blocks_and_door_lets_through():
    physics = TwoRoomPhysics()
    push_right = np.array([[1.0, 0.0]])
    blocked = np.array([[20.0, 8.0]])
    through = np.array([[20.0, physics.door_center]])
    for _ in range(30):
        blocked = physics.step(blocked, push_right)
        through = physics.step(through, push_right)
    assert blocked[0, 0] < physics.wall_low  # stopped by the wall
    assert through[0, 0] > physics.wall_high  # went through the door
    assert physics.free(blocked)[0] and physics.free(through)[0]


def test_random_motion_never_enters_walls():
    physics = TwoRoomPhysics()
    rng = np.random.default_rng(0)
    pos = np.stack([rng.uniform(3, 28, 500), rng.uniform(3, 61, 500)], axis=1)
    for _ in range(200):
        pos = physics.step(pos, rng.uniform(-1, 1, size=pos.shape))
        assert physics.free(pos).all()


def test_scripted_solver_reaches_every_goal():
    env = gym.make(TWO_ROOM_ID)
    for seed in range(20):
        env.reset(seed=seed)
        u = env.unwrapped
        for _ in range(200):
            _, _, terminated, truncated, info = env.step(scripted_two_room_action(u.physics, u.state, u.goal))
            if terminated or truncated:
                break
        assert info["is_success"], f"seed {seed}"


@pytest.mark.parametrize("bad", [np.array([np.nan, 0.0]), np.zeros(3)])
def test_bad_action_is_a_clear_error(bad):
    env = gym.make(TWO_ROOM_ID).unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="expected 2 finite numbers"):
        env.step(bad)


def test_reset_can_set_a_free_goal_and_rejects_others():
    env = gym.make(TWO_ROOM_ID).unwrapped
    _, info = env.reset(seed=5, options={"goal": [10.0, 12.0]})
    np.testing.assert_allclose(info["goal"], [10.0, 12.0])
    assert env.goal_observation()[12, 10].tolist() != env.goal_observation()[50, 50].tolist()  # agent drawn there
    for bad in ([32.0, 5.0], [1.0, 1.0], [np.nan, 10.0], [10.0]):  # in the wall, outside, NaN, wrong shape
        with pytest.raises(ValueError, match="TwoRoom reset goal: expected a free position"):
            env.reset(seed=5, options={"goal": bad})


def test_swm_variant_is_the_documented_task_scaled_to_64_px():
    env = gym.make(SWM_TWO_ROOM_ID).unwrapped
    assert env.physics.max_speed == pytest.approx(3.0) and env.physics.agent_radius == pytest.approx(2.0)
    assert env.task.success_radius == pytest.approx(16 * 64 / 224)
    check_env(gym.make(SWM_TWO_ROOM_ID).unwrapped, skip_render_check=True)
