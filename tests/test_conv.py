"""Tests of the convolutional pieces: correlation, decoder, L2 pooling, coding, modules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import sparse_jax
from sparse_jax import conv
from sparse_jax._compat import enable_x64
from sparse_jax.models.conv import (
    ConvClassifier,
    ConvSparseAutoencoder,
    assemble_pretrained_classifier,
    normalize_encoder_filters,
)

# (H, W, C, K, kh, kw, stride): odd and even sizes, strides that do and do not
# divide the image, filters larger than the stride and a 1 × 1 filter.
SHAPES = [
    (8, 8, 1, 1, 3, 3, 1),
    (8, 8, 1, 1, 3, 3, 2),
    (9, 7, 2, 3, 4, 5, 2),
    (10, 11, 3, 2, 5, 3, 3),
    (5, 5, 1, 2, 1, 1, 2),
    (6, 6, 1, 1, 3, 3, 4),
]


def _correlate_reference(filters, image, stride):
    """The SAME-padded strided correlation as loops, in float64."""
    filters = np.asarray(filters, np.float64)
    image = np.asarray(image, np.float64)
    kernel_height, kernel_width, _, num_features = filters.shape
    height, width, _ = image.shape
    top, _ = conv.same_padding(height, kernel_height, stride)
    left, _ = conv.same_padding(width, kernel_width, stride)
    rows, columns = -(-height // stride), -(-width // stride)
    output = np.zeros((rows, columns, num_features))
    for i in range(rows):
        for j in range(columns):
            for a in range(kernel_height):
                for b in range(kernel_width):
                    y, x = i * stride + a - top, j * stride + b - left
                    if 0 <= y < height and 0 <= x < width:
                        output[i, j] += image[y, x] @ filters[a, b]
    return output


def _l2_pool_reference(maps, window, stride, groups, weights):
    maps = np.asarray(maps, np.float64)
    height, width, _ = maps.shape
    squares = np.einsum("hwk,gk->hwg", maps**2, groups)
    top, _ = conv.same_padding(height, window, stride)
    left, _ = conv.same_padding(width, window, stride)
    rows, columns = -(-height // stride), -(-width // stride)
    output = np.zeros((rows, columns, groups.shape[0]))
    for i in range(rows):
        for j in range(columns):
            for a in range(window):
                for b in range(window):
                    y, x = i * stride + a - top, j * stride + b - left
                    if 0 <= y < height and 0 <= x < width:
                        output[i, j] += weights[a, b] * squares[y, x]
    return np.sqrt(output)


@pytest.mark.parametrize("shape", SHAPES)
def test_correlate_matches_loop_reference(shape, strict_promotion):
    height, width, channels, num_features, kernel_height, kernel_width, stride = shape
    rng = np.random.default_rng(0)
    filters = rng.standard_normal((kernel_height, kernel_width, channels, num_features))
    image = rng.standard_normal((height, width, channels))

    output = conv.conv_correlate(
        jnp.asarray(filters, jnp.float32), jnp.asarray(image, jnp.float32), stride=stride
    )

    assert output.shape == (-(-height // stride), -(-width // stride), num_features)
    np.testing.assert_allclose(output, _correlate_reference(filters, image, stride), atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_decoder_is_adjoint_of_correlation(shape, strict_promotion):
    height, width, channels, num_features, kernel_height, kernel_width, stride = shape
    rng = np.random.default_rng(1)
    filters = jnp.asarray(
        rng.standard_normal((kernel_height, kernel_width, channels, num_features)), jnp.float32
    )
    image = jnp.asarray(rng.standard_normal((height, width, channels)), jnp.float32)
    code_shape = conv.code_map_shape(image.shape, num_features, stride=stride)
    codes = jnp.asarray(rng.standard_normal(code_shape), jnp.float32)

    decoded = conv.conv_decode(filters, codes, image_shape=image.shape, stride=stride)
    correlated = conv.conv_correlate(filters, image, stride=stride)
    forward_side = float(jnp.sum(decoded * image))
    adjoint_side = float(jnp.sum(codes * correlated))

    assert decoded.shape == image.shape
    scale = float(jnp.linalg.norm(decoded) * jnp.linalg.norm(image))
    assert abs(forward_side - adjoint_side) <= 1e-5 * scale


def test_decoder_places_filter_at_code_position():
    filters = jnp.arange(1.0, 10.0).reshape(3, 3, 1, 1)
    codes = jnp.zeros((4, 4, 1)).at[1, 2, 0].set(1.0)

    image = conv.conv_decode(filters, codes, image_shape=(8, 8, 1), stride=2)

    # Stride 2 on 8 pixels with a 3-pixel filter pads 0 before, so code (1, 2)
    # puts the filter's corner at pixel (2, 4).
    expected = np.zeros((8, 8))
    expected[2:5, 4:7] = np.arange(1.0, 10.0).reshape(3, 3)
    np.testing.assert_array_equal(image[..., 0], expected)


def test_l2_pool_zero_input(strict_promotion):
    maps = jnp.zeros((1, 8, 8, 16))

    def pool(batch):
        return jax.vmap(lambda m: conv.l2_pool(m, window=2, stride=2))(batch)

    pooled = pool(maps)
    gradient = jax.grad(lambda batch: jnp.sum(pool(batch)))(maps)

    assert pooled.shape == (1, 4, 4, 16)
    assert float(jnp.max(jnp.abs(pooled))) <= 1e-6
    assert bool(jnp.all(jnp.isfinite(gradient)))
    assert float(jnp.max(jnp.abs(gradient))) == 0.0


@pytest.mark.parametrize(
    "maps, options",
    [
        # A 2 × 2 spatial window over one map.
        (np.array([[3.0, 4.0], [0.0, 0.0]])[:, :, None], {"window": 2, "stride": 2}),
        # One position, a group of the four feature maps.
        (
            np.array([3.0, 4.0, 0.0, 0.0])[None, None, :],
            {"window": 1, "feature_groups": np.ones((1, 4), np.float32)},
        ),
    ],
    ids=["spatial window", "feature group"],
)
def test_l2_pool_3_4_window(maps, options, strict_promotion):
    maps = jnp.asarray(maps, jnp.float32)

    pooled = conv.l2_pool(maps, **options)
    gradient = jax.grad(lambda m: jnp.sum(conv.l2_pool(m, **options)))(maps)

    assert pooled.shape == (1, 1, 1)
    assert abs(float(pooled[0, 0, 0]) - 5.0) <= 1e-5
    np.testing.assert_allclose(np.ravel(gradient), [0.6, 0.8, 0.0, 0.0], atol=1e-6)


def test_zero_image_finite_gradients(strict_promotion):
    filters = jax.random.normal(jax.random.key(0), (5, 5, 1, 8))
    bias = jnp.zeros(8)
    gain = jnp.ones(8)

    def penalty(filters, bias, gain):
        codes = conv.conv_encode(filters, bias, gain, jnp.zeros((12, 12, 1)))
        return conv.group_sparsity_penalty(codes, window=2, stride=2)

    value = jax.jit(penalty)(filters, bias, gain)
    gradients = jax.jit(jax.grad(penalty, argnums=(0, 1, 2)))(filters, bias, gain)

    assert float(value) == 0.0
    for gradient in gradients:
        assert bool(jnp.all(jnp.isfinite(gradient)))


def test_l2_pool_matches_reference_with_groups_and_weights():
    rng = np.random.default_rng(2)
    maps = rng.standard_normal((7, 9, 6))
    groups = conv.feature_group_matrix(6, 3, group_stride=2)
    weights = conv.gaussian_window(3, 1.0)

    pooled = conv.l2_pool(
        jnp.asarray(maps, jnp.float32),
        window=3,
        stride=2,
        feature_groups=groups,
        spatial_weights=weights,
    )

    assert pooled.shape == (4, 5, 3)
    expected = _l2_pool_reference(maps, 3, 2, groups, weights)
    np.testing.assert_allclose(pooled, expected, rtol=1e-5, atol=1e-6)


def test_l2_pool_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    with enable_x64():
        maps = jnp.asarray(rng.standard_normal((5, 6, 4)) + 0.5, jnp.float64)
        groups = conv.feature_group_matrix(4, 2, group_stride=1)

        @jax.jit
        def pool(m):
            return conv.l2_pool(m, window=3, stride=1, feature_groups=groups)

        check_grads(pool, (maps,), order=2, modes=("rev",), atol=1e-6, rtol=1e-6)


def test_l2_pool_keeps_bfloat16_dtype():
    maps = jnp.full((4, 4, 2), 300.0, jnp.bfloat16)

    pooled = conv.l2_pool(maps, window=2, stride=2)

    # 300² · 4 = 360,000 is fine in float32 accumulation; the output is cast back.
    assert pooled.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(pooled, np.float32), 600.0, rtol=1e-2)


def test_feature_group_matrix_layouts():
    disjoint = conv.feature_group_matrix(6, 2)
    ring = conv.feature_group_matrix(6, 3, group_stride=2)
    open_line = conv.feature_group_matrix(6, 3, group_stride=2, circular=False)

    np.testing.assert_array_equal(disjoint, np.kron(np.eye(3), np.ones((1, 2))))
    np.testing.assert_array_equal(ring[2], [1, 0, 0, 0, 1, 1])
    assert ring.sum(axis=0).tolist() == [2, 1, 2, 1, 2, 1]
    assert open_line.shape == (2, 6)


def test_encode_is_gain_times_relu(strict_promotion):
    rng = np.random.default_rng(4)
    filters = jnp.asarray(rng.standard_normal((3, 3, 2, 4)), jnp.float32)
    bias = jnp.asarray(rng.standard_normal(4), jnp.float32)
    gain = jnp.asarray([0.5, 1.0, 2.0, 3.0], jnp.float32)
    image = jnp.asarray(rng.standard_normal((6, 6, 2)), jnp.float32)

    codes = conv.conv_encode(filters, bias, gain, image, stride=2)

    drive = conv.conv_correlate(filters, image, stride=2)
    expected = np.maximum(np.asarray(drive) + np.asarray(bias), 0) * np.asarray(gain)
    np.testing.assert_allclose(codes, expected, rtol=1e-6)


def _dense_decoder_matrix(operator):
    """Applies the decoder to every basis code: the (d, k) matrix of the operator."""
    num_codes = int(np.prod(operator.code_shape))
    basis = jnp.eye(num_codes, dtype=jnp.float32).reshape(num_codes, *operator.code_shape)
    columns = jax.vmap(operator.forward)(basis)
    return columns.reshape(num_codes, -1).T


@pytest.mark.parametrize("stride, code_side", [(1, 8), (2, 4)])
def test_conv_sparse_coding_equals_dense_ista(stride, code_side, strict_promotion):
    weights = np.arange(1.0, 10.0).reshape(3, 3)
    filters = jnp.asarray(weights / np.linalg.norm(weights), jnp.float32).reshape(3, 3, 1, 1)
    image = jnp.asarray(np.random.default_rng(5).standard_normal((8, 8, 1)), jnp.float32)
    l1_weight = 0.05
    operator = conv.conv_operator(filters, image.shape, stride=stride)
    lipschitz = sparse_jax.lipschitz_constant(operator)

    result = conv.conv_sparse_code(
        filters,
        image,
        l1_weight,
        stride=stride,
        num_steps=500,
        accelerate=False,
        lipschitz=lipschitz,
        record_objectives=True,
    )
    dense = _dense_decoder_matrix(operator)
    dense_codes = sparse_jax.ista(
        dense, image.reshape(-1), l1_weight, num_steps=500, lipschitz=lipschitz
    )

    assert operator.code_shape == (code_side, code_side, 1)
    assert dense.shape == (64, code_side * code_side)
    np.testing.assert_allclose(result.codes.reshape(-1), dense_codes, atol=1e-5)
    objective_at_zero = 0.5 * float(jnp.sum(image**2))
    assert float(result.objectives[-1]) <= objective_at_zero


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_operator_pair_is_adjoint(stride, strict_promotion):
    weights = np.arange(1.0, 10.0).reshape(3, 3)
    filters = jnp.asarray(weights / np.linalg.norm(weights), jnp.float32).reshape(3, 3, 1, 1)
    operator = conv.conv_operator(filters, (8, 8, 1), stride=stride)
    rng = np.random.default_rng(6)
    codes = jnp.asarray(rng.standard_normal(operator.code_shape), jnp.float32)
    residual = jnp.asarray(rng.standard_normal(operator.signal_shape), jnp.float32)

    forward_side = float(jnp.sum(operator.forward(codes) * residual))
    adjoint_side = float(jnp.sum(codes * operator.adjoint(residual)))

    assert abs(forward_side - adjoint_side) <= 1e-5 * abs(forward_side)


def test_conv_sparse_code_maps_a_batch():
    filters = jax.random.normal(jax.random.key(1), (3, 3, 1, 2))
    images = jax.random.normal(jax.random.key(2), (3, 6, 6, 1))

    options = {"stride": 2, "num_steps": 5, "lipschitz": 50.0}
    batch_codes = conv.conv_sparse_code(filters, images, 0.1, **options).codes
    single_codes = conv.conv_sparse_code(filters, images[1], 0.1, **options).codes

    assert batch_codes.shape == (3, 3, 3, 2)
    np.testing.assert_allclose(batch_codes[1], single_codes, atol=1e-6)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: conv.conv_correlate(jnp.zeros((3, 3, 1)), jnp.zeros((8, 8, 1))), "kh, kw, C, K"),
        (lambda: conv.conv_correlate(jnp.zeros((3, 3, 2, 4)), jnp.zeros((8, 8, 1))), "channels"),
        (lambda: conv.conv_correlate(jnp.zeros((3, 3, 1, 4)), jnp.zeros((2, 8, 8, 1))), "vmap"),
        (
            lambda: conv.conv_correlate(jnp.zeros((3, 3, 1, 4)), jnp.zeros((8, 8, 1)), stride=0),
            "stride",
        ),
        (
            lambda: conv.conv_decode(
                jnp.zeros((3, 3, 1, 4)), jnp.zeros((8, 8, 4)), image_shape=(8, 8), stride=2
            ),
            r"expected \(4, 4, 4\)",
        ),
        (
            lambda: conv.l2_pool(jnp.zeros((4, 4, 3)), window=2, feature_groups=-np.ones((1, 3))),
            "non-negative",
        ),
        (
            lambda: conv.l2_pool(jnp.zeros((4, 4, 3)), window=2, feature_groups=np.ones((1, 2))),
            r"expected \(G, 3\)",
        ),
        (
            lambda: conv.l2_pool(jnp.zeros((4, 4, 3)), window=2, spatial_weights=np.ones((3, 3))),
            "window shape",
        ),
        (lambda: conv.feature_group_matrix(4, 5), "group_size=5"),
        (
            lambda: conv.conv_encode(
                jnp.zeros((3, 3, 1, 4)), jnp.zeros(3), jnp.ones(4), jnp.zeros((8, 8, 1))
            ),
            "bias",
        ),
    ],
)
def test_invalid_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_autoencoder_shapes_and_reconstruction_size():
    model = ConvSparseAutoencoder(
        num_features=6, kernel_size=5, stride=2, pool_window=2, pool_stride=2
    )
    images = jax.random.normal(jax.random.key(0), (3, 11, 9, 2))

    variables = jax.jit(model.init)(jax.random.key(1), images)
    output = jax.jit(model.apply)(variables, images)

    shapes = jax.tree.map(jnp.shape, variables["params"])
    assert shapes == {
        "encoder": {"filters": (5, 5, 2, 6), "bias": (6,), "gain": (6,)},
        "decoder": (5, 5, 2, 6),
    }
    assert output.codes.shape == (3, 6, 5, 6)
    assert output.pooled.shape == (3, 3, 3, 6)
    assert output.reconstruction.shape == images.shape
    atom_norms = jnp.sqrt(jnp.sum(variables["params"]["decoder"] ** 2, axis=(0, 1, 2)))
    np.testing.assert_allclose(atom_norms, 1.0, rtol=1e-5)


def test_autoencoder_pools_feature_groups():
    model = ConvSparseAutoencoder(
        num_features=8,
        kernel_size=3,
        pool_window=3,
        pool_stride=1,
        group_size=4,
        group_stride=2,
        pool_sigma=1.0,
    )
    images = jax.random.normal(jax.random.key(0), (2, 6, 6, 1))
    variables = jax.jit(model.init)(jax.random.key(1), images)

    output = jax.jit(model.apply)(variables, images)

    groups = conv.feature_group_matrix(8, 4, group_stride=2)
    expected = jax.vmap(
        lambda z: conv.l2_pool(
            z,
            window=3,
            stride=1,
            feature_groups=groups,
            spatial_weights=conv.gaussian_window(3, 1.0),
        )
    )(output.codes)
    assert output.pooled.shape == (2, 6, 6, 4)
    np.testing.assert_allclose(output.pooled, expected, rtol=1e-6)


def test_classifier_from_pretrained_layers_uses_their_features():
    first = ConvSparseAutoencoder(num_features=4, kernel_size=3)
    second = ConvSparseAutoencoder(num_features=6, kernel_size=3)
    images = jax.random.uniform(jax.random.key(0), (2, 8, 8, 1))
    first_params = jax.jit(first.init)(jax.random.key(1), images)["params"]
    pooled = jax.jit(first.apply)({"params": first_params}, images).pooled
    second_params = jax.jit(second.init)(jax.random.key(2), pooled)["params"]
    model = ConvClassifier(layers=(first.encoder_layer(), second.encoder_layer()), num_classes=3)

    initial = jax.jit(model.init)(jax.random.key(3), images)["params"]
    params = assemble_pretrained_classifier(
        initial, [first_params["encoder"], second_params["encoder"]]
    )
    output = jax.jit(model.apply)({"params": params}, images)

    expected = jax.jit(second.apply)({"params": second_params}, pooled).pooled
    np.testing.assert_allclose(output.features, expected.reshape(2, -1), rtol=1e-6)
    assert output.logits.shape == (2, 3)
    with pytest.raises(ValueError, match="the model has 2 layers"):
        assemble_pretrained_classifier(initial, [first_params["encoder"]])


def test_normalized_encoder_filters_keep_the_features():
    layer = ConvSparseAutoencoder(num_features=3, kernel_size=3, init_scale=0.1).encoder_layer()
    images = jax.random.normal(jax.random.key(0), (2, 6, 6, 1))
    params = jax.jit(layer.init)(jax.random.key(1), images)["params"]
    params = {**params, "bias": jnp.asarray([0.1, -0.2, 0.0]), "gain": jnp.asarray([2.0, 0.5, 1.0])}

    normalized = normalize_encoder_filters(params)

    norms = jnp.sqrt(jnp.sum(normalized["filters"] ** 2, axis=(0, 1, 2)))
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    apply = jax.jit(layer.apply)
    codes, pooled = apply({"params": params}, images)
    new_codes, new_pooled = apply({"params": normalized}, images)
    np.testing.assert_allclose(new_codes, codes, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(new_pooled, pooled, rtol=1e-4, atol=1e-6)
