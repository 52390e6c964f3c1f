"""Tests of the unrolled LISTA / DrSAE encoder."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import sparse_jax
from sparse_jax._compat import enable_x64

pytestmark = pytest.mark.usefixtures("strict_promotion")


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    dictionary = rng.normal(size=(64, 32))
    dictionary /= np.linalg.norm(dictionary, axis=0)
    signals = rng.normal(size=(6, 64))
    return jnp.asarray(dictionary, jnp.float32), jnp.asarray(signals, jnp.float32)


@pytest.mark.parametrize("nonneg", [False, True])
@pytest.mark.parametrize("num_steps", [1, 5, 40])
def test_ista_initialisation_equals_ista(problem, nonneg, num_steps):
    dictionary, signals = problem
    l1_weight = 0.2
    params = sparse_jax.lista_params_from_dictionary(dictionary, l1_weight)
    lista = sparse_jax.lista_encode(*params, signals, num_steps=num_steps, nonneg=nonneg)
    ista = sparse_jax.ista(dictionary, signals, l1_weight, num_steps=num_steps, nonneg=nonneg)
    np.testing.assert_allclose(lista, ista, atol=1e-5)


def test_params_shapes_and_formula(problem):
    dictionary, _ = problem
    lipschitz = 5.0
    params = sparse_jax.lista_params_from_dictionary(dictionary, 0.5, lipschitz=lipschitz)
    assert params.encoder.shape == (32, 64)
    assert params.recurrent.shape == (32, 32)
    assert params.threshold.shape == (32,)
    np.testing.assert_allclose(params.encoder, dictionary.T / lipschitz, rtol=1e-6)
    np.testing.assert_allclose(
        params.recurrent, np.eye(32) - dictionary.T @ dictionary / lipschitz, atol=1e-6
    )
    np.testing.assert_allclose(params.threshold, 0.1, rtol=1e-6)


def test_program_size_independent_of_steps(problem):
    dictionary, signals = problem
    params = sparse_jax.lista_params_from_dictionary(dictionary, 0.2)

    def count(num_steps):
        encode = lambda x: sparse_jax.lista_encode(*params, x, num_steps=num_steps, nonneg=True)  # noqa: E731
        loss = lambda p, x: jnp.sum(  # noqa: E731
            sparse_jax.lista_encode(*p, x, num_steps=num_steps, nonneg=True) ** 2
        )
        forward = len(jax.make_jaxpr(encode)(signals[0]).jaxpr.eqns)
        backward = len(jax.make_jaxpr(jax.grad(loss))(params, signals[0]).jaxpr.eqns)
        return forward, backward

    short, long = count(5), count(50)
    assert abs(long[0] - short[0]) <= 0.1 * short[0]
    assert abs(long[1] - short[1]) <= 0.1 * short[1]


def test_zero_input_gives_zero_code(problem):
    dictionary, _ = problem
    params = sparse_jax.lista_params_from_dictionary(dictionary, 0.2)
    codes = sparse_jax.lista_encode(*params, jnp.zeros(64, jnp.float32), num_steps=11, nonneg=True)
    np.testing.assert_array_equal(codes, 0)
    codes = sparse_jax.lista_encode(*params, jnp.zeros(64, jnp.float32), num_steps=11)
    np.testing.assert_array_equal(codes, 0)


def test_same_alone_and_in_batch(problem):
    dictionary, signals = problem
    params = sparse_jax.lista_params_from_dictionary(dictionary, 0.2)
    batch = sparse_jax.lista_encode(*params, signals, num_steps=11, nonneg=True)
    alone = sparse_jax.lista_encode(*params, signals[2], num_steps=11, nonneg=True)
    np.testing.assert_allclose(alone, batch[2], atol=1e-6)


def test_negative_threshold_allowed_as_bias(problem):
    dictionary, signals = problem
    params = sparse_jax.lista_params_from_dictionary(dictionary, 0.2)
    bias = -jnp.ones(32, jnp.float32)
    codes = sparse_jax.lista_encode(
        params.encoder, params.recurrent, bias, signals, num_steps=3, nonneg=True
    )
    assert bool(jnp.all(jnp.isfinite(codes)))
    assert bool(jnp.all(codes >= 0))


def test_shape_errors_name_shapes(problem):
    dictionary, signals = problem
    params = sparse_jax.lista_params_from_dictionary(dictionary, 0.2)
    with pytest.raises(ValueError, match=r"recurrent has shape \(31, 31\)"):
        sparse_jax.lista_encode(
            params.encoder, params.recurrent[:31, :31], params.threshold, signals, num_steps=2
        )
    with pytest.raises(ValueError, match=r"signal has shape \(6, 63\); expected \(64,\)"):
        sparse_jax.lista_encode(*params, signals[:, :63], num_steps=2)
    with pytest.raises(ValueError, match="empty batch"):
        sparse_jax.lista_encode(*params, signals[:0], num_steps=2)
    with pytest.raises(ValueError, match="num_steps"):
        sparse_jax.lista_encode(*params, signals, num_steps=0)


def test_gradients_float64():
    rng = np.random.default_rng(1)
    with enable_x64():
        dictionary = rng.normal(size=(10, 5))
        dictionary /= np.linalg.norm(dictionary, axis=0)
        params = sparse_jax.lista_params_from_dictionary(jnp.asarray(dictionary), 0.05)
        signal = jnp.asarray(rng.normal(size=10))

        def loss(encoder, recurrent, threshold):
            codes = sparse_jax.lista_encode(
                encoder, recurrent, threshold, signal, num_steps=4, nonneg=False
            )
            return jnp.sum(codes**2)

        check_grads(loss, tuple(params), order=1, modes=("fwd", "rev"), atol=1e-5, rtol=1e-5)


def test_zero_lipschitz_raises(problem):
    dictionary, _ = problem
    with pytest.raises(ValueError, match="lipschitz must be positive"):
        sparse_jax.lista_params_from_dictionary(dictionary, 0.1, lipschitz=0.0)


def test_integer_signal_raises(problem):
    dictionary, _ = problem
    params = sparse_jax.lista_params_from_dictionary(dictionary, 0.1)
    with pytest.raises(TypeError, match="signal must have a floating dtype"):
        sparse_jax.lista_encode(*params, jnp.ones(64, jnp.int32), num_steps=2)
