"""Trains and evaluates DrSAE on MNIST.

From the repository root::

  python -m experiments.drsae_mnist.main \\
      --config=experiments/drsae_mnist/configs/sample.py --workdir=/tmp/drsae_sample

Any configuration field can be overridden, e.g. ``--config.l1_weight=0.03`` or
``--config.model.num_units=256``. Without ``--workdir`` the outputs go to
``~/sparse_jax_runs/drsae_mnist/<config file name>``. Rerunning with the same
work directory resumes from its newest checkpoint.
"""

import logging as std_logging
import pathlib

from absl import app, flags, logging
from ml_collections import config_flags

from experiments._cli import quiet_library_logs, resolve_workdir
from experiments.drsae_mnist import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = pathlib.Path("~/sparse_jax_runs/drsae_mnist")

config_flags.DEFINE_config_file(
    "config",
    None,
    "Path of a configuration file in experiments/drsae_mnist/configs/.",
    lock_config=True,
)
flags.DEFINE_string(
    "workdir",
    None,
    "Folder for checkpoints, metrics and figures; default "
    f"{DEFAULT_RUNS_DIR}/<config file name without .py>.",
)
flags.mark_flags_as_required(["config"])


class _HideOrbaxInfo(std_logging.Filter):
    """Drops orbax-checkpoint's INFO records (several per save), keeping its warnings."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or "orbax" not in record.pathname


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected command-line arguments: {' '.join(argv[1:])}")
    logging.get_absl_handler().addFilter(_HideOrbaxInfo())
    quiet_library_logs()
    workdir = resolve_workdir(FLAGS, DEFAULT_RUNS_DIR)

    outcome = train.train_and_evaluate(FLAGS.config, workdir)
    if outcome.test_error is None:
        print(f"Stopped at step {outcome.progress.step}; rerun with --workdir={workdir} to resume.")
    else:
        print(
            f"Test error: {100 * outcome.test_error:.2f} % "
            f"(best validation error {_percent(outcome.progress.best_validation_error)} "
            f"at step {outcome.progress.best_step}). Outputs in {workdir}"
        )


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{100 * rate:.2f} %"


if __name__ == "__main__":
    app.run(main)
