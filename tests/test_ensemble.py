"""eval --ensemble: predictors trained on one frozen encoder plan together, on the mean of what they imagine
or (``--ensemble-score worst``) each plan scored by the worst of their imaginations."""

import dataclasses

import pytest
import torch

from jepaworld.eval import EvalConfig, evaluate
from jepaworld.eval.agents import model_functions, shared_encoder_models
from jepaworld.models import build_world_model
from jepaworld.planning import PlannerConfig
from jepaworld.train import TrainConfig, load_checkpoint, train

from .conftest import TINY_MODEL

FAST_PLANNER = PlannerConfig(horizon=3, samples=12, iterations=2, elites=4, icem_keep_elites=2)


def _model(seed: int):
    torch.manual_seed(seed)
    model = build_world_model(TINY_MODEL).eval()
    for p in model.predictor.parameters():  # adaLN-zero starts as the identity: make the predictor matter
        torch.nn.init.normal_(p, std=0.2)
    return model


def test_an_ensemble_rollout_is_the_mean_of_its_models_rollouts():
    a, b = _model(0), _model(1)
    b.encoder.load_state_dict(a.encoder.state_dict())
    b.projector.load_state_dict(a.projector.state_dict())
    k = TINY_MODEL.frameskip
    z0, actions = torch.randn(5, TINY_MODEL.latent_dim), torch.rand(5, 3, 2) * 2 - 1
    with torch.inference_mode():
        alone_a, alone_b = model_functions(a, k)[1](z0, actions), model_functions(b, k)[1](z0, actions)
        assert not torch.allclose(alone_a, alone_b)  # two predictors that imagine differently
        together = model_functions(a, k, ensemble=[b])[1](z0, actions)
        torch.testing.assert_close(together, (alone_a + alone_b) / 2)
        torch.testing.assert_close(model_functions(a, k, ensemble=[a])[1](z0, actions), alone_a)
        each = model_functions(a, k, ensemble=[b], ensemble_score="worst")[1](z0, actions)
        torch.testing.assert_close(each, torch.stack([alone_a, alone_b], dim=1))  # [N, M, H, D], scored each
    with pytest.raises(ValueError, match=r"ensemble_score must be one of \['mean', 'worst'\], got 'best'"):
        model_functions(a, k, ensemble=[b], ensemble_score="best")
    with pytest.raises(ValueError, match=r"--ensemble-score worst scores several predictors.*--ensemble CKPT"):
        EvalConfig(ensemble_score="worst")


@pytest.fixture(scope="module")
def runs(tiny_data, tmp_path_factory) -> dict[str, str]:
    """A base run, a predictor trained alone on its encoder, and an unrelated run."""
    root = tmp_path_factory.mktemp("ensemble")
    base = TrainConfig(data=tiny_data, out=str(root / "base"), steps=2, batch_size=8, progress=False)
    train(base, TINY_MODEL)
    frozen = dataclasses.replace(base, out=str(root / "frozen"), init_from=base.out, freeze_encoder=True, seed=1)
    train(frozen, TINY_MODEL)
    train(dataclasses.replace(base, out=str(root / "other"), seed=2), TINY_MODEL)
    return {"base": base.out, "frozen": frozen.out, "other": str(root / "other")}


def test_ensemble_members_must_hold_the_evaluated_encoder(runs):
    model, info = load_checkpoint(runs["base"])
    (member,) = shared_encoder_models(model, info, [runs["frozen"]], torch.device("cpu"))
    ours, theirs = model.predictor.state_dict(), member.predictor.state_dict()
    assert not all(torch.equal(ours[k], theirs[k]) for k in ours)  # its own predictor, on the same encoder
    with pytest.raises(ValueError, match=r"--ensemble .*other: expected the encoder and projector of the evaluated"):
        shared_encoder_models(model, info, [runs["frozen"], runs["other"]], torch.device("cpu"))
    # The same encoder imagining other steps (a predictor of another frameskip on it) would not average.
    other_steps = dataclasses.replace(info, model=dataclasses.replace(info.model, frameskip=3))
    with pytest.raises(ValueError, match=r"--ensemble .*frozen: expected a model of \{'frameskip': 3"):
        shared_encoder_models(model, other_steps, [runs["frozen"]], torch.device("cpu"))
    with pytest.raises(FileNotFoundError, match=r"^--ensemble: checkpoint .*nothere does not exist"):
        shared_encoder_models(model, info, [runs["base"] + "-nothere"], torch.device("cpu"))


def test_eval_plans_with_an_ensemble_and_records_it(runs, tmp_path):
    config = EvalConfig(
        checkpoint=runs["base"],
        ensemble=(runs["frozen"],),
        episodes=2,
        max_steps=4,
        oracle=False,
        out=str(tmp_path),
        progress=False,
    )
    results = evaluate(config, FAST_PLANNER)
    assert results["eval"]["ensemble"] == [runs["frozen"]] and results["rows"][0]["episodes"] == 2
    assert f"the mean rollout of its predictor and those of `{runs['frozen']}`" in (tmp_path / "results.md").read_text()
    worst = evaluate(dataclasses.replace(config, ensemble_score="worst", out=str(tmp_path / "worst")), FAST_PLANNER)
    assert worst["eval"]["ensemble_score"] == "worst" and worst["rows"][0]["episodes"] == 2
    assert (
        "each plan scored by the worst of its predictor's rollout and those of"
        in (tmp_path / "worst" / "results.md").read_text()
    )
    refused = tmp_path / "refused"
    with pytest.raises(ValueError, match="expected the encoder and projector"):
        evaluate(dataclasses.replace(config, ensemble=(runs["other"],), out=str(refused)), FAST_PLANNER)
    assert not refused.exists()  # refused before any episode ran or any file was written
