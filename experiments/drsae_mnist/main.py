"""Trains and evaluates DrSAE on MNIST.

From the repository root::

  python -m experiments.drsae_mnist.main \\
      --config=experiments/drsae_mnist/configs/sample.py --workdir=/tmp/drsae_sample

Any configuration field can be overridden, e.g. ``--config.l1_weight=0.03`` or
``--config.model.num_units=256``. Without ``--workdir`` the outputs go to
``~/sparse_jax_runs/drsae_mnist/<config file name>``. Rerunning with the same
work directory resumes from its newest checkpoint.
"""

from absl import app, flags

from experiments._cli import define_flags, start_run
from experiments.drsae_mnist import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = define_flags("drsae_mnist")


def main(argv: list[str]) -> None:
    workdir = start_run(argv, DEFAULT_RUNS_DIR)

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
