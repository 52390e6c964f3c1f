"""Locally connected layers: local filters without weight sharing.

A locally connected layer is a convolution whose filter changes with the
output position. For one image x of shape (H, W, C), filters of f × f pixels
and stride s, output position (i, j) reads the window of rows i·s … i·s + f − 1
and columns j·s … j·s + f − 1 (no padding, "VALID") and owns K filters of
its own, so the weights have shape (H', W', f, f, C, K) with
H' = ⌊(H − f)/s⌋ + 1 and W' = ⌊(W − f)/s⌋ + 1. Rows or columns beyond the
last full window are read by no unit.

The fast path gathers the windows into a (H', W', f, f, C) array of
patches and contracts it with the weights in one ``einsum``;
:func:`local_correlate_reference` is the plain loop that defines the same
map, for tests and benchmarks.

Every function takes one image; batches come from ``jax.vmap``.

Reference:
  Gregor & LeCun, Emergence of Complex-Like Cells in a Temporal Product
  Network with Local Receptive Fields, arXiv:1006.0448, 2010 (locally
  connected filters trained on whole images, which form topographic maps).
"""

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from sparse_jax.solvers import LinearOperator


def sheet_shape(image_shape, filter_size: int, stride: int) -> tuple[int, int]:
    """Returns (H', W') = (⌊(H − f)/s⌋ + 1, ⌊(W − f)/s⌋ + 1), the output positions."""
    filter_size = _positive_int(filter_size, "filter_size")
    stride = _positive_int(stride, "stride")
    height, width = int(image_shape[0]), int(image_shape[1])
    if height < filter_size or width < filter_size:
        raise ValueError(
            f"image of size {height} × {width} is smaller than filter_size={filter_size}; "
            "expected H, W >= filter_size"
        )
    return (height - filter_size) // stride + 1, (width - filter_size) // stride + 1


def image_size_for_sheet(sheet, filter_size: int, stride: int) -> tuple[int, int]:
    """Returns the image size ((H' − 1)s + f, (W' − 1)s + f) whose every pixel a unit reads."""
    filter_size = _positive_int(filter_size, "filter_size")
    stride = _positive_int(stride, "stride")
    rows, columns = (_positive_int(size, "sheet size") for size in sheet)
    return (rows - 1) * stride + filter_size, (columns - 1) * stride + filter_size


def extract_patches(image, *, filter_size: int, stride: int = 1) -> jax.Array:
    """Cuts an image into the windows read by each output position.

    patches[i, j, a, b, c] = x[i·s + a, j·s + b, c].

    It is one gather with a precomputed index array. In benchmarks/conv.py
    (jax 0.10, 2 CPU cores, a 64 × 64 sheet of 10 × 10 filters) the forward
    pass with it took half the time of one that stacks the f² strided
    slices, and 0.43 times that of one that cuts the windows with a
    convolution with an identity kernel, which costs O(H'W'f⁴C²)
    multiply-adds for O(H'W'f²C) copies. The transpose of the gather, which
    the decoder and the gradients use, is one scatter-add; in one-off trials
    on the same machine it was also faster than the transpose of the slices.

    Args:
      image: x, shape (H, W, C).
      filter_size: f ≥ 1, the window side.
      stride: s ≥ 1, the step between windows.

    Returns:
      Patches of shape (H', W', f, f, C).
    """
    image = _check_image(image)
    height, width, channels = image.shape
    indices = _patch_indices(height, width, filter_size, stride)
    return image.reshape(height * width, channels)[indices]


def _patch_indices(height: int, width: int, filter_size: int, stride: int) -> np.ndarray:
    """Returns the (H', W', f, f) flat pixel index y·W + x of every patch entry."""
    rows, columns = sheet_shape((height, width), filter_size, stride)
    offsets = np.arange(filter_size)
    pixel_rows = np.arange(rows)[:, None, None, None] * stride + offsets[None, None, :, None]
    pixel_columns = np.arange(columns)[None, :, None, None] * stride + offsets[None, None, None, :]
    return (pixel_rows * width + pixel_columns).astype(np.int32)


def local_correlate(weights, image, *, stride: int = 1) -> jax.Array:
    """Applies a locally connected layer: each position correlates its own filters.

    .. math::

        u_{ijk} = Σ_{a,b,c} W_{ijabck} \\, x_{i s + a,\\; j s + b,\\; c}

    Args:
      weights: W, shape (H', W', f, f, C, K): K filters per output position.
      image: x, shape (H, W, C), with ⌊(H − f)/s⌋ + 1 = H' and likewise W'.
      stride: s ≥ 1, a Python int.

    Returns:
      u, shape (H', W', K).
    """
    weights, image = _check_weights_and_image(weights, image, stride)
    patches = extract_patches(image, filter_size=weights.shape[2], stride=stride)
    return jnp.einsum("ijabc,ijabck->ijk", patches, weights)


def local_decode(weights, codes, *, image_shape, stride: int = 1) -> jax.Array:
    """Reconstructs an image from locally connected codes, the adjoint of :func:`local_correlate`.

    .. math::

        \\hat x_{yxc} = Σ_{i,j,k,a,b \\,:\\, i s + a = y,\\; j s + b = x} W_{ijabck} \\, z_{ijk}

    Each unit adds its own filter, scaled by its code, at its window. With the
    same weights it is the exact adjoint of :func:`local_correlate`:
    ⟨local_decode(W, z), r⟩ = ⟨z, local_correlate(W, r)⟩. Pixels that no
    window covers are 0.

    Args:
      weights: W, shape (H', W', f, f, C, K), the decoder filters.
      codes: z, shape (H', W', K).
      image_shape: (H, W, C) of the reconstruction; (H, W) when C = 1.
      stride: s ≥ 1, a Python int.

    Returns:
      x̂, shape (H, W, C).
    """
    weights = _check_weights(weights)
    codes = jnp.asarray(codes)
    stride = _positive_int(stride, "stride")
    rows, columns, filter_size, _, channels, num_features = weights.shape
    shape = _image_shape(image_shape, channels)
    expected_sheet = sheet_shape(shape, filter_size, stride)
    if expected_sheet != (rows, columns):
        raise ValueError(
            f"weights of shape {weights.shape} have a {rows} × {columns} sheet, but an image "
            f"of shape {shape} with filter_size {filter_size} and stride {stride} gives "
            f"{expected_sheet[0]} × {expected_sheet[1]} positions"
        )
    if codes.shape != (rows, columns, num_features):
        raise ValueError(
            f"codes has shape {codes.shape}; expected {(rows, columns, num_features)} for "
            f"weights of shape {weights.shape}"
        )
    if not jnp.issubdtype(codes.dtype, jnp.floating):
        raise TypeError(f"codes must have a floating dtype, got {codes.dtype}")

    patches = jnp.einsum("ijk,ijabck->ijabc", codes, weights)
    dtype = patches.dtype

    def extract(image):
        return extract_patches(image, filter_size=filter_size, stride=stride)

    # The transpose of the gather scatters each patch back to its window and
    # adds the overlaps: the exact adjoint of the extraction.
    (image,) = jax.linear_transpose(extract, jax.ShapeDtypeStruct(shape, dtype))(patches)
    return image


def local_encode(weights, bias, gain, image, *, stride: int = 1) -> jax.Array:
    """Encodes an image with a locally connected layer, z = g ⊙ ReLU(W ⋆_local x + b).

    Args:
      weights: W, shape (H', W', f, f, C, K).
      bias: b, shape (H', W', K), one per unit.
      gain: g, shape (H', W', K), one per unit.
      image: x, shape (H, W, C).
      stride: s ≥ 1, a Python int.

    Returns:
      z, shape (H', W', K).
    """
    weights = _check_weights(weights)
    units = (weights.shape[0], weights.shape[1], weights.shape[5])
    for name, value in (("bias", bias), ("gain", gain)):
        if jnp.shape(value) != units:
            raise ValueError(f"{name} has shape {jnp.shape(value)}; expected {units}, one per unit")
    drive = local_correlate(weights, image, stride=stride)
    return jnp.asarray(gain) * jax.nn.relu(drive + jnp.asarray(bias))


def local_operator(weights, image_shape, *, stride: int = 1) -> LinearOperator:
    """Wraps :func:`local_decode` and its adjoint :func:`local_correlate` as a LinearOperator.

    Args:
      weights: W, shape (H', W', f, f, C, K).
      image_shape: (H, W, C); (H, W) when C = 1.
      stride: s ≥ 1.

    Returns:
      A :class:`sparse_jax.LinearOperator` with code_shape (H', W', K) and
      signal_shape (H, W, C).
    """
    weights = _check_weights(weights)
    rows, columns, _, _, channels, num_features = weights.shape
    shape = _image_shape(image_shape, channels)
    return LinearOperator(
        forward=lambda codes: local_decode(weights, codes, image_shape=shape, stride=stride),
        adjoint=lambda residual: local_correlate(weights, residual, stride=stride),
        code_shape=(rows, columns, num_features),
        signal_shape=shape,
    )


def local_correlate_reference(weights, image, *, stride: int = 1) -> np.ndarray:
    """Computes :func:`local_correlate` with plain loops over positions, in NumPy float64.

    Slow (a Python loop over H'·W' positions); it is the definition that the
    fast path is tested and benchmarked against.
    """
    weights = np.asarray(weights, np.float64)
    image = np.asarray(image, np.float64)
    rows, columns, filter_size, _, _, num_features = weights.shape
    output = np.zeros((rows, columns, num_features))
    for i in range(rows):
        for j in range(columns):
            top, left = i * stride, j * stride
            window = image[top : top + filter_size, left : left + filter_size, :]
            for k in range(num_features):
                output[i, j, k] = np.sum(window * weights[i, j, :, :, :, k])
    return output


def _check_weights(weights) -> jax.Array:
    weights = jnp.asarray(weights)
    if weights.ndim != 6:
        raise ValueError(f"weights must have shape (H', W', f, f, C, K), got shape {weights.shape}")
    if weights.shape[2] != weights.shape[3]:
        raise ValueError(
            f"weights has filters of {weights.shape[2]} × {weights.shape[3]} pixels; expected "
            "square f × f filters"
        )
    if 0 in weights.shape:
        raise ValueError(f"weights has an empty axis: shape {weights.shape}")
    if not jnp.issubdtype(weights.dtype, jnp.floating):
        raise TypeError(f"weights must have a floating dtype, got {weights.dtype}")
    return weights


def _check_image(image) -> jax.Array:
    image = jnp.asarray(image)
    if image.ndim != 3:
        raise ValueError(
            f"image must have shape (H, W, C), got shape {image.shape}; map a batch with jax.vmap"
        )
    if not jnp.issubdtype(image.dtype, jnp.floating):
        raise TypeError(f"image must have a floating dtype, got {image.dtype}")
    return image


def _check_weights_and_image(weights, image, stride):
    weights = _check_weights(weights)
    image = _check_image(image)
    stride = _positive_int(stride, "stride")
    rows, columns, filter_size, _, channels, _ = weights.shape
    if image.shape[2] != channels:
        raise ValueError(
            f"image has {image.shape[2]} channels (shape {image.shape}) but weights of shape "
            f"{weights.shape} expect C = {channels}"
        )
    expected = sheet_shape(image.shape, filter_size, stride)
    if expected != (rows, columns):
        needed = image_size_for_sheet((rows, columns), filter_size, stride)
        raise ValueError(
            f"image of shape {image.shape} gives a {expected[0]} × {expected[1]} sheet with "
            f"filter_size {filter_size} and stride {stride}, but weights of shape "
            f"{weights.shape} have {rows} × {columns}; expected an image of {needed[0]} × "
            f"{needed[1]} pixels"
        )
    return weights, image


def _image_shape(image_shape, channels: int) -> tuple[int, int, int]:
    shape = tuple(int(size) for size in image_shape)
    if len(shape) == 2 and channels == 1:
        shape = (*shape, 1)
    if len(shape) != 3 or shape[2] != channels:
        raise ValueError(f"image_shape must be (H, W, {channels}), got {tuple(image_shape)}")
    return shape


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
