"""SIGReg's power and cost against its sample count: why ``--sigreg-bank`` exists, and what it costs.

    python bench/sigreg_bank.py [--threads 1] [--repeats 10]

1. **Power.** The statistic for N standard normal samples in 8 dimensions, against N whitened samples of
   a smooth map from 5 dimensions into 8 (latents that leave quantities out), for N = 64 (one time step
   of a batch of 64, the default test) up to 1024. Mean over ``--repeats`` draws.
2. **Cost.** Forward and backward of SIGReg (256 directions) for 256 latents of 128 dimensions: tested
   per time step (4 x 64, the default), pooled with a 2048-latent bank by concatenation, and with the
   bank passed as ``SIGReg(z, bank)`` (its sums without a graph). Median of ``--repeats``.

Writes ``--out/sigreg-bank.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from jepaworld.models import SIGReg

ROOT = Path(__file__).resolve().parent.parent


def power(repeats: int) -> list[dict]:
    torch.manual_seed(0)
    regulariser = SIGReg(256)
    embed = torch.nn.Sequential(torch.nn.Linear(5, 64), torch.nn.Tanh(), torch.nn.Linear(64, 8))
    with torch.no_grad():
        big = embed(torch.randn(100_000, 5))
        mean, whiten = big.mean(0), torch.linalg.cholesky(torch.linalg.inv(torch.cov(big.T)))
        rows = []
        for n in (64, 256, 1024):
            gaussian = sum(regulariser(torch.randn(n, 8)).item() for _ in range(repeats)) / repeats
            folded = sum(regulariser((embed(torch.randn(n, 5)) - mean) @ whiten).item() for _ in range(repeats))
            rows.append({"samples": n, "gaussian": gaussian, "five_dims_in_eight": folded / repeats})
    return rows


def cost(repeats: int) -> dict:
    torch.manual_seed(0)
    regulariser = SIGReg(256)
    z, bank = torch.randn(256, 128, requires_grad=True), torch.randn(2048, 128)

    def median_ms(loss) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            loss().backward()
            times.append(time.perf_counter() - start)
        return sorted(times)[repeats // 2] * 1000

    return {
        "per_time_step_ms": median_ms(lambda: regulariser(z.view(4, 64, 128))),
        "pooled_concat_ms": median_ms(lambda: regulariser(torch.cat([z, bank]))),
        "bank_ms": median_ms(lambda: regulariser(z, bank)),
    }


def markdown(report: dict) -> str:
    lines = [
        "# SIGReg: power and cost against sample count",
        "",
        "| samples | Gaussian | 5 dims in 8 (whitened) |",
        "|---|---|---|",
        *(f"| {r['samples']} | {r['gaussian']:.2f} | {r['five_dims_in_eight']:.2f} |" for r in report["power"]),
        "",
        f"Forward + backward, 256 latents x 128 dims, 256 directions, {report['threads']} thread(s), median of "
        f"{report['repeats']}:",
        "",
        "| test | ms |",
        "|---|---|",
        f"| per time step (4 x 64) | {report['cost']['per_time_step_ms']:.1f} |",
        f"| with a 2048-latent bank, concatenated | {report['cost']['pooled_concat_ms']:.1f} |",
        f"| with a 2048-latent bank, `SIGReg(z, bank)` | {report['cost']['bank_ms']:.1f} |",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report = {
        "threads": args.threads,
        "repeats": args.repeats,
        "power": power(args.repeats),
        "cost": cost(args.repeats),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sigreg-bank.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "sigreg-bank.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
