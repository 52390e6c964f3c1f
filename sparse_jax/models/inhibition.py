"""Sparse coder with lateral inhibition (Gregor, Szlam & LeCun, NIPS 2011).

The module owns the dictionary W_d and the inhibition matrix S and infers the
codes of a batch by minimising

    E(x, z) = ½‖x − W_d z‖² + λ‖z‖₁ + |z|ᵀ S |z|

with :func:`sparse_jax.inhibition.inhibited_ista`. Learning (descent on W_d,
ascent on S, projections) lives in :mod:`sparse_jax.training.inhibition`.
"""

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from sparse_jax.inhibition import inhibited_ista


class InhibitionOutput(NamedTuple):
    """Output of :class:`InhibitionCoder` for a batch of n examples.

    Attributes:
      codes: z, shape (n, k).
      reconstruction: W_d z, shape (n, d).
      criterion: relative length of the next inference step from z, shape (n,).
      num_steps: inference steps taken per example, int32 (n,).
    """

    codes: jax.Array
    reconstruction: jax.Array
    criterion: jax.Array
    num_steps: jax.Array


def unit_norm_columns(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32) -> jax.Array:
    """Draws a (d, k) matrix with independent Gaussian columns scaled to unit norm."""
    if len(shape) != 2:
        raise ValueError(f"unit_norm_columns needs a 2-D shape (d, k), got {shape}")
    matrix = jax.random.normal(key, shape, dtype)
    return matrix / jnp.sqrt(jnp.sum(matrix**2, axis=0, keepdims=True))


class InhibitionCoder(nn.Module):
    """Infers sparse codes under lateral inhibition; a linear decoder reconstructs.

    Parameters (names as in ``variables["params"]``):

    - ``dictionary``: W_d, shape (d, k), atoms as columns; initialised with
      unit-norm Gaussian columns;
    - ``inhibition``: S, shape (k, k), non-negative; initialised to zeros, so
      the untrained coder is a lasso coder. Set it by hand by replacing the
      entry in the params dictionary.

    Inference runs ``num_steps`` steps of
    :func:`sparse_jax.inhibition.inhibited_ista` from z = 0 (differentiable
    by unrolling), or, when ``tol`` is set, steps until the relative step
    length is at most ``tol`` or ``max_steps`` steps are done (not
    reverse-differentiable). The step size is 1/(L_D + 2c), recomputed from
    the current parameters on every call.

    Attributes:
      num_units: k, the number of atoms.
      num_steps: inference steps in fixed-step mode; ignored when ``tol`` is set.
      tol: relative step length at which inference stops, or None.
      max_steps: bound on the inference steps when ``tol`` is set.
      nonneg: constrain the codes to z ≥ 0.
    """

    num_units: int
    num_steps: int = 100
    tol: float | None = None
    max_steps: int | None = None
    nonneg: bool = False

    @nn.compact
    def __call__(self, signals: jax.Array, l1_weight) -> InhibitionOutput:
        """Infers the codes of a batch and reconstructs it.

        Args:
          signals: x, shape (n, d), floating point.
          l1_weight: λ ≥ 0, a scalar or (k,); may be traced.

        Returns:
          :class:`InhibitionOutput`.
        """
        self._check_attributes()
        signals = jnp.asarray(signals)
        if signals.ndim != 2:
            raise ValueError(f"signals must be a batch of shape (n, d), got shape {signals.shape}")
        if not jnp.issubdtype(signals.dtype, jnp.floating):
            raise TypeError(f"signals must have a floating dtype, got {signals.dtype}")
        d = signals.shape[1]
        k = self.num_units

        dictionary = self.param("dictionary", unit_norm_columns, (d, k), signals.dtype)
        inhibition = self.param("inhibition", nn.initializers.zeros, (k, k), signals.dtype)

        if self.tol is None:
            mode = {"num_steps": self.num_steps}
        else:
            mode = {"tol": self.tol, "max_steps": self.max_steps}
        result = inhibited_ista(
            dictionary, inhibition, signals, l1_weight, nonneg=self.nonneg, **mode
        )
        return InhibitionOutput(
            codes=result.codes,
            reconstruction=result.codes @ dictionary.T,
            criterion=result.criterion,
            num_steps=result.num_steps,
        )

    def _check_attributes(self) -> None:
        if not isinstance(self.num_units, int) or self.num_units < 1:
            raise ValueError(
                f"InhibitionCoder.num_units must be a positive int, got {self.num_units!r}"
            )
        if self.tol is None:
            if not isinstance(self.num_steps, int) or self.num_steps < 1:
                raise ValueError(
                    f"InhibitionCoder.num_steps must be a positive int, got {self.num_steps!r}"
                )
        elif self.max_steps is None:
            raise ValueError("InhibitionCoder.tol needs max_steps, the bound on inference steps")


def init_inhibition_params(
    key: jax.Array, model: InhibitionCoder, num_features: int, dtype=jnp.float32
) -> dict[str, jax.Array]:
    """Draws parameters for ``model`` without running inference, unlike ``model.init``.

    The dictionary has unit-norm Gaussian columns and the inhibition is zero,
    as with ``model.init``. The random draws differ from those of
    ``model.init``, because Flax derives its own key for each parameter.

    Args:
      key: a JAX PRNG key.
      model: the :class:`InhibitionCoder` whose parameters to draw.
      num_features: d, the dimension of a signal.
      dtype: the floating dtype of both parameters.

    Returns:
      ``{"dictionary": (d, k), "inhibition": (k, k)}``.
    """
    if not isinstance(num_features, int) or num_features < 1:
        raise ValueError(f"num_features must be a positive int, got {num_features!r}")
    k = model.num_units
    return {
        "dictionary": unit_norm_columns(key, (num_features, k), dtype),
        "inhibition": jnp.zeros((k, k), dtype),
    }
