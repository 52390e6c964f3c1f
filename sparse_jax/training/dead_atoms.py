"""Dead-atom policy: track how often each atom fires, report and resample dead ones.

An atom (a dictionary column, with its encoder row when the model has one) is
*dead* when its code has been non-zero on less than a fraction ``min_rate`` of
recent inputs, or when its column is exactly zero. A dead atom costs nothing
in the loss and gets no gradient, so training alone does not revive it.

The policy, shared by the models of this package:

1. **Track.** Every train step reports ``firing``, the fraction of the batch
   on which each code is non-zero, shape (k,). The training loop keeps an
   exponential moving average ``r ← decay · r + (1 − decay) · firing`` with
   :func:`update_firing_rates`, starting from r = 1 (every atom presumed alive).
2. **Report.** :func:`find_dead_atoms` marks the atoms with r < ``min_rate``
   or a zero column; their number goes into the training metrics.
3. **Resample.** At chosen steps, :func:`resample_dead_atoms` replaces each
   dead column by a badly reconstructed input: input n is drawn with
   probability proportional to its squared reconstruction error
   ‖x_n − x̂_n‖², without replacement, and the new atom is x_n/‖x_n‖. The
   caller sets the matching encoder rows (for example to the new atom, scaled
   like the living rows) and calls :func:`reset_optimizer_state`, so that
   Adam's moment estimates of the old atom do not push the new one. The
   firing rate of a resampled atom is set back to 1.

Projections leave zero columns at zero
(:func:`sparse_jax.training.projections.normalize_columns`), so a zero column
stays zero, finite and reported dead until it is resampled.

Per model:

- group-sparse auto-encoders and PSD (:mod:`sparse_jax.training.group_ae`):
  unit sphere; the step drops the update of a zero column; resampling with
  :func:`sparse_jax.training.group_ae.resample_group_ae_units`;
- dictionary learning (:mod:`sparse_jax.training.lista`): unit sphere; a zero
  atom gets zero codes, hence no update; resampling with
  :func:`resample_dead_atoms` and :func:`reset_optimizer_state`, as in
  ``experiments/topographic_map``;
- DrSAE: the unit ball (norm ≤ 1), as in Rolfe & LeCun (ICLR 2013). Its
  step reports ``dead_units`` per batch and does not resample, as in that
  paper's training;
- the lateral inhibition coder: unit sphere; ``dead_units`` per batch and a
  firing average used for pruning, not resampling.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax


def firing_fraction(codes: jax.Array) -> jax.Array:
    """Returns the fraction of examples on which each code is non-zero.

    Args:
      codes: z, shape (n, k).

    Returns:
      float32 (k,) with entries in [0, 1].
    """
    codes = jnp.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] == 0:
        raise ValueError(f"codes must have shape (n, k) with n >= 1, got shape {codes.shape}")
    return jnp.mean((codes != 0).astype(jnp.float32), axis=0)


def update_firing_rates(rates: jax.Array, firing: jax.Array, decay) -> jax.Array:
    """Returns the moving average of firing fractions, r ← decay · r + (1 − decay) · firing.

    Args:
      rates: r, shape (k,), the current averages.
      firing: the batch fractions from :func:`firing_fraction`, shape (k,).
      decay: in [0, 1); 0.99 averages over about 100 batches. A concrete
        value outside raises ValueError; a traced one gives NaN rates.

    Returns:
      float32 (k,).
    """
    rates = jnp.asarray(rates, jnp.float32)
    firing = jnp.asarray(firing, jnp.float32)
    if rates.ndim != 1 or firing.shape != rates.shape:
        raise ValueError(
            f"rates has shape {rates.shape} and firing {firing.shape}; expected two (k,) arrays"
        )
    if jnp.ndim(decay) != 0:
        raise ValueError(f"decay must be a scalar, got shape {jnp.shape(decay)}")
    if not isinstance(decay, jax.core.Tracer) and not 0 <= float(decay) < 1:
        raise ValueError(f"decay must be in [0, 1), got {decay!r}")
    decay = jnp.asarray(decay, jnp.float32)
    valid = (decay >= 0) & (decay < 1)
    return jnp.where(valid, decay * rates + (1 - decay) * firing, jnp.nan)


def find_dead_atoms(dictionary: jax.Array, firing_rates: jax.Array, *, min_rate) -> jax.Array:
    """Marks the atoms that fire on less than ``min_rate`` of inputs or have a zero column.

    Args:
      dictionary: W_d, shape (d, k), atoms as columns.
      firing_rates: r, shape (k,), from :func:`update_firing_rates`.
      min_rate: the firing rate below which an atom counts as dead, ≥ 0.

    Returns:
      bool (k,), True for a dead atom.
    """
    dictionary = jnp.asarray(dictionary)
    firing_rates = jnp.asarray(firing_rates)
    if dictionary.ndim != 2 or firing_rates.shape != (dictionary.shape[1],):
        raise ValueError(
            f"dictionary has shape {dictionary.shape} and firing_rates {firing_rates.shape}; "
            "expected (d, k) and (k,)"
        )
    if isinstance(min_rate, int | float) and not min_rate >= 0:
        raise ValueError(f"min_rate must be >= 0, got {min_rate!r}")
    is_zero = jnp.all(dictionary == 0, axis=0)
    return is_zero | (firing_rates < min_rate)


def resample_dead_atoms(
    key: jax.Array, dictionary: jax.Array, dead, signals: jax.Array, reconstructions: jax.Array
) -> jax.Array:
    """Replaces each dead column by a normalised, badly reconstructed input.

    Input n is drawn with probability ∝ ‖x_n − x̂_n‖² without replacement
    (uniformly when every error is 0), and dead column j becomes
    x_n / ‖x_n‖. Inputs with x_n = 0 are never drawn. Living columns are
    returned bit for bit. Runs eagerly: the number of dead atoms sets the
    number of draws.

    Args:
      key: a JAX PRNG key.
      dictionary: W_d, shape (d, k).
      dead: bool (k,), from :func:`find_dead_atoms`.
      signals: x, shape (n, d), with at least as many finite, non-zero rows as
        dead atoms; rows with NaN or inf are never drawn.
      reconstructions: x̂, shape (n, d).

    Returns:
      The new dictionary, shape (d, k), every resampled column of norm 1.

    Raises:
      ValueError: mismatched shapes, or fewer non-zero inputs than dead atoms.
    """
    dictionary = jnp.asarray(dictionary)
    dead = np.asarray(dead, bool)
    signals = jnp.asarray(signals, dictionary.dtype)
    reconstructions = jnp.asarray(reconstructions, dictionary.dtype)
    d, k = dictionary.shape if dictionary.ndim == 2 else (None, None)
    if dictionary.ndim != 2 or dead.shape != (k,):
        raise ValueError(
            f"dictionary has shape {dictionary.shape} and dead {dead.shape}; expected (d, k) "
            "and (k,)"
        )
    if signals.ndim != 2 or signals.shape[1] != d or reconstructions.shape != signals.shape:
        raise ValueError(
            f"signals has shape {signals.shape} and reconstructions {reconstructions.shape}; "
            f"expected two arrays of shape (n, {d})"
        )
    dead_indices = np.flatnonzero(dead)
    if dead_indices.size == 0:
        return dictionary
    # Scale each row by its largest entry before the norm, so that rows near
    # the overflow or underflow limits of the dtype still give unit atoms.
    peaks = jnp.max(jnp.abs(signals), axis=1)
    finite = jnp.all(jnp.isfinite(signals), axis=1)
    safe_peaks = jnp.where(finite & (peaks > 0), peaks, 1)
    scaled = signals / safe_peaks[:, None]
    scaled_norms = jnp.sqrt(jnp.sum(scaled**2, axis=1))
    usable = np.asarray(finite & (peaks > 0))
    if usable.sum() < dead_indices.size:
        raise ValueError(
            f"signals has {int(usable.sum())} finite, non-zero rows; resampling "
            f"{dead_indices.size} dead atoms needs at least as many"
        )
    errors = np.sum((np.asarray(signals, np.float64) - np.asarray(reconstructions)) ** 2, axis=1)
    errors = np.where(usable & np.isfinite(errors), errors, 0.0)
    weights = errors if errors.sum() > 0 else usable.astype(np.float64)
    # A tiny floor keeps every usable input drawable when fewer inputs than
    # dead atoms have a positive error.
    weights = np.where(usable, weights + 1e-12 * weights.max(initial=1.0), 0.0)
    chosen = jax.random.choice(
        key,
        signals.shape[0],
        shape=(dead_indices.size,),
        replace=False,
        p=jnp.asarray(weights / weights.sum(), jnp.float32),
    )
    atoms = scaled[chosen] / scaled_norms[chosen][:, None]
    return dictionary.at[:, dead_indices].set(atoms.T)


def reset_optimizer_state(
    optimizer: optax.GradientTransformation, opt_state: optax.OptState, reset_masks
) -> optax.OptState:
    """Zeroes the optimiser statistics of the parameter entries selected by ``reset_masks``.

    Every leaf of ``opt_state`` that mirrors a parameter, such as Adam's
    first and second moments, is set to 0 where the mask is True. Step
    counts and other leaves are left alone. Works with the partitioned
    optimisers of :mod:`sparse_jax.training.optim`.

    Args:
      optimizer: the optimiser that built ``opt_state``.
      opt_state: its state.
      reset_masks: a pytree with the structure of the parameters whose bool
        leaves broadcast against the parameter shapes, e.g. (1, k) for the
        columns of a (d, k) dictionary and (k, 1) for the rows of a (k, d)
        encoder.

    Returns:
      The new optimiser state.
    """

    def reset(leaf, mask):
        if isinstance(leaf, optax.MaskedNode):
            return leaf
        mask = jnp.asarray(mask, bool)
        if jnp.ndim(mask) > jnp.ndim(leaf):
            raise ValueError(
                f"a reset mask of shape {jnp.shape(mask)} does not fit a state leaf of shape "
                f"{jnp.shape(leaf)}"
            )
        mask = jnp.broadcast_to(mask, jnp.shape(leaf))
        return jnp.where(mask, jnp.zeros((), leaf.dtype), leaf)

    return optax.tree_utils.tree_map_params(
        optimizer,
        reset,
        opt_state,
        reset_masks,
        transform_non_params=lambda leaf: leaf,
        is_leaf=lambda node: isinstance(node, optax.MaskedNode),
    )
