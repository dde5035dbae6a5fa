import dataclasses

import pytest
import torch

from jepaworld.models import ENCODERS, PREDICTORS, ModelConfig, SIGReg, build_world_model
from jepaworld.models.predictors import GRID_PREDICTORS
from jepaworld.models.step_metric import StepWhitening

from .conftest import PATCH_MODEL, TINY_MODEL


@pytest.mark.parametrize("name", ENCODERS.names())
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_every_encoder_maps_frames_to_one_vector(name, dtype):
    encoder = ENCODERS.build(name, image_size=64, width=8 if name == "cnn" else 32)
    obs = torch.randint(0, 255, (2, 3, 3, 64, 64), dtype=torch.uint8)
    obs = obs if dtype == torch.uint8 else obs.float() / 255
    assert encoder(obs).shape == (2, 3, encoder.out_dim)
    with pytest.raises(ValueError, match=r"expected shape \[B, T, 3, 64, 64\], got \[2, 3, 64, 64\]"):
        encoder(obs[:, 0])


@pytest.mark.parametrize("name", PREDICTORS.names())
def test_every_predictor_is_causal_with_right_shape(name):
    torch.manual_seed(0)
    grid = {"grid": 2} if name in GRID_PREDICTORS else {}  # patch latents: 2 x 2 cells of 4 channels
    predictor = PREDICTORS.build(name, latent_dim=16, action_dim=4, max_history=4, width=32, depth=2, **grid)
    # Non-zero adaLN modulation so actions and history matter.
    for p in predictor.parameters():
        torch.nn.init.normal_(p, std=0.2)
    z, a = torch.randn(3, 4, 16), torch.randn(3, 4, 4)
    out = predictor(z, a)
    assert out.shape == (3, 4, 16)
    z2, a2 = z.clone(), a.clone()
    z2[:, 3], a2[:, 3] = torch.randn(3, 16), torch.randn(3, 4)
    torch.testing.assert_close(predictor(z2, a2)[:, :3], out[:, :3])  # the future does not leak back
    assert not torch.allclose(predictor(z, a2)[:, 3], out[:, 3])  # the action matters
    torch.testing.assert_close(predictor(z, a, last=True), out[:, 3:])  # what a rollout reads, alone
    torch.testing.assert_close(predictor(z[:, :2], a[:, :2], last=True), out[:, 1:2])


PATCH_LATENTS = {"latent_grid": 4, "latent_dim": 64}  # a 4 x 4 grid of 4 channels


@pytest.mark.parametrize(
    ("encoder", "predictor"),
    [(e, p) for e in ENCODERS.names() for p in PREDICTORS.names() if p not in GRID_PREDICTORS]
    + [("cnn", p) for p in GRID_PREDICTORS],
)
def test_world_model_contract(encoder, predictor):
    grid = PATCH_LATENTS if predictor in GRID_PREDICTORS else {}
    cfg = dataclasses.replace(
        TINY_MODEL, encoder=encoder, predictor=predictor, encoder_width=8 if encoder == "cnn" else 32, **grid
    )
    model = build_world_model(cfg)
    frames = torch.randint(0, 255, (4, cfg.history + 1, 3, 64, 64), dtype=torch.uint8)
    actions = torch.randn(4, cfg.history, cfg.action_dim)
    loss, metrics = model.loss({"frames": frames, "actions": actions})
    loss.backward()
    assert set(metrics) >= {"loss", "pred", "sigreg"} and torch.isfinite(loss)
    model.eval()
    z = model.encode(frames)
    assert z.shape == (4, cfg.history + 1, cfg.latent_dim)
    assert model.rollout(z[:, 0], torch.randn(4, 5, cfg.action_dim)).shape == (4, 5, cfg.latent_dim)
    assert model.surprise(frames, actions).shape == (4, cfg.history)
    with pytest.raises(ValueError, match="rollout actions: expected shape"):
        model.rollout(z[:, 0], torch.randn(4, 5, cfg.action_dim + 1))


def test_transformer_single_token_shortcut_equals_full_attention():
    torch.manual_seed(0)
    predictor = PREDICTORS.build("transformer", latent_dim=8, action_dim=3, max_history=3, width=16, depth=2)
    for p in predictor.parameters():  # adaLN-zero starts as the identity: make every path matter
        torch.nn.init.normal_(p, std=0.3)
    z, a = torch.randn(5, 2, 8), torch.randn(5, 2, 3)
    # Output 0 of a causal two-token pass attends to token 0 alone, through the general attention path.
    torch.testing.assert_close(predictor(z[:, :1], a[:, :1]), predictor(z, a)[:, :1])


def test_adaln_block_last_queries_equal_the_full_pass_with_or_without_a_mask():
    from jepaworld.models.predictors import AdaLNBlock

    torch.manual_seed(0)
    block = AdaLNBlock(16, heads=4)
    for p in block.parameters():  # adaLN-zero starts as the identity: make every path matter
        torch.nn.init.normal_(p, std=0.3)
    x, cond = torch.randn(2, 6, 16), torch.randn(2, 6, 16)
    torch.testing.assert_close(block(x, cond, queries=2), block(x, cond)[:, -2:])  # causal by default
    frames = torch.arange(3).repeat_interleave(2)  # 3 frames of 2 tokens, each seeing its frame and before
    mask = frames[:, None] >= frames[None, :]
    torch.testing.assert_close(block(x, cond, mask, queries=2), block(x, cond, mask)[:, -2:])


def test_rollout_first_step_equals_predict():
    model = build_world_model(TINY_MODEL).eval()
    z0, a = torch.randn(3, TINY_MODEL.latent_dim), torch.randn(3, 1, TINY_MODEL.action_dim)
    torch.testing.assert_close(model.rollout(z0, a)[:, 0], model.predict(z0[:, None], a)[:, 0])


@pytest.mark.parametrize("model_config", [TINY_MODEL, PATCH_MODEL], ids=["vector", "patches"])
def test_encode_frames_is_encode_on_channels_last_frames_in_batches(model_config):
    """The one batched frame encoder (planning, the steps metric, the probe, the decoder, --freeze-encoder)."""
    torch.manual_seed(0)
    model = build_world_model(model_config).eval()
    frames = torch.randint(0, 256, (7, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        expected = model.encode(frames.permute(0, 3, 1, 2)[:, None])[:, 0]
    for source in (frames, frames.numpy()):
        got = model.encode_frames(source, batch=3)  # batches of 3, 3 and 1
        assert got.dtype == torch.float32 and got.device.type == "cpu" and not got.requires_grad
        torch.testing.assert_close(got, expected)
    assert model.encode_frames(frames[:0]).shape == (0, model_config.latent_dim)


def test_surprise_is_zero_where_prediction_is_exact():
    """surprise() scores frame t+1 against the prediction from frames <= t."""
    model = build_world_model(TINY_MODEL).eval()
    frames = torch.randint(0, 255, (1, 4, 3, 64, 64), dtype=torch.uint8)
    actions = torch.randn(1, 3, TINY_MODEL.action_dim)
    z = model.encode(frames)
    expected = (model.predict(z[:, :2], actions[:, :2])[:, 1] - z[:, 2]).pow(2).mean()
    torch.testing.assert_close(model.surprise(frames, actions)[0, 1], expected)


def test_sigreg_separates_gaussian_from_collapsed():
    torch.manual_seed(0)
    sigreg = SIGReg(num_projections=128)
    gaussian = sigreg(torch.randn(512, 64)).item()
    constant = sigreg(torch.full((512, 64), 0.3)).item()
    low_rank = sigreg(torch.randn(512, 2) @ torch.randn(2, 64)).item()
    shrunk = sigreg(0.1 * torch.randn(512, 64)).item()
    assert gaussian < 2.0
    assert min(constant, low_rank, shrunk) > 10 * gaussian


def test_sigreg_gradient_pushes_collapsed_latents_apart():
    torch.manual_seed(0)
    z = (0.01 * torch.randn(256, 16)).requires_grad_()
    optimizer = torch.optim.Adam([z], lr=0.01)
    start = z.std().item()
    for _ in range(100):
        optimizer.zero_grad()
        SIGReg(64)(z).backward()
        optimizer.step()
    assert z.std().item() > 10 * start


def test_rollout_loss_scores_open_loop_predictions():
    """rollout_steps=K adds the error of the last K latents imagined from the ones before them."""
    torch.manual_seed(0)
    config = dataclasses.replace(TINY_MODEL, history=4, rollout_steps=2)
    model = build_world_model(config)
    batch = {
        "frames": torch.randint(0, 255, (8, 5, 3, 64, 64), dtype=torch.uint8),
        "actions": torch.randn(8, 4, config.action_dim),
    }
    loss, metrics = model.loss(batch)
    z = model.encode(batch["frames"])
    imagined = model.rollout(z[:, :3], batch["actions"][:, 2:], past_actions=batch["actions"][:, :2])
    expected = torch.nn.functional.mse_loss(imagined, z[:, 3:]).item()
    assert metrics["rollout"] == pytest.approx(expected, rel=1e-4)
    assert loss.item() == pytest.approx(metrics["pred"] + 0.1 * metrics["sigreg"] + expected, rel=1e-4)
    loss.backward()
    assert model.predictor.head.weight.grad.abs().sum() > 0
    one_step = {"frames": batch["frames"][:, :3], "actions": batch["actions"][:, :2]}
    assert "rollout" not in build_world_model(TINY_MODEL).loss(one_step)[1]
    with pytest.raises(ValueError, match=r"rollout_steps must be >= 0, got -1"):
        dataclasses.replace(config, rollout_steps=-1)


def test_a_rollout_longer_than_the_history_lengthens_the_window():
    """rollout_steps >= history: windows of K + 2 frames; the one-step term stays on the first history + 1,
    the rollout imagines K latents from the two before them."""
    torch.manual_seed(0)
    config = dataclasses.replace(TINY_MODEL, history=2, rollout_steps=5)
    assert config.window_frames == 7 and TINY_MODEL.window_frames == 3
    assert dataclasses.replace(TINY_MODEL, history=4, rollout_steps=2).window_frames == 5
    model = build_world_model(config)
    batch = {
        "frames": torch.randint(0, 255, (8, 7, 3, 64, 64), dtype=torch.uint8),
        "actions": torch.randn(8, 6, config.action_dim),
    }
    _, metrics = model.loss(batch)
    z, a = model.encode(batch["frames"]), batch["actions"]
    one_step = torch.nn.functional.mse_loss(model.predict(z[:, :2], a[:, :2]), z[:, 1:3]).item()
    imagined = model.rollout(z[:, :2], a[:, 1:], past_actions=a[:, :1])
    assert metrics["pred"] == pytest.approx(one_step, rel=1e-4)
    assert metrics["rollout"] == pytest.approx(torch.nn.functional.mse_loss(imagined, z[:, 2:]).item(), rel=1e-4)


def test_a_batch_of_latents_trains_the_predictor_alone():
    """Latents of a fixed encoder in place of frames: the same prediction and rollout errors, SIGReg left
    out of the loss (reported still), and no gradient reaches the encoder."""
    torch.manual_seed(0)
    model = build_world_model(dataclasses.replace(TINY_MODEL, rollout_steps=1)).eval()
    frames = torch.randint(0, 255, (8, 3, 3, 64, 64), dtype=torch.uint8)
    actions = torch.randn(8, 2, TINY_MODEL.action_dim)
    with torch.no_grad():
        latents = model.encode(frames)
    loss, metrics = model.loss({"latents": latents, "actions": actions})
    _, from_frames = model.loss({"frames": frames, "actions": actions})
    for key in ("pred", "rollout"):
        assert metrics[key] == pytest.approx(from_frames[key], rel=1e-5), key
    assert metrics["sigreg"] > 0  # reported; its random directions differ from call to call
    assert loss.item() == pytest.approx(metrics["pred"] + metrics["rollout"], rel=1e-5)
    loss.backward()
    assert model.predictor.head.weight.grad is not None
    assert all(p.grad is None for p in [*model.encoder.parameters(), *model.projector.parameters()])


def test_patch_latents_keep_each_cell_apart():
    """With --latent-grid G the latent is a G x G grid (channel-major): a change in one corner of the frame
    moves that corner's cells and not the far ones."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(TINY_MODEL, predictor="conv", latent_grid=8, latent_dim=8 * 8 * 4)
    model = build_world_model(cfg).eval()
    frames = torch.randint(0, 255, (1, 1, 3, 64, 64), dtype=torch.uint8)
    moved = frames.clone()
    moved[..., :8, :8] = 255 - moved[..., :8, :8]  # the top-left cell only
    changed = (model.encode(frames) - model.encode(moved)).abs().view(4, 8, 8).sum(0) > 1e-6
    assert changed[0, 0] and not changed[2:, :].any() and not changed[:, 2:].any()


def test_sigreg_cells_tests_each_cell_over_the_batch():
    """--sigreg-cells: SIGReg sees T x G^2 batches of B cell latents [B, C], not T batches of whole grids."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(PATCH_MODEL, sigreg_cells=True)
    model = build_world_model(cfg)
    seen = []
    model.regulariser.register_forward_hook(lambda module, args, out: seen.append(args[0].shape))
    frames = torch.randint(0, 255, (8, cfg.history + 1, 3, 64, 64), dtype=torch.uint8)
    model.loss({"frames": frames, "actions": torch.randn(8, cfg.history, cfg.action_dim)})
    assert seen == [((cfg.history + 1) * 16, 8, 4)]  # 4 x 4 cells of 4 channels
    z = model.encode(frames)  # the same latents, regrouped by hand: cell n's channels are z[..., c * 16 + n]
    cells = z.view(8, cfg.history + 1, 4, 16).permute(1, 3, 0, 2).reshape(-1, 8, 4)
    torch.manual_seed(1)
    expected = model.regulariser(cells).item()
    torch.manual_seed(1)
    assert model._sigreg(z).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="sigreg_cells takes patch latents"):
        dataclasses.replace(TINY_MODEL, sigreg_cells=True)


def test_patch_latent_options_are_checked_together():
    with pytest.raises(
        ValueError, match="--latent-grid G > 0 with --encoder cnn and --predictor conv or cells together"
    ):
        ModelConfig(latent_grid=8, latent_dim=1024)
    with pytest.raises(
        ValueError, match="--latent-grid G > 0 with --encoder cnn and --predictor conv or cells together"
    ):
        ModelConfig(predictor="conv")
    with pytest.raises(
        ValueError, match="--latent-grid G > 0 with --encoder cnn and --predictor conv or cells together"
    ):
        ModelConfig(encoder="vit", predictor="conv", latent_grid=8, latent_dim=1024)
    with pytest.raises(ValueError, match="latent_dim must be a multiple of latent_grid\\^2 = 64, got 1000"):
        ModelConfig(predictor="conv", latent_grid=8, latent_dim=1000)
    with pytest.raises(ValueError, match="image_size / latent_grid must be a power of two >= 2, got 64 / 6"):
        ModelConfig(predictor="conv", latent_grid=6, latent_dim=36 * 4)


def test_config_checks_are_specific():
    with pytest.raises(ValueError, match="encoder must be one of"):
        ModelConfig(encoder="resnet")
    with pytest.raises(ValueError, match="history must be >= 1, got 0"):
        ModelConfig(history=0)


def test_motion_sigreg_tests_what_changes_within_each_window():
    """motion_sigreg_weight adds SIGReg of each window's latents minus their window mean: a static clip,
    whatever it shows, has no within-window spread and fails that test."""
    config = dataclasses.replace(TINY_MODEL, history=4, motion_sigreg_weight=0.5)
    model = build_world_model(config)
    frames = torch.randint(0, 255, (16, 5, 3, 64, 64), dtype=torch.uint8)
    batch = {"frames": frames, "actions": torch.randn(16, 4, config.action_dim)}
    torch.manual_seed(1)
    loss, metrics = model.loss(batch)
    torch.manual_seed(1)
    z = model.encode(frames)
    expected = [model.regulariser(z.transpose(0, 1)), model.regulariser((z - z.mean(1, keepdim=True)).transpose(0, 1))]
    assert metrics["motion_sigreg"] == pytest.approx(expected[1].item(), rel=1e-4)
    assert loss.item() == pytest.approx(metrics["pred"] + 0.1 * metrics["sigreg"] + 0.5 * expected[1].item(), rel=1e-4)
    static = {**batch, "frames": frames[:, :1].expand(-1, 5, -1, -1, -1)}
    assert model.loss(static)[1]["motion_sigreg"] > 1.2 * metrics["motion_sigreg"]
    loss.backward()
    assert model.encoder.net[0].weight.grad.abs().sum() > 0
    assert "motion_sigreg" not in build_world_model(dataclasses.replace(config, motion_sigreg_weight=0)).loss(batch)[1]
    with pytest.raises(ValueError, match="motion_sigreg_weight must be >= 0, got -1"):
        dataclasses.replace(config, motion_sigreg_weight=-1.0)


def test_sigreg_bank_tests_the_window_with_the_latents_of_earlier_batches():
    """sigreg_bank = K: one SIGReg over the batch's B x T latents and the K latest of earlier batches
    (no gradient through those); evaluation leaves the bank alone."""
    config = dataclasses.replace(TINY_MODEL, sigreg_bank=30)
    model = build_world_model(config)
    batches = [
        {
            "frames": torch.randint(0, 255, (4, 3, 3, 64, 64), dtype=torch.uint8),
            "actions": torch.randn(4, 2, config.action_dim),
        }
        for _ in range(3)
    ]
    model.loss(batches[0])
    assert model._bank.shape == (12, config.latent_dim) and not model._bank.requires_grad
    first = model._bank.clone()
    torch.manual_seed(3)
    _, metrics = model.loss(batches[1])
    torch.manual_seed(3)
    z = model.encode(batches[1]["frames"]).flatten(0, 1)
    assert metrics["sigreg"] == pytest.approx(model.regulariser(torch.cat([z, first])).item(), rel=1e-4)
    torch.testing.assert_close(model._bank, torch.cat([z, first]).detach())  # newest first, 24 of 30
    model.loss(batches[2])
    assert model._bank.shape == (30, config.latent_dim)  # capped at K: the oldest dropped
    torch.testing.assert_close(model._bank[12:], torch.cat([z, first]).detach()[:18])
    model.eval()
    kept = model._bank.clone()
    model.loss(batches[0])
    torch.testing.assert_close(model._bank, kept)
    with pytest.raises(ValueError, match="sigreg_bank must be >= 0, got -1"):
        dataclasses.replace(config, sigreg_bank=-1)


def test_sigreg_with_a_bank_equals_sigreg_of_the_pooled_samples():
    """A bank counts as more samples: the same statistic and the same gradient for z as the samples
    pooled, with none flowing into the bank."""
    z, bank = torch.randn(48, 8, requires_grad=True), torch.randn(200, 8) * 1.5
    torch.manual_seed(4)
    with_bank = SIGReg(32)(z, bank)
    with_bank.backward()
    pooled_z = z.detach().clone().requires_grad_(True)
    torch.manual_seed(4)
    pooled = SIGReg(32)(torch.cat([pooled_z, bank]))
    pooled.backward()
    assert with_bank.item() == pytest.approx(pooled.item(), rel=1e-5)
    torch.testing.assert_close(z.grad, pooled_z.grad)
    torch.manual_seed(4)
    assert abs(SIGReg(32)(z).item() - with_bank.item()) > 1.0  # the bank's spread is seen


def test_step_whitening_gives_every_direction_of_change_the_same_weight():
    """The running moment of one step's changes whitens them: with no shrink each eigen-direction's
    whitened change has the mean eigenvalue as its second moment; shrink 1 is the Euclidean error."""
    torch.manual_seed(5)
    scales = torch.tensor([3.0, 1.0, 0.1, 0.01])
    basis = torch.linalg.qr(torch.randn(4, 4))[0]
    deltas = (torch.randn(20000, 4) * scales) @ basis.T  # fast and slow directions, mixed
    whitening = StepWhitening(4, shrink=1e-6, momentum=0.5)
    for chunk in deltas.chunk(4):
        whitening.update(chunk)
    moment = (whitening(deltas).T @ whitening(deltas) / len(deltas)).double()
    mean = (scales**2).mean().double()
    torch.testing.assert_close(moment, mean * torch.eye(4, dtype=torch.float64), rtol=0.05, atol=0.05 * mean.item())
    euclidean = StepWhitening(4, shrink=1.0)
    euclidean.update(deltas)
    torch.testing.assert_close(euclidean(deltas), deltas, rtol=1e-4, atol=1e-5)
    frozen = StepWhitening(4)
    frozen.update(torch.zeros(8, 4))  # nothing moved: the error stays Euclidean
    torch.testing.assert_close(frozen(deltas), deltas)
    with pytest.raises(ValueError, match=r"step changes: expected \[N >= 1, 4\], got shape \[8, 3\]"):
        whitening.update(torch.zeros(8, 3))
    with pytest.raises(ValueError, match=r"shrink must be in \(0, 1\], got 0"):
        StepWhitening(4, shrink=0)


def test_step_whitening_with_a_floor_weighs_up_the_slow_directions_and_keeps_the_fast_ones():
    """floor=True (the slow metric): along each eigen-direction of one step's change the weight is the
    steps metric's where that is above 1, else 1; so the fast directions keep their Euclidean length."""
    torch.manual_seed(7)
    scales = torch.tensor([3.0, 1.0, 0.1, 0.01])
    basis = torch.linalg.qr(torch.randn(4, 4))[0]
    deltas = (torch.randn(40000, 4) * scales) @ basis.T
    steps, slow = StepWhitening(4, shrink=0.1), StepWhitening(4, shrink=0.1, floor=True)
    steps.update(deltas)
    slow.update(deltas)
    gains = {name: (w(basis.T) ** 2).sum(1).sqrt() for name, w in (("steps", steps), ("slow", slow))}
    assert gains["steps"][0] < 1 and gains["slow"][0] == pytest.approx(1.0, abs=0.02)  # the fast one: kept
    torch.testing.assert_close(gains["slow"][2:], gains["steps"][2:])  # the slow ones: weighed up alike
    assert (gains["slow"][2:] > 2).all()
    torch.testing.assert_close(gains["slow"], gains["steps"].clamp(min=1.0), rtol=0.02, atol=0.02)


def test_prediction_in_the_steps_metric_weighs_errors_by_the_running_whitening():
    """prediction_metric='steps': the prediction error is measured after the whitening, which training
    batches update and evaluation leaves alone; the Euclidean error is still reported as pred_latent."""
    config = dataclasses.replace(TINY_MODEL, prediction_metric="steps", prediction_shrink=0.2)
    model = build_world_model(config)
    batch = {
        "frames": torch.randint(0, 255, (8, 3, 3, 64, 64), dtype=torch.uint8),
        "actions": torch.randn(8, 2, config.action_dim),
    }
    torch.manual_seed(6)
    loss, metrics = model.loss(batch)
    assert model.step_whitening.updates == 1 and not model.step_whitening.whitening.requires_grad
    torch.manual_seed(6)
    z = model.encode(batch["frames"])
    deltas = (z[:, 1:] - z[:, :-1]).detach().flatten(0, 1)
    reference = StepWhitening(config.latent_dim, shrink=0.2)
    reference.update(deltas)
    error = model.predict(z[:, :-1], batch["actions"]) - z[:, 1:]
    assert metrics["pred"] == pytest.approx(reference(error).pow(2).mean().item(), rel=1e-4)
    assert metrics["pred_latent"] == pytest.approx(error.pow(2).mean().item(), rel=1e-4)
    assert metrics["pred"] != pytest.approx(metrics["pred_latent"], rel=1e-3)
    loss.backward()
    assert model.encoder.net[0].weight.grad.abs().sum() > 0
    model.eval()
    kept = model.step_whitening.whitening.clone()
    model.loss(batch)
    assert model.step_whitening.updates == 1
    torch.testing.assert_close(model.step_whitening.whitening, kept)
    assert "pred_latent" not in build_world_model(TINY_MODEL).loss(batch)[1]
    slow = build_world_model(dataclasses.replace(config, prediction_metric="slow"))
    assert slow.step_whitening.floor and not model.step_whitening.floor
    expected = r"prediction_metric must be one of \['latent', 'steps', 'slow'\], got 'pixels'"
    with pytest.raises(ValueError, match=expected):
        dataclasses.replace(config, prediction_metric="pixels")
    with pytest.raises(ValueError, match=r"prediction_shrink must be in \(0, 1\], got 1.5"):
        dataclasses.replace(config, prediction_shrink=1.5)
