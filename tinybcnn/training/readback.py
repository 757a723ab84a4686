"""The few points where a run reads the device back, and so finds out whether it diverged.

On NumPy, :meth:`~tinybcnn.train.Trainer.step` checks each loss as it is computed. On a device
(CuPy, or array_api_strict standing in for it) that would make every step wait for the device,
so the losses are summed there and read here: at a history row, a checkpoint, and every few
iterations for a progress bar that is shown. A non-finite value found here raises
:class:`~tinybcnn.training.errors.TrainingDiverged` naming the iterations it came from.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import TrainingDiverged

__all__ = ["running_loss", "check_finite"]


def running_loss(trainer: Any) -> float:
    """The mean loss since the last history row, read back to the host (once, here)."""
    state = trainer.run_state
    state.settle_losses()
    mean = float(state.loss_sum) / state.loss_count
    if not math.isfinite(mean):
        first = max(state.last_row, state.loss_read_at) + 1
        raise TrainingDiverged(state.iteration, f"a loss between iteration {first} and "
                               f"{state.iteration} is not finite", trainer.optimizer.lr,
                               *state.last_good())
    state.loss_read_at = state.iteration
    return mean


def check_finite(trainer: Any) -> None:
    """Refuse a state with NaN or infinite parameters (or a non-finite running loss).

    One reduction over all parameters, so one read-back on a device; the name of the bad
    parameter is looked for only when there is one.
    """
    if trainer.on_device and trainer.run_state.loss_count:
        running_loss(trainer)  # a deferred non-finite loss is reported as such
    params = trainer.model.params
    xp = trainer.xp
    flags = [xp.all(xp.isfinite(value)) for value in params.values()]
    if bool(xp.all(xp.stack(flags))):
        return
    for (name, _), ok in zip(params.items(), flags, strict=True):
        if not bool(ok):
            raise TrainingDiverged(trainer.iteration, f"parameter {name} is not finite",
                                   trainer.optimizer.lr, *trainer.run_state.last_good())
