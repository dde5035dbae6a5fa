"""Reacher: the MuJoCo arm seen from above, goals as arm poses, success by the fingertip."""

import gymnasium as gym
import numpy as np
import pytest

import jepaworld  # noqa: F401
from jepaworld.envs import REACHER_ID
from jepaworld.envs.reacher import forward_kinematics, inverse_kinematics


@pytest.fixture(scope="module")
def env():
    env = gym.make(REACHER_ID)
    yield env.unwrapped
    env.close()


@pytest.mark.parametrize("elbow", [1.0, -1.0])
def test_inverse_kinematics_puts_the_fingertip_on_the_point(elbow):
    for point in np.random.default_rng(0).uniform(-0.14, 0.14, (20, 2)):
        if 0.02 < np.linalg.norm(point) < 0.2:
            np.testing.assert_allclose(forward_kinematics(inverse_kinematics(point, elbow)), point, atol=1e-9)


def test_the_own_goal_is_the_target_and_its_image_shows_the_arm_there(env):
    frame, info = env.reset(seed=4)
    goal = info["goal"]
    target = env._sim.data.qpos[2:4]
    assert np.linalg.norm(goal[:2] - target) < 1e-3 or np.linalg.norm(target) > 0.2  # on the target where reachable
    picture = env.goal_observation()
    assert picture.shape == (64, 64, 3) and not np.array_equal(picture, frame)
    np.testing.assert_array_equal(env.render(), frame)  # the simulator was put back
    env._sim.set_state(np.concatenate([goal[2:], env._sim.data.qpos[2:]]), env._sim.data.qvel)
    np.testing.assert_array_equal(env.render(), picture)
    assert env._info()["reached"]


def test_reached_is_the_fingertip_within_the_radius(env):
    env.reset(seed=0)
    state = env.state
    env._goal = state + np.array([0.049, 0, 0.5, 0.5])  # joints differ: only the fingertip counts
    assert env._info()["reached"]
    env._goal = state + np.array([0.051, 0, 0, 0])
    assert not env._info()["reached"]


def test_success_is_arriving_and_staying_not_sweeping_past(env, monkeypatch):
    monkeypatch.setattr(env, "hold_steps", 3)  # one env per module: closing a second one stops osmesa
    _, info = env.reset(seed=0, options={"goal": np.array([0.9, 0.9, 0.0, 0.0])})  # out of reach
    assert not info["reached"] and info["held_steps"] == 0
    held = []
    env._goal = np.concatenate([env.state[:2], [0.0, 0.0]])  # the fingertip is on the goal now
    for _ in range(4):
        info = env.step(np.zeros(2, np.float32))[-1]  # no torque: the arm stays (it was at rest)
        held.append((info["held_steps"], info["is_success"]))
    assert held == [(1, False), (2, False), (3, True), (4, True)]
    env._goal = np.array([env.state[0] + 0.2, env.state[1], 0.0, 0.0])  # it left: the count restarts
    info = env.step(np.zeros(2, np.float32))[-1]
    assert (info["held_steps"], info["is_success"]) == (0, False)
    with pytest.raises(ValueError, match="hold_steps must be >= 1"):
        gym.make(REACHER_ID, hold_steps=0)


def test_the_arm_moves_under_torques_and_the_frames_show_it(env):
    frame, info = env.reset(seed=1)
    for _ in range(10):
        moved, *_ = env.step(np.array([1.0, -1.0], np.float32))
    assert not np.array_equal(frame, moved)
    assert np.linalg.norm(env.state[:2] - info["state"][:2]) > 0.02
    with pytest.raises(ValueError, match="Reacher action: expected 2 finite torques"):
        env.step(np.array([np.inf, 0.0]))
    with pytest.raises(ValueError, match=r"Reacher reset goal: expected \[fingertip x"):
        env.reset(seed=0, options={"goal": [0.1, 0.1]})


def test_the_data_policy_arrives_at_poses_and_stays_there(env):
    """Unlike random torques (the arm flails at ~10 rad/s), noisy reaching shows arriving and stopping."""
    from jepaworld.envs.policies import data_policy
    from jepaworld.envs.reacher import forward_kinematics

    env.reset(seed=3)
    policy = data_policy(env, np.random.default_rng(3))
    slow, ends = 0, []
    for _ in range(300):
        env.step(policy())
        slow += np.linalg.norm(env.joint_velocities) < 1.0
        if policy.steps_left == 0:  # the end of one reach: how close to its pose?
            ends.append(np.linalg.norm(env.state[:2] - forward_kinematics(policy.target)))
    assert slow > 60 and len(ends) >= 8
    assert np.median(ends) < 0.05


def test_the_scripted_solver_arrives_at_the_goal_pose_and_stays(env):
    for seed in range(5):
        _, info = env.reset(seed=100 + seed)
        for _ in range(100):
            _, _, terminated, _, info = env.step(env.scripted_action(info["goal"]))
            if terminated:
                break
        assert info["is_success"] and info["held_steps"] >= env.hold_steps, (seed, info)


def test_data_policy_goals_are_judged_by_the_fingertip_not_the_raw_joint_angles(env):
    from jepaworld.envs.adapter import PixelEnv
    from jepaworld.eval.goals import make_goal_task

    task = make_goal_task(PixelEnv(env), goal_offset=25, state_key="state", success_radius=0.0, momentum=0.9)
    assert task.radius is None  # the env's own test: arrive and stay, by the fingertip
    _, info, goal = task.reset(PixelEnv(env), seed=2**31)
    assert not task.met(info["state"], goal.state)  # the goal needs motion
    np.testing.assert_allclose(env.goal, goal.state)  # the env was told the goal
    turned = goal.state.copy()
    turned[2] += 2 * np.pi  # the shoulder turns freely: one more turn is the same pose
    assert task.met(turned, goal.state) and task.judge({**info, "state": turned}, goal)[1] < 1e-9
