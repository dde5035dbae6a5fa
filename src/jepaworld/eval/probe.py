"""Probing: how much of the true physical state can be read off frozen latents?

Latents of an episode file's frames are computed once by the frozen encoder; a linear probe (ridge
regression, closed form) and a small MLP probe are fitted from them to the state stored with the frames
(positions, velocities, ...) on some episodes and scored on held-out episodes: R^2 per quantity.
A probe over ``frames = 2`` reads the latents of the frame and the one before it (velocities need two).
Angles are probed as their cosine and sine: the number of an angle jumps where it wraps (or grows
without bound, turn after turn), its cosine and sine do not.

The supervised ceiling (``supervised_steps``) trains a fresh encoder of the checkpoint's architecture,
end to end, from the fit episodes' frames to their state: what the frames show to that architecture. A
quantity the ceiling reads and the frozen probes do not is one the world model's training left out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from jepaworld.config import check, option, to_dict
from jepaworld.data import EpisodeFile
from jepaworld.models.world_model import build_encoder
from jepaworld.train import load_checkpoint, resolve_device


@dataclass(frozen=True)
class ProbeConfig:
    """Fit probes from a checkpoint's frozen latents to the state stored in an episode file."""

    checkpoint: str = option("", "checkpoint or run directory whose encoder is probed")
    data: str = option("", "episode file with a state column (best: episodes the model did not train on)")
    out: str = option("", "directory for probe.json and probe.md (default: print only)")
    max_episodes: int = option(400, "use at most this many episodes of the file")
    test_fraction: float = option(0.25, "fraction of episodes held out to score the probes on")
    frames: tuple[int, ...] = option((1, 2), "probe inputs: latents of the last K frames, for each K given")
    angles: tuple[str, ...] = option(
        (), "state quantities that are angles (radians), probed as cos and sin; default: those the file names"
    )
    symmetry: tuple[str, ...] = option(
        (),
        "NAME=K: an angle of an object that looks the same after 1/K of a turn (Cube's yaw, its marker aside: 4);"
        " also probed as cos and sin of K times the angle",
    )
    ridge: float = option(1e-3, "ridge penalty of the linear probe (on standardised latents)")
    mlp_steps: int = option(1500, "optimizer steps of the MLP probe (0: linear only)")
    supervised_steps: int = option(
        0, "steps of the supervised ceiling: the checkpoint's encoder architecture, fresh, trained on frames -> state"
    )
    seed: int = option(0, "seed of the episode split and the MLP")
    device: str = option("auto", "torch device for encoding")

    def __post_init__(self) -> None:
        check(bool(self.checkpoint) and bool(self.data), "probe needs --checkpoint and --data")
        check(0.05 <= self.test_fraction <= 0.5, f"test_fraction must be in [0.05, 0.5], got {self.test_fraction}")
        check(self.max_episodes >= 4, f"max_episodes must be >= 4, got {self.max_episodes}")
        check(all(k >= 1 for k in self.frames) and bool(self.frames), f"frames must be >= 1, got {self.frames}")
        check(
            self.ridge >= 0 and self.mlp_steps >= 0 and self.supervised_steps >= 0,
            "ridge, mlp_steps and supervised_steps must be >= 0",
        )
        symmetry_orders(self.symmetry)  # a clear error on a malformed NAME=K


def symmetry_orders(pairs: tuple[str, ...]) -> dict[str, int]:
    """``("cube_yaw=4",)`` -> ``{"cube_yaw": 4}``."""
    orders = {}
    for pair in pairs:
        name, _, order = pair.partition("=")
        if not name or not order.isdigit() or int(order) < 2:
            raise ValueError(f"--symmetry: expected NAME=K with a whole K >= 2 (such as cube_yaw=4), got {pair!r}")
        orders[name] = int(order)
    return orders


def encode_episodes(model, episodes: EpisodeFile, indices: np.ndarray) -> list[np.ndarray]:
    """Latents ``[L, D]`` of every frame of each chosen episode."""
    return [model.encode_frames(episodes.episode(int(e))["frames"]).numpy() for e in indices]


def stack_frames(latents: list[np.ndarray], states: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[z_t, z_{t-1}, ..., z_{t-k+1}]`` (the first frame repeated at an episode's start) -> (X, Y),
    rows whose state is not finite dropped."""
    xs, ys = [], []
    for z, s in zip(latents, states, strict=True):
        padded = np.concatenate([np.repeat(z[:1], k - 1, axis=0), z])
        xs.append(np.concatenate([padded[k - 1 - j : len(padded) - j] for j in range(k)], axis=1))
        ys.append(s)
    x, y = np.concatenate(xs), np.concatenate(ys)
    keep = np.all(np.isfinite(y), axis=1)
    return x[keep], y[keep]


def r2_scores(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Coefficient of determination per column ``[S]`` (1 is perfect, 0 is the mean's score)."""
    sse = ((prediction - target) ** 2).sum(0)
    sst = ((target - target.mean(0)) ** 2).sum(0)
    return 1 - sse / np.maximum(sst, 1e-12)


def rms_errors(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Root-mean-square error per column ``[S]``, in the state's own units: the probe's precision."""
    return np.sqrt(((prediction - target) ** 2).mean(0))


def fit_linear(x: np.ndarray, y: np.ndarray, ridge: float):
    """Ridge regression on standardised inputs -> ``predict(x) -> y``."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    xs = np.concatenate([(x - mean) / std, np.ones((len(x), 1))], axis=1).astype(np.float64)
    penalty = ridge * len(x) * np.eye(xs.shape[1])
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    weights = np.linalg.solve(xs.T @ xs + penalty, xs.T @ y)
    return lambda q: np.concatenate([(q - mean) / std, np.ones((len(q), 1))], axis=1) @ weights


def regress(net: nn.Module, batch_loss, rows: int, batch: int, steps: int, seed: int) -> None:
    """Train ``net`` on ``batch_loss(row indices)`` over random minibatches (AdamW, cosine), then eval mode."""
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        loss = batch_loss(torch.randint(0, rows, (min(batch, rows),), generator=generator))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    net.eval()


def fit_mlp(x: np.ndarray, y: np.ndarray, steps: int, seed: int, hidden: int = 256):
    """A two-layer MLP (standardised inputs and targets, AdamW, minibatches of 512) -> ``predict``."""
    torch.manual_seed(seed)
    mx, sx, my, sy = x.mean(0), x.std(0) + 1e-6, y.mean(0), y.std(0) + 1e-6
    xt = torch.from_numpy(((x - mx) / sx).astype(np.float32))
    yt = torch.from_numpy(((y - my) / sy).astype(np.float32))
    net = nn.Sequential(
        nn.Linear(x.shape[1], hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, y.shape[1])
    )
    regress(net, lambda index: (net(xt[index]) - yt[index]).pow(2).mean(), len(xt), 512, steps, seed)

    def predict(q: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return net(torch.from_numpy(((q - mx) / sx).astype(np.float32))).numpy() * sy + my

    return predict


def fit_supervised(model_config, frames: np.ndarray, y: np.ndarray, steps: int, seed: int, device, batch: int = 64):
    """A fresh encoder of ``model_config``'s architecture and an MLP head, trained end to end from frames
    ``[N, H, W, C]`` uint8 to ``y [N, S]`` (standardised inside; AdamW, cosine) -> ``predict(frames) -> y``."""
    torch.manual_seed(seed)
    encoder = build_encoder(model_config)
    head = nn.Sequential(nn.Linear(encoder.out_dim, 256), nn.GELU(), nn.Linear(256, y.shape[1]))
    net = nn.Sequential(encoder, nn.Flatten(), head).to(device)
    my, sy = y.mean(0), y.std(0) + 1e-6
    yt = torch.from_numpy(((y - my) / sy).astype(np.float32))

    def as_obs(rows: np.ndarray) -> torch.Tensor:  # [B, H, W, C] -> [B, 1, C, H, W]
        return torch.from_numpy(rows).permute(0, 3, 1, 2)[:, None].to(device)

    def batch_loss(index: torch.Tensor) -> torch.Tensor:
        return (net(as_obs(frames[index.numpy()])) - yt[index].to(device)).pow(2).mean()

    regress(net, batch_loss, len(frames), batch, steps, seed)

    def predict(q: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = [net(as_obs(q[i : i + 512])).float().cpu().numpy() for i in range(0, len(q), 512)]
        return np.concatenate(out) * sy + my

    return predict


def state_names(episodes: EpisodeFile, size: int) -> list[str]:
    names = episodes.metadata["extra"].get("state_names")
    return list(names) if names and len(names) == size else [f"state_{i}" for i in range(size)]


def angles_as_cos_sin(
    states: list[np.ndarray], names: list[str], angles, symmetry: dict[str, int] | None = None
) -> tuple[list[np.ndarray], list[str]]:
    """Each angle column (radians) of every ``[L, S]`` state becomes two, ``NAME_cos`` and ``NAME_sin``; an
    angle with a symmetry of order K (``symmetry``) two more, ``NAME_cosK`` and ``NAME_sinK`` of K times it:
    what latents that see the object's shape and not its marking can hold."""
    symmetry = symmetry or {}
    unknown = sorted(set(angles) - set(names))
    if unknown:
        raise ValueError(f"--angles {unknown}: not quantities of this file's state; it has {names}")
    not_angles = sorted(set(symmetry) - set(angles))
    if not_angles:
        raise ValueError(f"--symmetry {not_angles}: not angles of this file's state; its angles are {list(angles)}")
    orders = {n: (1, symmetry[n]) if n in symmetry else (1,) for n in angles}

    def columns(n: str) -> list[str]:
        if n not in orders:
            return [n]
        return [f"{n}_{f}{'' if k == 1 else k}" for k in orders[n] for f in ("cos", "sin")]

    def expand(state: np.ndarray) -> np.ndarray:
        parts = [
            np.stack([f(k * state[:, i]) for k in orders[n] for f in (np.cos, np.sin)], 1)
            if n in orders
            else state[:, i : i + 1]
            for i, n in enumerate(names)
        ]
        return np.concatenate(parts, axis=1)

    return [expand(s) for s in states], [c for n in names for c in columns(n)]


def probe(config: ProbeConfig) -> dict:
    """Fit and score every probe -> results (written to ``config.out`` when given)."""
    device = resolve_device(config.device)
    model, info = load_checkpoint(config.checkpoint, device)
    with EpisodeFile(config.data) as episodes:
        if not episodes.has_state:
            raise ValueError(f"{config.data}: holds no /state column; probing needs the true state beside the frames")
        if episodes.frame_shape[0] != info.model.image_size:
            raise ValueError(
                f"{config.data}: frames are {episodes.frame_shape[0]} px, the model reads {info.model.image_size} px"
            )
        rng = np.random.default_rng(config.seed)
        chosen = rng.permutation(episodes.num_episodes)[: config.max_episodes]
        n_test = max(1, round(len(chosen) * config.test_fraction))
        if len(chosen) - n_test < 2:
            raise ValueError(f"{config.data}: {len(chosen)} episodes; probing needs at least 4 to split")
        test, fit = np.sort(chosen[:n_test]), np.sort(chosen[n_test:])
        names = state_names(episodes, episodes.episode(0)["state"].shape[1])
        angles = config.angles or tuple(episodes.metadata["extra"].get("state_angles") or ())
        states = {
            split: [episodes.episode(int(e))["state"] for e in idx] for split, idx in (("fit", fit), ("test", test))
        }
        orders = symmetry_orders(config.symmetry)
        states["fit"], quantities = angles_as_cos_sin(states["fit"], names, angles, orders)  # checks them first
        states["test"], _ = angles_as_cos_sin(states["test"], names, angles, orders)
        names = quantities
        latents = {split: encode_episodes(model, episodes, idx) for split, idx in (("fit", fit), ("test", test))}
        if config.supervised_steps:  # frames and states of the rows with a finite state
            pixels = {}
            for split, idx in (("fit", fit), ("test", test)):
                y = np.concatenate(states[split])
                keep = np.all(np.isfinite(y), axis=1)
                pixels[split] = (np.concatenate([episodes.episode(int(e))["frames"] for e in idx])[keep], y[keep])
    results = {
        "checkpoint": str(info.path),
        "data": str(config.data),
        "fit_episodes": len(fit),
        "test_episodes": len(test),
        "quantities": names,
        "config": to_dict(config),
        "probes": {},
        "errors": {},
    }

    def score(probe_name: str, prediction: np.ndarray, target: np.ndarray) -> None:
        for key, measure in (("probes", r2_scores), ("errors", rms_errors)):
            results[key][probe_name] = dict(zip(names, map(float, measure(prediction, target)), strict=True))

    for k in config.frames:
        x_fit, y_fit = stack_frames(latents["fit"], states["fit"], k)
        x_test, y_test = stack_frames(latents["test"], states["test"], k)
        fitted = {"linear": fit_linear(x_fit, y_fit, config.ridge)}
        if config.mlp_steps:
            fitted["mlp"] = fit_mlp(x_fit, y_fit, config.mlp_steps, config.seed)
        for kind, predict in fitted.items():
            score(f"{kind}_{k}frame", predict(x_test), y_test)
        results[f"rows_{k}frame"] = {"fit": len(x_fit), "test": len(x_test)}
    if config.supervised_steps:
        predict = fit_supervised(info.model, *pixels["fit"], config.supervised_steps, config.seed, device)
        score("supervised_ceiling", predict(pixels["test"][0]), pixels["test"][1])
    if config.out:
        out = Path(config.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "probe.json").write_text(json.dumps(results, indent=1) + "\n")
        (out / "probe.md").write_text(markdown(results) + "\n")
    return results


def markdown(results: dict) -> str:
    """R^2 per probe (rows) and quantity (columns) on held-out episodes; then the RMS error in the state's
    units, where the results hold it."""
    names = results["quantities"]
    header = ["| probe | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    lines = ["R^2:", "", *header]
    for probe_name, scores in results["probes"].items():
        lines.append(f"| {probe_name} | " + " | ".join(f"{scores[n]:.3f}" for n in names) + " |")
    if results.get("errors"):
        lines += ["", "RMS error, in the state's units:", "", *header]
        for probe_name, errors in results["errors"].items():
            lines.append(f"| {probe_name} | " + " | ".join(f"{errors[n]:.3g}" for n in names) + " |")
    return "\n".join(lines)
