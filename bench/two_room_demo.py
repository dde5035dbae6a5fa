"""Benchmark: ``jepaworld demo two-room`` from nothing to results.json, timed, with peak memory.

Runs the demo exactly as a user would (a child process, default settings unless overridden),
then writes ``bench/results/two-room-demo.json`` and a markdown table beside it.

    python bench/two_room_demo.py [--out DIR] [extra demo options...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None, help="demo output directory (default: a temporary one, kept)")
    parser.add_argument("--results", default=str(HERE / "results"), help="where the benchmark JSON/markdown go")
    args, extra = parser.parse_known_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="jepaworld-demo-"))
    if out.exists() and any(out.iterdir()):
        shutil.rmtree(out)
    command = [sys.executable, "-m", "jepaworld", "demo", "two-room", "--out", str(out), "--no-progress", *extra]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux reports KiB
    results = json.loads((out / "results.json").read_text())
    bench = {
        "command": "jepaworld demo two-room " + " ".join(extra),
        "wall_seconds": wall,
        "peak_rss_mb": peak_rss_mb,
        "collect_seconds": results["collect_seconds"],
        "train_wall_seconds": results["train_wall_seconds"],
        "train_seconds": results["train_seconds"],
        "episodes": results["episodes"],
        "success_rate": results["success_rate"],
        "success_ci95": results["success_ci95"],
        "mean_final_distance": results["mean_final_distance"],
        "plan_ms_per_step_median": results["plan_ms_per_step_median"],
        "plan_ms_per_step_p90": results["plan_ms_per_step_p90"],
        "oracle_success_rate": results["oracle_success_rate"],
        "scripted_success_rate": results["scripted_success_rate"],
        "random_success_rate": results["random_success_rate"],
        "rows": results["rows"],
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "output_dir": str(out),
    }
    dest = Path(args.results)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "two-room-demo.json").write_text(json.dumps(bench, indent=2) + "\n")
    low, high = bench["success_ci95"]
    table = [
        "| figure | value |",
        "|---|---|",
        f"| whole demo, wall clock | {wall / 60:.1f} min ({wall:.0f} s) |",
        f"| of which training (optimizer steps) | {bench['train_seconds']:.0f} s |",
        f"| peak memory (max RSS) | {peak_rss_mb:.0f} MB |",
        f"| success, {bench['episodes']} held-out opposite-room pairs | {100 * bench['success_rate']:.1f}% "
        f"[{100 * low:.1f}, {100 * high:.1f}] |",
        f"| mean final distance | {bench['mean_final_distance']:.2f} px |",
        f"| planning, ms per env step (median / p90) | {bench['plan_ms_per_step_median']:.1f} / "
        f"{bench['plan_ms_per_step_p90']:.1f} |",
        f"| oracle: same CEM on true state / scripted solver | {100 * bench['oracle_success_rate']:.1f}% / "
        f"{100 * bench['scripted_success_rate']:.1f}% |",
        f"| random policy | {100 * bench['random_success_rate']:.1f}% |",
    ]
    (dest / "two-room-demo.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
