"""Compares trained LISTA encoders with FISTA and ISTA on MNIST.

From the repository root::

  python -m experiments.lista_mnist.main \\
      --config=experiments/lista_mnist/configs/sample.py --workdir=/tmp/lista_sample

Any configuration field can be overridden, e.g. ``--config.lista.epochs=5``.
Without ``--workdir`` the outputs go to
``~/sparse_jax_runs/lista_mnist/<config file name>``. A rerun with the same work
directory reuses the dictionary and the trained encoders saved there.
"""

import pathlib

from absl import app, flags
from ml_collections import config_flags

from experiments._cli import quiet_library_logs, resolve_workdir
from experiments.lista_mnist import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = pathlib.Path("~/sparse_jax_runs/lista_mnist")

config_flags.DEFINE_config_file(
    "config", None, "Path of a configuration file in experiments/lista_mnist/configs/."
)
flags.DEFINE_string(
    "workdir",
    None,
    f"Folder for the dictionary, encoders, metrics and figures; default "
    f"{DEFAULT_RUNS_DIR}/<config file name without .py>.",
)
flags.mark_flags_as_required(["config"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected command-line arguments: {' '.join(argv[1:])}")
    quiet_library_logs()
    workdir = resolve_workdir(FLAGS, DEFAULT_RUNS_DIR)

    results = train.train_and_evaluate(FLAGS.config, workdir)
    print(f"Optimal mean objective {results['optimal_objective']:.4f}")
    print("T  LISTA objective  code error  FISTA steps  ISTA steps")
    for row in results["lista"]:
        print(
            f"{row['lista_steps']:<2} {row['objective']:15.4f} {row['relative_code_error']:11.3f} "
            f"{_steps(row['fista_steps_to_match']):>12} {_steps(row['ista_steps_to_match']):>11}"
        )
    print(f"Outputs in {workdir}")


def _steps(value) -> str:
    return "> curve" if value is None else str(value)


if __name__ == "__main__":
    app.run(main)
