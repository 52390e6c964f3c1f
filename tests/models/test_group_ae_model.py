"""Tests of the ReLU-gain encoder and linear decoder module."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sparse_jax.models.group_ae import GroupSparseAutoEncoder, gain_relu_encode


def test_module_param_shapes_and_init():
    signals = jnp.ones((3, 20))
    params = GroupSparseAutoEncoder(num_units=8).init(jax.random.key(0), signals)["params"]
    assert {name: value.shape for name, value in params.items()} == {
        "encoder": (8, 20),
        "bias": (8,),
        "gain": (8,),
        "dictionary": (20, 8),
    }
    np.testing.assert_allclose(jnp.linalg.norm(params["dictionary"], axis=0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(jnp.linalg.norm(params["encoder"], axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(params["bias"], 0.0)
    np.testing.assert_array_equal(params["gain"], 1.0)


def test_module_output_matches_formula(strict_promotion):
    key_x, key_p = jax.random.split(jax.random.key(1))
    signals = jax.random.normal(key_x, (5, 6))
    model = GroupSparseAutoEncoder(num_units=4)
    params = model.init(key_p, signals)["params"]
    params["bias"] = jnp.array([0.1, -0.2, 0.3, -5.0])
    params["gain"] = jnp.array([2.0, 0.5, 1.0, 3.0])
    output = model.apply({"params": params}, signals)
    expected = np.asarray(params["gain"]) * np.maximum(
        np.asarray(signals) @ np.asarray(params["encoder"]).T + np.asarray(params["bias"]), 0
    )
    np.testing.assert_allclose(output.codes, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        output.reconstruction, expected @ np.asarray(params["dictionary"]).T, rtol=1e-5, atol=1e-6
    )
    assert np.all(np.asarray(output.codes[:, 3]) == 0)  # bias −5 silences unit 3


def test_module_rejects_unbatched_and_integer_signals():
    model = GroupSparseAutoEncoder(num_units=4)
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        model.init(jax.random.key(0), jnp.ones(6))
    with pytest.raises(TypeError, match="floating dtype"):
        model.init(jax.random.key(0), jnp.ones((2, 6), jnp.int32))
    with pytest.raises(ValueError, match="num_units must be a positive int"):
        GroupSparseAutoEncoder(num_units=0).init(jax.random.key(0), jnp.ones((2, 6)))


def test_gain_relu_encode_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"expected \(k, d\), \(k,\) and \(k,\)"):
        gain_relu_encode(jnp.ones((4, 6)), jnp.ones(3), jnp.ones(4), jnp.ones((2, 6)))
    with pytest.raises(ValueError, match=r"expected \(n, 6\)"):
        gain_relu_encode(jnp.ones((4, 6)), jnp.ones(4), jnp.ones(4), jnp.ones((2, 5)))
