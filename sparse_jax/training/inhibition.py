"""Learning a dictionary and a lateral inhibition matrix in one jitted optax step.

For a batch of signals x_n the step

1. infers z*_n = argmin_z E(x_n, z) with the model's inhibited ISTA, where
   E(x, z) = ½‖x − W_d z‖² + λ‖z‖₁ + |z|ᵀ S |z|;
2. keeps z* fixed (``stop_gradient``) and takes the gradients of the batch
   mean of E(x_n, z*_n): ∂/∂W_d = mean_n (W_d z*_n − x_n) z*_nᵀ and
   ∂/∂S = mean_n |z*_n| |z*_n|ᵀ;
3. applies one optimiser update that descends on W_d and ascends on S (the
   "dictionary" and "inhibition" parameter groups of a partitioned
   optimiser), so the update on S increases E;
4. scales the atoms to unit norm and projects S with
   :func:`sparse_jax.inhibition.project_inhibition`: S ≥ 0, symmetric, zero
   diagonal, zero outside the structure mask, every row sum at most B.

λ, B and both learning rates are traced arguments, so one compilation serves
a whole sweep; the mask and the model are fixed when the step is built.
"""

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from sparse_jax.inhibition import (
    InhibitionEnergyTerms,
    inhibition_energy_terms,
    inhibition_norm_bound,
    project_inhibition,
    prune_tree,
)
from sparse_jax.models.inhibition import InhibitionCoder
from sparse_jax.prox import check_nonnegative
from sparse_jax.training.optim import partitioned_optimizer, scale_by_group_learning_rate
from sparse_jax.training.projections import normalize_columns

Params = dict[str, jax.Array]

DICTIONARY_GROUP = "dictionary"
INHIBITION_GROUP = "inhibition"
INHIBITION_PARAM_GROUPS = {"dictionary": DICTIONARY_GROUP, "inhibition": INHIBITION_GROUP}
"""Parameter name to optimiser group. The inhibition group ascends."""


class InhibitionHyperparams(NamedTuple):
    """Run-time hyperparameters of the train step; all are traced.

    Attributes:
      l1_weight: λ, shape ().
      max_row_sum: B, the bound on every row sum of S, shape ().
      learning_rates: {"dictionary": rate, "inhibition": rate}, each of shape ().
    """

    l1_weight: jax.Array
    max_row_sum: jax.Array
    learning_rates: dict[str, jax.Array]


def inhibition_hyperparams(
    *, l1_weight: float, dictionary_rate: float, inhibition_rate: float, max_row_sum: float
) -> InhibitionHyperparams:
    """Builds :class:`InhibitionHyperparams` as float32 arrays, after checking the values.

    Arrays of one dtype keep the jitted step at a single compilation for
    every value.

    Args:
      l1_weight: λ ≥ 0.
      dictionary_rate: learning rate of the descent on W_d, ≥ 0.
      inhibition_rate: learning rate of the ascent on S, ≥ 0; 0 keeps a
        feasible S bit for bit.
      max_row_sum: B > 0, the bound on each row sum of S.
    """
    for name, value in (
        ("l1_weight", l1_weight),
        ("dictionary_rate", dictionary_rate),
        ("inhibition_rate", inhibition_rate),
        ("max_row_sum", max_row_sum),
    ):
        check_nonnegative(value, name)
    if not max_row_sum > 0:
        raise ValueError(f"max_row_sum must be positive, got {max_row_sum!r}")
    return InhibitionHyperparams(
        l1_weight=jnp.asarray(l1_weight, jnp.float32),
        max_row_sum=jnp.asarray(max_row_sum, jnp.float32),
        learning_rates={
            DICTIONARY_GROUP: jnp.asarray(dictionary_rate, jnp.float32),
            INHIBITION_GROUP: jnp.asarray(inhibition_rate, jnp.float32),
        },
    )


def inhibition_param_labels(params: Params) -> dict[str, str]:
    """Returns the optimiser group of each parameter (see ``INHIBITION_PARAM_GROUPS``)."""
    if set(params) != set(INHIBITION_PARAM_GROUPS):
        raise ValueError(
            f"params has names {sorted(params)}; expected exactly {sorted(INHIBITION_PARAM_GROUPS)}"
        )
    return {name: INHIBITION_PARAM_GROUPS[name] for name in params}


def inhibition_optimizer(
    *,
    inhibition_adam: bool = False,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> optax.GradientTransformationExtraArgs:
    """Adam descent on the dictionary and gradient ascent on the inhibition matrix.

    The dictionary group runs ``optax.scale_by_adam`` and a descent step at
    ``learning_rates["dictionary"]``. The inhibition group by default takes
    plain gradient ascent steps, S ← S + η mean_n |z_n||z_n|ᵀ, so S
    accumulates co-activations in proportion to their size; with
    ``inhibition_adam`` it takes Adam ascent steps instead, whose size is
    nearly the same for every co-active pair.

    Returns:
      An optimiser whose ``update`` takes ``learning_rates`` with the keys
      "dictionary" and "inhibition".
    """
    inhibition_step = scale_by_group_learning_rate(INHIBITION_GROUP, ascent=True)
    if inhibition_adam:
        inhibition_step = optax.chain(optax.scale_by_adam(b1=b1, b2=b2, eps=eps), inhibition_step)
    transforms = {
        DICTIONARY_GROUP: optax.chain(
            optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
            scale_by_group_learning_rate(DICTIONARY_GROUP),
        ),
        INHIBITION_GROUP: inhibition_step,
    }
    return partitioned_optimizer(transforms, inhibition_param_labels)


def inhibition_loss(
    params: Params, signals: jax.Array, codes: jax.Array, l1_weight
) -> tuple[jax.Array, InhibitionEnergyTerms]:
    """Returns the batch mean of E(x_n, z_n) and of each of its terms.

    Args:
      params: ``dictionary`` (d, k) and ``inhibition`` (k, k).
      signals: x, shape (n, d).
      codes: z, shape (n, k), normally held fixed by the caller.
      l1_weight: λ, a scalar (traced or not).

    Returns:
      ``(energy, terms)``: the mean energy, a scalar, and
      :class:`sparse_jax.inhibition.InhibitionEnergyTerms` of batch means.
    """
    signals = jnp.asarray(signals)
    codes = jnp.asarray(codes)
    if signals.ndim != 2 or codes.ndim != 2 or codes.shape[0] != signals.shape[0]:
        raise ValueError(
            f"signals has shape {signals.shape} and codes {codes.shape}; expected (n, d) and "
            "(n, k) with the same n"
        )

    def terms_of(signal, code):
        return inhibition_energy_terms(
            params["dictionary"], params["inhibition"], signal, code, l1_weight
        )

    terms = jax.tree.map(jnp.mean, jax.vmap(terms_of)(signals, codes))
    return terms.energy, terms


def project_inhibition_params(params: Params, *, mask, max_row_sum) -> Params:
    """Scales every atom to unit norm and projects S into its feasible set.

    Args:
      params: ``dictionary`` (d, k) and ``inhibition`` (k, k).
      mask: bool (k, k), the pairs that may inhibit each other.
      max_row_sum: B, the bound on each row sum of S.

    Returns:
      The projected parameters; see
      :func:`sparse_jax.training.projections.normalize_columns` and
      :func:`sparse_jax.inhibition.project_inhibition`.
    """
    return {
        "dictionary": normalize_columns(params["dictionary"]),
        "inhibition": project_inhibition(params["inhibition"], mask, max_row_sum),
    }


def inhibition_train_step(
    params: Params,
    opt_state: optax.OptState,
    signals: jax.Array,
    hyper: InhibitionHyperparams,
    *,
    model: InhibitionCoder,
    optimizer: optax.GradientTransformationExtraArgs,
    mask,
    train_inhibition: bool = True,
) -> tuple[Params, optax.OptState, dict[str, jax.Array]]:
    """Takes one learning step on W_d (descent) and S (ascent), then projects.

    Pure and not jitted; :func:`make_inhibition_train_step` jits it.

    Args:
      params: the ``params`` collection of ``model``.
      opt_state: ``optimizer.init(params)`` or a later state.
      signals: x, shape (n, d).
      hyper: λ, B and the two learning rates.
      model: the :class:`InhibitionCoder` (static).
      optimizer: from :func:`inhibition_optimizer`.
      mask: bool (k, k), the structure (static).
      train_inhibition: False keeps S exactly as given, unprojected (a
        hand-set, fixed inhibition); the optimiser state still advances.

    Returns:
      ``(params, opt_state, metrics)``. The metrics, each of shape () unless
      noted:

      - ``energy``, ``reconstruction``, ``l1``, ``inhibition``: batch means of
        E and its terms at the input parameters and z*;
      - ``active_fraction``; ``dead_units``, the units inactive on the whole
        batch; ``unit_usage`` (k,), the fraction of the batch on which each
        unit is active (a vector, which a JSON-lines writer does not take);
      - ``inference_criterion``: the mean relative length of the next
        inference step;
      - ``dictionary_grad_norm``, ``inhibition_grad_norm``,
        ``dictionary_update_norm``, ``inhibition_update_norm``: global norms
        of the gradients and of the optimiser's update before the projection;
      - ``param_norm``, ``inhibition_norm`` (Frobenius) and
        ``inhibition_max_row_sum``, after the projection;
      - ``finite``: True when the energy, the gradients and the new
        parameters are all finite.
    """
    output = model.apply({"params": params}, signals, hyper.l1_weight)
    codes = jax.lax.stop_gradient(output.codes)
    (energy, terms), grads = jax.value_and_grad(inhibition_loss, has_aux=True)(
        params, signals, codes, hyper.l1_weight
    )
    updates, opt_state = optimizer.update(
        grads, opt_state, params, learning_rates=hyper.learning_rates
    )
    updated = optax.apply_updates(params, updates)
    new_params = project_inhibition_params(updated, mask=mask, max_row_sum=hyper.max_row_sum)
    if not train_inhibition:
        new_params["inhibition"] = params["inhibition"]

    is_active = codes != 0
    unit_usage = jnp.mean(is_active.astype(jnp.float32), axis=0)
    grad_norm = optax.tree.norm(grads)
    param_norm = optax.tree.norm(new_params)
    metrics = dict(terms._asdict())
    metrics.update(
        active_fraction=jnp.mean(unit_usage),
        dead_units=jnp.sum(unit_usage == 0).astype(jnp.int32),
        unit_usage=unit_usage,
        inference_criterion=jnp.mean(output.criterion),
        dictionary_grad_norm=optax.tree.norm(grads["dictionary"]),
        inhibition_grad_norm=optax.tree.norm(grads["inhibition"]),
        dictionary_update_norm=optax.tree.norm(updates["dictionary"]),
        inhibition_update_norm=optax.tree.norm(updates["inhibition"]),
        param_norm=param_norm,
        inhibition_norm=optax.tree.norm(new_params["inhibition"]),
        inhibition_max_row_sum=inhibition_norm_bound(new_params["inhibition"]),
        finite=jnp.isfinite(energy) & jnp.isfinite(grad_norm) & jnp.isfinite(param_norm),
    )
    return new_params, opt_state, metrics


def make_inhibition_train_step(
    model: InhibitionCoder,
    optimizer: optax.GradientTransformationExtraArgs,
    mask,
    *,
    train_inhibition: bool = True,
) -> Callable[..., tuple[Params, optax.OptState, dict[str, jax.Array]]]:
    """Jits :func:`inhibition_train_step` as ``step(params, opt_state, signals, hyper)``.

    The model, optimiser, mask and ``train_inhibition`` are fixed; λ, B and
    the learning rates in ``hyper`` are traced, so one compilation serves
    every value of them.
    """
    mask = check_structure_mask(mask, model.num_units)
    return jax.jit(
        functools.partial(
            inhibition_train_step,
            model=model,
            optimizer=optimizer,
            mask=mask,
            train_inhibition=train_inhibition,
        )
    )


def check_structure_mask(mask, num_units: int) -> np.ndarray:
    """Checks that ``mask`` is a symmetric boolean (k, k) array and returns it as NumPy."""
    mask = np.asarray(mask)
    if mask.shape != (num_units, num_units) or mask.dtype != np.bool_:
        raise ValueError(
            f"mask has shape {mask.shape} and dtype {mask.dtype}; expected a boolean "
            f"({num_units}, {num_units}) array for a model of {num_units} units"
        )
    if not np.array_equal(mask, mask.T):
        raise ValueError("mask must be symmetric: mask[i, j] == mask[j, i] for every pair")
    return mask


def inhibition_eval_step(
    params: Params, signals: jax.Array, l1_weight, *, model: InhibitionCoder
) -> dict[str, jax.Array]:
    """Returns the sums over a batch that evaluation accumulates.

    Sums, not means, so that batches of different sizes add up exactly. The
    scalars are ``count``, ``energy``, ``reconstruction``, ``l1``,
    ``inhibition`` and ``active`` (the sum over examples of the fraction of
    active units). ``unit_active`` (k,) counts the examples on which each
    unit is active.
    """
    output = model.apply({"params": params}, signals, l1_weight)
    _, terms = inhibition_loss(params, signals, output.codes, l1_weight)
    count = signals.shape[0]
    is_active = output.codes != 0
    sums = {name: value * count for name, value in terms._asdict().items()}
    sums.update(
        count=jnp.asarray(count, jnp.int32),
        active=jnp.sum(jnp.mean(is_active.astype(jnp.float32), axis=1)),
        unit_active=jnp.sum(is_active.astype(jnp.int32), axis=0),
    )
    return sums


def update_usage(usage: jax.Array, batch_usage: jax.Array, decay) -> jax.Array:
    """Returns the exponential moving average of the per-unit firing frequency.

    usage ← decay · usage + (1 − decay) · batch_usage, with ``batch_usage``
    (k,) the ``unit_usage`` metric of a train step and decay in [0, 1).
    """
    usage = jnp.asarray(usage)
    batch_usage = jnp.asarray(batch_usage, usage.dtype)
    if usage.shape != batch_usage.shape or usage.ndim != 1:
        raise ValueError(
            f"usage has shape {usage.shape} and batch_usage {batch_usage.shape}; expected "
            "equal shapes (k,)"
        )
    decay = jnp.asarray(decay, usage.dtype)
    return decay * usage + (1 - decay) * batch_usage


class PrunedModel(NamedTuple):
    """A tree-structured model after :func:`prune_inhibition_model`.

    Attributes:
      model: the :class:`InhibitionCoder` with ``num_units`` = k'.
      params: ``dictionary`` (d, k') and ``inhibition`` (k', k'), the kept
        columns, rows and columns of the original, unchanged.
      parents: int32 (k',), the pruned forest in the new numbering.
      kept: int32 (k',), the original index of each kept unit.
    """

    model: InhibitionCoder
    params: Params
    parents: np.ndarray
    kept: np.ndarray


def prune_inhibition_model(
    model: InhibitionCoder, params: Mapping[str, Any], parents, usage, threshold: float
) -> PrunedModel:
    """Removes the subtrees whose usage falls below ``threshold`` from a tree-structured model.

    A unit goes when its usage, or the usage of one of its ancestors, is
    below ``threshold`` (see :func:`sparse_jax.inhibition.prune_tree`). The
    remaining atoms and inhibition entries keep their values. The optimiser
    state does not carry over: initialise a new one for further training.

    Args:
      model: the trained coder with k units.
      params: ``dictionary`` (d, k) and ``inhibition`` (k, k).
      parents: (k,) the forest, ``parents[i]`` = −1 for a root.
      usage: (k,) per-unit usage, e.g. the firing frequency from :func:`update_usage`.
      threshold: the usage below which a subtree goes.

    Returns:
      :class:`PrunedModel`.
    """
    dictionary = jnp.asarray(params["dictionary"])
    inhibition = jnp.asarray(params["inhibition"])
    if dictionary.ndim != 2 or dictionary.shape[1] != model.num_units:
        raise ValueError(
            f"params['dictionary'] has shape {dictionary.shape}; expected (d, {model.num_units})"
        )
    if np.shape(parents) != (model.num_units,):
        raise ValueError(
            f"parents has shape {np.shape(parents)}; expected ({model.num_units},), one per unit"
        )
    pruned = prune_tree(parents, np.asarray(usage), threshold)
    if pruned.kept.size == 0:
        raise ValueError(
            f"threshold={threshold} removes every unit (the largest root usage is below it); "
            "lower the threshold"
        )
    kept = jnp.asarray(pruned.kept)
    new_params = {
        "dictionary": dictionary[:, kept],
        "inhibition": inhibition[kept][:, kept],
    }
    return PrunedModel(
        model=model.clone(num_units=int(pruned.kept.size)),
        params=new_params,
        parents=pruned.parents,
        kept=pruned.kept,
    )
