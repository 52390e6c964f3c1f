"""Train steps for group-sparse auto-encoders and for fine-tuning stacked classifiers.

Auto-encoders (:class:`sparse_jax.models.conv.ConvSparseAutoencoder` and
:class:`sparse_jax.models.local.LocalSparseAutoencoder`) minimise, averaged
over the batch,

    ½‖x − x̂‖² + λ Σ y,

with x̂ the reconstruction and y the L2-pooled codes (the group norms).
After each Adam step every decoder atom is projected onto the unit ball.
Without that bound the loss could shrink the codes, and so the penalty, by
growing the decoder. λ and the learning rates are run-time inputs of the
jitted step, so one compilation serves a sweep over them.

Classifiers (:class:`sparse_jax.models.conv.ConvClassifier`) minimise the
softmax cross-entropy; the pretrained layers and the classifier on top are
two parameter groups with their own run-time learning rates.
"""

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import linen as nn

from sparse_jax.models.conv import AutoencoderOutput, ClassifierOutput
from sparse_jax.prox import check_nonnegative
from sparse_jax.training.drsae import check_labels
from sparse_jax.training.optim import partitioned_adam

Params = dict[str, Any]

ENCODER_GROUP = "encoder"
DECODER_GROUP = "decoder"
FEATURES_GROUP = "features"
CLASSIFIER_GROUP = "classifier"


class AutoencoderHyperparams(NamedTuple):
    """Run-time hyperparameters of the auto-encoder train step; all traced.

    Attributes:
      group_weight: λ, shape ().
      learning_rates: ``{"encoder": rate, "decoder": rate}``, each of shape ().
    """

    group_weight: jax.Array
    learning_rates: dict[str, jax.Array]


class AutoencoderLossTerms(NamedTuple):
    """Batch means of the auto-encoder loss and its terms, each of shape ().

    Attributes:
      loss: reconstruction + λ · group_norms.
      reconstruction: ½‖x − x̂‖².
      group_norms: Σ y, the sum of the pooled group norms of one example.
      relative_error: ‖x − x̂‖² / ‖x‖² over the batch.
      active_fraction: the fraction of nonzero code entries.
    """

    loss: jax.Array
    reconstruction: jax.Array
    group_norms: jax.Array
    relative_error: jax.Array
    active_fraction: jax.Array


class ImageBatch(NamedTuple):
    """A labelled batch of n images.

    Attributes:
      images: x, shape (n, H, W, C), floating point.
      labels: y, shape (n,), integer class indices.
    """

    images: jax.Array
    labels: jax.Array


class ClassifierHyperparams(NamedTuple):
    """Run-time learning rates of the classifier train step.

    Attributes:
      learning_rates: ``{"features": rate, "classifier": rate}``, each of
        shape (): the encoder layers and the dense layer on top.
    """

    learning_rates: dict[str, jax.Array]


def autoencoder_hyperparams(
    *, group_weight: float, learning_rate: float, encoder_rate_scale: float = 1.0
) -> AutoencoderHyperparams:
    """Builds :class:`AutoencoderHyperparams` as float32 arrays, after checking them.

    Args:
      group_weight: λ ≥ 0.
      learning_rate: the decoder's Adam rate, ≥ 0.
      encoder_rate_scale: the encoder's rate (filters, bias, gain) as a
        multiple of ``learning_rate``, ≥ 0.
    """
    for name, value in (
        ("group_weight", group_weight),
        ("learning_rate", learning_rate),
        ("encoder_rate_scale", encoder_rate_scale),
    ):
        check_nonnegative(value, name)
    return AutoencoderHyperparams(
        group_weight=jnp.asarray(group_weight, jnp.float32),
        learning_rates={
            ENCODER_GROUP: jnp.asarray(encoder_rate_scale * learning_rate, jnp.float32),
            DECODER_GROUP: jnp.asarray(learning_rate, jnp.float32),
        },
    )


def autoencoder_param_labels(params: Params) -> dict[str, Any]:
    """Labels the top-level ``decoder`` entry "decoder" and every other entry "encoder"."""
    if "decoder" not in params:
        raise ValueError(
            f"params has no 'decoder' entry (keys {sorted(params)}); expected the params of "
            "a ConvSparseAutoencoder or LocalSparseAutoencoder"
        )
    return {
        name: jax.tree.map(
            lambda _, n=name: DECODER_GROUP if n == "decoder" else ENCODER_GROUP, value
        )
        for name, value in params.items()
    }


def autoencoder_optimizer(
    *, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformationExtraArgs:
    """Adam with an encoder and a decoder group, each at its run-time rate."""
    return partitioned_adam(
        autoencoder_param_labels, (ENCODER_GROUP, DECODER_GROUP), b1=b1, b2=b2, eps=eps
    )


def autoencoder_loss(
    output: AutoencoderOutput, inputs: jax.Array, *, group_weight
) -> tuple[jax.Array, AutoencoderLossTerms]:
    """Computes ½‖x − x̂‖² + λ Σ y averaged over the batch, and its terms.

    Args:
      output: the model's output for ``inputs``.
      inputs: x, shape (n, H, W, C), the same shape as ``output.reconstruction``.
      group_weight: λ, a scalar (traced or not).

    Returns:
      The scalar loss and :class:`AutoencoderLossTerms`.
    """
    inputs = jnp.asarray(inputs)
    if output.reconstruction.shape != inputs.shape:
        raise ValueError(
            f"reconstruction of shape {output.reconstruction.shape} does not match inputs of "
            f"shape {inputs.shape}"
        )
    num_examples = inputs.shape[0]
    residual = (inputs - output.reconstruction).reshape(num_examples, -1)
    squared_error = jnp.sum(jnp.square(residual), axis=1)
    group_norms = jnp.sum(output.pooled.reshape(num_examples, -1), axis=1)

    reconstruction = 0.5 * jnp.mean(squared_error)
    mean_group_norms = jnp.mean(group_norms)
    loss = reconstruction + jnp.asarray(group_weight, reconstruction.dtype) * mean_group_norms
    signal_energy = jnp.sum(jnp.square(inputs))
    relative_error = jnp.sum(squared_error) / jnp.where(signal_energy > 0, signal_energy, 1)
    terms = AutoencoderLossTerms(
        loss=loss,
        reconstruction=reconstruction,
        group_norms=mean_group_norms,
        relative_error=relative_error,
        active_fraction=jnp.mean((output.codes > 0).astype(jnp.float32)),
    )
    return loss, terms


def project_decoder(decoder: jax.Array, axes, *, max_norm: float = 1.0) -> jax.Array:
    """Projects each decoder atom onto the ball of radius ``max_norm``.

    An atom is the slice of ``decoder`` over ``axes``: (0, 1, 2) for a
    convolutional decoder (kh, kw, C, K), (2, 3, 4) for a locally connected
    one (H', W', f, f, C, K). Atoms inside the ball, zero atoms included,
    are unchanged.
    """
    norms = jnp.sqrt(jnp.sum(jnp.square(decoder), axis=tuple(axes), keepdims=True))
    bound = jnp.asarray(max_norm, decoder.dtype)
    is_outside = norms > bound
    return decoder * jnp.where(is_outside, bound / jnp.where(is_outside, norms, 1), 1)


def autoencoder_train_step(
    params: Params,
    opt_state: optax.OptState,
    inputs: jax.Array,
    hyper: AutoencoderHyperparams,
    *,
    model: nn.Module,
    optimizer: optax.GradientTransformationExtraArgs,
) -> tuple[Params, optax.OptState, dict[str, jax.Array]]:
    """Takes one Adam step on the auto-encoder loss, then projects the decoder atoms.

    Pure and not jitted; :func:`make_autoencoder_train_step` jits it.

    Args:
      params: the ``params`` collection of ``model``.
      opt_state: ``optimizer.init(params)`` or a later state.
      inputs: x, shape (n, H, W, C).
      hyper: λ and the two learning rates.
      model: a ConvSparseAutoencoder or LocalSparseAutoencoder (static); its
        ``decoder_filter_axes`` are the axes of one atom.
      optimizer: e.g. :func:`autoencoder_optimizer`.

    Returns:
      ``(params, opt_state, metrics)``: the fields of
      :class:`AutoencoderLossTerms` at the input parameters, ``grad_norm``,
      ``update_norm``, ``param_norm`` (global Euclidean norms) and
      ``finite``, True when the loss, the gradients and the new parameters
      are finite.
    """

    def loss_fn(p):
        output = model.apply({"params": p}, inputs)
        return autoencoder_loss(output, inputs, group_weight=hyper.group_weight)

    (loss, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(
        grads, opt_state, params, learning_rates=hyper.learning_rates
    )
    params = optax.apply_updates(params, updates)
    params = {**params, "decoder": project_decoder(params["decoder"], model.decoder_filter_axes)}

    grad_norm = optax.tree.norm(grads)
    param_norm = optax.tree.norm(params)
    metrics = dict(terms._asdict())
    metrics.update(
        grad_norm=grad_norm,
        update_norm=optax.tree.norm(updates),
        param_norm=param_norm,
        finite=jnp.isfinite(loss) & jnp.isfinite(grad_norm) & jnp.isfinite(param_norm),
    )
    return params, opt_state, metrics


def make_autoencoder_train_step(
    model: nn.Module, optimizer: optax.GradientTransformationExtraArgs
) -> Callable[..., tuple[Params, optax.OptState, dict[str, jax.Array]]]:
    """Returns ``step(params, opt_state, inputs, hyper)``: :func:`autoencoder_train_step`, jitted.

    λ and the learning rates in ``hyper`` are traced, so changing them does
    not recompile the step.
    """
    return jax.jit(functools.partial(autoencoder_train_step, model=model, optimizer=optimizer))


def classifier_hyperparams(
    *, learning_rate: float, features_rate_scale: float = 1.0
) -> ClassifierHyperparams:
    """Builds :class:`ClassifierHyperparams` as float32 arrays.

    Args:
      learning_rate: the dense classifier's Adam rate, ≥ 0.
      features_rate_scale: the encoder layers' rate as a multiple of
        ``learning_rate``, ≥ 0 (0 freezes them).
    """
    check_nonnegative(learning_rate, "learning_rate")
    check_nonnegative(features_rate_scale, "features_rate_scale")
    return ClassifierHyperparams(
        learning_rates={
            FEATURES_GROUP: jnp.asarray(features_rate_scale * learning_rate, jnp.float32),
            CLASSIFIER_GROUP: jnp.asarray(learning_rate, jnp.float32),
        }
    )


def classifier_param_labels(params: Params) -> dict[str, Any]:
    """Labels the ``classifier`` entry "classifier" and the layers "features"."""
    if "classifier" not in params:
        raise ValueError(
            f"params has no 'classifier' entry (keys {sorted(params)}); expected the params "
            "of a ConvClassifier"
        )
    return {
        name: jax.tree.map(
            lambda _, n=name: CLASSIFIER_GROUP if n == "classifier" else FEATURES_GROUP, value
        )
        for name, value in params.items()
    }


def classifier_optimizer(
    *, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformationExtraArgs:
    """Adam with a features group and a classifier group, each at its run-time rate."""
    return partitioned_adam(
        classifier_param_labels, (FEATURES_GROUP, CLASSIFIER_GROUP), b1=b1, b2=b2, eps=eps
    )


def classifier_loss(output: ClassifierOutput, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Returns the mean softmax cross-entropy and the error rate of a batch."""
    labels = check_labels(output.logits, labels)
    cross_entropy = jnp.mean(
        optax.losses.softmax_cross_entropy_with_integer_labels(output.logits, labels)
    )
    error_rate = jnp.mean((jnp.argmax(output.logits, axis=-1) != labels).astype(jnp.float32))
    return cross_entropy, error_rate


def classifier_train_step(
    params: Params,
    opt_state: optax.OptState,
    batch: ImageBatch,
    hyper: ClassifierHyperparams,
    *,
    model: nn.Module,
    optimizer: optax.GradientTransformationExtraArgs,
) -> tuple[Params, optax.OptState, dict[str, jax.Array]]:
    """Takes one Adam step on the cross-entropy of a ConvClassifier.

    Returns:
      ``(params, opt_state, metrics)`` with ``loss`` (cross-entropy),
      ``error_rate``, ``grad_norm``, ``update_norm``, ``param_norm`` and
      ``finite``, at the input parameters except ``param_norm``.
    """

    def loss_fn(p):
        output = model.apply({"params": p}, batch.images)
        return classifier_loss(output, batch.labels)

    (loss, error_rate), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(
        grads, opt_state, params, learning_rates=hyper.learning_rates
    )
    params = optax.apply_updates(params, updates)
    grad_norm = optax.tree.norm(grads)
    param_norm = optax.tree.norm(params)
    metrics = {
        "loss": loss,
        "error_rate": error_rate,
        "grad_norm": grad_norm,
        "update_norm": optax.tree.norm(updates),
        "param_norm": param_norm,
        "finite": jnp.isfinite(loss) & jnp.isfinite(grad_norm) & jnp.isfinite(param_norm),
    }
    return params, opt_state, metrics


def make_classifier_train_step(
    model: nn.Module, optimizer: optax.GradientTransformationExtraArgs
) -> Callable[..., tuple[Params, optax.OptState, dict[str, jax.Array]]]:
    """Returns ``step(params, opt_state, batch, hyper)``: :func:`classifier_train_step`, jitted."""
    return jax.jit(functools.partial(classifier_train_step, model=model, optimizer=optimizer))


def classifier_eval_step(params: Params, batch: ImageBatch, *, model: nn.Module) -> dict:
    """Returns the sums over ``batch`` that evaluation accumulates.

    ``count``, ``errors`` (wrong arg-max) and ``cross_entropy`` (summed over
    the examples), so that batches of different sizes add up exactly.
    """
    output = model.apply({"params": params}, batch.images)
    labels = check_labels(output.logits, batch.labels)
    losses = optax.losses.softmax_cross_entropy_with_integer_labels(output.logits, labels)
    is_wrong = jnp.argmax(output.logits, axis=-1) != labels
    return {
        "count": jnp.asarray(batch.images.shape[0], jnp.int32),
        "errors": jnp.sum(is_wrong.astype(jnp.int32)),
        "cross_entropy": jnp.sum(losses),
    }
