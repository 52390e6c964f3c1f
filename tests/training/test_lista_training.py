"""Tests of lasso dictionary learning and LISTA regression training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sparse_jax
from sparse_jax.training import lista as lista_training


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    dictionary = rng.normal(size=(40, 16))
    dictionary /= np.linalg.norm(dictionary, axis=0)
    codes = rng.normal(size=(64, 16)) * (rng.uniform(size=(64, 16)) < 0.2)
    signals = codes @ dictionary.T + 0.01 * rng.normal(size=(64, 40))
    return jnp.asarray(dictionary, jnp.float32), jnp.asarray(signals, jnp.float32)


def test_dictionary_step_keeps_unit_atoms(problem):
    dictionary, signals = problem
    optimizer = lista_training.single_group_adam()
    opt_state = optimizer.init(dictionary)
    step = lista_training.make_dictionary_learning_step(optimizer, num_steps=20)
    for _ in range(3):
        dictionary, opt_state, metrics = step(dictionary, opt_state, signals, 0.1, 1e-2)
    np.testing.assert_allclose(jnp.linalg.norm(dictionary, axis=0), 1, atol=1e-6)
    assert np.isfinite(float(metrics.objective))


def test_dictionary_learning_lowers_objective(problem):
    _, signals = problem
    rng = np.random.default_rng(1)
    start = rng.normal(size=(40, 16))
    dictionary = jnp.asarray(start / np.linalg.norm(start, axis=0), jnp.float32)
    optimizer = lista_training.single_group_adam()
    opt_state = optimizer.init(dictionary)
    step = lista_training.make_dictionary_learning_step(optimizer, num_steps=30)
    objectives = []
    for _ in range(60):
        dictionary, opt_state, metrics = step(dictionary, opt_state, signals, 0.05, 1e-2)
        objectives.append(float(metrics.objective))
    assert objectives[-1] < 0.7 * objectives[0]


def test_lista_training_beats_ista_initialisation(problem):
    dictionary, signals = problem
    targets = sparse_jax.fista(dictionary, signals, 0.1, tol=1e-5, max_steps=5000)
    params = sparse_jax.lista_params_from_dictionary(dictionary, 0.1)
    _, initial_error = lista_training.lista_regression_loss(params, signals, targets, num_steps=2)
    optimizer = lista_training.single_group_adam()
    opt_state = optimizer.init(params)
    step = lista_training.make_lista_train_step(optimizer, num_steps=2)
    for _ in range(200):
        params, opt_state, metrics = step(params, opt_state, signals, targets, 3e-3)
    assert float(metrics.relative_code_error) < 0.5 * float(initial_error)


def test_regression_loss_shape_error_names_shapes(problem):
    dictionary, signals = problem
    params = sparse_jax.lista_params_from_dictionary(dictionary, 0.1)
    with pytest.raises(ValueError, match=r"targets \(64, 15\); expected \(n, d\) and \(n, 16\)"):
        lista_training.lista_regression_loss(params, signals, jnp.zeros((64, 15)), num_steps=2)


def test_regression_loss_zero_targets_finite(problem):
    dictionary, signals = problem
    params = sparse_jax.lista_params_from_dictionary(dictionary, 0.1)
    loss, error = lista_training.lista_regression_loss(
        params, jnp.zeros_like(signals), jnp.zeros((64, 16)), num_steps=3
    )
    assert float(loss) == 0.0
    assert float(error) == 0.0
    gradient = jax.grad(
        lambda p: lista_training.lista_regression_loss(
            p, jnp.zeros_like(signals), jnp.zeros((64, 16)), num_steps=3
        )[0]
    )(params)
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(gradient))
