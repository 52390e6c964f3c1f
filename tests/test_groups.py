"""Tests of the group structures, their builders and group, tree and latent lasso coding."""

import dataclasses
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import sparse_jax
from sparse_jax import groups
from sparse_jax._compat import enable_x64

pytestmark = pytest.mark.usefixtures("strict_promotion")


def _members(structure, group):
    """The unit indices of one group as a Python list, in stored order."""
    indices = np.asarray(structure.indices[group])
    return indices[np.asarray(structure.mask[group])].tolist()


# ---------------------------------------------------------------------------
# from_labels


def test_from_labels_any_order():
    structure = groups.from_labels([2, 0, 1, 0, 2, -1, 1])
    assert structure.kind == "disjoint"
    assert structure.num_units == 7
    assert structure.num_groups == 3
    assert _members(structure, 0) == [1, 3]
    assert _members(structure, 1) == [2, 6]
    assert _members(structure, 2) == [0, 4]
    np.testing.assert_array_equal(structure.unit_groups, [2, 0, 1, 0, 2, 3, 1])
    np.testing.assert_array_equal(structure.weights, [1, 1, 1])
    assert structure.inner_weights is None


def test_from_labels_unequal_sizes_padded():
    structure = groups.from_labels([0, 0, 0, 1], weights=[0.5, 2.0])
    assert structure.max_group_size == 3
    np.testing.assert_array_equal(structure.mask, [[True, True, True], [True, False, False]])
    np.testing.assert_array_equal(structure.weights, [0.5, 2.0])
    assert structure.weights.dtype == jnp.float32
    assert structure.indices.dtype == jnp.int32


def test_from_labels_errors():
    with pytest.raises(ValueError, match="group 1 has no units"):
        groups.from_labels([0, 2, 2])
    with pytest.raises(ValueError, match=r"labels\[1\] = -2"):
        groups.from_labels([0, -2])
    with pytest.raises(ValueError, match="must contain integers"):
        groups.from_labels([0.0, 1.0])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        groups.from_labels([])
    with pytest.raises(ValueError, match="all -1"):
        groups.from_labels([-1, -1])
    with pytest.raises(ValueError, match=r"weights has shape \(3,\); expected \(2,\)"):
        groups.from_labels([0, 1], weights=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="weights must be non-negative"):
        groups.from_labels([0, 1], weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="weights must be finite"):
        groups.from_labels([0, 1], weights=[1.0, np.inf])


# ---------------------------------------------------------------------------
# from_index_sets


def test_from_index_sets_disjoint_kind():
    structure = groups.from_index_sets([[4, 1], [0]], 6)
    assert structure.kind == "disjoint"
    assert _members(structure, 0) == [4, 1]
    np.testing.assert_array_equal(structure.unit_groups, [1, 0, 2, 2, 0, 2])


def test_from_index_sets_overlapping_kind():
    structure = groups.from_index_sets([[0, 1, 2], [2, 3]], 4, weights=[1.0, 3.0])
    assert structure.kind == "overlapping"
    np.testing.assert_array_equal(structure.unit_groups, [2, 2, 2, 2])
    np.testing.assert_array_equal(structure.weights, [1.0, 3.0])


def test_from_index_sets_errors():
    with pytest.raises(ValueError, match=r"index_sets\[1\] is empty"):
        groups.from_index_sets([[0], []], 3)
    with pytest.raises(ValueError, match=r"index_sets\[0\] contains 3, outside \[0, num_units=3\)"):
        groups.from_index_sets([[0, 3]], 3)
    with pytest.raises(ValueError, match=r"index_sets\[0\] contains -1"):
        groups.from_index_sets([[-1]], 3)
    with pytest.raises(ValueError, match=r"index_sets\[1\] contains unit 2 more than once"):
        groups.from_index_sets([[0], [2, 1, 2]], 3)
    with pytest.raises(ValueError, match="index_sets is empty"):
        groups.from_index_sets([], 3)
    with pytest.raises(ValueError, match="num_units must be a positive integer"):
        groups.from_index_sets([[0]], 0)
    with pytest.raises(ValueError, match="must contain integers"):
        groups.from_index_sets([[0.5]], 3)


# ---------------------------------------------------------------------------
# torus


def test_torus_counts():
    structure = groups.torus(12, 6, 2)
    assert structure.kind == "torus"
    assert structure.num_units == 144
    assert structure.num_groups == (12 // 2) ** 2
    assert structure.max_group_size == 36
    memberships = np.bincount(np.asarray(structure.indices).ravel(), minlength=144)
    np.testing.assert_array_equal(memberships, (6 // 2) ** 2)
    assert (structure.side, structure.pool_size, structure.stride) == (12, 6, 2)


def test_torus_pools_are_wrapped_squares():
    side, pool, stride = 6, 4, 2
    structure = groups.torus(side, pool, stride)
    per_side = side // stride
    for a in range(per_side):
        for b in range(per_side):
            expected = [
                ((a * stride + u) % side) * side + (b * stride + v) % side
                for u in range(pool)
                for v in range(pool)
            ]
            assert _members(structure, a * per_side + b) == expected


def test_torus_wraps_around():
    side, pool, stride = 8, 4, 2
    structure = groups.torus(side, pool, stride)
    per_side = side // stride
    last = (side - stride) // stride  # the pool that starts at side - stride
    assert 0 in _members(structure, last * per_side + last)
    assert 0 in _members(structure, last)  # wraps in the columns only
    assert 0 in _members(structure, last * per_side)  # wraps in the rows only
    assert 0 not in _members(structure, 1)


def test_torus_gaussian_inner_weights():
    structure = groups.torus(6, 3, 3, sigma=1.0)
    kernel = np.asarray(structure.inner_weights[0]).reshape(3, 3)
    offsets = np.arange(3) - 1.0
    expected = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / 2)
    np.testing.assert_allclose(kernel, expected, rtol=1e-6)
    assert kernel[1, 1] == 1.0
    for group in range(structure.num_groups):
        np.testing.assert_array_equal(structure.inner_weights[group], structure.inner_weights[0])


def test_torus_errors():
    with pytest.raises(ValueError, match="side=10 is not a multiple of stride=3"):
        groups.torus(10, 6, 3)
    with pytest.raises(ValueError, match="pool_size=5 is not a multiple of stride=2"):
        groups.torus(10, 5, 2)
    with pytest.raises(ValueError, match="pool_size=8 is larger than side=6"):
        groups.torus(6, 8, 2)
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        groups.torus(6, 2, 0)
    with pytest.raises(ValueError, match="side must be a positive integer"):
        groups.torus(6.0, 2, 1)
    with pytest.raises(ValueError, match="sigma must be positive"):
        groups.torus(6, 2, 1, sigma=0.0)
    with pytest.raises(ValueError, match=r"weights has shape \(2,\); expected \(9,\)"):
        groups.torus(6, 2, 2, weights=[1.0, 1.0])


# ---------------------------------------------------------------------------
# tree

# Two trees: 0 → {1, 2}, 1 → {3, 4}, 2 → {5}; and 6 → {7}.
FOREST = [-1, 0, 0, 1, 1, 2, -1, 6]


def test_tree_groups_are_subtrees():
    structure = groups.tree(FOREST)
    assert structure.kind == "tree"
    assert structure.num_groups == 8
    expected = {0: {0, 1, 2, 3, 4, 5}, 1: {1, 3, 4}, 2: {2, 5}, 6: {6, 7}, 7: {7}, 3: {3}}
    for node, subtree in expected.items():
        group = int(structure.unit_groups[node])
        members = _members(structure, group)
        assert members[0] == node
        assert set(members) == subtree


def test_tree_levels_deepest_first():
    structure = groups.tree(FOREST)
    # Depth 2: nodes 3, 4, 5; depth 1: 1, 2, 7; depth 0: the roots 0, 6.
    assert structure.level_bounds == (0, 3, 6, 8)
    heads = np.asarray(structure.indices[:, 0]).tolist()
    assert heads == [3, 4, 5, 1, 2, 7, 0, 6]
    parent_heads = [
        heads[int(p)] if p >= 0 else -1 for p in np.asarray(structure.parent_groups).tolist()
    ]
    assert parent_heads == [FOREST[node] for node in heads]


def test_tree_weights_indexed_by_node():
    weights = np.arange(8, dtype=np.float64) + 1
    structure = groups.tree(FOREST, weights=weights)
    heads = np.asarray(structure.indices[:, 0])
    np.testing.assert_array_equal(structure.weights, weights[heads])


def test_tree_errors():
    with pytest.raises(ValueError, match=r"parents\[1\] = 5 is out of range"):
        groups.tree([-1, 5, 0])
    with pytest.raises(ValueError, match=r"parents\[0\] = -2 is out of range"):
        groups.tree([-2])
    with pytest.raises(ValueError, match=r"cycle through nodes \[1, 2\]"):
        groups.tree([-1, 2, 1])
    with pytest.raises(ValueError, match=r"cycle through nodes \[0\]"):
        groups.tree([0])
    with pytest.raises(ValueError, match="non-empty 1-D"):
        groups.tree([])
    with pytest.raises(ValueError, match=r"weights has shape \(2,\); expected \(3,\)"):
        groups.tree([-1, 0, 0], weights=[1.0, 1.0])


def test_deepest_first_numbering():
    new_parents, order = groups.deepest_first(FOREST)
    assert not groups.tree(FOREST).heads_in_order
    structure = groups.tree(new_parents)
    assert structure.heads_in_order
    np.testing.assert_array_equal(structure.indices[:, 0], np.arange(8))
    np.testing.assert_array_equal(order, groups.tree(FOREST).indices[:, 0])
    # Node order[j] became node j, so parent links map through the same renumbering.
    for new_node, old_node in enumerate(order):
        old_parent = FOREST[old_node]
        expected = -1 if old_parent < 0 else int(np.flatnonzero(order == old_parent)[0])
        assert new_parents[new_node] == expected


def test_tree_chain_depth():
    structure = groups.tree([-1, 0, 1, 2])
    assert structure.level_bounds == (0, 1, 2, 3, 4)
    assert _members(structure, 0) == [3]
    assert _members(structure, 3) == [0, 1, 2, 3]


# ---------------------------------------------------------------------------
# Structure behaviour inside jit and vmap


def test_structure_is_pytree_with_static_geometry():
    structure = groups.torus(6, 4, 2, sigma=2.0)
    leaves, treedef = jax.tree_util.tree_flatten(structure)
    assert len(leaves) == 6  # indices, mask, weights, inner weights, unit and parent groups
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt.side == 6
    assert rebuilt.kind == "torus"


def test_weights_sweep_without_recompiling():
    structure = groups.from_labels(np.arange(8) // 2)
    codes = jnp.arange(8, dtype=jnp.float32)
    traces = []

    @jax.jit
    def penalty(structure, codes):
        traces.append(1)
        return sparse_jax.energies.group_l2_penalty(codes, structure)

    first = penalty(structure, codes)
    doubled = penalty(dataclasses.replace(structure, weights=2 * structure.weights), codes)
    assert len(traces) == 1
    np.testing.assert_allclose(doubled, 2 * first, rtol=1e-6)

    sweep = jnp.stack([structure.weights, 3 * structure.weights])
    swept = jax.vmap(
        lambda w: sparse_jax.energies.group_l2_penalty(
            codes, dataclasses.replace(structure, weights=w)
        )
    )(sweep)
    np.testing.assert_allclose(swept, [first, 3 * first], rtol=1e-6)


@pytest.mark.parametrize(
    "build",
    [
        lambda: groups.torus(6, 4, 2),
        lambda: groups.from_index_sets([[0, 1, 2], [2, 3], [5, 0]], 6),
        lambda: groups.tree(FOREST),
    ],
    ids=["torus", "overlapping", "tree"],
)
def test_sum_slots_is_adjoint_of_gather(build):
    structure = build()
    rng = np.random.default_rng(0)
    codes = jnp.asarray(rng.normal(size=structure.num_units), jnp.float32)
    slots = jnp.asarray(
        rng.normal(size=(structure.max_group_size, structure.num_groups)), jnp.float32
    )
    slots = jnp.where(structure.mask.T, slots, 0)
    forward = jnp.sum(groups.gather_slots(codes, structure) * slots)
    adjoint = jnp.sum(codes * groups.sum_slots(slots, structure))
    np.testing.assert_allclose(forward, adjoint, rtol=1e-5)
    expected = np.where(
        np.asarray(structure.mask.T), np.asarray(codes)[np.asarray(structure.indices.T)], 0
    )
    np.testing.assert_array_equal(groups.gather_slots(codes, structure), expected)


# ---------------------------------------------------------------------------
# Group lasso coding with proximal_gradient


def _group_problem(seed=0, d=12, k=16, group_size=4):
    rng = np.random.default_rng(seed)
    dictionary = rng.normal(size=(d, k)) / np.sqrt(d)
    true_codes = np.zeros(k)
    true_codes[4:8] = rng.normal(size=4) * 2
    signal = dictionary @ true_codes + 0.05 * rng.normal(size=d)
    labels = np.arange(k) // group_size
    return dictionary, signal, labels


def _group_lasso_reference(dictionary, signal, labels, weight, group_weights, num_steps=5000):
    """Slow NumPy FISTA for ½‖x − D z‖² + λ Σ_g w_g ‖z_g‖."""
    step = 1 / np.linalg.norm(dictionary, 2) ** 2
    codes = np.zeros(dictionary.shape[1])
    extrapolated = codes
    momentum = 1.0
    for _ in range(num_steps):
        point = extrapolated - step * dictionary.T @ (dictionary @ extrapolated - signal)
        for group, group_weight in enumerate(group_weights):
            members = labels == group
            norm = np.linalg.norm(point[members])
            threshold = step * weight * group_weight
            point[members] *= max(0.0, 1 - threshold / norm) if norm > 0 else 0.0
        next_momentum = (1 + np.sqrt(1 + 4 * momentum**2)) / 2
        extrapolated = point + (momentum - 1) / next_momentum * (point - codes)
        codes, momentum = point, next_momentum
    return codes


def test_group_lasso_coding_matches_reference():
    dictionary, signal, labels = _group_problem()
    group_weights = np.array([1.0, 0.5, 1.0, 2.0])
    weight = 0.3
    with enable_x64():
        structure = groups.from_labels(labels, weights=group_weights)
        penalty = groups.group_lasso_penalty(structure, weight)
        result = sparse_jax.proximal_gradient(
            jnp.asarray(dictionary), jnp.asarray(signal), penalty, tol=1e-13, max_steps=20000
        )
        assert float(result.criterion) <= 1e-13
        assert int(result.num_steps) < 20000
        codes = np.asarray(result.codes)
    expected = _group_lasso_reference(dictionary, signal, labels, weight, group_weights)
    np.testing.assert_allclose(codes, expected, atol=1e-6)

    # Optimality: Dᵀr = λ w_g z_g/‖z_g‖ on active groups, ‖D_gᵀ r‖ ≤ λ w_g elsewhere.
    correlation = dictionary.T @ (signal - dictionary @ codes)
    active = 0
    for group, group_weight in enumerate(group_weights):
        members = labels == group
        norm = np.linalg.norm(codes[members])
        if norm > 0:
            active += 1
            np.testing.assert_allclose(
                correlation[members], weight * group_weight * codes[members] / norm, atol=1e-5
            )
        else:
            assert np.linalg.norm(correlation[members]) <= weight * group_weight + 1e-8
    assert 0 < active < len(group_weights)


def test_group_lasso_batched_and_jitted():
    dictionary, signal, labels = _group_problem()
    structure = groups.from_labels(labels)
    batch = jnp.asarray(np.stack([signal, -signal, 0 * signal]), jnp.float32)

    @jax.jit
    def solve(structure, weight):
        penalty = groups.group_lasso_penalty(structure, weight)
        return sparse_jax.proximal_gradient(
            jnp.asarray(dictionary, jnp.float32), batch, penalty, num_steps=300
        ).codes

    codes = solve(structure, jnp.float32(0.3))
    assert codes.shape == (3, 16)
    np.testing.assert_allclose(codes[1], -codes[0], atol=1e-6)
    np.testing.assert_array_equal(codes[2], 0)


def test_group_lasso_penalty_errors():
    with pytest.raises(ValueError, match="needs disjoint groups, got kind 'torus'"):
        groups.group_lasso_penalty(groups.torus(4, 2, 1), 0.1)
    with pytest.raises(ValueError, match="weight must be non-negative"):
        groups.group_lasso_penalty(groups.from_labels([0, 1]), -0.1)
    with pytest.raises(ValueError, match="weight must be a scalar"):
        groups.group_lasso_penalty(groups.from_labels([0, 1]), jnp.ones(2))


def test_group_lasso_dual_norm():
    structure = groups.from_labels([0, 0, 1, -1], weights=[1.0, 2.0])
    penalty = groups.group_lasso_penalty(structure, 0.5)
    direction = jnp.array([3.0, 4.0, 1.0, 0.0])
    assert float(penalty.dual_norm(direction)) == pytest.approx(max(5 / 0.5, 1 / 1.0))
    # A unit in no group is unpenalised, so any correlation there is infeasible.
    assert float(penalty.dual_norm(jnp.array([0.0, 0.0, 0.0, 1e-3]))) == np.inf


# ---------------------------------------------------------------------------
# Tree lasso coding


def test_tree_lasso_coding_decreases_objective():
    rng = np.random.default_rng(1)
    parents = [-1, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    structure = groups.tree(parents, weights=np.full(15, 0.5))
    dictionary = jnp.asarray(rng.normal(size=(10, 15)) / np.sqrt(10), jnp.float32)
    signal = jnp.asarray(rng.normal(size=10), jnp.float32)
    penalty = groups.tree_lasso_penalty(structure, 0.2)
    assert penalty.dual_norm is None

    def objective(codes):
        residual = signal - dictionary @ codes
        return float(0.5 * jnp.sum(residual**2) + penalty.value(codes))

    # ISTA keeps no state beyond the codes, so warm-started runs of 10 steps
    # chain into one run; one compilation serves every chunk.
    lipschitz = sparse_jax.lipschitz_constant(dictionary)

    @jax.jit
    def ten_steps(codes):
        return sparse_jax.proximal_gradient(
            dictionary,
            signal,
            penalty,
            num_steps=10,
            init=codes,
            lipschitz=lipschitz,
            accelerate=False,
        ).codes

    codes = jnp.zeros(15, jnp.float32)
    values = [objective(codes)]
    for _ in range(40):
        codes = ten_steps(codes)
        values.append(objective(codes))
    assert all(later <= earlier + 1e-6 for earlier, later in itertools.pairwise(values))
    assert values[-1] < values[0]

    # Zero patterns are unions of subtrees: a zero node has an all-zero subtree.
    codes = np.asarray(codes)
    assert 0 < np.count_nonzero(codes) < 15
    for node, parent in enumerate(parents):
        if parent >= 0 and codes[parent] == 0:
            assert codes[node] == 0

    converged = sparse_jax.proximal_gradient(
        dictionary, signal, penalty, tol=1e-6, max_steps=5000, lipschitz=lipschitz
    )
    assert float(converged.criterion) <= 1e-6
    assert objective(converged.codes) <= values[-1] + 1e-5


def test_tree_lasso_penalty_errors():
    with pytest.raises(ValueError, match="needs a tree structure"):
        groups.tree_lasso_penalty(groups.from_labels([0, 1]), 0.1)


# ---------------------------------------------------------------------------
# Latent group lasso


def _torus_problem(seed=0):
    rng = np.random.default_rng(seed)
    structure = groups.torus(4, 2, 1)  # 16 units, 16 pools of 4, each unit in 4 pools
    dictionary = rng.normal(size=(30, 16)) / np.sqrt(30)
    true_codes = np.zeros(16)
    true_codes[_members(structure, 5)] = rng.normal(size=4) + 2
    signal = dictionary @ true_codes + 0.01 * rng.normal(size=30)
    return structure, dictionary, signal


def test_latent_support_is_union_of_groups():
    structure, dictionary, signal = _torus_problem()
    with enable_x64():
        result = groups.latent_group_lasso(
            jnp.asarray(dictionary), jnp.asarray(signal), structure, 0.1, tol=1e-9, max_steps=20000
        )
        assert float(result.criterion) <= 1e-9
        codes = np.asarray(result.codes)
        latent = np.asarray(result.latent)
    active = [g for g in range(structure.num_groups) if np.linalg.norm(latent[g]) > 0]
    assert 0 < len(active) < structure.num_groups
    union = sorted({unit for g in active for unit in _members(structure, g)})
    assert np.flatnonzero(codes).tolist() == union
    assert 5 in active

    # The codes are the sum of the latent copies.
    total = np.zeros(16)
    for g in range(structure.num_groups):
        np.add.at(total, _members(structure, g), latent[g][: len(_members(structure, g))])
    np.testing.assert_allclose(codes, total, atol=1e-12)


def test_latent_matches_group_lasso_on_expanded_dictionary():
    # The latent problem is a disjoint group lasso on the dictionary D E whose
    # columns repeat each atom once per group (scaled by 1/sqrt(w_gi)).
    structure = groups.torus(4, 2, 1, sigma=1.5, weights=np.linspace(0.5, 1.5, 16))
    _, dictionary, signal = _torus_problem(seed=3)
    indices = np.asarray(structure.indices)
    inner = np.asarray(structure.inner_weights)
    expanded = (dictionary[:, indices] / np.sqrt(inner)).reshape(30, -1)
    labels = np.repeat(np.arange(structure.num_groups), structure.max_group_size)
    with enable_x64():
        latent = groups.latent_group_lasso(
            jnp.asarray(dictionary), jnp.asarray(signal), structure, 0.05, num_steps=3000
        )
        flat = groups.from_labels(labels, weights=np.asarray(structure.weights, np.float64))
        reference = sparse_jax.proximal_gradient(
            jnp.asarray(expanded),
            jnp.asarray(signal),
            groups.group_lasso_penalty(flat, 0.05),
            num_steps=3000,
        )
        copies = np.asarray(reference.codes).reshape(indices.shape) / np.sqrt(inner)
    np.testing.assert_allclose(latent.latent, copies, atol=1e-7)


def test_latent_general_overlap_and_batch():
    structure = groups.from_index_sets([[0, 1, 2], [2, 3, 4], [4, 5, 0]], 6)
    rng = np.random.default_rng(2)
    dictionary = jnp.asarray(rng.normal(size=(8, 6)), jnp.float32)
    signals = jnp.asarray(rng.normal(size=(3, 8)), jnp.float32)
    batched = groups.latent_group_lasso(dictionary, signals, structure, 0.5, num_steps=200)
    assert batched.codes.shape == (3, 6)
    assert batched.latent.shape == (3, 3, 3)
    single = groups.latent_group_lasso(dictionary, signals[1], structure, 0.5, num_steps=200)
    np.testing.assert_allclose(single.codes, batched.codes[1], atol=1e-5)


def test_latent_errors():
    structure = groups.torus(4, 2, 2)
    with pytest.raises(ValueError, match=r"code shape \(5,\); expected \(16,\)"):
        groups.latent_group_lasso(jnp.ones((3, 5)), jnp.ones(3), structure, 0.1, num_steps=1)
    tiny = groups.torus(4, 4, 2, sigma=0.05)  # the Gaussian underflows away from the centre
    with pytest.raises(ValueError, match="inner weights > 0"):
        groups.latent_group_lasso(jnp.ones((3, 16)), jnp.ones(3), tiny, 0.1, num_steps=1)
    with pytest.raises(TypeError, match="must be a GroupStructure"):
        groups.latent_group_lasso(jnp.ones((3, 16)), jnp.ones(3), [[0]], 0.1, num_steps=1)


def test_latent_nonneg_is_certified_and_nonnegative():
    structure, dictionary, signal = _torus_problem(seed=4)
    signal = -signal  # the unconstrained solution is mostly negative
    with enable_x64():
        free = groups.latent_group_lasso(
            jnp.asarray(dictionary), jnp.asarray(signal), structure, 0.05, tol=1e-9, max_steps=20000
        )
        result = groups.latent_group_lasso(
            jnp.asarray(dictionary),
            jnp.asarray(signal),
            structure,
            0.05,
            tol=1e-9,
            max_steps=20000,
            nonneg=True,
        )
    # The gap uses the dual gauge of the constrained problem, so it certifies optimality.
    assert float(result.criterion) <= 1e-9
    assert np.all(np.asarray(result.latent) >= 0)
    assert np.all(np.asarray(result.codes) >= 0)
    assert np.any(np.asarray(free.codes) < 0)


# ---------------------------------------------------------------------------
# Exact overlapping group lasso (primal-dual)


def test_overlapping_matches_group_lasso_on_disjoint_groups():
    structure = groups.from_labels(np.arange(12) // 3, weights=np.linspace(0.5, 1.5, 4))
    rng = np.random.default_rng(5)
    with enable_x64():
        dictionary = jnp.asarray(rng.normal(size=(10, 12)) / np.sqrt(10))
        signal = jnp.asarray(rng.normal(size=10))
        result = groups.overlapping_group_lasso(dictionary, signal, structure, 0.1, num_steps=20000)
        reference = sparse_jax.proximal_gradient(
            dictionary, signal, groups.group_lasso_penalty(structure, 0.1), num_steps=5000
        )
    np.testing.assert_allclose(result.codes, reference.codes, atol=1e-6)


@pytest.mark.parametrize("nonneg", [False, True])
def test_overlapping_torus_reaches_the_minimum(nonneg):
    structure, dictionary, signal = _torus_problem(seed=6)
    weight = 0.05

    def objective(z):
        residual = signal - dictionary @ z
        pools = np.asarray(structure.indices)
        return 0.5 * residual @ residual + weight * np.sum(np.linalg.norm(z[pools], axis=1))

    with enable_x64():
        result = groups.overlapping_group_lasso(
            jnp.asarray(dictionary),
            jnp.asarray(signal),
            structure,
            weight,
            num_steps=20000,
            nonneg=nonneg,
        )
    codes = np.asarray(result.codes)
    np.testing.assert_allclose(result.objective, objective(codes), rtol=1e-10)
    bounds = [(0, None)] * 16 if nonneg else None
    best = np.inf
    for start in (np.zeros(16), np.maximum(codes, 0) + 0.1, np.ones(16)):
        found = scipy.optimize.minimize(
            objective,
            start,
            method="Powell",
            bounds=bounds,
            options={"xtol": 1e-10, "ftol": 1e-12, "maxfev": 200000},
        )
        best = min(best, found.fun)
    assert objective(codes) <= best + 1e-8
    if nonneg:
        assert np.all(codes >= 0)
    # The dual variables certify the solution: each y_g lies in its ball.
    dual_norms = np.linalg.norm(np.asarray(result.dual), axis=0)
    assert np.all(dual_norms <= weight * (1 + 1e-9))


def test_overlapping_batch_matches_single_and_validates():
    structure, dictionary, signal = _torus_problem(seed=7)
    signals = jnp.stack([jnp.asarray(signal, jnp.float32)] * 2) * jnp.array([[1.0], [0.5]])
    batched = groups.overlapping_group_lasso(
        jnp.asarray(dictionary, jnp.float32), signals, structure, 0.05, num_steps=100
    )
    single = groups.overlapping_group_lasso(
        jnp.asarray(dictionary, jnp.float32), signals[1], structure, 0.05, num_steps=100
    )
    np.testing.assert_allclose(batched.codes[1], single.codes, atol=1e-5)
    with pytest.raises(ValueError, match=r"expected \(d, 16\)"):
        groups.overlapping_group_lasso(jnp.ones((3, 5)), jnp.ones(3), structure, 0.1, num_steps=1)
    with pytest.raises(ValueError, match="init has shape"):
        groups.overlapping_group_lasso(
            jnp.asarray(dictionary), signals, structure, 0.1, num_steps=1, init=jnp.zeros(16)
        )


def test_overlapping_rejects_bad_inputs_and_handles_zero_dictionary():
    structure = groups.torus(4, 2, 1)
    signal = jnp.ones(8)
    codes = groups.overlapping_group_lasso(
        jnp.zeros((8, 16)), signal, structure, 0.3, num_steps=20
    ).codes
    np.testing.assert_array_equal(codes, 0.0)
    dictionary = jnp.asarray(np.random.default_rng(0).normal(size=(8, 16)), jnp.float32)
    with pytest.raises(ValueError, match="signal contains NaN"):
        groups.overlapping_group_lasso(
            dictionary, signal.at[0].set(jnp.nan), structure, 0.3, num_steps=5
        )
    with pytest.raises(ValueError, match="lipschitz"):
        groups.overlapping_group_lasso(dictionary, signal, structure, 0.3, num_steps=5, lipschitz=0)
    with pytest.raises(TypeError, match="dense"):
        groups.overlapping_group_lasso(
            sparse_jax.dense_operator(dictionary), signal, structure, 0.3, num_steps=5
        )
    result = groups.overlapping_group_lasso(
        dictionary, signal, structure, 0.3, num_steps=np.int64(5)
    )
    assert result.codes.shape == (16,)
    traced = jax.jit(
        lambda w: groups.overlapping_group_lasso(dictionary, signal, structure, w, num_steps=5)
    )(-0.3)
    assert np.all(np.isnan(np.asarray(traced.codes)))
