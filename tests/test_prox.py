"""Tests of the soft-threshold operator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sparse_jax

pytestmark = pytest.mark.usefixtures("strict_promotion")

VALUES = jnp.array([-2.0, -0.5, 0.0, 0.5, 2.0])


def test_zero_threshold_is_identity():
    result = sparse_jax.soft_threshold(VALUES, 0.0)
    np.testing.assert_array_equal(result, VALUES)


def test_unit_threshold():
    result = sparse_jax.soft_threshold(VALUES, 1.0)
    np.testing.assert_array_equal(result, [-1.0, 0.0, 0.0, 0.0, 1.0])


def test_per_coordinate_threshold():
    threshold = jnp.array([0.0, 1.0, 0.0, 1.0, 0.0])
    result = sparse_jax.soft_threshold(VALUES, threshold)
    np.testing.assert_array_equal(result, [-2.0, 0.0, 0.0, 0.0, 2.0])


def test_negative_threshold_raises():
    with pytest.raises(ValueError, match=r"threshold.*-0\.1"):
        sparse_jax.soft_threshold(VALUES, -0.1)


def test_nan_threshold_raises():
    with pytest.raises(ValueError, match="threshold must be finite"):
        sparse_jax.soft_threshold(VALUES, float("nan"))


def test_threshold_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"threshold of shape \(3,\)"):
        sparse_jax.soft_threshold(VALUES, jnp.ones(3))


def test_nonneg_variant():
    result = sparse_jax.soft_threshold(VALUES, 0.25, nonneg=True)
    np.testing.assert_array_equal(result, [0.0, 0.0, 0.0, 0.25, 1.75])


def test_traced_negative_threshold_gives_nan():
    result = jax.jit(sparse_jax.soft_threshold)(VALUES, jnp.float32(-0.1))
    assert bool(jnp.all(jnp.isnan(result)))


def test_traced_valid_threshold_matches_eager():
    jitted = jax.jit(sparse_jax.soft_threshold)(VALUES, jnp.float32(1.0))
    np.testing.assert_array_equal(jitted, sparse_jax.soft_threshold(VALUES, 1.0))


def test_matches_numpy_reference():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(50,)).astype(np.float32)
    threshold = rng.uniform(0, 1, size=(50,)).astype(np.float32)
    expected = np.sign(values) * np.maximum(np.abs(values) - threshold, 0)
    result = sparse_jax.soft_threshold(jnp.asarray(values), jnp.asarray(threshold))
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-7)


def test_batched_with_vmap():
    batch = jnp.stack([VALUES, 2 * VALUES])
    result = jax.vmap(lambda v: sparse_jax.soft_threshold(v, 1.0))(batch)
    np.testing.assert_array_equal(result[1], sparse_jax.soft_threshold(2 * VALUES, 1.0))


def test_gradient_away_from_kinks():
    gradient = jax.grad(lambda v: jnp.sum(sparse_jax.soft_threshold(v, 1.0)))(VALUES)
    np.testing.assert_array_equal(gradient, [1.0, 0.0, 0.0, 0.0, 1.0])


def test_integer_values_are_not_truncated():
    result = sparse_jax.soft_threshold(jnp.arange(5), 1.5)
    np.testing.assert_allclose(result, [0.0, 0.0, 0.5, 1.5, 2.5])


def test_non_numeric_threshold_raises():
    with pytest.raises(TypeError, match="threshold must be a number"):
        sparse_jax.soft_threshold(VALUES, None)
    with pytest.raises(TypeError, match="threshold must be a number"):
        sparse_jax.soft_threshold(VALUES, "a")
