"""Unrolled sparse encoders: LISTA (Gregor & LeCun 2010) and DrSAE's encoder.

Both iterate z ← h(W_e x + S z) from z⁰ = 0 for a fixed number of steps in a
``lax.scan``, so the program size and the compile time do not grow with the
number of steps. Shapes are for one example; batches come from ``jax.vmap``
or from a leading axis on ``signal``.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from sparse_jax._compat import is_tracer
from sparse_jax.prox import check_nonnegative, shrink
from sparse_jax.solvers import _as_dictionary, lipschitz_constant


class ListaParams(NamedTuple):
    """Parameters of an unrolled LISTA or DrSAE encoder.

    Attributes:
      encoder: W_e, shape (k, d).
      recurrent: S, shape (k, k).
      threshold: b, shape (k,).
    """

    encoder: jax.Array
    recurrent: jax.Array
    threshold: jax.Array


def lista_encode(encoder, recurrent, threshold, signal, *, num_steps: int, nonneg: bool = False):
    """Runs the unrolled LISTA encoder for ``num_steps`` steps.

    .. math::

        z^{(0)} = 0, \\qquad z^{(t+1)} = h_b(W_e x + S z^{(t)})

    with h the signed soft threshold sign(u)·max(|u| − b, 0) as in Gregor and
    LeCun's LISTA, or, with ``nonneg=True``, ReLU(u − b) as in Rolfe and
    LeCun's DrSAE (ICLR 2013). The threshold b is not checked for sign
    because DrSAE learns it as a bias; b ≥ 0 gives a shrinkage. With
    :func:`lista_params_from_dictionary` the result equals ``num_steps`` ISTA
    steps.

    Args:
      encoder: W_e, shape (k, d).
      recurrent: S, shape (k, k).
      threshold: b, shape (k,) or a scalar.
      signal: x, shape (d,), or a batch (n, d).
      num_steps: T ≥ 1, a Python int.
      nonneg: use ReLU(u − b) instead of the signed soft threshold.

    Returns:
      z^{(T)}, shape (k,), or (n, k) for a batch.

    Example::

      params = sparse_jax.lista_params_from_dictionary(dictionary, 0.1)
      codes = sparse_jax.lista_encode(*params, images, num_steps=11, nonneg=True)
    """
    encoder, recurrent, threshold, signal = _check_lista_inputs(
        encoder, recurrent, threshold, signal, num_steps
    )

    def encode_one(x):
        drive = encoder @ x

        def step(codes, _):
            return shrink(drive + recurrent @ codes, threshold, nonneg), None

        codes, _ = lax.scan(step, jnp.zeros_like(drive), length=num_steps)
        return codes

    if signal.ndim == 2:
        return jax.vmap(encode_one)(signal)
    return encode_one(signal)


def lista_params_from_dictionary(dictionary, l1_weight, *, lipschitz=None) -> ListaParams:
    """Returns the LISTA parameters for which the encoder equals ISTA.

    With L from :func:`sparse_jax.lipschitz_constant` (or ``lipschitz``):

        W_e = Dᵀ / L,   S = I − DᵀD / L,   b = λ / L

    so that h_b(W_e x + S z) = prox_{λ/L}(z − ∇_z ½‖x − D z‖² / L) is one ISTA
    step from z, signed or non-negative. This is the standard initialisation
    of LISTA and DrSAE.

    Args:
      dictionary: D, shape (d, k), atoms as columns.
      l1_weight: λ ≥ 0, scalar or per-atom (k,).
      lipschitz: L, overriding the power-iteration estimate.

    Returns:
      :class:`ListaParams` with encoder (k, d), recurrent (k, k), threshold (k,).
    """
    dictionary = _as_dictionary(dictionary)
    dtype = dictionary.dtype
    k = dictionary.shape[1]
    check_nonnegative(l1_weight, "l1_weight")
    if lipschitz is None:
        lipschitz = lipschitz_constant(dictionary)
    else:
        check_nonnegative(lipschitz, "lipschitz")
        if not is_tracer(lipschitz) and float(np.max(lipschitz)) == 0:
            raise ValueError("lipschitz must be positive, got 0; leave it unset to estimate it")
    lipschitz = jnp.asarray(lipschitz, dtype)
    threshold = jnp.broadcast_to(jnp.asarray(l1_weight, dtype), (k,)) / lipschitz
    return ListaParams(
        encoder=dictionary.T / lipschitz,
        recurrent=jnp.eye(k, dtype=dtype) - dictionary.T @ dictionary / lipschitz,
        threshold=threshold,
    )


def _check_lista_inputs(encoder, recurrent, threshold, signal, num_steps):
    encoder = jnp.asarray(encoder)
    recurrent = jnp.asarray(recurrent)
    signal = jnp.asarray(signal)
    if encoder.ndim != 2:
        raise ValueError(f"encoder must be a 2-D (k, d) array, got shape {encoder.shape}")
    k, d = encoder.shape
    if recurrent.shape != (k, k):
        raise ValueError(
            f"recurrent has shape {recurrent.shape}; expected ({k}, {k}) to match "
            f"encoder of shape {encoder.shape}"
        )
    threshold = jnp.asarray(threshold, encoder.dtype)
    if threshold.shape not in ((), (k,)):
        raise ValueError(f"threshold has shape {threshold.shape}; expected () or ({k},)")
    if signal.ndim not in (1, 2) or signal.shape[-1] != d:
        raise ValueError(
            f"signal has shape {signal.shape}; expected ({d},) or a batch (n, {d}) to match "
            f"encoder of shape {encoder.shape}"
        )
    if signal.ndim == 2 and signal.shape[0] == 0:
        raise ValueError(f"signal is an empty batch of shape {signal.shape}; expected n >= 1")
    for name, array in (("encoder", encoder), ("recurrent", recurrent), ("signal", signal)):
        if not jnp.issubdtype(array.dtype, jnp.floating):
            raise TypeError(f"{name} must have a floating dtype, got {array.dtype}")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be a positive Python int, got {num_steps!r}")
    dtype = jnp.promote_types(encoder.dtype, signal.dtype)
    threshold = jnp.broadcast_to(threshold, (k,)).astype(dtype)
    return encoder.astype(dtype), recurrent.astype(dtype), threshold, signal.astype(dtype)
