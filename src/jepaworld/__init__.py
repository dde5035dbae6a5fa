"""jepaworld: world models that learn from pixels, predict in latent space and plan."""

__version__ = "0.1.0"

from jepaworld import envs as envs


def load(checkpoint, device: str = "cpu"):
    """A trained world model behind the public API (``jepaworld.api.LoadedWorldModel``): ``encode``,
    ``rollout``, ``plan``, ``surprise``, ``decode``. ``checkpoint``: a run or checkpoint directory."""
    from jepaworld.api import load as load_model

    return load_model(checkpoint, device)
