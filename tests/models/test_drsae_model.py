"""Tests of the DrSAE Flax module, its safe code normalisation and its initialisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sparse_jax
from sparse_jax.models import (
    DrSAE,
    dictionary_from_examples,
    init_drsae_params,
    normalize_codes,
)

D, K, C, T = 16, 12, 4, 5


def _images(n=40, d=D, seed=0):
    return jax.random.uniform(jax.random.key(seed), (n, d))


def test_module_param_and_output_shapes():
    model = DrSAE(num_units=K, num_steps=T, num_classes=C)
    images = _images(7)
    variables = model.init(jax.random.key(0), images)
    shapes = jax.tree.map(jnp.shape, variables["params"])
    assert shapes == {
        "encoder": (K, D),
        "recurrent": (K, K),
        "threshold": (K,),
        "decoder": (D, K),
        "classifier": (C, K),
        "classifier_bias": (C,),
    }

    output = model.apply(variables, images)
    assert output.codes.shape == (7, K)
    assert output.reconstruction.shape == (7, D)
    assert output.logits.shape == (7, C)
    assert bool(jnp.all(output.codes >= 0))


def test_module_defaults_match_paper_setup():
    model = DrSAE()
    assert model.num_units == 400
    assert model.num_steps == 11
    assert model.num_classes == 10


def test_module_output_matches_formulas(strict_promotion):
    model = DrSAE(num_units=K, num_steps=T, num_classes=C)
    images = _images(5)
    params = model.init(jax.random.key(1), images)["params"]
    params["threshold"] = jnp.full((K,), 0.01)
    params["recurrent"] = 0.05 * jax.random.normal(jax.random.key(2), (K, K))
    output = model.apply({"params": params}, images)

    codes = np.zeros((5, K))
    encoder, recurrent = np.asarray(params["encoder"]), np.asarray(params["recurrent"])
    for _ in range(T):
        codes = np.maximum(images @ encoder.T + codes @ recurrent.T - 0.01, 0)
    norms = np.linalg.norm(codes, axis=1, keepdims=True)
    logits = (codes / norms) @ np.asarray(params["classifier"]).T + np.asarray(
        params["classifier_bias"]
    )
    np.testing.assert_allclose(output.codes, codes, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        output.reconstruction, codes @ np.asarray(params["decoder"]).T, rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(output.logits, logits, rtol=1e-5, atol=1e-6)


def test_module_rejects_unbatched_images():
    model = DrSAE(num_units=K, num_steps=T, num_classes=C)
    with pytest.raises(ValueError, match=r"images must be a batch of shape \(n, d\), got shape"):
        model.init(jax.random.key(0), jnp.ones((D,)))


def test_module_rejects_integer_images():
    model = DrSAE(num_units=K, num_steps=T, num_classes=C)
    with pytest.raises(TypeError, match="floating dtype"):
        model.init(jax.random.key(0), jnp.ones((3, D), jnp.int32))


@pytest.mark.parametrize("field", ["num_units", "num_steps", "num_classes"])
def test_module_rejects_nonpositive_sizes(field):
    model = DrSAE(**{field: 0})
    with pytest.raises(ValueError, match=f"DrSAE.{field} must be a positive int"):
        model.init(jax.random.key(0), jnp.ones((3, D)))


def test_normalize_codes_unit_norm(strict_promotion):
    codes = jnp.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]])
    np.testing.assert_allclose(normalize_codes(codes), [[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])


def test_normalize_zero_code_finite_gradient(strict_promotion):
    codes = jnp.zeros((2, 3))
    assert bool(jnp.all(normalize_codes(codes) == 0))

    def objective(z):
        return jnp.sum(normalize_codes(z) * jnp.arange(3.0)[None, :])

    gradient = jax.grad(objective)(codes)
    assert bool(jnp.all(jnp.isfinite(gradient)))
    np.testing.assert_array_equal(gradient, np.zeros((2, 3)))


def test_zero_code_gives_finite_logits_and_gradients(strict_promotion):
    model = DrSAE(num_units=K, num_steps=T, num_classes=C)
    images = jnp.zeros((3, D))
    params = init_drsae_params(jax.random.key(0), _images(), model, l1_weight=0.1)

    def total_logit(p):
        output = model.apply({"params": p}, images)
        return jnp.sum(output.logits)

    output = model.apply({"params": params}, images)
    assert bool(jnp.all(output.codes == 0))
    np.testing.assert_array_equal(
        output.logits, jnp.broadcast_to(params["classifier_bias"], (3, C))
    )
    gradients = jax.jit(jax.grad(total_logit))(params)
    for name, gradient in gradients.items():
        assert bool(jnp.all(jnp.isfinite(gradient))), name


def test_init_params_match_module_layout():
    model = DrSAE(num_units=K, num_steps=T, num_classes=C)
    params = init_drsae_params(jax.random.key(0), _images(), model, l1_weight=0.1)
    declared = model.init(jax.random.key(0), _images(2))["params"]
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, declared)
    assert jax.tree.map(lambda a: a.dtype, params) == jax.tree.map(lambda a: a.dtype, declared)


def test_init_encoder_runs_nonneg_ista():
    model = DrSAE(num_units=K, num_steps=T, num_classes=C)
    train = _images()
    l1_weight = 0.1
    params = init_drsae_params(jax.random.key(3), train, model, l1_weight=l1_weight)
    lipschitz = sparse_jax.lipschitz_constant(params["decoder"])

    codes = model.apply({"params": params}, train[:6]).codes
    expected = sparse_jax.ista(
        params["decoder"], train[:6], l1_weight, num_steps=T, nonneg=True, lipschitz=lipschitz
    )
    np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(params["threshold"], np.full(K, l1_weight / lipschitz), rtol=1e-6)


def test_init_uses_given_lipschitz():
    model = DrSAE(num_units=K, num_steps=T, num_classes=C)
    params = init_drsae_params(jax.random.key(3), _images(), model, l1_weight=0.2, lipschitz=40.0)
    np.testing.assert_allclose(params["encoder"], params["decoder"].T / 40.0, rtol=1e-6)
    np.testing.assert_allclose(params["threshold"], np.full(K, 0.2 / 40.0), rtol=1e-6)


def test_dictionary_atoms_are_scaled_training_examples():
    examples = _images(30)
    atoms = dictionary_from_examples(jax.random.key(4), examples, 10)
    assert atoms.shape == (D, 10)
    np.testing.assert_allclose(jnp.linalg.norm(atoms, axis=0), np.ones(10), rtol=1e-6)

    unit_examples = examples / jnp.linalg.norm(examples, axis=1, keepdims=True)
    distances = jnp.min(jnp.linalg.norm(unit_examples[:, :, None] - atoms[None], axis=1), axis=0)
    np.testing.assert_allclose(distances, np.zeros(10), atol=1e-6)
    assert (
        len(
            {
                int(i)
                for i in jnp.argmin(
                    jnp.linalg.norm(unit_examples[:, :, None] - atoms[None], axis=1), axis=0
                )
            }
        )
        == 10
    ), "atoms must come from distinct examples"


def test_dictionary_zero_example_gives_zero_atom():
    examples = jnp.zeros((3, D))
    atoms = dictionary_from_examples(jax.random.key(0), examples, 3)
    np.testing.assert_array_equal(atoms, np.zeros((D, 3)))


def test_dictionary_rejects_more_atoms_than_examples():
    with pytest.raises(ValueError, match="num_atoms=5 is larger than the number of examples 4"):
        dictionary_from_examples(jax.random.key(0), _images(4), 5)


def test_dictionary_rejects_unbatched_examples():
    with pytest.raises(ValueError, match=r"examples must have shape \(n, d\)"):
        dictionary_from_examples(jax.random.key(0), jnp.ones(D), 1)
