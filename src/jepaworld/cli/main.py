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
  jepaworld pretrain --videos DIR     learn an action-free world model from a folder of videos
  jepaworld physics demo              intuitive-physics suite: possible vs impossible, surprise scored
  jepaworld physics eval --checkpoint RUN --pairs DIR   score pairs of videos you bring
  jepaworld probe --checkpoint RUN --data FILE          R^2 of linear / MLP probes to the true state
  jepaworld monitor --checkpoint RUN  the run-time surprise monitor against injected disturbances
  jepaworld data inspect FILE         episodes, action statistics, frozen frames, state coverage, warnings
  jepaworld data import-lerobot DIR   a LeRobot dataset on disk -> an episode file (import-minari: Minari)
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
        help="roll out the data policy (or a planner) and write an episode file",
        description="Roll out the env's data policy (momentum-random where it has none), or with --policy planner "
        "MPC with a world model, in an env and write the episodes to one HDF5 episode file (written as "
        "FILE.partial, renamed when complete). The planner settings apply to --policy planner.",
    )
    add_arguments(p, CollectConfig)
    add_arguments(p, PlannerConfig)

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

    from jepaworld.data.videos import VideoImportConfig
    from jepaworld.train.pretrain import PretrainConfig

    p = sub.add_parser(
        "pretrain",
        help="learn an action-free world model from a folder of videos",
        description="Import a folder of videos (PyAV: frames sampled at --fps, centre-cropped, resized; unusable "
        "videos skipped and counted) into OUT/videos.h5, then train an action-free JEPA (next-latent prediction + "
        "SIGReg, no pixel loss). Its encoder can start an action-conditioned model: train --init-encoder OUT.",
    )
    add_arguments(p, PretrainConfig)
    add_arguments(p, VideoImportConfig, skip=("image_size",))
    add_arguments(p, TrainConfig, skip=("data", "init_encoder", "init_from"))
    add_arguments(p, ModelConfig)
    p.set_defaults(out="runs/pretrain", frameskip=1)

    from jepaworld.cli.physics import PhysicsDemoConfig, PhysicsEvalConfig

    p = sub.add_parser("physics", help="the intuitive-physics suite: demo, or eval on your own pairs")
    physics = p.add_subparsers(dest="physics_command", required=True, metavar="ACTION")
    q = physics.add_parser(
        "demo",
        help="generate the suite, train on possible videos only, score the pairs",
        description="Generate possible training clips and held-out matched pairs (permanence, continuity, "
        "solidity, gravity, collision), train the default action-free model on the possible clips, train the "
        "pixel baseline, score both: OUT/results.json and OUT/results.md.",
    )
    add_arguments(q, PhysicsDemoConfig)
    q = physics.add_parser(
        "eval",
        help="score a checkpoint on a folder of NAME_possible / NAME_impossible videos",
        description="A pair is correct when the impossible video's surprise after the event is the higher. "
        "pairs.json (optional) names each pair's violation and event frame.",
    )
    add_arguments(q, PhysicsEvalConfig)

    from jepaworld.eval.probe import ProbeConfig

    p = sub.add_parser(
        "probe",
        help="fit linear and MLP probes from frozen latents to the true state; R^2 on held-out episodes",
        description="Encode an episode file's frames with a frozen checkpoint and fit probes to its /state "
        "column on some episodes; report R^2 per quantity on the others.",
    )
    add_arguments(p, ProbeConfig)

    from jepaworld.eval.monitor import MonitorConfig

    p = sub.add_parser(
        "monitor",
        help="calibrate the surprise monitor and measure it against injected disturbances (Two-Room)",
        description="Threshold = a quantile of the one-step surprise on the run's held-out episodes; then MPC "
        "episodes where the agent is pushed every few dozen steps: detections within 2 model steps, false alarms.",
    )
    add_arguments(p, MonitorConfig)
    add_arguments(p, PlannerConfig)

    from jepaworld.data.inspect import InspectConfig

    p = sub.add_parser("data", help="episode files: inspect them, import datasets you have")
    data = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    q = data.add_parser(
        "inspect",
        help="is this episode file worth training on? sizes, actions, frozen frames, state coverage",
        description="One streaming pass over an episode file: episodes and frames, action statistics per "
        "dimension, frozen frames and repeated episodes, state coverage (a PNG) and warnings when the data looks "
        "too thin to learn from. Writes OUT/inspect.json.",
    )
    q.add_argument("path", help="episode file (.h5)")
    add_arguments(q, InspectConfig, skip=("path",))
    from jepaworld.data.merge import MergeConfig

    q = data.add_parser(
        "merge",
        help="several episode files of one env -> one (e.g. a planner's rollouts beside the data policy's)",
        description="Copy the episodes of PATHS, in order, into OUT (--repeat: copies of each input's episodes, so "
        "a small file weighs more in training). The files must share env, frame size, action bounds and state size. "
        "Written as OUT.partial, published only when every episode is in; the inputs are only read.",
    )
    q.add_argument("paths", nargs="+", help="episode files (.h5)")
    add_arguments(q, MergeConfig, skip=("paths",))
    from jepaworld.data.lerobot import LeRobotImportConfig
    from jepaworld.data.minari import MinariImportConfig

    q = data.add_parser(
        "import-lerobot",
        help="a LeRobot dataset on disk (meta/info.json, parquet, mp4; v2.0, v2.1, v3.0) -> an episode file",
        description="Frames are decoded from one camera's videos at the tables' timestamps, centre-cropped and "
        "resized; actions are scaled to [-1, 1] (the scaling is kept in the metadata). Written as OUT.partial, "
        "published only when every episode imported.",
    )
    q.add_argument("path", help="dataset root (the folder with meta/info.json)")
    add_arguments(q, LeRobotImportConfig, skip=("path",))
    q = data.add_parser(
        "import-minari",
        help="a Minari dataset on disk (main_data.hdf5 with image observations) -> an episode file",
        description="Episodes are read one at a time; the image observation is centre-cropped and resized; actions "
        "are scaled to [-1, 1] (the scaling is kept in the metadata). Published only when every episode imported.",
    )
    q.add_argument("path", help="dataset folder (with data/main_data.hdf5) or the .hdf5 file")
    add_arguments(q, MinariImportConfig, skip=("path",))
    return parser


def run(argv: list[str] | None = None) -> object:
    args = build_parser().parse_args(argv)
    if args.command == "collect":
        from jepaworld.data import CollectConfig, collect

        config = from_namespace(CollectConfig, args)
        if config.policy == "planner":
            from jepaworld.eval.planned import collect_planned
            from jepaworld.planning import PlannerConfig

            path = collect_planned(config, from_namespace(PlannerConfig, args))
        else:
            path = collect(config)
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
    if args.command == "pretrain":
        from jepaworld.data.videos import VideoImportConfig
        from jepaworld.models import ModelConfig
        from jepaworld.train import TrainConfig
        from jepaworld.train.pretrain import PretrainConfig, pretrain

        path = pretrain(
            from_namespace(PretrainConfig, args),
            from_namespace(VideoImportConfig, args),
            from_namespace(TrainConfig, args),
            from_namespace(ModelConfig, args),
        )
        print(f"final checkpoint: {path}")
        return path
    if args.command == "physics":
        from jepaworld.cli import physics

        if args.physics_command == "demo":
            config = from_namespace(physics.PhysicsDemoConfig, args)
            results = physics.run_physics_demo(config)
        else:
            config = from_namespace(physics.PhysicsEvalConfig, args)
            results = physics.evaluate_checkpoint(config)
        print(physics.markdown(results))
        print(f"wrote {config.out}/results.json")
        return results
    if args.command == "probe":
        from jepaworld.eval.probe import ProbeConfig, markdown, probe

        results = probe(from_namespace(ProbeConfig, args))
        print(markdown(results))
        return results
    if args.command == "monitor":
        from jepaworld.eval.monitor import MonitorConfig, markdown, run_monitor
        from jepaworld.planning import PlannerConfig

        config = from_namespace(MonitorConfig, args)
        results = run_monitor(config, from_namespace(PlannerConfig, args))
        print(markdown(results))
        print(f"wrote {config.out}/monitor.json")
        return results
    if args.command == "data" and args.data_command == "inspect":
        from jepaworld.data.inspect import InspectConfig, inspect_episodes, markdown

        report = inspect_episodes(from_namespace(InspectConfig, args))
        print(markdown(report))
        print(f"wrote {report['out']}/inspect.json")
        return report
    if args.command == "data" and args.data_command == "merge":
        from jepaworld.data.merge import MergeConfig, merge

        path = merge(from_namespace(MergeConfig, args))
        print(f"wrote {path}")
        return path
    if args.command == "data":
        from jepaworld.data import lerobot, minari

        if args.data_command == "import-lerobot":
            summary = lerobot.import_lerobot(from_namespace(lerobot.LeRobotImportConfig, args))
        else:
            summary = minari.import_minari(from_namespace(minari.MinariImportConfig, args))
        print(f"imported {summary['episodes']} episodes, {summary['frames']} frames; wrote {summary['path']}")
        return summary
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
