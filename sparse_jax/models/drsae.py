"""Discriminative recurrent sparse auto-encoder (Rolfe & LeCun, ICLR 2013).

The encoder is the non-negative LISTA unroll z ← ReLU(W_e x + S z − b) from
z⁰ = 0, the decoder is linear (x̂ = W_d z, atoms as columns of W_d), and a
linear classifier reads the direction of the code, W_c z/‖z‖ + c.
"""

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from sparse_jax.encoders import lista_encode, lista_params_from_dictionary

# Fan-in is the last axis for every matrix here: encoder (k, d), decoder (d, k),
# classifier (n_classes, k) all multiply a vector from the right.
_LECUN_NORMAL = nn.initializers.lecun_normal(in_axis=-1, out_axis=-2)
_CLASSIFIER_INIT_STDDEV = 0.01


class DrSAEOutput(NamedTuple):
    """Output of :class:`DrSAE` for a batch of n examples.

    Attributes:
      codes: z⁽ᵀ⁾ ≥ 0, shape (n, k).
      reconstruction: x̂ = W_d z⁽ᵀ⁾, shape (n, d).
      logits: W_c z⁽ᵀ⁾/‖z⁽ᵀ⁾‖ + c, shape (n, n_classes).
    """

    codes: jax.Array
    reconstruction: jax.Array
    logits: jax.Array


def normalize_codes(codes: jax.Array) -> jax.Array:
    """Scales each code to unit Euclidean norm, z/‖z‖, and maps a zero code to 0.

    The value and the gradient are finite at z = 0: the norm inside the
    division is replaced by 1 where it is 0 (the double-``where`` pattern), so
    no 0/0 reaches the backward pass. The gradient at z = 0 is 0.

    Args:
      codes: z, shape (k,) or a batch (n, k); the norm is over the last axis.

    Returns:
      An array of the shape and dtype of ``codes``.
    """
    codes = jnp.asarray(codes)
    squared_norm = jnp.sum(jnp.square(codes), axis=-1, keepdims=True)
    is_nonzero = squared_norm > 0
    safe_squared_norm = jnp.where(is_nonzero, squared_norm, 1)
    return jnp.where(is_nonzero, codes * lax.rsqrt(safe_squared_norm), 0)


class DrSAE(nn.Module):
    """Discriminative recurrent sparse auto-encoder with a linear classifier.

    Parameters (names as in ``variables["params"]``):

    - ``encoder``: W_e, shape (k, d);
    - ``recurrent``: S, shape (k, k);
    - ``threshold``: b, shape (k,);
    - ``decoder``: W_d, shape (d, k), atoms as columns;
    - ``classifier``: W_c, shape (n_classes, k);
    - ``classifier_bias``: c, shape (n_classes,).

    The codes are z⁽ᵀ⁾ of the non-negative unroll z⁽ᵗ⁺¹⁾ = ReLU(W_e x + S z⁽ᵗ⁾ − b),
    computed by :func:`sparse_jax.lista_encode`. ``model.init`` draws generic
    random parameters; :func:`init_drsae_params` gives the usual data-driven
    start (digit atoms and the ISTA-equivalent encoder).

    Attributes:
      num_units: k, the number of hidden units.
      num_steps: T, the number of unrolled encoder steps.
      num_classes: the number of classifier outputs.
    """

    num_units: int = 400
    num_steps: int = 11
    num_classes: int = 10

    @nn.compact
    def __call__(self, images: jax.Array) -> DrSAEOutput:
        """Encodes, reconstructs and classifies a batch.

        Args:
          images: x, shape (n, d), floating point.

        Returns:
          :class:`DrSAEOutput` with codes (n, k), reconstruction (n, d) and
          logits (n, n_classes).
        """
        self._check_attributes()
        if images.ndim != 2:
            raise ValueError(f"images must be a batch of shape (n, d), got shape {images.shape}")
        if not jnp.issubdtype(images.dtype, jnp.floating):
            raise TypeError(f"images must have a floating dtype, got {images.dtype}")
        d = images.shape[1]
        k = self.num_units

        encoder = self.param("encoder", _LECUN_NORMAL, (k, d))
        recurrent = self.param("recurrent", nn.initializers.zeros, (k, k))
        threshold = self.param("threshold", nn.initializers.zeros, (k,))
        decoder = self.param("decoder", _LECUN_NORMAL, (d, k))
        classifier = self.param(
            "classifier", nn.initializers.normal(_CLASSIFIER_INIT_STDDEV), (self.num_classes, k)
        )
        classifier_bias = self.param("classifier_bias", nn.initializers.zeros, (self.num_classes,))

        codes = lista_encode(
            encoder, recurrent, threshold, images, num_steps=self.num_steps, nonneg=True
        )
        reconstruction = codes @ decoder.T
        logits = normalize_codes(codes) @ classifier.T + classifier_bias[None, :]
        return DrSAEOutput(codes=codes, reconstruction=reconstruction, logits=logits)

    def _check_attributes(self) -> None:
        for name in ("num_units", "num_steps", "num_classes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"DrSAE.{name} must be a positive int, got {value!r}")


def dictionary_from_examples(key: jax.Array, examples: jax.Array, num_atoms: int) -> jax.Array:
    """Builds a dictionary from randomly chosen examples scaled to unit norm.

    Draws ``num_atoms`` distinct rows of ``examples`` and uses each, divided by
    its Euclidean norm, as one atom (column). An all-zero example gives a zero
    atom, not NaN.

    Args:
      key: a JAX PRNG key.
      examples: training inputs, shape (n, d), with n ≥ ``num_atoms``.
      num_atoms: k, the number of atoms.

    Returns:
      W_d, shape (d, k), in the dtype of ``examples``.
    """
    examples = jnp.asarray(examples)
    if examples.ndim != 2:
        raise ValueError(f"examples must have shape (n, d), got shape {examples.shape}")
    if not jnp.issubdtype(examples.dtype, jnp.floating):
        raise TypeError(f"examples must have a floating dtype, got {examples.dtype}")
    if not isinstance(num_atoms, int) or num_atoms < 1:
        raise ValueError(f"num_atoms must be a positive int, got {num_atoms!r}")
    if num_atoms > examples.shape[0]:
        raise ValueError(
            f"num_atoms={num_atoms} is larger than the number of examples "
            f"{examples.shape[0]}; pass at least num_atoms distinct examples"
        )
    chosen = jax.random.choice(key, examples.shape[0], (num_atoms,), replace=False)
    atoms = examples[chosen].T
    norms = jnp.sqrt(jnp.sum(jnp.square(atoms), axis=0, keepdims=True))
    return jnp.where(norms > 0, atoms / jnp.where(norms > 0, norms, 1), 0)


def init_drsae_params(
    key: jax.Array,
    images: jax.Array,
    model: DrSAE,
    *,
    l1_weight: float,
    lipschitz: float | None = None,
    classifier_stddev: float = _CLASSIFIER_INIT_STDDEV,
) -> dict[str, jax.Array]:
    """Initialises DrSAE parameters from training images.

    The decoder is :func:`dictionary_from_examples` on ``images``. The encoder,
    recurrent matrix and threshold are :func:`sparse_jax.lista_params_from_dictionary`
    of that decoder with λ = ``l1_weight``, W_e = W_dᵀ/L, S = I − W_dᵀW_d/L and
    b = λ/L, so the untrained encoder runs T steps of non-negative ISTA. L is
    1.05 times the power-iteration estimate of σ_max(W_d)² unless ``lipschitz``
    is given. The classifier is normal with standard deviation
    ``classifier_stddev``, and its bias is zero.

    Args:
      key: a JAX PRNG key.
      images: training inputs, shape (n, d), n ≥ ``model.num_units``.
      model: the :class:`DrSAE` whose parameters to build.
      l1_weight: λ ≥ 0, the sparsity weight that the threshold is set for.
      lipschitz: L, overriding the power-iteration estimate.
      classifier_stddev: standard deviation of the classifier entries.

    Returns:
      The ``params`` collection: a dict with the keys and shapes listed in
      :class:`DrSAE`.
    """
    images = jnp.asarray(images)
    if not isinstance(model, DrSAE):
        raise TypeError(f"model must be a DrSAE, got {type(model).__name__}")
    if classifier_stddev < 0:
        raise ValueError(f"classifier_stddev must be non-negative, got {classifier_stddev}")
    dictionary_key, classifier_key = jax.random.split(key)

    decoder = dictionary_from_examples(dictionary_key, images, model.num_units)
    lista = lista_params_from_dictionary(decoder, l1_weight, lipschitz=lipschitz)
    classifier_shape = (model.num_classes, model.num_units)
    classifier = classifier_stddev * jax.random.normal(
        classifier_key, classifier_shape, decoder.dtype
    )
    return {
        "encoder": lista.encoder,
        "recurrent": lista.recurrent,
        "threshold": lista.threshold,
        "decoder": decoder,
        "classifier": classifier,
        "classifier_bias": jnp.zeros((model.num_classes,), decoder.dtype),
    }
