"""World models and their parts (encoders, predictors, regularisers), registered by name."""

from jepaworld.models.encoders import ENCODERS
from jepaworld.models.predictors import PREDICTORS
from jepaworld.models.sigreg import SIGReg
from jepaworld.models.world_model import ModelConfig, WorldModel, build_world_model

__all__ = ["ENCODERS", "PREDICTORS", "ModelConfig", "SIGReg", "WorldModel", "build_world_model"]
