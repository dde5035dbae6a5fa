"""Can a planner use this model? The two things an energy-based planner needs from it, measured on episodes.

    python bench/latent_geometry.py --checkpoint RUN --data DATA.h5 [--state-columns 2 3] [--angles 2]

1. **Does the latent distance grow with the true distance?** Squared latent distance (the planner's
   energy) between random pairs of frames, binned by the distance between their true states (the chosen
   columns of ``/state``; ``--angles`` columns differ the short way round). Where it flattens out at the
   value of unrelated frames, the energy no longer says which way the goal lies.
2. **Does the model predict where the actions lead?** Error of the imagined latents 1 and ``--horizon``
   model steps ahead against the observed ones, started from 1 frame and from ``history`` frames, next to
   the error of copying the last latent.

Uses the file's last ``--episodes`` episodes (a run holds its last ones out for validation).
Writes ``--out/latent-geometry-NAME.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import torch

from jepaworld.data import EpisodeFile
from jepaworld.envs.angles import wrap_angle
from jepaworld.train import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
BINS = (0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, np.inf)


def episodes_latents(model, data: EpisodeFile, count: int) -> list[dict]:
    out = []
    for e in range(max(0, data.num_episodes - count), data.num_episodes):
        episode = data.episode(e)
        out.append(
            {"z": model.encode_frames(episode["frames"]), "actions": episode["actions"], "state": episode["state"]}
        )
    return out


def state_distance(a: np.ndarray, b: np.ndarray, angles: np.ndarray) -> np.ndarray:
    diff = a - b
    diff[:, angles] = wrap_angle(diff[:, angles])
    return np.abs(diff).sum(1)


def geometry(episodes: list[dict], columns: list[int], angles: list[int], pairs: int, seed: int) -> list[dict]:
    z = torch.cat([e["z"] for e in episodes])
    state = np.concatenate([e["state"] for e in episodes])[:, columns]
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(z), pairs), rng.integers(0, len(z), pairs)
    latent = (z[i] - z[j]).pow(2).mean(-1).numpy()
    true = state_distance(state[i], state[j], np.isin(columns, angles))
    rows = []
    for low, high in itertools.pairwise(BINS):
        chosen = latent[(true >= low) & (true < high)]
        if len(chosen):
            p10, p50, p90 = np.percentile(chosen, [10, 50, 90])
            rows.append({"state_distance": [low, high], "pairs": len(chosen), "p10": p10, "median": p50, "p90": p90})
    return rows


def check_horizon(data: EpisodeFile, count: int, frameskip: int, history: int, horizon: int) -> None:
    """Refuse, before any encoding, a ``horizon`` that none of the last ``count`` episodes holds a window of."""
    first = max(0, data.num_episodes - count)
    longest = int((data.episode_ends[first:] - data.episode_starts[first:]).max())
    if longest <= frameskip * (history + horizon):
        raise SystemExit(
            f"--horizon {horizon}: expected episodes of more than {frameskip * (history + horizon)} frames "
            f"(history {history} + horizon {horizon} model steps of {frameskip} env steps), the longest has "
            f"{longest}; pass a shorter --horizon"
        )


@torch.inference_mode()
def prediction(model, episodes: list[dict], frameskip: int, horizon: int, context: int) -> dict:
    history = model.history
    err1, copy1, err_h, copy_h = [], [], [], []
    for e in episodes:
        z, actions = e["z"], e["actions"]
        span = frameskip * (history + horizon)
        for t0 in range(0, len(z) - span, 7):
            zz = z[t0 : t0 + span : frameskip]  # [history + horizon, D]
            steps = actions[t0 : t0 + frameskip * (len(zz) - 1)]
            blocks = torch.from_numpy(steps.reshape(len(zz) - 1, -1))  # the model actions between the frames
            c = history - 1  # the frame a plan starts from
            past = blocks[c - context + 1 : c][None] if context > 1 else None
            imagined = model.rollout(zz[c - context + 1 : c + 1][None], blocks[c : c + horizon][None], past, context)[0]
            err1.append(float((imagined[0] - zz[c + 1]).pow(2).mean()))
            copy1.append(float((zz[c] - zz[c + 1]).pow(2).mean()))
            err_h.append(float((imagined[-1] - zz[c + horizon]).pow(2).mean()))
            copy_h.append(float((zz[c] - zz[c + horizon]).pow(2).mean()))
    return {
        "context": context,
        "windows": len(err1),
        "error_1": float(np.mean(err1)),
        "copy_1": float(np.mean(copy1)),
        f"error_{horizon}": float(np.mean(err_h)),
        f"copy_{horizon}": float(np.mean(copy_h)),
    }


def markdown(report: dict) -> str:
    h = report["horizon"]
    lines = [
        f"# Latent geometry of `{report['checkpoint']}` on {report['episodes']} episodes of `{report['data']}`",
        "",
        f"Squared latent distance by true state distance (columns {report['state_columns']}, angles "
        f"{report['angles']}):",
        "",
        "| state distance | pairs | p10 | median | p90 |",
        "|---|---|---|---|---|",
        *[
            f"| {r['state_distance'][0]}-{r['state_distance'][1]} | {r['pairs']} | {r['p10']:.3f} | "
            f"{r['median']:.3f} | {r['p90']:.3f} |"
            for r in report["geometry"]
        ],
        "",
        f"| plan context | windows | error 1 step | copy 1 step | error {h} steps | copy {h} steps |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r['context']} | {r['windows']} | {r['error_1']:.4f} | {r['copy_1']:.4f} | "
            f"{r[f'error_{h}']:.4f} | {r[f'copy_{h}']:.4f} |"
            for r in report["prediction"]
        ],
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True, help="episode file with /state (the run's own: its last episodes)")
    parser.add_argument("--name", default="run", help="suffix of the result files")
    parser.add_argument("--state-columns", type=int, nargs="+", default=None, help="state columns (default: all)")
    parser.add_argument("--angles", type=int, nargs="*", default=[], help="state columns that are angles (radians)")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=40000)
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    torch.manual_seed(0)
    model, info = load_checkpoint(args.checkpoint)
    with EpisodeFile(args.data) as data:
        if not data.has_state:
            raise SystemExit(f"{args.data}: no /state column; the geometry needs the true state")
        check_horizon(data, args.episodes, info.model.frameskip, model.history, args.horizon)
        episodes = episodes_latents(model, data, args.episodes)
    columns = args.state_columns or list(range(episodes[0]["state"].shape[1]))
    contexts = sorted({1, info.model.history})
    report = {
        "checkpoint": str(info.path),
        "data": args.data,
        "episodes": len(episodes),
        "state_columns": columns,
        "angles": args.angles,
        "horizon": args.horizon,
        "geometry": geometry(episodes, columns, args.angles, args.pairs, seed=0),
        "prediction": [prediction(model, episodes, info.model.frameskip, args.horizon, c) for c in contexts],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"latent-geometry-{args.name}.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / f"latent-geometry-{args.name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
