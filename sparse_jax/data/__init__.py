"""Datasets: MNIST and whitened natural images, read offline from local files.

Set ``SPARSE_JAX_DATA_DIR`` to the directory that contains ``mnist/``,
``tfds/array_record/`` and ``olshausen/``. Without it the loaders fall back to the
small samples shipped in ``sparse_jax/data/sample``.
"""

from sparse_jax.data._common import DATA_DIR_VARIABLE
from sparse_jax.data.idx import read_idx_images, read_idx_labels
from sparse_jax.data.mnist import Dataset, load_mnist
from sparse_jax.data.natural_images import load_natural_images, sample_patches

__all__ = [
    "DATA_DIR_VARIABLE",
    "Dataset",
    "load_mnist",
    "load_natural_images",
    "read_idx_images",
    "read_idx_labels",
    "sample_patches",
]
