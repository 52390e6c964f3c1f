"""Convolutional group-sparse auto-encoders and the stacked convolutional classifier.

One layer encodes an image x of shape (H, W, C) into K non-negative feature
maps z = g ⊙ ReLU(W_e ⋆ x + b) and pools them into complex-cell outputs
y = L2-pool(z) over groups of feature maps and a spatial window
(:func:`sparse_jax.conv.l2_pool`). The auto-encoder adds a linear decoder,
the transposed convolution x̂ = W_d ∗ z, and is trained on

    ½‖x − W_d ∗ z‖² + λ Σ y

(``sparse_jax.training.conv``). Stacking trains a layer, drops its decoder
and trains the next auto-encoder on the pooled outputs y;
:class:`ConvClassifier` contains the encoders of such a stack under a linear
classifier, and :func:`assemble_pretrained_classifier` fills it with the
pretrained encoders.
"""

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from sparse_jax.conv import (
    conv_decode,
    conv_encode,
    feature_group_matrix,
    gaussian_window,
    l2_pool,
)

Params = Mapping[str, Any]

# Filters are (kh, kw, C, K): the fan-in is kh·kw·C, the fan-out K.
_FILTER_INIT = nn.initializers.lecun_normal(in_axis=(0, 1, 2), out_axis=3)


class AutoencoderOutput(NamedTuple):
    """Output of a group-sparse auto-encoder for a batch of n images.

    Attributes:
      codes: z ≥ 0, shape (n, H', W', K).
      pooled: y ≥ 0, the L2-pooled codes, shape (n, Hp, Wp, G).
      reconstruction: x̂, shape (n, H, W, C), the shape of the input.
    """

    codes: jax.Array
    pooled: jax.Array
    reconstruction: jax.Array


def unit_norm_filters(axes: Sequence[int], norm: float = 1.0):
    """Returns a Flax initializer of Gaussian filters scaled to ``norm`` over ``axes``."""
    axes = tuple(axes)

    def init(key, shape, dtype=jnp.float32):
        filters = jax.random.normal(key, shape, dtype)
        norms = jnp.sqrt(jnp.sum(jnp.square(filters), axis=axes, keepdims=True))
        return norm * filters / norms

    return init


def _scaled(initializer, scale: float):
    def init(key, shape, dtype=jnp.float32):
        return scale * initializer(key, shape, dtype)

    return init


class ConvEncoderLayer(nn.Module):
    """A convolutional encoder with L2 pooling: one layer of a stack.

    Parameters (``variables["params"]``):

    - ``filters``: W_e, shape (kernel_size, kernel_size, C, K);
    - ``bias``: b, shape (K,);
    - ``gain``: g, shape (K,), the scaling layer, initialised to 1.

    Attributes:
      num_features: K, the number of feature maps.
      kernel_size: the side of the square filters.
      stride: the encoder's stride s; the code maps are ceil(H/s) × ceil(W/s).
      pool_window: the side of the square L2-pooling window.
      pool_stride: the pooling stride r; the pooled maps are ceil(H'/r) × ceil(W'/r).
      group_size: feature maps per pool; 1 pools each map on its own.
      group_stride: shift between the feature groups on the ring of maps;
        None for ``group_size`` (disjoint groups).
      pool_sigma: width σ of Gaussian spatial pooling weights, or None for
        equal weights.
      init_scale: multiplies the LeCun-normal initial filters. A small value
        (e.g. 0.1) lets the learned structure dominate the filters sooner:
        components that the data never excites, such as frequencies that
        whitened images lack, keep their initial values.
    """

    num_features: int
    kernel_size: int
    stride: int = 1
    pool_window: int = 2
    pool_stride: int = 2
    group_size: int = 1
    group_stride: int | None = None
    pool_sigma: float | None = None
    init_scale: float = 1.0

    @nn.compact
    def __call__(self, images: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Encodes and pools a batch.

        Args:
          images: x, shape (n, H, W, C), floating point.

        Returns:
          (codes, pooled): z of shape (n, ceil(H/s), ceil(W/s), K) and y of
          shape (n, Hp, Wp, G).
        """
        _check_batch(images, "images")
        channels = images.shape[3]
        shape = (self.kernel_size, self.kernel_size, channels, self.num_features)
        filters = self.param("filters", _scaled(_FILTER_INIT, self.init_scale), shape)
        bias = self.param("bias", nn.initializers.zeros, (self.num_features,))
        gain = self.param("gain", nn.initializers.ones, (self.num_features,))

        def encode(image):
            return conv_encode(filters, bias, gain, image, stride=self.stride)

        codes = jax.vmap(encode)(images)
        return codes, self.pool(codes)

    def pool(self, codes: jax.Array) -> jax.Array:
        """L2-pools a batch of code maps (n, H', W', K) into (n, Hp, Wp, G)."""
        return jax.vmap(self._pool_one)(codes)

    def _pool_one(self, codes: jax.Array) -> jax.Array:
        groups = None
        if self.group_size > 1:
            groups = feature_group_matrix(
                self.num_features, self.group_size, group_stride=self.group_stride
            )
        weights = None
        if self.pool_sigma is not None:
            weights = gaussian_window(self.pool_window, self.pool_sigma)
        return l2_pool(
            codes,
            window=self.pool_window,
            stride=self.pool_stride,
            feature_groups=groups,
            spatial_weights=weights,
        )


class ConvSparseAutoencoder(nn.Module):
    """Convolutional group-sparse auto-encoder: encoder, L2 pooling, linear decoder.

    Parameters (``variables["params"]``):

    - ``encoder``: the :class:`ConvEncoderLayer` parameters ``filters``,
      ``bias`` and ``gain``;
    - ``decoder``: W_d, shape (kernel_size, kernel_size, C, K), one atom per
      feature map, initialised as Gaussian noise of norm ``init_scale``.

    The reconstruction is x̂ = :func:`sparse_jax.conv.conv_decode` (W_d, z)
    with the encoder's stride, so it has the input's shape exactly.

    Attributes:
      The attributes of :class:`ConvEncoderLayer`; ``init_scale`` also sets
      the initial norm of the decoder atoms.
    """

    num_features: int
    kernel_size: int
    stride: int = 1
    pool_window: int = 2
    pool_stride: int = 2
    group_size: int = 1
    group_stride: int | None = None
    pool_sigma: float | None = None
    init_scale: float = 1.0

    # Axes of the decoder array over which one atom's norm is taken.
    decoder_filter_axes = (0, 1, 2)

    @nn.compact
    def __call__(self, images: jax.Array) -> AutoencoderOutput:
        """Encodes, pools and reconstructs a batch.

        Args:
          images: x, shape (n, H, W, C), floating point.

        Returns:
          :class:`AutoencoderOutput`.
        """
        codes, pooled = self.encoder_layer().clone(name="encoder", parent=self)(images)
        shape = (self.kernel_size, self.kernel_size, images.shape[3], self.num_features)
        decoder_init = unit_norm_filters(self.decoder_filter_axes, self.init_scale)
        decoder = self.param("decoder", decoder_init, shape)

        def decode(code_maps):
            return conv_decode(decoder, code_maps, image_shape=images.shape[1:], stride=self.stride)

        reconstruction = jax.vmap(decode)(codes)
        return AutoencoderOutput(codes=codes, pooled=pooled, reconstruction=reconstruction)

    @nn.nowrap
    def encoder_layer(self) -> ConvEncoderLayer:
        """Returns an unbound :class:`ConvEncoderLayer` with this model's settings."""
        return ConvEncoderLayer(
            parent=None,
            num_features=self.num_features,
            kernel_size=self.kernel_size,
            stride=self.stride,
            pool_window=self.pool_window,
            pool_stride=self.pool_stride,
            group_size=self.group_size,
            group_stride=self.group_stride,
            pool_sigma=self.pool_sigma,
            init_scale=self.init_scale,
        )


class ClassifierOutput(NamedTuple):
    """Output of :class:`ConvClassifier` for a batch of n images.

    Attributes:
      features: the pooled outputs of the last layer, flattened, shape (n, F).
      logits: shape (n, num_classes).
    """

    features: jax.Array
    logits: jax.Array


class ConvClassifier(nn.Module):
    """A stack of :class:`ConvEncoderLayer` with a linear classifier on top.

    Layer l reads the pooled outputs of layer l − 1 (the image for l = 0).
    The classifier is a dense layer on the flattened pooled maps of the last
    layer. Parameters: ``layer_0``, ``layer_1``, … (each ``filters``,
    ``bias``, ``gain``) and ``classifier`` (``kernel`` (F, num_classes),
    ``bias``).

    Attributes:
      layers: one :class:`ConvEncoderLayer` per layer, unbound, in order;
        e.g. ``model.encoder_layer()`` of each pretrained auto-encoder.
      num_classes: the number of classifier outputs.
    """

    layers: Sequence[ConvEncoderLayer]
    num_classes: int = 10

    @nn.compact
    def __call__(self, images: jax.Array) -> ClassifierOutput:
        """Classifies a batch of images of shape (n, H, W, C)."""
        _check_batch(images, "images")
        if not self.layers:
            raise ValueError("ConvClassifier.layers is empty; expected at least one layer")
        inputs = images
        for index, layer in enumerate(self.layers):
            _, inputs = layer.clone(name=f"layer_{index}", parent=self)(inputs)
        features = inputs.reshape(inputs.shape[0], -1)
        logits = nn.Dense(self.num_classes, name="classifier")(features)
        return ClassifierOutput(features=features, logits=logits)


def assemble_pretrained_classifier(
    params: Params, encoder_params: Sequence[Params]
) -> dict[str, Any]:
    """Puts pretrained encoder layers into :class:`ConvClassifier` parameters.

    Every ``layer_l`` of ``params`` is replaced by ``encoder_params[l]``, the
    ``encoder`` entry of the l-th trained :class:`ConvSparseAutoencoder`
    (whose decoder is dropped). The ``classifier`` entry is kept as given,
    normally at its random initialisation.

    Args:
      params: the ``params`` collection of a ConvClassifier, e.g. from
        ``model.init``, with entries ``layer_0``, ``layer_1``, … and
        ``classifier``.
      encoder_params: per layer, a dict with ``filters``, ``bias`` and ``gain``.

    Returns:
      A new ``params`` dict; ``params`` itself is not modified.

    Raises:
      ValueError: the number of layers or a parameter shape does not match.
    """
    num_layers = sum(1 for name in params if name.startswith("layer_"))
    if len(encoder_params) != num_layers:
        raise ValueError(
            f"encoder_params has {len(encoder_params)} entries but the model has "
            f"{num_layers} layers; expected one entry per layer"
        )
    assembled = dict(params)
    for index, pretrained in enumerate(encoder_params):
        name = f"layer_{index}"
        expected = jax.tree.map(jnp.shape, dict(params[name]))
        got = jax.tree.map(jnp.shape, dict(pretrained))
        if expected != got:
            raise ValueError(
                f"encoder_params[{index}] has shapes {got}; expected {expected} for {name}"
            )
        assembled[name] = jax.tree.map(jnp.asarray, dict(pretrained))
    return assembled


def normalize_encoder_filters(encoder_params: Params, *, norm: float = 1.0) -> dict[str, Any]:
    """Rescales each encoder filter to ``norm`` without changing the layer's output.

    ReLU is positively homogeneous, so with c_k = norm / ‖W_k‖ the layer
    z_k = g_k ReLU(W_k ⋆ x + b_k) equals (g_k / c_k) ReLU(c_k W_k ⋆ x + c_k b_k).
    Adam moves every parameter by about its learning rate per step whatever
    the parameter's size, so pretrained filters that are much smaller than a
    standard initialisation would change much faster, relative to their
    size, when fine-tuned. A filter that is exactly zero is left as it is.

    Args:
      encoder_params: ``filters`` (kh, kw, C, K), ``bias`` (K,), ``gain`` (K,).
      norm: the Euclidean norm of every filter afterwards, > 0. LeCun-normal
        initialisation gives norms close to 1.

    Returns:
      A dict with the rescaled ``filters``, ``bias`` and ``gain``.
    """
    if not norm > 0:
        raise ValueError(f"norm must be positive, got {norm}")
    filters = jnp.asarray(encoder_params["filters"])
    norms = jnp.sqrt(jnp.sum(jnp.square(filters), axis=(0, 1, 2)))
    nonzero = norms > 0
    scale = jnp.where(nonzero, norm / jnp.where(nonzero, norms, 1), 1)
    return {
        "filters": filters * scale[None, None, None, :],
        "bias": jnp.asarray(encoder_params["bias"]) * scale,
        "gain": jnp.asarray(encoder_params["gain"]) / scale,
    }


def _check_batch(images, name: str) -> None:
    if images.ndim != 4:
        raise ValueError(f"{name} must be a batch of shape (n, H, W, C), got shape {images.shape}")
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise TypeError(f"{name} must have a floating dtype, got {images.dtype}")
