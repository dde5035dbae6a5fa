"""The surprise monitor: during MPC, compare what the model predicted for each model step with what came.

Before each model step the agent tells the monitor the latent it starts from and the action block it
will execute; after it, the monitor encodes what was observed and scores the step's surprise (mean
squared latent error, the quantity of ``WorldModel.surprise``). A step above ``threshold`` is flagged
as unexpected (the agent was pushed, the world changed), and the agent may re-plan at once.
The threshold is calibrated on held-out data (``jepaworld.eval.monitor.calibrate_threshold``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

PredictFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (z [D], model action [A]) -> z_next [D]


@dataclass
class SurpriseMonitor:
    """``expect(z, action)`` before a model step, ``check(z_observed) -> flagged`` after it.

    ``log``: one ``(surprise, flagged)`` per checked step since ``reset()``.
    ``replan``: whether a flagged step should make the agent drop its queued actions and re-plan.
    """

    predict: PredictFn
    threshold: float
    replan: bool = True
    log: list[tuple[float, bool]] = field(default_factory=list)
    _expected: torch.Tensor | None = None

    def reset(self) -> None:
        self.log.clear()
        self._expected = None

    def expect(self, z: torch.Tensor, action: torch.Tensor) -> None:
        """The step about to run starts from latent ``z [D]`` and executes the model action ``[A]``."""
        self._expected = self.predict(z, action)

    def check(self, z_observed: torch.Tensor) -> bool:
        """Score the step that just ran against the latent observed after it -> whether it is flagged."""
        if self._expected is None:
            return False
        surprise = float((self._expected - z_observed).pow(2).mean())
        flagged = surprise > self.threshold
        self.log.append((surprise, flagged))
        self._expected = None
        return flagged
