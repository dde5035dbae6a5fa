"""Shared fixtures: small data the project generates itself."""

from __future__ import annotations

import dataclasses
import os

# Inductor compiles the tests' tiny predictors in this process, with no pool of worker processes and
# no reader thread beside the test: a CI run once aborted (SIGABRT, the cause not shown) while the
# compiled-planning test compiled, and a clean-checkout replica of that run passed.
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")

import pytest
import torch

from jepaworld.data import CollectConfig, collect
from jepaworld.models import ModelConfig

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

#: A model small enough for many tests to train and plan with in seconds.
TINY_MODEL = ModelConfig(
    encoder_width=8, predictor_width=32, latent_dim=16, history=2, frameskip=2, sigreg_projections=32
)
#: The same with patch latents: a 4 x 4 grid of 4 channels, imagined by the conv predictor.
PATCH_MODEL = dataclasses.replace(TINY_MODEL, predictor="conv", latent_grid=4, latent_dim=64)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> str:
    """A 12-episode, 30-step Two-Room episode file."""
    path = tmp_path_factory.mktemp("data") / "tiny.h5"
    return str(collect(CollectConfig(episodes=12, steps=30, seed=3, out=str(path), progress=False)))


from tests.serve_fixtures import served_checkpoint, server  # noqa: E402, F401  (shared by the serve and viewer tests)
