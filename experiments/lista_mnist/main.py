"""Compares trained LISTA encoders with FISTA and ISTA on MNIST.

From the repository root::

  python -m experiments.lista_mnist.main \\
      --config=experiments/lista_mnist/configs/sample.py --workdir=/tmp/lista_sample

Any configuration field can be overridden, e.g. ``--config.lista.epochs=5``.
Without ``--workdir`` the outputs go to
``~/sparse_jax_runs/lista_mnist/<config file name>``. A rerun with the same work
directory reuses the dictionary and the trained encoders saved there.
"""

from absl import app, flags

from experiments._cli import define_flags, start_run
from experiments.lista_mnist import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = define_flags("lista_mnist")


def main(argv: list[str]) -> None:
    workdir = start_run(argv, DEFAULT_RUNS_DIR)

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
