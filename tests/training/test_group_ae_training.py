"""Tests of the group-sparse auto-encoder losses, PSD inference, train step and hygiene."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax.test_util import check_grads

import sparse_jax
from sparse_jax import groups as groups_lib
from sparse_jax._compat import enable_x64
from sparse_jax.models.group_ae import GroupSparseAutoEncoder, gain_relu_encode
from sparse_jax.training import dead_atoms, make_sweep_step, stack_trees
from sparse_jax.training import group_ae as gae
from sparse_jax.training.projections import normalize_columns

STRUCTURES = {
    "l1": lambda k: None,
    "disjoint": lambda k: groups_lib.from_labels(np.arange(k) // 4),
    "tree": lambda k: groups_lib.tree(np.r_[-1, np.zeros(k - 1, int)]),
    "torus": lambda k: groups_lib.torus(int(np.sqrt(k)), 2, 1),
}


def _model_params(key, d, k, dtype=jnp.float32):
    model = GroupSparseAutoEncoder(num_units=k, param_dtype=dtype)
    return model.init(key, jnp.ones((1, d), dtype))["params"]


def _sparse_data(key, n, d, k_true=8):
    """Signals built from a few non-negative codes over random unit atoms."""
    atom_key, code_key, mask_key = jax.random.split(key, 3)
    atoms = normalize_columns(jax.random.normal(atom_key, (d, k_true)))
    codes = jnp.abs(jax.random.normal(code_key, (n, k_true)))
    codes = codes * jax.random.bernoulli(mask_key, 0.25, (n, k_true))
    return codes @ atoms.T


def test_direct_loss_matches_formula_with_torus_groups(strict_promotion):
    key_x, key_p = jax.random.split(jax.random.key(0))
    signals = jax.random.normal(key_x, (5, 12))
    params = _model_params(key_p, 12, 16)
    params["bias"] = jnp.full((16,), 0.2)
    torus = groups_lib.torus(4, 2, 1)
    loss, (terms, codes) = gae.group_ae_loss(params, signals, jnp.float32(0.3), groups=torus)

    z = np.asarray(gain_relu_encode(params["encoder"], params["bias"], params["gain"], signals))
    np.testing.assert_allclose(codes, z, rtol=1e-6)
    maps = z.reshape(5, 4, 4) ** 2
    pooled = sum(np.roll(maps, (-a, -b), axis=(1, 2)) for a in (0, 1) for b in (0, 1))
    omega = np.sqrt(pooled).reshape(5, -1).sum(axis=1)
    residual = np.asarray(signals) - z @ np.asarray(params["dictionary"]).T
    reconstruction = 0.5 * np.mean(np.sum(residual**2, axis=1))
    np.testing.assert_allclose(terms.sparsity, omega.mean(), rtol=1e-5)
    np.testing.assert_allclose(terms.reconstruction, reconstruction, rtol=1e-5)
    np.testing.assert_allclose(loss, reconstruction + 0.3 * omega.mean(), rtol=1e-5)


def test_direct_loss_gradient_matches_finite_differences():
    with enable_x64():
        key_x, key_p = jax.random.split(jax.random.key(1))
        signals = jax.random.normal(key_x, (4, 9), jnp.float64)
        params = _model_params(key_p, 9, 16, jnp.float64)
        params["bias"] = jnp.full((16,), 0.3, jnp.float64)
        torus = groups_lib.torus(4, 2, 1)

        def loss(p):
            return gae.group_ae_loss(p, signals, 0.2, groups=torus)[0]

        check_grads(loss, (params,), order=1, modes=("rev",), atol=1e-5, rtol=1e-5)


def test_sparsity_penalty_is_l1_without_groups():
    codes = jnp.array([[1.0, -2.0, 0.0], [0.5, 0.0, 0.0]])
    np.testing.assert_allclose(gae.sparsity_penalty(codes, None), [3.0, 0.5])


def test_sparsity_penalty_rejects_wrong_structure_size():
    with pytest.raises(ValueError, match="groups covers 8 units; the codes have 6"):
        gae.sparsity_penalty(jnp.ones((2, 6)), groups_lib.from_labels(np.arange(8) // 4))


@pytest.mark.parametrize("kind", ["disjoint", "tree"])
def test_nonneg_group_prox_matches_brute_force(kind):
    """prox of λΩ + ι(z ≥ 0) is prox_λΩ(max(v, 0)) for group and tree norms."""
    rng = np.random.default_rng(0)
    structure = (
        groups_lib.from_labels(np.arange(6) // 3)
        if kind == "disjoint"
        else groups_lib.tree(np.array([-1, 0, 0, 1, 1, 2]))
    )
    penalty = gae._nonneg_penalty(structure, 0.4)
    for _ in range(3):
        values = rng.normal(size=6)
        result = np.asarray(penalty.prox(jnp.asarray(values, jnp.float32), 1.0))

        def objective(u, values=values):
            return 0.5 * np.sum((u - values) ** 2) + float(
                penalty.value(jnp.asarray(u, jnp.float32))
            )

        brute = scipy.optimize.minimize(
            objective, np.maximum(values, 0) * 0.5, bounds=[(0, None)] * 6, method="Powell"
        )
        assert np.all(result >= 0)
        assert objective(result) <= brute.fun + 1e-5


def test_psd_l1_codes_satisfy_optimality_conditions():
    with enable_x64():
        key_x, key_p = jax.random.split(jax.random.key(2))
        signals = jax.random.normal(key_x, (3, 10), jnp.float64)
        params = _model_params(key_p, 10, 12, jnp.float64)
        lam, beta = 0.3, 0.5
        codes = gae.psd_codes(params, signals, lam, beta, groups=None, num_steps=3000)
        predictions = gain_relu_encode(params["encoder"], params["bias"], params["gain"], signals)
        dictionary = params["dictionary"]
        gradient = (codes @ dictionary.T - signals) @ dictionary + 2 * beta * (codes - predictions)
        codes, gradient = np.asarray(codes), np.asarray(gradient)
        assert np.all(codes >= 0)
        np.testing.assert_allclose(gradient[codes > 0], -lam, atol=1e-6)
        assert np.all(gradient[codes == 0] + lam >= -1e-6)
        assert np.any(codes == 0)
        assert np.any(codes > 0)


@pytest.mark.parametrize("kind", ["disjoint", "tree", "torus"])
def test_psd_codes_lower_the_energy(kind):
    key_x, key_p = jax.random.split(jax.random.key(3))
    signals = jax.random.normal(key_x, (8, 20))
    params = _model_params(key_p, 20, 16)
    structure = STRUCTURES[kind](16)
    lam, beta = jnp.float32(0.2), jnp.float32(0.5)
    codes = gae.psd_codes(params, signals, lam, beta, groups=structure, num_steps=200)
    predictions = gain_relu_encode(params["encoder"], params["bias"], params["gain"], signals)

    def energy(z):
        return gae.psd_loss(params, signals, z, lam, beta, groups=structure)[0]

    assert np.all(np.asarray(codes) >= 0)
    assert np.all(np.isfinite(np.asarray(codes)))
    assert energy(codes) < energy(predictions)
    assert energy(codes) < energy(jnp.zeros_like(codes))


@pytest.mark.parametrize(("kind", "mode"), list(itertools.product(STRUCTURES, gae.MODES)))
def test_train_step_lowers_loss_and_keeps_unit_atoms(kind, mode):
    key_x, key_p = jax.random.split(jax.random.key(4))
    signals = _sparse_data(key_x, 128, 24)
    params = _model_params(key_p, 24, 16)
    optimizer = gae.group_ae_optimizer()
    opt_state = optimizer.init(params)
    step = gae.make_group_ae_train_step(
        optimizer, groups=STRUCTURES[kind](16), mode=mode, inference_steps=30
    )
    hyper = gae.group_ae_hyperparams(sparsity_weight=0.05, learning_rate=1e-2)
    losses = []
    for _ in range(40):
        params, opt_state, metrics = step(params, opt_state, signals, hyper)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.7 * losses[0], losses
    np.testing.assert_allclose(jnp.linalg.norm(params["dictionary"], axis=0), 1.0, atol=1e-6)
    assert metrics["firing"].shape == (16,)
    np.testing.assert_allclose(metrics["active_fraction"], jnp.mean(metrics["firing"]))


def test_train_step_compiles_once_for_every_sparsity_weight():
    params = _model_params(jax.random.key(5), 12, 16)
    optimizer = gae.group_ae_optimizer()
    opt_state = optimizer.init(params)
    step = gae.make_group_ae_train_step(optimizer, groups=STRUCTURES["torus"](16), mode="psd")
    signals = jax.random.normal(jax.random.key(6), (16, 12))
    for weight in (0.0, 0.1, 1.0):
        hyper = gae.group_ae_hyperparams(sparsity_weight=weight, learning_rate=1e-3)
        step(params, opt_state, signals, hyper)
    assert step._cache_size() == 1


def test_vmap_sweep_over_sparsity_weights():
    signals = _sparse_data(jax.random.key(7), 256, 16)
    params0 = _model_params(jax.random.key(8), 16, 16)
    optimizer = gae.group_ae_optimizer()
    weights = (0.0, 0.1, 0.5)
    hypers = stack_trees(
        [gae.group_ae_hyperparams(sparsity_weight=w, learning_rate=1e-2) for w in weights]
    )
    params = stack_trees([params0] * len(weights))
    opt_state = jax.vmap(optimizer.init)(params)
    sweep = make_sweep_step(
        gae.group_ae_train_step, optimizer=optimizer, groups=STRUCTURES["disjoint"](16)
    )
    for _ in range(60):
        params, opt_state, metrics = sweep(params, opt_state, signals, hypers)
    assert metrics["loss"].shape == (3,)
    sparsity = np.asarray(metrics["sparsity"])
    assert sparsity[0] > sparsity[1] > sparsity[2]
    # Model 1 of the sweep equals a run of the single step with its weight.
    single = gae.make_group_ae_train_step(optimizer, groups=STRUCTURES["disjoint"](16))
    p, s = params0, optimizer.init(params0)
    for _ in range(60):
        p, s, _ = single(
            p, s, signals, gae.group_ae_hyperparams(sparsity_weight=0.1, learning_rate=1e-2)
        )
    np.testing.assert_allclose(params["dictionary"][1], p["dictionary"], atol=2e-5)


def test_hyperparams_reject_bad_values():
    with pytest.raises(ValueError, match="sparsity_weight"):
        gae.group_ae_hyperparams(sparsity_weight=-1.0, learning_rate=1e-3)
    with pytest.raises(ValueError, match="prediction_weight must be positive"):
        gae.group_ae_hyperparams(sparsity_weight=0.1, learning_rate=1e-3, prediction_weight=0.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        gae.make_group_ae_train_step(gae.group_ae_optimizer(), groups=None, mode="lista")


# ---------------------------------------------------------------------------
# Dictionary hygiene: unit-norm projection, zero columns, resampling


@pytest.mark.parametrize("shape", [(784, 400), (256, 256)])
def test_unit_norm_projection_on_columns_only(shape):
    matrix = jax.random.normal(jax.random.key(9), shape) * 3.0 + 0.5
    projected = normalize_columns(matrix)
    np.testing.assert_allclose(jnp.linalg.norm(projected, axis=0), 1.0, atol=1e-6)
    row_norms = np.asarray(jnp.linalg.norm(projected, axis=1))
    if shape[0] == shape[1]:
        assert np.max(np.abs(row_norms - 1)) > 0.05  # rows are not forced to 1
    for k in (0, 7, shape[1] - 1):
        one_hot = jnp.zeros((1, shape[1])).at[0, k].set(1.0)
        np.testing.assert_array_equal((one_hot @ projected.T)[0], projected[:, k])


@pytest.mark.parametrize("mode", gae.MODES)
def test_adam_step_keeps_unit_columns(mode):
    signals = jax.random.normal(jax.random.key(10), (32, 784))
    params = _model_params(jax.random.key(11), 784, 400)
    optimizer = gae.group_ae_optimizer()
    step = gae.make_group_ae_train_step(
        optimizer, groups=STRUCTURES["disjoint"](400), mode=mode, inference_steps=10
    )
    hyper = gae.group_ae_hyperparams(sparsity_weight=0.1, learning_rate=1e-2)
    params, _, _ = step(params, optimizer.init(params), signals, hyper)
    np.testing.assert_allclose(jnp.linalg.norm(params["dictionary"], axis=0), 1.0, atol=1e-6)


@pytest.mark.parametrize("mode", gae.MODES)
def test_zero_columns_reported_and_resampled(mode):
    signals = jax.random.normal(jax.random.key(12), (64, 784))
    params = _model_params(jax.random.key(13), 784, 400)
    params["dictionary"] = params["dictionary"].at[:, jnp.array([7, 123])].set(0.0)
    params = gae.project_group_ae_params(params)
    assert np.all(np.isfinite(np.asarray(params["dictionary"])))
    optimizer = gae.group_ae_optimizer()
    opt_state = optimizer.init(params)
    step = gae.make_group_ae_train_step(
        optimizer, groups=STRUCTURES["disjoint"](400), mode=mode, inference_steps=10
    )
    hyper = gae.group_ae_hyperparams(sparsity_weight=0.1, learning_rate=1e-2)
    params, opt_state, metrics = step(params, opt_state, signals, hyper)

    for name, value in params.items():
        assert np.all(np.isfinite(np.asarray(value))), name
    output = GroupSparseAutoEncoder(num_units=400).apply({"params": params}, signals)
    assert np.all(np.isfinite(np.asarray(output.codes)))
    assert np.all(np.isfinite(np.asarray(output.reconstruction)))
    norms = np.asarray(jnp.linalg.norm(params["dictionary"], axis=0))
    others = np.setdiff1d(np.arange(400), [7, 123])
    np.testing.assert_array_equal(norms[[7, 123]], 0.0)  # the policy: stay zero until resampled
    np.testing.assert_allclose(norms[others], 1.0, atol=1e-6)
    assert int(metrics["dead_columns"]) == 2

    rates = dead_atoms.update_firing_rates(jnp.ones(400), metrics["firing"], 0.0)
    dead = dead_atoms.find_dead_atoms(params["dictionary"], rates, min_rate=0.0)
    np.testing.assert_array_equal(np.flatnonzero(dead), [7, 123])

    params, opt_state = gae.resample_group_ae_units(
        jax.random.key(14),
        params,
        opt_state,
        dead,
        signals,
        output.reconstruction,
        optimizer=optimizer,
    )
    np.testing.assert_allclose(jnp.linalg.norm(params["dictionary"], axis=0), 1.0, atol=1e-6)
    adam = opt_state.inner_states["dictionary"].inner_state[0]
    np.testing.assert_array_equal(adam.mu["dictionary"][:, jnp.array([7, 123])], 0.0)
    adam = opt_state.inner_states["encoder"].inner_state[0]
    np.testing.assert_array_equal(adam.nu["encoder"][jnp.array([7, 123])], 0.0)
    assert np.any(np.asarray(adam.nu["encoder"][0]) > 0)


def test_resample_sets_encoder_rows_to_scaled_atoms():
    params = _model_params(jax.random.key(15), 10, 6)
    params["encoder"] = params["encoder"] * 2.0
    params["gain"] = jnp.array([1.0, 3.0, 1.0, 1.0, 1.0, 1.0])
    params["bias"] = jnp.full((6,), 0.5)
    optimizer = gae.group_ae_optimizer()
    signals = jax.random.normal(jax.random.key(16), (20, 10))
    dead = np.array([False, True, False, False, False, False])
    new, _ = gae.resample_group_ae_units(
        jax.random.key(17),
        params,
        optimizer.init(params),
        dead,
        signals,
        signals * 0,
        optimizer=optimizer,
    )
    np.testing.assert_allclose(new["encoder"][1], 2.0 * new["dictionary"][:, 1], rtol=1e-6)
    assert float(new["bias"][1]) == 0.0
    assert float(new["gain"][1]) == 1.0
    np.testing.assert_array_equal(new["encoder"][0], params["encoder"][0])
    np.testing.assert_array_equal(new["gain"][:1], params["gain"][:1])


def test_resample_all_dead_units():
    params = _model_params(jax.random.key(18), 4, 3)
    params["encoder"] = params["encoder"] * 3.0
    optimizer = gae.group_ae_optimizer()
    signals = jax.random.normal(jax.random.key(0), (5, 4))
    new, _ = gae.resample_group_ae_units(
        jax.random.key(0),
        params,
        optimizer.init(params),
        np.ones(3, bool),
        signals,
        jnp.zeros((5, 4)),
        optimizer=optimizer,
    )
    np.testing.assert_allclose(jnp.linalg.norm(new["encoder"], axis=1), 3.0, rtol=1e-5)
    np.testing.assert_allclose(jnp.linalg.norm(new["dictionary"], axis=0), 1.0, rtol=1e-6)


def test_group_lasso_penalty_objects_are_used_by_psd():
    """The PSD step with disjoint groups equals proximal_gradient on the stacked problem."""
    key_x, key_p = jax.random.split(jax.random.key(19))
    signals = jax.random.normal(key_x, (4, 12))
    params = _model_params(key_p, 12, 8)
    structure = STRUCTURES["disjoint"](8)
    codes = gae.psd_codes(params, signals, 0.1, 1.0, groups=structure, num_steps=50)
    predictions = gain_relu_encode(params["encoder"], params["bias"], params["gain"], signals)
    stacked = jnp.concatenate([params["dictionary"], jnp.sqrt(2.0) * jnp.eye(8)], axis=0)
    targets = jnp.concatenate([signals, jnp.sqrt(2.0) * predictions], axis=1)
    expected = sparse_jax.proximal_gradient(
        stacked,
        targets,
        gae._nonneg_penalty(structure, 0.1),
        num_steps=50,
        lipschitz=sparse_jax.lipschitz_constant(params["dictionary"]) + 2.0,
        init=predictions,
    ).codes
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)


def test_float16_signals_train_float32_parameters():
    signals = jax.random.normal(jax.random.key(20), (32, 9)).astype(jnp.float16)
    params = GroupSparseAutoEncoder(num_units=16).init(jax.random.key(21), signals)["params"]
    assert all(value.dtype == jnp.float32 for value in params.values())
    optimizer = gae.group_ae_optimizer()
    hyper = gae.group_ae_hyperparams(sparsity_weight=0.1, learning_rate=1e-2)
    for mode in gae.MODES:
        step = gae.make_group_ae_train_step(optimizer, groups=STRUCTURES["torus"](16), mode=mode)
        new, _, metrics = step(params, optimizer.init(params), signals, hyper)
        assert bool(metrics["finite"]), mode
        for name, value in new.items():
            assert np.all(np.isfinite(np.asarray(value))), (mode, name)


def test_train_step_rejects_empty_batch_and_bad_sizes():
    params = _model_params(jax.random.key(22), 6, 4)
    optimizer = gae.group_ae_optimizer()
    hyper = gae.group_ae_hyperparams(sparsity_weight=0.1, learning_rate=1e-2)
    with pytest.raises(ValueError, match="non-empty batch"):
        gae.group_ae_train_step(
            params,
            optimizer.init(params),
            jnp.ones((0, 6)),
            hyper,
            optimizer=optimizer,
            groups=None,
        )
    with pytest.raises(ValueError, match="inference_steps must be a positive int"):
        gae.make_group_ae_train_step(optimizer, groups=None, mode="psd", inference_steps=0)
    with pytest.raises(ValueError, match="sparsity_weight must be a scalar number"):
        gae.group_ae_hyperparams(sparsity_weight=np.ones(3), learning_rate=1e-3)
