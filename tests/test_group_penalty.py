"""Tests of the group sparsity penalty Ω(z) = Σ_g w_g sqrt(Σ_{i∈P_g} w_gi z_i²)."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from sparse_jax import groups
from sparse_jax._compat import enable_x64
from sparse_jax.energies import group_l2_penalty, group_norms

pytestmark = pytest.mark.usefixtures("strict_promotion")

BLOCKS = groups.from_labels(np.arange(400) // 4)  # 100 contiguous groups of 4


def _penalty_reference(codes, index_sets, weights, inner_weights=None):
    """Slow loop over groups and members, in float64."""
    total = 0.0
    for group, members in enumerate(index_sets):
        squares = 0.0
        for position, unit in enumerate(members):
            inner = 1.0 if inner_weights is None else inner_weights[group][position]
            squares += inner * float(codes[unit]) ** 2
        total += weights[group] * math.sqrt(squares)
    return total


def _torus_pools(side, pool, stride):
    """Pools of a side × side torus, written out independently of groups.torus."""
    pools = []
    for row in range(0, side, stride):
        for col in range(0, side, stride):
            pools.append(
                [
                    ((row + u) % side) * side + (col + v) % side
                    for u in range(pool)
                    for v in range(pool)
                ]
            )
    return pools


def _descendants(parents):
    subtrees = []
    for node in range(len(parents)):
        members = []
        for unit in range(len(parents)):
            ancestor = unit
            while ancestor >= 0 and ancestor != node:
                ancestor = parents[ancestor]
            if ancestor == node:
                members.append(unit)
        subtrees.append(members)
    return subtrees


# ---------------------------------------------------------------------------
# Values and gradients at known points


def test_zero_codes_give_zero_value_and_gradient():
    codes = jnp.zeros(400, jnp.float32)
    assert float(group_l2_penalty(codes, BLOCKS)) == 0.0
    gradient = jax.grad(group_l2_penalty)(codes, BLOCKS)
    np.testing.assert_array_equal(gradient, 0)


def test_one_active_group_value_and_gradient():
    codes = jnp.zeros(400, jnp.float32).at[:4].set(jnp.array([3.0, 4.0, 0.0, 0.0]))
    np.testing.assert_allclose(group_l2_penalty(codes, BLOCKS), 5.0, atol=1e-6)
    gradient = jax.grad(group_l2_penalty)(codes, BLOCKS)
    np.testing.assert_allclose(gradient[:4], [0.6, 0.8, 0.0, 0.0], atol=1e-6)
    np.testing.assert_array_equal(gradient[4:], 0)


def test_gradient_at_zero_under_debug_nans():
    def energy(codes):
        return group_l2_penalty(codes, BLOCKS) + 0.5 * jnp.sum(codes**2)

    with jax.debug_nans(True):
        gradient = jax.jit(jax.grad(energy))(jnp.zeros(400, jnp.float32))
        gradient.block_until_ready()
    assert bool(jnp.all(jnp.isfinite(gradient)))
    np.testing.assert_array_equal(gradient, 0)


@pytest.mark.parametrize(
    "build",
    [
        lambda: groups.torus(8, 4, 2, sigma=1.0),
        lambda: groups.tree([-1, 0, 0, 1, 1, 2, 2, -1]),
        lambda: groups.from_index_sets([[0, 1, 2], [2, 3], [3, 4, 5, 6, 7]], 8),
    ],
    ids=["torus", "tree", "overlapping"],
)
def test_gradient_zero_on_zero_groups_every_kind(build):
    structure = build()
    codes = jnp.zeros(structure.num_units, jnp.float32).at[0].set(2.0)
    gradient = jax.jit(jax.grad(group_l2_penalty))(codes, structure)
    assert bool(jnp.all(jnp.isfinite(gradient)))
    # Only groups that contain unit 0 are non-zero, and only z_0 is non-zero in them.
    np.testing.assert_array_equal(gradient[1:], 0)
    assert float(gradient[0]) > 0


# ---------------------------------------------------------------------------
# Slow NumPy references for every builder


def test_disjoint_from_labels_matches_reference():
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.arange(30) % 7)
    labels[:3] = -1
    weights = rng.uniform(0.1, 2.0, size=7)
    structure = groups.from_labels(labels, weights=weights)
    codes = rng.normal(size=30)
    index_sets = [np.flatnonzero(labels == group) for group in range(7)]
    expected = _penalty_reference(codes, index_sets, weights)
    result = group_l2_penalty(jnp.asarray(codes, jnp.float32), structure)
    np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_overlapping_matches_reference():
    rng = np.random.default_rng(1)
    index_sets = [rng.choice(20, size=rng.integers(1, 8), replace=False) for _ in range(9)]
    weights = rng.uniform(0.1, 2.0, size=9)
    structure = groups.from_index_sets(index_sets, 20, weights=weights)
    assert structure.kind == "overlapping"
    codes = rng.normal(size=20)
    expected = _penalty_reference(codes, index_sets, weights)
    result = group_l2_penalty(jnp.asarray(codes, jnp.float32), structure)
    np.testing.assert_allclose(result, expected, rtol=1e-6)


@pytest.mark.parametrize("sigma", [None, 1.5])
@pytest.mark.parametrize(("side", "pool", "stride"), [(12, 6, 2), (12, 6, 3), (8, 8, 4), (6, 3, 1)])
def test_torus_matches_reference(side, pool, stride, sigma):
    rng = np.random.default_rng(side + pool + stride)
    num_pools = (side // stride) ** 2
    weights = rng.uniform(0.1, 2.0, size=num_pools)
    structure = groups.torus(side, pool, stride, sigma=sigma, weights=weights)
    codes = rng.normal(size=side * side)
    inner = None
    if sigma is not None:
        centre = (pool - 1) / 2
        inner = [
            [
                math.exp(-((u - centre) ** 2 + (v - centre) ** 2) / (2 * sigma**2))
                for u in range(pool)
                for v in range(pool)
            ]
        ] * num_pools
    expected = _penalty_reference(codes, _torus_pools(side, pool, stride), weights, inner)
    result = group_l2_penalty(jnp.asarray(codes, jnp.float32), structure)
    np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_tree_matches_reference():
    rng = np.random.default_rng(2)
    parents = [-1, 0, 0, 1, 1, 2, 5, 5, -1, 8, 3]
    weights = rng.uniform(0.1, 2.0, size=11)
    structure = groups.tree(parents, weights=weights)
    codes = rng.normal(size=11)
    expected = _penalty_reference(codes, _descendants(parents), weights)
    result = group_l2_penalty(jnp.asarray(codes, jnp.float32), structure)
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    norms = group_norms(jnp.asarray(codes, jnp.float32), structure)
    heads = np.asarray(structure.indices[:, 0])
    for group, head in enumerate(heads):
        subtree = _descendants(parents)[head]
        np.testing.assert_allclose(norms[group], np.linalg.norm(codes[subtree]), rtol=1e-6)


# ---------------------------------------------------------------------------
# The torus and tree paths against the generic gather path


@pytest.mark.parametrize("sigma", [None, 2.0])
def test_torus_path_equals_gather_path(sigma):
    structure = groups.torus(16, 6, 2, sigma=sigma)
    # The same pools as a plain overlapping structure, which uses the gather path.
    generic = groups.from_index_sets(np.asarray(structure.indices), 256)
    generic = dataclasses.replace(generic, inner_weights=structure.inner_weights)
    assert generic.kind == "overlapping"
    codes = jnp.asarray(np.random.default_rng(3).normal(size=256), jnp.float32)
    np.testing.assert_allclose(
        group_norms(codes, structure), group_norms(codes, generic), rtol=1e-6
    )
    np.testing.assert_allclose(
        group_l2_penalty(codes, structure), group_l2_penalty(codes, generic), rtol=1e-6
    )
    np.testing.assert_allclose(
        jax.grad(group_l2_penalty)(codes, structure),
        jax.grad(group_l2_penalty)(codes, generic),
        rtol=1e-5,
        atol=1e-7,
    )


def test_torus_per_pool_inner_weights_honoured():
    structure = groups.torus(8, 4, 2, sigma=1.0)
    rng = np.random.default_rng(4)
    inner = jnp.asarray(rng.uniform(0.1, 1.0, size=structure.inner_weights.shape), jnp.float32)
    varied = dataclasses.replace(structure, inner_weights=inner)
    codes = rng.normal(size=64)
    expected = _penalty_reference(codes, _torus_pools(8, 4, 2), np.ones(16), np.asarray(inner))
    np.testing.assert_allclose(
        group_l2_penalty(jnp.asarray(codes, jnp.float32), varied), expected, rtol=1e-6
    )


def test_tree_penalty_same_with_heads_in_order():
    parents = [-1, 0, 0, 1, 1, 2, 5, 5, -1, 8, 3]
    new_parents, order = groups.deepest_first(parents)
    weights = np.linspace(0.5, 1.5, 11)
    codes = jnp.asarray(np.random.default_rng(8).normal(size=11), jnp.float32)
    general = group_l2_penalty(codes, groups.tree(parents, weights=weights))
    in_order = group_l2_penalty(codes[order], groups.tree(new_parents, weights=weights[order]))
    np.testing.assert_allclose(in_order, general, rtol=1e-6)


def test_tree_path_equals_gather_path():
    parents = [-1, 0, 0, 1, 1, 2, 5, 5, -1, 8, 3]
    structure = groups.tree(parents)
    generic = groups.from_index_sets(
        [np.asarray(structure.indices[g])[np.asarray(structure.mask[g])] for g in range(11)], 11
    )
    codes = jnp.asarray(np.random.default_rng(5).normal(size=11), jnp.float32)
    np.testing.assert_allclose(
        group_norms(codes, structure), group_norms(codes, generic), rtol=1e-6
    )


# ---------------------------------------------------------------------------
# Dtypes, batching and gradient checks


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
def test_low_precision_accumulates_in_float32(dtype):
    codes = jnp.zeros(400, dtype).at[:4].set(jnp.array([300, 400, 0, 0], dtype))
    codes = codes.at[4:8].set(jnp.array([0.03, 0.04, 0, 0], dtype))
    value = group_l2_penalty(codes, BLOCKS)
    assert value.dtype == dtype
    # 300² overflows float16; summed in float32 the value is 500.05.
    assert bool(jnp.isfinite(value))
    np.testing.assert_allclose(float(value), 500.05, rtol=1e-2)
    norms = group_norms(codes, BLOCKS)
    assert norms.dtype == dtype
    gradient = jax.grad(lambda z: group_l2_penalty(z, BLOCKS).astype(jnp.float32))(codes)
    assert gradient.dtype == dtype
    np.testing.assert_allclose(np.asarray(gradient[:2], np.float32), [0.6, 0.8], rtol=1e-2)


def test_float64_keeps_float64():
    with enable_x64():
        codes = jnp.ones(400, jnp.float64)
        value = group_l2_penalty(codes, BLOCKS)
        assert value.dtype == jnp.float64
        np.testing.assert_allclose(value, 200.0, rtol=1e-15)


def test_batched_with_vmap_and_jit():
    rng = np.random.default_rng(6)
    batch = jnp.asarray(rng.normal(size=(5, 400)), jnp.float32)
    mapped = jax.jit(jax.vmap(lambda z: group_l2_penalty(z, BLOCKS)))(batch)
    for row in range(5):
        np.testing.assert_allclose(mapped[row], group_l2_penalty(batch[row], BLOCKS), rtol=1e-6)


@pytest.mark.parametrize(
    "build",
    [
        lambda: groups.from_labels(np.arange(12) // 3, weights=[1.0, 0.5, 2.0, 1.5]),
        lambda: groups.from_index_sets([[0, 1, 2, 3], [3, 4, 5], [5, 6, 7, 0], [8, 9, 10, 11]], 12),
        lambda: groups.torus(6, 4, 2, sigma=1.2),
        lambda: groups.torus(6, 2, 1),
        lambda: groups.tree([-1, 0, 0, 1, 1, 2, 2, 3, 3, -1, 9, 9]),
    ],
    ids=["disjoint", "overlapping", "torus-sigma", "torus", "tree"],
)
def test_gradients_float64(build):
    structure = build()
    with enable_x64():
        codes = jnp.asarray(np.random.default_rng(7).normal(size=structure.num_units))
        check_grads(
            jax.jit(lambda z: group_l2_penalty(z, structure)),
            (codes,),
            order=2,
            modes=("fwd", "rev"),
        )


@pytest.mark.parametrize(
    "build",
    [
        lambda: groups.from_labels(np.arange(12) // 3, weights=[1.0, 0.5, 2.0, 1.5]),
        lambda: groups.torus(6, 4, 2, sigma=1.2),
        lambda: groups.tree([-1, 0, 0, 1, 1, 2, 2, 3, 3, -1, 9, 9]),
    ],
    ids=["disjoint", "torus-sigma", "tree"],
)
def test_weight_gradients_float64(build):
    structure = build()
    with enable_x64():
        rng = np.random.default_rng(9)
        codes = jnp.asarray(rng.normal(size=structure.num_units))
        weights = jnp.asarray(rng.uniform(0.5, 2.0, size=structure.num_groups))

        def penalty(z, w):
            return group_l2_penalty(z, dataclasses.replace(structure, weights=w))

        check_grads(jax.jit(penalty), (codes, weights), order=1, modes=("fwd", "rev"))
        if structure.inner_weights is not None:
            inner = jnp.asarray(structure.inner_weights, jnp.float64)

            def inner_penalty(v):
                return group_l2_penalty(codes, dataclasses.replace(structure, inner_weights=v))

            check_grads(jax.jit(inner_penalty), (inner,), order=1, modes=("fwd", "rev"))


def test_penalty_errors():
    with pytest.raises(ValueError, match=r"codes has shape \(399,\); expected \(400,\)"):
        group_l2_penalty(jnp.zeros(399), BLOCKS)
    with pytest.raises(ValueError, match=r"codes has shape \(2, 400\)"):
        group_norms(jnp.zeros((2, 400)), BLOCKS)
    with pytest.raises(TypeError, match="floating dtype"):
        group_l2_penalty(jnp.zeros(400, jnp.int32), BLOCKS)
    with pytest.raises(TypeError, match="must be a GroupStructure"):
        group_l2_penalty(jnp.zeros(400), {"indices": BLOCKS.indices})


@pytest.mark.parametrize(
    "structure",
    [
        groups.from_labels(np.arange(16) // 4),
        groups.torus(4, 2, 1),
        groups.torus(4, 2, 1, sigma=1.0),
        groups.tree(np.r_[-1, np.zeros(15, int)]),
        groups.from_index_sets([[0, 1, 2], [2, 3], list(range(4, 16))], 16),
    ],
)
def test_nan_codes_give_nan_penalty(structure):
    codes = jnp.ones(16).at[0].set(jnp.nan)
    assert np.isnan(float(group_l2_penalty(codes, structure)))
    assert np.isnan(np.asarray(group_norms(codes, structure))).any()
