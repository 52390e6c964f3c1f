"""Energies, penalties and code statistics for one example.

Shapes are for one example: dictionary D (d, k) with atoms as columns,
signal x (d,), codes z (k,). Batches come from ``jax.vmap``.
"""

import jax
import jax.numpy as jnp

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
