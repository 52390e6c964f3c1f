"""Command-line pieces shared by the experiments' ``main.py`` scripts."""

import json
import logging as std_logging
import pathlib
from collections.abc import Collection, Mapping
from typing import Any

from absl import flags, logging
from ml_collections import config_flags


def define_flags(experiment: str) -> pathlib.Path:
    """Defines the ``--config`` and ``--workdir`` flags of one experiment script.

    Args:
      experiment: the experiment's package name under ``experiments/``.

    Returns:
      The default runs folder, ``~/sparse_jax_runs/<experiment>``.
    """
    runs_dir = pathlib.Path("~/sparse_jax_runs") / experiment
    config_flags.DEFINE_config_file(
        "config",
        None,
        f"Path of a configuration file in experiments/{experiment}/configs/.",
        lock_config=True,
    )
    flags.DEFINE_string(
        "workdir",
        None,
        "Folder for the run's configuration, metrics, checkpoints, parameters and figures; "
        f"default {runs_dir}/<config file name without .py>.",
    )
    flags.mark_flags_as_required(["config"])
    return runs_dir


def start_run(argv: list[str], default_runs_dir: pathlib.Path) -> pathlib.Path:
    """Checks the positional arguments, quiets library logs and returns the work directory."""
    from absl import app

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected command-line arguments: {' '.join(argv[1:])}")
    quiet_library_logs()
    return resolve_workdir(flags.FLAGS, default_runs_dir)


def resolve_workdir(flag_values: flags.FlagValues, default_runs_dir: pathlib.Path) -> pathlib.Path:
    """Returns ``--workdir``, or ``default_runs_dir/<config file name without .py>``.

    The path is expanded (``~``) and logged.
    """
    workdir = flag_values.workdir
    if workdir is None:
        config_name = pathlib.Path(config_flags.get_config_filename(flag_values["config"])).stem
        workdir = default_runs_dir / config_name
    workdir = pathlib.Path(workdir).expanduser()
    logging.info("Work directory: %s", workdir)
    return workdir


def quiet_library_logs(packages=("orbax", "jax")) -> None:
    """Drops the INFO records that ``packages`` send through absl logging.

    Orbax logs each step of every checkpoint save at INFO level, about fifty
    lines per run. Warnings and errors from those packages, and every record
    from the experiments themselves, still reach the log.
    """
    markers = tuple(f"/{package}/" for package in packages)

    def keep(record) -> bool:
        return record.levelno > std_logging.INFO or not any(
            marker in record.pathname for marker in markers
        )

    logging.get_absl_logger().addFilter(keep)


def changed_config_fields(
    saved_path: pathlib.Path, config, resumable_fields: Collection[str]
) -> list[str]:
    """Returns the dotted names of the fields where ``config`` differs from a saved run.

    Args:
      saved_path: the run's ``config.json``; a missing file gives no changes.
      config: the ConfigDict of the run that would resume.
      resumable_fields: dotted names that may change on resume; they are not listed.

    Returns:
      The changed fields, sorted; empty when the run may resume.
    """
    if not saved_path.exists():
        return []
    saved = _flatten(json.loads(saved_path.read_text()))
    current = _flatten(json.loads(config.to_json()))
    return sorted(
        name
        for name in saved.keys() | current.keys()
        if name not in resumable_fields and saved.get(name) != current.get(name)
    )


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
