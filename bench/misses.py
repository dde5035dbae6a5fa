"""Where do the planner's misses end? Its failed episodes binned by their final distance to the goal.

    python bench/misses.py EVAL/results.json [MORE/results.json ...] --name NAME [--within 0.02] [--near 0.05]

A world whose success asks for more than a position (Cube: the centre within 2 cm *and* the yaw within
20 degrees) misses in two ways: episodes that end with the object in place and its orientation off
(final distance <= ``--within``, the position tolerance) and episodes that never got it there. Each
file's world-model misses fall into three bins: within ``--within``, up to ``--near``, beyond. Across the
bins, ``stalled`` counts the misses that end less than ``--within`` nearer the goal than they started (the
object barely moved, or moved away): a planner that never found the push, not one that pushed short. The
start distance is the eval's record of it; evals made before it kept one are replayed (each pair's reset
and goal on its seed, no model). The files are eval outputs (``results.json``, or copies in
``bench/results/``); the pooled row sums them. Writes ``--out/misses-NAME.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINS = ("within", "near", "beyond")


def misses(results: dict, within: float, near: float) -> dict:
    """One eval's world-model episodes -> pairs, successes, misses per final-distance bin, stalled misses."""
    episodes = results["episodes_detail"]["world_model"]
    failed = [e for e in episodes if not e["success"]]
    final = [e["final_distance"] for e in failed]
    if any(d is None for d in final):
        raise ValueError("a miss has no final distance (the env reports no state to measure it from)")
    start = start_distances(results, [e for e in failed if e.get("start_distance") is None])
    start.update({e["seed"]: e["start_distance"] for e in failed if e.get("start_distance") is not None})
    return {
        "pairs": len(episodes),
        "successes": len(episodes) - len(failed),
        "within": sum(d <= within for d in final),
        "near": sum(within < d <= near for d in final),
        "beyond": sum(d > near for d in final),
        "stalled": sum(e["final_distance"] > start[e["seed"]] - within for e in failed),
    }


def start_distances(results: dict, episodes: list[dict]) -> dict[int, float]:
    """``episodes``' distances to the goal at the start, found again: the eval's env reset on each pair's
    seed with its goals (``eval.goals``; the pairs are deterministic) -> ``{seed: distance}``."""
    if not episodes:
        return {}
    from jepaworld.data import CollectConfig
    from jepaworld.envs.adapter import make_env, parse_env_kwargs
    from jepaworld.eval.goals import episode_limit, make_goal_task

    if "env" not in results or "goal_offset" not in results:
        raise ValueError("a miss has no start distance, and the results name no env and goal offset to replay it on")
    settings = results.get("eval", {})
    kwargs = parse_env_kwargs(settings.get("env_kwargs", ""))
    start_offset = results.get("start_offset", 0)
    steps = settings.get("max_steps") and episode_limit(settings["max_steps"], start_offset)
    env = make_env(results["env"], max_episode_steps=steps, **kwargs)
    task = make_goal_task(
        env,
        results["goal_offset"],
        settings.get("state_key", "state"),
        results["success_radius"],
        CollectConfig().momentum,
        start_offset,
    )
    distances = {}
    for episode in episodes:
        _, info, goal = task.reset(env, episode["seed"])
        distances[episode["seed"]] = task.judge(info, goal)[1]
    env.close()
    return distances


def row(name: str, counts: dict) -> str:
    missed = counts["pairs"] - counts["successes"]
    rate = 100 * counts["successes"] / counts["pairs"]
    bins = " | ".join(str(counts[key]) for key in BINS)
    return f"| {name} | {counts['pairs']} | {rate:.1f}% | {missed} | {bins} | {counts['stalled']} |"


def label(path: Path) -> str:
    """An eval's name: its directory for ``DIR/results.json``, else the file's stem."""
    return path.parent.name if path.name == "results.json" else path.stem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", type=Path, help="eval results.json files")
    parser.add_argument("--name", required=True, help="names the output: misses-NAME.json / .md")
    parser.add_argument("--within", type=float, default=0.02, help="the position tolerance (Cube: 0.02 m)")
    parser.add_argument("--near", type=float, default=0.05, help="upper edge of the middle bin")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if not 0 < args.within < args.near:
        raise SystemExit(f"expected 0 < --within < --near, got {args.within} and {args.near}")
    files = {}
    for path in args.results:
        if not path.is_file():
            raise SystemExit(f"{path}: no such results file")
        try:
            results = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise SystemExit(f"{path}: expected an eval's results.json, got text that is not JSON ({error})") from None
        if not isinstance(results, dict) or "episodes_detail" not in results:
            raise SystemExit(f"{path}: expected an eval's results.json (with episodes_detail), found none")
        try:
            counts = misses(results, args.within, args.near)
        except ValueError as error:
            raise SystemExit(f"{path}: {error}") from None
        files[str(path)] = {
            "checkpoint": results["checkpoint"],
            "seed": results["seed"],
            "planner_seed": results["planner_seed"],
            **counts,
        }
    pooled = {key: sum(f[key] for f in files.values()) for key in ("pairs", "successes", *BINS, "stalled")}
    report = {"within": args.within, "near": args.near, "files": files, "pooled": pooled}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"misses-{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    header = (
        f"| eval | pairs | success | misses | final <= {args.within} | <= {args.near} | beyond | "
        f"stalled (< {args.within} nearer than at the start) |"
    )
    lines = [
        f"# Misses by final distance: {args.name}",
        "",
        header,
        "|---|---|---|---|---|---|---|---|",
        *[row(f"{label(Path(p))} (seed {f['seed']}, planner seed {f['planner_seed']})", f) for p, f in files.items()],
        row("pooled", pooled),
        "",
    ]
    (args.out / f"misses-{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
