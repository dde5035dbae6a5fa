"""Model-predictive control: plan, execute the first action block, re-plan from what is observed.

The agent needs only two functions, so the same loop drives the learned world model and the
true simulator (the oracle): ``encode(observation) -> z [D]`` and ``rollout_fn`` of the planner
(``jepaworld.eval.agents.model_functions`` makes both from a world model).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from jepaworld.planning.monitor import SurpriseMonitor
from jepaworld.types import Planner, RolloutFn


class MPCAgent:
    """Re-plans every ``replan_every`` model steps; each model step repeats one action ``frameskip`` times.

    ``reset(goal)`` sets the goal: one observation (a goal image), a list of observations (a goal set:
    reach any), or ``goal_latent=`` a latent ``[D]`` or set ``[G, D]`` given directly.
    ``act(observation) -> env action [A]`` (numpy float32).
    Planning time is recorded in ``plan_seconds`` (one entry per plan call).
    ``monitor``: scores every model step's surprise (``SurpriseMonitor``); a flagged step makes the agent
    drop its queued actions and re-plan at once when ``monitor.replan``. ``replans_on_flag`` counts those.
    """

    def __init__(
        self,
        planner: Planner,
        encode: Callable[[object], torch.Tensor],
        rollout_fn: RolloutFn,
        frameskip: int,
        replan_every: int = 1,
        warm_start: bool = True,
        monitor: SurpriseMonitor | None = None,
    ) -> None:
        self.planner, self.encode, self.rollout_fn = planner, encode, rollout_fn
        self.frameskip, self.replan_every, self.warm_start = frameskip, replan_every, warm_start
        self.monitor = monitor
        self.replans_on_flag = 0
        self.plan_seconds: list[float] = []
        self.last_plan = None
        self._queue: list[np.ndarray] = []
        self._previous: torch.Tensor | None = None
        self._z_goal: torch.Tensor | None = None

    def reset(self, goal=None, *, goal_latent: torch.Tensor | None = None) -> None:
        if (goal is None) == (goal_latent is None):
            raise ValueError("MPCAgent.reset: give one goal: an observation, a list of them, or goal_latent")
        if goal_latent is not None:
            self._z_goal = torch.as_tensor(goal_latent).float()
        elif isinstance(goal, (list, tuple)):
            if not goal:
                raise ValueError("MPCAgent.reset: the goal set is empty; expected at least one goal observation")
            self._z_goal = torch.stack([self.encode(g) for g in goal])
        else:
            self._z_goal = self.encode(goal)
        self._queue, self._previous = [], None
        self.plan_seconds.clear()
        self.replans_on_flag = 0
        if self.monitor is not None:
            self.monitor.reset()

    def act(self, observation) -> np.ndarray:
        if self._z_goal is None:
            raise RuntimeError("MPCAgent.act called before reset(goal_observation)")
        at_boundary = len(self._queue) % self.frameskip == 0  # a model step ends here (or none has begun)
        if not at_boundary or (self.monitor is None and self._queue):
            return self._queue.pop(0)
        z0 = self.encode(observation)
        if self.monitor is not None and self.monitor.check(z0) and self.monitor.replan and self._queue:
            self._queue.clear()
            self.replans_on_flag += 1
        if not self._queue:
            start = time.perf_counter()
            init = None
            if self.warm_start and self._previous is not None:
                shifted = self._previous[self.replan_every :]
                init = torch.cat([shifted, shifted[-1:].expand(self.replan_every, -1)])
            result = self.planner.plan(z0, self._z_goal, self.rollout_fn, init=init)
            self.plan_seconds.append(time.perf_counter() - start)
            self._previous, self.last_plan = result.actions, result
            for action in result.actions[: self.replan_every].numpy():
                self._queue.extend([action.astype(np.float32)] * self.frameskip)
        if self.monitor is not None:
            block = torch.from_numpy(np.concatenate(self._queue[: self.frameskip]))  # the model action [k * A]
            self.monitor.expect(z0, block)
        return self._queue.pop(0)
