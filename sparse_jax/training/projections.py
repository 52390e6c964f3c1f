"""Norm projections applied to weight matrices after an optimiser update.

``axis`` is the axis that the Euclidean norm runs over, as in ``jnp.linalg.norm``.
``axis=0`` takes the norm of each column, as for a dictionary (d, k) with atoms
as columns. ``axis=1`` takes the norm of each row, as for an encoder (k, d) or
a classifier (n_classes, k) with one filter per row.
"""

import jax
import jax.numpy as jnp


def clip_norms(matrix: jax.Array, max_norm, *, axis: int) -> jax.Array:
    """Projects each slice along ``axis`` onto the ball of radius ``max_norm``.

    .. math::

        v ← v · \\min(1, r / ‖v‖)

    for every column (``axis=0``) or row (``axis=1``) v of a 2-D matrix, with
    r = ``max_norm``. Slices already inside the ball, zero slices included,
    are returned unchanged.

    Args:
      matrix: a 2-D array.
      max_norm: r > 0, a scalar (a Python number or a traced array).
      axis: 0 to bound each column, 1 to bound each row (negative axes allowed).

    Returns:
      An array of the shape and dtype of ``matrix``.
    """
    matrix, axis = _check_matrix(matrix, axis)
    if isinstance(max_norm, int | float) and not max_norm > 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    norms = jnp.sqrt(jnp.sum(jnp.square(matrix), axis=axis, keepdims=True))
    bound = jnp.asarray(max_norm, matrix.dtype)
    is_outside = norms > bound
    scale = jnp.where(is_outside, bound / jnp.where(is_outside, norms, 1), 1)
    return matrix * scale


def normalize_columns(matrix: jax.Array) -> jax.Array:
    """Scales each column of a 2-D matrix to unit Euclidean norm.

    This is the projection onto the unit sphere of each atom of a (d, k)
    dictionary. A zero column stays zero (no NaN), because it has no direction.

    Args:
      matrix: shape (d, k).

    Returns:
      An array of the shape and dtype of ``matrix``.
    """
    matrix, _ = _check_matrix(matrix, 0)
    norms = jnp.sqrt(jnp.sum(jnp.square(matrix), axis=0, keepdims=True))
    is_nonzero = norms > 0
    return jnp.where(is_nonzero, matrix / jnp.where(is_nonzero, norms, 1), 0)


def _check_matrix(matrix, axis):
    matrix = jnp.asarray(matrix)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
    if not jnp.issubdtype(matrix.dtype, jnp.floating):
        raise TypeError(f"matrix must have a floating dtype, got {matrix.dtype}")
    if not isinstance(axis, int) or not -2 <= axis <= 1:
        raise ValueError(f"axis must be 0 (columns) or 1 (rows) for a 2-D matrix, got {axis!r}")
    return matrix, axis % 2
