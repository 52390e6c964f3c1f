"""Proximal operators of sparsity penalties.

Each operator solves, for one example,

    prox(v) = argmin_u  ½‖u − v‖² + threshold · Ω(u)

for a penalty Ω. Batches come from ``jax.vmap``.
"""

import jax.numpy as jnp
import numpy as np

from sparse_jax._compat import is_tracer
from sparse_jax.groups import (
    GroupStructure,
    accumulation_dtype,
    check_structure,
    gather_slots,
)


def check_nonnegative(value, name: str) -> None:
    """Raises ValueError when a concrete ``value`` has a negative or non-finite entry.

    Traced values (inside ``jit``, ``vmap`` or ``grad``) cannot be inspected and
    pass unchecked; the functions that call this document what they do with them.
    """
    if is_tracer(value):
        return
    if value is None:
        raise TypeError(f"{name} must be a number or an array of numbers, got None")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}") from error
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
      values: v, any shape; integer values are converted to the default
        float dtype.
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
    if not jnp.issubdtype(values.dtype, jnp.floating):
        # An integer dtype would truncate the threshold and the result.
        values = values.astype(jnp.result_type(float))
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


def group_shrink_factor(squared_norms, thresholds):
    """Returns max(0, 1 − θ_g/‖v_g‖) per group from the squared norms ‖v_g‖².

    The factor is exactly 0 where ‖v_g‖ ≤ θ_g > 0, including ‖v_g‖ = 0, with
    a zero derivative there (no 0/0 in value or gradient), and exactly 1
    where θ_g = 0, even when ‖v_g‖² underflows to 0. Traced negative
    thresholds give NaN, as in :func:`soft_threshold`.

    Args:
      squared_norms: (G,) ‖v_g‖² ≥ 0.
      thresholds: θ_g, broadcasting to (G,), of the same dtype.
    """
    dtype = squared_norms.dtype
    positive = squared_norms > 0
    norms = jnp.where(positive, jnp.sqrt(jnp.where(positive, squared_norms, 1)), 0)
    keep = norms > thresholds
    safe_norms = jnp.where(keep, norms, 1)
    # A zero threshold is the identity, also where ‖v_g‖² underflowed to 0.
    dropped = jnp.where(thresholds > 0, jnp.zeros((), dtype), jnp.ones((), dtype))
    factor = jnp.where(keep, 1 - thresholds / safe_norms, dropped)
    if is_tracer(thresholds):
        factor = jnp.where(thresholds < 0, jnp.nan, factor)
    return factor


def folded_group_weights(groups: GroupStructure) -> jnp.ndarray:
    """Returns the outer weights with constant inner weights folded in, w_g·sqrt(c_g).

    A group whose inner weights all equal c_g has the penalty
    w_g sqrt(c_g) ‖v_g‖, a plain group norm. Other inner weights have no
    closed-form prox.

    Raises:
      ValueError: the inner weights vary inside a group, or they are traced
        and cannot be checked.
    """
    if groups.inner_weights is None:
        return groups.weights
    if is_tracer(groups.inner_weights):
        raise ValueError(
            "the group soft threshold cannot check traced inner weights; pass the structure "
            "with inner_weights=None, with any constant inner weight c_g folded into the "
            "outer weight as w_g * sqrt(c_g)"
        )
    inner = np.asarray(groups.inner_weights)
    mask = np.asarray(groups.mask)
    first = inner[:, :1]
    varying = np.any(mask & (inner != first), axis=1)
    if np.any(varying):
        group = int(np.flatnonzero(varying)[0])
        raise ValueError(
            f"group {group} has non-uniform inner weights {inner[group][mask[group]]}; the "
            "group soft threshold is exact only for a constant weight inside each group"
        )
    return groups.weights * jnp.sqrt(jnp.asarray(first[:, 0]))


def group_soft_threshold(values: jnp.ndarray, groups: GroupStructure, threshold) -> jnp.ndarray:
    """Applies the group soft threshold, the proximal operator of θ Σ_g w_g ‖v_g‖.

    .. math::

        v_g ← \\max(0, 1 − θ w_g / ‖v_g‖)\\, v_g
            = \\operatorname{argmin}_u ½‖u − v‖² + θ Σ_g w_g ‖u_g‖

    for disjoint groups P_g with outer weights w_g (``groups.weights``).
    Units in no group are not penalised and come back unchanged. A group
    with ‖v_g‖ ≤ θ w_g, an all-zero group included, becomes exactly 0 with a
    zero gradient. Norms accumulate in float32 for float16 and bfloat16
    inputs. A group whose entries are all below about 1e-19 in float32 has
    squares that underflow to 0, so it is zeroed whenever θ w_g > 0.

    The per-group norms are reductions of a (max size, G) gather of the
    members, and the factors return to the units through a gather of the
    per-unit group ids. A ``jax.ops.segment_sum`` over the group ids gives
    the same norms, but vmapped over a batch of 4096 it took 2.6 times as
    long on XLA:CPU (median, benchmarks/group_ista.py, jax 0.10.2).

    Args:
      values: v, shape (k,) with k = ``groups.num_units``; batch with vmap.
      groups: a "disjoint" :class:`~sparse_jax.groups.GroupStructure`,
        without inner weights or with inner weights constant inside each
        group (folded into w_g as w_g·sqrt(c_g)).
      threshold: θ ≥ 0, a scalar.

    Returns:
      An array of the shape and dtype of ``values``.

    Raises:
      ValueError: overlapping, torus or tree groups, inner weights that vary
        inside a group, a concrete negative or non-finite threshold, or a
        non-scalar threshold.
    """
    values = jnp.asarray(values)
    check_structure(groups, values, "values")
    if groups.kind != "disjoint":
        raise ValueError(
            f"group_soft_threshold needs disjoint groups, got kind {groups.kind!r}: "
            "overlapping groups have no exact prox (see groups.latent_group_lasso) and "
            "trees use tree_prox"
        )
    _check_scalar_threshold(threshold)
    group_weights = folded_group_weights(groups)

    dtype = accumulation_dtype(values.dtype)
    wide = values.astype(dtype)
    slots = gather_slots(wide, groups)
    squared_norms = jnp.sum(slots * slots, axis=0)
    thresholds = jnp.asarray(threshold, dtype) * group_weights.astype(dtype)
    factor = group_shrink_factor(squared_norms, thresholds)
    # Units in no group have the id G. They are selected out after a clamped
    # gather, because appending a factor of 1 for them made XLA:CPU fuse the
    # concatenation into the gather and run several times slower.
    in_group = groups.unit_groups < groups.num_groups
    unit_factor = factor[jnp.minimum(groups.unit_groups, groups.num_groups - 1)]
    return jnp.where(in_group, wide * unit_factor, wide).astype(values.dtype)


def tree_prox(values: jnp.ndarray, groups: GroupStructure, threshold) -> jnp.ndarray:
    """Applies the proximal operator of θ Σ_g w_g ‖v_g‖ for tree-structured groups.

    .. math::

        \\operatorname{argmin}_u ½‖u − v‖² + θ Σ_g w_g ‖u_g‖

    where each group is a node with all its descendants. Jenatton, Mairal,
    Obozinski and Bach (Proximal Methods for Hierarchical Sparse Coding,
    JMLR 12, 2011) show that the composition of the group soft thresholds
    u_g ← max(0, 1 − θ w_g/‖u_g‖) u_g, every child before its parent, is the
    exact prox.

    The pass goes level by level, deepest first. Groups of one depth are
    disjoint, and before a group is thresholded its entries have been scaled
    only by the factors of its descendants, so its norm follows from those
    of its children:

        n_g² = v_h² + Σ_{c child of g} f_c² n_c²,   f_g = max(0, 1 − θ w_g / n_g),

    with h the head node of g. Then u_i = v_i · Π f_a over the groups a that
    contain i (node i and its ancestors), a top-down cumulative product. The
    work is O(k) per pass plus the padded child tables, O(k) for trees whose
    nodes within a level have similar numbers of children. The levels are
    unrolled in the traced program, so compile time grows with the depth.

    Args:
      values: v, shape (k,) with k = ``groups.num_units``; batch with vmap.
      groups: a "tree" :class:`~sparse_jax.groups.GroupStructure` without
        inner weights.
      threshold: θ ≥ 0, a scalar.

    Returns:
      An array of the shape and dtype of ``values``; norms accumulate in
      float32 for float16 and bfloat16 inputs.

    Raises:
      ValueError: a structure that is not a tree, inner weights, or an invalid
        threshold.
    """
    values = jnp.asarray(values)
    check_structure(groups, values, "values")
    if groups.kind != "tree":
        raise ValueError(
            f"tree_prox needs a tree structure from groups.tree, got kind {groups.kind!r}"
        )
    if groups.inner_weights is not None:
        raise ValueError("tree_prox does not support inner weights; set them to None")
    _check_scalar_threshold(threshold)

    dtype = accumulation_dtype(values.dtype)
    wide = values.astype(dtype)
    thresholds = jnp.asarray(threshold, dtype) * groups.weights.astype(dtype)
    # The codes in group order: entry g is the head of group g.
    ordered = wide if groups.heads_in_order else wide[groups.indices[:, 0]]
    head_squares = ordered * ordered
    bounds = groups.level_bounds
    num_levels = len(bounds) - 1

    factors = []
    scaled_squares = None  # f_c² n_c² of the level below
    for level in range(num_levels):
        start, stop = bounds[level], bounds[level + 1]
        squares = head_squares[start:stop]
        if level > 0:
            squares = squares + _sum_children(scaled_squares, groups.children[level - 1])
        factor = group_shrink_factor(squares, thresholds[start:stop])
        factors.append(factor)
        scaled_squares = factor * factor * squares

    # Top-down: the product of the factors of a group and of all its ancestors.
    above = factors[-1]
    products = [above]
    for level in reversed(range(num_levels - 1)):
        start, stop = bounds[level], bounds[level + 1]
        parents = groups.parent_groups[start:stop] - bounds[level + 1]
        above = factors[level] * above[parents]
        products.append(above)
    result = ordered * jnp.concatenate(products[::-1])
    if not groups.heads_in_order:
        result = result[groups.unit_groups]
    return result.astype(values.dtype)


def _sum_children(child_values, children):
    """Sums ``child_values`` over the columns of a padded child table.

    Args:
      child_values: (n,) values of one level.
      children: (B, P) positions in [0, n], where n marks padding.

    Returns:
      (P,) sums; padding adds 0.
    """
    size = child_values.shape[0]
    gathered = child_values[jnp.minimum(children, size - 1).reshape(-1)].reshape(children.shape)
    return jnp.sum(jnp.where(children < size, gathered, 0), axis=0)


def _check_scalar_threshold(threshold) -> None:
    check_nonnegative(threshold, "threshold")
    if jnp.ndim(threshold) != 0:
        raise ValueError(
            f"threshold must be a scalar, got shape {jnp.shape(threshold)}; per-group "
            "thresholds go in the structure's weights"
        )
