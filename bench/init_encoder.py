"""Does an encoder pretrained on action-free video help an action-conditioned Two-Room model trained on little data?

    python bench/init_encoder.py          # about 15 minutes on a 2-core CPU

1. Two-Room episodes of the data policy are written as ordinary mp4 videos (no actions kept).
2. ``jepaworld pretrain --videos`` learns an action-free model from them (frames at 4 fps = one model step).
3. Two action-conditioned models are trained on a small labelled file (few episodes, few steps): from
   scratch, and from the pretrained encoder (``--init-encoder``); same seed, data and budget.
4. Both are scored: a linear probe of the agent position on fresh episodes (R^2) and planning success
   on held-out start/goal pairs.

Writes ``--out/init-encoder.json`` and ``--out/init-encoder.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from jepaworld.cli.main import run
from jepaworld.data import CollectConfig, EpisodeFile, collect
from jepaworld.data.videos import write_video

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/bench-init-encoder", help="scratch directory")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="where the JSON and table go")
    parser.add_argument("--videos", type=int, default=200, help="unlabelled videos to pretrain on")
    parser.add_argument("--pretrain-steps", type=int, default=1500)
    parser.add_argument("--labelled", type=int, default=30, help="labelled episodes for the action-conditioned run")
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--eval-episodes", type=int, default=50)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    unlabelled = collect(CollectConfig(episodes=args.videos, seed=10, out=str(work / "unlabelled.h5"), overwrite=True))
    with EpisodeFile(unlabelled) as episodes:
        for i in range(episodes.num_episodes):
            write_video(work / "videos" / f"episode_{i:04d}.mp4", episodes.episode(i)["frames"], fps=20)
    labelled = collect(CollectConfig(episodes=args.labelled, seed=11, out=str(work / "labelled.h5"), overwrite=True))
    probe_data = collect(CollectConfig(episodes=60, seed=12, out=str(work / "probe.h5"), overwrite=True))

    pretrained = run(
        [
            "pretrain",
            "--videos",
            str(work / "videos"),
            "--fps",
            "4",
            "--out",
            str(work / "pretrain"),
            "--steps",
            str(args.pretrain_steps),
            "--batch-size",
            "64",
            "--no-progress",
        ]
    )
    report = {
        "videos": args.videos,
        "labelled_episodes": args.labelled,
        "train_steps": args.train_steps,
        "pretrain_steps": args.pretrain_steps,
        "rows": {},
    }
    for name, extra in (("scratch", []), ("pretrained encoder", ["--init-encoder", str(pretrained)])):
        slug = name.split()[0]
        checkpoint = run(
            [
                "train",
                "--data",
                str(labelled),
                "--out",
                str(work / slug),
                "--steps",
                str(args.train_steps),
                "--batch-size",
                "64",
                "--checkpoint-every",
                str(args.train_steps),
                "--no-progress",
                *extra,
            ]
        )
        probe = run(
            ["probe", "--checkpoint", str(checkpoint), "--data", str(probe_data), "--mlp-steps", "0", "--frames", "1"]
        )
        results = run(
            [
                "eval",
                "--checkpoint",
                str(checkpoint),
                "--episodes",
                str(args.eval_episodes),
                "--no-oracle",
                "--out",
                str(work / f"eval-{slug}"),
                "--no-progress",
            ]
        )
        report["rows"][name] = {
            "probe_r2": probe["probes"]["linear_1frame"],
            "success_rate": results["success_rate"],
            "success_ci95": results["success_ci95"],
        }
    out = Path(args.out)
    (out / "init-encoder.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = ["| encoder | probe R^2 agent_x | probe R^2 agent_y | success | 95% CI |", "|---|---|---|---|---|"]
    for name, row in report["rows"].items():
        r2, ci = row["probe_r2"], row["success_ci95"]
        lines.append(
            f"| {name} | {r2['agent_x']:.3f} | {r2['agent_y']:.3f} | {row['success_rate']:.0%} | "
            f"[{ci[0]:.0%}, {ci[1]:.0%}] |"
        )
    (out / "init-encoder.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
