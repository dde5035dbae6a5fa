"""Planning: energies, planners registered by name behind one interface, and the MPC agent."""

from jepaworld.planning.base import PLANNER_NAMES, PlannerConfig
from jepaworld.planning.cem import CEM
from jepaworld.planning.energy import ENERGIES
from jepaworld.planning.gradient import GradientPlanner
from jepaworld.planning.mpc import MPCAgent
from jepaworld.planning.mppi import MPPI
from jepaworld.registry import Registry

#: name -> ``build(config: PlannerConfig, action_low, action_high, seed=0) -> Planner``
PLANNERS: Registry = Registry("planner")
PLANNERS.register("cem")(CEM.from_config)
PLANNERS.register("icem")(CEM.from_config)
PLANNERS.register("mppi")(MPPI.from_config)
PLANNERS.register("gradient")(GradientPlanner.from_config)
assert set(PLANNERS.names()) == set(PLANNER_NAMES)


def build_planner(config: PlannerConfig, action_low, action_high, seed: int = 0):
    """The planner ``config.planner`` names, built from ``config``."""
    return PLANNERS.build(config.planner, config, action_low, action_high, seed=seed)


__all__ = ["CEM", "ENERGIES", "MPPI", "PLANNERS", "GradientPlanner", "MPCAgent", "PlannerConfig", "build_planner"]
