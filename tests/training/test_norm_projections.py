"""Tests of the norm projections: the right axis, the radius, and zero slices."""

import jax.numpy as jnp
import numpy as np
import pytest

from sparse_jax.training import clip_norms, normalize_columns

# Columns have norms 5, 0 and 0.5; rows have norms √(9+0.09) and √(16+0.16).
MATRIX = jnp.array([[3.0, 0.0, 0.3], [4.0, 0.0, 0.4]])


def test_clip_columns_bounds_each_column(strict_promotion):
    clipped = clip_norms(MATRIX, 1.0, axis=0)
    np.testing.assert_allclose(clipped[:, 0], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_array_equal(clipped[:, 1], [0.0, 0.0])
    np.testing.assert_array_equal(clipped[:, 2], MATRIX[:, 2])


def test_clip_rows_bounds_each_row(strict_promotion):
    clipped = clip_norms(MATRIX, 1.0, axis=1)
    row_norms = np.linalg.norm(clipped, axis=1)
    np.testing.assert_allclose(row_norms, [1.0, 1.0], rtol=1e-6)
    # A row clip keeps the direction of each row, which a column clip would change.
    np.testing.assert_allclose(clipped[0] / clipped[0, 0], MATRIX[0] / MATRIX[0, 0], rtol=1e-6)


def test_clip_axis_mixup_is_visible():
    by_columns = clip_norms(MATRIX, 1.0, axis=0)
    by_rows = clip_norms(MATRIX, 1.0, axis=1)
    assert np.max(np.linalg.norm(by_rows, axis=0)) > 1.0
    assert np.max(np.linalg.norm(by_columns, axis=1)) < 1.0


def test_clip_negative_axis_counts_from_end():
    np.testing.assert_array_equal(clip_norms(MATRIX, 1.0, axis=-1), clip_norms(MATRIX, 1.0, axis=1))
    np.testing.assert_array_equal(clip_norms(MATRIX, 1.0, axis=-2), clip_norms(MATRIX, 1.0, axis=0))


def test_clip_zero_matrix_stays_zero():
    clipped = clip_norms(jnp.zeros((3, 2)), 0.5, axis=0)
    np.testing.assert_array_equal(clipped, np.zeros((3, 2)))


def test_clip_rejects_nonpositive_radius():
    with pytest.raises(ValueError, match="max_norm must be positive, got 0"):
        clip_norms(MATRIX, 0, axis=0)


def test_clip_rejects_invalid_axis():
    with pytest.raises(ValueError, match=r"axis must be 0 \(columns\) or 1 \(rows\)"):
        clip_norms(MATRIX, 1.0, axis=2)


def test_clip_rejects_vector():
    with pytest.raises(ValueError, match=r"matrix must be 2-D, got shape \(3,\)"):
        clip_norms(jnp.ones(3), 1.0, axis=0)


def test_normalize_columns_unit_sphere(strict_promotion):
    normalized = normalize_columns(MATRIX)
    np.testing.assert_allclose(normalized[:, 0], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(normalized[:, 2], [0.6, 0.8], rtol=1e-6)


def test_normalize_columns_zero_column_stays_zero():
    normalized = normalize_columns(MATRIX)
    np.testing.assert_array_equal(normalized[:, 1], [0.0, 0.0])
    assert bool(jnp.all(jnp.isfinite(normalized)))
