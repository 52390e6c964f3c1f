"""Sparse coding with lateral inhibition between code units.

The energy of Gregor, Szlam and LeCun (Structured sparse coding via lateral
inhibition, NIPS 2011) adds to the lasso a penalty on pairs of active units:

    E(x, z) = ½‖x − W_d z‖² + λ‖z‖₁ + |z|ᵀ S |z|

with S ≥ 0, symmetric, with a zero diagonal, and zero on every pair that the
structure allows to be active together. This module contains the pure pieces:

* the energy and its terms, for one example;
* inference, :func:`inhibited_ista`, a majorise-minimise variant of ISTA whose
  threshold grows with the inhibition each unit receives;
* structures, as boolean masks of the pairs that may inhibit each other: every
  pair (:func:`unstructured_mask`), a 2-D torus map (:func:`torus_mask`) and
  forests of trees (:func:`tree_mask`);
* :func:`project_inhibition`, the projection of S after a learning step;
* :func:`prune_tree`, the removal of rarely used subtrees.

Shapes are for one example: dictionary W_d (d, k) with atoms as columns,
inhibition S (k, k), signal x (d,), codes z (k,). The inference also accepts
a batch (n, d) and maps it with ``jax.vmap``. The structure functions work on
host NumPy arrays, because a structure is fixed before anything is traced.

NOTE: the ancestry of a tree is computed here from the ``parents`` array
itself, independently of :func:`sparse_jax.groups.tree`, which describes the
same forests as nested groups for the tree-structured prox.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from sparse_jax._compat import is_tracer
from sparse_jax.prox import check_nonnegative, shrink
from sparse_jax.solvers import (
    SolverResult,
    _check_mode,
    _check_signal,
    all_finite,
    dense_operator,
    lipschitz_constant,
)

# ---------------------------------------------------------------------------
# Energy
# ---------------------------------------------------------------------------


class InhibitionEnergyTerms(NamedTuple):
    """The terms of the inhibition energy of one example, each of shape ().

    Attributes:
      reconstruction: ½‖x − W_d z‖².
      l1: ‖z‖₁, without the weight λ.
      inhibition: |z|ᵀ S |z|.
      energy: reconstruction + Σ_i λ_i |z_i| + inhibition.
    """

    reconstruction: jax.Array
    l1: jax.Array
    inhibition: jax.Array
    energy: jax.Array


def inhibition_penalty(inhibition, codes) -> jax.Array:
    """Returns the lateral inhibition penalty |z|ᵀ S |z| = Σ_ij S_ij |z_i| |z_j|.

    The convention here has no factor ½: a pair (i, j) with i ≠ j contributes
    (S_ij + S_ji) |z_i| |z_j|, so 2 S_ij |z_i| |z_j| for a symmetric S. Where
    a text writes the penalty as ½ |z|ᵀ S' |z|, its S' is twice the S here.

    Args:
      inhibition: S, shape (k, k); meant to be non-negative.
      codes: z, shape (k,).

    Returns:
      A scalar in the dtype of ``codes``.
    """
    inhibition, codes = _check_inhibition_and_codes(inhibition, codes)
    magnitudes = jnp.abs(codes)
    return magnitudes @ (inhibition.astype(codes.dtype) @ magnitudes)


def inhibition_energy_terms(
    dictionary, inhibition, signal, codes, l1_weight
) -> InhibitionEnergyTerms:
    """Computes the inhibition energy of one example and its three terms.

    .. math::

        E(x, z) = ½‖x − W_d z‖² + λ‖z‖₁ + |z|ᵀ S |z|

    with W_d = ``dictionary``, S = ``inhibition``, x = ``signal``, z =
    ``codes`` and λ = ``l1_weight`` (see :func:`inhibition_penalty` for the
    convention on S). Away from z_i = 0 the energy is smooth in all of its
    arguments.

    Args:
      dictionary: W_d, shape (d, k), atoms as columns.
      inhibition: S, shape (k, k).
      signal: x, shape (d,).
      codes: z, shape (k,).
      l1_weight: λ ≥ 0, a scalar or one weight per unit (k,).

    Returns:
      :class:`InhibitionEnergyTerms` of scalars in the dtype of ``codes``.
    """
    dictionary = jnp.asarray(dictionary)
    signal = jnp.asarray(signal)
    codes = jnp.asarray(codes)
    _check_example_shapes(dictionary, signal, codes)
    check_nonnegative(l1_weight, "l1_weight")
    weight = _check_l1_weight(l1_weight, dictionary.shape[1], codes.dtype)

    residual = signal - dictionary @ codes
    reconstruction = 0.5 * jnp.sum(residual**2)
    l1 = jnp.sum(jnp.abs(codes))
    penalty = inhibition_penalty(inhibition, codes)
    energy = reconstruction + jnp.sum(weight * jnp.abs(codes)) + penalty
    return InhibitionEnergyTerms(
        reconstruction=reconstruction, l1=l1, inhibition=penalty, energy=energy
    )


def inhibition_energy(dictionary, inhibition, signal, codes, l1_weight) -> jax.Array:
    """Returns E(x, z) = ½‖x − W_d z‖² + λ‖z‖₁ + |z|ᵀ S |z| for one example.

    See :func:`inhibition_energy_terms` for the arguments; this returns its
    ``energy`` field, a scalar.
    """
    return inhibition_energy_terms(dictionary, inhibition, signal, codes, l1_weight).energy


def inhibition_norm_bound(inhibition) -> jax.Array:
    """Returns c = max_i Σ_j |(S + Sᵀ)/2|_ij, an upper bound of ‖(S + Sᵀ)/2‖₂.

    For a symmetric matrix the spectral norm is at most the largest absolute
    row sum (‖A‖₂ ≤ √(‖A‖₁‖A‖_∞) and ‖A‖₁ = ‖A‖_∞). The penalty |z|ᵀ S |z|
    only depends on the symmetric part of S, so c bounds its curvature for
    any square S.

    Args:
      inhibition: S, shape (k, k).

    Returns:
      A scalar ≥ 0 in the dtype of ``inhibition``.
    """
    inhibition = _check_inhibition(inhibition)
    symmetric = 0.5 * (inhibition + inhibition.T)
    return jnp.max(jnp.sum(jnp.abs(symmetric), axis=1))


# ---------------------------------------------------------------------------
# Inference
# ---------------------------------------------------------------------------


def inhibited_ista(
    dictionary,
    inhibition,
    signal,
    l1_weight,
    *,
    num_steps: int | None = None,
    tol: float | None = None,
    max_steps: int | None = None,
    nonneg: bool = False,
    step_size=None,
    lipschitz=None,
    init=None,
    record_energies: bool = False,
) -> SolverResult:
    """Minimises the inhibition energy over the codes by majorise-minimise ISTA steps.

    One step from z⁰ is

    .. math::

        z ← h_θ\\big(z⁰ − t\\,W_dᵀ(W_d z⁰ − x)\\big), \\qquad
        θ_i = t\\,\\big(λ_i + ((S + Sᵀ)|z⁰|)_i\\big)

    with h the soft threshold (``nonneg``: max(v − θ, 0)); for a symmetric S
    the threshold is t(λ + 2 S|z⁰|), and with S = 0 the step is plain ISTA.

    Why E never increases, for S ≥ 0 and t ≤ 1/(L_D + 2c), with L_D =
    σ_max(W_d)² and c ≥ ‖(S + Sᵀ)/2‖₂: write a = |z|, a⁰ = |z⁰| and
    S̄ = (S + Sᵀ)/2. The penalty is exactly
    aᵀS̄a = a⁰ᵀS̄a⁰ + 2(S̄a⁰)ᵀ(a − a⁰) + (a − a⁰)ᵀS̄(a − a⁰), and the last
    term is at most c‖a − a⁰‖² ≤ c‖z − z⁰‖² because ||z_i| − |z⁰_i|| ≤
    |z_i − z⁰_i|. The reconstruction term is at most its linearisation at z⁰
    plus (L_D/2)‖z − z⁰‖². So E(z) ≤ M(z) with

        M(z) = const + ⟨∇f(z⁰), z − z⁰⟩ + ‖z − z⁰‖²/(2t) + Σ_i (λ_i + 2(S̄a⁰)_i)|z_i|,

    and M(z⁰) = E(z⁰). Because S ≥ 0, the weights λ_i + 2(S̄a⁰)_i are
    non-negative, so M is a weighted lasso whose minimiser is the step above.
    Hence E(z_new) ≤ M(z_new) ≤ M(z⁰) = E(z⁰). The energy is not convex in z
    (S has a zero diagonal), so the steps reach a stationary point that may
    depend on the start.

    The step is t = 1/(L_D + 2c) with L_D from
    :func:`sparse_jax.lipschitz_constant` (unless ``lipschitz`` is given) and
    c = :func:`inhibition_norm_bound`, the largest row sum of S̄.

    Exactly one of ``num_steps`` and ``tol`` is given:

    * ``num_steps``: that many steps in a ``lax.scan``; differentiable in
      forward and reverse mode by unrolling.
    * ``tol`` with ``max_steps``: a ``lax.while_loop`` that stops once the
      relative length ‖z⁺ − z‖/‖z‖ of the next step from z is at most
      ``tol``, or after ``max_steps`` steps. It supports ``jax.jvp`` but not
      ``jax.grad``.

    Args:
      dictionary: W_d, shape (d, k), atoms as columns.
      inhibition: S, shape (k, k), non-negative. Only its symmetric part
        matters; a diagonal entry S_ii adds S_ii z_i², which the same bound
        covers. Negative entries of a concrete S raise ValueError; a traced S
        with a negative threshold θ_i gives NaN codes.
      signal: x, shape (d,), or a batch (n, d).
      l1_weight: λ ≥ 0, a scalar or one weight per unit (k,). A traced
        negative λ gives NaN codes.
      num_steps: number of steps of the fixed-step mode, a Python int ≥ 0.
      tol: relative step length at which the while-loop mode stops.
      max_steps: bound on the steps of the while-loop mode; required with tol.
      nonneg: constrain z ≥ 0.
      step_size: t; must satisfy t ≤ 1/(L_D + 2c). A concrete larger value
        raises ValueError; a traced one is reduced to 1/(L_D + 2c).
      lipschitz: L_D, overriding the power-iteration estimate.
      init: start z⁰ of shape (k,) (zeros by default), or a batch (n, k)
        matching the batch of ``signal``.
      record_energies: in ``num_steps`` mode, also return E(x, z_t) after
        every step in ``objectives``.

    Returns:
      A :class:`sparse_jax.SolverResult`: ``codes`` (k,), ``num_steps``,
      ``criterion`` (the relative length of the next step from the returned
      codes, 0 at a fixed point) and ``objectives`` (num_steps,) with
      ``record_energies``, else None. With a batched signal every field has a
      leading batch axis.

    Example::

      result = inhibited_ista(dictionary, inhibition, patches, 0.5, num_steps=100)
      codes = result.codes  # (n, k)
    """
    operator = dense_operator(dictionary)
    dictionary = operator.dense
    d, k = dictionary.shape
    signal = jnp.asarray(signal)
    batched = _check_signal(operator, signal)
    _check_mode(num_steps, tol, max_steps)
    if record_energies and num_steps is None:
        raise ValueError("record_energies needs num_steps; the tol mode has no fixed length")
    dtype = jnp.promote_types(dictionary.dtype, signal.dtype)
    dictionary = dictionary.astype(dtype)
    signal = signal.astype(dtype)

    inhibition = _check_inhibition(inhibition, num_units=k)
    _check_nonnegative_matrix(inhibition)
    inhibition = inhibition.astype(dtype)
    check_nonnegative(l1_weight, "l1_weight")
    weight = _check_l1_weight(l1_weight, k, dtype)
    guard_nan = is_tracer(l1_weight) or is_tracer(inhibition)

    step = _mm_step_size(dictionary, inhibition, step_size, lipschitz, dtype)
    coupling = inhibition + inhibition.T  # 2 S̄, so the threshold is t(λ + coupling |z|).
    if init is not None:
        init = jnp.asarray(init, dtype)
        expected = (signal.shape[0], k) if batched else (k,)
        if init.shape != expected:
            raise ValueError(f"init has shape {init.shape}; expected {expected}")
    else:
        init = jnp.zeros((signal.shape[0], k) if batched else (k,), dtype)

    use_gram = k <= 2 * d
    gram = dictionary.T @ dictionary if use_gram else None

    def solve(x, z_start):
        correlation = dictionary.T @ x

        def gradient(z):
            if use_gram:
                return gram @ z - correlation
            return dictionary.T @ (dictionary @ z) - correlation

        def mm_step(z):
            threshold = step * (weight + coupling @ jnp.abs(z))
            codes = shrink(z - step * gradient(z), threshold, nonneg)
            if guard_nan:
                codes = jnp.where(threshold < 0, jnp.nan, codes)
            return codes

        def energy(z):
            residual = x - dictionary @ z
            magnitudes = jnp.abs(z)
            return (
                0.5 * jnp.sum(residual**2)
                + jnp.sum(weight * magnitudes)
                + magnitudes @ (inhibition @ magnitudes)
            )

        if num_steps is not None:

            def scan_step(z, _):
                z = mm_step(z)
                return z, (energy(z) if record_energies else None)

            codes, energies = lax.scan(scan_step, z_start, length=num_steps)
            criterion = _relative_change(mm_step(codes), codes)
            return SolverResult(
                codes=codes,
                num_steps=jnp.asarray(num_steps, jnp.int32),
                criterion=criterion,
                objectives=energies,
            )

        start = _WhileCarry(
            codes=z_start,
            proposal=mm_step(z_start),
            step=jnp.zeros((), jnp.int32),
            criterion=jnp.zeros((), dtype),
        )
        start = start._replace(criterion=_relative_change(start.proposal, z_start))

        def keep_going(carry: _WhileCarry):
            return (carry.step < max_steps) & (carry.criterion > tol)

        def body(carry: _WhileCarry) -> _WhileCarry:
            codes = carry.proposal
            proposal = mm_step(codes)
            return _WhileCarry(
                codes=codes,
                proposal=proposal,
                step=carry.step + 1,
                criterion=_relative_change(proposal, codes),
            )

        carry = lax.while_loop(keep_going, body, start)
        return SolverResult(codes=carry.codes, num_steps=carry.step, criterion=carry.criterion)

    if batched:
        return jax.vmap(solve)(signal, init)
    return solve(signal, init)


class _WhileCarry(NamedTuple):
    codes: jax.Array  # (k,): z_t, the codes returned
    proposal: jax.Array  # (k,): z_{t+1}, one step from z_t
    step: jax.Array  # (): int32, steps taken
    criterion: jax.Array  # (): ‖z_{t+1} − z_t‖ / ‖z_t‖


def _relative_change(new, old) -> jax.Array:
    change = jnp.sqrt(jnp.sum((new - old) ** 2))
    size = jnp.sqrt(jnp.sum(old**2))
    return change / jnp.maximum(size, jnp.finfo(size.dtype).tiny)


def _mm_step_size(dictionary, inhibition, step_size, lipschitz, dtype) -> jax.Array:
    """Returns t ≤ 1/(L_D + 2c), validating a user step where it is concrete."""
    if lipschitz is None:
        lipschitz = lipschitz_constant(dictionary)
    else:
        check_nonnegative(lipschitz, "lipschitz")
    curvature = jnp.asarray(lipschitz, dtype) + 2 * inhibition_norm_bound(inhibition)
    largest = 1 / jnp.maximum(curvature, jnp.finfo(dtype).tiny)
    if step_size is None:
        return largest

    check_nonnegative(step_size, "step_size")
    if not is_tracer(step_size) and not is_tracer(curvature):
        if float(step_size) * float(curvature) > 1 + 1e-6:
            raise ValueError(
                f"step_size={float(step_size):g} is above 1/(L + 2c) = {float(largest):g}, "
                "where the energy may increase; pass a smaller step_size or leave it unset"
            )
    return jnp.minimum(jnp.asarray(step_size, dtype), largest)


# ---------------------------------------------------------------------------
# Structures: masks of the pairs that may inhibit each other
# ---------------------------------------------------------------------------


def unstructured_mask(num_units: int) -> np.ndarray:
    """Returns the mask that lets every pair of distinct units inhibit each other.

    Args:
      num_units: k ≥ 1.

    Returns:
      bool (k, k), True off the diagonal.
    """
    num_units = _positive_int(num_units, "num_units")
    return ~np.eye(num_units, dtype=bool)


def torus_distances(side: int) -> np.ndarray:
    """Returns the wrap-around Euclidean distance between the units of a square map.

    Unit i sits at row i // side and column i % side of a side × side torus.
    Along each axis the distance is min(|a − b|, side − |a − b|).

    Args:
      side: s ≥ 1, the side of the map; k = s².

    Returns:
      float64 (k, k), symmetric, zero on the diagonal.
    """
    side = _positive_int(side, "side")
    rows, columns = np.divmod(np.arange(side * side), side)
    row_gap = np.abs(rows[:, None] - rows[None, :])
    column_gap = np.abs(columns[:, None] - columns[None, :])
    row_gap = np.minimum(row_gap, side - row_gap)
    column_gap = np.minimum(column_gap, side - column_gap)
    return np.sqrt(row_gap**2 + column_gap**2)


def torus_mask(side: int, radius: float) -> np.ndarray:
    """Returns the mask of a 2-D map: units inhibit all but their neighbours.

    Units i and j may inhibit each other when their wrap-around distance
    (:func:`torus_distances`) is larger than ``radius``, so the units within
    ``radius`` of a unit, itself included, are free to be active with it.

    Args:
      side: s ≥ 1, the side of the map; k = s² units in row-major order.
      radius: r ≥ 0, in units of the map spacing; r = 1 frees the four
        nearest neighbours, r = √2 the eight.

    Returns:
      bool (k, k), symmetric, False on the diagonal.
    """
    if not np.isfinite(radius) or radius < 0:
        raise ValueError(f"radius must be a finite number >= 0, got {radius!r}")
    # The small margin keeps the neighbours at distance exactly √2 for radius=np.sqrt(2).
    return torus_distances(side) > radius * (1 + 1e-12)


def tree_depths(parents) -> np.ndarray:
    """Returns the depth of every node of a forest (roots have depth 0).

    Args:
      parents: (k,) integers, ``parents[i]`` the parent of node i or −1 for a
        root.

    Returns:
      int64 (k,).

    Raises:
      ValueError: ``parents`` is not a non-empty 1-D integer array, an entry
        is outside [−1, k), or the parents contain a cycle.
    """
    parents = _check_parents(parents)
    depth = np.full(parents.size, -1, np.int64)
    for start in range(parents.size):
        path = []
        node = start
        while node >= 0 and depth[node] < 0:
            path.append(node)
            if len(path) > parents.size:
                raise ValueError(
                    f"parents contain a cycle through node {start}; every node must "
                    "reach a root (parent -1)"
                )
            node = int(parents[node])
        base = depth[node] if node >= 0 else -1
        for offset, visited in enumerate(reversed(path), start=1):
            depth[visited] = base + offset
    return depth


def tree_ancestors(parents) -> np.ndarray:
    """Returns the ancestor relation of a forest as a boolean matrix.

    Args:
      parents: (k,) integers, ``parents[i]`` the parent of node i or −1 for a
        root; several roots make a forest.

    Returns:
      bool (k, k) A with A[i, j] True when j is a strict ancestor of i (the
      parent of i, its parent, and so on up to the root).
    """
    parents = _check_parents(parents)
    depth = tree_depths(parents)
    ancestors = np.zeros((parents.size, parents.size), dtype=bool)
    # Nodes in order of depth: a node's row is its parent's row plus the parent.
    for node in np.argsort(depth, kind="stable"):
        parent = parents[node]
        if parent >= 0:
            ancestors[node] = ancestors[parent]
            ancestors[node, parent] = True
    return ancestors


def tree_mask(parents) -> np.ndarray:
    """Returns the mask of tree-structured inhibition.

    S_ij may be nonzero unless i = j or one of i and j is an ancestor of the
    other: a unit inhibits every unit outside its own branch (the path from
    its root down to it and the subtree below it). Units of different trees of
    a forest always inhibit each other.

    Args:
      parents: (k,) integers, ``parents[i]`` the parent of node i or −1 for a
        root.

    Returns:
      bool (k, k), symmetric, False on the diagonal.
    """
    ancestors = tree_ancestors(parents)
    related = ancestors | ancestors.T | np.eye(ancestors.shape[0], dtype=bool)
    return ~related


def balanced_forest(num_trees: int, branching: int, num_levels: int) -> np.ndarray:
    """Returns the parents array of ``num_trees`` complete trees, in breadth-first order.

    Level 0 contains the roots 0 … num_trees − 1; every node of a level has
    ``branching`` children on the next level, numbered consecutively in the
    order of their parents. With 4 trees, branching 4 and 3 levels there are
    4 + 16 + 64 = 84 nodes.

    Args:
      num_trees: number of roots, ≥ 1.
      branching: children per internal node, ≥ 1.
      num_levels: levels including the roots, ≥ 1.

    Returns:
      int32 (k,) with k = num_trees · (1 + b + … + b^(num_levels − 1)).
    """
    num_trees = _positive_int(num_trees, "num_trees")
    branching = _positive_int(branching, "branching")
    num_levels = _positive_int(num_levels, "num_levels")
    parents = [-1] * num_trees
    level = list(range(num_trees))
    for _ in range(num_levels - 1):
        next_level = []
        for parent in level:
            for _ in range(branching):
                next_level.append(len(parents))
                parents.append(parent)
        level = next_level
    return np.asarray(parents, np.int32)


# ---------------------------------------------------------------------------
# Projection after a learning step
# ---------------------------------------------------------------------------


def project_inhibition(inhibition, mask, max_row_sum) -> jax.Array:
    """Maps S into the feasible set: non-negative, symmetric, masked and bounded.

    In order:

    1. S ← max(S, 0), then S ← (S + Sᵀ)/2 (exactly symmetric in floating
       point, because addition commutes);
    2. S_ij ← 0 where ``mask`` is False and on the diagonal;
    3. with r_i = Σ_j S_ij, B = ``max_row_sum`` and s_i = 1 where r_i ≤ B,
       else s_i = B(1 − 2kε)/r_i (ε the machine epsilon of the dtype),
       S_ij ← S_ij·min(s_i, s_j). Every row sum, computed in that dtype, is
       then at most B, and the matrix stays symmetric. An entry changes
       only when its row or its column was over the bound.

    A feasible S (step 3 with all s_i = 1) is returned bit for bit. Step 3
    is not the Euclidean projection onto the bounded set, but it keeps the
    direction of every row that needs scaling. The bound B limits c of
    :func:`inhibition_norm_bound`, so the inference step stays at least
    1/(L_D + 2B).

    Args:
      inhibition: S, shape (k, k).
      mask: bool (k, k), symmetric: True where S_ij may be nonzero, as from
        :func:`unstructured_mask`, :func:`torus_mask` or :func:`tree_mask`.
      max_row_sum: B > 0, a scalar (a Python number or a traced array). A
        traced negative value gives a negative S.

    Returns:
      An array of the shape and dtype of ``inhibition``.
    """
    inhibition = _check_inhibition(inhibition)
    k = inhibition.shape[0]
    mask = _check_mask(mask, k)
    if not is_tracer(max_row_sum):
        bound = np.asarray(max_row_sum)
        if bound.shape != () or not np.isfinite(bound) or not bound > 0:
            raise ValueError(f"max_row_sum must be a finite positive scalar, got {max_row_sum!r}")

    nonnegative = jnp.maximum(inhibition, 0)
    symmetric = 0.5 * (nonnegative + nonnegative.T)
    allowed = mask & ~jnp.eye(k, dtype=bool)
    masked = jnp.where(allowed, symmetric, 0)

    bound = jnp.asarray(max_row_sum, inhibition.dtype)
    row_sums = jnp.sum(masked, axis=1)
    is_over = row_sums > bound
    # Aiming 2kε below B keeps the rounded row sums at most B in any summation
    # order: the sum of k products has a relative rounding error below kε.
    target = bound * (1 - 2 * k * jnp.finfo(inhibition.dtype).eps)
    row_scale = jnp.where(is_over, target / jnp.where(is_over, row_sums, 1), 1)
    pair_scale = jnp.minimum(row_scale[:, None], row_scale[None, :])
    return masked * pair_scale


# ---------------------------------------------------------------------------
# Pruning of tree structures
# ---------------------------------------------------------------------------


class PrunedTree(NamedTuple):
    """The forest that remains after :func:`prune_tree`.

    Attributes:
      parents: int32 (k',), the parents of the kept nodes in their new
        numbering, −1 for a root.
      kept: int32 (k',), the original index of each kept node, increasing, so
        new node m is old node ``kept[m]``.
    """

    parents: np.ndarray
    kept: np.ndarray


def prune_tree(parents, usage, threshold: float) -> PrunedTree:
    """Removes every node whose usage is below ``threshold``, with its subtree.

    A node is kept when its own usage and the usage of each of its ancestors
    are all at least ``threshold``. The kept nodes keep their relative order,
    and their parents are renumbered.

    Args:
      parents: (k,) integers, ``parents[i]`` the parent of node i or −1.
      usage: (k,) non-negative statistics per node, e.g. the firing frequency.
      threshold: the usage below which a node and its descendants go.

    Returns:
      :class:`PrunedTree`; it may be empty (k' = 0) when every root goes.
    """
    parents = _check_parents(parents)
    usage = np.asarray(usage, np.float64)
    if usage.shape != parents.shape:
        raise ValueError(
            f"usage has shape {usage.shape}; expected {parents.shape}, one value per node"
        )
    if not np.all(np.isfinite(usage)):
        raise ValueError("usage contains NaN or infinite values")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold!r}")

    ancestors = tree_ancestors(parents)
    is_used = usage >= threshold
    # A node survives when it is used and none of its ancestors is unused.
    keep = is_used & ~np.any(ancestors & ~is_used[None, :], axis=1)
    kept = np.flatnonzero(keep).astype(np.int32)
    new_index = np.full(parents.size, -1, np.int32)
    new_index[kept] = np.arange(kept.size, dtype=np.int32)
    old_parents = parents[kept]
    new_parents = np.where(old_parents >= 0, new_index[np.maximum(old_parents, 0)], -1)
    return PrunedTree(parents=new_parents.astype(np.int32), kept=kept)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


def _check_inhibition(inhibition, *, num_units: int | None = None) -> jax.Array:
    inhibition = jnp.asarray(inhibition)
    if inhibition.ndim != 2 or inhibition.shape[0] != inhibition.shape[1]:
        raise ValueError(f"inhibition must be a square (k, k) matrix, got shape {inhibition.shape}")
    if num_units is not None and inhibition.shape[0] != num_units:
        raise ValueError(
            f"inhibition has shape {inhibition.shape}; expected ({num_units}, {num_units}) "
            f"for a dictionary of {num_units} atoms"
        )
    if not jnp.issubdtype(inhibition.dtype, jnp.floating):
        raise TypeError(f"inhibition must have a floating dtype, got {inhibition.dtype}")
    if not all_finite(inhibition):
        raise ValueError("inhibition contains NaN or infinite values")
    return inhibition


def _check_nonnegative_matrix(inhibition) -> None:
    """Raises ValueError when a concrete S has a negative entry; traced S passes."""
    if is_tracer(inhibition):
        return
    values = np.asarray(inhibition)
    if values.size and values.min() < 0:
        row, column = np.unravel_index(np.argmin(values), values.shape)
        raise ValueError(
            f"inhibition must be non-negative, got inhibition[{row}, {column}] = "
            f"{values[row, column]:g}; project it with project_inhibition or clip it at 0"
        )


def _check_inhibition_and_codes(inhibition, codes):
    codes = jnp.asarray(codes)
    if codes.ndim != 1:
        raise ValueError(f"codes must have shape (k,), got shape {codes.shape}")
    inhibition = _check_inhibition(inhibition, num_units=codes.shape[0])
    return inhibition, codes


def _check_example_shapes(dictionary, signal, codes) -> None:
    if dictionary.ndim != 2:
        raise ValueError(f"dictionary must be 2-D (d, k), got shape {dictionary.shape}")
    d, k = dictionary.shape
    if signal.shape != (d,):
        raise ValueError(
            f"signal has shape {signal.shape}; expected ({d},) for a dictionary of shape "
            f"{dictionary.shape}"
        )
    if codes.shape != (k,):
        raise ValueError(
            f"codes has shape {codes.shape}; expected ({k},) for a dictionary of shape "
            f"{dictionary.shape}"
        )


def _check_l1_weight(l1_weight, num_units: int, dtype) -> jax.Array:
    weight = jnp.asarray(l1_weight, dtype)
    if weight.shape not in ((), (num_units,)):
        raise ValueError(f"l1_weight has shape {weight.shape}; expected a scalar or ({num_units},)")
    return weight


def _check_mask(mask, num_units: int):
    if is_tracer(mask):
        raise TypeError("mask must be a concrete array, fixed before tracing")
    mask = np.asarray(mask)
    if mask.shape != (num_units, num_units):
        raise ValueError(
            f"mask has shape {mask.shape}; expected ({num_units}, {num_units}) like inhibition"
        )
    if mask.dtype != np.bool_:
        raise TypeError(f"mask must be a boolean array, got dtype {mask.dtype}")
    if not np.array_equal(mask, mask.T):
        rows, columns = np.nonzero(mask != mask.T)
        raise ValueError(
            f"mask must be symmetric, but mask[{rows[0]}, {columns[0]}] != "
            f"mask[{columns[0]}, {rows[0]}]"
        )
    return jnp.asarray(mask)


def _check_parents(parents) -> np.ndarray:
    if is_tracer(parents):
        raise TypeError("parents must be a concrete array, fixed before tracing")
    parents = np.asarray(parents)
    if parents.ndim != 1 or parents.size == 0:
        raise ValueError(f"parents must be a non-empty 1-D array, got shape {parents.shape}")
    if not np.issubdtype(parents.dtype, np.integer):
        raise TypeError(f"parents must contain integers, got dtype {parents.dtype}")
    outside = (parents < -1) | (parents >= parents.size)
    if np.any(outside):
        bad = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"parents[{bad}] = {int(parents[bad])} is out of range; expected -1 (a root) "
            f"or a node in [0, {parents.size})"
        )
    return parents.astype(np.int64)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
