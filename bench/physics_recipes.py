"""Benchmark: which training recipe makes the action-free world model understand the physics suite?

Trains each named recipe on the same possible clips, scores it on the same held-out matched pairs,
and writes ``bench/results/physics-recipes.json`` and a markdown table beside it: pairwise accuracy
by max surprise, overall, per violation type and per variant (``vanish``, ``stop``, ...), with the
training wall time of each recipe. Recipes run one after another, or side by side with ``--jobs``
(a GPU holds several of these small models at once).

    python bench/physics_recipes.py --clips runs/physics/clips.h5 --pairs runs/physics/pairs \\
        --recipes base rollout3 [--steps 4000] [--device cuda --jobs 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: ModelConfig overrides of the physics demo's model, and TrainConfig overrides.
RECIPES: dict[str, tuple[dict, dict]] = {
    "base": ({}, {}),  # the demo's model, motion SIGReg 0.1 since 2026-11-22; figures before then had none
    "no-motion": ({"motion_sigreg_weight": 0.0}, {}),
    "rollout2": ({"rollout_steps": 2}, {}),
    "rollout4": ({"rollout_steps": 4}, {}),
    "wide": ({"encoder_width": 32}, {}),
    "big": ({"encoder_width": 32, "predictor_width": 256, "predictor_depth": 4}, {}),
    "big-rollout4": ({"encoder_width": 32, "predictor_width": 256, "predictor_depth": 4, "rollout_steps": 4}, {}),
    "big-history10": ({"encoder_width": 32, "predictor_width": 256, "predictor_depth": 4, "history": 10}, {}),
    "sigreg0.02": ({"sigreg_weight": 0.02}, {}),
    "history10": ({"history": 10}, {}),
    "history10-rollout4": ({"history": 10, "rollout_steps": 4}, {}),
    "vit": ({"encoder": "vit", "encoder_width": 128}, {}),
    "motion0.3": ({"motion_sigreg_weight": 0.3}, {}),
}


def run_recipe(name: str, clips: str, pairs_dir: str, out: str, steps: int, batch_size: int, device: str) -> dict:
    from jepaworld.cli.physics import PHYSICS_MODEL
    from jepaworld.envs import physics_suite
    from jepaworld.eval.physics import accuracy, load_pairs, score_pairs, world_model_surprise
    from jepaworld.train import TrainConfig, load_checkpoint, resolve_device, train

    model_overrides, train_overrides = RECIPES[name]
    model_config = dataclasses.replace(PHYSICS_MODEL, **model_overrides)
    train_config = TrainConfig(
        data=clips,
        out=str(Path(out) / name),
        steps=steps,
        batch_size=batch_size,
        device=device,
        progress=False,
        checkpoint_every=steps,
        **train_overrides,
    )
    checkpoint = train(train_config, model_config)
    model, info = load_checkpoint(checkpoint, resolve_device(device))
    pairs, _ = load_pairs(pairs_dir, info.model.image_size, physics_suite.FPS)
    scored = score_pairs(world_model_surprise(model, resolve_device(device)), pairs)
    rows = [{**row, "variant": f"{row['violation']}/{row['variant'] or '?'}"} for row in scored["rows"]]
    by_variant = accuracy(rows, "max", by="variant")
    del by_variant["overall"]
    return {
        "recipe": name,
        "model": model_overrides,
        "train": {"steps": steps, "batch_size": batch_size, **train_overrides},
        "train_seconds": info.train_seconds,
        "by_type": {k: v["accuracy"] for k, v in scored["by_max"].items()},
        "overall_ci95": scored["by_max"]["overall"]["ci95"],
        "by_variant": {k: v["accuracy"] for k, v in sorted(by_variant.items())},
    }


def markdown(rows: list[dict]) -> str:
    types = [t for t in rows[0]["by_type"] if t != "overall"]
    variants = list(rows[0]["by_variant"])
    lines = [
        "| recipe | overall | " + " | ".join(types) + " | " + " | ".join(variants) + " | train s |",
        "|" + "---|" * (3 + len(types) + len(variants)),
    ]
    for r in rows:
        cells = [f"{r['by_type']['overall']:.1%}"] + [f"{r['by_type'][t]:.0%}" for t in types]
        cells += [f"{r['by_variant'][v]:.0%}" for v in variants]
        lines.append(f"| {r['recipe']} | " + " | ".join(cells) + f" | {r['train_seconds']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", required=True, help="possible training clips (physics demo's clips.h5)")
    parser.add_argument("--pairs", required=True, help="held-out pairs folder (physics demo's pairs/)")
    parser.add_argument("--recipes", nargs="+", default=["base"], choices=sorted(RECIPES))
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--jobs", type=int, default=1, help="recipes trained side by side")
    parser.add_argument("--out", default="runs/bench/physics-recipes")
    parser.add_argument("--results", default=str(HERE / "results" / "physics-recipes"))
    args = parser.parse_args()

    started = time.perf_counter()
    common = (args.clips, args.pairs, args.out, args.steps, args.batch_size, args.device)
    rows: list[dict] = []
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_recipe, name, *common) for name in args.recipes]
        for future in as_completed(futures):  # written as each finishes: a cut-short sweep keeps its rows
            rows.append(future.result())
            print(json.dumps(rows[-1]), flush=True)
            rows.sort(key=lambda r: args.recipes.index(r["recipe"]))
            wall = time.perf_counter() - started
            results = {"device": args.device, "jobs": args.jobs, "wall_seconds": wall, "rows": rows}
            Path(args.results + ".json").write_text(json.dumps(results, indent=1) + "\n")
            Path(args.results + ".md").write_text(markdown(rows) + "\n")
    print(markdown(rows))


if __name__ == "__main__":
    sys.exit(main())
