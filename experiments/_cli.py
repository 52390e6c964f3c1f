"""Command-line pieces shared by the experiments' ``main.py`` scripts."""

import pathlib

from absl import flags, logging
from ml_collections import config_flags


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
