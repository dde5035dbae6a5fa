"""Checkpoints: safetensors weights + a JSON config that fully rebuilds the model; never pickle.

A run directory holds ``checkpoints/step_NNNNNNN/`` (each written under a temporary name and
renamed when complete, so it is never seen half-written) and ``latest``, a one-line pointer
replaced atomically. A checkpoint directory holds::

    config.json             format, model config, env id, action bounds, training step and time
    model.safetensors       weights (and batch-norm statistics)
    train_state.safetensors optimizer moments and the torch RNG (only needed to resume)
    train_state.json        optimizer hyper-parameters, numpy RNG state
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from jepaworld.config import from_dict, to_dict
from jepaworld.models import ModelConfig, WorldModel, build_world_model

FORMAT = "jepaworld-checkpoint"
FORMAT_VERSION = 1


@dataclass
class CheckpointInfo:
    """What a checkpoint says about itself (everything in its config.json)."""

    path: Path
    model: ModelConfig
    env_id: str
    action_low: list[float]
    action_high: list[float]
    step: int = 0
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def save_checkpoint(
    run_dir: str | os.PathLike,
    model: WorldModel,
    info: CheckpointInfo,
    optimizer: torch.optim.Optimizer | None = None,
    numpy_rng_state: dict | None = None,
    keep: int = 2,
) -> Path:
    """Write ``run_dir/checkpoints/step_{info.step}`` atomically, point ``latest`` at it, keep ``keep``."""
    run_dir = Path(run_dir)
    final = run_dir / "checkpoints" / f"step_{info.step:07d}"
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    weights = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(weights, tmp / "model.safetensors")
    _write_json(
        tmp / "config.json",
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": to_dict(info.model),
            "env_id": info.env_id,
            "action_low": list(map(float, info.action_low)),
            "action_high": list(map(float, info.action_high)),
            "step": info.step,
            "train_seconds": info.train_seconds,
            "extra": info.extra,
        },
    )
    if optimizer is not None:
        tensors, state = _flatten_optimizer(optimizer)
        tensors["torch_rng"] = torch.get_rng_state()
        save_file(tensors, tmp / "train_state.safetensors")
        _write_json(tmp / "train_state.json", {"optimizer": state, "numpy_rng": numpy_rng_state})
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _atomic_write_text(run_dir / "latest", f"checkpoints/{final.name}\n")
    for old in sorted((run_dir / "checkpoints").glob("step_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint directory, or a run directory (-> its ``latest`` checkpoint)."""
    path = Path(path)
    if (path / "config.json").exists():
        return path
    if (path / "latest").exists():
        target = path / (path / "latest").read_text().strip()
        if not (target / "config.json").exists():
            raise FileNotFoundError(f"{path}/latest points at {target}, which holds no checkpoint")
        return target
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    raise FileNotFoundError(
        f"{path} is neither a checkpoint directory (config.json + model.safetensors) "
        f"nor a run directory with a 'latest' checkpoint"
    )


def read_info(path: str | os.PathLike) -> CheckpointInfo:
    """Read and check a checkpoint's config.json."""
    path = resolve_checkpoint(path)
    try:
        data = json.loads((path / "config.json").read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}/config.json is not valid JSON: {err}") from err
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}/config.json: format={data.get('format')!r}, expected {FORMAT!r}")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}/config.json: format_version {data.get('format_version')}, this jepaworld reads {FORMAT_VERSION}"
        )
    return CheckpointInfo(
        path=path,
        model=from_dict(ModelConfig, data["model"], f"{path}/config.json"),
        env_id=data["env_id"],
        action_low=data["action_low"],
        action_high=data["action_high"],
        step=data["step"],
        train_seconds=data["train_seconds"],
        extra=data.get("extra", {}),
    )


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[WorldModel, CheckpointInfo]:
    """Rebuild the model from config.json and load its weights -> (model in eval mode, info)."""
    info = read_info(path)
    model = build_world_model(info.model)
    weights_path = info.path / "model.safetensors"
    if not weights_path.exists():
        raise FileNotFoundError(f"{info.path}: model.safetensors is missing")
    weights = load_file(weights_path)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{weights_path}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    return model.to(device).eval(), info


def load_train_state(path: Path, optimizer: torch.optim.Optimizer) -> dict | None:
    """Restore optimizer moments and the torch RNG from a checkpoint -> the numpy RNG state."""
    tensors = load_file(path / "train_state.safetensors")
    state = json.loads((path / "train_state.json").read_text())
    torch.set_rng_state(tensors.pop("torch_rng"))
    _restore_optimizer(optimizer, tensors, state["optimizer"])
    return state["numpy_rng"]


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, slots in sd["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"optim.{index}.{name}"] = value.detach().contiguous().cpu()
            else:
                scalars[f"{index}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], state: dict) -> None:
    slots: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, index, name = key.split(".", 2)
        slots.setdefault(int(index), {})[name] = value
    for key, value in state["scalars"].items():
        index, name = key.split(".", 1)
        slots.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": slots, "param_groups": state["param_groups"]})
