"""A real ``jepaworld serve`` process on a free loopback port, over a tiny trained checkpoint with a decoder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jepaworld.train import TrainConfig, train
from jepaworld.train.decoder import DecoderConfig, train_decoder
from tests.conftest import TINY_MODEL

TOKEN = "test-token-123"


def start_server(args: list[str], env: dict[str, str] | None = None, timeout: float = 60.0):
    """Start ``jepaworld serve ARGS --port 0`` -> (process, base URL), once it answers /healthz."""
    process = subprocess.Popen(
        [sys.executable, "-m", "jepaworld", "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = process.stdout.readline()
    if "serving" not in line:
        process.kill()
        raise RuntimeError(f"server did not start: {line}{process.stdout.read()}")
    url = line.split(" on ")[1].split()[0]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("server did not answer /healthz in time")
        time.sleep(0.1)


def stop_server(process: subprocess.Popen) -> str:
    process.terminate()
    try:
        out, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out


@pytest.fixture(scope="session")
def served_checkpoint(tiny_data, tmp_path_factory) -> Path:
    """A tiny checkpoint (a few hundred steps) with a small decoder fitted to it."""
    out = tmp_path_factory.mktemp("served") / "run"
    checkpoint = train(
        TrainConfig(data=tiny_data, out=str(out), steps=150, batch_size=32, checkpoint_every=150, progress=False),
        TINY_MODEL,
    )
    train_decoder(DecoderConfig(checkpoint=str(checkpoint), steps=60, width=8, max_frames=300, progress=False))
    return Path(checkpoint)


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``directory``: (size, mtime in ns), to show that nothing was written."""
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*")}


@pytest.fixture(scope="session")
def server(served_checkpoint) -> Iterator[str]:
    """A token-protected server with a 1 MiB body limit and a 20k-step plan cap -> its URL."""
    process, url = start_server(
        [f"tiny={served_checkpoint}", "--token", TOKEN, "--max-body-mb", "1", "--max-plan-rollouts", "20000"]
    )
    yield url
    stop_server(process)
