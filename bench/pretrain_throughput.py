"""Benchmark: action-free (video) pretraining throughput and peak memory.

Writes physics-suite clips (64x64, 24 frames), then trains the physics demo's action-free model on
them ``--repeats`` times for ``--steps`` steps each, and reports the median clips/s (a clip is one
training window of ``history + 1`` frames) and the process's peak resident memory, in
``bench/results/pretrain-throughput.json`` and a markdown table beside it.

    python bench/pretrain_throughput.py [--steps 60 --repeats 3 --batch-size 64 --device cpu]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
from pathlib import Path

import torch

from jepaworld.cli.physics import PHYSICS_MODEL
from jepaworld.eval.physics import write_training_clips
from jepaworld.train import TrainConfig, load_checkpoint, train

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=300, help="physics-suite clips written for the run")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--results", default=str(HERE / "results" / "pretrain-throughput"))
    args = parser.parse_args()

    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        data = write_training_clips(Path(tmp) / "clips.h5", args.clips, seed=0, progress=False)
        for repeat in range(args.repeats):
            config = TrainConfig(
                data=str(data),
                out=str(Path(tmp) / f"run{repeat}"),
                steps=args.steps,
                batch_size=args.batch_size,
                warmup_steps=1,
                checkpoint_every=args.steps,
                device=args.device,
                progress=False,
            )
            _, info = load_checkpoint(train(config, PHYSICS_MODEL))
            rates.append(args.steps * args.batch_size / info.train_seconds)
    report = {
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "model": "physics demo (action-free, history 6, CNN width 16, transformer 128x2)",
        "frames_per_clip": PHYSICS_MODEL.history + 1,
        "image_size": PHYSICS_MODEL.image_size,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "clips_per_s": rates,
        "median_clips_per_s": statistics.median(rates),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    Path(args.results + ".json").write_text(json.dumps(report, indent=1) + "\n")
    table = "\n".join(
        [
            f"| device | batch | clips/s (median of {args.repeats}) | frames/s | peak RSS MB |",
            "|---|---|---|---|---|",
            f"| {args.device} ({report['torch_threads']} threads) | {args.batch_size} | "
            f"{report['median_clips_per_s']:.1f} | {report['median_clips_per_s'] * report['frames_per_clip']:.0f} | "
            f"{report['peak_rss_mb']:.0f} |",
        ]
    )
    Path(args.results + ".md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
