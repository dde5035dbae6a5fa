"""One contract, run over every registered planner (DESIGN: planners know a rollout and a cost)."""

import pytest
import torch

from jepaworld.planning import ENERGIES, PLANNERS, PlannerConfig, build_planner

LOW, HIGH = [-1.0, -1.0], [1.0, 1.0]
HORIZON = 4


def integrator(z0, actions):
    """z_{h+1} = z_h + a_h (differentiable): energies of the end point are toy landscapes over actions."""
    return z0[:, None] + actions.cumsum(1)


def terminal(z, goal, actions):
    return (z[:, -1] - goal).pow(2).sum(-1)


DECOY = torch.tensor([-1.0, -0.5])


def two_wells(z, goal, actions):
    """Non-convex: the global well at ``goal``, a shallower decoy well at ``DECOY``."""
    end = z[:, -1]
    return torch.minimum((end - goal).pow(2).sum(-1), (end - DECOY).pow(2).sum(-1) + 0.5)


def make(name: str, energy, seed: int = 0):
    config = PlannerConfig(planner=name, horizon=HORIZON, samples=200, iterations=20, elites=20)
    planner = build_planner(config, LOW, HIGH, seed=seed)
    planner.energy = energy
    if hasattr(planner, "cem"):
        planner.cem.energy = energy
    return planner


@pytest.fixture(params=PLANNERS.names())
def name(request):
    return request.param


def test_finds_the_minimum_of_a_convex_energy(name):
    goal = torch.tensor([2.0, -1.5])
    result = make(name, terminal).plan(torch.zeros(2), goal, integrator)
    assert result.energy < 0.02, result.energy
    torch.testing.assert_close(result.actions.sum(0), goal, atol=0.15, rtol=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_finds_the_global_well_of_a_non_convex_energy(name, seed):
    goal = torch.tensor([1.5, 0.5])  # the decoy is nearer the start (0, 0) than the global well
    result = make(name, two_wells, seed=seed).plan(torch.zeros(2), goal, integrator)
    assert result.energy < 0.05, result.energy
    torch.testing.assert_close(result.actions.sum(0), goal, atol=0.25, rtol=0)


def test_respects_action_bounds(name):
    planner = make(name, terminal)
    result = planner.plan(torch.zeros(2), torch.tensor([50.0, -50.0]), integrator)
    assert result.actions.shape == (HORIZON, 2)
    assert (result.actions >= torch.tensor(LOW) - 1e-6).all() and (result.actions <= torch.tensor(HIGH) + 1e-6).all()
    torch.testing.assert_close(result.actions, torch.tensor([[1.0, -1.0]] * HORIZON), atol=0.05, rtol=0)


def test_deterministic_under_a_seed(name):
    goal = torch.tensor([1.0, 1.0])
    a = make(name, two_wells, seed=3).plan(torch.zeros(2), goal, integrator)
    b = make(name, two_wells, seed=3).plan(torch.zeros(2), goal, integrator)
    assert torch.equal(a.actions, b.actions) and a.energy == b.energy


def test_nan_and_inf_energies_lose_and_never_leak(name):
    def poisoned(z, goal, actions):
        energy = terminal(z, goal, actions)
        energy = torch.where(actions[:, 0, 0] < 0, torch.full_like(energy, float("nan")), energy)
        return torch.where(actions[:, 0, 1] > 0.9, torch.full_like(energy, float("inf")), energy)

    result = make(name, poisoned).plan(torch.zeros(2), torch.tensor([2.0, 0.5]), integrator)
    assert torch.isfinite(result.actions).all() and result.energy < 0.05
    assert result.actions[0, 0] >= 0  # the NaN region lost


def test_an_energy_that_is_nan_everywhere_still_gives_bounded_actions(name):
    def broken(z, goal, actions):
        return torch.full((actions.shape[0],), float("nan"), requires_grad=actions.requires_grad)

    result = make(name, broken).plan(torch.zeros(2), torch.ones(2), integrator)
    assert torch.isfinite(result.actions).all() and result.actions.abs().max() <= 1.0


def test_warm_start_is_used(name):
    goal = torch.tensor([2.0, -1.5])
    config = PlannerConfig(planner=name, horizon=HORIZON, samples=16, iterations=1, elites=4, icem_keep_elites=2)
    planner = build_planner(config, LOW, HIGH)
    planner.energy = terminal
    if hasattr(planner, "cem"):
        planner.cem.energy = terminal
    perfect = goal.expand(HORIZON, 2) / HORIZON
    result = planner.plan(torch.zeros(2), goal, integrator, init=perfect)
    assert result.energy < 1e-3  # the warm start is evaluated, so one iteration keeps it


def test_goal_of_another_shape_is_a_clear_error(name):
    with pytest.raises(ValueError, match=r"goal latent: expected shape \[2\] or \[G, 2\].*got \[3\]"):
        make(name, terminal).plan(torch.zeros(2), torch.zeros(3), integrator)
    with pytest.raises(ValueError, match=r"goal latent: .*got \[0, 2\]"):
        make(name, terminal).plan(torch.zeros(2), torch.zeros(0, 2), integrator)


def test_a_goal_set_is_reached_at_its_nearest_member(name):
    goals = torch.tensor([[-3.5, 3.8], [1.5, -0.5], [9.0, 9.0]])  # the last is out of reach
    result = make(name, ENERGIES.get("terminal")).plan(torch.zeros(2), goals, integrator)
    end = result.actions.sum(0)
    assert result.energy < 0.02, result.energy
    assert min(torch.norm(end - g) for g in goals[:2]) < 0.25, end


def test_an_ensemble_is_scored_by_its_worst_member(name):
    """A rollout ``[N, M, H, D]`` holds M imaginations of each candidate (``eval --ensemble-score worst``).
    Here the two disagree on the first dimension (one integrates the action, the other its opposite), so
    no move there is safe and the worst-scored plan stays put where the first alone would go to the goal;
    on the second dimension they agree and the plan goes."""
    goal = torch.tensor([1.0, 1.0])

    def disagreeing(z0, actions):
        ahead = integrator(z0, actions)
        mirrored = ahead * torch.tensor([-1.0, 1.0])
        return torch.stack([ahead, mirrored], dim=1)  # [N, 2, H, D]

    alone = make(name, terminal).plan(torch.zeros(2), goal, integrator)
    assert alone.actions.sum(0)[0] > 0.85, alone.actions.sum(0)
    result = make(name, terminal).plan(torch.zeros(2), goal, disagreeing)
    end = result.actions.sum(0)
    assert abs(end[0]) < 0.2 and abs(end[1] - 1.0) < 0.2, end
    worst = max(terminal(z, goal, None) for z in disagreeing(torch.zeros(1, 2), result.actions[None]).unbind(1))
    assert result.energy == pytest.approx(float(worst), abs=1e-5)  # the energy it reports is the worst one
    assert result.energy >= 1.0 - 1e-6  # the first dimension's unit cost is the least any plan can have


def test_every_energy_is_registered_and_usable():
    z = torch.randn(5, HORIZON, 3)
    for energy in ENERGIES.names():
        assert ENERGIES.get(energy)(z, torch.zeros(3), torch.zeros(5, HORIZON, 2)).shape == (5,)
