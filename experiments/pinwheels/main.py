"""Trains locally connected topographic sheets and measures their pinwheels.

From the repository root::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.pinwheels.main \\
      --config=experiments/pinwheels/configs/default.py

Any configuration field can be overridden, e.g. ``--config.num_steps=20000``
or ``--config.model.sheet='(96,96)'``. Without ``--workdir`` the outputs go to
``~/sparse_jax_runs/pinwheels/<config file name>``. Rerunning with the same
work directory reuses the seeds already trained.
"""

from absl import app, flags

from experiments._cli import define_flags, start_run
from experiments.pinwheels import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = define_flags("pinwheels")


def main(argv: list[str]) -> None:
    workdir = start_run(argv, DEFAULT_RUNS_DIR)

    results = train.train_and_evaluate(FLAGS.config, workdir)
    for run in results["seeds"]:
        for prefix, label in (
            ("", "raw map"),
            ("smoothed_", "smoothed map"),
            ("shuffled_", "shuffled control"),
            ("shuffled_smoothed_", "smoothed shuffled control"),
        ):
            print(
                f"seed {run['seed']}, {label}: Λ = {run[prefix + 'spacing']:.2f} units, "
                f"{run[prefix + 'pinwheels']} pinwheels, {run[prefix + 'density']:.2f} per Λ²"
            )
    density = results["density"]
    interval = ""
    if "ci95_low" in density:
        interval = (
            f" (95 % interval over seeds {density['ci95_low']:.2f} to {density['ci95_high']:.2f})"
        )
    print(
        f"Mean pinwheel density {density['mean']:.2f} per Λ²{interval}; "
        f"Kaschube et al. (2010) measured about π = {results['kaschube_density']:.2f}. "
        f"Outputs in {workdir}"
    )


if __name__ == "__main__":
    app.run(main)
