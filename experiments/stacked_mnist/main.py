"""Compares pretrained and randomly initialised two-layer conv nets on MNIST.

From the repository root::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.stacked_mnist.main \\
      --config=experiments/stacked_mnist/configs/default.py

Any configuration field can be overridden, e.g. ``--config.finetune.num_steps=3000``
or ``--config.seeds='(0,)'``. Without ``--workdir`` the outputs go to
``~/sparse_jax_runs/stacked_mnist/<config file name>``. Rerunning with the
same work directory reuses the pretrained encoders and the finished runs.
"""

from absl import app, flags

from experiments._cli import define_flags, start_run
from experiments.stacked_mnist import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = define_flags("stacked_mnist")


def main(argv: list[str]) -> None:
    workdir = start_run(argv, DEFAULT_RUNS_DIR)

    results = train.train_and_evaluate(FLAGS.config, workdir)
    print(f"Architecture: {results['architecture']}")
    print(train.results_table(results["summary"]))
    print(f"Outputs in {workdir}")


if __name__ == "__main__":
    app.run(main)
