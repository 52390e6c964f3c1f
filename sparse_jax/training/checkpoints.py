"""Checkpoints of a training state with orbax-checkpoint.

A checkpoint contains a pytree of arrays (parameters, optimiser state, PRNG key
data) and a JSON object (step, data position, best validation score and other
Python scalars). Restoring needs a target pytree of the same structure, such
as a freshly initialised state, so that NamedTuple optimiser states come back
with their types.
"""

import os
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp

_STATE = "state"
_METADATA = "metadata"


class Checkpointer:
    """Saves and restores numbered checkpoints in one folder.

    Saves run in the background; :meth:`wait` or :meth:`close` blocks until
    they are on disk. Only the ``max_to_keep`` newest checkpoints are kept.

    Args:
      directory: the folder of the checkpoints, created when missing.
      max_to_keep: how many of the newest checkpoints to keep on disk.
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 2):
        if not isinstance(max_to_keep, int) or max_to_keep < 1:
            raise ValueError(f"max_to_keep must be a positive int, got {max_to_keep!r}")
        self.directory = pathlib.Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        """Returns the step of the newest checkpoint, or None when there is none."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """Returns the steps of the checkpoints on disk, oldest first."""
        return sorted(self._manager.all_steps())

    def save(self, step: int, state: Any, metadata: dict[str, Any]) -> None:
        """Saves ``state`` (a pytree of arrays) and ``metadata`` (JSON-serialisable) as ``step``.

        Saving a step that already exists does nothing.
        """
        if step in self._manager.all_steps():
            return
        self._manager.save(
            step,
            args=ocp.args.Composite(
                **{_STATE: ocp.args.StandardSave(state), _METADATA: ocp.args.JsonSave(metadata)}
            ),
        )

    def restore(self, target: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """Restores the checkpoint at ``step`` (default: the newest) shaped like ``target``.

        Args:
          target: a pytree with the structure, shapes and dtypes of the saved
            state; its values are not used.
          step: the step to restore; None for the newest.

        Returns:
          ``(state, metadata)``.

        Raises:
          FileNotFoundError: there is no checkpoint (at ``step``) in the folder.
        """
        if step is None:
            step = self.latest_step()
        if step is None or step not in self._manager.all_steps():
            raise FileNotFoundError(
                f"no checkpoint{'' if step is None else f' at step {step}'} in {self.directory}; "
                f"steps on disk: {self.all_steps()}"
            )
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                **{_STATE: ocp.args.StandardRestore(abstract), _METADATA: ocp.args.JsonRestore()}
            ),
        )
        return restored[_STATE], dict(restored[_METADATA])

    def wait(self) -> None:
        """Blocks until every background save has finished."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Waits for background saves and releases the manager."""
        self._manager.close()

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
