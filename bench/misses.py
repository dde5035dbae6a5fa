"""Where do the planner's misses end? Its failed episodes binned by their final distance to the goal.

    python bench/misses.py EVAL/results.json [MORE/results.json ...] --name NAME [--within 0.02] [--near 0.05]

A world whose success asks for more than a position (Cube: the centre within 2 cm *and* the yaw within
20 degrees) misses in two ways: episodes that end with the object in place and its orientation off
(final distance <= ``--within``, the position tolerance) and episodes that never got it there. Each
file's world-model misses fall into three bins: within ``--within``, up to ``--near``, beyond. The files
are eval outputs (``results.json``, or copies in ``bench/results/``); the pooled row sums them.
Writes ``--out/misses-NAME.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINS = ("within", "near", "beyond")


def misses(results: dict, within: float, near: float) -> dict:
    """One eval's world-model episodes -> pairs, successes and misses per final-distance bin."""
    episodes = results["episodes_detail"]["world_model"]
    failed = [e["final_distance"] for e in episodes if not e["success"]]
    if any(d is None for d in failed):
        raise ValueError("a miss has no final distance (the env reports no state to measure it from)")
    return {
        "pairs": len(episodes),
        "successes": len(episodes) - len(failed),
        "within": sum(d <= within for d in failed),
        "near": sum(within < d <= near for d in failed),
        "beyond": sum(d > near for d in failed),
    }


def row(name: str, counts: dict) -> str:
    missed = counts["pairs"] - counts["successes"]
    rate = 100 * counts["successes"] / counts["pairs"]
    bins = " | ".join(str(counts[key]) for key in BINS)
    return f"| {name} | {counts['pairs']} | {rate:.1f}% | {missed} | {bins} |"


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
    pooled = {key: sum(f[key] for f in files.values()) for key in ("pairs", "successes", *BINS)}
    report = {"within": args.within, "near": args.near, "files": files, "pooled": pooled}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"misses-{args.name}.json").write_text(json.dumps(report, indent=2) + "\n")
    header = f"| eval | pairs | success | misses | final <= {args.within} | <= {args.near} | beyond |"
    lines = [
        f"# Misses by final distance: {args.name}",
        "",
        header,
        "|---|---|---|---|---|---|---|",
        *[row(f"{label(Path(p))} (seed {f['seed']}, planner seed {f['planner_seed']})", f) for p, f in files.items()],
        row("pooled", pooled),
        "",
    ]
    (args.out / f"misses-{args.name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
