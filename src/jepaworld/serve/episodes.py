"""The viewer's live episodes: an env on the server, planned and stepped one model step at a time.

Each step is model-predictive control made visible: execute the first action of the current plan for
``frameskip`` env steps, measure how surprising the observed frame was, then re-plan from it (warm
started by the previous plan, shifted). Episodes live in a bounded store (least recently used dropped).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import Any

import numpy as np

from jepaworld.api import LoadedWorldModel, Plan
from jepaworld.data import HELD_OUT_SEED_BASE, make_env
from jepaworld.planning import PlannerConfig
from jepaworld.planning.mpc import env_actions


class Episode:
    """One env episode driven by a world model's plans; every method holds the episode's lock."""

    def __init__(self, name: str, model: LoadedWorldModel, seed: int, max_steps: int) -> None:
        self.id, self.name, self.model, self.seed, self.max_steps = uuid.uuid4().hex, name, model, seed, max_steps
        self.env = make_env(model.env_id, max_episode_steps=max_steps)
        unwrapped = self.env.unwrapped
        if not hasattr(unwrapped, "goal_observation"):
            self.env.close()
            raise ValueError(f"the viewer needs an env with a goal frame (goal_observation()); {model.env_id} has none")
        self.frame, info = self.env.reset(seed=HELD_OUT_SEED_BASE + seed)  # pair `seed` of eval block 0
        self.goal_frame = unwrapped.goal_observation()
        self.state, self.goal_state = info.get("state"), info.get("goal")
        self.success, self.done, self.step_count = bool(info.get("is_success", False)), False, 0
        self.frames = [self.frame]  # observed frames, one per model step (the last history + 1 kept)
        self.actions: list[np.ndarray] = []  # the model actions between them, as blocks [frameskip * A]
        self.surprise: list[float] = []
        self.path = [] if self.state is None else [np.asarray(self.state, dtype=float).tolist()]
        self.plan: Plan | None = None
        self.predicted: np.ndarray | None = None  # the frame the model imagined for the last step, if decodable
        self.planner_config, self.context, self.blocks = PlannerConfig(), 1, False
        self.metric, self.metric_shrink = "latent", 0.1
        self.lock = threading.Lock()

    def replan(
        self,
        config: PlannerConfig | None = None,
        context: int | None = None,
        blocks: bool | None = None,
        metric: str | None = None,
        metric_shrink: float | None = None,
    ):
        """Plan from the last ``context`` frames seen (as ``eval --plan-context``; ``blocks`` as
        ``--plan-blocks``, ``metric`` as ``--metric``); warm started by the last plan, shifted by one
        step, when it fits. The settings given are kept for the re-plans after each step."""
        if context is not None and not 1 <= context <= self.model.history:
            raise ValueError(f"context: expected 1 to the model's history ({self.model.history}) frames, got {context}")
        self.planner_config = config or self.planner_config
        self.context = self.context if context is None else context
        self.blocks = self.blocks if blocks is None else blocks
        self.metric = metric or self.metric
        self.metric_shrink = metric_shrink or self.metric_shrink
        init, last = None, self.plan
        if last is not None and last.blocks == self.blocks and len(last.actions) == self.planner_config.horizon:
            init = np.concatenate([last.actions[1:], last.actions[-1:]])
        seen = min(self.context, len(self.frames))
        past = np.stack(self.actions[-(seen - 1) :]) if seen > 1 else None
        self.plan = self.model.plan(
            np.stack(self.frames[-seen:]),
            self.goal_frame,
            self.planner_config,
            seed=self.seed,
            init=init,
            past_actions=past,
            blocks=self.blocks,
            metric=self.metric,
            metric_shrink=self.metric_shrink,
        )
        return self.plan

    def step(self) -> None:
        """Execute one model step of the current plan (planning first if there is none), then re-plan.

        The step's surprise is recorded when all ``frameskip`` env steps ran (success can end it sooner)."""
        if self.done:
            raise ValueError("this episode is over (success or step budget); start a new one")
        plan = self.plan or self.replan()
        steps = env_actions(plan.actions[:1], self.model.frameskip, plan.blocks)  # [frameskip, A]
        block = steps.reshape(-1)  # the model action [frameskip * A]
        self.predicted = None if self.model.decoder is None else self.model.decode(plan.latents[:1])[0]
        executed = 0
        for action in steps:
            self.frame, _, terminated, truncated, info = self.env.step(action)
            self.step_count += 1
            executed += 1
            self.success = bool(info.get("is_success", False))
            if terminated or truncated or self.success:
                break
        self.state = info.get("state")
        if self.state is not None:
            self.path.append(np.asarray(self.state, dtype=float).tolist())
        keep = self.model.history + 1
        self.frames, self.actions = [*self.frames, self.frame][-keep:], [*self.actions, block][-(keep - 1) :]
        if executed == self.model.frameskip:  # a model step cut short (success) is not what the model predicts
            self.surprise.append(float(self.model.surprise(np.stack(self.frames), np.stack(self.actions))[-1]))
        self.done = self.success or terminated or truncated or self.step_count >= self.max_steps
        if not self.done:
            self.replan()

    def planned_path(self) -> list[list[float]] | None:
        """Where the true simulator would take the agent under the current plan, one point per model step."""
        physics = getattr(self.env.unwrapped, "physics", None)
        if self.plan is None or self.state is None or not hasattr(physics, "rollout"):
            return None
        k = self.model.frameskip
        executed = env_actions(self.plan.actions.astype(np.float64), k, self.plan.blocks)  # [H * k, A]
        positions = physics.rollout(np.asarray(self.state, dtype=np.float64)[None], executed[None])[0]
        return positions[k - 1 :: k].tolist()

    def imagined(self) -> np.ndarray | None:
        """The plan's imagined latents as frames ``[H, S, S, 3]``, where a decoder exists."""
        if self.plan is None or self.model.decoder is None:
            return None
        return self.model.decode(self.plan.latents)

    def close(self) -> None:
        self.env.close()


class EpisodeStore:
    """At most ``capacity`` live episodes; creating one more drops the least recently used."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._episodes: OrderedDict[str, Episode] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, episode: Episode) -> None:
        with self._lock:
            self._episodes[episode.id] = episode
            while len(self._episodes) > self.capacity:
                _, old = self._episodes.popitem(last=False)
                old.close()

    def get(self, episode_id: str) -> Episode:
        with self._lock:
            if episode_id not in self._episodes:
                raise KeyError(
                    f"no live episode {episode_id!r} (finished, dropped after {self.capacity}, or never made)"
                )
            self._episodes.move_to_end(episode_id)
            return self._episodes[episode_id]

    def remove(self, episode_id: str) -> None:
        self.get(episode_id)
        with self._lock:
            self._episodes.pop(episode_id).close()

    def __len__(self) -> int:
        return len(self._episodes)


def state_list(value: Any) -> list[float] | None:
    return None if value is None else np.asarray(value, dtype=float).reshape(-1).tolist()
