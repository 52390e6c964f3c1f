"""Optimisers with one learning rate per parameter group, set at run time.

Each parameter carries a group label, and each group gets its own optax
transformation ending in :func:`scale_by_group_learning_rate`. That last step
reads the group's rate from the ``learning_rates`` mapping passed to
``update``. A new rate (from a schedule or a sweep) is therefore a new argument
value of the jitted step and does not recompile it.

A descent group ends in a scale by −rate, an ascent group (``ascent=True``) in
a scale by +rate. Both kinds of group can sit in one optimiser, so a model can
descend on its weights and ascend on, for example, a lateral inhibition matrix
in the same update.

Example::

  optimizer = partitioned_adam(labels, ("fast", "slow"))
  opt_state = optimizer.init(params)
  rates = {"fast": jnp.float32(1e-3), "slow": jnp.float32(1e-4)}
  updates, opt_state = optimizer.update(grads, opt_state, params, learning_rates=rates)
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

ParamLabels = Any | Callable[[Any], Any]
"""A pytree of group names with the structure of the parameters, or a function
that returns one from the parameters."""


def scale_by_group_learning_rate(
    group: str, *, ascent: bool = False
) -> optax.GradientTransformationExtraArgs:
    """Scales updates by the run-time learning rate of ``group``.

    The update step multiplies the incoming updates by −η (descent) or +η
    (``ascent=True``), where η = ``learning_rates[group]`` is a keyword
    argument of ``update``. It has no state.

    Args:
      group: the key of this group's rate in ``learning_rates``.
      ascent: scale by +η, so that ``optax.apply_updates`` moves the parameters
        up the gradient.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` requires
      ``learning_rates``, a mapping from group name to a scalar.
    """
    if not isinstance(group, str):
        raise TypeError(f"group must be a str, got {type(group).__name__}: {group!r}")
    sign = 1 if ascent else -1

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None, *, learning_rates=None, **extra_args):
        del params, extra_args
        if learning_rates is None or group not in learning_rates:
            available = None if learning_rates is None else sorted(learning_rates)
            raise ValueError(
                f"update needs learning_rates[{group!r}]; got learning_rates with keys "
                f"{available}. Pass learning_rates={{{group!r}: rate, ...}} to update."
            )
        rate = learning_rates[group]
        if jnp.ndim(rate) != 0:
            raise ValueError(
                f"learning_rates[{group!r}] must be a scalar, got shape {jnp.shape(rate)}"
            )
        updates = jax.tree.map(lambda u: (sign * rate * u).astype(u.dtype), updates)
        return updates, state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def partitioned_optimizer(
    group_transforms: Mapping[str, optax.GradientTransformation], param_labels: ParamLabels
) -> optax.GradientTransformationExtraArgs:
    """Combines one transformation per parameter group into one optimiser.

    A thin layer over ``optax.partition`` (optax ≥ 0.2.8): every parameter
    labelled g is updated by ``group_transforms[g]``, and the extra keyword
    arguments of ``update`` (``learning_rates``) reach every group.

    Args:
      group_transforms: group name to transformation; each normally ends in
        :func:`scale_by_group_learning_rate` for its own group.
      param_labels: group names with the structure of the parameters, or a
        function from the parameters to such a tree.

    Returns:
      An ``optax.GradientTransformationExtraArgs``.
    """
    if not group_transforms:
        raise ValueError("group_transforms is empty; expected at least one parameter group")
    return optax.partition(dict(group_transforms), param_labels)


def partitioned_adam(
    param_labels: ParamLabels,
    groups: Sequence[str],
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    ascent_groups: Sequence[str] = (),
) -> optax.GradientTransformationExtraArgs:
    """Adam with a separate run-time learning rate for each parameter group.

    Each group runs ``optax.scale_by_adam(b1, b2, eps)`` followed by
    :func:`scale_by_group_learning_rate`, which gives exactly ``optax.adam``
    at that group's rate. Groups in ``ascent_groups`` take Adam ascent steps.

    Args:
      param_labels: group names with the structure of the parameters, or a
        function from the parameters to such a tree.
      groups: the group names; every label must be one of them.
      b1, b2, eps: Adam's decay rates and denominator constant.
      ascent_groups: the groups that ascend instead of descend.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` takes
      ``learning_rates``, a mapping from every group name to a scalar.
    """
    groups = tuple(groups)
    if len(set(groups)) != len(groups):
        raise ValueError(f"groups has duplicate names: {groups}")
    unknown = sorted(set(ascent_groups) - set(groups))
    if unknown:
        raise ValueError(f"ascent_groups {unknown} are not in groups {groups}")
    transforms = {
        group: optax.chain(
            optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
            scale_by_group_learning_rate(group, ascent=group in ascent_groups),
        )
        for group in groups
    }
    return partitioned_optimizer(transforms, param_labels)
