"""Dictionary learning with a sparsity penalty and LISTA trained to regress lasso codes.

Dictionary learning alternates sparse inference with FISTA (the dictionary
held fixed) and one optimiser step on the atoms (the codes held fixed), then
projects every atom onto the unit sphere. The penalty is the lasso's λ‖z‖₁
by default, or any :class:`sparse_jax.Penalty`, such as the tree lasso.
LISTA (Gregor & LeCun, ICML 2010) is trained to predict the optimal codes
z* of a fixed dictionary:

    loss = mean_n ½‖z^{(T)}(x_n) − z*_n‖²

Both train steps are pure functions, jitted by their factories, whose learning
rate and sparsity weight are runtime arguments.
"""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

import sparse_jax
from sparse_jax.encoders import ListaParams
from sparse_jax.training.optim import partitioned_adam
from sparse_jax.training.projections import normalize_columns

_GROUP = "params"


class DictionaryMetrics(NamedTuple):
    """Batch means of one dictionary-learning step: scalars, and ``firing`` of shape (k,).

    ``firing`` is the only non-scalar field, so a metric writer that takes
    scalars needs it removed (or summarised) first.
    """

    objective: jax.Array  # ½‖x − D z‖² + Ω(z), Ω = λ‖z‖₁ by default
    reconstruction: jax.Array  # ½‖x − D z‖²
    active_fraction: jax.Array  # fraction of non-zero code entries
    gradient_norm: jax.Array  # global norm of the dictionary gradient
    firing: jax.Array  # (k,): fraction of the batch on which z_i ≠ 0


class ListaMetrics(NamedTuple):
    """Batch means of one LISTA regression step (scalars)."""

    loss: jax.Array  # ½‖z^{(T)} − z*‖²
    relative_code_error: jax.Array  # ‖z^{(T)} − z*‖² / ‖z*‖², mean over examples with z* ≠ 0
    gradient_norm: jax.Array  # global norm of the gradient


def single_group_adam() -> optax.GradientTransformationExtraArgs:
    """Adam whose learning rate is the runtime argument ``learning_rates['params']``."""
    return partitioned_adam(lambda params: jax.tree.map(lambda _: _GROUP, params), (_GROUP,))


def make_dictionary_learning_step(
    optimizer: optax.GradientTransformationExtraArgs,
    *,
    num_steps: int,
    nonneg: bool = False,
    penalty: Callable[[jax.Array], sparse_jax.Penalty] | None = None,
) -> Callable:
    """Builds a jitted step of dictionary learning with a sparsity penalty Ω.

    The step infers codes z = argmin_z ½‖x − D z‖² + Ω(z) approximately, with
    ``num_steps`` FISTA steps from z = 0 and the dictionary held fixed. Then it
    takes one optimiser step on D for the batch mean of ½‖x − D z‖² with z held
    fixed, and scales every atom to unit norm (zero atoms stay zero). The
    penalty is Ω = ``penalty(l1_weight)``. By default Ω(z) = λ‖z‖₁ (the lasso),
    or λ‖z‖₁ with z ≥ 0 when ``nonneg``. For the tree lasso of Jenatton,
    Mairal, Obozinski and Bach (JMLR 12, 2011) pass
    ``penalty=lambda weight: sparse_jax.tree_lasso_penalty(groups, weight)``.

    Args:
      optimizer: from :func:`single_group_adam` (or any optimiser whose
        ``update`` takes ``learning_rates={'params': rate}``).
      num_steps: FISTA steps per batch.
      nonneg: non-negative codes, with the default L1 penalty only.
      penalty: a function from the runtime weight λ (a traced scalar, or a
        (k,) array for the default penalty) to a :class:`sparse_jax.Penalty`
        on one code of shape (k,). None gives ``sparse_jax.l1_penalty``.

    Returns:
      ``step(dictionary, opt_state, signals, l1_weight, learning_rate) ->
      (dictionary, opt_state, DictionaryMetrics)`` with dictionary (d, k),
      signals (n, d) and ``l1_weight`` λ, a scalar or (k,) for the default
      penalty. ``objective`` is the batch mean of ½‖x − D z‖² + Ω(z) at the
      inferred codes and the dictionary before the update.

    Raises:
      ValueError: ``nonneg`` is combined with a custom ``penalty`` (put the
        constraint in that penalty's prox instead), or, when the step is
        called, ``l1_weight`` is neither a scalar nor of shape (k,).
      TypeError: ``penalty`` is neither None nor callable.
    """
    if penalty is None:

        def make_penalty(weight):
            return sparse_jax.l1_penalty(weight, nonneg=nonneg)

    elif not callable(penalty):
        raise TypeError(
            f"penalty must be a function from the weight to a sparse_jax.Penalty, got {penalty!r}"
        )
    elif nonneg:
        raise ValueError(
            "nonneg=True only applies to the default L1 penalty. With a custom penalty, "
            "build the non-negativity constraint into its prox and pass nonneg=False"
        )
    else:
        make_penalty = penalty

    def step(dictionary, opt_state, signals, l1_weight, learning_rate):
        num_atoms = dictionary.shape[1]
        if jnp.shape(l1_weight) not in ((), (num_atoms,)):
            raise ValueError(
                f"l1_weight has shape {jnp.shape(l1_weight)}; expected a scalar or one weight "
                f"per atom, shape ({num_atoms},)"
            )
        code_penalty = make_penalty(l1_weight)
        codes = sparse_jax.proximal_gradient(
            dictionary, signals, code_penalty, num_steps=num_steps, accelerate=True
        ).codes
        codes = jax.lax.stop_gradient(codes)

        def reconstruction(matrix):
            residual = signals - codes @ matrix.T
            return 0.5 * jnp.mean(jnp.sum(residual**2, axis=1))

        value, gradient = jax.value_and_grad(reconstruction)(dictionary)
        updates, opt_state = optimizer.update(
            gradient, opt_state, dictionary, learning_rates={_GROUP: learning_rate}
        )
        dictionary = normalize_columns(optax.apply_updates(dictionary, updates))
        penalty_value = jnp.mean(jax.vmap(code_penalty.value)(codes))
        metrics = DictionaryMetrics(
            objective=value + penalty_value,
            reconstruction=value,
            active_fraction=sparse_jax.active_fraction(codes),
            gradient_norm=optax.tree.norm(gradient),
            firing=jnp.mean((codes != 0).astype(jnp.float32), axis=0),
        )
        return dictionary, opt_state, metrics

    return jax.jit(step)


def lista_regression_loss(
    params: ListaParams, signals, targets, *, num_steps: int, nonneg: bool = False
) -> tuple[jax.Array, jax.Array]:
    """Returns the LISTA regression loss and the mean relative code error.

    loss = mean_n ½‖z^{(T)}(x_n) − z*_n‖², with z^{(T)} from
    :func:`sparse_jax.lista_encode` and T = ``num_steps``.

    Args:
      params: LISTA parameters, encoder (k, d), recurrent (k, k), threshold (k,).
      signals: x, shape (n, d).
      targets: z*, shape (n, k).
      num_steps: T.
      nonneg: the non-negative encoder.

    Returns:
      ``(loss, relative_error)``: the loss and the mean over examples with
      z* ≠ 0 of ‖z^{(T)} − z*‖² / ‖z*‖² (0 when every target is zero).
    """
    signals = jnp.asarray(signals)
    targets = jnp.asarray(targets)
    k = params.recurrent.shape[0]
    if signals.ndim != 2 or targets.shape != (signals.shape[0], k):
        raise ValueError(
            f"signals has shape {signals.shape} and targets {targets.shape}; expected (n, d) "
            f"and (n, {k})"
        )
    codes = sparse_jax.lista_encode(*params, signals, num_steps=num_steps, nonneg=nonneg)
    squared_error = jnp.sum((codes - targets) ** 2, axis=1)
    target_sq = jnp.sum(targets**2, axis=1)
    has_target = target_sq > 0
    ratio = jnp.where(has_target, squared_error / jnp.where(has_target, target_sq, 1), 0)
    relative_error = jnp.sum(ratio) / jnp.maximum(jnp.sum(has_target), 1)
    return 0.5 * jnp.mean(squared_error), relative_error


def make_lista_train_step(
    optimizer: optax.GradientTransformationExtraArgs, *, num_steps: int, nonneg: bool = False
) -> Callable:
    """Builds a jitted LISTA regression step.

    Returns:
      ``step(params, opt_state, signals, targets, learning_rate) -> (params,
      opt_state, ListaMetrics)``; see :func:`lista_regression_loss` for shapes.
    """

    def step(params, opt_state, signals, targets, learning_rate):
        def loss_fn(p):
            return lista_regression_loss(p, signals, targets, num_steps=num_steps, nonneg=nonneg)

        (loss, relative_error), gradient = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(
            gradient, opt_state, params, learning_rates={_GROUP: learning_rate}
        )
        params = optax.apply_updates(params, updates)
        metrics = ListaMetrics(
            loss=loss, relative_code_error=relative_error, gradient_norm=optax.tree.norm(gradient)
        )
        return params, opt_state, metrics

    return jax.jit(step)
