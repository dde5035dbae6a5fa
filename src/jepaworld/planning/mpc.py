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

    ``blocks``: the planner's actions are whole model actions ``[frameskip * A]``, executed one env
    action ``[A]`` after another instead of one held ``frameskip`` times.

    ``reset(goal)`` sets the goal: one observation (a goal image), a list of observations (a goal set:
    reach any), or ``goal_latent=`` a latent ``[D]`` or set ``[G, D]`` given directly.
    ``act(observation) -> env action [A]`` (numpy float32).
    Planning time is recorded in ``plan_seconds`` (one entry per plan call).
    ``monitor``: scores every model step's surprise (``SurpriseMonitor``); a flagged step makes the agent
    drop its queued actions and re-plan at once when ``monitor.replan``. ``replans_on_flag`` counts those.
    ``context``: how many observed latents a plan starts from. With 1 it starts from the latest frame
    alone; with C > 1 from the latents of the last C model-step boundaries and the model actions executed
    between them (``rollout_fn(z [N, C, D], actions, past_actions=[N, C - 1, frameskip * A])``): what
    moves under momentum (an arm swung by torques) is not in one frame, it is in the frames before it.
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
        context: int = 1,
        blocks: bool = False,
    ) -> None:
        if context < 1:
            raise ValueError(f"MPCAgent context: expected >= 1 observed latents, got {context}")
        self.planner, self.encode, self.rollout_fn = planner, encode, rollout_fn
        self.frameskip, self.replan_every, self.warm_start = frameskip, replan_every, warm_start
        self.monitor, self.context, self.blocks = monitor, context, blocks
        self.replans_on_flag = 0
        self.plan_seconds: list[float] = []
        self.last_plan = None
        self._queue: list[np.ndarray] = []
        self._previous: torch.Tensor | None = None
        self._z_goal: torch.Tensor | None = None
        self._seen: list[torch.Tensor] = []  # latents at the last ``context`` model-step boundaries
        self._between: list[torch.Tensor] = []  # the model actions executed between them
        self._block: list[np.ndarray] = []  # env actions executed since the last boundary

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
        self._seen, self._between, self._block = [], [], []
        self.plan_seconds.clear()
        self.replans_on_flag = 0
        if self.monitor is not None:
            self.monitor.reset()

    def act(self, observation) -> np.ndarray:
        if self._z_goal is None:
            raise RuntimeError("MPCAgent.act called before reset(goal_observation)")
        at_boundary = len(self._queue) % self.frameskip == 0  # a model step ends here (or none has begun)
        watching = self.monitor is not None or self.context > 1  # every boundary is encoded
        if not at_boundary or (not watching and self._queue):
            return self._pop()
        z0 = self.encode(observation)
        self._remember(z0)
        if self.monitor is not None and self.monitor.check(z0) and self.monitor.replan and self._queue:
            self._queue.clear()
            self.replans_on_flag += 1
        if not self._queue:
            start = time.perf_counter()
            init = None
            if self.warm_start and self._previous is not None:
                shifted = self._previous[self.replan_every :]
                init = torch.cat([shifted, shifted[-1:].expand(self.replan_every, -1)])
            result = self.planner.plan(z0, self._z_goal, self._rollout_from_history(), init=init)
            self.plan_seconds.append(time.perf_counter() - start)
            self._previous, self.last_plan = result.actions, result
            if self.blocks and result.actions.shape[-1] % self.frameskip:
                raise ValueError(
                    f"MPCAgent blocks: expected planned actions of frameskip ({self.frameskip}) env actions each, "
                    f"got size {result.actions.shape[-1]} (was the planner built with the env's bounds, not "
                    "planning_bounds(..., blocks=True)?)"
                )
            planned = result.actions[: self.replan_every].numpy().astype(np.float32)
            self._queue.extend(env_actions(planned, self.frameskip, self.blocks))
        if self.monitor is not None:
            block = torch.from_numpy(np.concatenate(self._queue[: self.frameskip]))  # the model action [k * A]
            self.monitor.expect(z0, block)
        return self._pop()

    def _pop(self) -> np.ndarray:
        action = self._queue.pop(0)
        if self.context > 1:
            self._block.append(action)
        return action

    def _remember(self, z: torch.Tensor) -> None:
        """Keep the latest ``context`` boundary latents and the model actions between them."""
        if self.context == 1:
            return
        if self._seen:
            self._between.append(torch.from_numpy(np.concatenate(self._block)))
        self._seen.append(z)
        self._block = []
        self._seen, self._between = self._seen[-self.context :], self._between[-(self.context - 1) :]

    def _rollout_from_history(self) -> RolloutFn:
        """``rollout_fn`` as planners call it (``z0 [N, D]``, actions), started from the remembered history."""
        if len(self._seen) < 2:
            return self.rollout_fn
        return rollout_after(self.rollout_fn, torch.stack(self._seen[:-1]), torch.stack(self._between))


def env_actions(actions: np.ndarray, frameskip: int, blocks: bool) -> np.ndarray:
    """Planned actions ``[H, A]`` (each held ``frameskip`` env steps), or blocks ``[H, frameskip * A]``
    -> the env actions in the order they are executed, ``[H * frameskip, A]``."""
    actions = np.asarray(actions)
    return actions.reshape(len(actions) * frameskip, -1) if blocks else np.repeat(actions, frameskip, axis=0)


def rollout_after(rollout_fn: RolloutFn, past_z: torch.Tensor, past_actions: torch.Tensor) -> RolloutFn:
    """``rollout_fn`` as planners call it (``z0 [N, D]``, actions), started from a history: the latents
    before the start ``past_z [C - 1, D]`` and the model actions after each ``past_actions [C - 1, k * A]``."""

    def rollout(z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        n = z0.shape[0]
        z = torch.cat([past_z.to(z0).expand(n, -1, -1), z0.unsqueeze(1)], dim=1)
        return rollout_fn(z, actions, past_actions=past_actions.to(actions).expand(n, -1, -1))

    return rollout
