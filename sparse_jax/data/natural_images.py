"""Whitened natural images (Olshausen & Field, 1996) and random patches from them.

The full set is 10 whitened 512 x 512 images of natural scenes, stored as
``IMAGES.npy``: float32 of shape (512, 512, 10), image k at ``IMAGES[:, :, k]``,
the layout of the classic ``IMAGES.mat``. The loader returns them as
(n_images, height, width). The shipped sample is the top-left 128 x 128 crop of
each of the 10 images.

References:
  B. A. Olshausen and D. J. Field. Emergence of simple-cell receptive field
  properties by learning a sparse code for natural images. Nature 381, 1996.
"""

import functools
import math
import numbers
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from sparse_jax.data import _common

SOURCES = ("auto", "file", "sample")
FILE_NAME = "IMAGES.npy"
SAMPLE_FILE = "natural_images_sample.npz"
DEFAULT_STD_FLOOR = 1e-6


def load_natural_images(
    *,
    source: str = "auto",
    data_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Loads the whitened natural images without network access.

    Logs one line on the ``sparse_jax.data`` logger naming the source in use.

    Args:
      source: ``"file"``: an ``.npy`` file of shape (height, width, n_images),
        given by ``data_dir`` or else ``$SPARSE_JAX_DATA_DIR/olshausen/IMAGES.npy``.
        ``"sample"``: the 10 crops of 128 x 128 shipped with the package.
        ``"auto"``: ``data_dir`` when given, else
        ``$SPARSE_JAX_DATA_DIR/olshausen/IMAGES.npy``, else (variable unset or
        empty) the shipped sample.
      data_dir: the ``.npy`` file, or a directory that contains ``IMAGES.npy``.

    Returns:
      float32 array of shape (n_images, height, width): (10, 512, 512) for the full
      file, (10, 128, 128) for the sample.

    Raises:
      FileNotFoundError: the file does not exist.
      ValueError: an invalid argument, or a file that is not a 3-D array of finite
        floats.
      TypeError: an argument of the wrong type.
    """
    source = _common.validate_choice("source", source, SOURCES)
    data_dir = _common.validate_optional_path("data_dir", data_dir)
    environment_dir = _common.data_dir_from_environment()

    if source == "sample" and data_dir is not None:
        raise ValueError(
            f"data_dir is not used with source='sample', got data_dir={str(data_dir)!r}. "
            "Pass source='auto' or 'file' to load from it."
        )
    if source == "sample" or (source == "auto" and data_dir is None and environment_dir is None):
        images = _common.load_sample(SAMPLE_FILE)["images"].astype(np.float32)
        _log_source(images, f"the sample shipped with sparse_jax. {_common.SAMPLE_HINT}")
        return images

    path = _resolve_file(data_dir, environment_dir)
    images = _read_images_file(path)
    _log_source(images, str(path))
    return images


def _resolve_file(data_dir: pathlib.Path | None, environment_dir: pathlib.Path | None):
    if data_dir is not None:
        path = data_dir / FILE_NAME if data_dir.is_dir() else data_dir
    elif environment_dir is not None:
        path = environment_dir / "olshausen" / FILE_NAME
    else:
        raise ValueError(
            f"source='file' needs data_dir= or {_common.DATA_DIR_VARIABLE}, and neither is "
            f"set. data_dir is the .npy file, and {_common.DATA_DIR_VARIABLE} is the root "
            f"that contains olshausen/{FILE_NAME}."
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"Whitened natural images not found: {path} does not exist. Copy "
            f"{FILE_NAME} (float32, shape (512, 512, 10)) there, point data_dir= at it, "
            "or pass source='sample' to use the shipped crops."
        )
    return path


def _read_images_file(path: pathlib.Path) -> np.ndarray:
    try:
        stacked = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read it as a .npy array ({error}).") from error
    if not isinstance(stacked, np.ndarray) or stacked.ndim != 3:
        shape = getattr(stacked, "shape", type(stacked).__name__)
        raise ValueError(
            f"{path}: expected an array of shape (height, width, n_images), got {shape}."
        )
    if not np.issubdtype(stacked.dtype, np.floating):
        raise ValueError(f"{path}: expected a floating-point array, got dtype {stacked.dtype}.")
    if not np.all(np.isfinite(stacked)):
        raise ValueError(f"{path}: the array contains NaN or infinite values.")
    return np.ascontiguousarray(np.moveaxis(stacked, -1, 0), dtype=np.float32)


def _log_source(images: np.ndarray, where: str) -> None:
    n_images, height, width = images.shape
    _common.logger.info(
        "Whitened natural images: %d images of %d x %d from %s", n_images, height, width, where
    )


@functools.partial(jax.jit, static_argnames=("num_patches", "patch_size", "normalize", "std_floor"))
def sample_patches(
    key: jax.Array,
    images: jax.Array,
    *,
    num_patches: int,
    patch_size: int = 12,
    normalize: bool = True,
    std_floor: float = DEFAULT_STD_FLOOR,
) -> jax.Array:
    """Samples random square patches and optionally normalises their contrast.

    Each patch picks an image, a row and a column uniformly at random, so patches
    may overlap and repeat. With ``normalize``, each patch ``x`` becomes
    ``(x - mean(x)) / max(std(x), std_floor)``, with the population standard
    deviation, so every patch has zero mean and unit standard deviation. A
    constant patch becomes exactly zero.

    Args:
      key: a PRNG key from ``jax.random.key`` or ``jax.random.PRNGKey``.
      images: floating array of shape (n_images, height, width).
      num_patches: number of patches, static under ``jit``.
      patch_size: side length in pixels, static under ``jit``, at most
        ``min(height, width)``.
      normalize: remove each patch's mean and divide by its standard deviation.
      std_floor: smallest divisor, static under ``jit``. Patches with a smaller
        standard deviation are divided by it instead, so nearly constant patches
        stay near zero.

    Returns:
      array of shape (num_patches, patch_size * patch_size) and the dtype of
      ``images``, each patch flattened in row-major order.
    """
    _validate_patch_arguments(key, images, num_patches, patch_size, normalize, std_floor)
    n_images, height, width = images.shape

    image_key, row_key, column_key = jax.random.split(key, 3)
    image_indices = jax.random.randint(image_key, (num_patches,), 0, n_images)
    rows = jax.random.randint(row_key, (num_patches,), 0, height - patch_size + 1)
    columns = jax.random.randint(column_key, (num_patches,), 0, width - patch_size + 1)

    def crop(image_index, row, column):
        start = (image_index, row, column)
        return jax.lax.dynamic_slice(images, start, (1, patch_size, patch_size))

    patches = jax.vmap(crop)(image_indices, rows, columns)
    patches = patches.reshape(num_patches, patch_size * patch_size)
    if normalize:
        patches = _normalize_contrast(patches, std_floor)
    return patches


def _normalize_contrast(patches: jax.Array, std_floor: float) -> jax.Array:
    # Subtracting the first pixel makes a constant patch exactly zero before the
    # mean is taken. Its std is then exactly 0, not rounding noise that the
    # division would amplify to values near 1.
    shifted = patches - patches[:, :1]
    centered = shifted - jnp.mean(shifted, axis=1, keepdims=True)
    std = jnp.sqrt(jnp.mean(jnp.square(centered), axis=1, keepdims=True))
    return centered / jnp.maximum(std, std_floor)


def _validate_patch_arguments(key, images, num_patches, patch_size, normalize, std_floor):
    _validate_key(key)
    if not hasattr(images, "shape") or not hasattr(images, "dtype"):
        raise TypeError(
            f"images must be an array of shape (n_images, height, width), got "
            f"{type(images).__name__}"
        )
    if images.ndim != 3:
        raise ValueError(
            f"images must have shape (n_images, height, width), got shape {images.shape}. "
            "Add a leading axis (images[None]) for a single image."
        )
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise TypeError(
            f"images must be a floating-point array, got dtype {images.dtype}. Convert "
            "it first, e.g. images.astype(jnp.float32)."
        )
    n_images, height, width = images.shape
    if n_images < 1:
        raise ValueError(f"images must contain at least one image, got shape {images.shape}")

    if isinstance(num_patches, bool) or not isinstance(num_patches, numbers.Integral):
        raise TypeError(
            f"num_patches must be an int, got {type(num_patches).__name__}: {num_patches!r}"
        )
    if num_patches < 1:
        raise ValueError(f"num_patches must be at least 1, got {num_patches}")
    if isinstance(patch_size, bool) or not isinstance(patch_size, numbers.Integral):
        raise TypeError(
            f"patch_size must be an int, got {type(patch_size).__name__}: {patch_size!r}"
        )
    if not 1 <= patch_size <= min(height, width):
        raise ValueError(
            f"patch_size must be between 1 and min(height, width) = {min(height, width)} "
            f"for images of shape {images.shape}, got {patch_size}"
        )
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be a bool, got {type(normalize).__name__}: {normalize!r}")
    if (
        isinstance(std_floor, bool)
        or not isinstance(std_floor, numbers.Real)
        or not math.isfinite(std_floor)
        or std_floor <= 0
    ):
        raise ValueError(f"std_floor must be a positive finite number, got {std_floor!r}")


def _validate_key(key) -> None:
    dtype = getattr(key, "dtype", None)
    shape = getattr(key, "shape", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if shape != ():
            raise ValueError(f"key must be a single PRNG key of shape (), got shape {shape}")
        return
    if dtype == jnp.uint32 and shape is not None and len(shape) == 1:
        return  # a raw key from jax.random.PRNGKey
    raise TypeError(
        "key must be a PRNG key from jax.random.key(seed) or jax.random.PRNGKey(seed), "
        f"got {type(key).__name__} with dtype {dtype} and shape {shape}"
    )
