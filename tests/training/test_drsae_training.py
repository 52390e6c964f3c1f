"""Tests of the DrSAE loss, train step, projections, metrics and sweeps."""

import itertools
import re
import typing

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sparse_jax.models import DrSAE, DrSAEOutput, init_drsae_params
from sparse_jax.training import (
    Batch,
    DrSAEBounds,
    check_labels,
    drsae_eval_step,
    drsae_hyperparams,
    drsae_loss,
    drsae_optimizer,
    drsae_train_step,
    make_drsae_train_step,
    make_sweep_step,
    project_drsae_params,
    stack_trees,
    tree_index,
)

D, K, C, T, N = 20, 12, 3, 4, 16
MODEL = DrSAE(num_units=K, num_steps=T, num_classes=C)
DEFAULT_BOUNDS = DrSAEBounds()


def _batch(n=N, seed=0):
    images = jax.random.uniform(jax.random.key(seed), (n, D))
    labels = jax.random.randint(jax.random.key(seed + 1), (n,), 0, C)
    return Batch(images=images, labels=labels)


def _params(seed=0, l1_weight=0.05):
    train = jax.random.uniform(jax.random.key(100 + seed), (40, D))
    return init_drsae_params(jax.random.key(seed), train, MODEL, l1_weight=l1_weight)


def _hyper(l1_weight=0.05, class_weight=1.0, learning_rate=1e-3):
    return drsae_hyperparams(
        l1_weight=l1_weight, class_weight=class_weight, learning_rate=learning_rate
    )


def test_loss_terms_match_formula(strict_promotion):
    batch = _batch()
    params = _params()
    output = MODEL.apply({"params": params}, batch.images)
    loss, terms = drsae_loss(output, batch, l1_weight=0.05, class_weight=2.0)

    codes = np.asarray(output.codes, np.float64)
    images = np.asarray(batch.images, np.float64)
    logits = np.asarray(output.logits, np.float64)
    labels = np.asarray(batch.labels)
    reconstruction = 0.5 * np.sum((images - codes @ np.asarray(params["decoder"]).T) ** 2, axis=1)
    log_probabilities = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    cross_entropy = -log_probabilities[np.arange(N), labels]
    expected = reconstruction + 0.05 * np.abs(codes).sum(axis=1) + 2.0 * cross_entropy

    np.testing.assert_allclose(loss, expected.mean(), rtol=1e-5)
    np.testing.assert_allclose(terms.reconstruction, reconstruction.mean(), rtol=1e-5)
    np.testing.assert_allclose(terms.cross_entropy, cross_entropy.mean(), rtol=1e-5)
    np.testing.assert_allclose(terms.error_rate, np.mean(logits.argmax(axis=1) != labels))


def test_loss_phase_one_ignores_labels():
    batch = _batch()
    output = MODEL.apply({"params": _params()}, batch.images)
    shuffled = batch._replace(labels=(batch.labels + 1) % C)
    loss, _ = drsae_loss(output, batch, l1_weight=0.05, class_weight=0.0)
    shuffled_loss, _ = drsae_loss(output, shuffled, l1_weight=0.05, class_weight=0.0)
    assert float(loss) == float(shuffled_loss)


def test_loss_zero_examples_stay_finite(strict_promotion):
    batch = _batch()
    images = batch.images.at[::2].set(0.0)
    batch = batch._replace(images=images)
    params = _params()

    def loss_fn(p):
        output = MODEL.apply({"params": p}, batch.images)
        return drsae_loss(output, batch, l1_weight=0.05, class_weight=10.0)[0]

    loss, gradients = jax.jit(jax.value_and_grad(loss_fn))(params)
    codes = MODEL.apply({"params": params}, batch.images).codes
    assert bool(jnp.all(codes[::2] == 0)), "zero images must give zero codes for this test"
    assert bool(jnp.isfinite(loss))
    for name, gradient in gradients.items():
        assert bool(jnp.all(jnp.isfinite(gradient))), name


def test_step_all_zero_batch_stays_finite():
    batch = _batch()._replace(images=jnp.zeros((N, D)))
    params = _params()
    optimizer = drsae_optimizer()
    step = make_drsae_train_step(MODEL, optimizer)
    params, _, metrics = step(params, optimizer.init(params), batch, _hyper(class_weight=10.0))
    assert bool(metrics["finite"])
    assert int(metrics["dead_units"]) == K
    for name, value in params.items():
        assert bool(jnp.all(jnp.isfinite(value))), name


@pytest.mark.parametrize(
    ("labels_shape", "logits_shape"),
    [((N, 1), (N, C)), ((N + 1,), (N, C)), ((N,), (N,)), ((), (N, C))],
)
def test_label_shape_mismatch_names_both_shapes(labels_shape, logits_shape):
    labels = jnp.zeros(labels_shape, jnp.int32)
    logits = jnp.zeros(logits_shape)
    expected = (
        rf"labels of shape {_escaped(labels_shape)} do not match "
        rf"logits of shape {_escaped(logits_shape)}"
    )
    with pytest.raises(ValueError, match=expected):
        check_labels(logits, labels)


def _escaped(shape):
    return re.escape(str(tuple(shape)))


def test_loss_label_mismatch_raises_value_error():
    batch = _batch()
    output = MODEL.apply({"params": _params()}, batch.images)
    wrong = batch._replace(labels=batch.labels[:, None])
    with pytest.raises(
        ValueError, match=rf"labels of shape \({N}, 1\) do not match logits of shape \({N}, {C}\)"
    ):
        drsae_loss(output, wrong, l1_weight=0.05, class_weight=1.0)


def test_step_label_mismatch_raises():
    batch = _batch()
    params = _params()
    optimizer = drsae_optimizer()
    step = make_drsae_train_step(MODEL, optimizer)
    with pytest.raises(ValueError, match=rf"labels of shape \({N - 1},\) do not match logits"):
        step(params, optimizer.init(params), batch._replace(labels=batch.labels[1:]), _hyper())


def test_float_labels_rejected():
    with pytest.raises(TypeError, match="labels must be integer class indices, got dtype float32"):
        check_labels(jnp.zeros((N, C)), jnp.zeros((N,), jnp.float32))


def test_reconstruction_shape_mismatch_raises():
    batch = _batch()
    output = DrSAEOutput(
        codes=jnp.zeros((N, K)), reconstruction=jnp.zeros((N, D + 1)), logits=jnp.zeros((N, C))
    )
    with pytest.raises(
        ValueError, match=rf"reconstruction of shape \({N}, {D + 1}\) does not match images"
    ):
        drsae_loss(output, batch, l1_weight=0.05, class_weight=1.0)


def test_hyperparams_reject_negative_values():
    with pytest.raises(ValueError, match="l1_weight must be non-negative"):
        drsae_hyperparams(l1_weight=-0.1, class_weight=1.0, learning_rate=1e-3)
    with pytest.raises(ValueError, match="learning_rate must be non-negative"):
        drsae_hyperparams(l1_weight=0.1, class_weight=1.0, learning_rate=-1e-3)


def test_hyperparams_group_rates():
    hyper = drsae_hyperparams(
        l1_weight=0.1, class_weight=1.0, learning_rate=2e-3, encoding_rate_scale=0.25
    )
    np.testing.assert_allclose(hyper.learning_rates["decoding"], 2e-3)
    np.testing.assert_allclose(hyper.learning_rates["encoding"], 5e-4)
    assert all(rate.dtype == jnp.float32 for rate in hyper.learning_rates.values())


def test_encoding_group_frozen_at_zero_scale():
    params = _params()
    optimizer = drsae_optimizer()
    step = make_drsae_train_step(MODEL, optimizer)
    hyper = drsae_hyperparams(
        l1_weight=0.05, class_weight=1.0, learning_rate=1e-2, encoding_rate_scale=0.0
    )
    new_params, _, _ = step(params, optimizer.init(params), _batch(), hyper)
    for name in ("recurrent", "threshold"):
        np.testing.assert_array_equal(new_params[name], params[name])
    # The encoder rows may only shrink by the projection, never rotate.
    np.testing.assert_allclose(
        new_params["encoder"] / jnp.linalg.norm(new_params["encoder"], axis=1, keepdims=True),
        params["encoder"] / jnp.linalg.norm(params["encoder"], axis=1, keepdims=True),
        rtol=1e-5,
    )
    for name in ("decoder", "classifier", "classifier_bias"):
        assert bool(jnp.any(new_params[name] != params[name])), name


def _bound_violations(params, bounds=DEFAULT_BOUNDS):
    return {
        "encoder rows": float(jnp.max(jnp.linalg.norm(params["encoder"], axis=1)))
        - bounds.encoder_row_scale / T,
        "decoder columns": float(jnp.max(jnp.linalg.norm(params["decoder"], axis=0)))
        - bounds.decoder_column,
        "classifier rows": float(jnp.max(jnp.linalg.norm(params["classifier"], axis=1)))
        - bounds.classifier_row,
    }


def test_projections_hold_after_step():
    params = _params()
    optimizer = drsae_optimizer()
    opt_state = optimizer.init(params)
    batch = _batch()
    hyper = _hyper(class_weight=10.0, learning_rate=3.0)  # large, so every bound is hit

    # Without the projection the same update leaves every ball, so the check below can fail.
    unprojected_step = jax.jit(
        lambda p, s: drsae_train_step(
            p, s, batch, hyper, model=MODEL, optimizer=optimizer, bounds=DrSAEBounds(1e9, 1e9, 1e9)
        )
    )
    unprojected, _, _ = unprojected_step(params, opt_state)
    for name, excess in _bound_violations(unprojected).items():
        assert excess > 0, f"{name} stayed inside its ball without projection"

    projected, _, _ = make_drsae_train_step(MODEL, optimizer)(params, opt_state, batch, hyper)
    for name, excess in _bound_violations(projected).items():
        assert excess <= 1e-6, f"{name} exceed their bound by {excess}"


def test_projection_uses_rows_and_columns(strict_promotion):
    wide = {
        "encoder": jnp.full((K, D), 1.0),
        "recurrent": jnp.zeros((K, K)),
        "threshold": jnp.zeros(K),
        "decoder": jnp.full((D, K), 1.0),
        "classifier": jnp.full((C, K), 10.0),
        "classifier_bias": jnp.zeros(C),
    }
    projected = project_drsae_params(wide, num_steps=T, bounds=DrSAEBounds())
    np.testing.assert_allclose(
        jnp.linalg.norm(projected["encoder"], axis=1), np.full(K, 1.25 / T), rtol=1e-6
    )
    np.testing.assert_allclose(jnp.linalg.norm(projected["decoder"], axis=0), np.ones(K), rtol=1e-6)
    np.testing.assert_allclose(
        jnp.linalg.norm(projected["classifier"], axis=1), np.full(C, 5.0), rtol=1e-6
    )
    # With K ≠ D and C ≠ K the other axis has different norms, so a mixup shows.
    assert not np.allclose(jnp.linalg.norm(projected["encoder"], axis=0), 1.25 / T)
    assert not np.allclose(jnp.linalg.norm(projected["decoder"], axis=1), 1.0)
    assert not np.allclose(jnp.linalg.norm(projected["classifier"], axis=0), 5.0)


def test_step_metrics():
    params = _params()
    optimizer = drsae_optimizer()
    batch = _batch()
    new_params, _, metrics = make_drsae_train_step(MODEL, optimizer)(
        params, optimizer.init(params), batch, _hyper()
    )
    expected_keys = {
        "loss",
        "reconstruction",
        "l1",
        "cross_entropy",
        "error_rate",
        "active_fraction",
        "dead_units",
        "grad_norm",
        "update_norm",
        "param_norm",
        "finite",
    }
    assert set(metrics) == expected_keys
    for name, value in metrics.items():
        assert value.shape == (), name

    codes = MODEL.apply({"params": params}, batch.images).codes
    assert int(metrics["dead_units"]) == int(jnp.sum(jnp.all(codes == 0, axis=0)))
    np.testing.assert_allclose(metrics["active_fraction"], jnp.mean(codes > 0), rtol=1e-6)
    np.testing.assert_allclose(metrics["param_norm"], optax.tree.norm(new_params), rtol=1e-6)
    assert bool(metrics["finite"])


def test_step_flags_non_finite_input():
    params = _params()
    optimizer = drsae_optimizer()
    batch = _batch()
    batch = batch._replace(images=batch.images.at[3, 5].set(jnp.nan))
    _, _, metrics = make_drsae_train_step(MODEL, optimizer)(
        params, optimizer.init(params), batch, _hyper()
    )
    assert not bool(metrics["finite"])


def test_eval_step_sums():
    params = _params()
    batch = _batch()
    hyper = _hyper()
    sums = jax.jit(lambda p, b, h: drsae_eval_step(p, b, h, model=MODEL))(params, batch, hyper)
    output = MODEL.apply({"params": params}, batch.images)
    _, terms = drsae_loss(output, batch, l1_weight=hyper.l1_weight, class_weight=hyper.class_weight)
    assert int(sums["count"]) == N
    assert int(sums["errors"]) == int(jnp.sum(jnp.argmax(output.logits, axis=1) != batch.labels))
    np.testing.assert_allclose(sums["loss"] / N, terms.loss, rtol=1e-5)


class CountingDrSAE(DrSAE):
    """DrSAE that counts how often its forward pass is traced."""

    traces: typing.ClassVar[list] = []

    def __call__(self, images):
        CountingDrSAE.traces.append(images.shape)
        return super().__call__(images)


def test_step_compiles_once_for_sweep():
    model = CountingDrSAE(num_units=K, num_steps=T, num_classes=C)
    train = jax.random.uniform(jax.random.key(5), (40, D))
    params = init_drsae_params(jax.random.key(0), train, model, l1_weight=0.05)
    optimizer = drsae_optimizer()
    step = make_drsae_train_step(model, optimizer)
    CountingDrSAE.traces.clear()

    results = []
    for l1_weight, learning_rate in itertools.product((0.01, 0.03, 0.1, 0.3), (1e-3, 3e-3)):
        hyper = drsae_hyperparams(
            l1_weight=l1_weight, class_weight=1.0, learning_rate=learning_rate
        )
        _, _, metrics = step(params, optimizer.init(params), _batch(), hyper)
        results.append(float(metrics["loss"]))
    assert len(CountingDrSAE.traces) == 1
    assert len(set(results)) == 4, "the loss must depend on λ, so the values reached the step"


def test_vmap_sweep_matches_sequential_runs():
    l1_weights = (0.01, 0.03, 0.1, 0.3)
    params = _params()
    optimizer = drsae_optimizer()
    hypers = [_hyper(l1_weight=w, class_weight=1.0, learning_rate=3e-3) for w in l1_weights]
    batches = [_batch(seed=s) for s in range(3)]

    step = make_drsae_train_step(MODEL, optimizer)
    sequential = []
    for hyper in hypers:
        p, s = params, optimizer.init(params)
        for batch in batches:
            p, s, _ = step(p, s, batch, hyper)
        sequential.append(p)

    sweep_step = make_sweep_step(drsae_train_step, model=MODEL, optimizer=optimizer)
    stacked = stack_trees([params] * len(l1_weights))
    opt_state = jax.vmap(optimizer.init)(stacked)
    stacked_hyper = stack_trees(hypers)
    for batch in batches:
        stacked, opt_state, metrics = sweep_step(stacked, opt_state, batch, stacked_hyper)
    assert metrics["loss"].shape == (len(l1_weights),)

    for i, expected in enumerate(sequential):
        swept = tree_index(stacked, i)
        for name in expected:
            np.testing.assert_allclose(
                swept[name],
                expected[name],
                rtol=1e-5,
                atol=1e-6,
                err_msg=f"λ={l1_weights[i]} {name}",
            )


def test_stack_trees_rejects_different_structures():
    with pytest.raises(ValueError, match=r"trees\[1\] has structure"):
        stack_trees([{"a": jnp.ones(2)}, {"b": jnp.ones(2)}])


def test_stack_trees_rejects_empty():
    with pytest.raises(ValueError, match="trees is empty"):
        stack_trees([])
