"""Planning: energies, planners (registered by name) and the MPC agent."""

from jepaworld.planning.cem import CEM, CEMConfig
from jepaworld.planning.energy import ENERGIES
from jepaworld.planning.mpc import MPCAgent
from jepaworld.registry import Registry

PLANNERS: Registry = Registry("planner")
PLANNERS.register("cem")(CEM.from_config)

__all__ = ["CEM", "ENERGIES", "PLANNERS", "CEMConfig", "MPCAgent"]
