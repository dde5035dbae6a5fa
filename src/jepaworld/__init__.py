"""jepaworld: world models that learn from pixels, predict in latent space and plan."""

__version__ = "0.1.0"

from jepaworld import envs as envs
