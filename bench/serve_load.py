"""Load on the HTTP service: ``/v1/plan`` latency under 1, 4 and 16 concurrent clients, ``/v1/encode`` throughput.

    python bench/serve_load.py --checkpoint runs/demo-two-room/run      # about 4 minutes
    python bench/serve_load.py                                           # trains the demo model first

A real ``jepaworld serve`` process on loopback; the load comes from a second process (this script with
``--worker``), each client a thread with its own connection, bounded in time and in request count. The
server's resident memory is sampled every 0.5 s. Writes ``--out/serve.json`` and ``--out/serve.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from jepaworld.serve.launch import start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent


def pairs(env_id: str, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Start and goal frames of held-out pairs 0..count-1 (as `jepaworld eval --seed 0`)."""
    from jepaworld.data import HELD_OUT_SEED_BASE, make_env

    env = make_env(env_id)
    out = []
    for i in range(count):
        frame, _ = env.reset(seed=HELD_OUT_SEED_BASE + i)
        out.append((frame, env.unwrapped.goal_observation()))
    env.close()
    return out


def worker(url: str, model: str, env_id: str, endpoint: str, clients: int, seconds: float, max_requests: int) -> dict:
    """``clients`` threads calling ``endpoint`` back to back until ``seconds`` pass or ``max_requests`` are made."""
    import httpx

    from jepaworld.client import raw

    frames = pairs(env_id, 16)
    batch = np.stack([f for pair in frames for f in pair])[:32]  # 32 frames per encode request
    bodies = (
        [{"model": model, "frame": raw(s), "goal": raw(g)} for s, g in frames]
        if endpoint == "plan"
        else [{"model": model, "frames": raw(batch)}]
    )
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            i = index
            while time.monotonic() < deadline:
                with lock:
                    if len(latencies) + len(errors) >= max_requests:
                        return
                start = time.perf_counter()
                response = http.post(f"/v1/{endpoint}", json=bodies[i % len(bodies)])
                elapsed = time.perf_counter() - start
                with lock:
                    if response.status_code == 200:
                        latencies.append(elapsed)
                    else:
                        errors.append(f"{response.status_code}: {response.text[:200]}")
                i += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = sorted(1000 * x for x in latencies)
    return {
        "endpoint": endpoint,
        "clients": clients,
        "seconds": wall,
        "requests": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:3],
        "p50_ms": statistics.median(ms) if ms else None,
        "p99_ms": float(np.percentile(ms, 99)) if ms else None,
        "requests_per_s": len(latencies) / wall,
        "frames_per_s": len(latencies) * (len(batch) if endpoint == "encode" else 0) / wall,
        "frames_per_request": len(batch) if endpoint == "encode" else None,
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def load_level(url, model, env_id, endpoint, clients, seconds, max_requests, server_pid) -> dict:
    """One level of load from a separate process, the server's memory sampled meanwhile."""
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not done.is_set():
            samples.append((time.monotonic() - start, rss_mb(server_pid)))
            done.wait(0.5)

    sampler = threading.Thread(target=sample)
    sampler.start()
    args = [url, model, env_id, endpoint, str(clients), str(seconds), str(max_requests)]
    result = subprocess.run(
        [sys.executable, __file__, "--worker", *args], capture_output=True, text=True, check=True, cwd=ROOT
    )
    done.set()
    sampler.join()
    row = json.loads(result.stdout.strip().splitlines()[-1])
    t, mb = np.array(samples).T
    half = len(t) // 2  # the slope over the second half: after the first requests have warmed the server
    slope = float(np.polyfit(t[half:], mb[half:], 1)[0] * 60) if len(t) - half >= 4 else None
    row.update(rss_start_mb=float(mb[0]), rss_end_mb=float(mb[-1]), rss_max_mb=float(mb.max()), rss_mb_per_min=slope)
    return row


def markdown(report: dict) -> str:
    lines = [
        f"Service load on {report['checkpoint']} ({report['cpus']} CPUs, {report['planner']}), "
        f"{report['seconds']:.0f} s per level, load from a second process on loopback.",
        "",
        "| endpoint | clients | requests | errors | p50 ms | p99 ms | req/s | frames/s | server RSS start → end MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["levels"]:
        frames = f"{r['frames_per_s']:.0f}" if r["endpoint"] == "encode" else ""
        lines.append(
            f"| /v1/{r['endpoint']} | {r['clients']} | {r['requests']} | {r['errors']} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['requests_per_s']:.1f} | {frames} | "
            f"{r['rss_start_mb']:.0f} → {r['rss_end_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, model, env_id, endpoint, clients, seconds, max_requests = sys.argv[2:9]
        print(json.dumps(worker(url, model, env_id, endpoint, int(clients), float(seconds), int(max_requests))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="", help="run or checkpoint dir (default: train the demo model)")
    parser.add_argument("--work", default="runs/serve-bench", help="where the default model is trained")
    parser.add_argument("--seconds", type=float, default=60.0, help="seconds per /v1/plan level")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--max-requests", type=int, default=20000, help="bound on requests per level")
    parser.add_argument("--encode-seconds", type=float, default=15.0)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()

    checkpoint = args.checkpoint
    if not checkpoint:
        from jepaworld.cli.demo import DemoConfig, prepare_checkpoint
        from jepaworld.models import ModelConfig

        work = Path(args.work)
        checkpoint = str(work / "run")
        if not (work / "run" / "latest").exists():
            prepare_checkpoint("jepaworld/TwoRoom-v0", work, DemoConfig(out=str(work)), ModelConfig())
    from jepaworld.planning import PlannerConfig
    from jepaworld.train import read_info

    info = read_info(checkpoint)
    process, url = start_server([f"bench={checkpoint}", "--max-body-mb", "64"])
    try:
        pid = process.pid
        levels = [
            load_level(url, "bench", info.env_id, "plan", c, args.seconds, args.max_requests, pid) for c in args.clients
        ]
        levels.append(load_level(url, "bench", info.env_id, "encode", 1, args.encode_seconds, args.max_requests, pid))
    finally:
        stop_server(process)
    planner = PlannerConfig()
    report = {
        "checkpoint": str(info.path),
        "cpus": os.cpu_count(),
        "planner": f"{planner.planner} {planner.samples} x {planner.iterations} x horizon {planner.horizon}",
        "seconds": args.seconds,
        "levels": levels,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "serve.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "serve.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
