"""The two ways a training run stops early: divergence and an interrupt."""

from __future__ import annotations

from pathlib import Path

__all__ = ["TrainingDiverged", "TrainingInterrupted"]


class TrainingDiverged(RuntimeError):
    """The loss (or a parameter) became NaN or infinite; training stopped before applying it.

    Attributes
    ----------
    iteration : int
        The iteration that produced the non-finite value (1-based).
    checkpoint_path : Path or None
        The last checkpoint written (all finite), if any.
    """

    def __init__(self, iteration: int, what: str, lr: float,
                 checkpoint_path: Path | None = None,
                 checkpoint_iteration: int | None = None) -> None:
        self.iteration, self.what, self.lr = iteration, what, lr
        self.checkpoint_path, self.checkpoint_iteration = checkpoint_path, checkpoint_iteration
        kept = (f"the last good checkpoint is {checkpoint_path} (iteration "
                f"{checkpoint_iteration})" if checkpoint_path is not None
                else "no checkpoint was written")
        super().__init__(f"training diverged at iteration {iteration}: {what} (lr {lr:.3g}); "
                         f"try a lower learning rate, e.g. {lr / 10:.3g}; {kept}")


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); the state was saved to ``checkpoint_path`` if given.

    A ``KeyboardInterrupt``, so code that does not know it still stops; the CLI catches it,
    prints the message and exits with status 130.
    """

    def __init__(self, iteration: int, checkpoint_path: Path | None) -> None:
        self.iteration, self.checkpoint_path = iteration, checkpoint_path
        saved = (f"checkpoint saved to {checkpoint_path}; run the same command to resume"
                 if checkpoint_path is not None else "no checkpoint path was given, nothing saved")
        super().__init__(f"training interrupted at iteration {iteration}: {saved}")
