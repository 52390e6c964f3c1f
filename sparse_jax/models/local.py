"""A locally connected group-sparse auto-encoder: a topographic sheet of local filters.

The units form a sheet of H' × W' positions with K units per position. The
unit at position (i, j) reads the f × f window of the image whose corner is
(i·s, j·s) through its own filter (no weight sharing,
:func:`sparse_jax.local.local_encode`), so neighbouring positions on the
sheet see neighbouring, overlapping parts of the image. Its code is
z = g ⊙ ReLU(W_e ⋆ x + b), and its decoder is the locally connected
transpose x̂ = :func:`sparse_jax.local.local_decode` (W_d, z). The group
sparsity pools neighbouring units: pool (i, j) contains the units of every
feature at the positions of the pool window around (i, j) (centred for an
odd window), weighted by an optional Gaussian. The sheet is open (no
wrap-around), so pools at its edge contain fewer units.

Training on ½‖x − x̂‖² + λ Σ pools (``sparse_jax.training.conv``) favours
neighbouring units that fire together. Gregor & LeCun (arXiv:1006.0448,
2010) report that such pooling over overlapping neighbourhoods makes locally
connected units organise into pinwheel patterns of orientation-selective
receptive fields.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from sparse_jax.conv import gaussian_window, l2_pool
from sparse_jax.local import image_size_for_sheet, local_decode, local_encode
from sparse_jax.models.conv import AutoencoderOutput, unit_norm_filters

# Weights are (H', W', f, f, C, K); each unit's fan-in is f·f·C.
_WEIGHT_INIT = nn.initializers.variance_scaling(
    1.0, "fan_in", "normal", in_axis=(2, 3, 4), out_axis=5, batch_axis=(0, 1)
)


class LocalSparseAutoencoder(nn.Module):
    """Locally connected auto-encoder with topographic L2 pooling over the sheet.

    Parameters (``variables["params"]``):

    - ``encoder``: W_e, shape (H', W', f, f, C, K);
    - ``bias``: b, shape (H', W', K), initialised to 0;
    - ``gain``: g, shape (H', W', K), initialised to 1;
    - ``decoder``: W_d, shape (H', W', f, f, C, K), each filter at unit norm.

    The input images must have the size :func:`sparse_jax.local.image_size_for_sheet`
    gives, ((H' − 1)s + f) × ((W' − 1)s + f).

    Attributes:
      sheet: (H', W'), the positions of the sheet.
      features_per_position: K, units per position.
      filter_size: f, the side of each unit's receptive field in pixels.
      stride: s, pixels between the receptive fields of neighbouring positions.
      pool_window: side of the square window of positions in one pool.
      pool_sigma: width σ of Gaussian pooling weights over positions, or None
        for equal weights.
    """

    sheet: tuple[int, int] = (64, 64)
    features_per_position: int = 1
    filter_size: int = 8
    stride: int = 1
    pool_window: int = 5
    pool_sigma: float | None = None

    # Axes of the decoder array over which one unit's filter norm is taken.
    decoder_filter_axes = (2, 3, 4)

    @nn.compact
    def __call__(self, images: jax.Array) -> AutoencoderOutput:
        """Encodes, pools and reconstructs a batch.

        Args:
          images: x, shape (n, H, W, C) with (H, W) = :meth:`image_size`.

        Returns:
          :class:`sparse_jax.models.conv.AutoencoderOutput` with codes
          (n, H', W', K), pooled (n, H', W', 1), one pool per position, and
          reconstruction (n, H, W, C).
        """
        if images.ndim != 4:
            raise ValueError(f"images must have shape (n, H, W, C), got shape {images.shape}")
        if not jnp.issubdtype(images.dtype, jnp.floating):
            raise TypeError(f"images must have a floating dtype, got {images.dtype}")
        if images.shape[1:3] != self.image_size():
            raise ValueError(
                f"images have size {images.shape[1]} × {images.shape[2]}; a sheet of "
                f"{self.sheet} with filter_size {self.filter_size} and stride {self.stride} "
                f"reads {self.image_size()[0]} × {self.image_size()[1]} pixels"
            )
        rows, columns = self.sheet
        channels = images.shape[3]
        num_features = self.features_per_position
        shape = (rows, columns, self.filter_size, self.filter_size, channels, num_features)
        encoder = self.param("encoder", _WEIGHT_INIT, shape)
        bias = self.param("bias", nn.initializers.zeros, (rows, columns, num_features))
        gain = self.param("gain", nn.initializers.ones, (rows, columns, num_features))
        decoder = self.param("decoder", unit_norm_filters(self.decoder_filter_axes), shape)

        def encode(image):
            return local_encode(encoder, bias, gain, image, stride=self.stride)

        def decode(codes):
            return local_decode(decoder, codes, image_shape=images.shape[1:], stride=self.stride)

        codes = jax.vmap(encode)(images)
        pooled = jax.vmap(self._pool_one)(codes)
        reconstruction = jax.vmap(decode)(codes)
        return AutoencoderOutput(codes=codes, pooled=pooled, reconstruction=reconstruction)

    @nn.nowrap
    def image_size(self) -> tuple[int, int]:
        """Returns the (H, W) of the images that the sheet reads exactly."""
        return image_size_for_sheet(self.sheet, self.filter_size, self.stride)

    def _pool_one(self, codes: jax.Array) -> jax.Array:
        # All K features of a position belong to the same pools.
        groups = np.ones((1, self.features_per_position), np.float32)
        weights = None
        if self.pool_sigma is not None:
            weights = gaussian_window(self.pool_window, self.pool_sigma)
        return l2_pool(
            codes, window=self.pool_window, stride=1, feature_groups=groups, spatial_weights=weights
        )
