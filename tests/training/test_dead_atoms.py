"""Tests of the dead-atom policy: firing rates, detection, resampling, optimiser reset."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from sparse_jax.training import dead_atoms
from sparse_jax.training.optim import partitioned_adam


def test_firing_fraction_counts_nonzero_entries():
    codes = jnp.array([[0.0, 1.0, -2.0], [0.0, 0.0, 3.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(dead_atoms.firing_fraction(codes), [0.0, 0.5, 0.75])


def test_firing_fraction_rejects_single_code():
    with pytest.raises(ValueError, match=r"codes must have shape \(n, k\)"):
        dead_atoms.firing_fraction(jnp.ones(3))


def test_update_firing_rates_is_an_exponential_average():
    rates = jnp.ones(3)
    firing = jnp.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(
        dead_atoms.update_firing_rates(rates, firing, 0.9), [0.9, 0.95, 1.0], rtol=1e-6
    )


def test_update_firing_rates_rejects_bad_decay_and_shapes():
    with pytest.raises(ValueError, match="decay must be in"):
        dead_atoms.update_firing_rates(jnp.ones(3), jnp.ones(3), 1.0)
    with pytest.raises(ValueError, match="rates has shape"):
        dead_atoms.update_firing_rates(jnp.ones(3), jnp.ones(4), 0.5)


def test_find_dead_atoms_zero_and_rare():
    dictionary = jnp.ones((5, 4)).at[:, 1].set(0.0)
    rates = jnp.array([0.5, 0.5, 1e-4, 0.01])
    dead = dead_atoms.find_dead_atoms(dictionary, rates, min_rate=1e-3)
    np.testing.assert_array_equal(dead, [False, True, True, False])


def test_find_dead_atoms_rejects_mismatched_rates():
    with pytest.raises(ValueError, match=r"expected \(d, k\) and \(k,\)"):
        dead_atoms.find_dead_atoms(jnp.ones((5, 4)), jnp.ones(3), min_rate=0.1)


def test_resample_draws_the_badly_reconstructed_input():
    key = jax.random.key(0)
    signals = jax.random.normal(key, (6, 5))
    reconstructions = signals.at[4].set(0.0)  # only input 4 is badly reconstructed
    dictionary = jax.random.normal(jax.random.key(1), (5, 3))
    dead = np.array([False, True, False])
    new = dead_atoms.resample_dead_atoms(
        jax.random.key(2), dictionary, dead, signals, reconstructions
    )
    expected = signals[4] / jnp.linalg.norm(signals[4])
    np.testing.assert_allclose(new[:, 1], expected, rtol=1e-6)
    # Living columns are untouched, bit for bit.
    np.testing.assert_array_equal(new[:, 0], dictionary[:, 0])
    np.testing.assert_array_equal(new[:, 2], dictionary[:, 2])


def test_resample_uses_distinct_inputs_for_several_dead_atoms():
    signals = jnp.eye(4, 6)
    dead = np.array([True, True, True, False, False])
    new = dead_atoms.resample_dead_atoms(
        jax.random.key(0), jnp.zeros((6, 5)), dead, signals, jnp.zeros_like(signals)
    )
    chosen = np.argmax(np.asarray(new[:, :3]), axis=0)
    assert len(set(chosen.tolist())) == 3
    np.testing.assert_allclose(jnp.linalg.norm(new[:, :3], axis=0), 1.0, rtol=1e-6)


def test_resample_never_draws_a_zero_input():
    signals = jnp.zeros((5, 4)).at[3].set(jnp.array([0.0, 3.0, 0.0, 4.0]))
    new = dead_atoms.resample_dead_atoms(
        jax.random.key(0), jnp.zeros((4, 2)), np.array([True, False]), signals, signals * 0
    )
    np.testing.assert_allclose(new[:, 0], [0.0, 0.6, 0.0, 0.8], rtol=1e-6)


def test_resample_rejects_too_few_nonzero_inputs():
    signals = jnp.zeros((5, 4)).at[0, 0].set(1.0)
    with pytest.raises(ValueError, match="has 1 finite, non-zero rows; resampling 2"):
        dead_atoms.resample_dead_atoms(
            jax.random.key(0), jnp.zeros((4, 3)), np.array([True, True, False]), signals, signals
        )


def test_resample_without_dead_atoms_returns_the_dictionary():
    dictionary = jnp.ones((4, 3))
    new = dead_atoms.resample_dead_atoms(
        jax.random.key(0), dictionary, np.zeros(3, bool), jnp.ones((2, 4)), jnp.ones((2, 4))
    )
    assert new is dictionary


def test_reset_optimizer_state_zeroes_only_masked_moments():
    params = {"dictionary": jnp.ones((3, 4)), "gain": jnp.ones(4)}
    optimizer = partitioned_adam(lambda p: {"dictionary": "a", "gain": "b"}, ("a", "b"))
    opt_state = optimizer.init(params)
    gradient = jax.tree.map(
        lambda x: jnp.arange(x.size, dtype=x.dtype).reshape(x.shape) + 1, params
    )
    _, opt_state = optimizer.update(
        gradient, opt_state, params, learning_rates={"a": 0.1, "b": 0.1}
    )
    dead = jnp.array([False, True, False, True])
    new_state = dead_atoms.reset_optimizer_state(
        optimizer, opt_state, {"dictionary": dead[None, :], "gain": dead}
    )
    adam_a = new_state.inner_states["a"].inner_state[0]
    adam_b = new_state.inner_states["b"].inner_state[0]
    old_a = opt_state.inner_states["a"].inner_state[0]
    for moments, old in ((adam_a.mu, old_a.mu), (adam_a.nu, old_a.nu)):
        np.testing.assert_array_equal(moments["dictionary"][:, 1], 0.0)
        np.testing.assert_array_equal(moments["dictionary"][:, 3], 0.0)
        np.testing.assert_array_equal(moments["dictionary"][:, 0], old["dictionary"][:, 0])
        assert np.all(np.asarray(moments["dictionary"][:, 0]) > 0)
    np.testing.assert_allclose(adam_b.mu["gain"], [0.1, 0.0, 0.3, 0.0], rtol=1e-6, atol=0)
    assert int(adam_a.count) == 1  # the step count is not a parameter and is kept
    assert isinstance(adam_a.mu["gain"], optax.MaskedNode)


def test_reset_optimizer_state_rejects_oversized_mask():
    params = {"w": jnp.ones(3)}
    optimizer = optax.adam(0.1)
    with pytest.raises(ValueError, match="does not fit a state leaf"):
        dead_atoms.reset_optimizer_state(
            optimizer, optimizer.init(params), {"w": jnp.ones((2, 3), bool)}
        )


def test_update_firing_rates_checks_numpy_and_traced_decay():
    with pytest.raises(ValueError, match="decay must be in"):
        dead_atoms.update_firing_rates(jnp.ones(2), jnp.ones(2), np.float32(1.5))
    traced = jax.jit(dead_atoms.update_firing_rates)(jnp.ones(2), jnp.ones(2), 1.5)
    assert np.all(np.isnan(np.asarray(traced)))


def test_resample_handles_extreme_and_nonfinite_rows():
    signals = jnp.array([[3e19, 4e19], [3e-25, 4e-25], [jnp.nan, 1.0]], jnp.float32)
    dead = np.array([True, True, False])
    new = dead_atoms.resample_dead_atoms(
        jax.random.key(0), jnp.zeros((2, 3)), dead, signals, jnp.zeros_like(signals)
    )
    np.testing.assert_allclose(new[:, :2].T, [[0.6, 0.8], [0.6, 0.8]], rtol=1e-6)
    with pytest.raises(ValueError, match="has 2 finite, non-zero rows; resampling 3"):
        dead_atoms.resample_dead_atoms(
            jax.random.key(0), jnp.zeros((2, 3)), np.ones(3, bool), signals, signals * 0
        )


def test_firing_fraction_rejects_empty_batch():
    with pytest.raises(ValueError, match="n >= 1"):
        dead_atoms.firing_fraction(jnp.ones((0, 3)))
