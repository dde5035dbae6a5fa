"""Use a trained world model three ways: the Python API, the HTTP service through its client, and the viewer.

    python examples/use_a_world_model.py runs/demo-two-room/run

Needs a checkpoint (`jepaworld demo two-room` makes one). Everything here runs on a CPU in seconds.
"""

from __future__ import annotations

import sys

import numpy as np

import jepaworld
from jepaworld.client import Client
from jepaworld.data import make_env
from jepaworld.serve.launch import start_server, stop_server


def main(checkpoint: str) -> None:
    # 1. The Python API: numpy in, numpy out.
    wm = jepaworld.load(checkpoint)
    print("model:", {k: wm.describe()[k] for k in ("env_id", "latent_dim", "frameskip", "has_decoder")})
    env = make_env(wm.env_id)
    frame, _ = env.reset(seed=2**31)  # a held-out start (training never uses seeds >= 2^31)
    goal = env.unwrapped.goal_observation()

    z = wm.encode(np.stack([frame, goal]))  # [2, D]
    print(f"latent distance start -> goal: {np.linalg.norm(z[0] - z[1]):.3f}")
    plan = wm.plan(frame, goal)  # iCEM by default
    print(f"plan: {len(plan.actions)} actions, energy {plan.energy:.3f}, {1000 * plan.plan_seconds:.0f} ms")
    imagined = wm.rollout(frame, plan.actions, context=1)  # what the planner imagined, [H, D]
    print(f"imagined final distance to the goal: {np.linalg.norm(imagined[-1] - z[1]):.3f}")

    # Execute the first planned action and ask how surprising the outcome was.
    observed = frame
    for _ in range(wm.frameskip):
        observed, *_ = env.step(plan.actions[0])
    print(f"surprise of the observed frame: {wm.surprise(np.stack([frame, observed]), plan.actions[:1])[0]:.4f}")
    if wm.decoder is not None:
        print("decoded imagined frames:", wm.decode(plan.latents).shape)

    # 2. The HTTP service, started here as a child process, and its client.
    process, url = start_server([f"demo={checkpoint}"])
    try:
        with Client(url) as client:
            print("served models:", [m["name"] for m in client.models()])
            answer = client.plan("demo", frame, goal, planner={"planner": "cem", "samples": 100, "iterations": 4})
            print(f"plan over HTTP: energy {answer['energy']:.3f}, {answer['plan_ms']:.0f} ms")
            print(f"encode over HTTP matches the API: {np.allclose(client.encode('demo', frame), z[:1], atol=1e-5)}")
        # 3. The viewer: open the URL in a browser while the server runs (`jepaworld serve CHECKPOINT`).
        print(f"viewer: {url}/  (API docs: {url}/docs)")
    finally:
        stop_server(process)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/use_a_world_model.py CHECKPOINT (a run or checkpoint directory)")
    main(sys.argv[1])
