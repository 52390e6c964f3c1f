"""Tests of the auto-encoder and classifier train steps of sparse_jax.training.conv."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from sparse_jax._compat import enable_x64
from sparse_jax.models.conv import (
    AutoencoderOutput,
    ConvClassifier,
    ConvSparseAutoencoder,
    assemble_pretrained_classifier,
)
from sparse_jax.models.local import LocalSparseAutoencoder
from sparse_jax.training import conv as training

CONV_MODEL = ConvSparseAutoencoder(num_features=4, kernel_size=3, pool_window=2, pool_stride=2)
LOCAL_MODEL = LocalSparseAutoencoder(sheet=(5, 5), filter_size=3, pool_window=3, pool_sigma=1.0)


def _images(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _init(model, images, seed=0):
    """Initialises ``model`` under jit: one compilation instead of one per operation."""
    return jax.jit(model.init)(jax.random.key(seed), images)["params"]


def test_loss_terms_match_formula(strict_promotion):
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((3, 4, 4, 1)).astype(np.float32)
    output = AutoencoderOutput(
        codes=jnp.asarray(np.maximum(rng.standard_normal((3, 4, 4, 2)), 0), jnp.float32),
        pooled=jnp.asarray(rng.uniform(size=(3, 2, 2, 2)), jnp.float32),
        reconstruction=jnp.asarray(rng.standard_normal((3, 4, 4, 1)), jnp.float32),
    )

    loss, terms = training.autoencoder_loss(output, jnp.asarray(inputs), group_weight=0.3)

    squared = np.sum((inputs - np.asarray(output.reconstruction)) ** 2, axis=(1, 2, 3))
    group_norms = np.sum(np.asarray(output.pooled), axis=(1, 2, 3))
    assert float(terms.reconstruction) == pytest.approx(0.5 * squared.mean(), rel=1e-6)
    assert float(terms.group_norms) == pytest.approx(group_norms.mean(), rel=1e-6)
    assert float(loss) == pytest.approx(0.5 * squared.mean() + 0.3 * group_norms.mean(), rel=1e-6)
    assert float(terms.relative_error) == pytest.approx(squared.sum() / np.sum(inputs**2), rel=1e-6)
    expected_active = np.mean(np.asarray(output.codes) > 0)
    assert float(terms.active_fraction) == pytest.approx(expected_active)


def test_loss_rejects_mismatched_reconstruction():
    output = AutoencoderOutput(
        jnp.zeros((2, 4, 4, 1)), jnp.zeros((2, 2, 2, 1)), jnp.zeros((2, 4, 4, 1))
    )

    with pytest.raises(ValueError, match="does not match inputs"):
        training.autoencoder_loss(output, jnp.zeros((2, 5, 5, 1)), group_weight=0.1)


def test_loss_gradient_matches_finite_differences():
    images = _images((2, 6, 6, 1), seed=1)
    params = _init(CONV_MODEL, images)
    with enable_x64():
        params = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), params)
        images = jnp.asarray(images, jnp.float64)

        @jax.jit
        def loss(decoder, gain):
            full = {**params, "decoder": decoder, "encoder": {**params["encoder"], "gain": gain}}
            output = CONV_MODEL.apply({"params": full}, images)
            return training.autoencoder_loss(output, images, group_weight=0.2)[0]

        # The loss is smooth in the decoder and the gains where the codes are nonzero.
        check_grads(
            loss,
            (params["decoder"], params["encoder"]["gain"] + 0.5),
            order=1,
            modes=("rev",),
            atol=1e-6,
            rtol=1e-6,
        )


@pytest.mark.parametrize("model", [CONV_MODEL, LOCAL_MODEL], ids=["conv", "local"])
def test_train_step_lowers_loss_and_bounds_atoms(model):
    shape = (8, 7, 7, 1) if model is LOCAL_MODEL else (8, 8, 8, 1)
    images = _images(shape, seed=2)
    params = _init(model, images)
    optimizer = training.autoencoder_optimizer()
    opt_state = optimizer.init(params)
    step = training.make_autoencoder_train_step(model, optimizer)
    hyper = training.autoencoder_hyperparams(group_weight=0.05, learning_rate=0.02)

    losses = []
    for _ in range(40):
        params, opt_state, metrics = step(params, opt_state, images, hyper)
        losses.append(float(metrics["loss"]))

    assert bool(metrics["finite"])
    assert losses[-1] < 0.5 * losses[0]
    norms = jnp.sqrt(jnp.sum(params["decoder"] ** 2, axis=model.decoder_filter_axes))
    assert float(jnp.max(norms)) <= 1.0 + 1e-6
    for name in ("grad_norm", "update_norm", "param_norm", "relative_error", "group_norms"):
        assert np.isfinite(float(metrics[name])), name


def test_train_step_does_not_recompile_for_new_hyperparameters():
    images = _images((4, 8, 8, 1), seed=3)
    params = _init(CONV_MODEL, images)
    optimizer = training.autoencoder_optimizer()
    opt_state = optimizer.init(params)
    step = training.make_autoencoder_train_step(CONV_MODEL, optimizer)

    for group_weight, learning_rate in [(0.1, 1e-3), (0.5, 1e-2), (0.0, 0.0)]:
        hyper = training.autoencoder_hyperparams(
            group_weight=group_weight, learning_rate=learning_rate, encoder_rate_scale=0.5
        )
        params, opt_state, _ = step(params, opt_state, images, hyper)

    assert step._cache_size() == 1


def test_zero_learning_rate_keeps_params():
    images = _images((4, 8, 8, 1), seed=4)
    params = _init(CONV_MODEL, images)
    optimizer = training.autoencoder_optimizer()
    step = training.make_autoencoder_train_step(CONV_MODEL, optimizer)
    hyper = training.autoencoder_hyperparams(group_weight=0.1, learning_rate=0.0)

    new_params, _, _ = step(params, optimizer.init(params), images, hyper)

    # The initial atoms have unit norm, so the projection leaves them too.
    for old, new in zip(jax.tree.leaves(params), jax.tree.leaves(new_params), strict=True):
        np.testing.assert_allclose(new, old, rtol=1e-6, atol=1e-7)


def test_project_decoder_clips_only_long_atoms(strict_promotion):
    decoder = jnp.stack([jnp.full((2, 2, 1), 1.0), jnp.full((2, 2, 1), 0.1)], axis=-1)

    projected = training.project_decoder(decoder, (0, 1, 2))

    norms = jnp.sqrt(jnp.sum(projected**2, axis=(0, 1, 2)))
    np.testing.assert_allclose(norms, [1.0, 0.2], rtol=1e-6)


def test_param_labels_name_the_decoder():
    params = {"encoder": {"filters": 1, "bias": 2}, "decoder": 3}

    labels = training.autoencoder_param_labels(params)

    assert labels == {"encoder": {"filters": "encoder", "bias": "encoder"}, "decoder": "decoder"}
    with pytest.raises(ValueError, match="no 'decoder' entry"):
        training.autoencoder_param_labels({"encoder": 1})


def _classifier_and_batch():
    first = ConvSparseAutoencoder(num_features=4, kernel_size=3)
    second = ConvSparseAutoencoder(num_features=4, kernel_size=3)
    model = ConvClassifier(layers=(first.encoder_layer(), second.encoder_layer()), num_classes=3)
    images = np.random.default_rng(5).uniform(size=(12, 8, 8, 1)).astype(np.float32)
    labels = np.arange(12, dtype=np.int32) % 3
    # Make the classes separable: class c brightens the band of rows 3c to 3c + 2.
    for index, label in enumerate(labels):
        images[index, 3 * label : 3 * label + 3] += 2.0
    return model, training.ImageBatch(images=jnp.asarray(images), labels=jnp.asarray(labels))


def test_classifier_step_fits_batch_and_eval_sums():
    model, batch = _classifier_and_batch()
    params = _init(model, batch.images)
    optimizer = training.classifier_optimizer()
    opt_state = optimizer.init(params)
    step = training.make_classifier_train_step(model, optimizer)
    hyper = training.classifier_hyperparams(learning_rate=0.02)

    for _ in range(60):
        params, opt_state, metrics = step(params, opt_state, batch, hyper)
    sums = jax.jit(lambda p, b: training.classifier_eval_step(p, b, model=model))(params, batch)

    assert bool(metrics["finite"])
    assert float(metrics["loss"]) < 0.3
    assert int(sums["count"]) == 12
    assert int(sums["errors"]) == 0
    assert float(sums["cross_entropy"]) < 12 * 0.3


def test_frozen_features_train_only_the_classifier():
    model, batch = _classifier_and_batch()
    params = _init(model, batch.images)
    optimizer = training.classifier_optimizer()
    step = training.make_classifier_train_step(model, optimizer)
    hyper = training.classifier_hyperparams(learning_rate=0.01, features_rate_scale=0.0)

    new_params, _, _ = step(params, optimizer.init(params), batch, hyper)

    for name in ("layer_0", "layer_1"):
        for old, new in zip(
            jax.tree.leaves(params[name]), jax.tree.leaves(new_params[name]), strict=True
        ):
            np.testing.assert_array_equal(new, old)
    assert not np.allclose(new_params["classifier"]["kernel"], params["classifier"]["kernel"])


def test_pretrained_assembly_keeps_encoder_params():
    model, batch = _classifier_and_batch()
    encoders = [
        {"filters": jnp.full((3, 3, 1, 4), 0.1), "bias": jnp.zeros(4), "gain": jnp.ones(4)},
        {"filters": jnp.full((3, 3, 4, 4), 0.2), "bias": jnp.ones(4), "gain": jnp.ones(4)},
    ]

    initial = _init(model, batch.images)
    params = assemble_pretrained_classifier(initial, encoders)

    np.testing.assert_array_equal(params["layer_1"]["filters"], encoders[1]["filters"])
    np.testing.assert_array_equal(params["classifier"]["kernel"], initial["classifier"]["kernel"])
    assert params["classifier"]["kernel"].shape == (2 * 2 * 4, 3)
    with pytest.raises(ValueError, match="shapes"):
        assemble_pretrained_classifier(initial, [encoders[1], encoders[1]])
