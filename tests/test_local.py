"""Tests of the locally connected layer and the locally connected auto-encoder."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sparse_jax import local
from sparse_jax.conv import gaussian_window, l2_pool
from sparse_jax.models.local import LocalSparseAutoencoder

# (sheet rows, sheet columns, filter size, channels, features, stride)
CASES = [
    (4, 5, 3, 1, 1, 1),
    (3, 3, 4, 2, 3, 2),
    (2, 4, 2, 3, 2, 3),
    (1, 1, 5, 1, 4, 1),
]


def _random_case(case, seed=0):
    rows, columns, filter_size, channels, num_features, stride = case
    rng = np.random.default_rng(seed)
    height, width = local.image_size_for_sheet((rows, columns), filter_size, stride)
    weights = rng.standard_normal((rows, columns, filter_size, filter_size, channels, num_features))
    image = rng.standard_normal((height, width, channels))
    return weights, image


@pytest.mark.parametrize("case", CASES)
def test_correlate_matches_loop_reference(case, strict_promotion):
    weights, image = _random_case(case)
    stride = case[5]

    output = local.local_correlate(
        jnp.asarray(weights, jnp.float32), jnp.asarray(image, jnp.float32), stride=stride
    )

    expected = local.local_correlate_reference(weights, image, stride=stride)
    assert output.shape == expected.shape == (case[0], case[1], case[4])
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


def test_reference_loop_is_plain_dot_products():
    weights = np.zeros((2, 2, 2, 2, 1, 1))
    weights[1, 0, :, :, 0, 0] = [[1.0, 2.0], [3.0, 4.0]]
    image = np.arange(9.0).reshape(3, 3, 1)

    output = local.local_correlate_reference(weights, image, stride=1)

    # Position (1, 0) reads rows 1-2, columns 0-1: [[3, 4], [6, 7]].
    assert output[1, 0, 0] == 1 * 3 + 2 * 4 + 3 * 6 + 4 * 7
    assert np.count_nonzero(output) == 1


@pytest.mark.parametrize("case", CASES)
def test_decoder_is_adjoint_of_correlation(case, strict_promotion):
    weights, image = _random_case(case, seed=1)
    rows, columns, _, _, num_features, stride = case
    codes = np.random.default_rng(2).standard_normal((rows, columns, num_features))
    weights = jnp.asarray(weights, jnp.float32)
    image = jnp.asarray(image, jnp.float32)
    codes = jnp.asarray(codes, jnp.float32)

    decoded = local.local_decode(weights, codes, image_shape=image.shape, stride=stride)
    correlated = local.local_correlate(weights, image, stride=stride)
    forward_side = float(jnp.sum(decoded * image))
    adjoint_side = float(jnp.sum(codes * correlated))

    assert decoded.shape == image.shape
    scale = float(jnp.linalg.norm(decoded) * jnp.linalg.norm(image))
    assert abs(forward_side - adjoint_side) <= 1e-5 * scale


def test_operator_pair_is_adjoint_with_uncovered_pixels():
    # 8 pixels, filter 3, stride 2: windows start at 0, 2, 4, so pixel 7 is read by no unit.
    weights = jax.random.normal(jax.random.key(0), (3, 3, 3, 3, 1, 2))
    operator = local.local_operator(weights, (8, 8, 1), stride=2)
    codes = jax.random.normal(jax.random.key(1), operator.code_shape)
    residual = jax.random.normal(jax.random.key(2), operator.signal_shape)

    decoded = operator.forward(codes)
    forward_side = float(jnp.sum(decoded * residual))
    adjoint_side = float(jnp.sum(codes * operator.adjoint(residual)))

    assert operator.code_shape == (3, 3, 2)
    assert abs(forward_side - adjoint_side) <= 1e-5 * abs(forward_side)
    assert float(jnp.max(jnp.abs(decoded[7, :]))) == 0.0
    assert float(jnp.max(jnp.abs(decoded[:, 7]))) == 0.0


def test_extract_patches_definition():
    image = jnp.arange(7.0 * 9.0 * 2.0).reshape(7, 9, 2)

    patches = local.extract_patches(image, filter_size=3, stride=2)

    assert patches.shape == (3, 4, 3, 3, 2)
    for i, j, a, b, c in [(0, 0, 0, 0, 0), (2, 3, 2, 2, 1), (1, 2, 0, 1, 1)]:
        assert patches[i, j, a, b, c] == image[2 * i + a, 2 * j + b, c]


def test_sheet_and_image_sizes_round_trip():
    assert local.sheet_shape((73, 80), 10, 1) == (64, 71)
    assert local.image_size_for_sheet((64, 71), 10, 1) == (73, 80)
    assert local.sheet_shape((20, 20), 4, 3) == (6, 6)
    assert local.image_size_for_sheet((6, 6), 4, 3) == (19, 19)


def test_encode_is_gain_times_relu(strict_promotion):
    weights, image = _random_case((3, 3, 2, 1, 2, 1), seed=3)
    rng = np.random.default_rng(4)
    bias = jnp.asarray(rng.standard_normal((3, 3, 2)), jnp.float32)
    gain = jnp.asarray(rng.uniform(0.5, 2.0, (3, 3, 2)), jnp.float32)
    weights = jnp.asarray(weights, jnp.float32)
    image = jnp.asarray(image, jnp.float32)

    codes = local.local_encode(weights, bias, gain, image)

    drive = np.asarray(local.local_correlate(weights, image))
    expected = np.asarray(gain) * np.maximum(drive + np.asarray(bias), 0)
    np.testing.assert_allclose(codes, expected, rtol=1e-6)


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: local.local_correlate(jnp.zeros((4, 4, 3, 3, 1, 1)), jnp.zeros((7, 7, 1))),
            r"expected an image of 6 × 6 pixels",
        ),
        (
            lambda: local.local_correlate(jnp.zeros((4, 4, 3, 2, 1, 1)), jnp.zeros((6, 6, 1))),
            "square",
        ),
        (
            lambda: local.local_correlate(jnp.zeros((4, 4, 3, 3, 2, 1)), jnp.zeros((6, 6, 1))),
            "channels",
        ),
        (
            lambda: local.local_decode(
                jnp.zeros((4, 4, 3, 3, 1, 2)), jnp.zeros((4, 4, 1)), image_shape=(6, 6)
            ),
            r"expected \(4, 4, 2\)",
        ),
        (lambda: local.extract_patches(jnp.zeros((2, 2, 1)), filter_size=3), "smaller"),
        (
            lambda: local.local_encode(
                jnp.zeros((4, 4, 3, 3, 1, 1)),
                jnp.zeros(1),
                jnp.ones((4, 4, 1)),
                jnp.zeros((6, 6, 1)),
            ),
            "bias",
        ),
    ],
)
def test_invalid_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_autoencoder_shapes_and_topographic_pools():
    model = LocalSparseAutoencoder(
        sheet=(6, 5),
        features_per_position=2,
        filter_size=3,
        stride=2,
        pool_window=3,
        pool_sigma=1.0,
    )
    images = jax.random.normal(jax.random.key(0), (2, *model.image_size(), 1))

    variables = jax.jit(model.init)(jax.random.key(1), images)
    output = jax.jit(model.apply)(variables, images)

    assert model.image_size() == (13, 11)
    shapes = jax.tree.map(jnp.shape, variables["params"])
    assert shapes == {
        "encoder": (6, 5, 3, 3, 1, 2),
        "bias": (6, 5, 2),
        "gain": (6, 5, 2),
        "decoder": (6, 5, 3, 3, 1, 2),
    }
    assert output.codes.shape == (2, 6, 5, 2)
    assert output.reconstruction.shape == images.shape
    # One pool per position over both features of the 3 × 3 neighbouring positions.
    expected = jax.vmap(
        lambda z: l2_pool(
            z,
            window=3,
            feature_groups=np.ones((1, 2), np.float32),
            spatial_weights=gaussian_window(3, 1.0),
        )
    )(output.codes)
    assert output.pooled.shape == (2, 6, 5, 1)
    np.testing.assert_allclose(output.pooled, expected, rtol=1e-6)
    norms = jnp.sqrt(jnp.sum(variables["params"]["decoder"] ** 2, axis=(2, 3, 4)))
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


def test_autoencoder_rejects_wrong_image_size():
    model = LocalSparseAutoencoder(sheet=(4, 4), filter_size=3)

    with pytest.raises(ValueError, match="reads 6 × 6 pixels"):
        model.init(jax.random.key(0), jnp.zeros((1, 7, 7, 1)))
