"""Tests for the whitened natural images and patch sampling.

Tests marked ``full_data`` need SPARSE_JAX_DATA_DIR and are skipped without it.
"""

import functools
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sparse_jax.data import DATA_DIR_VARIABLE, load_natural_images, sample_patches

# Statistics of the full IMAGES.npy in float64 arithmetic, per image and overall.
IMAGE_VARIANCES = [0.0994, 0.0423, 0.0771, 0.0724, 0.2004, 0.0998, 0.0805, 0.0578, 0.0470, 0.0139]
OVERALL_VARIANCE = 0.07907
FIRST_PIXEL = 0.34344572  # IMAGES[0, 0, 0] in the (height, width, n_images) file layout

full_data = pytest.mark.full_data


@pytest.fixture
def no_data_dir_variable(monkeypatch):
    monkeypatch.delenv(DATA_DIR_VARIABLE, raising=False)


@pytest.fixture(scope="module")
def sample_images() -> np.ndarray:
    return load_natural_images(source="sample")


def position_images(n_images: int, height: int, width: int) -> jax.Array:
    """Images whose pixel value is its flat index, so a patch reveals where it came from."""
    return jnp.arange(n_images * height * width, dtype=jnp.float32).reshape(n_images, height, width)


def data_log_messages(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "sparse_jax.data"]


# --- Loading -----------------------------------------------------------------


def test_sample_loads_without_environment(no_data_dir_variable, caplog):
    caplog.set_level(logging.INFO, logger="sparse_jax.data")

    images = load_natural_images()

    assert images.shape == (10, 128, 128)
    assert images.dtype == np.float32
    assert np.all(np.isfinite(images))
    messages = data_log_messages(caplog)
    assert len(messages) == 1
    assert "sample" in messages[0]
    assert DATA_DIR_VARIABLE in messages[0]
    assert "data_dir=" in messages[0]


def test_file_source_reads_height_width_n_layout(tmp_path):
    stacked = np.random.default_rng(0).normal(size=(6, 5, 3)).astype(np.float32)
    path = tmp_path / "IMAGES.npy"
    np.save(path, stacked)

    from_file = load_natural_images(source="file", data_dir=path)
    from_directory = load_natural_images(data_dir=tmp_path)

    assert from_file.shape == (3, 6, 5)
    for k in range(3):
        np.testing.assert_array_equal(from_file[k], stacked[:, :, k])
    np.testing.assert_array_equal(from_directory, from_file)


@pytest.mark.parametrize(
    ("array", "pattern"),
    [
        (np.zeros((4, 4), dtype=np.float32), r"expected an array of shape \(height, width"),
        (np.zeros((4, 4, 2), dtype=np.int16), "expected a floating-point array"),
        (np.full((4, 4, 2), np.nan, dtype=np.float32), "NaN or infinite"),
    ],
)
def test_invalid_file_raises(tmp_path, array, pattern):
    path = tmp_path / "IMAGES.npy"
    np.save(path, array)

    with pytest.raises(ValueError, match=pattern):
        load_natural_images(source="file", data_dir=path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"IMAGES\.npy does not exist"):
        load_natural_images(source="file", data_dir=tmp_path)


def test_environment_without_images_raises(monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(tmp_path))

    with pytest.raises(FileNotFoundError) as raised:
        load_natural_images()
    assert str(tmp_path / "olshausen" / "IMAGES.npy") in str(raised.value)


@pytest.mark.parametrize(
    ("arguments", "error", "pattern"),
    [
        ({"source": "mat"}, ValueError, r"source must be one of .*'mat'"),
        ({"source": "sample", "data_dir": "/data"}, ValueError, "data_dir is not used"),
        ({"data_dir": 1.5}, TypeError, "data_dir must be a str, os.PathLike or None"),
    ],
)
def test_invalid_load_arguments_raise(arguments, error, pattern):
    with pytest.raises(error, match=pattern):
        load_natural_images(**arguments)


def test_file_source_without_path_raises(no_data_dir_variable):
    with pytest.raises(ValueError, match=f"source='file' needs data_dir= or {DATA_DIR_VARIABLE}"):
        load_natural_images(source="file")


# --- Patches -------------------------------------------------------------------


def test_patches_shape_and_dtype(sample_images):
    patches = sample_patches(jax.random.key(0), sample_images, num_patches=64)

    assert patches.shape == (64, 144)
    assert patches.dtype == jnp.float32


def test_patches_zero_mean_unit_std(sample_images):
    patches = sample_patches(jax.random.key(1), sample_images, num_patches=256, patch_size=8)
    patches = np.asarray(patches, dtype=np.float64)

    np.testing.assert_allclose(patches.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(patches.std(axis=1), 1.0, rtol=1e-4)


def test_constant_image_gives_zeros():
    images = jnp.full((2, 20, 20), 0.3, dtype=jnp.float32)

    patches = sample_patches(jax.random.key(2), images, num_patches=16, patch_size=5)

    assert np.all(np.isfinite(patches))
    np.testing.assert_array_equal(patches, 0.0)


def test_nearly_constant_patch_uses_std_floor():
    images = jnp.zeros((1, 2, 2), dtype=jnp.float32).at[0, 0, 0].set(1e-8)

    patches = sample_patches(jax.random.key(3), images, num_patches=1, patch_size=2)

    # The std (4.3e-9) is below the floor of 1e-6, so the patch stays near zero.
    assert np.all(np.abs(np.asarray(patches)) < 1e-2)


def test_raw_patches_are_crops():
    n_images, height, width, patch_size = 3, 9, 11, 4
    images = position_images(n_images, height, width)

    patches = sample_patches(
        jax.random.key(4), images, num_patches=2_000, patch_size=patch_size, normalize=False
    )
    patches = np.asarray(patches).astype(np.int64)

    corners = patches[:, 0]
    image_indices = corners // (height * width)
    rows = corners % (height * width) // width
    columns = corners % width
    for patch, k, row, column in zip(patches, image_indices, rows, columns, strict=True):
        expected = images[k, row : row + patch_size, column : column + patch_size]
        np.testing.assert_array_equal(patch, np.asarray(expected).reshape(-1))
    # Every image and every valid corner row and column is drawn, none outside.
    assert sorted(set(image_indices)) == list(range(n_images))
    assert sorted(set(rows)) == list(range(height - patch_size + 1))
    assert sorted(set(columns)) == list(range(width - patch_size + 1))


def test_patch_size_equal_to_image_size():
    images = position_images(2, 5, 5)

    patches = sample_patches(jax.random.key(5), images, num_patches=4, patch_size=5)

    assert patches.shape == (4, 25)


def test_patches_depend_on_key_only(sample_images):
    first = sample_patches(jax.random.key(6), sample_images, num_patches=8)
    again = sample_patches(jax.random.key(6), sample_images, num_patches=8)
    other = sample_patches(jax.random.key(7), sample_images, num_patches=8)

    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_patches_inside_jit_and_with_raw_key(sample_images):
    sample = jax.jit(functools.partial(sample_patches, num_patches=8, patch_size=6))

    from_typed_key = sample(jax.random.key(8), sample_images)
    from_raw_key = sample(jax.random.PRNGKey(8), sample_images)

    assert from_typed_key.shape == (8, 36)
    np.testing.assert_array_equal(from_typed_key, from_raw_key)


@pytest.mark.parametrize(
    ("arguments", "error", "pattern"),
    [
        ({"patch_size": 129}, ValueError, r"patch_size must be between 1 and .* 128.*got 129"),
        ({"patch_size": 0}, ValueError, "patch_size must be between 1"),
        ({"patch_size": 4.0}, TypeError, "patch_size must be an int, got float"),
        ({"num_patches": 0}, ValueError, "num_patches must be at least 1, got 0"),
        ({"num_patches": True}, TypeError, "num_patches must be an int, got bool"),
        ({"normalize": 1}, TypeError, "normalize must be a bool, got int"),
        ({"std_floor": 0.0}, ValueError, "std_floor must be a positive finite number"),
        ({"images": np.zeros((128, 128), np.float32)}, ValueError, r"Add a leading axis"),
        ({"images": np.zeros((1, 8, 8), np.int32)}, TypeError, "floating-point array"),
        ({"images": np.zeros((0, 8, 8), np.float32)}, ValueError, "at least one image"),
        ({"key": 0}, TypeError, "key must be a PRNG key"),
    ],
)
def test_invalid_patch_arguments_raise(sample_images, arguments, error, pattern):
    call = {"key": jax.random.key(0), "images": sample_images, "num_patches": 4}
    call.update(arguments)

    with pytest.raises(error, match=pattern):
        sample_patches(**call)


# --- Full data ---------------------------------------------------------------


@full_data
def test_full_file_statistics(data_dir):
    path = data_dir / "olshausen" / "IMAGES.npy"

    images = load_natural_images(source="file", data_dir=path)

    assert images.shape == (10, 512, 512)
    assert images.dtype == np.float32
    np.testing.assert_allclose(images[0, 0, 0], FIRST_PIXEL, rtol=0, atol=1e-8)
    np.testing.assert_allclose(images.astype(np.float64).var(), OVERALL_VARIANCE, atol=5e-6)
    per_image = images.astype(np.float64).var(axis=(1, 2))
    # The reference values have four decimals, and 0.047051 is listed as 0.0470.
    np.testing.assert_allclose(per_image, IMAGE_VARIANCES, atol=1e-4)
    stacked = np.load(path)
    for k in range(10):
        np.testing.assert_array_equal(images[k], stacked[:, :, k])


@full_data
def test_full_auto_uses_environment(data_dir, monkeypatch, caplog):
    monkeypatch.setenv(DATA_DIR_VARIABLE, str(data_dir))
    caplog.set_level(logging.INFO, logger="sparse_jax.data")

    images = load_natural_images()

    assert images.shape == (10, 512, 512)
    messages = data_log_messages(caplog)
    assert len(messages) == 1
    assert str(data_dir / "olshausen" / "IMAGES.npy") in messages[0]


@full_data
def test_full_sample_is_top_left_crop(data_dir):
    full = load_natural_images(source="file", data_dir=data_dir / "olshausen")
    sample = load_natural_images(source="sample")

    np.testing.assert_array_equal(sample, full[:, :128, :128])
