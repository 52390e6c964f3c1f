"""Tests of the inhibition coder module, its train step, sweeps and pruning."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sparse_jax import inhibition
from sparse_jax.models.inhibition import InhibitionCoder
from sparse_jax.training import inhibition as inhibition_training
from sparse_jax.training.sweep import make_sweep_step, stack_trees, tree_index

D = 12
K = 14
N = 32
FOREST = inhibition.balanced_forest(2, 2, 3)  # 14 nodes


@pytest.fixture(scope="module")
def signals() -> jax.Array:
    return jax.random.normal(jax.random.key(0), (N, D), jnp.float32)


@pytest.fixture(scope="module")
def model() -> InhibitionCoder:
    return InhibitionCoder(num_units=K, num_steps=30)


@pytest.fixture(scope="module")
def params(model, signals) -> dict[str, jax.Array]:
    return jax.jit(model.init)(jax.random.key(1), signals, 0.3)["params"]


def _hyper(l1_weight=0.3, dictionary_rate=1e-3, inhibition_rate=0.5, max_row_sum=1.0):
    return inhibition_training.inhibition_hyperparams(
        l1_weight=l1_weight,
        dictionary_rate=dictionary_rate,
        inhibition_rate=inhibition_rate,
        max_row_sum=max_row_sum,
    )


def _hand_set_inhibition(scale=0.05):
    rng = np.random.default_rng(2)
    raw = np.abs(rng.standard_normal((K, K))).astype(np.float32)
    matrix = scale * (raw + raw.T)
    return jnp.asarray(np.where(inhibition.tree_mask(FOREST), matrix, 0))


# --- module -----------------------------------------------------------------


def test_coder_matches_pure_inference(model, params, signals):
    output = jax.jit(model.apply)({"params": params}, signals, 0.3)
    expected = inhibition.inhibited_ista(
        params["dictionary"], params["inhibition"], signals, 0.3, num_steps=30
    )
    # The jitted module and the eager function round differently.
    np.testing.assert_allclose(output.codes, expected.codes, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        output.reconstruction, expected.codes @ params["dictionary"].T, rtol=1e-5, atol=1e-5
    )
    assert output.codes.shape == (N, K)
    assert output.criterion.shape == (N,)
    norms = np.linalg.norm(np.asarray(params["dictionary"]), axis=0)
    np.testing.assert_allclose(norms, np.ones(K), rtol=1e-5)
    np.testing.assert_array_equal(params["inhibition"], np.zeros((K, K), np.float32))


def test_coder_tolerance_mode(params, signals):
    coder = InhibitionCoder(num_units=K, tol=1e-4, max_steps=2000)
    output = coder.apply({"params": params}, signals, 0.3)
    assert np.all(np.asarray(output.criterion) <= 1e-4)
    assert np.all(np.asarray(output.num_steps) < 2000)


def test_coder_rejects_invalid_attributes(signals):
    with pytest.raises(ValueError, match="num_units must be a positive int"):
        InhibitionCoder(num_units=0).init(jax.random.key(0), signals, 0.3)
    with pytest.raises(ValueError, match="tol needs max_steps"):
        InhibitionCoder(num_units=K, tol=1e-3).init(jax.random.key(0), signals, 0.3)


# --- the signs of the two updates ---------------------------------------------


@pytest.mark.parametrize("inhibition_adam", [False, True])
def test_update_descends_on_dictionary_and_ascends_on_inhibition(
    model, params, signals, inhibition_adam
):
    params = dict(params, inhibition=_hand_set_inhibition())
    hyper = _hyper(dictionary_rate=1e-3, inhibition_rate=1e-3)
    codes = jax.jit(model.apply)({"params": params}, signals, hyper.l1_weight).codes
    optimizer = inhibition_training.inhibition_optimizer(inhibition_adam=inhibition_adam)
    opt_state = optimizer.init(params)

    def energy(p):
        return inhibition_training.inhibition_loss(p, signals, codes, hyper.l1_weight)[0]

    grads = jax.grad(energy)(params)
    updates, _ = optimizer.update(grads, opt_state, params, learning_rates=hyper.learning_rates)
    updated = optax.apply_updates(params, updates)  # before any projection

    before = float(energy(params))
    dictionary_only = float(energy(dict(params, dictionary=updated["dictionary"])))
    inhibition_only = float(energy(dict(params, inhibition=updated["inhibition"])))
    assert dictionary_only < before
    assert inhibition_only > before


def test_train_step_projects_inhibition_exactly(model, params, signals):
    mask = inhibition.tree_mask(FOREST)
    optimizer = inhibition_training.inhibition_optimizer()
    step = inhibition_training.make_inhibition_train_step(model, optimizer, mask)
    hyper = _hyper(inhibition_rate=5.0, max_row_sum=0.4)
    new_params, _, metrics = step(params, optimizer.init(params), signals, hyper)
    learned = np.asarray(new_params["inhibition"])

    assert np.all(learned >= 0)
    np.testing.assert_array_equal(learned, learned.T)
    np.testing.assert_array_equal(np.diag(learned), np.zeros(K, np.float32))
    np.testing.assert_array_equal(learned[~mask], 0)
    assert np.all(learned.sum(axis=1, dtype=np.float32) <= np.float32(0.4))
    # From S = 0 the ascent makes S positive on co-active allowed pairs.
    assert learned.max() > 0
    assert float(metrics["inhibition_max_row_sum"]) <= 0.4
    norms = np.linalg.norm(np.asarray(new_params["dictionary"]), axis=0)
    np.testing.assert_allclose(norms, np.ones(K), rtol=1e-5)


def test_train_step_metrics(model, params, signals):
    mask = inhibition.unstructured_mask(K)
    optimizer = inhibition_training.inhibition_optimizer()
    step = inhibition_training.make_inhibition_train_step(model, optimizer, mask)
    params = dict(params, inhibition=_hand_set_inhibition())
    _, _, metrics = step(params, optimizer.init(params), signals, _hyper())
    codes = jax.jit(model.apply)({"params": params}, signals, 0.3).codes
    _, terms = inhibition_training.inhibition_loss(params, signals, codes, 0.3)

    np.testing.assert_allclose(metrics["energy"], terms.energy, rtol=1e-5)
    np.testing.assert_allclose(metrics["inhibition"], terms.inhibition, rtol=1e-5)
    assert float(metrics["inhibition"]) > 0
    np.testing.assert_allclose(
        metrics["unit_usage"], np.mean(np.asarray(codes) != 0, axis=0), rtol=1e-6
    )
    assert metrics["unit_usage"].shape == (K,)
    np.testing.assert_allclose(metrics["active_fraction"], np.mean(np.asarray(codes) != 0))
    assert bool(metrics["finite"])
    for name in (
        "dictionary_grad_norm",
        "inhibition_grad_norm",
        "dictionary_update_norm",
        "inhibition_update_norm",
        "param_norm",
        "inference_criterion",
    ):
        assert np.isfinite(float(metrics[name])), name
        assert metrics[name].shape == ()


# --- fixed inhibition ---------------------------------------------------------


def test_fixed_inhibition_is_unchanged_bit_for_bit(model, params, signals):
    # Infeasible on purpose: a projection would change it.
    hand_set = _hand_set_inhibition(scale=2.0)
    params = dict(params, inhibition=hand_set)
    optimizer = inhibition_training.inhibition_optimizer()
    step = inhibition_training.make_inhibition_train_step(
        model, optimizer, inhibition.unstructured_mask(K), train_inhibition=False
    )
    opt_state = optimizer.init(params)
    for _ in range(3):
        params, opt_state, _ = step(params, opt_state, signals, _hyper(max_row_sum=0.1))
    np.testing.assert_array_equal(params["inhibition"], hand_set)


def test_zero_inhibition_rate_keeps_feasible_matrix(model, params, signals):
    feasible = _hand_set_inhibition(scale=0.01)
    params = dict(params, inhibition=feasible)
    optimizer = inhibition_training.inhibition_optimizer()
    step = inhibition_training.make_inhibition_train_step(
        model, optimizer, inhibition.tree_mask(FOREST)
    )
    new_params, _, _ = step(
        params, optimizer.init(params), signals, _hyper(inhibition_rate=0.0, max_row_sum=10.0)
    )
    np.testing.assert_array_equal(new_params["inhibition"], feasible)
    assert not np.array_equal(new_params["dictionary"], params["dictionary"])


# --- compilation and sweeps ---------------------------------------------------


def _count_traces(monkeypatch) -> list[int]:
    """Counts how often the train step is traced, through the loss it calls."""
    traces = [0]
    original = inhibition_training.inhibition_loss

    def counting_loss(*args, **kwargs):
        traces[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(inhibition_training, "inhibition_loss", counting_loss)
    return traces


def test_train_step_compiles_once(model, params, signals, monkeypatch):
    traces = _count_traces(monkeypatch)
    optimizer = inhibition_training.inhibition_optimizer()
    step = inhibition_training.make_inhibition_train_step(
        model, optimizer, inhibition.unstructured_mask(K)
    )
    opt_state = optimizer.init(params)
    current = params
    for l1_weight, bound, rate in ((0.3, 1.0, 0.5), (0.1, 2.0, 0.1), (0.5, 0.2, 0.0)):
        hyper = _hyper(l1_weight=l1_weight, max_row_sum=bound, inhibition_rate=rate)
        current, opt_state, _ = step(current, opt_state, signals, hyper)
    assert traces[0] == 1


def test_sweep_compiles_once_and_matches_sequential_runs(model, params, signals, monkeypatch):
    traces = _count_traces(monkeypatch)
    mask = inhibition.tree_mask(FOREST)
    optimizer = inhibition_training.inhibition_optimizer()
    settings = [(0.1, 0.5), (0.3, 1.0), (0.6, 3.0)]  # (λ, B)
    hypers = stack_trees([_hyper(l1_weight=w, max_row_sum=b) for w, b in settings])
    stacked_params = stack_trees([params] * len(settings))
    stacked_state = jax.vmap(optimizer.init)(stacked_params)
    sweep_step = make_sweep_step(
        inhibition_training.inhibition_train_step, model=model, optimizer=optimizer, mask=mask
    )
    for _ in range(2):
        stacked_params, stacked_state, metrics = sweep_step(
            stacked_params, stacked_state, signals, hypers
        )
    assert traces[0] == 1
    assert metrics["energy"].shape == (len(settings),)

    step = inhibition_training.make_inhibition_train_step(model, optimizer, mask)
    for index, (l1_weight, bound) in enumerate(settings):
        single_params, single_state = params, optimizer.init(params)
        for _ in range(2):
            single_params, single_state, _ = step(
                single_params, single_state, signals, _hyper(l1_weight=l1_weight, max_row_sum=bound)
            )
        swept = tree_index(stacked_params, index)
        np.testing.assert_allclose(swept["dictionary"], single_params["dictionary"], atol=2e-5)
        np.testing.assert_allclose(swept["inhibition"], single_params["inhibition"], atol=2e-5)


def test_make_step_rejects_invalid_mask(model):
    optimizer = inhibition_training.inhibition_optimizer()
    with pytest.raises(ValueError, match=r"expected a boolean \(14, 14\) array"):
        inhibition_training.make_inhibition_train_step(
            model, optimizer, inhibition.unstructured_mask(K - 1)
        )
    asymmetric = inhibition.unstructured_mask(K)
    asymmetric[0, 1] = False
    with pytest.raises(ValueError, match="mask must be symmetric"):
        inhibition_training.make_inhibition_train_step(model, optimizer, asymmetric)


def test_hyperparams_reject_invalid_values():
    with pytest.raises(ValueError, match="max_row_sum must be positive"):
        _hyper(max_row_sum=0.0)
    with pytest.raises(ValueError, match="l1_weight must be non-negative"):
        _hyper(l1_weight=-1.0)


# --- usage and pruning ----------------------------------------------------------


def test_update_usage_is_moving_average():
    usage = jnp.asarray([0.0, 0.5, 1.0])
    batch = jnp.asarray([1.0, 0.5, 0.0])
    np.testing.assert_allclose(
        inhibition_training.update_usage(usage, batch, 0.9), [0.1, 0.5, 0.9], rtol=1e-6
    )


def test_prune_model_keeps_remaining_parameters(model, params, signals):
    params = dict(params, inhibition=_hand_set_inhibition())
    usage = np.full(K, 0.2)
    usage[3] = 0.001  # node 3 with its children 8 and 9
    usage[12] = 0.001  # a leaf
    pruned = inhibition_training.prune_inhibition_model(model, params, FOREST, usage, 0.01)

    expected_kept = [0, 1, 2, 4, 5, 6, 7, 10, 11, 13]
    np.testing.assert_array_equal(pruned.kept, expected_kept)
    assert pruned.model.num_units == len(expected_kept)
    assert pruned.model.num_steps == model.num_steps
    np.testing.assert_array_equal(
        pruned.params["dictionary"], np.asarray(params["dictionary"])[:, expected_kept]
    )
    np.testing.assert_array_equal(
        pruned.params["inhibition"],
        np.asarray(params["inhibition"])[np.ix_(expected_kept, expected_kept)],
    )
    np.testing.assert_array_equal(
        inhibition.tree_mask(pruned.parents),
        inhibition.tree_mask(FOREST)[np.ix_(expected_kept, expected_kept)],
    )
    output = jax.jit(pruned.model.apply)({"params": pruned.params}, signals, 0.3)
    assert output.codes.shape == (N, len(expected_kept))


def test_prune_model_rejects_removing_everything(model, params):
    with pytest.raises(ValueError, match="removes every unit"):
        inhibition_training.prune_inhibition_model(model, params, FOREST, np.zeros(K), 0.5)
