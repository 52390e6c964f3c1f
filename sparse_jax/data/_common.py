"""Helpers shared by the dataset loaders: the data directory variable, the shipped
samples, argument checks and the logger."""

import importlib.resources
import logging
import os
import pathlib

import numpy as np

DATA_DIR_VARIABLE = "SPARSE_JAX_DATA_DIR"
SAMPLE_HINT = f"Set {DATA_DIR_VARIABLE} or pass data_dir= to load the full dataset."

logger = logging.getLogger("sparse_jax.data")


def data_dir_from_environment() -> pathlib.Path | None:
    """Returns ``$SPARSE_JAX_DATA_DIR`` as a path, or None when it is unset or empty."""
    value = os.environ.get(DATA_DIR_VARIABLE, "")
    return pathlib.Path(value) if value else None


def load_sample(file_name: str) -> dict[str, np.ndarray]:
    """Reads every array of an ``.npz`` file shipped in ``sparse_jax/data/sample``."""
    resource = importlib.resources.files("sparse_jax.data").joinpath("sample", file_name)
    if not resource.is_file():
        raise FileNotFoundError(
            f"The shipped sample {file_name} is missing from the sparse_jax package "
            f"({resource}). Reinstall sparse_jax or rebuild it with "
            f"scripts/build_data_sample.py. {SAMPLE_HINT}"
        )
    with resource.open("rb") as file, np.load(file) as arrays:
        return {name: arrays[name] for name in arrays.files}


def validate_choice(name: str, value, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def validate_optional_path(name: str, value) -> pathlib.Path | None:
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike):
        raise TypeError(
            f"{name} must be a str, os.PathLike or None, got {type(value).__name__}: {value!r}"
        )
    return pathlib.Path(value)


def validate_bool(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}: {value!r}")
    return value
