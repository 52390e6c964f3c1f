"""Auto-encoder with a ReLU encoder, a scaling layer and a linear decoder.

The encoder is the feed-forward predictor of the lecture's group-sparse
auto-encoder and of predictive sparse decomposition (Kavukcuoglu, Ranzato,
Fergus & LeCun, CVPR 2009):

    z = g ⊙ ReLU(W_e x + b),      x̂ = W_d z,

with a learned gain g per unit (the scaling layer) and a dictionary W_d whose
columns (atoms) are kept at unit norm by the training step. Losses and the
training step, with group, tree or L1 penalties on z, live in
:mod:`sparse_jax.training.group_ae`.
"""

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from sparse_jax.models.inhibition import unit_norm_columns


class GroupAEOutput(NamedTuple):
    """Output of :class:`GroupSparseAutoEncoder` for a batch of n examples.

    Attributes:
      codes: z = g ⊙ ReLU(W_e x + b), shape (n, k).
      reconstruction: W_d z, shape (n, d).
    """

    codes: jax.Array
    reconstruction: jax.Array


def gain_relu_encode(encoder, bias, gain, signals) -> jax.Array:
    """Returns z = g ⊙ ReLU(W_e x + b) for a batch.

    Args:
      encoder: W_e, shape (k, d).
      bias: b, shape (k,).
      gain: g, shape (k,).
      signals: x, shape (n, d).

    Returns:
      (n, k).

    Example::

      codes = gain_relu_encode(params["encoder"], params["bias"], params["gain"], patches)
    """
    encoder = jnp.asarray(encoder)
    signals = jnp.asarray(signals)
    k = encoder.shape[0] if encoder.ndim == 2 else None
    if encoder.ndim != 2 or jnp.shape(bias) != (k,) or jnp.shape(gain) != (k,):
        raise ValueError(
            f"encoder, bias and gain have shapes {encoder.shape}, {jnp.shape(bias)} and "
            f"{jnp.shape(gain)}; expected (k, d), (k,) and (k,)"
        )
    if signals.ndim != 2 or signals.shape[1] != encoder.shape[1]:
        raise ValueError(
            f"signals has shape {signals.shape}; expected (n, {encoder.shape[1]}) for an "
            f"encoder of shape {encoder.shape}"
        )
    pre_activation = signals @ encoder.T + bias[None, :]
    return gain[None, :] * jax.nn.relu(pre_activation)


def encoder_init(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """Draws a (k, d) encoder with independent Gaussian rows of norm 1."""
    return unit_norm_columns(key, shape[::-1], dtype).T


class GroupSparseAutoEncoder(nn.Module):
    """ReLU encoder with a per-unit gain and a linear decoder with unit-norm atoms.

    Parameters (names as in ``variables["params"]``):

    - ``encoder``: W_e, shape (k, d), Gaussian rows of norm 1;
    - ``bias``: b, shape (k,), zeros;
    - ``gain``: g, shape (k,), ones (the scaling layer);
    - ``dictionary``: W_d, shape (d, k), Gaussian columns of norm 1.

    The training step projects the dictionary onto the unit sphere after
    each update, so every column has norm exactly 1. A zero column stays
    zero until the dead-atom policy of :mod:`sparse_jax.training.dead_atoms`
    resamples it.

    Attributes:
      num_units: k, the number of code units and atoms.
      param_dtype: the dtype of the parameters, float32 by default, also for
        float16 or bfloat16 signals: Adam's ε = 1e-8 is 0 in float16, so
        half-precision parameters would turn into inf after one step.
    """

    num_units: int
    param_dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, signals: jax.Array) -> GroupAEOutput:
        """Encodes a batch and decodes its codes.

        Args:
          signals: x, shape (n, d), floating point.

        Returns:
          :class:`GroupAEOutput`.
        """
        if (
            isinstance(self.num_units, bool)
            or not isinstance(self.num_units, int | np.integer)
            or self.num_units < 1
        ):
            raise ValueError(
                f"GroupSparseAutoEncoder.num_units must be a positive int, got {self.num_units!r}"
            )
        signals = jnp.asarray(signals)
        if signals.ndim != 2:
            raise ValueError(f"signals must be a batch of shape (n, d), got shape {signals.shape}")
        if not jnp.issubdtype(signals.dtype, jnp.floating):
            raise TypeError(f"signals must have a floating dtype, got {signals.dtype}")
        d = signals.shape[1]
        k = int(self.num_units)
        dtype = self.param_dtype
        encoder = self.param("encoder", encoder_init, (k, d), dtype)
        bias = self.param("bias", nn.initializers.zeros, (k,), dtype)
        gain = self.param("gain", nn.initializers.ones, (k,), dtype)
        dictionary = self.param("dictionary", unit_norm_columns, (d, k), dtype)
        codes = gain_relu_encode(encoder, bias, gain, signals)
        return GroupAEOutput(codes=codes, reconstruction=codes @ dictionary.T)
