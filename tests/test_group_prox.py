"""Tests of the group soft threshold and the tree-structured proximal operator."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from sparse_jax import groups
from sparse_jax._compat import enable_x64
from sparse_jax.prox import group_soft_threshold, tree_prox

pytestmark = pytest.mark.usefixtures("strict_promotion")

BLOCKS_OF_FOUR = groups.from_labels(np.arange(8) // 4)


# ---------------------------------------------------------------------------
# Group soft threshold


def test_group_soft_threshold_known_values():
    values = jnp.array([0, 0, 0, 0, 3, 4, 0, 0], jnp.float32)
    result = group_soft_threshold(values, BLOCKS_OF_FOUR, 1.0)
    np.testing.assert_allclose(result, [0, 0, 0, 0, 2.4, 3.2, 0, 0], atol=1e-6)


def test_group_at_or_below_threshold_is_zero():
    values = jnp.array([0.3, 0.4, 0, 0, 0.6, 0.8, 0, 0], jnp.float32)
    result = group_soft_threshold(values, BLOCKS_OF_FOUR, 1.0)
    np.testing.assert_array_equal(result, 0)


def test_tiny_float32_group_is_zero_and_finite():
    # 1e-30² underflows to 0 in float32, so the norm reads 0.
    values = jnp.full(8, 1e-30, jnp.float32)
    result = group_soft_threshold(values, BLOCKS_OF_FOUR, 1.0)
    np.testing.assert_array_equal(result, 0)
    gradient = jax.grad(lambda v: jnp.sum(group_soft_threshold(v, BLOCKS_OF_FOUR, 1.0)))(values)
    assert bool(jnp.all(jnp.isfinite(gradient)))
    np.testing.assert_array_equal(gradient, 0)


def test_gradient_zero_on_zeroed_groups():
    values = jnp.array([0, 0, 0, 0, 3, 4, 0, 0], jnp.float32)

    def total(v):
        return jnp.sum(group_soft_threshold(v, BLOCKS_OF_FOUR, 1.0) * jnp.arange(8.0))

    gradient = jax.jit(jax.grad(total))(values)
    assert bool(jnp.all(jnp.isfinite(gradient)))
    np.testing.assert_array_equal(gradient[:4], 0)
    assert float(jnp.max(jnp.abs(gradient[4:]))) > 0


def test_zero_threshold_is_identity():
    values = jnp.array([1e-30, 2e-30, 0, 0, 3, -4, 0, 1], jnp.float32)
    np.testing.assert_array_equal(group_soft_threshold(values, BLOCKS_OF_FOUR, 0.0), values)


def _group_soft_threshold_reference(values, labels, weights, threshold):
    result = np.array(values, np.float64)
    for group, weight in enumerate(weights):
        members = labels == group
        norm = np.sqrt(np.sum(result[members] ** 2))
        factor = max(0.0, 1 - threshold * weight / norm) if norm > 0 else 0.0
        result[members] *= factor
    return result


def test_group_soft_threshold_matches_numpy():
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(np.arange(12), rng.integers(1, 6, size=12)))
    labels[rng.choice(labels.size, 5, replace=False)] = -1  # units in no group
    labels = _relabel_without_gaps(labels)
    num_groups = labels.max() + 1
    weights = rng.uniform(0.2, 2.0, size=num_groups)
    values = rng.normal(size=labels.size)
    structure = groups.from_labels(labels, weights=weights)
    expected = _group_soft_threshold_reference(values, labels, weights, 0.8)
    result = group_soft_threshold(jnp.asarray(values, jnp.float32), structure, 0.8)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
    free = labels == -1
    np.testing.assert_array_equal(np.asarray(result)[free], values[free].astype(np.float32))
    assert 0 < np.count_nonzero(np.asarray(result)[~free]) < np.count_nonzero(~free)


def _relabel_without_gaps(labels):
    used = np.unique(labels[labels >= 0])
    mapping = {old: new for new, old in enumerate(used)}
    return np.array([mapping.get(label, -1) for label in labels])


def test_group_soft_threshold_jit_vmap_traced_threshold():
    rng = np.random.default_rng(1)
    batch = jnp.asarray(rng.normal(size=(5, 8)), jnp.float32)
    thresholds = jnp.array([0.0, 0.5, 1.0, 2.0, 10.0], jnp.float32)
    mapped = jax.jit(
        jax.vmap(lambda v, t: group_soft_threshold(v, BLOCKS_OF_FOUR, t)), static_argnums=()
    )(batch, thresholds)
    for row in range(5):
        single = group_soft_threshold(batch[row], BLOCKS_OF_FOUR, float(thresholds[row]))
        np.testing.assert_allclose(mapped[row], single, rtol=1e-6)
    np.testing.assert_array_equal(mapped[4], 0)


def test_traced_negative_threshold_gives_nan():
    values = jnp.ones(8, jnp.float32)
    result = jax.jit(lambda t: group_soft_threshold(values, BLOCKS_OF_FOUR, t))(jnp.float32(-1))
    assert bool(jnp.all(jnp.isnan(result)))


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_group_soft_threshold_low_precision(dtype):
    # 300² overflows float16; the norms accumulate in float32.
    values = jnp.array([300, 400, 0, 0, 0.3, 0.4, 0, 0], dtype)
    result = group_soft_threshold(values, BLOCKS_OF_FOUR, 100.0)
    assert result.dtype == dtype
    np.testing.assert_allclose(
        np.asarray(result, np.float32), [240, 320, 0, 0, 0, 0, 0, 0], rtol=1e-2
    )


def test_uniform_inner_weights_fold_into_outer():
    inner = jnp.where(BLOCKS_OF_FOUR.mask, jnp.array([[4.0], [0.25]]), 0)
    weighted = dataclasses.replace(BLOCKS_OF_FOUR, inner_weights=inner)
    folded = groups.from_labels(np.arange(8) // 4, weights=[2.0, 0.5])
    values = jnp.arange(8, dtype=jnp.float32)
    np.testing.assert_allclose(
        group_soft_threshold(values, weighted, 1.0),
        group_soft_threshold(values, folded, 1.0),
        rtol=1e-6,
    )


def test_group_soft_threshold_errors():
    values = jnp.ones(8, jnp.float32)
    with pytest.raises(ValueError, match="needs disjoint groups, got kind 'overlapping'"):
        group_soft_threshold(values, groups.from_index_sets([[0, 1], [1, 2]], 8), 1.0)
    with pytest.raises(ValueError, match="got kind 'torus'"):
        group_soft_threshold(jnp.ones(16), groups.torus(4, 2, 2), 1.0)
    with pytest.raises(ValueError, match="got kind 'tree'"):
        group_soft_threshold(values, groups.tree([-1, 0, 0, 1, 1, 2, 2, 3]), 1.0)
    uneven = jnp.where(BLOCKS_OF_FOUR.mask, jnp.arange(1.0, 9.0).reshape(2, 4), 0)
    with pytest.raises(ValueError, match="group 0 has non-uniform inner weights"):
        group_soft_threshold(values, dataclasses.replace(BLOCKS_OF_FOUR, inner_weights=uneven), 1.0)
    with pytest.raises(ValueError, match="threshold must be non-negative"):
        group_soft_threshold(values, BLOCKS_OF_FOUR, -1.0)
    with pytest.raises(ValueError, match="threshold must be a scalar"):
        group_soft_threshold(values, BLOCKS_OF_FOUR, jnp.ones(2))
    with pytest.raises(ValueError, match=r"values has shape \(7,\); expected \(8,\)"):
        group_soft_threshold(jnp.ones(7), BLOCKS_OF_FOUR, 1.0)
    with pytest.raises(TypeError, match="floating dtype"):
        group_soft_threshold(jnp.ones(8, jnp.int32), BLOCKS_OF_FOUR, 1.0)
    with pytest.raises(TypeError, match="must be a GroupStructure"):
        group_soft_threshold(values, np.arange(8) // 4, 1.0)


def test_traced_inner_weights_raise():
    inner = BLOCKS_OF_FOUR.mask.astype(jnp.float32)

    def apply(inner):
        structure = dataclasses.replace(BLOCKS_OF_FOUR, inner_weights=inner)
        return group_soft_threshold(jnp.ones(8, jnp.float32), structure, 1.0)

    with pytest.raises(ValueError, match="cannot check traced inner weights"):
        jax.jit(apply)(inner)


def test_group_soft_threshold_gradients_float64():
    with enable_x64():
        structure = groups.from_labels(np.arange(12) // 3, weights=[1.0, 0.5, 2.0, 1.0])
        rng = np.random.default_rng(2)
        # Norms 0.69, 3.24, 0.89, 1.17 against thresholds 0.8, 0.4, 1.6, 0.8: two groups
        # are zeroed and two shrunk, each at least 0.1 away from the kink at ‖v_g‖ = θ w_g.
        values = jnp.asarray(rng.normal(size=12))
        check_grads(
            jax.jit(lambda v, t: group_soft_threshold(v, structure, t)),
            (values, jnp.float64(0.8)),
            order=1,
            modes=("fwd", "rev"),
        )


# ---------------------------------------------------------------------------
# Tree prox


def _random_forest(rng, num_nodes):
    """Parents of a random forest whose node numbers are shuffled."""
    # Node i > 0 hangs below a random earlier node, or is a root with probability 1/(i + 1).
    parents = np.array([-1] + [int(rng.integers(-1, node)) for node in range(1, num_nodes)])
    relabel = rng.permutation(num_nodes)
    shuffled = np.full(num_nodes, -1)
    for node, parent in enumerate(parents):
        shuffled[relabel[node]] = relabel[parent] if parent >= 0 else -1
    return shuffled


def _subtrees(parents):
    children = [[] for _ in parents]
    for node, parent in enumerate(parents):
        if parent >= 0:
            children[parent].append(node)

    def collect(node):
        members = [node]
        for child in children[node]:
            members.extend(collect(child))
        return members

    return [collect(node) for node in range(len(parents))]


def _depths(parents):
    depths = []
    for node in range(len(parents)):
        depth = 0
        while parents[node] >= 0:
            node = parents[node]
            depth += 1
        depths.append(depth)
    return np.array(depths)


def _tree_prox_reference(values, parents, weights, threshold):
    """Group soft thresholds, deepest node first, each from recomputed norms.

    Returns the prox and the amount ξ_g that each group's step removed.
    """
    subtrees = _subtrees(parents)
    result = np.array(values, np.float64)
    removed = {}
    for node in np.argsort(-_depths(parents), kind="stable"):
        members = subtrees[node]
        norm = np.linalg.norm(result[members])
        bound = threshold * weights[node]
        factor = max(0.0, 1 - bound / norm) if norm > 0 else 0.0
        step = np.zeros_like(result)
        step[members] = (1 - factor) * result[members]
        result[members] *= factor
        removed[node] = step
    return result, removed


def _tree_prox_dual(values, parents, weights, threshold, num_sweeps=3000):
    """Block coordinate ascent on the dual of the tree prox.

    The dual is min over ξ_g (supported on subtree g, ‖ξ_g‖ ≤ θ w_g) of
    ½‖v − Σ_g ξ_g‖², and u = v − Σ_g ξ_g. Returns the dual objective
    ½‖v‖² − ½‖v − Σ ξ_g‖², a lower bound on the primal minimum.
    """
    subtrees = _subtrees(parents)
    xi = [np.zeros(len(members)) for members in subtrees]
    residual = np.array(values, np.float64)
    for _ in range(num_sweeps):
        for node, members in enumerate(subtrees):
            target = xi[node] + residual[members]
            bound = threshold * weights[node]
            norm = np.linalg.norm(target)
            updated = target * (bound / norm) if norm > bound else target
            residual[members] += xi[node] - updated
            xi[node] = updated
    return 0.5 * np.sum(values**2) - 0.5 * np.sum(residual**2)


def _tree_objective(u, values, parents, weights, threshold):
    penalty = sum(
        weights[node] * np.linalg.norm(u[members])
        for node, members in enumerate(_subtrees(parents))
    )
    return 0.5 * np.sum((u - values) ** 2) + threshold * penalty


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tree_prox_matches_sequential_reference(seed):
    rng = np.random.default_rng(seed)
    parents = _random_forest(rng, 12)
    # Structures store float32 weights; the reference uses the same values.
    weights = rng.uniform(0.3, 1.5, size=12).astype(np.float32).astype(np.float64)
    values = rng.normal(size=12) * 1.5
    structure = groups.tree(parents, weights=weights)
    with enable_x64():
        result = np.asarray(tree_prox(jnp.asarray(values), structure, 0.6))
    expected, _ = _tree_prox_reference(values, parents, weights, 0.6)
    np.testing.assert_allclose(result, expected, rtol=1e-12, atol=1e-12)
    assert 0 < np.count_nonzero(result) < 12


@pytest.mark.parametrize("seed", [3, 4])
def test_tree_prox_is_the_minimiser(seed):
    rng = np.random.default_rng(seed)
    parents = _random_forest(rng, 9)
    weights = rng.uniform(0.3, 1.5, size=9).astype(np.float32).astype(np.float64)
    values = rng.normal(size=9) * 1.5
    threshold = 0.4
    structure = groups.tree(parents, weights=weights)
    with enable_x64():
        result = np.asarray(tree_prox(jnp.asarray(values), structure, threshold))

    # Duality gap against an independent dual solver certifies optimality.
    primal = _tree_objective(result, values, parents, weights, threshold)
    dual = _tree_prox_dual(values, parents, weights, threshold)
    assert dual <= primal + 1e-12
    assert primal - dual < 1e-9

    # KKT: v − u = Σ_g ξ_g with ξ_g = θ w_g u_g/‖u_g‖ where u_g ≠ 0, ‖ξ_g‖ ≤ θ w_g otherwise.
    _, removed = _tree_prox_reference(values, parents, weights, threshold)
    np.testing.assert_allclose(values - result, sum(removed.values()), atol=1e-12)
    for node, members in enumerate(_subtrees(parents)):
        xi = removed[node][members]
        bound = threshold * weights[node]
        norm = np.linalg.norm(result[members])
        if norm > 0:
            np.testing.assert_allclose(xi, bound * result[members] / norm, atol=1e-10)
        else:
            assert np.linalg.norm(xi) <= bound + 1e-12


def test_tree_prox_same_with_heads_in_order():
    rng = np.random.default_rng(6)
    parents = _random_forest(rng, 20)
    new_parents, order = groups.deepest_first(parents)
    weights = rng.uniform(0.3, 1.5, size=20)
    general = groups.tree(parents, weights=weights)
    in_order = groups.tree(new_parents, weights=weights[order])
    assert in_order.heads_in_order and not general.heads_in_order
    values = jnp.asarray(rng.normal(size=20), jnp.float32)
    expected = tree_prox(values, general, 0.5)
    np.testing.assert_allclose(tree_prox(values[order], in_order, 0.5), expected[order], rtol=1e-6)


def test_tree_prox_threshold_extremes():
    structure = groups.tree([-1, 0, 0, 1, 1, 2, -1, 6])
    values = jnp.array([1.0, -2.0, 3.0, 0.5, 1e-30, -1.0, 2.0, 0.0], jnp.float32)
    np.testing.assert_array_equal(tree_prox(values, structure, 0.0), values)
    np.testing.assert_array_equal(tree_prox(values, structure, 100.0), 0)


def test_tree_prox_chain_and_single_nodes():
    # On separate roots the tree prox is the scalar soft threshold.
    singles = groups.tree([-1, -1, -1])
    values = jnp.array([2.0, -0.5, -3.0], jnp.float32)
    np.testing.assert_allclose(tree_prox(values, singles, 1.0), [1.0, 0.0, -2.0])
    chain = groups.tree([-1, 0, 1])
    expected, _ = _tree_prox_reference(np.asarray(values), [-1, 0, 1], np.ones(3), 1.0)
    np.testing.assert_allclose(tree_prox(values, chain, 1.0), expected, rtol=1e-6)


def test_tree_prox_gradient_at_zeroed_subtree():
    structure = groups.tree([-1, 0, 0, 1, 1, 2, 2])
    values = jnp.array([2.0, 0.0, 3.0, 0.0, 0.0, 1.0, -2.0], jnp.float32)

    def total(v):
        return jnp.sum(tree_prox(v, structure, 0.5) * jnp.arange(1.0, 8.0))

    gradient = jax.jit(jax.grad(total))(values)
    assert bool(jnp.all(jnp.isfinite(gradient)))
    np.testing.assert_array_equal(gradient[np.array([1, 3, 4])], 0)


def test_tree_prox_gradients_float64():
    with enable_x64():
        parents = [-1, 0, 0, 1, 1, 2]
        structure = groups.tree(parents, weights=[1.0, 0.5, 0.7, 0.3, 0.4, 0.6])
        # Leaf 3 (0.03 against 0.09) is zeroed; every other group norm is at least
        # 0.7 above its threshold θ w_g.
        values = jnp.array([1.5, -2.0, 1.0, 0.03, -1.2, 0.9])
        check_grads(
            jax.jit(lambda v, t: tree_prox(v, structure, t)),
            (values, jnp.float64(0.3)),
            order=1,
            modes=("fwd", "rev"),
        )


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_tree_prox_low_precision(dtype):
    structure = groups.tree([-1, 0, 0])
    values = jnp.array([300.0, 400.0, 0.0], dtype)
    result = tree_prox(values, structure, 10.0)
    assert result.dtype == dtype
    with enable_x64():
        expected = tree_prox(jnp.array([300.0, 400.0, 0.0]), structure, 10.0)
    np.testing.assert_allclose(np.asarray(result, np.float32), expected, rtol=1e-2)


def test_tree_prox_vmap_jit():
    structure = groups.tree([-1, 0, 0, 1, 1, 2, 2])
    batch = jnp.asarray(np.random.default_rng(5).normal(size=(4, 7)), jnp.float32)
    mapped = jax.jit(jax.vmap(lambda v: tree_prox(v, structure, 0.5)))(batch)
    for row in range(4):
        np.testing.assert_allclose(mapped[row], tree_prox(batch[row], structure, 0.5), rtol=1e-6)


def test_tree_prox_errors():
    with pytest.raises(ValueError, match="needs a tree structure"):
        tree_prox(jnp.ones(8), BLOCKS_OF_FOUR, 1.0)
    structure = groups.tree([-1, 0, 0])
    with pytest.raises(ValueError, match="does not support inner weights"):
        tree_prox(
            jnp.ones(3),
            dataclasses.replace(structure, inner_weights=structure.mask.astype(jnp.float32)),
            1.0,
        )
    with pytest.raises(ValueError, match="threshold must be non-negative"):
        tree_prox(jnp.ones(3), structure, -0.5)
    with pytest.raises(ValueError, match=r"values has shape \(4,\); expected \(3,\)"):
        tree_prox(jnp.ones(4), structure, 0.5)
