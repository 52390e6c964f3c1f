"""Group-sparse auto-encoders and predictive sparse decomposition: losses and train step.

Two modes train :class:`sparse_jax.models.group_ae.GroupSparseAutoEncoder`,
whose encoder is F(x) = g ⊙ ReLU(W_e x + b) and whose decoder is W_d with
unit-norm columns. Ω is the group penalty Σ_j w_j ‖z_{P_j}‖₂ of a
:class:`sparse_jax.groups.GroupStructure` (disjoint, tree, torus or any
overlapping groups), or the L1 norm when no structure is given.

* ``"direct"`` (the lecture's group-sparse auto-encoder): z = F(x) and

      loss = mean_n ½‖x_n − W_d z_n‖² + λ Ω(z_n),

  minimised over every parameter by back-propagation through the encoder.
  Ω is exact and differentiable (:func:`sparse_jax.group_l2_penalty`).

* ``"psd"`` (predictive sparse decomposition, Kavukcuoglu, Ranzato & LeCun
  2008; Kavukcuoglu, Ranzato, Fergus & LeCun, CVPR 2009): for each input the
  code z* minimises

      E(x, z) = ½‖x − W_d z‖² + λ Ω(z) + β ‖z − F(x)‖²,   z ≥ 0,

  and inference finds it from the warm start F(x). Then, with z* held
  fixed, one optimiser step descends on mean_n E(x_n, z*_n), so the
  dictionary learns to reconstruct from z* and the encoder learns to
  predict z*. The smooth part is a least-squares term in the stacked
  operator [W_d; √(2β) I], whose Lipschitz constant is σ_max(W_d)² + 2β.
  L1, disjoint groups and trees use FISTA with their exact prox on the
  positive part. Overlapping groups (a torus) have no closed-form prox, so
  inference there runs the primal–dual iteration of
  :func:`sparse_jax.groups.overlapping_group_lasso` on the exact Ω.

After every update the dictionary columns are scaled to unit norm (the
sphere). A zero column is dead: the step drops its update, so it stays zero
(and finite) until :func:`resample_group_ae_units` replaces it under the
dead-atom policy of :mod:`sparse_jax.training.dead_atoms`. λ, β and the learning rates are
traced, so one compilation serves a schedule or a ``vmap`` sweep
(:func:`sparse_jax.training.make_sweep_step`).
"""

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from sparse_jax.energies import group_l2_penalty
from sparse_jax.groups import (
    GroupStructure,
    group_lasso_penalty,
    overlapping_group_lasso,
    tree_lasso_penalty,
)
from sparse_jax.models.group_ae import gain_relu_encode
from sparse_jax.prox import check_nonnegative
from sparse_jax.solvers import Penalty, l1_penalty, lipschitz_constant, proximal_gradient
from sparse_jax.training.dead_atoms import (
    firing_fraction,
    resample_dead_atoms,
    reset_optimizer_state,
)
from sparse_jax.training.optim import partitioned_adam
from sparse_jax.training.projections import normalize_columns

Params = dict[str, jax.Array]

ENCODER_GROUP = "encoder"
DICTIONARY_GROUP = "dictionary"
GROUP_AE_PARAM_GROUPS = {
    "encoder": ENCODER_GROUP,
    "bias": ENCODER_GROUP,
    "gain": ENCODER_GROUP,
    "dictionary": DICTIONARY_GROUP,
}
"""Parameter name to optimiser group."""

MODES = ("direct", "psd")


class GroupAEHyperparams(NamedTuple):
    """Run-time hyperparameters of the train step; all are traced.

    Attributes:
      sparsity_weight: λ, shape ().
      prediction_weight: β, shape (), the weight of ‖z* − F(x)‖² in PSD mode
        (unused in direct mode).
      learning_rates: {"encoder": rate, "dictionary": rate}, each of shape ().
    """

    sparsity_weight: jax.Array
    prediction_weight: jax.Array
    learning_rates: dict[str, jax.Array]


class GroupAELossTerms(NamedTuple):
    """Batch means of the loss and its terms (scalars).

    ``prediction`` is ‖z* − F(x)‖² in PSD mode and 0 in direct mode.
    """

    loss: jax.Array
    reconstruction: jax.Array
    sparsity: jax.Array
    prediction: jax.Array


def group_ae_hyperparams(
    *,
    sparsity_weight: float,
    learning_rate: float,
    encoder_rate: float | None = None,
    prediction_weight: float = 1.0,
) -> GroupAEHyperparams:
    """Builds :class:`GroupAEHyperparams` as float32 arrays, after checking the values.

    Args:
      sparsity_weight: λ ≥ 0.
      learning_rate: the dictionary's learning rate, ≥ 0.
      encoder_rate: the learning rate of W_e, b and g; ``learning_rate`` when None.
      prediction_weight: β > 0 (PSD mode).
    """
    if encoder_rate is None:
        encoder_rate = learning_rate
    for name, value in (
        ("sparsity_weight", sparsity_weight),
        ("learning_rate", learning_rate),
        ("encoder_rate", encoder_rate),
        ("prediction_weight", prediction_weight),
    ):
        if isinstance(value, str | bytes) or np.ndim(value) != 0:
            raise ValueError(f"{name} must be a scalar number, got {value!r}")
    for name, value in (
        ("sparsity_weight", sparsity_weight),
        ("learning_rate", learning_rate),
        ("encoder_rate", encoder_rate),
        ("prediction_weight", prediction_weight),
    ):
        check_nonnegative(value, name)
    if not prediction_weight > 0:
        raise ValueError(f"prediction_weight must be positive, got {prediction_weight!r}")
    return GroupAEHyperparams(
        sparsity_weight=jnp.asarray(sparsity_weight, jnp.float32),
        prediction_weight=jnp.asarray(prediction_weight, jnp.float32),
        learning_rates={
            ENCODER_GROUP: jnp.asarray(encoder_rate, jnp.float32),
            DICTIONARY_GROUP: jnp.asarray(learning_rate, jnp.float32),
        },
    )


def group_ae_param_labels(params: Params) -> dict[str, str]:
    """Returns the optimiser group of each parameter (see ``GROUP_AE_PARAM_GROUPS``)."""
    if set(params) != set(GROUP_AE_PARAM_GROUPS):
        raise ValueError(
            f"params has names {sorted(params)}; expected exactly {sorted(GROUP_AE_PARAM_GROUPS)}"
        )
    return {name: GROUP_AE_PARAM_GROUPS[name] for name in params}


def group_ae_optimizer(
    *, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8
) -> optax.GradientTransformationExtraArgs:
    """Returns Adam with run-time learning rates for the "encoder" and "dictionary" groups.

    Its ``update`` needs ``learning_rates={"encoder": rate, "dictionary": rate}``,
    which :func:`group_ae_hyperparams` builds (``hyper.learning_rates``). The
    "encoder" group contains W_e, b and g.
    """
    # Fixed labels rather than a function of the parameters, so that optax can
    # map the state onto the parameters (for the dead-atom reset).
    return partitioned_adam(
        dict(GROUP_AE_PARAM_GROUPS), (ENCODER_GROUP, DICTIONARY_GROUP), b1=b1, b2=b2, eps=eps
    )


def sparsity_penalty(codes: jax.Array, groups: GroupStructure | None) -> jax.Array:
    """Returns Ω(z_n) for every row of a batch: Σ_j w_j ‖z_{P_j}‖₂, or ‖z‖₁ without groups.

    Args:
      codes: z, shape (n, k).
      groups: a structure over k units, or None for the L1 norm.

    Returns:
      (n,).
    """
    codes = jnp.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (n, k), got shape {codes.shape}")
    if groups is None:
        return jnp.sum(jnp.abs(codes), axis=1)
    _check_groups(groups, codes.shape[1])
    return jax.vmap(lambda code: group_l2_penalty(code, groups))(codes)


def group_ae_loss(
    params: Params, signals: jax.Array, sparsity_weight, *, groups: GroupStructure | None
) -> tuple[jax.Array, tuple[GroupAELossTerms, jax.Array]]:
    """Direct-mode loss: mean_n ½‖x_n − W_d F(x_n)‖² + λ Ω(F(x_n)).

    Args:
      params: ``encoder`` (k, d), ``bias`` (k,), ``gain`` (k,), ``dictionary`` (d, k).
      signals: x, shape (n, d).
      sparsity_weight: λ, a scalar.
      groups: the structure of Ω, or None for L1.

    Returns:
      ``(loss, (terms, codes))`` with codes z = F(x) of shape (n, k).
    """
    codes = gain_relu_encode(params["encoder"], params["bias"], params["gain"], signals)
    reconstruction = _mean_reconstruction(params["dictionary"], signals, codes)
    sparsity = jnp.mean(sparsity_penalty(codes, groups))
    loss = reconstruction + sparsity_weight * sparsity
    terms = GroupAELossTerms(
        loss=loss,
        reconstruction=reconstruction,
        sparsity=sparsity,
        prediction=jnp.zeros((), loss.dtype),
    )
    return loss, (terms, codes)


def psd_codes(
    params: Params,
    signals: jax.Array,
    sparsity_weight,
    prediction_weight,
    *,
    groups: GroupStructure | None,
    num_steps: int,
) -> jax.Array:
    """Infers z* = argmin_{z ≥ 0} ½‖x − W_d z‖² + λ Ω(z) + β‖z − F(x)‖² for a batch.

    The first and last terms equal, up to a constant, the stacked
    least-squares term ½‖[x; √(2β) F(x)] − [W_d; √(2β) I] z‖². Inference
    takes ``num_steps`` steps on it from the warm start F(x): FISTA with the
    exact prox for L1, disjoint groups and trees, and the primal–dual
    iteration of :func:`sparse_jax.groups.overlapping_group_lasso` for other
    structures.

    Args:
      params: the auto-encoder's parameters.
      signals: x, shape (n, d).
      sparsity_weight: λ ≥ 0, a scalar.
      prediction_weight: β > 0, a scalar.
      groups: the structure of Ω, or None for L1.
      num_steps: solver steps, ≥ 1.

    Returns:
      z*, shape (n, k), non-negative; not differentiated through (the
      caller keeps it fixed).
    """
    if isinstance(num_steps, bool) or not isinstance(num_steps, int | np.integer) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
    num_steps = int(num_steps)
    dictionary = params["dictionary"]
    k = dictionary.shape[1]
    if groups is not None:
        _check_groups(groups, k)
    predictions = gain_relu_encode(params["encoder"], params["bias"], params["gain"], signals)
    dictionary = jax.lax.stop_gradient(dictionary)
    predictions = jax.lax.stop_gradient(predictions)
    dtype = dictionary.dtype
    root = jnp.sqrt(2 * jnp.asarray(prediction_weight, dtype))
    stacked = jnp.concatenate([dictionary, root * jnp.eye(k, dtype=dtype)], axis=0)
    targets = jnp.concatenate([jnp.asarray(signals, dtype), root * predictions], axis=1)
    lipschitz = lipschitz_constant(dictionary) + root**2
    weight = jnp.asarray(sparsity_weight, dtype)

    if groups is not None and groups.kind not in ("disjoint", "tree"):
        result = overlapping_group_lasso(
            stacked,
            targets,
            groups,
            weight,
            num_steps=num_steps,
            lipschitz=lipschitz,
            init=predictions,
            nonneg=True,
        )
        return jax.lax.stop_gradient(result.codes)
    result = proximal_gradient(
        stacked,
        targets,
        _nonneg_penalty(groups, weight),
        num_steps=num_steps,
        lipschitz=lipschitz,
        init=predictions,
    )
    return jax.lax.stop_gradient(result.codes)


def psd_loss(
    params: Params,
    signals: jax.Array,
    codes: jax.Array,
    sparsity_weight,
    prediction_weight,
    *,
    groups: GroupStructure | None,
) -> tuple[jax.Array, GroupAELossTerms]:
    """PSD loss at fixed codes: mean_n ½‖x_n − W_d z*_n‖² + λ Ω(z*_n) + β ‖z*_n − F(x_n)‖².

    Args:
      params: the auto-encoder's parameters.
      signals: x, shape (n, d).
      codes: z*, shape (n, k), from :func:`psd_codes`, held fixed.
      sparsity_weight: λ; prediction_weight: β.
      groups: the structure of Ω, or None for L1.

    Returns:
      ``(loss, terms)``.
    """
    codes = jax.lax.stop_gradient(jnp.asarray(codes))
    predictions = gain_relu_encode(params["encoder"], params["bias"], params["gain"], signals)
    if codes.shape != predictions.shape:
        raise ValueError(f"codes has shape {codes.shape}; expected {predictions.shape}")
    reconstruction = _mean_reconstruction(params["dictionary"], signals, codes)
    sparsity = jnp.mean(sparsity_penalty(codes, groups))
    prediction = jnp.mean(jnp.sum((codes - predictions) ** 2, axis=1))
    loss = reconstruction + sparsity_weight * sparsity + prediction_weight * prediction
    return loss, GroupAELossTerms(
        loss=loss, reconstruction=reconstruction, sparsity=sparsity, prediction=prediction
    )


def project_group_ae_params(params: Params) -> Params:
    """Scales every dictionary column to unit norm (zero columns stay zero)."""
    return {**params, "dictionary": normalize_columns(params["dictionary"])}


def group_ae_train_step(
    params: Params,
    opt_state: optax.OptState,
    signals: jax.Array,
    hyper: GroupAEHyperparams,
    *,
    optimizer: optax.GradientTransformationExtraArgs,
    groups: GroupStructure | None,
    mode: str = "direct",
    inference_steps: int = 50,
) -> tuple[Params, optax.OptState, dict[str, jax.Array]]:
    """Takes one update of a group-sparse auto-encoder, then the unit-norm projection.

    Args:
      params: the auto-encoder's parameters.
      opt_state: the state of ``optimizer``.
      signals: x, shape (n, d).
      hyper: λ, β and the learning rates.
      optimizer: from :func:`group_ae_optimizer`.
      groups: the structure of Ω, or None for L1; fixed, not traced.
      mode: "direct" or "psd" (see the module docstring).
      inference_steps: solver steps per batch in PSD mode (FISTA, or the
        primal–dual iteration for overlapping groups).

    Returns:
      ``(params, opt_state, metrics)``. The metrics are:

      - batch means ``loss``, ``reconstruction``, ``sparsity`` (Ω) and
        ``prediction``;
      - ``active_fraction``, of the codes the dictionary is trained on
        (F(x) in direct mode, z* in PSD mode);
      - ``gradient_norm``, and ``finite``: loss, gradient and new parameters
        all finite;
      - ``dead_columns``, the number of zero dictionary columns;
      - ``firing`` (k,), the fraction of the batch on which each code is
        non-zero, for the dead-atom policy.
    """
    _check_mode(mode)
    _check_steps(inference_steps)
    if jnp.ndim(signals) != 2 or jnp.shape(signals)[0] == 0:
        raise ValueError(
            f"signals must be a non-empty batch of shape (n, d), got shape {jnp.shape(signals)}"
        )
    if mode == "direct":

        def loss_fn(p):
            return group_ae_loss(p, signals, hyper.sparsity_weight, groups=groups)

        (_, (terms, codes)), gradient = jax.value_and_grad(loss_fn, has_aux=True)(params)
    else:
        codes = psd_codes(
            params,
            signals,
            hyper.sparsity_weight,
            hyper.prediction_weight,
            groups=groups,
            num_steps=inference_steps,
        )

        def loss_fn(p):
            return psd_loss(
                p, signals, codes, hyper.sparsity_weight, hyper.prediction_weight, groups=groups
            )

        (_, terms), gradient = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(
        gradient, opt_state, params, learning_rates=hyper.learning_rates
    )
    new_params = optax.apply_updates(params, updates)
    # A zero column is dead: drop its update so that it stays zero until resampled.
    is_zero = jnp.all(params["dictionary"] == 0, axis=0)
    new_params["dictionary"] = jnp.where(
        is_zero[None, :], jnp.zeros((), new_params["dictionary"].dtype), new_params["dictionary"]
    )
    params = project_group_ae_params(new_params)
    firing = firing_fraction(codes)
    gradient_norm = optax.tree.norm(gradient)
    metrics = {
        **terms._asdict(),
        "active_fraction": jnp.mean(firing),
        "gradient_norm": gradient_norm,
        "finite": jnp.isfinite(terms.loss)
        & jnp.isfinite(gradient_norm)
        & jnp.isfinite(optax.tree.norm(params)),
        "dead_columns": jnp.sum(is_zero.astype(jnp.int32)),
        "firing": firing,
    }
    return params, opt_state, metrics


def make_group_ae_train_step(
    optimizer: optax.GradientTransformationExtraArgs,
    *,
    groups: GroupStructure | None,
    mode: str = "direct",
    inference_steps: int = 50,
) -> Callable[..., tuple[Params, optax.OptState, dict[str, jax.Array]]]:
    """Returns ``step(params, opt_state, signals, hyper)``: :func:`group_ae_train_step`, jitted.

    The optimiser, the group structure, the mode and the number of inference
    steps are fixed; everything in ``hyper`` is traced.
    """
    _check_mode(mode)
    _check_steps(inference_steps)
    return jax.jit(
        functools.partial(
            group_ae_train_step,
            optimizer=optimizer,
            groups=groups,
            mode=mode,
            inference_steps=inference_steps,
        )
    )


def group_ae_eval_step(
    params: Params,
    signals: jax.Array,
    hyper: GroupAEHyperparams,
    *,
    groups: GroupStructure | None,
    mode: str = "direct",
    inference_steps: int = 50,
) -> dict[str, Any]:
    """Returns the sums over ``signals`` that evaluation accumulates.

    ``count``, ``loss``, ``reconstruction``, ``sparsity``, ``prediction``,
    ``active`` (sum over examples of the fraction of non-zero codes), and in
    PSD mode ``encoder_reconstruction``, the reconstruction error from the
    encoder's prediction alone (the fast approximation PSD trains for).
    """
    _check_mode(mode)
    count = signals.shape[0]
    if mode == "direct":
        _, (terms, codes) = group_ae_loss(params, signals, hyper.sparsity_weight, groups=groups)
        extra = {}
    else:
        codes = psd_codes(
            params,
            signals,
            hyper.sparsity_weight,
            hyper.prediction_weight,
            groups=groups,
            num_steps=inference_steps,
        )
        _, terms = psd_loss(
            params, signals, codes, hyper.sparsity_weight, hyper.prediction_weight, groups=groups
        )
        predictions = gain_relu_encode(params["encoder"], params["bias"], params["gain"], signals)
        extra = {
            "encoder_reconstruction": count
            * _mean_reconstruction(params["dictionary"], signals, predictions)
        }
    sums = {name: value * count for name, value in terms._asdict().items()}
    return {
        "count": jnp.asarray(count, jnp.int32),
        **sums,
        "active": jnp.sum(jnp.mean((codes != 0).astype(jnp.float32), axis=1)),
        **extra,
    }


def resample_group_ae_units(
    key: jax.Array,
    params: Params,
    opt_state: optax.OptState,
    dead,
    signals: jax.Array,
    reconstructions: jax.Array,
    *,
    optimizer: optax.GradientTransformation,
) -> tuple[Params, optax.OptState]:
    """Resamples the dead units of an auto-encoder and resets their optimiser state.

    Dead column j of W_d becomes a normalised, badly reconstructed input u
    (:func:`sparse_jax.training.dead_atoms.resample_dead_atoms`); the encoder
    row j becomes r̄ u, with r̄ the mean norm of the living encoder rows, so
    the unit responds to inputs like u; b_j = 0 and g_j is the mean living
    gain (the means run over all units when every unit is dead). Adam's
    moments of every resampled entry are set to zero. Runs eagerly.

    Args:
      key: a JAX PRNG key.
      params: the auto-encoder's parameters.
      opt_state: the state of ``optimizer``.
      dead: bool (k,), from :func:`sparse_jax.training.dead_atoms.find_dead_atoms`.
      signals: x, shape (n, d), a batch to draw the new atoms from.
      reconstructions: x̂ of that batch, shape (n, d).
      optimizer: the optimiser that built ``opt_state``.

    Returns:
      ``(params, opt_state)``; unchanged when no unit is dead.
    """
    dead = np.asarray(dead, bool)
    k = params["dictionary"].shape[1]
    if dead.shape != (k,):
        raise ValueError(f"dead has shape {dead.shape}; expected ({k},)")
    if not dead.any():
        return params, opt_state
    dictionary = resample_dead_atoms(key, params["dictionary"], dead, signals, reconstructions)
    # The scale comes from the living units, or from all units when none lives.
    alive = jnp.asarray(~dead if not dead.all() else np.ones_like(dead))
    row_norms = jnp.sqrt(jnp.sum(params["encoder"] ** 2, axis=1))
    scale = jnp.sum(jnp.where(alive, row_norms, 0)) / jnp.sum(alive)
    gain = jnp.sum(jnp.where(alive, params["gain"], 0)) / jnp.sum(alive)
    is_dead = jnp.asarray(dead)
    new_params = {
        "dictionary": dictionary,
        "encoder": jnp.where(is_dead[:, None], scale * dictionary.T, params["encoder"]),
        "bias": jnp.where(is_dead, jnp.zeros((), params["bias"].dtype), params["bias"]),
        "gain": jnp.where(is_dead, gain, params["gain"]),
    }
    masks = {
        "dictionary": is_dead[None, :],
        "encoder": is_dead[:, None],
        "bias": is_dead,
        "gain": is_dead,
    }
    return new_params, reset_optimizer_state(optimizer, opt_state, masks)


def _nonneg_penalty(groups: GroupStructure | None, weight) -> Penalty:
    """λΩ plus the constraint z ≥ 0; for these norms the prox is prox_Ω(max(v, 0))."""
    if groups is None:
        return l1_penalty(weight, nonneg=True)
    base = group_lasso_penalty(groups, weight) if groups.kind == "disjoint" else None
    if base is None:
        base = tree_lasso_penalty(groups, weight)

    def prox(values, step):
        return base.prox(jnp.maximum(values, 0), step)

    return Penalty(value=base.value, prox=prox, dual_norm=None)


def _mean_reconstruction(dictionary, signals, codes):
    residual = jnp.asarray(signals) - codes @ dictionary.T
    return 0.5 * jnp.mean(jnp.sum(residual**2, axis=1))


def _check_groups(groups, k: int) -> None:
    if not isinstance(groups, GroupStructure):
        raise TypeError(
            f"groups must be a GroupStructure from sparse_jax.groups or None, got "
            f"{type(groups).__name__}"
        )
    if groups.num_units != k:
        raise ValueError(f"groups covers {groups.num_units} units; the codes have {k}")


def _check_steps(inference_steps) -> None:
    if (
        isinstance(inference_steps, bool)
        or not isinstance(inference_steps, int | np.integer)
        or inference_steps < 1
    ):
        raise ValueError(f"inference_steps must be a positive int, got {inference_steps!r}")


def _check_mode(mode) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
