"""Tests of the energies and code statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import sparse_jax
from sparse_jax._compat import enable_x64

pytestmark = pytest.mark.usefixtures("strict_promotion")


def _problem(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    dictionary = rng.normal(size=(20, 8)).astype(dtype)
    signal = rng.normal(size=(20,)).astype(dtype)
    codes = rng.normal(size=(8,)).astype(dtype)
    return dictionary, signal, codes


def test_reconstruction_energy_matches_numpy():
    dictionary, signal, codes = _problem()
    expected = 0.5 * np.sum((signal - dictionary @ codes) ** 2)
    result = sparse_jax.reconstruction_energy(dictionary, signal, codes)
    np.testing.assert_allclose(result, expected, rtol=1e-5)


def test_lasso_energy_adds_weighted_l1():
    dictionary, signal, codes = _problem()
    expected = 0.5 * np.sum((signal - dictionary @ codes) ** 2) + 0.3 * np.abs(codes).sum()
    result = sparse_jax.lasso_energy(dictionary, signal, codes, 0.3)
    np.testing.assert_allclose(result, expected, rtol=1e-5)


def test_lasso_energy_negative_weight_raises():
    dictionary, signal, codes = _problem()
    with pytest.raises(ValueError, match="l1_weight"):
        sparse_jax.lasso_energy(dictionary, signal, codes, -1.0)


def test_energy_shape_errors_name_shapes():
    dictionary, signal, codes = _problem()
    with pytest.raises(ValueError, match=r"signal has shape \(8,\); expected \(20,\)"):
        sparse_jax.reconstruction_energy(dictionary, codes, codes)
    with pytest.raises(ValueError, match=r"codes has shape \(20,\); expected \(8,\)"):
        sparse_jax.reconstruction_energy(dictionary, signal, signal)


def test_energy_gradients_float64():
    with enable_x64():
        dictionary, signal, codes = _problem(np.float64)
        dictionary, signal, codes = map(jnp.asarray, (dictionary, signal, codes))
        check_grads(
            lambda d, x, z: sparse_jax.reconstruction_energy(d, x, z),
            (dictionary, signal, codes),
            order=2,
            modes=("fwd", "rev"),
        )
        # The L1 term is smooth away from zero codes, which _problem avoids.
        check_grads(
            lambda z: sparse_jax.lasso_energy(dictionary, signal, z, 0.3),
            (codes,),
            order=2,
            modes=("fwd", "rev"),
        )


def test_reconstruction_gradient_formula():
    dictionary, signal, codes = _problem()
    gradient = jax.grad(sparse_jax.reconstruction_energy, argnums=2)(dictionary, signal, codes)
    expected = dictionary.T @ (dictionary @ codes - signal)
    np.testing.assert_allclose(gradient, expected, rtol=1e-4, atol=1e-5)


def test_active_fraction():
    codes = jnp.array([[0.0, 1.0, -2.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    assert float(sparse_jax.active_fraction(codes)) == pytest.approx(3 / 8)
    assert float(sparse_jax.active_fraction(codes, threshold=1.5)) == pytest.approx(2 / 8)


def test_active_fraction_empty_raises():
    with pytest.raises(ValueError, match="empty"):
        sparse_jax.active_fraction(jnp.zeros((0,)))


def test_snr_values():
    signal = jnp.array([3.0, 4.0])
    assert float(sparse_jax.reconstruction_snr(signal, jnp.array([3.0, 3.0]))) == pytest.approx(
        10 * np.log10(25.0)
    )
    assert float(sparse_jax.reconstruction_snr(signal, signal)) == np.inf
    zeros = jnp.zeros(2)
    assert float(sparse_jax.reconstruction_snr(zeros, zeros)) == np.inf
    assert float(sparse_jax.reconstruction_snr(zeros, signal)) == -np.inf


def test_snr_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        sparse_jax.reconstruction_snr(jnp.zeros(2), jnp.zeros(3))
