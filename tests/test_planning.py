import numpy as np
import pytest
import torch

from jepaworld.planning import CEM, ENERGIES, PLANNERS, MPCAgent, PlannerConfig
from jepaworld.planning.energy import build_energy, goal_distance
from jepaworld.planning.metric import in_metric, step_whitening
from jepaworld.types import PlanResult


def integrator(z0, actions):
    """z_{h+1} = z_h + a_h: a rollout whose energy landscape is a known quadratic."""
    return z0[:, None] + actions.cumsum(1)


def test_cem_finds_the_optimum_of_a_quadratic_energy():
    goal = torch.tensor([2.5, -1.5])
    cem = CEM([-1, -1], [1, 1], horizon=5, samples=200, iterations=12, elites=20, energy=ENERGIES.get("terminal"))
    result = cem.plan(torch.zeros(2), goal, integrator)
    assert result.energy < 1e-3
    torch.testing.assert_close(result.actions.sum(0), goal, atol=0.1, rtol=0)
    assert len(result.energy_per_iteration) == 12
    assert all(b <= a for a, b in zip(result.energy_per_iteration, result.energy_per_iteration[1:], strict=False))


def test_cem_respects_action_bounds_when_the_goal_is_out_of_reach():
    cem = CEM([-0.5, -1], [0.5, 1], horizon=4, samples=100, iterations=8, elites=10, energy=ENERGIES.get("terminal"))
    result = cem.plan(torch.zeros(2), torch.tensor([10.0, 0.0]), integrator)
    assert result.actions[:, 0].max() <= 0.5 and result.actions.min() >= -1
    torch.testing.assert_close(result.actions[:, 0], torch.full((4,), 0.5))


def test_cem_batches_all_candidates_into_one_rollout_per_iteration():
    calls = []

    def counting(z0, actions):
        calls.append(actions.shape)
        return integrator(z0, actions)

    CEM([-1, -1], [1, 1], horizon=3, samples=64, iterations=5, elites=8).plan(torch.zeros(2), torch.ones(2), counting)
    assert calls == [(64, 3, 2)] * 5


def test_cem_is_reproducible_from_its_seed():
    a = CEM([-1], [1], horizon=3, samples=32, iterations=3, elites=4, seed=7).plan(
        torch.zeros(1), torch.ones(1), integrator
    )
    b = CEM([-1], [1], horizon=3, samples=32, iterations=3, elites=4, seed=7).plan(
        torch.zeros(1), torch.ones(1), integrator
    )
    assert torch.equal(a.actions, b.actions)


def test_min_energy_rewards_passing_through_the_goal():
    z = torch.tensor([[[0.0], [1.0], [2.0]]])
    goal = torch.tensor([1.0])
    assert ENERGIES.get("min")(z, goal, None).item() == 0.0
    assert ENERGIES.get("terminal")(z, goal, None).item() == 1.0


def test_running_energy_rewards_getting_there_early():
    goal = torch.tensor([1.0])
    early = torch.tensor([[[1.0], [1.0], [1.0]]])
    late = torch.tensor([[[0.0], [0.0], [1.0]]])
    running = ENERGIES.get("running")
    assert running(early, goal, None).item() == 0.0 < running(late, goal, None).item()


def test_goal_set_distance_is_to_the_nearest_goal():
    z = torch.tensor([[[0.0, 0.0], [2.0, 2.0]]])
    goals = torch.tensor([[2.0, 2.0], [0.0, 1.0]])
    torch.testing.assert_close(goal_distance(z, goals), torch.tensor([[0.5, 0.0]]))
    assert ENERGIES.get("terminal")(z, goals, None).item() == 0.0


def test_action_penalty_is_in_half_ranges_around_the_middle_of_the_bounds():
    energy = build_energy("terminal", 0.5, [0.0, -2.0], [2.0, 2.0])
    z, goal = torch.zeros(2, 1, 1), torch.zeros(1)
    actions = torch.tensor([[[1.0, 0.0]], [[2.0, 2.0]]])  # the middle of the bounds, then the top corner
    torch.testing.assert_close(energy(z, goal, actions), torch.tensor([0.0, 0.5]))
    assert build_energy("terminal", 0.0, [0.0], [1.0]) is ENERGIES.get("terminal")


def test_action_penalty_makes_the_planner_prefer_small_actions():
    goal = torch.tensor([1.0, 0.0])
    plain = CEM([-1, -1], [1, 1], horizon=4, samples=200, iterations=10, elites=20, energy=ENERGIES.get("min"))
    lazy = CEM(
        [-1, -1],
        [1, 1],
        horizon=4,
        samples=200,
        iterations=10,
        elites=20,
        energy=build_energy("min", 0.05, [-1, -1], [1, 1]),
    )
    a, b = plain.plan(torch.zeros(2), goal, integrator), lazy.plan(torch.zeros(2), goal, integrator)
    assert b.actions.pow(2).sum() < 0.6 * a.actions.pow(2).sum()
    torch.testing.assert_close(b.actions.sum(0), goal, atol=0.3, rtol=0)


def test_planner_config_takes_energy_and_action_penalty():
    planner = PLANNERS.build("mppi", PlannerConfig(energy="running", action_penalty=0.1), [-1, -1], [1, 1])
    z = torch.zeros(3, 2, 2)
    actions = torch.ones(3, 2, 2)
    torch.testing.assert_close(planner.energy(z, torch.zeros(2), actions), torch.full((3,), 0.1))


def test_registry_builds_cem_from_config():
    planner = PLANNERS.build(
        "cem", PlannerConfig(horizon=3, samples=10, elites=2, icem_keep_elites=2), [-1, -1], [1, 1]
    )
    assert planner.horizon == 3


def test_mpc_executes_first_block_then_replans_with_warm_start():
    cem = CEM([-1, -1], [1, 1], horizon=4, samples=64, iterations=6, elites=8)
    state = {"z": torch.zeros(2)}
    agent = MPCAgent(cem, lambda obs: obs.clone(), integrator, frameskip=3)
    agent.reset(torch.tensor([3.0, -2.0]))
    for _ in range(6):
        action = agent.act(state["z"])
        state["z"] = state["z"] + torch.from_numpy(action) / 3  # one model step = 3 env steps
    assert len(agent.plan_seconds) == 2  # 6 env steps = 2 blocks of 3
    assert isinstance(action, np.ndarray) and action.shape == (2,)
    assert torch.norm(state["z"] - torch.tensor([3.0, -2.0])) < torch.norm(torch.tensor([3.0, -2.0]))


def test_mpc_goal_can_be_a_set_of_observations_or_a_latent():
    cem = CEM([-1, -1], [1, 1], horizon=4, samples=64, iterations=4, elites=8)
    agent = MPCAgent(cem, lambda obs: obs.clone(), integrator, frameskip=1)
    agent.reset([torch.tensor([3.0, 0.0]), torch.tensor([0.0, -1.0])])
    assert agent._z_goal.shape == (2, 2)
    action = agent.act(torch.zeros(2))
    assert action[1] < 0  # heads for the nearer goal of the set
    agent.reset(goal_latent=torch.tensor([0.0, 2.0]))
    assert agent.act(torch.zeros(2))[1] > 0
    with pytest.raises(ValueError, match="give one goal"):
        agent.reset()
    with pytest.raises(ValueError, match="give one goal"):
        agent.reset(torch.zeros(2), goal_latent=torch.zeros(2))
    with pytest.raises(ValueError, match="goal set is empty"):
        agent.reset([])


def point_mass_rollout(z, actions, past_actions=None):
    """A point mass seen by its position only: its velocity is the last step between two positions
    (zero when the plan starts from one frame); each action adds 0.2 to it."""
    x, v = (z, torch.zeros_like(z)) if z.dim() == 2 else (z[:, -1], z[:, -1] - z[:, -2])
    out = []
    for h in range(actions.shape[1]):
        v = v + 0.2 * actions[:, h]
        x = x + v
        out.append(x)
    return torch.stack(out, 1)


@pytest.mark.parametrize("context", [1, 2])
def test_mpc_with_history_stops_a_moving_mass_at_the_goal(context):
    goal, finals = torch.tensor([3.0]), []
    for seed in range(4):
        cem = CEM([-1.0], [1.0], horizon=8, samples=100, iterations=5, elites=10, seed=seed)
        agent = MPCAgent(cem, lambda obs: obs.clone(), point_mass_rollout, frameskip=1, context=context)
        agent.reset(goal)
        x, v = torch.zeros(1), torch.zeros(1)
        for _ in range(40):
            v = v + 0.2 * torch.from_numpy(agent.act(x.clone()))
            x = x + v
        finals.append(float((x - goal).abs()))
    if context == 2:  # sees the velocity in its last two frames: arrives and stays
        assert max(finals) < 0.5, finals
    else:  # believes it starts at rest every plan: overshoots and swings
        assert sum(finals) / len(finals) > 1.0, finals


def test_mpc_history_is_the_boundary_latents_and_the_blocks_executed_between_them():
    calls = []

    def recording_rollout(z, actions, past_actions=None):
        calls.append((z[0].clone(), None if past_actions is None else past_actions[0].clone()))
        last = z[:, -1] if z.dim() == 3 else z
        return last[:, None].expand(-1, actions.shape[1], -1)

    cem = CEM([-1, -1], [1, 1], horizon=2, samples=4, iterations=1, elites=2)
    agent = MPCAgent(cem, lambda obs: obs.clone(), recording_rollout, frameskip=2, context=3)
    agent.reset(torch.zeros(2))
    executed = []
    for t in range(8):  # boundaries at env steps 0, 2, 4, 6
        executed.append(agent.act(torch.full((2,), float(t))))
    z, past = calls[-1]  # the plan at step 6 starts from the frames of steps 2, 4 and 6
    torch.testing.assert_close(z[:, 0], torch.tensor([2.0, 4.0, 6.0]))
    expected = torch.from_numpy(np.stack([np.concatenate(executed[2:4]), np.concatenate(executed[4:6])]))
    torch.testing.assert_close(past, expected)
    assert calls[0][1] is None  # the first plan has no past: one frame
    with pytest.raises(ValueError, match="context"):
        MPCAgent(cem, lambda obs: obs, recording_rollout, frameskip=1, context=0)


class FixedPlanner:
    """Returns the same plan every time: what the MPC loop executes of it is then known."""

    def __init__(self, actions: torch.Tensor) -> None:
        self.actions, self.calls = actions, 0

    def plan(self, z0, z_goal, rollout_fn, init=None) -> PlanResult:
        self.calls += 1
        return PlanResult(self.actions.clone(), 0.0)


def test_mpc_with_blocks_executes_a_planned_block_one_env_action_after_another():
    block = torch.tensor([[1.0, -1.0, 0.5, 0.25, -0.5, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])  # frameskip 3, A 2
    planner = FixedPlanner(block)
    agent = MPCAgent(planner, lambda obs: obs.clone(), integrator, frameskip=3, blocks=True)
    agent.reset(torch.zeros(2))
    executed = np.stack([agent.act(torch.zeros(2)) for _ in range(4)])
    np.testing.assert_array_equal(executed[:3], [[1.0, -1.0], [0.5, 0.25], [-0.5, 0.0]])
    assert planner.calls == 2  # the second block starts with a new plan
    held = MPCAgent(FixedPlanner(block[:, :2]), lambda obs: obs.clone(), integrator, frameskip=3)
    held.reset(torch.zeros(2))
    np.testing.assert_array_equal(np.stack([held.act(torch.zeros(2)) for _ in range(3)]), [[1.0, -1.0]] * 3)
    odd = MPCAgent(FixedPlanner(block[:, :5]), lambda obs: obs.clone(), integrator, frameskip=3, blocks=True)
    odd.reset(torch.zeros(2))
    with pytest.raises(ValueError, match=r"blocks: expected planned actions of frameskip \(3\) env actions each"):
        odd.act(torch.zeros(2))


def test_steps_metric_weighs_a_slow_coordinate_as_much_as_a_fast_one():
    rng = np.random.default_rng(0)
    rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    deltas = (rng.normal(size=(4000, 3)) * [1.0, 0.3, 0.01]) @ rotation.T  # one fast, one slow direction
    w = step_whitening(deltas, shrink=1e-6)
    assert np.allclose(w, w.T)
    fast, slow = np.linalg.norm(rotation[:, 0] @ w), np.linalg.norm(rotation[:, 2] @ w)
    assert slow / fast == pytest.approx(100, rel=0.1)  # a slow change of 1 is as far as a fast one of 100
    assert np.allclose(step_whitening(deltas, shrink=1.0), np.eye(3))  # no shrink left: the latent metric
    with pytest.raises(ValueError, match=r"shrink must be in \(0, 1\], got 0"):
        step_whitening(deltas, shrink=0)
    with pytest.raises(ValueError, match="never change"):
        step_whitening(np.zeros((10, 3)), shrink=0.1)


def test_planning_in_a_metric_is_a_change_of_coordinates():
    w = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    seen = []

    def encode(frame):
        return torch.as_tensor(frame, dtype=torch.float32)

    def rollout(z0, actions, past_actions=None):
        seen.append(z0.clone())
        return z0.unsqueeze(1) + actions.cumsum(1)  # [N, D] -> [N, H, D]

    encode_in, rollout_in = in_metric(encode, rollout, w)
    z0, actions = np.array([1.0, -2.0]), torch.ones(3, 4, 2)
    start = encode_in(z0)
    assert torch.allclose(start, torch.tensor([1.0, -1.5]))
    imagined = rollout_in(start.expand(3, 2), actions)
    assert torch.allclose(seen[0], torch.tensor([1.0, -2.0]).expand(3, 2), atol=1e-6)  # the model sees its own latents
    assert torch.allclose(imagined, rollout(torch.tensor([1.0, -2.0]).expand(3, 2), actions) @ w, atol=1e-5)
