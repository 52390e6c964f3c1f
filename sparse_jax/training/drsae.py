"""DrSAE loss, parameter groups, projections and the jitted train step.

The loss per example is

    ½‖x − W_d z‖² + λ‖z‖₁ + α · CE(W_c z/‖z‖ + c, y)

with z = z⁽ᵀ⁾ the code of the unrolled encoder, averaged over the batch.
Training runs in two phases: α = 0 (an auto-encoder), then α > 0. After every
update the parameters are projected back into the bounds of Rolfe & LeCun
(ICLR 2013): rows of W_e to norm ≤ 1.25/T, columns of W_d to norm ≤ 1, rows of
W_c to norm ≤ 5.
"""

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from sparse_jax.energies import l1_norm
from sparse_jax.models.drsae import DrSAE, DrSAEOutput
from sparse_jax.prox import check_nonnegative
from sparse_jax.training.optim import partitioned_adam
from sparse_jax.training.projections import clip_norms

Params = dict[str, jax.Array]

ENCODING_GROUP = "encoding"
DECODING_GROUP = "decoding"
DRSAE_PARAM_GROUPS = {
    "encoder": ENCODING_GROUP,
    "recurrent": ENCODING_GROUP,
    "threshold": ENCODING_GROUP,
    "decoder": DECODING_GROUP,
    "classifier": DECODING_GROUP,
    "classifier_bias": DECODING_GROUP,
}
"""Parameter name to optimiser group. The encoding group trains at a fraction
of the decoding group's rate by default, because plain Adam at one rate on
every parameter silences most units within the first MNIST epoch."""


class Batch(NamedTuple):
    """A labelled batch of n examples.

    Attributes:
      images: x, shape (n, d), floating point.
      labels: y, shape (n,), integer class indices.
    """

    images: jax.Array
    labels: jax.Array


class DrSAEHyperparams(NamedTuple):
    """Run-time hyperparameters of the DrSAE train step; all are traced.

    Attributes:
      l1_weight: λ, shape ().
      class_weight: α, shape (); 0 in phase 1.
      learning_rates: optimiser group name to learning rate, each of shape ().
    """

    l1_weight: jax.Array
    class_weight: jax.Array
    learning_rates: dict[str, jax.Array]


class DrSAEBounds(NamedTuple):
    """Norm bounds of the projection after each update (Python floats, static).

    Attributes:
      encoder_row_scale: rows of W_e get norm ≤ encoder_row_scale / T.
      decoder_column: columns (atoms) of W_d get norm ≤ decoder_column.
      classifier_row: rows of W_c get norm ≤ classifier_row.
    """

    encoder_row_scale: float = 1.25
    decoder_column: float = 1.0
    classifier_row: float = 5.0


DEFAULT_DRSAE_BOUNDS = DrSAEBounds()


class DrSAELossTerms(NamedTuple):
    """Batch means of the DrSAE loss and its terms, each of shape ().

    Attributes:
      loss: reconstruction + λ·l1 + α·cross_entropy.
      reconstruction: ½‖x − W_d z‖².
      l1: ‖z‖₁.
      cross_entropy: CE(logits, y).
      error_rate: fraction of examples whose arg-max logit is not the label.
    """

    loss: jax.Array
    reconstruction: jax.Array
    l1: jax.Array
    cross_entropy: jax.Array
    error_rate: jax.Array


def drsae_hyperparams(
    *,
    l1_weight: float,
    class_weight: float,
    learning_rate: float,
    encoding_rate_scale: float = 0.1,
) -> DrSAEHyperparams:
    """Builds :class:`DrSAEHyperparams` as float32 arrays, after checking the values.

    Passing arrays of one dtype keeps the jitted train step at a single
    compilation for every value: a Python float in one call and an array in
    the next would trace twice.

    Args:
      l1_weight: λ ≥ 0.
      class_weight: α ≥ 0.
      learning_rate: the decoding group's rate (decoder and classifier), ≥ 0.
      encoding_rate_scale: the encoding group's rate (encoder, recurrent,
        threshold) as a multiple of ``learning_rate``, ≥ 0.

    Returns:
      :class:`DrSAEHyperparams`.
    """
    for name, value in (
        ("l1_weight", l1_weight),
        ("class_weight", class_weight),
        ("learning_rate", learning_rate),
        ("encoding_rate_scale", encoding_rate_scale),
    ):
        check_nonnegative(value, name)
    return DrSAEHyperparams(
        l1_weight=jnp.asarray(l1_weight, jnp.float32),
        class_weight=jnp.asarray(class_weight, jnp.float32),
        learning_rates={
            ENCODING_GROUP: jnp.asarray(encoding_rate_scale * learning_rate, jnp.float32),
            DECODING_GROUP: jnp.asarray(learning_rate, jnp.float32),
        },
    )


def drsae_param_labels(params: Params) -> dict[str, str]:
    """Returns the optimiser group of each DrSAE parameter (see ``DRSAE_PARAM_GROUPS``)."""
    unknown = sorted(set(params) - set(DRSAE_PARAM_GROUPS))
    if unknown:
        raise ValueError(
            f"params has names {unknown} with no optimiser group; expected only "
            f"{sorted(DRSAE_PARAM_GROUPS)}"
        )
    return {name: DRSAE_PARAM_GROUPS[name] for name in params}


def drsae_optimizer(
    *, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformationExtraArgs:
    """Adam with the two DrSAE groups, each at its run-time rate.

    ``update`` takes ``learning_rates`` with the keys ``"encoding"`` and
    ``"decoding"``, as built by :func:`drsae_hyperparams`.
    """
    return partitioned_adam(
        drsae_param_labels, (ENCODING_GROUP, DECODING_GROUP), b1=b1, b2=b2, eps=eps
    )


def project_drsae_params(params: Params, *, num_steps: int, bounds: DrSAEBounds) -> Params:
    """Projects encoder rows, decoder columns and classifier rows into their balls.

    Args:
      params: DrSAE parameters with encoder (k, d), decoder (d, k) and
        classifier (n_classes, k); other entries pass through.
      num_steps: T, the number of encoder steps of the model.
      bounds: the radii, see :class:`DrSAEBounds`.

    Returns:
      The projected parameters, same structure.
    """
    projected = dict(params)
    projected["encoder"] = clip_norms(
        params["encoder"], bounds.encoder_row_scale / num_steps, axis=1
    )
    projected["decoder"] = clip_norms(params["decoder"], bounds.decoder_column, axis=0)
    projected["classifier"] = clip_norms(params["classifier"], bounds.classifier_row, axis=1)
    return projected


def check_labels(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Checks that ``labels`` (n,) are integer class indices for ``logits`` (n, C).

    Returns:
      ``labels`` as int32.

    Raises:
      ValueError: the shapes do not match; the message names both.
      TypeError: the labels are not integers.
    """
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels)
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"labels of shape {labels.shape} do not match logits of shape {logits.shape}; "
            f"expected labels (n,) with logits (n, n_classes)"
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    return labels.astype(jnp.int32)


def drsae_loss(
    output: DrSAEOutput, batch: Batch, *, l1_weight, class_weight
) -> tuple[jax.Array, DrSAELossTerms]:
    """Computes the DrSAE loss, averaged over the batch, and its terms.

    Args:
      output: the model's output for ``batch.images``.
      batch: images (n, d) and labels (n,).
      l1_weight: λ, a scalar (traced or not).
      class_weight: α, a scalar (traced or not).

    Returns:
      The scalar loss and :class:`DrSAELossTerms`.
    """
    images = jnp.asarray(batch.images)
    if output.reconstruction.shape != images.shape:
        raise ValueError(
            f"reconstruction of shape {output.reconstruction.shape} does not match images "
            f"of shape {images.shape}"
        )
    labels = check_labels(output.logits, batch.labels)
    dtype = output.codes.dtype

    reconstruction = jnp.mean(0.5 * jnp.sum(jnp.square(images - output.reconstruction), axis=-1))
    l1 = jnp.mean(jax.vmap(l1_norm)(output.codes))
    cross_entropy = jnp.mean(
        optax.losses.softmax_cross_entropy_with_integer_labels(output.logits, labels)
    )
    is_wrong = jnp.argmax(output.logits, axis=-1) != labels

    loss = (
        reconstruction
        + jnp.asarray(l1_weight, dtype) * l1
        + jnp.asarray(class_weight, dtype) * cross_entropy
    )
    terms = DrSAELossTerms(
        loss=loss,
        reconstruction=reconstruction,
        l1=l1,
        cross_entropy=cross_entropy,
        error_rate=jnp.mean(is_wrong.astype(jnp.float32)),
    )
    return loss, terms


def drsae_train_step(
    params: Params,
    opt_state: optax.OptState,
    batch: Batch,
    hyper: DrSAEHyperparams,
    *,
    model: DrSAE,
    optimizer: optax.GradientTransformationExtraArgs,
    bounds: DrSAEBounds = DEFAULT_DRSAE_BOUNDS,
) -> tuple[Params, optax.OptState, dict[str, jax.Array]]:
    """Takes one optimiser step on the DrSAE loss, then projects the parameters.

    Pure and not jitted; :func:`make_drsae_train_step` jits it.

    Args:
      params: the ``params`` collection of ``model``.
      opt_state: ``optimizer.init(params)`` or a later state.
      batch: images (n, d) and labels (n,).
      hyper: λ, α and the group learning rates.
      model: the :class:`DrSAE` (static).
      optimizer: an optimiser whose ``update`` takes ``learning_rates``, such
        as :func:`drsae_optimizer`.
      bounds: the projection radii.

    Returns:
      ``(params, opt_state, metrics)``. Each metric has shape (). They are
      the fields of :class:`DrSAELossTerms` at the input parameters and:

      - ``active_fraction``: the fraction of nonzero code entries;
      - ``dead_units``: units with a zero code on every example of the batch;
      - ``grad_norm``, ``update_norm`` (the optimiser's update, before the
        projection) and ``param_norm`` (after the projection): global
        Euclidean norms;
      - ``finite``: True when the loss, the gradients and the new parameters
        are all finite.
    """

    def loss_fn(p):
        output = model.apply({"params": p}, batch.images)
        loss, terms = drsae_loss(
            output, batch, l1_weight=hyper.l1_weight, class_weight=hyper.class_weight
        )
        return loss, (terms, output.codes)

    (loss, (terms, codes)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(
        grads, opt_state, params, learning_rates=hyper.learning_rates
    )
    params = optax.apply_updates(params, updates)
    params = project_drsae_params(params, num_steps=model.num_steps, bounds=bounds)

    is_active = codes > 0
    grad_norm = optax.tree.norm(grads)
    param_norm = optax.tree.norm(params)
    metrics = dict(terms._asdict())
    metrics.update(
        active_fraction=jnp.mean(is_active.astype(jnp.float32)),
        dead_units=jnp.sum(~jnp.any(is_active, axis=0)).astype(jnp.int32),
        grad_norm=grad_norm,
        update_norm=optax.tree.norm(updates),
        param_norm=param_norm,
        finite=jnp.isfinite(loss) & jnp.isfinite(grad_norm) & jnp.isfinite(param_norm),
    )
    return params, opt_state, metrics


def make_drsae_train_step(
    model: DrSAE,
    optimizer: optax.GradientTransformationExtraArgs,
    bounds: DrSAEBounds = DEFAULT_DRSAE_BOUNDS,
) -> Callable[..., tuple[Params, optax.OptState, dict[str, jax.Array]]]:
    """Returns ``step(params, opt_state, batch, hyper)``: :func:`drsae_train_step`, jitted.

    The model, optimiser and bounds are fixed; λ, α and the learning rates in
    ``hyper`` are traced, so one compilation serves every value of them.
    """
    _check_bounds(bounds)
    return jax.jit(
        functools.partial(drsae_train_step, model=model, optimizer=optimizer, bounds=bounds)
    )


def drsae_eval_step(
    params: Params, batch: Batch, hyper: DrSAEHyperparams, *, model: DrSAE
) -> dict[str, Any]:
    """Returns the sums over ``batch`` that evaluation accumulates.

    Sums, not means, so that batches of different sizes add up exactly:
    ``count``, ``errors`` (wrong arg-max), ``reconstruction``, ``l1``,
    ``cross_entropy``, ``loss`` and ``active`` (the sum over examples of the
    fraction of nonzero code entries), each of shape ().
    """
    output = model.apply({"params": params}, batch.images)
    _, terms = drsae_loss(output, batch, l1_weight=hyper.l1_weight, class_weight=hyper.class_weight)
    is_wrong = jnp.argmax(output.logits, axis=-1) != check_labels(output.logits, batch.labels)
    count = batch.images.shape[0]
    return {
        "count": jnp.asarray(count, jnp.int32),
        "errors": jnp.sum(is_wrong.astype(jnp.int32)),
        "reconstruction": terms.reconstruction * count,
        "l1": terms.l1 * count,
        "cross_entropy": terms.cross_entropy * count,
        "loss": terms.loss * count,
        "active": jnp.sum(jnp.mean((output.codes > 0).astype(jnp.float32), axis=-1)),
    }


def _check_bounds(bounds: DrSAEBounds) -> None:
    if not isinstance(bounds, DrSAEBounds):
        raise TypeError(f"bounds must be a DrSAEBounds, got {type(bounds).__name__}")
    for name, value in bounds._asdict().items():
        if not isinstance(value, int | float) or not value > 0:
            raise ValueError(f"bounds.{name} must be a positive number, got {value!r}")
