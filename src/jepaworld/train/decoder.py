"""``jepaworld train-decoder``: fit a ``FrameDecoder`` to the frozen latents of a checkpoint.

The decoder is saved in ``CHECKPOINT/decoder/`` (or ``--out``): ``config.json`` (its size, the
SHA-256 of the world-model weights it was fitted to, the held-out error) and ``model.safetensors``.
The world model's files are only read. Written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import trange

from jepaworld.config import check, option, to_dict
from jepaworld.data import EpisodeFile
from jepaworld.models.decoder import FrameDecoder
from jepaworld.train.checkpoint import load_checkpoint, resolve_checkpoint
from jepaworld.train.trainer import check_frames, resolve_device

DECODER_FORMAT = "jepaworld-decoder"
DECODER_DIR = "decoder"


@dataclass(frozen=True)
class DecoderConfig:
    """What to fit the decoder to, and for how long."""

    checkpoint: str = option("runs/two-room", "checkpoint directory, or a run directory (its latest)")
    data: str = option("", "episode file of frames (default: the file the checkpoint was trained on)")
    out: str = option("", "decoder directory (default: CHECKPOINT/decoder)")
    steps: int = option(800, "optimizer steps")
    batch_size: int = option(64, "frames per step")
    lr: float = option(2e-3, "AdamW learning rate (cosine decay)")
    width: int = option(16, "decoder base channels")
    max_frames: int = option(12000, "frames encoded once and trained on, spread evenly over the file")
    seed: int = option(0, "seed of the frame choice and the decoder's initialisation")
    device: str = option("auto", "torch device")
    progress: bool = option(True, "show a progress bar")

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "width"):
            check(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        check(self.max_frames >= 20, f"max_frames must be >= 20, got {self.max_frames}")
        check(self.lr > 0, f"lr must be > 0, got {self.lr}")


def weights_digest(checkpoint: Path) -> str:
    """SHA-256 of a checkpoint's ``model.safetensors``: which world model a decoder belongs to."""
    digest = hashlib.sha256()
    with open(checkpoint / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _frames(data: EpisodeFile, count: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``count`` frames ``[N, H, W, 3]`` uint8 drawn evenly over the file, read episode by episode."""
    total = data.num_frames
    keep = np.sort(rng.choice(total, size=min(count, total), replace=False))
    chosen, offset = [], 0
    for episode in data.episodes():
        frames = episode["frames"]
        inside = keep[(keep >= offset) & (keep < offset + len(frames))] - offset
        chosen.append(frames[inside])
        offset += len(frames)
    return np.concatenate(chosen)


def train_decoder(config: DecoderConfig) -> dict[str, Any]:
    """Fit the decoder, save it -> a summary (path, held-out MSE and PSNR, seconds)."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    model, info = load_checkpoint(config.checkpoint, device)
    data_path = config.data or info.extra.get("data", "")
    if not data_path:
        raise ValueError(f"{info.path} does not record its training data; give the episode file with --data")
    if not Path(data_path).exists():
        raise FileNotFoundError(f"episode file {data_path} does not exist (give another with --data)")
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    with EpisodeFile(data_path) as data:
        size = info.model.image_size
        check_frames(data_path, tuple(data.frame_shape), size, f"give {size}-pixel frames with --data")
        frames = _frames(data, config.max_frames, rng)
    latents = model.encode_frames(frames).to(device)  # [N, D]
    targets = torch.from_numpy(frames).permute(0, 3, 1, 2)  # [N, 3, S, S] uint8, moved per batch
    held_out = max(1, len(frames) // 20)
    order = torch.from_numpy(rng.permutation(len(frames)))
    val, fit = order[:held_out], order[held_out:]

    decoder = FrameDecoder(info.model.latent_dim, size, config.width).to(device)
    optimizer = torch.optim.AdamW(decoder.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
    for _ in trange(config.steps, desc="decoder", disable=not config.progress):
        index = fit[torch.randint(len(fit), (config.batch_size,))]
        target = targets[index].to(device).float() / 255
        loss = F.mse_loss(decoder(latents[index]), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    decoder.eval()
    with torch.inference_mode():
        val_mse = float(F.mse_loss(decoder(latents[val]), targets[val].to(device).float() / 255))
    summary = {
        "format": DECODER_FORMAT,
        "latent_dim": info.model.latent_dim,
        "image_size": size,
        "width": config.width,
        "world_model_sha256": weights_digest(info.path),
        "checkpoint": str(info.path),
        "frames": len(frames),
        "held_out_mse": val_mse,
        "held_out_psnr_db": 10 * math.log10(1 / max(val_mse, 1e-12)),
        "train_seconds": time.perf_counter() - started,
        "config": to_dict(config),
    }
    out = Path(config.out) if config.out else info.path / DECODER_DIR
    _save(out, decoder, summary)
    summary["path"] = str(out)
    return summary


def _save(out: Path, decoder: FrameDecoder, summary: dict[str, Any]) -> None:
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in decoder.state_dict().items()}, tmp / "model.safetensors")
    (tmp / "config.json").write_text(json.dumps(summary, indent=2) + "\n")
    if out.exists():  # replace an older decoder: move it aside first, so a crash leaves one whole decoder
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


def load_decoder(checkpoint: str | os.PathLike, device: str | torch.device = "cpu") -> FrameDecoder | None:
    """The decoder in ``CHECKPOINT/decoder`` (in eval mode), or ``None`` when there is none.

    Raises ``ValueError`` when it was fitted to other world-model weights than the checkpoint's.
    """
    path = resolve_checkpoint(checkpoint)
    directory = path / DECODER_DIR
    if not (directory / "config.json").exists():
        return None
    meta = json.loads((directory / "config.json").read_text())
    if meta.get("format") != DECODER_FORMAT:
        raise ValueError(f"{directory}/config.json: format={meta.get('format')!r}, expected {DECODER_FORMAT!r}")
    if meta["world_model_sha256"] != weights_digest(path):
        raise ValueError(
            f"{directory} was fitted to other world-model weights than {path}/model.safetensors; "
            "run `jepaworld train-decoder` again"
        )
    decoder = FrameDecoder(meta["latent_dim"], meta["image_size"], meta["width"])
    decoder.load_state_dict(load_file(directory / "model.safetensors"))
    return decoder.to(device).eval()
