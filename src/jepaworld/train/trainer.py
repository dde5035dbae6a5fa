"""Train a world model on an episode file: AdamW, warm-up + cosine, TensorBoard, resumable checkpoints."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from jepaworld.config import check, option, to_dict
from jepaworld.data import EpisodeFile, WindowDataset
from jepaworld.models import ModelConfig, WorldModel, build_world_model
from jepaworld.train.checkpoint import (
    CheckpointInfo,
    load_checkpoint,
    load_train_state,
    resolve_checkpoint,
    save_checkpoint,
)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and bookkeeping of one training run."""

    data: str = option("data/two-room.h5", "episode file written by `jepaworld collect`")
    out: str = option("runs/two-room", "run directory: checkpoints, TensorBoard events")
    steps: int = option(2000, "optimizer steps")
    batch_size: int = option(128, "windows per step")
    lr: float = option(2e-3, "peak learning rate (AdamW)")
    weight_decay: float = option(1e-3, "AdamW weight decay")
    warmup_steps: int = option(100, "linear warm-up steps before the cosine decay")
    grad_clip: float = option(1.0, "clip the gradient norm to this (0: off)")
    val_episodes: float = option(0.05, "fraction of episodes held out for the validation loss")
    checkpoint_every: int = option(250, "steps between checkpoints (and validation)")
    seed: int = option(0, "seed of initialisation, batch sampling and SIGReg directions")
    device: str = option("auto", "torch device: auto (cuda when present, else cpu), cpu, cuda, cuda:1 ...")
    resume: bool = option(False, "continue the run in --out from its latest checkpoint")
    init_encoder: str = option("", "checkpoint whose encoder + projector start this run (e.g. from `pretrain`)")
    init_from: str = option(
        "",
        "checkpoint whose whole model (encoder, projector, predictor) starts this run: a fine-tune with this run's "
        "loss settings, optimizer and schedule; the architecture options must match it, but for a "
        "deeper --predictor-depth over a conv or transformer predictor (its blocks load first, the rest start as the "
        "identity)",
    )
    freeze_encoder: bool = option(
        False,
        "train the predictor alone on the fixed encoder of --init-from (or --init-encoder): every frame is encoded "
        "once and its latent held in memory, so no step runs the encoder, and --rollout-steps can reach the "
        "planning horizon; SIGReg has nothing to shape and is left out of the loss",
    )
    progress: bool = option(True, "show a progress bar")
    cache_mb: int = option(2048, "memory (MB) for --data's frames: held whole, decompressed, where they fit")

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "cache_mb"):
            check(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)}")
        check(
            self.batch_size >= 8,
            f"batch_size must be >= 8 (batch norm and SIGReg pool the batch), got {self.batch_size}",
        )
        check(self.lr > 0, f"lr must be > 0, got {self.lr}")
        check(0.0 <= self.val_episodes < 0.5, f"val_episodes must be in [0, 0.5), got {self.val_episodes}")
        check(
            not (self.init_encoder and self.init_from),
            "pass --init-encoder (encoder + projector) or --init-from (the whole model), not both",
        )


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no CUDA device; use --device cpu")
    return device


def lr_factor(step: int, warmup: int, total: int, floor: float = 0.05) -> float:
    """Linear warm-up to 1, then cosine decay to ``floor`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def split_episodes(num_episodes: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(num_episodes)
    n_val = round(num_episodes * fraction) if num_episodes > 1 else 0
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def validate(
    model: WorldModel, data: WindowDataset, device: torch.device, batches: int = 4, batch_size: int = 128
) -> dict[str, float]:
    """Mean loss terms on held-out episodes, with a fixed sample so values compare across steps."""
    model.eval()
    rng = np.random.default_rng(12345)
    totals: dict[str, float] = {}
    for _ in range(batches):
        _, metrics = model.loss(_to(data.sample(batch_size, rng), device))
        for k, v in metrics.items():
            totals[k] = totals.get(k, 0.0) + v / batches
    model.train()
    return totals


#: The parts of ModelConfig that shape the encoder and projector: these must match to transfer them.
ENCODER_FIELDS = ("encoder", "encoder_width", "image_size", "latent_dim", "latent_grid")
#: The parts of ModelConfig that only weigh the loss: a fine-tune (``--init-from``) may change these.
LOSS_FIELDS = (
    *("sigreg_weight", "sigreg_projections", "rollout_steps", "motion_sigreg_weight", "sigreg_bank"),
    "sigreg_cells",
    *("prediction_metric", "prediction_shrink"),
)


def init_weights(model: WorldModel, config: ModelConfig, checkpoint: str, whole: bool = False) -> None:
    """Copy the encoder and projector weights (and batch-norm statistics) of ``checkpoint`` into ``model``;
    ``whole``: the predictor too, so that every architecture field (all but ``LOSS_FIELDS``) must match."""
    source, info = load_checkpoint(checkpoint)
    if whole:
        fields = [f.name for f in dataclasses.fields(ModelConfig) if f.name not in LOSS_FIELDS]
        parts = ("encoder", "projector", "predictor")
        problem = f"--init-from {checkpoint}: its architecture differs from this run's"
        advice = "pass the architecture options the checkpoint was trained with"
    else:
        fields, parts = ENCODER_FIELDS, ("encoder", "projector")
        problem = f"--init-encoder {checkpoint}: its encoder does not fit this model"
        advice = "pass the same --encoder, --encoder-width, --image-size, --latent-dim and --latent-grid"
    deeper = whole and grows(model.predictor, info.model.predictor_depth, config.predictor_depth)
    differ = [
        f"{k}: {getattr(info.model, k)} there, {getattr(config, k)} here"
        for k in fields
        if getattr(info.model, k) != getattr(config, k) and not (deeper and k == "predictor_depth")
    ]
    if differ:
        raise ValueError(f"{problem} ({'; '.join(differ)}); {advice}")
    for part in parts:
        weights = getattr(source, part).state_dict()
        if deeper and part == "predictor":
            weights = grown_weights(model.predictor.state_dict(), weights, info.model.predictor_depth)
        getattr(model, part).load_state_dict(weights)
    if deeper:
        print(
            f"--init-from {checkpoint}: its {info.model.predictor_depth} predictor blocks loaded, "
            f"{config.predictor_depth - info.model.predictor_depth} more start as the identity"
        )


def grows(predictor: torch.nn.Module, there: int, here: int) -> bool:
    """A predictor may start from a shallower one's weights where its blocks start as the identity (the
    conv and transformer predictors): the copied blocks come first, the rest change nothing until trained."""
    return here > there and getattr(predictor, "blocks_start_as_identity", False)


def grown_weights(own: dict, shallower: dict, depth: int) -> dict:
    """``own`` (a deeper predictor's fresh weights) with every weight of ``shallower`` (``depth`` blocks) in
    its place; the only weights left fresh are those of blocks ``depth`` and on."""
    fresh = [k for k in own if k not in shallower]
    stray = [k for k in shallower if k not in own] + [k for k in fresh if not _block_at_least(k, depth)]
    if stray:
        raise ValueError(f"a predictor of {depth} blocks does not fit this one's first blocks (at {stray[0]})")
    return {**own, **shallower}


def _block_at_least(key: str, depth: int) -> bool:
    head, _, rest = key.partition(".")
    index = rest.partition(".")[0]
    return head == "blocks" and index.isdigit() and int(index) >= depth


INIT_FIELDS = ("init_from", "init_encoder")


def keep_init(cfg: TrainConfig, stored: dict, out: Path) -> TrainConfig:
    """A resumed run keeps the --init-from / --init-encoder it started with; another one is an error."""
    for field in INIT_FIELDS:
        given, started = getattr(cfg, field), stored.get(field, "")
        if given and (not started or Path(given).resolve() != Path(started).resolve()):
            flag = "--" + field.replace("_", "-")
            raise ValueError(
                f"{flag} {given}: {out} already holds a run, started from {started or 'its own initialisation'}; "
                f"a resumed run keeps its weights, so drop {flag} to resume it or choose another --out"
            )
    frozen = stored.get("freeze_encoder", False)
    if cfg.freeze_encoder and not frozen:
        raise ValueError(
            f"--freeze-encoder: the run in {out} trains its encoder too, and a resumed run keeps its settings; "
            "drop --freeze-encoder to resume it, or start a new --out from its checkpoint with --init-from"
        )
    return dataclasses.replace(cfg, freeze_encoder=frozen, **{f: stored.get(f, "") for f in INIT_FIELDS})


def check_frames(data: str, frame_shape: tuple, size: int, advice: str) -> None:
    """The data's frames must be what the model reads, ``[size, size, 3]``; else a clear error ending in ``advice``."""
    if frame_shape != (size, size, 3):
        got = " x ".join(map(str, frame_shape))
        raise ValueError(
            f"{data}: expected frames of {size} x {size} x 3 (the model's --image-size), got {got}; {advice}"
        )


def encode_once(model: WorldModel, datasets: list[WindowDataset]) -> None:
    """Fix the encoder and projector (no gradients, batch norm on its running statistics) and hold the
    latents of the datasets' frames in their place (``WindowDataset.encode_frames``)."""
    for part in (model.encoder, model.projector):
        part.requires_grad_(False)
    model.eval()
    started = time.perf_counter()
    frames = sum(data.encode_frames(model.encode_frames) for data in datasets)
    model.train()
    print(f"--freeze-encoder: {frames} frames encoded once in {time.perf_counter() - started:.0f} s")


def train(train_config: TrainConfig, model_config: ModelConfig) -> Path:
    """Train (or resume) a run -> the path of its final checkpoint."""
    cfg = train_config
    device = resolve_device(cfg.device)
    out = Path(cfg.out)
    resuming = (out / "latest").exists()
    if resuming and not cfg.resume:
        raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    with EpisodeFile(cfg.data) as episodes:
        env_id, action_dim, num_episodes = episodes.env_id, episodes.action_dim, episodes.num_episodes
        low, high = episodes.action_low.tolist(), episodes.action_high.tolist()
        data_extra = episodes.metadata["extra"]
        frame_shape = tuple(episodes.frame_shape)

    if resuming:
        model, info = load_checkpoint(out, device)
        model_config = info.model  # a resumed run keeps its architecture
        start_step, train_seconds = info.step, info.train_seconds
        cfg = keep_init(cfg, info.extra.get("train_config", {}), out)
        if model_config.env_action_dim != action_dim:
            raise ValueError(
                f"{cfg.data}: actions of size {action_dim}, but the run in {out} was trained on "
                f"actions of size {model_config.env_action_dim}"
            )
        advice = f"the run in {out} reads {model_config.image_size}-pixel frames: resume it on such data"
        check_frames(cfg.data, frame_shape, model_config.image_size, advice)
    else:
        if cfg.freeze_encoder and not (cfg.init_from or cfg.init_encoder):
            raise ValueError(
                "--freeze-encoder keeps a trained encoder fixed: pass its checkpoint with --init-from (the whole "
                "model) or --init-encoder (encoder and projector; the predictor starts afresh)"
            )
        torch.manual_seed(cfg.seed)
        model_config = dataclasses.replace(model_config, env_action_dim=action_dim)
        size = model_config.image_size
        check_frames(
            cfg.data, frame_shape, size, f"pass --image-size {frame_shape[0]}, or collect with --image-size {size}"
        )
        model = build_world_model(model_config)
        if cfg.init_encoder or cfg.init_from:
            init_weights(model, model_config, cfg.init_encoder or cfg.init_from, whole=bool(cfg.init_from))
        model = model.to(device)
        start_step, train_seconds = 0, 0.0
    model.train()

    train_eps, val_eps = split_episodes(num_episodes, cfg.val_episodes, cfg.seed)
    window = dict(num_frames=model_config.window_frames, frameskip=model_config.frameskip)
    try:
        train_data = WindowDataset(cfg.data, episodes=train_eps, cache_mb=cfg.cache_mb, **window)
    except ValueError as error:
        if model_config.window_frames == model_config.history + 1:
            raise
        k = model_config.rollout_steps
        raise ValueError(f"{error}; --rollout-steps {k} takes windows of {k} + 2 frames: pass a smaller one") from None
    val_data = WindowDataset(cfg.data, episodes=val_eps, **window) if len(val_eps) else None
    if cfg.freeze_encoder:  # the frames are read once, to be encoded
        encode_once(model, [d for d in (train_data, val_data) if d is not None])
    elif not train_data.in_memory:
        print(
            f"{cfg.data}: its training frames take {train_data.frames_mb:.0f} MB decompressed, more than --cache-mb "
            f"{cfg.cache_mb}; reading them from disk, which is slower (--cache-mb {int(train_data.frames_mb) + 1} "
            "or more holds them in memory)"
        )

    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    if resuming:
        rng.bit_generator.state = load_train_state(resolve_checkpoint(out), optimizer)
        print(f"resuming {out} at step {start_step}")
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s + start_step, cfg.warmup_steps, cfg.steps)
    )
    out.mkdir(parents=True, exist_ok=True)
    run_config = {"train": to_dict(cfg), "model": to_dict(model_config)}
    (out / "train_config.json").write_text(json.dumps(run_config, indent=2) + "\n")
    writer = SummaryWriter(str(out / "tensorboard"), purge_step=start_step)
    extra = {"data": str(Path(cfg.data).resolve()), "data_extra": data_extra, "train_config": to_dict(cfg)}

    def checkpoint(step: int) -> Path:
        info = CheckpointInfo(
            path=out,
            model=model_config,
            env_id=env_id,
            action_low=low,
            action_high=high,
            step=step,
            train_seconds=train_seconds,
            extra=extra,
        )
        return save_checkpoint(out, model, info, optimizer, rng.bit_generator.state)

    bar = tqdm(total=cfg.steps, initial=start_step, desc="train", unit="step", disable=not cfg.progress)
    path = resolve_checkpoint(out) if resuming else out
    last = time.perf_counter()
    for step in range(start_step, cfg.steps):
        batch = _to(train_data.sample(cfg.batch_size, rng), device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss, metrics = model.loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(trained, cfg.grad_clip)
        optimizer.step()
        schedule.step()
        now = time.perf_counter()
        train_seconds += now - last
        metrics["samples_per_s"] = cfg.batch_size / max(now - last, 1e-9)
        last = now
        if step % 10 == 0 or step == cfg.steps - 1:
            for k, v in metrics.items():
                writer.add_scalar(f"train/{k}", v, step)
            writer.add_scalar("train/lr", schedule.get_last_lr()[0], step)
        bar.set_postfix(
            pred=f"{metrics['pred']:.4f}", sigreg=f"{metrics['sigreg']:.3f}", sps=f"{metrics['samples_per_s']:.0f}"
        )
        bar.update(1)
        done = step + 1
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            if val_data is not None:
                for k, v in validate(model, val_data, device).items():
                    writer.add_scalar(f"val/{k}", v, done)
            path = checkpoint(done)
            last = time.perf_counter()  # checkpoint time is not training time
    bar.close()
    writer.close()
    return path
