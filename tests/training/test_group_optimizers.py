"""Tests of the optimisers with a run-time learning rate per parameter group."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sparse_jax.training import (
    partitioned_adam,
    partitioned_optimizer,
    scale_by_group_learning_rate,
)

PARAMS = {"fast": jnp.array([1.0, -2.0, 3.0]), "slow": jnp.array([[0.5, 0.25]])}
LABELS = {"fast": "fast", "slow": "slow"}


def _gradients(step):
    return {
        "fast": jnp.array([0.3, -0.1, 0.2]) * (step + 1),
        "slow": jnp.array([[-0.4, 0.7]]) / (step + 1),
    }


def test_partitioned_adam_matches_optax_adam_per_group():
    rates = {"fast": jnp.float32(1e-2), "slow": jnp.float32(1e-3)}
    optimizer = partitioned_adam(LABELS, ("fast", "slow"))
    state = optimizer.init(PARAMS)
    references = {group: optax.adam(float(rate)) for group, rate in rates.items()}
    reference_states = {group: references[group].init(PARAMS[group]) for group in rates}

    for step in range(3):
        grads = _gradients(step)
        updates, state = optimizer.update(grads, state, PARAMS, learning_rates=rates)
        for group in rates:
            expected, reference_states[group] = references[group].update(
                grads[group], reference_states[group], PARAMS[group]
            )
            np.testing.assert_allclose(updates[group], expected, rtol=1e-6)


def test_partitioned_adam_accepts_labels_function():
    optimizer = partitioned_adam(lambda params: {name: name for name in params}, ("fast", "slow"))
    state = optimizer.init(PARAMS)
    rates = {"fast": jnp.float32(1.0), "slow": jnp.float32(0.0)}
    updates, _ = optimizer.update(_gradients(0), state, PARAMS, learning_rates=rates)
    assert bool(jnp.all(updates["fast"] != 0))
    np.testing.assert_array_equal(updates["slow"], np.zeros((1, 2)))


def test_ascent_group_moves_up_the_gradient():
    optimizer = partitioned_adam(LABELS, ("fast", "slow"), ascent_groups=("slow",))
    state = optimizer.init(PARAMS)
    grads = _gradients(0)
    rates = {"fast": jnp.float32(0.1), "slow": jnp.float32(0.1)}
    updates, _ = optimizer.update(grads, state, PARAMS, learning_rates=rates)
    np.testing.assert_array_equal(jnp.sign(updates["slow"]), jnp.sign(grads["slow"]))
    np.testing.assert_array_equal(jnp.sign(updates["fast"]), -jnp.sign(grads["fast"]))


def test_changing_rates_does_not_recompile():
    optimizer = partitioned_adam(LABELS, ("fast", "slow"))
    traces = []

    @jax.jit
    def update(grads, state, rates):
        traces.append(1)
        return optimizer.update(grads, state, PARAMS, learning_rates=rates)

    state = optimizer.init(PARAMS)
    for rate in (1e-3, 3e-3, 1e-2):
        rates = {"fast": jnp.float32(rate), "slow": jnp.float32(rate / 10)}
        _, state = update(_gradients(0), state, rates)
    assert len(traces) == 1


def test_missing_group_rate_raises_naming_group():
    optimizer = partitioned_adam(LABELS, ("fast", "slow"))
    state = optimizer.init(PARAMS)
    with pytest.raises(ValueError, match=r"update needs learning_rates\['slow'\]"):
        optimizer.update(_gradients(0), state, PARAMS, learning_rates={"fast": 1e-3})


def test_missing_rates_argument_raises():
    optimizer = partitioned_adam(LABELS, ("fast", "slow"))
    state = optimizer.init(PARAMS)
    with pytest.raises(ValueError, match="got learning_rates with keys None"):
        optimizer.update(_gradients(0), state, PARAMS)


def test_non_scalar_rate_raises():
    transform = scale_by_group_learning_rate("fast")
    with pytest.raises(ValueError, match=r"learning_rates\['fast'\] must be a scalar"):
        transform.update(PARAMS, transform.init(PARAMS), learning_rates={"fast": jnp.ones(2)})


def test_unknown_ascent_group_raises():
    with pytest.raises(ValueError, match=r"ascent_groups \['lateral'\] are not in groups"):
        partitioned_adam(LABELS, ("fast", "slow"), ascent_groups=("lateral",))


def test_unlabelled_parameter_raises():
    optimizer = partitioned_optimizer({"fast": scale_by_group_learning_rate("fast")}, LABELS)
    with pytest.raises(ValueError, match="Some parameters have no corresponding transformation"):
        optimizer.init(PARAMS)


def test_empty_group_transforms_raise():
    with pytest.raises(ValueError, match="group_transforms is empty"):
        partitioned_optimizer({}, LABELS)
