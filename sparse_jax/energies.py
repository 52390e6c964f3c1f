"""Energies, penalties and code statistics for one example.

Shapes are for one example: dictionary D (d, k) with atoms as columns,
signal x (d,), codes z (k,). Batches come from ``jax.vmap``.
"""

import jax
import jax.numpy as jnp

from sparse_jax.groups import (
    GroupStructure,
    accumulation_dtype,
    check_structure,
    gather_slots,
    sum_slots,
)
from sparse_jax.prox import check_nonnegative


def reconstruction_energy(dictionary, signal, codes) -> jax.Array:
    """Returns ½‖x − D z‖², the squared reconstruction error.

    Args:
      dictionary: D, shape (d, k), atoms as columns.
      signal: x, shape (d,).
      codes: z, shape (k,).

    Returns:
      A scalar. Its gradient in z is Dᵀ(D z − x), with Lipschitz constant
      σ_max(D)².
    """
    dictionary, signal, codes = _check_shapes(dictionary, signal, codes)
    residual = signal - dictionary @ codes
    return 0.5 * jnp.sum(residual**2)


def l1_norm(codes) -> jax.Array:
    """Returns ‖z‖₁ = Σ_i |z_i| for codes of any shape."""
    return jnp.sum(jnp.abs(codes))


def lasso_energy(dictionary, signal, codes, l1_weight) -> jax.Array:
    """Returns the lasso objective ½‖x − D z‖² + λ‖z‖₁.

    Args:
      dictionary: D, shape (d, k), atoms as columns.
      signal: x, shape (d,).
      codes: z, shape (k,).
      l1_weight: λ ≥ 0, a scalar or one weight per atom (k,).

    Returns:
      A scalar.
    """
    check_nonnegative(l1_weight, "l1_weight")
    codes = jnp.asarray(codes)
    weight = jnp.asarray(l1_weight, codes.dtype)
    return reconstruction_energy(dictionary, signal, codes) + jnp.sum(weight * jnp.abs(codes))


def active_fraction(codes, *, threshold: float = 0.0) -> jax.Array:
    """Returns the fraction of code entries with |z_i| > threshold.

    Args:
      codes: z, any shape; pass a batch to get the fraction over the batch.
      threshold: magnitude at or below which an entry counts as inactive.

    Returns:
      A float32 scalar in [0, 1].
    """
    codes = jnp.asarray(codes)
    if codes.size == 0:
        raise ValueError("codes is empty; expected at least one entry")
    return jnp.mean((jnp.abs(codes) > threshold).astype(jnp.float32))


def reconstruction_snr(signal, reconstruction) -> jax.Array:
    """Returns the reconstruction signal-to-noise ratio in decibels.

    .. math::

        \\mathrm{SNR} = 10 \\log_{10} \\frac{‖x‖²}{‖x − \\hat x‖²}

    Args:
      signal: x, any shape.
      reconstruction: x̂, the same shape as ``signal``.

    Returns:
      A scalar: +inf for an exact reconstruction (a zero signal included),
      −inf for a zero signal reconstructed with an error.
    """
    signal = jnp.asarray(signal)
    reconstruction = jnp.asarray(reconstruction)
    if signal.shape != reconstruction.shape:
        raise ValueError(
            f"signal has shape {signal.shape} but reconstruction has shape "
            f"{reconstruction.shape}; expected equal shapes"
        )
    signal_power = jnp.sum(jnp.square(signal.astype(jnp.float32)))
    error_power = jnp.sum(jnp.square((signal - reconstruction).astype(jnp.float32)))
    safe_error = jnp.where(error_power > 0, error_power, 1)
    safe_signal = jnp.where(signal_power > 0, signal_power, 1)
    ratio_db = 10 * (jnp.log10(safe_signal) - jnp.log10(safe_error))
    ratio_db = jnp.where(signal_power > 0, ratio_db, -jnp.inf)
    return jnp.where(error_power > 0, ratio_db, jnp.inf)


def _check_shapes(dictionary, signal, codes):
    dictionary = jnp.asarray(dictionary)
    signal = jnp.asarray(signal)
    codes = jnp.asarray(codes)
    if dictionary.ndim != 2:
        raise ValueError(f"dictionary must be 2-D (d, k), got shape {dictionary.shape}")
    d, k = dictionary.shape
    if signal.shape != (d,):
        raise ValueError(
            f"signal has shape {signal.shape}; expected ({d},) for dictionary of shape "
            f"{dictionary.shape}"
        )
    if codes.shape != (k,):
        raise ValueError(
            f"codes has shape {codes.shape}; expected ({k},) for dictionary of shape "
            f"{dictionary.shape}"
        )
    return dictionary, signal, codes


def group_norms(codes, groups: GroupStructure) -> jax.Array:
    """Returns the pooled norms sqrt(Σ_{i∈P_g} w_gi z_i²) of every group.

    These are the L2-pooling outputs of a topographic layer (complex cells);
    :func:`group_l2_penalty` is their sum weighted by w_g. The square root
    is exact (no ε) and has a zero derivative at an all-zero group.

    The computation depends on the structure's kind:

    * "torus" without inner weights: block sums of z² over the stride × stride
      cells, then a wrapped box filter of width pool/stride along each axis,
      O(k) work;
    * "torus" with inner weights: the (pool/stride)² wrapped shifts of the
      map, weighted and summed, O(k·pool²/stride²) work;
    * "tree" without inner weights: subtree sums of z², bottom-up level by
      level, O(k) work;
    * otherwise a gather of the members, O(G·max group size) work.

    Args:
      codes: z, shape (k,) with k = ``groups.num_units``; batch with vmap.
      groups: a :class:`~sparse_jax.groups.GroupStructure`.

    Returns:
      (G,) norms in the dtype of ``codes``; they accumulate in float32 for
      float16 and bfloat16 codes.
    """
    codes = jnp.asarray(codes)
    check_structure(groups, codes)
    squares = _group_squares(codes.astype(accumulation_dtype(codes.dtype)), groups)
    return _safe_sqrt(squares).astype(codes.dtype)


def group_l2_penalty(codes, groups: GroupStructure) -> jax.Array:
    """Returns the group sparsity penalty Ω(z) = Σ_g w_g sqrt(Σ_{i∈P_g} w_gi z_i²).

    L2 inside a group and L1 across groups (Kavukcuoglu, Ranzato, Fergus,
    LeCun, Learning Invariant Features through Topographic Filter Maps, CVPR
    2009, for torus pools), not squared. w_g are ``groups.weights`` and
    w_gi ``groups.inner_weights`` (1 when None). It is exact, with no ε, and
    its gradient is finite everywhere and exactly 0 on every all-zero group.
    See :func:`group_norms` for how each kind of structure is computed.

    The derivative is a custom JVP, ∂Ω/∂z_i = z_i Σ_{g∋i} w_g w_gi / ‖z_g‖
    (a term is 0 when ‖z_g‖ = 0), also in the weights w_g and w_gi. The
    per-unit sums are a gather for disjoint groups, a top-down pass for
    trees and wrapped shifts for a torus, so reverse mode needs no
    scatter-add except for "overlapping" groups and inner weights on
    "disjoint" ones.

    Args:
      codes: z, shape (k,) with k = ``groups.num_units``; batch with vmap.
      groups: a :class:`~sparse_jax.groups.GroupStructure` of any kind.

    Returns:
      A scalar in the dtype of ``codes``; float16 and bfloat16 codes
      accumulate in float32.
    """
    codes = jnp.asarray(codes)
    check_structure(groups, codes)
    dtype = accumulation_dtype(codes.dtype)
    return _weighted_norm_sum(codes.astype(dtype), groups).astype(codes.dtype)


@jax.custom_jvp
def _weighted_norm_sum(codes, groups: GroupStructure):
    norms = _safe_sqrt(_group_squares(codes, groups))
    return jnp.sum(groups.weights.astype(codes.dtype) * norms)


@_weighted_norm_sum.defjvp
def _weighted_norm_sum_jvp(primals, tangents):
    codes, groups = primals
    codes_dot, groups_dot = tangents
    dtype = codes.dtype
    norms = _safe_sqrt(_group_squares(codes, groups))
    weights = groups.weights.astype(dtype)
    value = jnp.sum(weights * norms)

    # c_g = w_g / ‖z_g‖, and 0 for an all-zero group.
    positive = norms > 0
    coefficients = jnp.where(positive, weights / jnp.where(positive, norms, 1), 0)
    unit_coefficients = _unit_coefficients(coefficients, groups)
    tangent = jnp.sum(codes * unit_coefficients * codes_dot)
    tangent = tangent + jnp.sum(groups_dot.weights.astype(dtype) * norms)
    if groups.inner_weights is not None:
        # ∂Ω/∂w_gi = w_g z_i² / (2 ‖z_g‖).
        slots = gather_slots(codes * codes, groups)
        inner_dot = groups_dot.inner_weights.T.astype(dtype)
        tangent = tangent + 0.5 * jnp.sum(inner_dot * slots * coefficients[None, :])
    return value, tangent


def _unit_coefficients(coefficients, groups: GroupStructure):
    """Returns a_i = Σ_{g∋i} c_g w_gi for per-group coefficients c_g, shape (k,)."""
    if groups.inner_weights is None and groups.kind == "disjoint":
        in_group = groups.unit_groups < groups.num_groups
        clamped = jnp.minimum(groups.unit_groups, groups.num_groups - 1)
        return jnp.where(in_group, coefficients[clamped], 0)
    if groups.inner_weights is None and groups.kind == "tree":
        return _ancestor_sums(coefficients, groups)
    if groups.inner_weights is None and groups.kind == "torus":
        return _torus_window_adjoint(coefficients, groups)
    if groups.inner_weights is None:
        per_slot = groups.mask.T.astype(coefficients.dtype)
    else:
        per_slot = groups.inner_weights.T.astype(coefficients.dtype)
    return sum_slots(per_slot * coefficients[None, :], groups)


def _ancestor_sums(coefficients, groups: GroupStructure):
    """Returns, per unit, the sum of c_g over the tree groups that contain it.

    Those are the groups of the unit's node and of its ancestors, summed top
    down level by level.
    """
    bounds = groups.level_bounds
    above = coefficients[bounds[-2] :]
    sums = [above]
    for level in reversed(range(len(bounds) - 2)):
        start, stop = bounds[level], bounds[level + 1]
        parents = groups.parent_groups[start:stop] - bounds[level + 1]
        above = coefficients[start:stop] + above[parents]
        sums.append(above)
    per_group = jnp.concatenate(sums[::-1])
    return per_group if groups.heads_in_order else per_group[groups.unit_groups]


def _group_squares(codes, groups: GroupStructure):
    """Returns Σ_{i∈P_g} w_gi z_i² for every group, shape (G,)."""
    squares = codes * codes
    if groups.kind == "torus" and groups.inner_weights is None:
        return _torus_window_sums(squares, groups)
    if groups.kind == "tree" and groups.inner_weights is None:
        return _subtree_sums(squares, groups)
    slots = gather_slots(squares, groups)
    if groups.inner_weights is not None:
        slots = groups.inner_weights.T.astype(squares.dtype) * slots
    return jnp.sum(slots, axis=0)


def _torus_window_sums(squares, groups: GroupStructure):
    # Pool (a, b) covers the stride-cells (a + α, b + α') mod (side/stride)
    # for α, α' < pool/stride, so its sum is a wrapped box filter of the cell
    # sums, applied along rows and then along columns.
    side, stride = groups.side, groups.stride
    blocks, shifts = side // stride, groups.pool_size // stride
    grid = squares.reshape(blocks, stride, blocks, stride)
    cells = sum(grid[:, beta, :, beta_col] for beta in range(stride) for beta_col in range(stride))
    rows = sum(jnp.roll(cells, -alpha, axis=0) for alpha in range(shifts))
    pooled = sum(jnp.roll(rows, -alpha, axis=1) for alpha in range(shifts))
    return pooled.reshape(blocks * blocks)


def _torus_window_adjoint(coefficients, groups: GroupStructure):
    # The transpose of _torus_window_sums: each stride-cell collects the
    # coefficients of the pools that cover it, and its units share the sum.
    side, stride = groups.side, groups.stride
    blocks, shifts = side // stride, groups.pool_size // stride
    pooled = coefficients.reshape(blocks, blocks)
    rows = sum(jnp.roll(pooled, alpha, axis=1) for alpha in range(shifts))
    cells = sum(jnp.roll(rows, alpha, axis=0) for alpha in range(shifts))
    grid = jnp.broadcast_to(cells[:, None, :, None], (blocks, stride, blocks, stride))
    return grid.reshape(side * side)


def _subtree_sums(squares, groups: GroupStructure):
    # Levels run deepest first, so the children of level l are in level l − 1.
    head_squares = squares if groups.heads_in_order else squares[groups.indices[:, 0]]
    bounds = groups.level_bounds
    sums = []
    for level in range(len(bounds) - 1):
        level_sums = head_squares[bounds[level] : bounds[level + 1]]
        if level > 0:
            children = groups.children[level - 1]
            below = sums[-1]
            clamped = jnp.minimum(children, below.shape[0] - 1).reshape(-1)
            gathered = below[clamped].reshape(children.shape)
            level_sums = level_sums + jnp.sum(
                jnp.where(children < below.shape[0], gathered, 0), axis=0
            )
        sums.append(level_sums)
    return jnp.concatenate(sums)


def _safe_sqrt(values):
    """sqrt with a zero derivative at 0 instead of an infinite one; NaN stays NaN."""
    positive = values > 0
    zero_or_nan = jnp.where(jnp.isnan(values), values, jnp.zeros((), values.dtype))
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, values, 1)), zero_or_nan)
