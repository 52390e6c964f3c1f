"""Test-wide settings: strict shapes everywhere, strict dtypes around our own code.

Rank promotion raises, so a silent broadcast of ``(n, 1)`` against ``(n,)``
fails a test instead of producing a wrong matrix. Warnings are errors through
``filterwarnings`` in ``pyproject.toml``. Strict dtype promotion is a fixture
for the tests of sparse_jax's pure functions only, because optax's Adam mixes
an integer step count with float parameters.
"""

import os
import pathlib

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")

DATA_DIR_VARIABLE = "SPARSE_JAX_DATA_DIR"


@pytest.fixture
def strict_promotion():
    """Runs the test under ``jax.numpy_dtype_promotion('strict')``."""
    with jax.numpy_dtype_promotion("strict"):
        yield


@pytest.fixture(scope="session")
def data_dir() -> pathlib.Path:
    """The full datasets directory, or a skip when it is not configured."""
    value = os.environ.get(DATA_DIR_VARIABLE)
    if not value:
        pytest.skip(f"{DATA_DIR_VARIABLE} is not set; full-data tests need the dataset directory")
    path = pathlib.Path(value)
    if not path.is_dir():
        pytest.fail(f"{DATA_DIR_VARIABLE}={value} is not a directory")
    return path
