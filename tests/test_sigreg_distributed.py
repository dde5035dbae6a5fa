"""SIGReg and the steps prediction metric under torch.distributed: two real processes (gloo on loopback)
must see the global batch."""

import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from jepaworld.models import SIGReg
from jepaworld.models.step_metric import StepWhitening


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, full: torch.Tensor, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.manual_seed(rank)  # ranks draw different directions; rank 0's (seed 0) must win
        n = full.shape[0] // world
        shard = full[rank * n : (rank + 1) * n].clone().requires_grad_()
        loss = SIGReg(64)(shard)
        loss.backward()
        torch.save({"loss": loss.detach(), "grad": shard.grad}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_ranks_compute_the_global_batch_statistic(tmp_path):
    torch.manual_seed(1)
    full = torch.randn(256, 16) * 0.5 + 0.2  # not Gaussian: a non-trivial statistic and gradient
    mp.spawn(_worker, args=(2, _free_port(), full, str(tmp_path)), nprocs=2, join=True)
    torch.manual_seed(0)
    z = full.clone().requires_grad_()
    single = SIGReg(64)(z)
    single.backward()
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        torch.testing.assert_close(got["loss"], single.detach(), rtol=1e-5, atol=1e-5)
        # DDP averages parameter gradients over ranks, so a rank's gradient is world_size times its share.
        torch.testing.assert_close(got["grad"], 2 * z.grad[rank * 128 : (rank + 1) * 128], rtol=1e-4, atol=1e-6)
    # A shard alone is a different statistic: pooling over ranks is what makes the two agree.
    torch.manual_seed(0)
    assert abs(SIGReg(64)(full[:128]).item() - single.item()) > 1e-3


def _whitening_worker(rank: int, world: int, port: int, full: torch.Tensor, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        n = full.shape[0] // world
        whitening = StepWhitening(full.shape[1], shrink=0.1)
        whitening.update(full[rank * n : (rank + 1) * n])
        torch.save(whitening.whitening, f"{out}/whitening{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_ranks_whiten_prediction_errors_by_the_global_batch(tmp_path):
    """Each rank's running moment is the global batch's, so every rank weighs errors the same way."""
    torch.manual_seed(2)
    full = torch.randn(256, 8) * torch.linspace(0.05, 2.0, 8)
    full[128:] *= 3  # the two shards differ: a shard's own whitening is not the global one
    mp.spawn(_whitening_worker, args=(2, _free_port(), full, str(tmp_path)), nprocs=2, join=True)
    got = [torch.load(tmp_path / f"whitening{rank}.pt") for rank in range(2)]
    single, shard = StepWhitening(8, shrink=0.1), StepWhitening(8, shrink=0.1)
    single.update(full)
    shard.update(full[:128])
    for whitening in got:
        torch.testing.assert_close(whitening, single.whitening, rtol=1e-4, atol=1e-5)
    assert (shard.whitening - single.whitening).abs().max() > 1e-2
