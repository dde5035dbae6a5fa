"""Where an evaluation episode's goal comes from, and when it counts as reached.

Two sources, one interface:

* **the env's own goal** (``goal_offset == 0`` and the env has ``goal_observation()``, as jepaworld's
  envs do): the goal image is that frame; success is ``info["is_success"]``.
* **a goal from the data policy** (any env): reset with the episode's seed, run the data
  policy (seeded by the episode) for ``offset`` steps, keep that frame and ``info[state_key]``,
  reset with the same seed and plan. Success is ``|info[state_key] - goal state| <= radius``, or the
  env's own ``is_success`` for envs that take the goal at reset (``options={"goal": state}``). The
  goal is reachable by construction, as LeWM draws goals from data trajectories. A goal must need
  motion: where the start already meets it (the data policy missed the object, or moved it back),
  the policy runs on, up to ``MAX_GOAL_STEPS`` x ``offset`` steps, until it does not.

Where a goal comes from the data policy, the start can too (``start_offset`` K > 0): the data policy runs
a number of steps drawn from 0..K (by the episode's seed) before the start, and the goal is ``offset``
steps further along the same run; the episode then resets and replays those first actions. This is how
LeWM draws its pairs (a start at any step of a data trajectory, the goal ``offset`` steps later), so an
object may already be moving, or the agent in contact with it, when planning begins. Where the goal
still meets the start (the run stalled), another number is drawn, up to ``START_DRAWS`` times, the last
a start at reset. The replay needs an env whose episode depends on its seed and actions alone; one
that does not is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from jepaworld.envs.adapter import EnvError, PixelEnv, info_state
from jepaworld.envs.policies import data_policy

#: Data-policy steps to a goal for envs without a goal of their own (``--goal-offset 0``).
DEFAULT_GOAL_OFFSET = 25
#: At most this many times ``offset`` data-policy steps are taken looking for a goal the start does not meet.
MAX_GOAL_STEPS = 4
#: Random stream (beside the episode's seed) that draws how many data-policy steps precede a start.
START_STREAM = 1
#: Draws of a start (``start_offset``) before one at reset: a run that stalls (the data policy stuck at a
#: wall) can leave the goal where the start already meets it; the next draw is taken instead.
START_DRAWS = 4


@dataclass(frozen=True)
class Goal:
    """``frame [S, S, 3]`` uint8, the image the planner aims at; ``state``, its true state where known."""

    frame: np.ndarray
    state: np.ndarray | None


@dataclass(frozen=True)
class GoalTask:
    """How one evaluation draws goals and judges success (``make_goal_task`` fills the defaults)."""

    offset: int
    state_key: str
    radius: float | None
    momentum: float
    env_unwrapped: Any = None  # its goal_distance(state, goal), where it has one, measures the final distance
    start_offset: int = 0  # K > 0: the start is the data policy's state after 0..K steps (drawn per seed)

    def reset(self, env: PixelEnv, seed: int) -> tuple[np.ndarray, dict[str, Any], Goal]:
        """Reset for episode ``seed`` -> (first frame, info, goal)."""
        if self.offset == 0:
            obs, info = env.reset(seed=seed)
            state = info.get("goal")
            return obs, info, Goal(env.goal_frame(), None if state is None else np.asarray(state, np.float64))
        draws = np.random.default_rng([seed, START_STREAM])
        for attempt in range(START_DRAWS if self.start_offset else 1):
            frame, info = env.reset(seed=seed)
            policy = data_policy(env, np.random.default_rng(seed), self.momentum)
            last = attempt == START_DRAWS - 1 or not self.start_offset  # the last draw starts at reset
            prefix, info = self._run(env, policy, 0 if last else int(draws.integers(0, self.start_offset + 1)), info)
            start = info_state(info, self.state_key)
            frame, info = self._run_to_goal(env, policy, start)
            goal = Goal(frame, info_state(info, self.state_key))
            if last or not self.met(start, goal.state):
                break
        # jepaworld's envs take the goal, so that their own is_success, reward and GIFs agree with it
        options = {"goal": goal.state} if env.has_goal_frame else None
        obs, info = env.reset(seed=seed, options=options)
        for action in prefix:
            obs, _, _, _, info = env.step(action)
        if prefix:
            replayed = info_state(info, self.state_key)
            if not np.allclose(replayed, start, rtol=1e-6, atol=1e-6):
                raise EnvError(
                    f"--start-offset: {env.name} reset on seed {seed} with the same {len(prefix)} actions ended "
                    f"in another state (info[{self.state_key!r}] {replayed.tolist()}, before {start.tolist()}); "
                    "starts drawn from the data policy need an env whose episode depends on its seed and "
                    "actions alone"
                )
        return obs, info, goal

    @staticmethod
    def _run(env: PixelEnv, policy, steps: int, info: dict[str, Any]) -> tuple[list[np.ndarray], dict[str, Any]]:
        """The data policy for ``steps`` steps (fewer where the env ends the episode) -> (its actions, the
        info where they end; ``info`` where there are none)."""
        actions: list[np.ndarray] = []
        for _ in range(steps):
            actions.append(np.asarray(policy(), dtype=np.float32))
            _, _, terminated, truncated, info = env.step(actions[-1])
            if terminated or truncated:
                break
        return actions, info

    def _run_to_goal(self, env: PixelEnv, policy, start: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """The data policy on from ``start`` for ``offset`` steps, and on (up to ``MAX_GOAL_STEPS`` x ``offset``)
        while ``start`` still meets where it is -> (the frame and info where it stops)."""
        for step in range(1, MAX_GOAL_STEPS * self.offset + 1):
            frame, _, terminated, truncated, info = env.step(policy())
            if (
                terminated
                or truncated
                or (step >= self.offset and not self.met(start, info_state(info, self.state_key)))
            ):
                break
        return frame, info

    def met(self, state: np.ndarray, goal: np.ndarray) -> bool:
        """Whether ``state`` already meets the goal state ``goal``: within the radius, or the env's own
        ``is_success(state, goal)`` where success is the env's to judge and it has one."""
        if self.radius is not None:
            return bool(np.linalg.norm(state - goal) <= self.radius)
        test = getattr(self.env_unwrapped, "is_success", None)
        return bool(test(state, goal)) if callable(test) else False

    def judge(self, info: dict[str, Any], goal: Goal) -> tuple[bool, float]:
        """-> (success, distance to the goal state; NaN where there is no state to measure)."""
        distance = float("nan")
        if goal.state is not None and self.state_key in info:
            state = info_state(info, self.state_key)
            measure = getattr(self.env_unwrapped, "goal_distance", None) if self.radius is None else None
            distance = float(measure(state, goal.state) if measure else np.linalg.norm(state - goal.state))
        if self.radius is not None:
            return bool(distance <= self.radius), distance
        if "is_success" not in info:
            raise EnvError(
                f"the env's info has no 'is_success'; give --state-key KEY and --success-radius R to judge "
                f"success by the distance between info[KEY] and the goal's; info keys: {sorted(info)}"
            )
        return bool(info["is_success"]), distance


def episode_limit(max_steps: int, start_offset: int, goal_offset: int = 0) -> int:
    """The time limit of an evaluation env: the data-policy steps that may come before a drawn start
    (``start_offset``), then the longer of the planner's budget and the goal's own rollout (up to
    ``MAX_GOAL_STEPS`` x ``goal_offset``; ``DEFAULT_GOAL_OFFSET`` where it is 0). So replaying a start takes
    nothing from the budget, and a budget shorter than the goal's rollout does not cut the goal short
    (``run_episode`` stops the episode at its budget itself)."""
    return start_offset + max(max_steps, MAX_GOAL_STEPS * (goal_offset or DEFAULT_GOAL_OFFSET))


def make_goal_task(
    env: PixelEnv, goal_offset: int, state_key: str, success_radius: float, momentum: float, start_offset: int = 0
) -> GoalTask:
    """The goal source and success test for ``env``: its own goal where it has one and ``goal_offset`` is 0,
    otherwise goals ``goal_offset`` (default ``DEFAULT_GOAL_OFFSET``) data-policy steps ahead, from starts
    0..``start_offset`` data-policy steps after reset."""
    if start_offset < 0:
        raise ValueError(f"start_offset must be >= 0, got {start_offset}")
    if goal_offset == 0 and env.has_goal_frame:
        if start_offset:
            raise ValueError(
                f"--start-offset {start_offset} draws starts from the data policy's run, with goals --goal-offset "
                f"steps further along it; with --goal-offset 0 {env.name} plans to its own goal: give both"
            )
        return GoalTask(0, state_key, success_radius or None, momentum, env.unwrapped)
    offset = goal_offset or DEFAULT_GOAL_OFFSET
    radius = success_radius or None
    judges_itself = env.has_goal_frame and callable(getattr(env.unwrapped, "is_success", None))
    if radius is None and not judges_itself:  # a radius over the whole state (Two-Room: the agent's position)
        radius = getattr(env.unwrapped, "success_radius", None)
    if radius is None and env.has_goal_frame:  # jepaworld's envs take the goal at reset and judge it themselves
        return GoalTask(offset, state_key, None, momentum, env.unwrapped, start_offset)
    if radius is None:
        raise EnvError(
            f"{env.name} has no goal of its own, so goals are the frames the data policy reaches {offset} steps "
            f"ahead; success then needs --state-key KEY (an info entry, now {state_key!r}) and "
            "--success-radius R (how close info[KEY] must come to the goal's)"
        )
    return GoalTask(offset, state_key, float(radius), momentum, start_offset=start_offset)
