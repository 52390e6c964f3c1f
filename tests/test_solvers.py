"""Tests of ISTA, FISTA, the proximal-gradient solver and the Lipschitz estimate."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import sparse_jax
from sparse_jax._compat import enable_x64

pytestmark = pytest.mark.usefixtures("strict_promotion")


def _mnist_digits() -> np.ndarray:
    """Returns MNIST training digits as float64 (n, 784) in [0, 1]."""
    from sparse_jax.data import load_mnist

    return np.asarray(load_mnist("train_full", source="sample").images, np.float64)


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return _mnist_digits()


@pytest.fixture(scope="module")
def coherent(digits) -> np.ndarray:
    """400 random MNIST digits scaled to unit norm, as columns: (784, 400)."""
    rng = np.random.default_rng(0)
    atoms = digits[rng.choice(len(digits), 400, replace=False)]
    atoms = atoms / np.linalg.norm(atoms, axis=1, keepdims=True)
    return np.ascontiguousarray(atoms.T)


@pytest.fixture(scope="module")
def signals(digits) -> np.ndarray:
    """Digits not used as atoms (the first 20 of the last 100)."""
    return digits[-100:-80]


def _objective(dictionary, signal, codes, l1_weight):
    return 0.5 * np.sum((signal - dictionary @ codes) ** 2) + l1_weight * np.abs(codes).sum()


def test_dictionary_is_coherent(coherent):
    gram = coherent.T @ coherent
    np.fill_diagonal(gram, 0)
    assert np.abs(gram).max() > 0.9


def test_fista_matches_sklearn_lasso(coherent, signals):
    from sklearn.linear_model import Lasso

    l1_weight = 0.5
    d = coherent.shape[0]
    codes = sparse_jax.fista(
        jnp.asarray(coherent, jnp.float32),
        jnp.asarray(signals[:10], jnp.float32),
        l1_weight,
        tol=1e-6,
        max_steps=20000,
    )
    for signal, code in zip(signals[:10], np.asarray(codes, np.float64), strict=True):
        lasso = Lasso(
            alpha=l1_weight / d, fit_intercept=False, tol=1e-8, max_iter=100000, precompute=True
        )
        lasso.fit(coherent, signal)
        reference = _objective(coherent, signal, lasso.coef_, l1_weight)
        ours = _objective(coherent, signal, code, l1_weight)
        assert abs(ours - reference) / reference < 1e-4


def test_fista_tol_reaches_duality_gap(coherent, signals):
    l1_weight = 0.5
    result = sparse_jax.proximal_gradient(
        jnp.asarray(coherent, jnp.float32),
        jnp.asarray(signals, jnp.float32),
        sparse_jax.l1_penalty(l1_weight),
        tol=1e-4,
        max_steps=20000,
    )
    assert bool(jnp.all(result.criterion <= 1e-4))
    assert bool(jnp.all(result.num_steps < 20000))
    gaps = jax.vmap(lambda x, z: sparse_jax.lasso_duality_gap(coherent, x, z, l1_weight))(
        jnp.asarray(signals, jnp.float32), result.codes
    )
    # In float32 the solver's gap (through the Gram matrix) and the residual
    # gap round differently by a few percent at this size of gap.
    np.testing.assert_allclose(gaps, result.criterion, rtol=5e-2, atol=1e-6)


def test_ista_objective_never_increases(coherent, signals):
    dictionary = jnp.asarray(coherent, jnp.float32)
    signal = jnp.asarray(signals[0], jnp.float32)
    codes = jnp.zeros(400, jnp.float32)
    lipschitz = sparse_jax.lipschitz_constant(dictionary)
    values = [float(sparse_jax.lasso_energy(dictionary, signal, codes, 0.5))]
    step = jax.jit(
        lambda z: sparse_jax.ista(dictionary, signal, 0.5, num_steps=1, init=z, lipschitz=lipschitz)
    )
    for _ in range(60):
        codes = step(codes)
        values.append(float(sparse_jax.lasso_energy(dictionary, signal, codes, 0.5)))
    increases = np.diff(values)
    assert increases.max() <= 1e-5 * values[0]


def test_fista_not_above_ista(coherent, signals):
    dictionary = jnp.asarray(coherent, jnp.float32)
    batch = jnp.asarray(signals, jnp.float32)
    energy = jax.vmap(lambda x, z: sparse_jax.lasso_energy(dictionary, x, z, 0.5))
    for num_steps in (50, 200):
        fast = energy(batch, sparse_jax.fista(dictionary, batch, 0.5, num_steps=num_steps))
        slow = energy(batch, sparse_jax.ista(dictionary, batch, 0.5, num_steps=num_steps))
        assert bool(jnp.all(fast <= slow * (1 + 1e-6)))


def test_orthogonal_dictionary_closed_form():
    rng = np.random.default_rng(1)
    orthonormal, _ = np.linalg.qr(rng.normal(size=(784, 400)))
    dictionary = jnp.asarray(3 * orthonormal, jnp.float32)
    signal = jnp.asarray(rng.normal(size=784), jnp.float32)
    l1_weight = 0.1

    lipschitz = float(sparse_jax.lipschitz_constant(dictionary))
    assert 1 / lipschitz <= (1 / 9) * (1 + 1e-6)

    codes = sparse_jax.ista(dictionary, signal, l1_weight, num_steps=100)
    expected = sparse_jax.soft_threshold(dictionary.T @ signal, l1_weight) / 9
    np.testing.assert_allclose(codes, expected, atol=1e-5)


def test_zero_l1_weight_gives_least_squares():
    rng = np.random.default_rng(2)
    dictionary = rng.normal(size=(60, 10))
    signal = rng.normal(size=60)
    expected, *_ = np.linalg.lstsq(dictionary, signal, rcond=None)
    codes = sparse_jax.fista(
        jnp.asarray(dictionary, jnp.float32), jnp.asarray(signal, jnp.float32), 0.0, num_steps=500
    )
    np.testing.assert_allclose(codes, expected, atol=1e-4)


def test_lipschitz_within_ten_percent():
    rng = np.random.default_rng(3)
    dictionary = rng.normal(size=(784, 400))
    dictionary /= np.linalg.norm(dictionary, axis=0)
    exact = np.linalg.norm(dictionary, 2) ** 2
    estimate = float(sparse_jax.lipschitz_constant(jnp.asarray(dictionary, jnp.float32)))
    assert exact * (1 - 1e-5) <= estimate <= 1.1 * exact


def test_lipschitz_of_coherent_dictionary(coherent):
    exact = np.linalg.norm(coherent, 2) ** 2
    estimate = float(sparse_jax.lipschitz_constant(jnp.asarray(coherent, jnp.float32)))
    assert exact * (1 - 1e-5) <= estimate <= 1.1 * exact


def test_lipschitz_of_operator_matches_dense():
    rng = np.random.default_rng(4)
    matrix = jnp.asarray(rng.normal(size=(30, 12)), jnp.float32)
    operator = sparse_jax.LinearOperator(
        forward=lambda z: matrix @ z,
        adjoint=lambda r: matrix.T @ r,
        code_shape=(12,),
        signal_shape=(30,),
    )
    np.testing.assert_allclose(
        sparse_jax.lipschitz_constant(operator), sparse_jax.lipschitz_constant(matrix), rtol=1e-5
    )


def test_operator_path_matches_dense_path():
    rng = np.random.default_rng(5)
    matrix = jnp.asarray(rng.normal(size=(30, 12)), jnp.float32)
    signal = jnp.asarray(rng.normal(size=30), jnp.float32)
    operator = sparse_jax.LinearOperator(
        forward=lambda z: matrix @ z,
        adjoint=lambda r: matrix.T @ r,
        code_shape=(12,),
        signal_shape=(30,),
    )
    penalty = sparse_jax.l1_penalty(0.5)
    dense = sparse_jax.proximal_gradient(matrix, signal, penalty, num_steps=300)
    functional = sparse_jax.proximal_gradient(operator, signal, penalty, num_steps=300)
    np.testing.assert_allclose(functional.codes, dense.codes, atol=1e-5)
    np.testing.assert_allclose(functional.criterion, dense.criterion, atol=1e-4)


def test_memory_layouts_give_same_codes(coherent, signals):
    big = np.zeros((784, 800))
    big[:, ::2] = coherent
    layouts = {
        "c_order": np.ascontiguousarray(coherent),
        "fortran_order": np.asfortranarray(coherent),
        "strided_view": big[:, ::2],
    }
    assert not layouts["strided_view"].flags.c_contiguous
    results = {
        name: np.asarray(sparse_jax.fista(matrix, signals[0], 0.5, num_steps=100))
        for name, matrix in layouts.items()
    }
    np.testing.assert_array_equal(results["fortran_order"], results["c_order"])
    np.testing.assert_array_equal(results["strided_view"], results["c_order"])


def test_transposed_dictionary_raises(coherent, signals):
    with pytest.raises(ValueError, match=r"\(400, 784\)") as error:
        sparse_jax.ista(coherent.T, signals[0], 0.5, num_steps=10)
    assert "784" in str(error.value)
    assert "atoms as columns" in str(error.value)


def test_empty_batch_raises(coherent):
    with pytest.raises(ValueError, match="empty batch"):
        sparse_jax.fista(coherent, np.zeros((0, 784)), 0.5, num_steps=10)


def test_nan_signal_raises(coherent):
    signal = np.zeros(784)
    signal[3] = np.nan
    with pytest.raises(ValueError, match="signal contains NaN"):
        sparse_jax.ista(coherent, signal, 0.5, num_steps=10)


def test_mode_arguments_validated(coherent, signals):
    with pytest.raises(ValueError, match="exactly one of num_steps and tol"):
        sparse_jax.fista(coherent, signals[0], 0.5)
    with pytest.raises(ValueError, match="exactly one of num_steps and tol"):
        sparse_jax.fista(coherent, signals[0], 0.5, num_steps=3, tol=1e-3)
    with pytest.raises(ValueError, match="needs max_steps"):
        sparse_jax.fista(coherent, signals[0], 0.5, tol=1e-3)
    with pytest.raises(ValueError, match="l1_weight"):
        sparse_jax.fista(coherent, signals[0], -0.5, num_steps=3)


def test_step_above_inverse_lipschitz_raises(coherent, signals):
    lipschitz = float(sparse_jax.lipschitz_constant(coherent))
    with pytest.raises(ValueError, match=r"step_size=.*above 1/L"):
        sparse_jax.ista(coherent, signals[0], 0.5, num_steps=5, step_size=2 / lipschitz)


def test_traced_large_step_is_reduced(coherent, signals):
    dictionary = jnp.asarray(coherent, jnp.float32)
    signal = jnp.asarray(signals[0], jnp.float32)
    lipschitz = sparse_jax.lipschitz_constant(dictionary)
    solve = jax.jit(
        lambda step: sparse_jax.ista(dictionary, signal, 0.5, num_steps=50, step_size=step)
    )
    reduced = solve(10 / lipschitz)
    default = sparse_jax.ista(dictionary, signal, 0.5, num_steps=50)
    np.testing.assert_allclose(reduced, default, atol=1e-6)


def test_zero_input_gives_zero_code(coherent):
    zero = jnp.zeros(784, jnp.float32)
    dictionary = jnp.asarray(coherent, jnp.float32)
    np.testing.assert_array_equal(sparse_jax.ista(dictionary, zero, 0.5, num_steps=20), 0)
    np.testing.assert_array_equal(sparse_jax.fista(dictionary, zero, 0.5, num_steps=20), 0)
    np.testing.assert_array_equal(
        sparse_jax.fista(dictionary, zero, 0.5, tol=1e-4, max_steps=20), 0
    )


def test_code_same_alone_and_in_batch(coherent, signals):
    with enable_x64():
        batch = jnp.asarray(signals[:8])
        for solver in (sparse_jax.ista, sparse_jax.fista):
            batched = solver(coherent, batch, 0.5, num_steps=100)
            alone = solver(coherent, batch[3], 0.5, num_steps=100)
            np.testing.assert_allclose(alone, batched[3], atol=1e-6)
        batched = sparse_jax.fista(coherent, batch, 0.5, tol=1e-5, max_steps=5000)
        alone = sparse_jax.fista(coherent, batch[3], 0.5, tol=1e-5, max_steps=5000)
        np.testing.assert_allclose(alone, batched[3], atol=1e-6)


def test_code_same_alone_and_in_batch_float32(coherent, signals):
    # A batched float32 matrix product rounds differently from a single one,
    # and on this coherent dictionary FISTA's momentum amplifies the rounding
    # to about 1e-5 in 100 steps; the float64 test above checks the batching.
    dictionary = jnp.asarray(coherent, jnp.float32)
    batch = jnp.asarray(signals[:8], jnp.float32)
    batched = sparse_jax.fista(dictionary, batch, 0.5, num_steps=100)
    alone = sparse_jax.fista(dictionary, batch[3], 0.5, num_steps=100)
    np.testing.assert_allclose(alone, batched[3], atol=1e-4)


def test_vmap_over_l1_weight_matches_loop(coherent, signals):
    with enable_x64():
        signal = jnp.asarray(signals[0])
        weights = jnp.array([0.1, 0.5, 2.0])
        solve = jax.jit(
            jax.vmap(lambda weight: sparse_jax.fista(coherent, signal, weight, num_steps=100))
        )
        swept = solve(weights)
        for index, weight in enumerate([0.1, 0.5, 2.0]):
            single = sparse_jax.fista(coherent, signal, weight, num_steps=100)
            np.testing.assert_allclose(swept[index], single, atol=1e-6)


def test_nonneg_codes_are_nonnegative(coherent, signals):
    codes = sparse_jax.fista(coherent, signals[:4], 0.2, num_steps=200, nonneg=True)
    assert bool(jnp.all(codes >= 0))
    result = sparse_jax.proximal_gradient(
        coherent, signals[:4], sparse_jax.l1_penalty(0.2, nonneg=True), tol=1e-4, max_steps=5000
    )
    assert bool(jnp.all(result.criterion <= 1e-4))


def test_warm_start_from_solution_stops_at_once(coherent, signals):
    penalty = sparse_jax.l1_penalty(0.5)
    first = sparse_jax.proximal_gradient(coherent, signals[0], penalty, tol=1e-4, max_steps=5000)
    again = sparse_jax.proximal_gradient(
        coherent, signals[0], penalty, tol=1e-4, max_steps=5000, init=first.codes
    )
    assert int(again.num_steps) == 0


def test_restart_reaches_same_gap(coherent, signals):
    penalty = sparse_jax.l1_penalty(0.5)
    result = sparse_jax.proximal_gradient(
        coherent, signals[:4], penalty, tol=1e-4, max_steps=5000, restart=True
    )
    assert bool(jnp.all(result.criterion <= 1e-4))


def test_penalty_without_dual_norm_stops_on_code_change(coherent, signals):
    l1 = sparse_jax.l1_penalty(0.5)
    penalty = sparse_jax.Penalty(value=l1.value, prox=l1.prox)
    result = sparse_jax.proximal_gradient(coherent, signals[0], penalty, tol=1e-5, max_steps=20000)
    assert float(result.criterion) <= 1e-5
    gap = sparse_jax.lasso_duality_gap(coherent, signals[0], result.codes, 0.5)
    assert float(gap) < 1e-3


def test_ista_differentiable_float64():
    rng = np.random.default_rng(6)
    with enable_x64():
        dictionary = jnp.asarray(rng.normal(size=(12, 6)))
        signal = jnp.asarray(rng.normal(size=12))

        def loss(matrix, x):
            codes = sparse_jax.ista(matrix, x, 0.1, num_steps=20, lipschitz=40.0)
            return jnp.sum(codes**2)

        check_grads(loss, (dictionary, signal), order=1, modes=("rev",), atol=1e-5, rtol=1e-5)


def test_while_loop_supports_forward_mode():
    rng = np.random.default_rng(7)
    dictionary = jnp.asarray(rng.normal(size=(12, 6)), jnp.float32)
    signal = jnp.asarray(rng.normal(size=12), jnp.float32)
    tangent = jnp.ones(12, jnp.float32)
    _, derivative = jax.jvp(
        lambda x: sparse_jax.fista(dictionary, x, 0.1, tol=1e-5, max_steps=500),
        (signal,),
        (tangent,),
    )
    assert bool(jnp.all(jnp.isfinite(derivative)))


def test_recorded_objectives_match_energy(coherent, signals):
    penalty = sparse_jax.l1_penalty(0.5)
    result = sparse_jax.proximal_gradient(
        coherent, signals[:3], penalty, num_steps=30, record_objectives=True
    )
    assert result.objectives.shape == (3, 30)
    final = jax.vmap(lambda x, z: sparse_jax.lasso_energy(coherent, x, z, 0.5))(
        jnp.asarray(signals[:3], jnp.float32), result.codes
    )
    np.testing.assert_allclose(result.objectives[:, -1], final, rtol=1e-4)
    ista = sparse_jax.proximal_gradient(
        coherent, signals[0], penalty, num_steps=30, record_objectives=True, accelerate=False
    )
    assert float(jnp.max(jnp.diff(ista.objectives))) <= 1e-5 * float(ista.objectives[0])
    with pytest.raises(ValueError, match="record_objectives needs num_steps"):
        sparse_jax.proximal_gradient(
            coherent, signals[0], penalty, tol=1e-3, max_steps=10, record_objectives=True
        )


def test_too_small_lipschitz_raises(coherent, signals):
    lipschitz = float(sparse_jax.lipschitz_constant(coherent))
    with pytest.raises(ValueError, match=r"lipschitz=0 is below"):
        sparse_jax.fista(coherent, signals[0], 0.5, num_steps=5, lipschitz=0.0)
    with pytest.raises(ValueError, match=r"is below σ_max"):
        sparse_jax.fista(coherent, signals[0], 0.5, num_steps=5, lipschitz=lipschitz / 10)
    codes = sparse_jax.fista(coherent, signals[0], 0.5, num_steps=5, lipschitz=lipschitz)
    assert bool(jnp.all(jnp.isfinite(codes)))


def test_zero_step_size_raises(coherent, signals):
    with pytest.raises(ValueError, match="step_size must be positive"):
        sparse_jax.ista(coherent, signals[0], 0.5, num_steps=5, step_size=0.0)


def test_l1_weight_shape_checked(coherent, signals):
    with pytest.raises(ValueError, match=r"l1_weight has shape \(399,\)"):
        sparse_jax.fista(coherent, signals[0], np.full(399, 0.1), num_steps=5)
