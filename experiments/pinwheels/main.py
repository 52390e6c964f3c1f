"""Trains locally connected topographic sheets and measures their pinwheels.

From the repository root::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.pinwheels.main \\
      --config=experiments/pinwheels/configs/default.py

Any configuration field can be overridden, e.g. ``--config.num_steps=20000``
or ``--config.model.sheet='(96,96)'``. Without ``--workdir`` the outputs go to
``~/sparse_jax_runs/pinwheels/<config file name>``. Rerunning with the same
work directory reuses the seeds already trained.
"""

import pathlib

from absl import app, flags
from ml_collections import config_flags

from experiments._cli import quiet_library_logs, resolve_workdir
from experiments.pinwheels import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = pathlib.Path("~/sparse_jax_runs/pinwheels")

config_flags.DEFINE_config_file(
    "config",
    None,
    "Path of a configuration file in experiments/pinwheels/configs/.",
    lock_config=True,
)
flags.DEFINE_string(
    "workdir",
    None,
    "Folder for parameters, measurements, metrics and figures; default "
    f"{DEFAULT_RUNS_DIR}/<config file name without .py>.",
)
flags.mark_flags_as_required(["config"])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected command-line arguments: {' '.join(argv[1:])}")
    quiet_library_logs()
    workdir = resolve_workdir(FLAGS, DEFAULT_RUNS_DIR)

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
