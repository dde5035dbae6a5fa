"""The ``jepaworld`` command: a thin layer over the Python API, options generated from the configs."""

from __future__ import annotations

import argparse
import sys

from jepaworld.config import add_arguments, from_namespace

DESCRIPTION = """jepaworld: learn a world model from pixels (JEPA + SIGReg) and plan with it.

  jepaworld demo two-room             collect -> train -> evaluate -> report, one command
  jepaworld collect --episodes 400    roll out the data policy, write an episode file
  jepaworld train --data FILE         train a world model, checkpoints + TensorBoard in --out
  jepaworld eval --checkpoint RUN     plan on held-out start/goal pairs, write results.json
  jepaworld bench two-room --quick    every planner on one model: success, CI, ms per step
  jepaworld train-decoder RUN         fit a decoder to frozen latents, to see imagined frames
  jepaworld serve RUN                 HTTP service + web viewer on http://127.0.0.1:8765
"""


def build_parser() -> argparse.ArgumentParser:
    from jepaworld.cli.demo import DEMOS, DemoConfig
    from jepaworld.data import CollectConfig
    from jepaworld.eval import EvalConfig
    from jepaworld.models import ModelConfig
    from jepaworld.planning import PlannerConfig
    from jepaworld.train import TrainConfig

    parser = argparse.ArgumentParser(
        prog="jepaworld", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    from jepaworld import __version__

    parser.add_argument("--version", action="version", version=f"jepaworld {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "collect",
        help="roll out the data policy and write an episode file",
        description="Roll out the momentum-random data policy in an env and write the episodes "
        "to one HDF5 episode file (written as FILE.partial, renamed when complete).",
    )
    add_arguments(p, CollectConfig)

    p = sub.add_parser(
        "train",
        help="train a world model on an episode file",
        description="Train a JEPA world model (encoder, projector, predictor; loss = next-latent "
        "error + lambda * SIGReg). Checkpoints are safetensors + JSON in OUT/checkpoints; "
        "--resume continues a killed run.",
    )
    add_arguments(p, TrainConfig)
    add_arguments(p, ModelConfig)

    p = sub.add_parser(
        "eval",
        help="plan with a checkpoint on held-out start/goal pairs",
        description="Evaluate a checkpoint with a planner (--planner cem|icem|mppi|gradient) + MPC on held-out "
        "start/goal pairs (DESIGN.md "
        "protocol); writes OUT/results.json and OUT/results.md.",
    )
    add_arguments(p, EvalConfig)
    add_arguments(p, PlannerConfig)

    p = sub.add_parser(
        "demo",
        help="collect -> train -> evaluate -> report, one command",
        description="Run a whole demo: collect data, train, evaluate, write OUT/results.json, "
        "OUT/results.md and GIFs of planned episodes.",
    )
    p.add_argument("name", choices=sorted(DEMOS), help="which demo")
    add_arguments(p, DemoConfig)

    from jepaworld.cli.bench import SUITES, BenchConfig

    p = sub.add_parser(
        "bench",
        help="every planner on one trained model: success, CI, planning time",
        description="Run a benchmark suite (train the suite's model, evaluate every registered planner and the "
        "oracle on held-out pairs); writes OUT/SUITE.json and OUT/SUITE.md.",
    )
    p.add_argument("name", choices=sorted(SUITES), help="which suite")
    add_arguments(p, BenchConfig)

    from jepaworld.train.decoder import DecoderConfig

    p = sub.add_parser(
        "train-decoder",
        help="fit a frame decoder to a checkpoint's frozen latents (for looking only)",
        description="Fit a decoder from frozen latents to frames, so that imagined latents can be seen. "
        "The world model is only read; the decoder goes to CHECKPOINT/decoder (or --out).",
    )
    p.add_argument("checkpoint", help="checkpoint directory, or a run directory (its latest)")
    add_arguments(p, DecoderConfig, skip=("checkpoint",))

    from jepaworld.serve.config import ServeConfig

    p = sub.add_parser(
        "serve",
        help="HTTP service (FastAPI) and web viewer over one or more checkpoints",
        description="Serve checkpoints over HTTP: /v1/models, /v1/encode, /v1/rollout, /v1/plan, /v1/surprise, "
        "/healthz, OpenAPI at /docs, and the web viewer at /. CHECKPOINT is PATH or NAME=PATH.",
    )
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="PATH or NAME=PATH (run or checkpoint dir)")
    add_arguments(p, ServeConfig, skip=("checkpoints",))
    return parser


def run(argv: list[str] | None = None) -> object:
    args = build_parser().parse_args(argv)
    if args.command == "collect":
        from jepaworld.data import CollectConfig, collect

        path = collect(from_namespace(CollectConfig, args))
        print(f"wrote {path}")
        return path
    if args.command == "train":
        from jepaworld.models import ModelConfig
        from jepaworld.train import TrainConfig, train

        path = train(from_namespace(TrainConfig, args), from_namespace(ModelConfig, args))
        print(f"final checkpoint: {path}")
        return path
    if args.command == "eval":
        from jepaworld.eval import EvalConfig, evaluate
        from jepaworld.eval.report import markdown_table
        from jepaworld.planning import PlannerConfig

        config = from_namespace(EvalConfig, args)
        results = evaluate(config, from_namespace(PlannerConfig, args))
        print(markdown_table(results))
        print(f"wrote {config.out}/results.json")
        return results
    if args.command == "demo":
        from jepaworld.cli.demo import DemoConfig, run_demo
        from jepaworld.eval.report import markdown_table

        config = from_namespace(DemoConfig, args)
        results = run_demo(args.name, config)
        print(markdown_table(results))
        print(f"whole demo: {results['total_seconds']:.0f} s; wrote {config.out}/results.json")
        return results
    if args.command == "bench":
        from jepaworld.cli.bench import BenchConfig, markdown, run_bench

        config = from_namespace(BenchConfig, args)
        report = run_bench(args.name, config)
        print(markdown(report))
        print(f"wrote {config.out}/{args.name}{'-quick' if config.quick else ''}.json")
        return report
    if args.command == "train-decoder":
        from jepaworld.train.decoder import DecoderConfig, train_decoder

        summary = train_decoder(from_namespace(DecoderConfig, args))
        print(
            f"decoder: held-out PSNR {summary['held_out_psnr_db']:.1f} dB on {summary['frames']} frames, "
            f"{summary['train_seconds']:.0f} s; wrote {summary['path']}"
        )
        return summary
    if args.command == "serve":
        from jepaworld.serve.config import ServeConfig
        from jepaworld.serve.server import serve

        return serve(from_namespace(ServeConfig, args))
    raise AssertionError(args.command)


def main(argv: list[str] | None = None) -> int:
    from jepaworld.data import EpisodeFileError

    try:
        run(argv)
    except (ValueError, FileNotFoundError, FileExistsError, EpisodeFileError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"jepaworld: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jepaworld: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
