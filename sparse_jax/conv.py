"""Convolutional sparse coding pieces for one image of shape (H, W, C).

Filters are stored as (kh, kw, C, K) arrays, the HWIO layout of
``lax.conv_general_dilated``: K filters of kh × kw pixels over C input
channels. A code (feature) map of K features has shape (H', W', K).

Padding convention ("SAME"): with stride s the code map of an H × W image is
ceil(H/s) × ceil(W/s), and the decoder returns exactly H × W. The correlation
pads the image with p = max((H' − 1)s + kh − H, 0) rows of zeros, ⌊p/2⌋ on
top and the rest at the bottom (the same split for columns), as XLA's SAME
padding does. Output position i reads the input rows i·s − ⌊p/2⌋ …
i·s − ⌊p/2⌋ + kh − 1.

The pieces:

* :func:`conv_correlate`, the strided correlation x ↦ Wᵀ ⋆ x, and
  :func:`conv_decode`, its exact adjoint (a transposed convolution) z ↦ W ∗ z;
* :func:`conv_encode`, the encoder z = g ⊙ ReLU(W_e ⋆ x + b);
* :func:`l2_pool`, complex-cell L2 pooling over a group of feature maps and
  a spatial window, and :func:`group_sparsity_penalty`, the sum of its
  outputs;
* :func:`conv_operator`, the decoder as a :class:`sparse_jax.LinearOperator`,
  and :func:`conv_sparse_code`, convolutional sparse coding with
  :func:`sparse_jax.proximal_gradient`.

Every function takes one image; batches come from ``jax.vmap``.

References:
  Kavukcuoglu, Sermanet, Boureau, Gregor, Mathieu, LeCun, Learning
  Convolutional Feature Hierarchies for Visual Recognition, NIPS 2010.
  Kavukcuoglu, Ranzato, Fergus, LeCun, Learning Invariant Features through
  Topographic Filter Maps, CVPR 2009 (L2 pooling of feature groups).
"""

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from sparse_jax._compat import is_tracer
from sparse_jax.solvers import LinearOperator, Penalty, SolverResult, l1_penalty, proximal_gradient

_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")


def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """Returns the (before, after) zero padding of SAME: ceil(size/stride) outputs.

    The total is max((ceil(size/stride) − 1)·stride + kernel_size − size, 0),
    split as ⌊total/2⌋ before and the rest after.
    """
    output_size = -(-size // stride)
    total = max((output_size - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


def code_map_shape(image_shape, num_features: int, *, stride: int = 1) -> tuple[int, int, int]:
    """Returns (ceil(H/s), ceil(W/s), K), the code map shape of an (H, W, C) or (H, W) image."""
    height, width = image_shape[0], image_shape[1]
    stride = _positive_int(stride, "stride")
    return -(-height // stride), -(-width // stride), num_features


def conv_correlate(filters, image, *, stride: int = 1) -> jax.Array:
    """Correlates an image with K filters: the analysis map x ↦ Wᵀ ⋆ x.

    .. math::

        u_{ijk} = Σ_{a,b,c} W_{abck} \\, x_{i s + a − p_r,\\; j s + b − p_c,\\; c}

    with x zero outside the image and (p_r, p_c) the SAME padding before the
    first row and column (see the module docstring). This is the linear part
    of the encoder and the adjoint of :func:`conv_decode`.

    Args:
      filters: W, shape (kh, kw, C, K).
      image: x, shape (H, W, C).
      stride: s ≥ 1, the step between output positions, a Python int.

    Returns:
      u, shape (ceil(H/s), ceil(W/s), K), in the promoted dtype of the inputs.
    """
    filters, image = _check_filters_and_image(filters, image)
    stride = _positive_int(stride, "stride")
    kernel_height, kernel_width = filters.shape[:2]
    height, width = image.shape[:2]
    padding = (
        same_padding(height, kernel_height, stride),
        same_padding(width, kernel_width, stride),
    )
    output = lax.conv_general_dilated(
        image[None],
        filters,
        window_strides=(stride, stride),
        padding=padding,
        dimension_numbers=_DIMENSION_NUMBERS,
    )
    return output[0]


def conv_decode(filters, codes, *, image_shape, stride: int = 1) -> jax.Array:
    """Reconstructs an image from code maps: the transposed convolution z ↦ W ∗ z.

    .. math::

        \\hat x_{yxc} = Σ_{i,j,k,a,b \\,:\\, i s + a − p_r = y,\\; j s + b − p_c = x}
                        W_{abck} \\, z_{ijk}

    Each code z_ijk adds a copy of filter k, scaled by z_ijk, with its corner
    at (i·s − p_r, j·s − p_c). The parts that fall outside the H × W image
    are dropped. It is the exact adjoint of :func:`conv_correlate` with the same
    filters and stride: ⟨conv_decode(W, z), r⟩ = ⟨z, conv_correlate(W, r)⟩.
    It runs as one convolution of the stride-dilated code map with the
    spatially flipped filters.

    Args:
      filters: W, shape (kh, kw, C, K), the atoms of the dictionary.
      codes: z, shape (ceil(H/s), ceil(W/s), K).
      image_shape: (H, W) or (H, W, C) of the reconstruction.
      stride: s ≥ 1, a Python int.

    Returns:
      x̂, shape (H, W, C).
    """
    filters = _check_filters(filters)
    codes = jnp.asarray(codes)
    stride = _positive_int(stride, "stride")
    kernel_height, kernel_width, channels, num_features = filters.shape
    height, width = _image_size(image_shape, channels)
    expected = code_map_shape((height, width), num_features, stride=stride)
    if codes.shape != expected:
        raise ValueError(
            f"codes has shape {codes.shape}; expected {expected} for image_shape "
            f"{tuple(image_shape)}, stride {stride} and {num_features} filters"
        )
    _check_floating(codes, "codes")

    padding = []
    for size, kernel_size, code_size in (
        (height, kernel_height, expected[0]),
        (width, kernel_width, expected[1]),
    ):
        before, _ = same_padding(size, kernel_size, stride)
        # Output y = Σ_a z_dilated[y + p − a] W[a], a correlation of the dilated
        # map with the flipped filter, padded so that exactly `size` values come out.
        padding.append((kernel_size - 1 - before, size - 1 - (code_size - 1) * stride + before))
    flipped = jnp.flip(filters, axis=(0, 1)).transpose(0, 1, 3, 2)  # (kh, kw, K, C)
    output = lax.conv_general_dilated(
        codes[None],
        flipped,
        window_strides=(1, 1),
        padding=padding,
        lhs_dilation=(stride, stride),
        dimension_numbers=_DIMENSION_NUMBERS,
    )
    return output[0]


def conv_encode(filters, bias, gain, image, *, stride: int = 1) -> jax.Array:
    """Encodes an image into non-negative feature maps, z = g ⊙ ReLU(W_e ⋆ x + b).

    Args:
      filters: W_e, shape (kh, kw, C, K).
      bias: b, shape (K,), one per feature map.
      gain: g, shape (K,), the learned scaling of each feature map.
      image: x, shape (H, W, C).
      stride: s ≥ 1, a Python int.

    Returns:
      z, shape (ceil(H/s), ceil(W/s), K).
    """
    filters = _check_filters(filters)
    num_features = filters.shape[3]
    bias = _check_vector(bias, num_features, "bias")
    gain = _check_vector(gain, num_features, "gain")
    drive = conv_correlate(filters, image, stride=stride)
    return gain[None, None, :] * jax.nn.relu(drive + bias[None, None, :])


def feature_group_matrix(
    num_features: int, group_size: int, *, group_stride: int | None = None, circular: bool = True
) -> np.ndarray:
    """Builds the (G, K) 0/1 matrix of groups of consecutive feature maps.

    Group g contains maps g·r, …, g·r + group_size − 1 with r = ``group_stride``
    (``group_size`` by default, which gives disjoint groups). With
    ``circular`` the indices wrap modulo K, so the maps sit on a ring and
    every map lies in the same number of groups (a 1-D topographic order);
    without it the groups stop at the last map.

    Args:
      num_features: K ≥ 1.
      group_size: maps per group, 1 ≤ group_size ≤ K.
      group_stride: r ≥ 1, the shift between consecutive groups.
      circular: wrap the groups around the ring of maps.

    Returns:
      float32 array of shape (G, K), G = ceil(K / r) with ``circular``, else
      the number of groups that fit, floor((K − group_size)/r) + 1.
    """
    num_features = _positive_int(num_features, "num_features")
    group_size = _positive_int(group_size, "group_size")
    group_stride = (
        group_size if group_stride is None else _positive_int(group_stride, "group_stride")
    )
    if group_size > num_features:
        raise ValueError(
            f"group_size={group_size} is larger than num_features={num_features}; expected "
            "group_size <= num_features"
        )
    if circular:
        starts = np.arange(0, num_features, group_stride)
    else:
        starts = np.arange(0, num_features - group_size + 1, group_stride)
    members = (starts[:, None] + np.arange(group_size)[None, :]) % num_features
    matrix = np.zeros((len(starts), num_features), np.float32)
    np.put_along_axis(matrix, members, 1.0, axis=1)
    return matrix


def gaussian_window(window: int, sigma: float) -> np.ndarray:
    """Returns the (window, window) weights exp(−(u² + v²)/(2σ²)), u, v from the centre.

    The centre is (window − 1)/2, so the weights are symmetric; they are not
    normalised (1 at the centre of an odd window).
    """
    window = _positive_int(window, "window")
    if not (isinstance(sigma, numbers.Real) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
    offsets = np.arange(window) - (window - 1) / 2
    profile = np.exp(-(offsets**2) / (2 * float(sigma) ** 2))
    return (profile[:, None] * profile[None, :]).astype(np.float32)


def l2_pool(
    maps,
    *,
    window,
    stride: int = 1,
    feature_groups=None,
    spatial_weights=None,
) -> jax.Array:
    """Pools feature maps by the L2 norm over feature groups and a spatial window.

    .. math::

        y_{ijg} = \\sqrt{Σ_{a,b} w_{ab} Σ_k M_{gk} \\, z^2_{i r + a − p_r,\\; j r + b − p_c,\\; k}}

    with w the spatial weights (ones by default), M the (G, K) feature group
    matrix (the identity by default, so each map is pooled on its own) and
    r the stride. (p_r, p_c) is the SAME padding, so the pooled map is
    ceil(H/r) × ceil(W/r). Positions outside the map count as zeros. These
    are the complex-cell outputs of a topographic or convolutional
    group-sparse auto-encoder, and their sum is the group sparsity penalty Ω.

    The square root is exact: a window whose sum of squares is 0 gives 0,
    and its gradient there is 0 (the double-``where`` of a safe square root,
    with no ε added). Elsewhere the gradient is w M z / y. Squares and sums
    accumulate in float32 for float16 and bfloat16 inputs.

    Args:
      maps: z, shape (H, W, K).
      window: the spatial window, an int p (p × p) or a pair (ph, pw).
      stride: r ≥ 1, a Python int.
      feature_groups: M ≥ 0, shape (G, K), e.g. from
        :func:`feature_group_matrix`; None for the identity (G = K).
      spatial_weights: w ≥ 0, shape (ph, pw), e.g. :func:`gaussian_window`;
        None for ones.

    Returns:
      y ≥ 0, shape (ceil(H/r), ceil(W/r), G), in the dtype of ``maps``.
    """
    maps = jnp.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(
            f"maps must have shape (H, W, K), got shape {maps.shape}; map a batch with jax.vmap"
        )
    _check_floating(maps, "maps")
    window_height, window_width = _window(window)
    stride = _positive_int(stride, "stride")
    height, width, num_features = maps.shape
    dtype = jnp.promote_types(maps.dtype, jnp.float32)

    squares = jnp.square(maps.astype(dtype))
    if feature_groups is not None:
        feature_groups = jnp.asarray(feature_groups)
        if feature_groups.ndim != 2 or feature_groups.shape[1] != num_features:
            raise ValueError(
                f"feature_groups has shape {feature_groups.shape}; expected (G, {num_features}) "
                f"for maps with {num_features} features"
            )
        _check_nonnegative_array(feature_groups, "feature_groups")
        squares = jnp.einsum("hwk,gk->hwg", squares, feature_groups.astype(dtype))

    if spatial_weights is not None:
        spatial_weights = jnp.asarray(spatial_weights)
        if spatial_weights.shape != (window_height, window_width):
            raise ValueError(
                f"spatial_weights has shape {spatial_weights.shape}; expected the window shape "
                f"{(window_height, window_width)}"
            )
        _check_nonnegative_array(spatial_weights, "spatial_weights")
        spatial_weights = spatial_weights.astype(dtype)

    # The window sum adds ph·pw strided slices of the padded map, which XLA
    # fuses into one loop. A depthwise convolution (feature_group_count) was
    # about 40 times slower on CPU with jax 0.10 (22 ms against 0.3 ms for a
    # batch of 64 maps of 28 × 28 × 16).
    padding = (
        same_padding(height, window_height, stride),
        same_padding(width, window_width, stride),
        (0, 0),
    )
    padded = jnp.pad(squares, padding)
    rows = -(-height // stride)
    columns = -(-width // stride)
    row_span = (rows - 1) * stride + 1
    column_span = (columns - 1) * stride + 1
    sums = jnp.zeros((rows, columns, squares.shape[2]), dtype)
    for a in range(window_height):
        for b in range(window_width):
            window_slice = padded[a : a + row_span : stride, b : b + column_span : stride, :]
            if spatial_weights is not None:
                window_slice = spatial_weights[a, b] * window_slice
            sums = sums + window_slice
    return safe_sqrt(sums).astype(maps.dtype)


def safe_sqrt(values) -> jax.Array:
    """Returns sqrt(v) for v ≥ 0, with value and gradient 0 where v = 0 (no ε).

    Negative values from rounding (a weighted sum of squares computed by a
    convolution can come out at about −1e-7 where it should be 0) give 0.
    """
    values = jnp.asarray(values)
    positive = values > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, values, 1)), 0)


def group_sparsity_penalty(maps, **pool_options) -> jax.Array:
    """Returns Ω(z) = Σ_{i,j,g} y_ijg, the sum of the :func:`l2_pool` outputs.

    Args:
      maps: z, shape (H, W, K).
      **pool_options: ``window``, ``stride``, ``feature_groups`` and
        ``spatial_weights`` of :func:`l2_pool`.

    Returns:
      A scalar, accumulated in float32 for lower-precision inputs.
    """
    pooled = l2_pool(maps, **pool_options)
    return jnp.sum(pooled.astype(jnp.promote_types(pooled.dtype, jnp.float32)))


def conv_operator(filters, image_shape, *, stride: int = 1) -> LinearOperator:
    """Wraps the convolutional decoder and its adjoint as a LinearOperator.

    ``forward`` is :func:`conv_decode` (codes to image) and ``adjoint`` is
    :func:`conv_correlate` (image to codes), a true adjoint pair, so
    :func:`sparse_jax.proximal_gradient` and :func:`sparse_jax.lipschitz_constant`
    work on code maps as on vectors.

    Args:
      filters: W, shape (kh, kw, C, K).
      image_shape: (H, W, C) of the signal; (H, W) when C = 1 is also accepted.
      stride: s ≥ 1, a Python int.

    Returns:
      A :class:`sparse_jax.LinearOperator` with code_shape
      (ceil(H/s), ceil(W/s), K) and signal_shape (H, W, C).
    """
    filters = _check_filters(filters)
    stride = _positive_int(stride, "stride")
    channels, num_features = filters.shape[2:]
    height, width = _image_size(image_shape, channels)
    signal_shape = (height, width, channels)
    return LinearOperator(
        forward=lambda codes: conv_decode(filters, codes, image_shape=signal_shape, stride=stride),
        adjoint=lambda residual: conv_correlate(filters, residual, stride=stride),
        code_shape=code_map_shape(signal_shape, num_features, stride=stride),
        signal_shape=signal_shape,
    )


def conv_sparse_code(
    filters,
    image,
    l1_weight,
    *,
    stride: int = 1,
    nonneg: bool = False,
    penalty: Penalty | None = None,
    **solver_options,
) -> SolverResult:
    """Codes an image with a convolutional dictionary by proximal gradient.

    .. math::

        \\min_z ½‖x − Σ_k W_k ∗ z_k‖² + λ‖z‖₁

    solved by :func:`sparse_jax.proximal_gradient` on :func:`conv_operator`.
    With stride s the code map of an H × W image is ceil(H/s) × ceil(W/s) and
    the reconstruction is exactly H × W (see the module docstring).

    Args:
      filters: W, shape (kh, kw, C, K).
      image: x, shape (H, W, C), or a batch (n, H, W, C).
      l1_weight: λ ≥ 0; ignored when ``penalty`` is given.
      stride: s ≥ 1.
      nonneg: restrict the codes to z ≥ 0.
      penalty: another :class:`sparse_jax.Penalty` in place of λ‖z‖₁.
      **solver_options: ``num_steps`` or ``tol`` with ``max_steps``, and the
        other keywords of :func:`sparse_jax.proximal_gradient`.

    Returns:
      A :class:`sparse_jax.SolverResult` with codes of shape
      (ceil(H/s), ceil(W/s), K), with a leading batch axis for a batch.
    """
    image = jnp.asarray(image)
    if image.ndim not in (3, 4):
        raise ValueError(f"image must have shape (H, W, C) or (n, H, W, C), got {image.shape}")
    operator = conv_operator(filters, image.shape[-3:], stride=stride)
    if penalty is None:
        penalty = l1_penalty(l1_weight, nonneg=nonneg)
    return proximal_gradient(operator, image, penalty, **solver_options)


def _check_filters(filters) -> jax.Array:
    filters = jnp.asarray(filters)
    if filters.ndim != 4:
        raise ValueError(f"filters must have shape (kh, kw, C, K), got shape {filters.shape}")
    if 0 in filters.shape:
        raise ValueError(f"filters has an empty axis: shape {filters.shape}")
    _check_floating(filters, "filters")
    return filters


def _check_filters_and_image(filters, image):
    filters = _check_filters(filters)
    image = jnp.asarray(image)
    if image.ndim != 3:
        raise ValueError(
            f"image must have shape (H, W, C), got shape {image.shape}; map a batch with jax.vmap"
        )
    if image.shape[2] != filters.shape[2]:
        raise ValueError(
            f"image has {image.shape[2]} channels (shape {image.shape}) but filters of shape "
            f"{filters.shape} expect C = {filters.shape[2]}"
        )
    _check_floating(image, "image")
    return filters, image


def _check_vector(vector, size: int, name: str) -> jax.Array:
    vector = jnp.asarray(vector)
    if vector.shape != (size,):
        raise ValueError(
            f"{name} has shape {vector.shape}; expected ({size},), one per feature map"
        )
    return vector


def _check_floating(array, name: str) -> None:
    if not jnp.issubdtype(array.dtype, jnp.floating):
        raise TypeError(f"{name} must have a floating dtype, got {array.dtype}")


def _check_nonnegative_array(array, name: str) -> None:
    if is_tracer(array):
        return
    values = np.asarray(array)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"{name} must be finite and non-negative, got min {values.min()}")


def _image_size(image_shape, channels: int) -> tuple[int, int]:
    shape = tuple(image_shape)
    if len(shape) == 3 and shape[2] != channels:
        raise ValueError(
            f"image_shape {shape} has {shape[2]} channels but the filters expect C = {channels}"
        )
    if len(shape) not in (2, 3) or (len(shape) == 2 and channels != 1):
        expected = f"(H, W, {channels})" if channels != 1 else "(H, W, 1) or (H, W)"
        raise ValueError(f"image_shape must be {expected}, got {shape}")
    return _positive_int(shape[0], "image height"), _positive_int(shape[1], "image width")


def _window(window) -> tuple[int, int]:
    if isinstance(window, numbers.Integral):
        window = (window, window)
    if len(window) != 2:
        raise ValueError(f"window must be an int or a pair (ph, pw), got {window!r}")
    return _positive_int(window[0], "window height"), _positive_int(window[1], "window width")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
