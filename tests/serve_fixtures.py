"""A real ``jepaworld serve`` process on a free loopback port, over a tiny trained checkpoint with a decoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jepaworld.serve.launch import start_server, stop_server
from jepaworld.train import TrainConfig, train
from jepaworld.train.decoder import DecoderConfig, train_decoder
from tests.conftest import TINY_MODEL

TOKEN = "test-token-123"


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
