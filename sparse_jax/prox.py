"""Proximal operators of sparsity penalties.

Each operator solves, for one example,

    prox(v) = argmin_u  ½‖u − v‖² + threshold · Ω(u)

for a penalty Ω. Batches come from ``jax.vmap``.
"""

import jax.numpy as jnp
import numpy as np

from sparse_jax._compat import is_tracer


def check_nonnegative(value, name: str) -> None:
    """Raises ValueError when a concrete ``value`` has a negative or non-finite entry.

    Traced values (inside ``jit``, ``vmap`` or ``grad``) cannot be inspected and
    pass unchecked; the functions that call this document what they do with them.
    """
    if is_tracer(value):
        return
    array = np.asarray(value)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got {array}")
    if np.any(array < 0):
        raise ValueError(f"{name} must be non-negative, got {array}")


def shrink(values: jnp.ndarray, threshold: jnp.ndarray, nonneg: bool) -> jnp.ndarray:
    """Applies the soft threshold without validating ``threshold``.

    With ``nonneg=True`` it is ``max(v − θ, 0)`` for any sign of θ, the ReLU with
    a bias that DrSAE learns; otherwise ``sign(v) · max(|v| − θ, 0)``.
    """
    if nonneg:
        return jnp.maximum(values - threshold, 0)
    return jnp.sign(values) * jnp.maximum(jnp.abs(values) - threshold, 0)


def soft_threshold(values: jnp.ndarray, threshold, *, nonneg: bool = False) -> jnp.ndarray:
    """Applies the soft-threshold operator, the proximal operator of θ‖·‖₁.

    .. math::

        h_θ(v) = \\operatorname{sign}(v) \\max(|v| − θ, 0)
               = \\operatorname{argmin}_u ½‖u − v‖² + θ‖u‖₁

    With ``nonneg=True`` it is ``max(v − θ, 0)``, the proximal operator of
    θ‖u‖₁ restricted to u ≥ 0. θ = 0 returns ``values`` unchanged (signed) or
    their positive part (non-negative).

    Args:
      values: v, any shape.
      threshold: θ ≥ 0, a scalar or an array that broadcasts to ``values``
        without adding dimensions (per-coordinate thresholds).
      nonneg: keep only the positive part.

    Returns:
      An array of the shape and dtype of ``values``.

    Raises:
      ValueError: a concrete ``threshold`` is negative or not finite, or its
        shape does not broadcast to ``values``.

    A traced ``threshold`` (inside ``jit``, ``vmap`` or ``grad``) cannot be
    checked when the function is traced. Where such a threshold is negative at
    run time, the output is NaN in the affected entries, so that the error shows
    up (``jax_debug_nans`` locates it) instead of a silently expanded value.
    """
    values = jnp.asarray(values)
    check_nonnegative(threshold, "threshold")
    threshold = jnp.asarray(threshold, dtype=values.dtype)
    if threshold.ndim > values.ndim or not _broadcasts(threshold.shape, values.shape):
        raise ValueError(
            f"threshold of shape {threshold.shape} does not broadcast to values of shape "
            f"{values.shape}; expected a scalar or shape {values.shape}"
        )
    if threshold.ndim > 0:
        threshold = jnp.broadcast_to(threshold, values.shape)

    result = shrink(values, threshold, nonneg)
    if is_tracer(threshold):
        result = jnp.where(threshold < 0, jnp.nan, result)
    return result


def _broadcasts(small: tuple, large: tuple) -> bool:
    """True when ``small`` broadcasts to ``large`` without changing ``large``."""
    offset = len(large) - len(small)
    return all(s in (1, large[offset + i]) for i, s in enumerate(small))
