"""Any Gymnasium env as jepaworld sees it: square uint8 frames of the model's size and a Box action space.

``make_env(spec)`` takes a registered id (``jepaworld/TwoRoom-v0``, ``Reacher-v5``) or ``MODULE:CLASS``
(``my_envs:Arm``, or a file: ``path/to/arm.py:Arm``) and wraps the env in ``PixelEnv``. Its observation
is the env's own observation where that is an image ``[H, W, 3]`` uint8, otherwise ``env.render()``
(the env is made with ``render_mode="rgb_array"``); either is centre-cropped and resized.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from jepaworld.imaging import square_frame


class EnvError(ValueError):
    """An env jepaworld cannot use; the message says what was expected and what came."""


def _registered_hint() -> str:
    import jepaworld.envs  # noqa: F401  (registers jepaworld's envs)

    ours = sorted(k for k in gym.registry if k.startswith("jepaworld/"))
    return f"jepaworld's own: {ours}; any other registered Gymnasium id; or MODULE:CLASS / path/to/file.py:CLASS"


def _load_class(spec: str) -> type:
    module_name, _, class_name = spec.rpartition(":")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise EnvError(f"env {spec!r}: no file {path}")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[path.stem] = module
        module_spec.loader.exec_module(module)
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))  # a module beside the user, as `python -m` finds it
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            raise EnvError(f"env {spec!r}: cannot import module {module_name!r} ({err})") from err
    cls = getattr(module, class_name, None)
    if not (inspect.isclass(cls) and issubclass(cls, gym.Env)):
        raise EnvError(
            f"env {spec!r}: expected {class_name!r} in {module_name} to be a gymnasium.Env class, got {cls!r}"
        )
    return cls


def _accepts(cls: type, name: str) -> bool:
    parameters = inspect.signature(cls.__init__).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def load_env(spec: str, max_episode_steps: int | None = None, **kwargs: Any) -> gym.Env:
    """The env ``spec`` names, made to render ``rgb_array`` frames (not yet wrapped)."""
    from jepaworld.envs import KEPT_VERSIONS

    kwargs.setdefault("render_mode", "rgb_array")
    try:
        if spec in gym.registry:
            with warnings.catch_warnings():
                if spec in KEPT_VERSIONS:
                    warnings.filterwarnings("ignore", ".*is out of date", DeprecationWarning)
                return gym.make(spec, max_episode_steps=max_episode_steps, **kwargs)
        if ":" not in spec:
            raise EnvError(f"unknown environment {spec!r}; expected {_registered_hint()}")
        cls = _load_class(spec)
        if not _accepts(cls, "render_mode"):
            kwargs.pop("render_mode")
        env = cls(**kwargs)
    except EnvError:
        raise
    except Exception as err:  # the env's own constructor failed: say which env and with what
        raise EnvError(f"env {spec!r} could not be made with {kwargs}: {type(err).__name__}: {err}") from err
    return gym.wrappers.TimeLimit(env, max_episode_steps) if max_episode_steps else env


def check_frame(frame: Any, source: str) -> np.ndarray:
    """``frame`` if it is an RGB image ``[H, W, 3]`` uint8, else an ``EnvError`` naming ``source``."""
    if frame is None:
        raise EnvError(
            f"{source} returned None; expected an RGB image [H, W, 3] uint8 (is the env made with "
            "render_mode='rgb_array'?)"
        )
    if not isinstance(frame, np.ndarray):
        raise EnvError(f"{source} returned {type(frame).__name__}; expected a numpy RGB image [H, W, 3] uint8")
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < 1:
        raise EnvError(f"{source} returned an array {frame.dtype} {list(frame.shape)}; expected [H, W, 3] uint8")
    return frame


def _is_image_space(space: gym.Space) -> bool:
    return (
        isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3 and space.shape[2] == 3
    )


class PixelEnv(gym.Wrapper):
    """Observations become ``[size, size, 3]`` uint8 frames; the action space must be a bounded 1-D Box.

    ``goal_frame()`` is the env's own goal image (``goal_observation()``) at the same size, where the
    env has one. Attributes of the wrapped env (``physics``, ``state``...) stay on ``env.unwrapped``.
    """

    def __init__(self, env: gym.Env, size: int = 64, name: str = "env") -> None:
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise EnvError(f"{name}: jepaworld needs a 1-D Box action space (continuous actions), got {space}")
        if not (np.all(np.isfinite(space.low)) and np.all(np.isfinite(space.high))):
            raise EnvError(f"{name}: the Box action space needs finite bounds, got low={space.low} high={space.high}")
        self.size, self.name = size, name
        self.uses_observation = _is_image_space(env.observation_space)
        self.observation_space = gym.spaces.Box(0, 255, (size, size, 3), np.uint8)

    def frame(self, observation: Any) -> np.ndarray:
        if self.uses_observation:
            return square_frame(check_frame(observation, f"{self.name} observation"), self.size)
        return square_frame(check_frame(self.env.render(), f"{self.name} render()"), self.size)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        observation, info = self.env.reset(seed=seed, options=options)
        return self.frame(observation), info

    def step(self, action):
        observation, reward, terminated, truncated, info = self.env.step(np.asarray(action, dtype=np.float32))
        return self.frame(observation), reward, terminated, truncated, info

    @property
    def has_goal_frame(self) -> bool:
        return hasattr(self.env.unwrapped, "goal_observation")

    def goal_frame(self) -> np.ndarray:
        if not self.has_goal_frame:
            raise EnvError(f"{self.name} has no goal image of its own (goal_observation())")
        return square_frame(check_frame(self.env.unwrapped.goal_observation(), f"{self.name} goal"), self.size)


def make_env(spec: str, image_size: int = 64, max_episode_steps: int | None = None, **kwargs: Any) -> PixelEnv:
    """``load_env`` then ``PixelEnv``: the env ``spec`` names, seen as ``[image_size, image_size, 3]`` frames."""
    return PixelEnv(load_env(spec, max_episode_steps=max_episode_steps, **kwargs), image_size, name=spec)


def info_state(info: dict[str, Any], key: str) -> np.ndarray:
    """``info[key]`` as a flat float vector, or an ``EnvError`` listing the keys ``info`` has."""
    if key not in info:
        raise EnvError(f"the env's info has no {key!r} (--state-key); its keys: {sorted(info)}")
    value = np.asarray(info[key], dtype=np.float64).ravel()
    if value.size == 0 or not np.all(np.isfinite(value)):
        raise EnvError(f"info[{key!r}] must be finite numbers, got {info[key]!r}")
    return value


def parse_env_kwargs(text: str) -> dict[str, Any]:
    """``--env-kwargs`` JSON (an object) -> keyword arguments for the env's constructor."""
    import json

    try:
        kwargs = json.loads(text or "{}")
    except json.JSONDecodeError as err:
        raise EnvError(f"--env-kwargs must be a JSON object such as '{{\"width\": 64}}', got {text!r} ({err})") from err
    if not isinstance(kwargs, dict):
        raise EnvError(f"--env-kwargs must be a JSON object, got {type(kwargs).__name__}: {text!r}")
    return kwargs
