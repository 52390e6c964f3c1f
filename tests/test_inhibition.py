"""Tests of the lateral inhibition energy, its inference, structures, projection and pruning."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import sparse_jax
from sparse_jax import inhibition
from sparse_jax._compat import enable_x64

pytestmark = pytest.mark.usefixtures("strict_promotion")


def _problem(seed=0, d=16, k=24, n=6, scale=0.1, dtype=np.float32):
    """A random unit-norm dictionary, signals and a feasible inhibition matrix."""
    rng = np.random.default_rng(seed)
    dictionary = rng.standard_normal((d, k))
    dictionary /= np.linalg.norm(dictionary, axis=0)
    signals = rng.standard_normal((n, d))
    raw = np.abs(rng.standard_normal((k, k)))
    matrix = scale * (raw + raw.T) / 2
    np.fill_diagonal(matrix, 0)
    return dictionary.astype(dtype), signals.astype(dtype), matrix.astype(dtype)


def _reference_energy(dictionary, matrix, signal, codes, l1_weight):
    magnitudes = np.abs(codes)
    residual = signal - dictionary @ codes
    return (
        0.5 * residual @ residual + l1_weight * magnitudes.sum() + magnitudes @ matrix @ magnitudes
    )


# --- energy -----------------------------------------------------------------


def test_energy_terms_match_formula():
    dictionary, signals, matrix = _problem(dtype=np.float64)
    codes = np.random.default_rng(1).standard_normal(dictionary.shape[1])
    with enable_x64():
        terms = inhibition.inhibition_energy_terms(dictionary, matrix, signals[0], codes, 0.3)
        expected = _reference_energy(dictionary, matrix, signals[0], codes, 0.3)
        np.testing.assert_allclose(terms.energy, expected, rtol=1e-12)
        np.testing.assert_allclose(terms.l1, np.abs(codes).sum(), rtol=1e-12)
        residual = signals[0] - dictionary @ codes
        np.testing.assert_allclose(terms.reconstruction, 0.5 * residual @ residual, rtol=1e-12)
        energy = inhibition.inhibition_energy(dictionary, matrix, signals[0], codes, 0.3)
        assert float(energy) == float(terms.energy)


def test_penalty_counts_each_pair_twice():
    _, _, matrix = _problem(dtype=np.float64)
    codes = np.random.default_rng(2).standard_normal(matrix.shape[0])
    with enable_x64():
        penalty = float(inhibition.inhibition_penalty(matrix, codes))
    rows, columns = np.triu_indices(matrix.shape[0], k=1)
    pairs = matrix[rows, columns] * np.abs(codes[rows]) * np.abs(codes[columns])
    np.testing.assert_allclose(penalty, 2 * pairs.sum(), rtol=1e-12)


def test_norm_bound_is_above_spectral_norm():
    _, _, matrix = _problem(scale=1.0, dtype=np.float64)
    asymmetric = matrix + np.triu(matrix, 1)
    with enable_x64():
        bound = float(inhibition.inhibition_norm_bound(asymmetric))
    symmetric = (asymmetric + asymmetric.T) / 2
    assert bound == pytest.approx(np.abs(symmetric).sum(axis=1).max(), rel=1e-12)
    assert bound >= np.linalg.norm(symmetric, 2)


def test_energy_gradients_float64_away_from_zero():
    dictionary, signals, matrix = _problem(d=6, k=5, dtype=np.float64)
    rng = np.random.default_rng(3)
    # Entries of size 0.5 to 1.5 with random signs: |z| is smooth there.
    codes = rng.choice([-1.0, 1.0], size=5) * rng.uniform(0.5, 1.5, size=5)
    with enable_x64():

        @jax.jit
        def energy(weights, inhibitions, code):
            return inhibition.inhibition_energy(weights, inhibitions, signals[0], code, 0.2)

        check_grads(
            energy,
            (jnp.asarray(dictionary), jnp.asarray(matrix), jnp.asarray(codes)),
            order=2,
            modes=("fwd", "rev"),
            eps=1e-4,
        )


def test_energy_rejects_wrong_shapes():
    dictionary, signals, matrix = _problem()
    codes = np.zeros(dictionary.shape[1], np.float32)
    with pytest.raises(ValueError, match=r"inhibition has shape \(23, 23\); expected \(24, 24\)"):
        inhibition.inhibition_energy(dictionary, matrix[:-1, :-1], signals[0], codes, 0.1)
    with pytest.raises(ValueError, match=r"codes has shape \(23,\)"):
        inhibition.inhibition_energy(dictionary, matrix, signals[0], codes[:-1], 0.1)
    with pytest.raises(ValueError, match="square"):
        inhibition.inhibition_penalty(np.zeros((3, 4), np.float32), np.zeros(3, np.float32))


# --- inference --------------------------------------------------------------


@pytest.mark.parametrize("nonneg", [False, True])
def test_inference_decreases_energy_monotonically(nonneg):
    dictionary, signals, matrix = _problem(scale=0.3, dtype=np.float64)
    with enable_x64():
        result = inhibition.inhibited_ista(
            dictionary, matrix, signals, 0.2, num_steps=200, nonneg=nonneg, record_energies=True
        )
        energies = np.asarray(result.objectives)
        start = 0.5 * np.sum(signals**2, axis=1)  # E at z = 0
        final = [
            float(inhibition.inhibition_energy(dictionary, matrix, x, z, 0.2))
            for x, z in zip(signals, result.codes, strict=True)
        ]
    assert energies.shape == (signals.shape[0], 200)
    steps = np.diff(np.concatenate([start[:, None], energies], axis=1), axis=1)
    assert np.all(steps <= 1e-12 * np.abs(energies).max())
    np.testing.assert_allclose(energies[:, -1], final, rtol=1e-12)
    # Co-active units pay a positive penalty, so the inhibition term is exercised.
    magnitudes = np.abs(np.asarray(result.codes))
    assert np.all(np.einsum("ni,ij,nj->n", magnitudes, matrix, magnitudes) > 0)
    if nonneg:
        assert np.all(np.asarray(result.codes) >= 0)


def test_inference_with_large_inhibition_is_monotone():
    dictionary, signals, matrix = _problem(scale=3.0, dtype=np.float64)
    with enable_x64():
        result = inhibition.inhibited_ista(
            dictionary, matrix, signals, 0.05, num_steps=100, record_energies=True
        )
    energies = np.asarray(result.objectives)
    assert np.all(np.diff(energies, axis=1) <= 1e-12 * np.abs(energies).max())


@pytest.mark.parametrize("nonneg", [False, True])
def test_zero_inhibition_equals_ista(nonneg):
    dictionary, signals, _ = _problem()
    zero = np.zeros((dictionary.shape[1],) * 2, np.float32)
    ours = inhibition.inhibited_ista(
        dictionary, zero, signals, 0.2, num_steps=50, nonneg=nonneg
    ).codes
    reference = sparse_jax.ista(dictionary, signals, 0.2, num_steps=50, nonneg=nonneg)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_batch_equals_single_examples():
    dictionary, signals, matrix = _problem()
    batch = inhibition.inhibited_ista(dictionary, matrix, signals, 0.2, num_steps=30)
    solve_one = jax.jit(
        lambda signal: inhibition.inhibited_ista(dictionary, matrix, signal, 0.2, num_steps=30)
    )
    for index, signal in enumerate(signals):
        single = solve_one(signal)
        np.testing.assert_allclose(batch.codes[index], single.codes, rtol=1e-5, atol=1e-6)
        assert single.codes.shape == (dictionary.shape[1],)


def test_inhibition_reduces_coactivation():
    dictionary, signals, matrix = _problem(scale=0.5)
    free = inhibition.inhibited_ista(
        dictionary, np.zeros_like(matrix), signals, 0.1, num_steps=300
    ).codes
    inhibited = inhibition.inhibited_ista(dictionary, matrix, signals, 0.1, num_steps=300).codes
    assert np.count_nonzero(inhibited) < np.count_nonzero(free)


def test_zero_signal_gives_zero_codes_and_finite_gradients():
    dictionary, _, matrix = _problem()
    signal = np.zeros(dictionary.shape[0], np.float32)
    codes = inhibition.inhibited_ista(dictionary, matrix, signal, 0.2, num_steps=20).codes
    np.testing.assert_array_equal(codes, np.zeros(dictionary.shape[1], np.float32))

    def loss(weights, inhibitions):
        z = inhibition.inhibited_ista(weights, inhibitions, signal, 0.2, num_steps=20).codes
        return inhibition.inhibition_energy(weights, inhibitions, signal, z, 0.2) + jnp.sum(z)

    dictionary_grad, inhibition_grad = jax.jit(jax.grad(loss, argnums=(0, 1)))(
        jnp.asarray(dictionary), jnp.asarray(matrix)
    )
    assert np.all(np.isfinite(dictionary_grad))
    assert np.all(np.isfinite(inhibition_grad))


def test_tolerance_mode_stops_at_tolerance():
    dictionary, signals, matrix = _problem()
    result = inhibition.inhibited_ista(dictionary, matrix, signals, 0.2, tol=1e-5, max_steps=5000)
    assert np.all(np.asarray(result.criterion) <= 1e-5)
    assert np.all(np.asarray(result.num_steps) < 5000)
    long_run = inhibition.inhibited_ista(dictionary, matrix, signals, 0.2, num_steps=5000)
    np.testing.assert_allclose(result.codes, long_run.codes, atol=1e-3)


def test_tolerance_mode_respects_max_steps():
    dictionary, signals, matrix = _problem()
    result = inhibition.inhibited_ista(dictionary, matrix, signals, 0.2, tol=0.0, max_steps=7)
    np.testing.assert_array_equal(result.num_steps, np.full(signals.shape[0], 7))
    fixed = inhibition.inhibited_ista(dictionary, matrix, signals, 0.2, num_steps=7)
    np.testing.assert_allclose(result.codes, fixed.codes, rtol=1e-6, atol=1e-7)


def test_traced_l1_weight_sweep_matches_loop():
    dictionary, signals, matrix = _problem()
    weights = jnp.asarray([0.05, 0.2, 0.5], jnp.float32)
    swept = jax.vmap(
        lambda w: inhibition.inhibited_ista(dictionary, matrix, signals, w, num_steps=30).codes
    )(weights)
    solve = jax.jit(
        lambda w: inhibition.inhibited_ista(dictionary, matrix, signals, w, num_steps=30).codes
    )
    for index, weight in enumerate([0.05, 0.2, 0.5]):
        np.testing.assert_allclose(swept[index], solve(jnp.float32(weight)), rtol=1e-5, atol=1e-6)


def test_inference_rejects_invalid_arguments():
    dictionary, signals, matrix = _problem()
    with pytest.raises(ValueError, match="inhibition must be non-negative"):
        inhibition.inhibited_ista(dictionary, -matrix, signals, 0.2, num_steps=5)
    with pytest.raises(ValueError, match="l1_weight must be non-negative"):
        inhibition.inhibited_ista(dictionary, matrix, signals, -0.2, num_steps=5)
    with pytest.raises(ValueError, match=r"inhibition has shape \(24, 23\)|square"):
        inhibition.inhibited_ista(dictionary, matrix[:, :-1], signals, 0.2, num_steps=5)
    with pytest.raises(ValueError, match="step_size=10 is above"):
        inhibition.inhibited_ista(dictionary, matrix, signals, 0.2, num_steps=5, step_size=10.0)
    with pytest.raises(ValueError, match="exactly one of num_steps and tol"):
        inhibition.inhibited_ista(dictionary, matrix, signals, 0.2)
    with pytest.raises(ValueError, match=r"l1_weight has shape \(3,\)"):
        inhibition.inhibited_ista(dictionary, matrix, signals, np.ones(3, np.float32), num_steps=5)
    with pytest.raises(ValueError, match=r"signal has shape \(6, 15\)"):
        inhibition.inhibited_ista(dictionary, matrix, signals[:, :-1], 0.2, num_steps=5)


# --- structures -------------------------------------------------------------

# Two trees: 0 → {1, 2}, 1 → {3, 4}; and 5 → {6}.
SMALL_FOREST = np.array([-1, 0, 0, 1, 1, -1, 5])
# 1 where the pair may inhibit: a different branch or a different tree.
SMALL_FOREST_MASK = np.array(
    [
        # 0  1  2  3  4  5  6
        [0, 0, 0, 0, 0, 1, 1],  # 0: root of the first tree, ancestor of 1-4
        [0, 0, 1, 0, 0, 1, 1],  # 1: parent of 3, 4; sibling of 2
        [0, 1, 0, 1, 1, 1, 1],  # 2: leaf
        [0, 0, 1, 0, 1, 1, 1],  # 3: leaf under 1
        [0, 0, 1, 1, 0, 1, 1],  # 4: leaf under 1
        [1, 1, 1, 1, 1, 0, 0],  # 5: root of the second tree
        [1, 1, 1, 1, 1, 0, 0],  # 6: child of 5
    ],
    dtype=bool,
)


def test_tree_mask_matches_table():
    np.testing.assert_array_equal(inhibition.tree_mask(SMALL_FOREST), SMALL_FOREST_MASK)


def test_tree_ancestors_and_depths():
    ancestors = inhibition.tree_ancestors(SMALL_FOREST)
    expected = np.zeros((7, 7), dtype=bool)
    expected[1, 0] = expected[2, 0] = True
    expected[3, [0, 1]] = True
    expected[4, [0, 1]] = True
    expected[6, 5] = True
    np.testing.assert_array_equal(ancestors, expected)
    np.testing.assert_array_equal(inhibition.tree_depths(SMALL_FOREST), [0, 1, 1, 2, 2, 0, 1])


def test_tree_mask_of_shuffled_numbering():
    # The same forest with nodes numbered children first.
    permutation = np.array([4, 6, 0, 1, 2, 5, 3])  # new node m is old node permutation[m]
    old_to_new = np.argsort(permutation)
    parents = np.array(
        [old_to_new[SMALL_FOREST[old]] if SMALL_FOREST[old] >= 0 else -1 for old in permutation]
    )
    expected = SMALL_FOREST_MASK[np.ix_(permutation, permutation)]
    np.testing.assert_array_equal(inhibition.tree_mask(parents), expected)


def test_balanced_forest_layout():
    parents = inhibition.balanced_forest(4, 4, 3)
    assert parents.shape == (84,)
    np.testing.assert_array_equal(parents[:4], [-1] * 4)
    np.testing.assert_array_equal(parents[4:8], [0, 0, 0, 0])
    np.testing.assert_array_equal(parents[20:24], [4, 4, 4, 4])
    np.testing.assert_array_equal(parents[80:84], [19, 19, 19, 19])
    mask = inhibition.tree_mask(parents)
    # A leaf is related to itself, its parent and its root: 84 - 3 inhibiting partners.
    assert mask[83].sum() == 81
    # A root is related to itself and its 20 descendants.
    assert mask[0].sum() == 84 - 21


def test_tree_validation_errors():
    with pytest.raises(ValueError, match="cycle"):
        inhibition.tree_mask(np.array([1, 0, -1]))
    with pytest.raises(ValueError, match=r"parents\[1\] = 7 is out of range"):
        inhibition.tree_mask(np.array([-1, 7]))
    with pytest.raises(TypeError, match="integers"):
        inhibition.tree_mask(np.array([-1.0, 0.0]))


def test_unstructured_mask_is_off_diagonal():
    mask = inhibition.unstructured_mask(5)
    np.testing.assert_array_equal(mask, ~np.eye(5, dtype=bool))


def test_torus_mask_wraps_around():
    mask = inhibition.torus_mask(4, 1.0)
    # Unit 0 at (0, 0): its neighbours within distance 1 are 1, 4 and, across
    # the edges, 3 = (0, 3) and 12 = (3, 0).
    free = np.flatnonzero(~mask[0])
    np.testing.assert_array_equal(free, [0, 1, 3, 4, 12])
    # Unit 5 at (1, 1) has no wrapped neighbours.
    np.testing.assert_array_equal(np.flatnonzero(~mask[5]), [1, 4, 5, 6, 9])
    np.testing.assert_array_equal(mask, mask.T)
    assert np.all(mask.sum(axis=1) == 16 - 5)


def test_torus_mask_diagonal_radius():
    mask = inhibition.torus_mask(5, np.sqrt(2))
    # The 8 nearest units and the unit itself are free, including the corner
    # (4, 4) next to (0, 0) across both edges.
    free = np.flatnonzero(~mask[0])
    np.testing.assert_array_equal(free, [0, 1, 4, 5, 6, 9, 20, 21, 24])
    distances = inhibition.torus_distances(5)
    assert distances[0, 24] == pytest.approx(np.sqrt(2))
    assert distances[0, 12] == pytest.approx(np.sqrt(8))


# --- projection -------------------------------------------------------------


def test_projection_gives_feasible_matrix_exactly():
    rng = np.random.default_rng(4)
    k = 30
    raw = rng.standard_normal((k, k)).astype(np.float32) * 3
    mask = inhibition.torus_mask(int(np.sqrt(36)), 1.0)[:k, :k]
    mask = mask & mask.T
    bound = 2.5
    projected = np.asarray(inhibition.project_inhibition(raw, mask, bound))

    assert projected.dtype == np.float32
    assert np.all(projected >= 0)
    np.testing.assert_array_equal(projected, projected.T)
    np.testing.assert_array_equal(np.diag(projected), np.zeros(k, np.float32))
    np.testing.assert_array_equal(projected[~mask], 0)
    assert np.all(np.sum(projected, axis=1, dtype=np.float32) <= np.float32(bound))
    assert np.all(np.asarray(jnp.sum(jnp.asarray(projected), axis=1)) <= np.float32(bound))
    assert np.all(np.sort(projected, axis=1).sum(axis=1, dtype=np.float32) <= np.float32(bound))
    # Some rows reach the bound, so the bound is what limits them.
    assert projected.sum(axis=1).max() > 0.999 * bound


def test_projection_keeps_feasible_matrix_bit_for_bit():
    _, _, matrix = _problem(scale=0.01)
    mask = inhibition.unstructured_mask(matrix.shape[0])
    assert matrix.sum(axis=1).max() < 1.0
    projected = np.asarray(inhibition.project_inhibition(matrix, mask, 1.0))
    np.testing.assert_array_equal(projected, matrix)


def test_projection_under_jit_with_traced_bound():
    rng = np.random.default_rng(5)
    raw = np.abs(rng.standard_normal((8, 8))).astype(np.float32)
    mask = inhibition.unstructured_mask(8)
    project = jax.jit(lambda s, b: inhibition.project_inhibition(s, mask, b))
    for bound in (0.5, 2.0):
        projected = np.asarray(project(raw, jnp.float32(bound)))
        assert np.all(projected.sum(axis=1, dtype=np.float32) <= np.float32(bound))
        np.testing.assert_array_equal(projected, projected.T)


def test_projection_rejects_invalid_arguments():
    matrix = np.zeros((4, 4), np.float32)
    mask = inhibition.unstructured_mask(4)
    with pytest.raises(ValueError, match="max_row_sum must be a finite positive scalar"):
        inhibition.project_inhibition(matrix, mask, 0.0)
    asymmetric = mask.copy()
    asymmetric[0, 1] = False
    with pytest.raises(ValueError, match="mask must be symmetric"):
        inhibition.project_inhibition(matrix, asymmetric, 1.0)
    with pytest.raises(ValueError, match=r"mask has shape \(3, 3\); expected \(4, 4\)"):
        inhibition.project_inhibition(matrix, mask[:3, :3], 1.0)
    with pytest.raises(TypeError, match="boolean"):
        inhibition.project_inhibition(matrix, mask.astype(np.int32), 1.0)


# --- pruning ----------------------------------------------------------------


def test_prune_removes_subtrees_below_threshold():
    # Node 1 is rarely used: it goes with its children 3 and 4, although 4 is
    # used often. Node 6 goes alone; the root 5 stays.
    usage = np.array([0.5, 0.01, 0.2, 0.3, 0.4, 0.2, 0.001])
    pruned = inhibition.prune_tree(SMALL_FOREST, usage, 0.05)
    np.testing.assert_array_equal(pruned.kept, [0, 2, 5])
    np.testing.assert_array_equal(pruned.parents, [-1, 0, -1])
    assert pruned.parents.dtype == np.int32


def test_prune_keeps_everything_above_threshold():
    usage = np.full(7, 0.2)
    pruned = inhibition.prune_tree(SMALL_FOREST, usage, 0.2)
    np.testing.assert_array_equal(pruned.kept, np.arange(7))
    np.testing.assert_array_equal(pruned.parents, SMALL_FOREST)


def test_prune_renumbers_deeper_trees():
    parents = inhibition.balanced_forest(2, 2, 3)  # 2 + 4 + 8 = 14 nodes
    usage = np.ones(14)
    usage[3] = 0.0  # node 3 (second child of root 0) with its children 8 and 9
    pruned = inhibition.prune_tree(parents, usage, 0.5)
    expected_kept = [0, 1, 2, 4, 5, 6, 7, 10, 11, 12, 13]
    np.testing.assert_array_equal(pruned.kept, expected_kept)
    # Old parents of the kept nodes, renumbered.
    old_parents = parents[expected_kept]
    renumber = {old: new for new, old in enumerate(expected_kept)}
    expected = [renumber[p] if p >= 0 else -1 for p in old_parents]
    np.testing.assert_array_equal(pruned.parents, expected)
    assert np.all(
        inhibition.tree_mask(pruned.parents)
        == inhibition.tree_mask(parents)[np.ix_(expected_kept, expected_kept)]
    )


def test_prune_rejects_mismatched_usage():
    with pytest.raises(ValueError, match=r"usage has shape \(3,\); expected \(7,\)"):
        inhibition.prune_tree(SMALL_FOREST, np.ones(3), 0.1)
