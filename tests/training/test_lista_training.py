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


def _reference_lasso_step(optimizer, dictionary, opt_state, signals, l1_weight, rate, nonneg):
    """Computes one lasso step by hand with sparse_jax.fista (the reference for the default)."""
    codes = sparse_jax.fista(dictionary, signals, l1_weight, num_steps=20, nonneg=nonneg)

    def reconstruction(matrix):
        return 0.5 * jnp.mean(jnp.sum((signals - codes @ matrix.T) ** 2, axis=1))

    value, gradient = jax.value_and_grad(reconstruction)(dictionary)
    updates, opt_state = optimizer.update(
        gradient, opt_state, dictionary, learning_rates={"params": rate}
    )
    dictionary = sparse_jax.training.normalize_columns(dictionary + updates)
    objective = value + l1_weight * jnp.mean(jnp.sum(jnp.abs(codes), axis=1))
    return dictionary, opt_state, objective, value, sparse_jax.active_fraction(codes)


@pytest.mark.parametrize("nonneg", [False, True])
def test_dictionary_step_default_matches_lasso(problem, nonneg):
    dictionary, signals = problem
    optimizer = lista_training.single_group_adam()
    step = lista_training.make_dictionary_learning_step(optimizer, num_steps=20, nonneg=nonneg)
    state = optimizer.init(dictionary)
    expected_dictionary, expected_state = dictionary, state
    for _ in range(3):
        dictionary, state, metrics = step(dictionary, state, signals, 0.1, 1e-2)
        expected_dictionary, expected_state, objective, reconstruction, active = (
            _reference_lasso_step(
                optimizer, expected_dictionary, expected_state, signals, 0.1, 1e-2, nonneg
            )
        )
        np.testing.assert_allclose(dictionary, expected_dictionary, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(metrics.objective, objective, rtol=1e-5)
        np.testing.assert_allclose(metrics.reconstruction, reconstruction, rtol=1e-5)
        np.testing.assert_allclose(metrics.active_fraction, active, atol=1e-6)


def test_dictionary_step_firing_per_atom(problem):
    dictionary, signals = problem
    optimizer = lista_training.single_group_adam()
    step = lista_training.make_dictionary_learning_step(optimizer, num_steps=20)
    _, _, metrics = step(dictionary, optimizer.init(dictionary), signals, 0.1, 1e-2)
    codes = sparse_jax.fista(dictionary, signals, 0.1, num_steps=20)
    assert metrics.firing.shape == (16,)
    np.testing.assert_allclose(metrics.firing, np.mean(np.asarray(codes) != 0, axis=0), atol=1e-6)
    np.testing.assert_allclose(jnp.mean(metrics.firing), metrics.active_fraction, atol=1e-6)


@pytest.fixture(scope="module")
def tree_problem():
    """Signals made of root-to-node paths of a 13-atom tree (branching 3, 3 levels)."""
    rng = np.random.default_rng(2)
    parents = sparse_jax.inhibition.balanced_forest(1, 3, 3)
    num_atoms = parents.size
    dictionary = rng.normal(size=(40, num_atoms))
    dictionary /= np.linalg.norm(dictionary, axis=0)
    codes = np.zeros((96, num_atoms))
    for row in codes:
        node = int(rng.integers(num_atoms))
        while node >= 0:
            row[node] = rng.choice([-1, 1]) * rng.uniform(0.5, 1.5)
            node = int(parents[node])
    signals = codes @ dictionary.T + 0.01 * rng.normal(size=(96, 40))
    return parents, jnp.asarray(signals, jnp.float32)


def _random_unit_atoms(shape, seed):
    atoms = np.random.default_rng(seed).normal(size=shape)
    return jnp.asarray(atoms / np.linalg.norm(atoms, axis=0), jnp.float32)


def _tree_penalty(parents):
    groups = sparse_jax.groups.tree(parents)
    return lambda weight: sparse_jax.tree_lasso_penalty(groups, weight)


def test_tree_dictionary_step_lowers_objective(tree_problem):
    parents, signals = tree_problem
    dictionary = _random_unit_atoms((40, parents.size), seed=3)
    optimizer = lista_training.single_group_adam()
    opt_state = optimizer.init(dictionary)
    step = lista_training.make_dictionary_learning_step(
        optimizer, num_steps=30, penalty=_tree_penalty(parents)
    )
    objectives = []
    for _ in range(60):
        dictionary, opt_state, metrics = step(dictionary, opt_state, signals, 0.05, 1e-2)
        objectives.append(float(metrics.objective))
    assert np.all(np.isfinite(objectives))
    assert objectives[-1] < 0.7 * objectives[0]
    np.testing.assert_allclose(jnp.linalg.norm(dictionary, axis=0), 1, atol=1e-6)


def test_tree_dictionary_objective_uses_tree_norm(tree_problem):
    parents, signals = tree_problem
    dictionary = _random_unit_atoms((40, parents.size), seed=3)
    penalty = _tree_penalty(parents)(0.05)
    optimizer = lista_training.single_group_adam()
    step = lista_training.make_dictionary_learning_step(
        optimizer, num_steps=30, penalty=_tree_penalty(parents)
    )
    _, _, metrics = step(dictionary, optimizer.init(dictionary), signals, 0.05, 1e-2)
    codes = jax.jit(
        lambda matrix, x: sparse_jax.proximal_gradient(matrix, x, penalty, num_steps=30).codes
    )(dictionary, signals)
    residual = signals - codes @ dictionary.T
    reconstruction = 0.5 * jnp.mean(jnp.sum(residual**2, axis=1))
    expected = reconstruction + jnp.mean(jax.jit(jax.vmap(penalty.value))(codes))
    np.testing.assert_allclose(metrics.reconstruction, reconstruction, rtol=1e-5)
    np.testing.assert_allclose(metrics.objective, expected, rtol=1e-5)


def test_tree_dictionary_codes_are_rooted_subtrees(tree_problem):
    # With a batch of one signal, ``firing`` is the support of its code.
    parents, signals = tree_problem
    dictionary = _random_unit_atoms((40, parents.size), seed=4)
    children = np.flatnonzero(parents >= 0)
    optimizer = lista_training.single_group_adam()
    opt_state = optimizer.init(dictionary)
    tree_step = lista_training.make_dictionary_learning_step(
        optimizer, num_steps=30, penalty=_tree_penalty(parents)
    )
    lasso_step = lista_training.make_dictionary_learning_step(optimizer, num_steps=30)

    partial_supports = 0
    lasso_violations = 0
    for index in range(32):
        signal = signals[index : index + 1]
        _, _, metrics = tree_step(dictionary, opt_state, signal, 0.2, 1e-2)
        support = np.asarray(metrics.firing) > 0
        orphans = children[support[children] & ~support[parents[children]]]
        assert orphans.size == 0, f"signal {index}: nodes {orphans} are active, parents not"
        partial_supports += 0 < support.sum() < parents.size

        _, _, metrics = lasso_step(dictionary, opt_state, signal, 0.2, 1e-2)
        support = np.asarray(metrics.firing) > 0
        lasso_violations += np.any(support[children] & ~support[parents[children]])
    # The check is not vacuous: supports are neither empty nor full, and the
    # lasso codes of the same signals break the rule.
    assert partial_supports >= 16
    assert lasso_violations >= 8


def test_dictionary_step_rejects_nonneg_with_custom_penalty():
    with pytest.raises(ValueError, match="nonneg=True only applies to the default L1 penalty"):
        lista_training.make_dictionary_learning_step(
            lista_training.single_group_adam(),
            num_steps=5,
            nonneg=True,
            penalty=sparse_jax.l1_penalty,
        )


def test_dictionary_step_rejects_non_callable_penalty():
    with pytest.raises(TypeError, match="penalty must be a function"):
        lista_training.make_dictionary_learning_step(
            lista_training.single_group_adam(), num_steps=5, penalty=sparse_jax.l1_penalty(0.1)
        )


def test_dictionary_step_rejects_weight_shape(problem):
    dictionary, signals = problem
    optimizer = lista_training.single_group_adam()
    step = lista_training.make_dictionary_learning_step(optimizer, num_steps=5)
    with pytest.raises(ValueError, match=r"l1_weight has shape \(3,\); expected a scalar"):
        step(dictionary, optimizer.init(dictionary), signals, jnp.ones(3), 1e-2)
