"""Group structures for group, tree and topographic sparsity, and their solvers.

A :class:`GroupStructure` describes groups P_1, …, P_G of code units, each
with an outer weight w_g and optional inner weights w_gi, for the penalty

    Ω(z) = Σ_g w_g sqrt(Σ_{i∈P_g} w_gi z_i²)

(:func:`sparse_jax.energies.group_l2_penalty`). It is a pytree: its arrays
are leaves, so a structure passes through ``jit`` and ``vmap`` and its
weights can be swept without recompiling (``dataclasses.replace(groups,
weights=w)`` inside the traced function), while the kind and the geometry
are static. Four builders validate their input and return one:

* :func:`from_labels`: disjoint groups from one group id per unit;
* :func:`from_index_sets`: any list of groups, overlapping or not;
* :func:`torus`: overlapping square pools on a 2-D torus (topographic maps);
* :func:`tree`: one group per node of a forest, containing the node and
  its descendants (hierarchical sparsity).

The solver-facing functions at the end of the module build
:class:`sparse_jax.Penalty` objects for group and tree lasso coding with
:func:`sparse_jax.proximal_gradient`, and solve the latent group lasso for
overlapping groups.
"""

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class GroupStructure:
    """Groups of code units with their weights, padded to a common size.

    Array fields are pytree leaves; the others are static (part of the jit
    cache key). G is ``num_groups``, m ``max_group_size``, k ``num_units``.

    Attributes:
      indices: (G, m) int32, the units of group g in ``indices[g, :size_g]``
        and 0 on the padding. In a tree the node that heads the group comes
        first, ``indices[g, 0]``.
      mask: (G, m) bool, True on the units of each group, False on padding.
      weights: (G,) float32, the outer weights w_g ≥ 0.
      inner_weights: (G, m) float32 inner weights w_gi (0 on padding), or
        None for w_gi = 1. :func:`torus` gives every pool the same profile,
        but any values are allowed.
      unit_groups: (k,) int32. For "disjoint", the group that contains unit i,
        or G when no group does. For "tree", the group that unit i heads, its
        smallest group. For "overlapping" and "torus", G everywhere (unused).
      parent_groups: (G,) int32, for "tree" the position of the parent node's
        group, −1 for a root; −1 everywhere for the other kinds.
      children: for "tree", one (B_l, n_l) int32 array per level l ≥ 1 (see
        ``level_bounds``): column p lists the positions, relative to the
        start of level l − 1, of the children of the p-th group of level l,
        padded with n_{l−1}, the size of level l − 1. Empty for other kinds.
      kind: "disjoint" (pairwise disjoint groups), "tree", "overlapping" or
        "torus".
      num_units: k, the length of the code vectors the structure applies to.
      side, pool_size, stride: torus geometry, None for the other kinds.
      level_bounds: group positions where each level starts, then G. A tree
        orders its groups deepest node first, so level l contains the groups
        ``level_bounds[l]:level_bounds[l + 1]``, whose heads all have depth
        (max depth − l). Other kinds have one level, ``(0, G)``.
      heads_in_order: True for a tree whose group g is headed by unit g,
        with nodes numbered deepest first (see :func:`deepest_first`). The
        tree prox and penalty then skip a permutation of the codes on the way
        in and out.
    """

    indices: jax.Array
    mask: jax.Array
    weights: jax.Array
    inner_weights: jax.Array | None
    unit_groups: jax.Array
    parent_groups: jax.Array
    children: tuple[jax.Array, ...]
    kind: str
    num_units: int
    side: int | None = None
    pool_size: int | None = None
    stride: int | None = None
    level_bounds: tuple[int, ...] = ()
    heads_in_order: bool = False

    @property
    def num_groups(self) -> int:
        """G, the number of groups."""
        return self.indices.shape[0]

    @property
    def max_group_size(self) -> int:
        """m, the size of the largest group (the padded width)."""
        return self.indices.shape[1]


jax.tree_util.register_dataclass(
    GroupStructure,
    data_fields=[
        "indices",
        "mask",
        "weights",
        "inner_weights",
        "unit_groups",
        "parent_groups",
        "children",
    ],
    meta_fields=[
        "kind",
        "num_units",
        "side",
        "pool_size",
        "stride",
        "level_bounds",
        "heads_in_order",
    ],
)


# ---------------------------------------------------------------------------
# Builders


def from_labels(labels, *, weights=None) -> GroupStructure:
    """Builds disjoint groups from one group id per unit.

    Unit i belongs to group ``labels[i]``; the units of a group need not be
    contiguous. A label of −1 leaves the unit in no group: the penalty
    ignores it and the group soft threshold returns it unchanged.

    Args:
      labels: (k,) integers in [−1, G), where every id in [0, G) is used.
      weights: (G,) outer weights w_g ≥ 0, ones by default.

    Returns:
      A "disjoint" :class:`GroupStructure` over k units whose group g
      contains the units with label g in increasing order.

    Raises:
      ValueError: labels is not a non-empty 1-D integer array, a label is
        below −1, an id in [0, G) is unused (an empty group), or the weights
        are invalid.
    """
    labels = _as_int_array(labels, "labels")
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    if np.any(labels < -1):
        bad = int(np.flatnonzero(labels < -1)[0])
        raise ValueError(
            f"labels[{bad}] = {int(labels[bad])}; expected a group id >= 0, or -1 for no group"
        )
    if np.all(labels == -1):
        raise ValueError("labels are all -1; expected at least one unit in a group")

    num_groups = int(labels.max()) + 1
    counts = np.bincount(labels[labels >= 0], minlength=num_groups)
    if np.any(counts == 0):
        empty = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(
            f"group {empty} has no units: labels use ids up to {num_groups - 1} but not "
            f"{empty}; number the groups 0, 1, …, G-1 without gaps"
        )
    index_sets = [np.flatnonzero(labels == group) for group in range(num_groups)]
    return _build(index_sets, labels.size, weights, kind="disjoint")


def from_index_sets(index_sets: Sequence, num_units: int, *, weights=None) -> GroupStructure:
    """Builds groups from explicit lists of unit indices; groups may overlap.

    Args:
      index_sets: G sequences of unit indices in [0, num_units); group g is
        ``index_sets[g]`` in the given order.
      num_units: k, the length of the codes.
      weights: (G,) outer weights w_g ≥ 0, ones by default.

    Returns:
      A :class:`GroupStructure` of kind "disjoint" when the groups are
      pairwise disjoint (they need not cover every unit), else "overlapping".

    Raises:
      ValueError: no groups, an empty group, an index out of range, a unit
        listed twice in one group, or invalid weights.
    """
    num_units = _positive_int(num_units, "num_units")
    index_sets = list(index_sets)
    if not index_sets:
        raise ValueError("index_sets is empty; expected at least one group")

    checked = []
    for position, members in enumerate(index_sets):
        name = f"index_sets[{position}]"
        members = _as_int_array(members, name)
        if members.ndim != 1:
            raise ValueError(
                f"{name} must be a 1-D list of unit indices, got shape {members.shape}"
            )
        if members.size == 0:
            raise ValueError(f"{name} is empty; every group needs at least one unit")
        outside = (members < 0) | (members >= num_units)
        if np.any(outside):
            bad = int(members[np.flatnonzero(outside)[0]])
            raise ValueError(f"{name} contains {bad}, outside [0, num_units={num_units})")
        unique, counts = np.unique(members, return_counts=True)
        if np.any(counts > 1):
            repeated = int(unique[np.flatnonzero(counts > 1)[0]])
            raise ValueError(f"{name} contains unit {repeated} more than once")
        checked.append(members)

    memberships = np.bincount(np.concatenate(checked), minlength=num_units)
    kind = "disjoint" if np.all(memberships <= 1) else "overlapping"
    return _build(checked, num_units, weights, kind=kind)


def torus(
    side: int, pool_size: int, stride: int, *, sigma: float | None = None, weights=None
) -> GroupStructure:
    """Builds overlapping square pools on a side × side torus.

    Unit ``row * side + col`` sits at (row, col). Pool (a, b), at position
    ``a * (side // stride) + b``, covers the pool_size × pool_size square whose
    corner is (a·stride, b·stride), wrapping around both edges, so every unit
    lies in (pool_size / stride)² pools. Members are listed row by row:
    member ``u * pool_size + v`` is unit ((a·stride + u) mod side,
    (b·stride + v) mod side).

    With ``sigma`` the inner weights are the Gaussian profile

        w_uv = exp(−((u − c)² + (v − c)²) / (2 σ²)),   c = (pool_size − 1) / 2,

    centred on the pool centre and equal to 1 there for odd pool sizes (not
    normalised); without it every w_uv is 1.

    Args:
      side: s, the side of the map; k = s² units.
      pool_size: p ≤ s, a multiple of ``stride``.
      stride: r, which divides s.
      sigma: σ > 0, width of the Gaussian inner weights, or None.
      weights: (G,) outer weights w_g ≥ 0 with G = (s / r)², ones by default.

    Returns:
      A "torus" :class:`GroupStructure`.

    Raises:
      ValueError: non-positive sizes, pool_size > side, side or pool_size not
        a multiple of stride, sigma not positive and finite, invalid weights.
    """
    side = _positive_int(side, "side")
    pool_size = _positive_int(pool_size, "pool_size")
    stride = _positive_int(stride, "stride")
    if pool_size > side:
        raise ValueError(
            f"pool_size={pool_size} is larger than side={side}; a pool would contain "
            "a unit twice. Expected pool_size <= side"
        )
    if side % stride:
        raise ValueError(
            f"side={side} is not a multiple of stride={stride}; the pools would not tile "
            "the torus evenly"
        )
    if pool_size % stride:
        raise ValueError(
            f"pool_size={pool_size} is not a multiple of stride={stride}; units would lie "
            "in different numbers of pools"
        )
    if sigma is not None and not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be positive and finite, got {sigma}")

    pools_per_side = side // stride
    offsets = np.arange(pool_size)
    starts = np.arange(pools_per_side) * stride
    rows = (starts[:, None, None, None] + offsets[None, None, :, None]) % side
    cols = (starts[None, :, None, None] + offsets[None, None, None, :]) % side
    indices = (rows * side + cols).reshape(pools_per_side**2, pool_size**2)

    inner_weights = None
    if sigma is not None:
        centre = (pool_size - 1) / 2
        profile = np.exp(-((offsets - centre) ** 2) / (2 * float(sigma) ** 2))
        kernel = (profile[:, None] * profile[None, :]).reshape(-1)
        inner_weights = np.broadcast_to(kernel, indices.shape)

    return _build(
        list(indices),
        side * side,
        weights,
        kind="torus",
        inner_weights=inner_weights,
        geometry=(side, pool_size, stride),
    )


def tree(parents, *, weights=None) -> GroupStructure:
    """Builds tree-structured groups: one group per node, the node and its descendants.

    ``parents[i]`` is the parent of node (unit) i, or −1 for a root, so a
    forest of several trees is allowed. The groups are ordered deepest head
    first (ties by node index), the order in which :func:`tree_prox` applies
    them. ``indices[g, 0]`` is the head of group g, and ``unit_groups[i]`` is
    the group headed by node i.

    The padded ``indices`` and ``mask`` take k × (largest subtree) entries,
    k² for a single tree, but :func:`sparse_jax.prox.tree_prox` and the tree
    path of :func:`sparse_jax.energies.group_l2_penalty` read only the heads
    and the per-level child tables.

    Args:
      parents: (k,) integers in [−1, k).
      weights: (k,) outer weights ≥ 0 indexed by node: ``weights[i]`` is the
        weight of the group headed by node i. Ones by default.

    Returns:
      A "tree" :class:`GroupStructure` with G = k groups.

    Raises:
      ValueError: parents is not a non-empty 1-D integer array, a parent is
        out of range, the parents contain a cycle (a node its own ancestor),
        or the weights are invalid.
    """
    parents = _check_parents(parents)
    num_nodes = parents.size
    depth = _node_depths(parents)

    children_of: list[list[int]] = [[] for _ in range(num_nodes)]
    for node in range(num_nodes):
        if parents[node] >= 0:
            children_of[parents[node]].append(node)
    subtrees = _subtree_members(parents, children_of)

    order = _deepest_first_order(depth)
    position = np.empty(num_nodes, np.int64)
    position[order] = np.arange(num_nodes)
    max_depth = int(depth.max())
    level_sizes = np.bincount(max_depth - depth, minlength=max_depth + 1)
    level_bounds = (0, *np.cumsum(level_sizes).tolist())

    if weights is not None:
        weights = _check_weights(weights, num_nodes, "weights")[order]
    parent_groups = np.where(parents[order] >= 0, position[np.maximum(parents[order], 0)], -1)

    children_tables = []
    for level in range(1, max_depth + 1):
        start, stop = level_bounds[level], level_bounds[level + 1]
        child_start = level_bounds[level - 1]
        child_count = level_bounds[level] - child_start
        lists = [
            [position[child] - child_start for child in children_of[node]]
            for node in order[start:stop]
        ]
        width = max(1, max(len(entries) for entries in lists))
        table = np.full((width, stop - start), child_count, np.int32)
        for column, entries in enumerate(lists):
            table[: len(entries), column] = entries
        children_tables.append(table)

    structure = _build(
        [subtrees[node] for node in order],
        num_nodes,
        weights,
        kind="tree",
        level_bounds=level_bounds,
    )
    unit_groups = position.astype(np.int32)
    return dataclasses.replace(
        structure,
        unit_groups=jnp.asarray(unit_groups),
        parent_groups=jnp.asarray(parent_groups, jnp.int32),
        children=tuple(jnp.asarray(table) for table in children_tables),
        heads_in_order=bool(np.array_equal(order, np.arange(num_nodes))),
    )


def deepest_first(parents) -> tuple[np.ndarray, np.ndarray]:
    """Renumbers a forest so that node j heads group j of :func:`tree`.

    Code units of a learned dictionary can be numbered freely. Under this
    numbering the structure has ``heads_in_order=True``, and
    :func:`sparse_jax.prox.tree_prox` needs no permutation of the codes.
    On XLA:CPU that made it 3.4 times faster for a binary tree of 1024
    nodes and a batch of 4096 (median, benchmarks/group_ista.py).

    Args:
      parents: (k,) parents in [−1, k), −1 for a root.

    Returns:
      ``(new_parents, order)``: node ``order[j]`` becomes node j, and
      ``new_parents`` is the parent array in the new numbering.
    """
    parents = _check_parents(parents)
    structure_order = _deepest_first_order(_node_depths(parents))
    new_label = np.empty(parents.size, np.int64)
    new_label[structure_order] = np.arange(parents.size)
    old_parents = parents[structure_order]
    new_parents = np.where(old_parents >= 0, new_label[np.maximum(old_parents, 0)], -1)
    return new_parents, structure_order


def _build(
    index_sets,
    num_units,
    weights,
    *,
    kind,
    inner_weights=None,
    geometry=(None, None, None),
    level_bounds=None,
) -> GroupStructure:
    """Pads validated index sets into a GroupStructure."""
    num_groups = len(index_sets)
    if weights is None:
        weights = np.ones(num_groups, np.float32)
    else:
        weights = _check_weights(weights, num_groups, "weights")

    sizes = np.array([len(members) for members in index_sets])
    width = int(sizes.max())
    indices = np.zeros((num_groups, width), np.int32)
    mask = np.arange(width)[None, :] < sizes[:, None]
    for group, members in enumerate(index_sets):
        indices[group, : len(members)] = members

    unit_groups = np.full(num_units, num_groups, np.int32)
    if kind == "disjoint":
        unit_groups[indices[mask]] = np.repeat(np.arange(num_groups, dtype=np.int32), sizes)

    if inner_weights is not None:
        inner_weights = jnp.asarray(np.where(mask, inner_weights, 0), jnp.float32)
    side, pool_size, stride = geometry
    return GroupStructure(
        indices=jnp.asarray(indices),
        mask=jnp.asarray(mask),
        weights=jnp.asarray(weights, jnp.float32),
        inner_weights=inner_weights,
        unit_groups=jnp.asarray(unit_groups),
        parent_groups=jnp.full(num_groups, -1, jnp.int32),
        children=(),
        kind=kind,
        num_units=int(num_units),
        side=side,
        pool_size=pool_size,
        stride=stride,
        level_bounds=level_bounds if level_bounds is not None else (0, num_groups),
    )


def _check_parents(parents) -> np.ndarray:
    """Returns ``parents`` as int64, raising unless it is a 1-D array in [−1, k)."""
    parents = _as_int_array(parents, "parents")
    if parents.ndim != 1 or parents.size == 0:
        raise ValueError(f"parents must be a non-empty 1-D array, got shape {parents.shape}")
    outside = (parents < -1) | (parents >= parents.size)
    if np.any(outside):
        bad = int(np.flatnonzero(outside)[0])
        raise ValueError(
            f"parents[{bad}] = {int(parents[bad])} is out of range; expected -1 (a root) "
            f"or a node in [0, {parents.size})"
        )
    return parents


def _deepest_first_order(depth: np.ndarray) -> np.ndarray:
    """Returns the nodes deepest first, ties by node index: the order of tree_prox's pass."""
    return np.lexsort((np.arange(depth.size), -depth))


def _node_depths(parents: np.ndarray) -> np.ndarray:
    """Returns the depth of each node (roots have depth 0); raises on a cycle."""
    num_nodes = parents.size
    depth = np.full(num_nodes, -1, np.int64)
    for start in range(num_nodes):
        path = []
        on_path = set()
        node = start
        while node >= 0 and depth[node] < 0:
            if node in on_path:
                cycle = path[path.index(node) :]
                raise ValueError(
                    f"parents contain a cycle through nodes {cycle}; every node must "
                    "reach a root (parent -1)"
                )
            path.append(node)
            on_path.add(node)
            node = int(parents[node])
        base = depth[node] if node >= 0 else -1
        for offset, visited in enumerate(reversed(path)):
            depth[visited] = base + 1 + offset
    return depth


def _subtree_members(parents: np.ndarray, children_of: list[list[int]]) -> list[np.ndarray]:
    """Returns, per node, the node followed by its descendants in preorder."""
    num_nodes = parents.size
    preorder = []
    stack = [node for node in reversed(range(num_nodes)) if parents[node] < 0]
    while stack:
        node = stack.pop()
        preorder.append(node)
        stack.extend(reversed(children_of[node]))
    preorder = np.asarray(preorder)
    entry = np.empty(num_nodes, np.int64)
    entry[preorder] = np.arange(num_nodes)
    size = np.ones(num_nodes, np.int64)
    for node in preorder[::-1]:
        if parents[node] >= 0:
            size[parents[node]] += size[node]
    return [preorder[entry[node] : entry[node] + size[node]] for node in range(num_nodes)]


def _check_weights(weights, count: int, name: str) -> np.ndarray:
    if isinstance(weights, jax.core.Tracer):
        raise TypeError(
            f"{name} must be concrete when a structure is built; to sweep weights inside "
            "jit, build once and use dataclasses.replace(groups, weights=...)"
        )
    weights = np.asarray(weights, np.float64)
    if weights.shape != (count,):
        raise ValueError(f"{name} has shape {weights.shape}; expected ({count},), one per group")
    if not np.all(np.isfinite(weights)):
        raise ValueError(f"{name} must be finite, got {weights}")
    if np.any(weights < 0):
        raise ValueError(f"{name} must be non-negative, got {weights}")
    return weights.astype(np.float32)


def _as_int_array(values, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:
        return array.astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must contain integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------
# Member access shared by the penalties, the prox operators and the latent solver.


def check_structure(groups, codes, name: str = "codes") -> None:
    """Raises unless ``groups`` is a GroupStructure and ``codes`` a floating (k,) array."""
    if not isinstance(groups, GroupStructure):
        raise TypeError(
            f"groups must be a GroupStructure from sparse_jax.groups, got {type(groups).__name__}"
        )
    if codes.shape != (groups.num_units,):
        raise ValueError(
            f"{name} has shape {codes.shape}; expected ({groups.num_units},) for groups over "
            f"{groups.num_units} units (batch with jax.vmap)"
        )
    if not jnp.issubdtype(codes.dtype, jnp.floating):
        raise TypeError(f"{name} must have a floating dtype, got {codes.dtype}")


def accumulation_dtype(dtype):
    """Returns float32 for float16, bfloat16 and float32 inputs, else ``dtype`` (float64)."""
    dtype = jnp.dtype(dtype)
    return jnp.dtype(jnp.float32) if jnp.finfo(dtype).bits < 32 else dtype


def gather_slots(values, groups: GroupStructure):
    """Returns the (m, G) array of group members, ``values[indices.T]`` with 0 on padding.

    Slot-major: row j contains the j-th member of every group, so per-group sums
    are reductions over the leading axis, which XLA vectorises across groups
    (and across a vmapped batch). Torus structures use wrapped shifts of the
    map instead of a gather.
    """
    if groups.kind == "torus":
        return _torus_gather_slots(values, groups)
    # A flat gather then a reshape: XLA:CPU fused a 2-D index gather with the
    # reductions that follow into a kernel about ten times slower.
    members = values[groups.indices.T.reshape(-1)].reshape(groups.indices.T.shape)
    return jnp.where(groups.mask.T, members, jnp.zeros((), values.dtype))


def sum_slots(slots, groups: GroupStructure):
    """Adds each member slot back onto its unit: the adjoint of :func:`gather_slots`.

    Args:
      slots: (m, G), laid out as :func:`gather_slots` returns.

    Returns:
      (k,) with entry i the sum of the slots of unit i over the groups that
      contain it (padding ignored).
    """
    if groups.kind == "torus":
        return _torus_sum_slots(slots, groups)
    masked = jnp.where(groups.mask.T, slots, jnp.zeros((), slots.dtype))
    return jnp.zeros(groups.num_units, slots.dtype).at[groups.indices.T].add(masked)


def _torus_gather_slots(values, groups: GroupStructure):
    # With the unit row written as A·r + β (A < s/r, β < r) and the pool row
    # offset u = α·r + β', pool (a, b) reads rows (a + α) mod (s/r): a roll of
    # the (s/r, r, s/r, r) map by α blocks, one per (α, α') pair.
    side, pool_size, stride = groups.side, groups.pool_size, groups.stride
    blocks, shifts = side // stride, pool_size // stride
    grid = values.reshape(blocks, stride, blocks, stride)
    rolled = jnp.stack(
        [
            jnp.stack(
                [jnp.roll(grid, (-alpha, -alpha_col), axis=(0, 2)) for alpha_col in range(shifts)]
            )
            for alpha in range(shifts)
        ]
    )  # (α, α', a, β, b, β')
    slots = rolled.transpose(0, 3, 1, 5, 2, 4)  # (α, β, α', β', a, b)
    return slots.reshape(pool_size * pool_size, blocks * blocks)


def _torus_sum_slots(slots, groups: GroupStructure):
    side, pool_size, stride = groups.side, groups.pool_size, groups.stride
    blocks, shifts = side // stride, pool_size // stride
    parts = slots.reshape(shifts, stride, shifts, stride, blocks, blocks)
    parts = parts.transpose(0, 2, 4, 1, 5, 3)  # (α, α', a, β, b, β')
    total = jnp.zeros((blocks, stride, blocks, stride), slots.dtype)
    for alpha in range(shifts):
        for alpha_col in range(shifts):
            total = total + jnp.roll(parts[alpha, alpha_col], (alpha, alpha_col), axis=(0, 2))
    return total.reshape(side * side)


# ---------------------------------------------------------------------------
# Solver-facing penalties and the latent group lasso.


def group_lasso_penalty(groups: GroupStructure, weight):
    """Returns the group lasso penalty λ Σ_g w_g ‖z_g‖ for proximal_gradient.

    The proximal operator is :func:`sparse_jax.prox.group_soft_threshold` and
    the dual gauge, for the duality-gap stopping rule, is

        Ω°(u) = max_g ‖u_g‖ / (λ w_g),

    with ‖u_g‖/0 read as +∞ unless u_g = 0. Units in no group are not
    penalised, so Ω°(u) is +∞ unless u vanishes on them. With such units, or
    with zero weights, the gap closes only at the exact solution, so use
    ``num_steps`` there, as for a zero L1 weight.

    Args:
      groups: a "disjoint" structure, with no inner weights or inner weights
        that are constant within each group.
      weight: λ ≥ 0, a scalar; concrete negative values raise ValueError,
        traced ones give NaN codes.

    Returns:
      A :class:`sparse_jax.Penalty`.

    Example::

      groups = sparse_jax.groups.from_labels(np.arange(400) // 4)
      penalty = sparse_jax.groups.group_lasso_penalty(groups, 0.1)
      result = sparse_jax.proximal_gradient(dictionary, signal, penalty, tol=1e-5,
                                            max_steps=2000)
    """
    # prox, energies and solvers import this module, so they are imported here.
    from sparse_jax import energies, prox, solvers

    _check_scalar_weight(weight)
    if groups.kind != "disjoint":
        raise ValueError(
            f"group_lasso_penalty needs disjoint groups, got kind {groups.kind!r}; use "
            "tree_lasso_penalty for trees and latent_group_lasso for overlapping groups"
        )
    group_weights = prox.folded_group_weights(groups)

    def value(codes):
        return jnp.asarray(weight, codes.dtype) * energies.group_l2_penalty(codes, groups)

    def prox_operator(values, step):
        return prox.group_soft_threshold(values, groups, step * jnp.asarray(weight, values.dtype))

    def dual_norm(direction):
        dtype = accumulation_dtype(direction.dtype)
        slots = gather_slots(direction.astype(dtype), groups)
        norms = jnp.sqrt(jnp.sum(slots * slots, axis=0))
        scale = jnp.asarray(weight, dtype) * group_weights.astype(dtype)
        ratios = _safe_ratio(norms, scale)
        outside = groups.unit_groups == groups.num_groups
        free = jnp.where(outside, jnp.abs(direction.astype(dtype)), jnp.zeros((), dtype))
        free_ratio = jnp.where(jnp.max(free) > 0, jnp.asarray(jnp.inf, dtype), 0)
        return jnp.maximum(jnp.max(ratios), free_ratio).astype(direction.dtype)

    return solvers.Penalty(value=value, prox=prox_operator, dual_norm=dual_norm)


def tree_lasso_penalty(groups: GroupStructure, weight):
    """Returns the tree lasso penalty λ Σ_g w_g ‖z_g‖ for proximal_gradient.

    The groups are the subtrees of a :func:`tree` structure and the proximal
    operator is :func:`sparse_jax.prox.tree_prox`, which is exact. The dual
    norm of the tree norm has no closed form, so ``dual_norm`` is None and the
    tolerance mode of :func:`sparse_jax.proximal_gradient` stops on the
    relative length of an ISTA step instead of the duality gap.

    Args:
      groups: a "tree" structure without inner weights.
      weight: λ ≥ 0, a scalar.

    Returns:
      A :class:`sparse_jax.Penalty` with ``dual_norm=None``.
    """
    from sparse_jax import energies, prox, solvers

    _check_scalar_weight(weight)
    if groups.kind != "tree":
        raise ValueError(
            f"tree_lasso_penalty needs a tree structure from groups.tree, got kind {groups.kind!r}"
        )
    if groups.inner_weights is not None:
        raise ValueError("tree_lasso_penalty does not support inner weights; set them to None")

    def value(codes):
        return jnp.asarray(weight, codes.dtype) * energies.group_l2_penalty(codes, groups)

    def prox_operator(values, step):
        return prox.tree_prox(values, groups, step * jnp.asarray(weight, values.dtype))

    return solvers.Penalty(value=value, prox=prox_operator, dual_norm=None)


class LatentGroupLassoResult(NamedTuple):
    """Result of :func:`latent_group_lasso` for one signal or a batch.

    Attributes:
      codes: z = Σ_g v_g, shape (k,) (or (n, k) for a batch).
      latent: the copies v, shape (G, m) laid out like ``groups.indices``:
        ``latent[g, j]`` is group g's copy of unit ``indices[g, j]``, 0 on
        padding.
      num_steps: int32, the proximal-gradient steps taken.
      criterion: the relative duality gap of the latent problem at the end.
    """

    codes: jax.Array
    latent: jax.Array
    num_steps: jax.Array
    criterion: jax.Array


def latent_group_lasso(
    dictionary,
    signal,
    groups: GroupStructure,
    weight,
    *,
    num_steps: int | None = None,
    tol: float | None = None,
    max_steps: int | None = None,
    lipschitz=None,
    accelerate: bool = True,
    nonneg: bool = False,
) -> LatentGroupLassoResult:
    """Codes a signal under overlapping groups with the latent group lasso.

    Overlapping groups (a torus, a general cover) have no exact proximal
    operator for Ω(z) = Σ_g w_g ‖z_g‖. This function uses the latent group
    lasso of Jacob, Obozinski and Vert (Group Lasso with Overlap and Graph
    Lasso, ICML 2009): each unit is duplicated once per group containing it,
    the copies v_g (supported on P_g) are disjoint groups, and

        min_v ½‖x − D Σ_g v_g‖² + λ Σ_g w_g sqrt(Σ_{i∈P_g} w_gi v_gi²),
        z = Σ_g v_g.

    It is a convex problem with an exact prox, a group soft threshold on the
    copies, so FISTA converges with a duality-gap certificate and the codes
    have exact zeros, with a support that is a union of groups. It is a
    different regulariser from Ω, though: the overlap norm
    inf {Σ_g w_g ‖v_g‖ : Σ_g v_g = z}, which favours few active pools rather
    than penalising every pool a unit touches. For Ω itself use
    :func:`overlapping_group_lasso`, whose primal–dual iteration has no
    duality-gap stop but is the penalty that gives topographic maps in
    ``experiments/topographic_map``. Inner weights w_gi > 0 are handled
    exactly through the substitution y_gi = sqrt(w_gi) v_gi.

    The operator is A = D E, where E (k × Σ|P_g|) adds the copies, so each
    step costs one product with D, one with Dᵀ and O(Σ_g |P_g|) for E and Eᵀ
    (wrapped shifts of the map for a torus, a gather and a scatter-add
    otherwise). Its Lipschitz constant is at most
    L_D · max_i Σ_{g∋i} 1/w_gi, with equality for a torus without sigma.

    Args:
      dictionary: D, a (d, k) array with atoms as columns, or a
        LinearOperator with ``code_shape == (k,)``.
      signal: x, shape (d,), or a batch (n, d).
      groups: any :class:`GroupStructure` over k units.
      weight: λ ≥ 0, a scalar.
      num_steps, tol, max_steps, accelerate: as in
        :func:`sparse_jax.proximal_gradient`.
      lipschitz: L_D = σ_max(D)², estimated by power iteration when None.
      nonneg: constrain every copy to v_g ≥ 0, hence z ≥ 0. The prox is then
        the group soft threshold of the positive part, which is exact for a
        group norm.

    Returns:
      A :class:`LatentGroupLassoResult`.

    Raises:
      ValueError: a concrete inner weight is 0 on a group member (its copy
        would be unpenalised), an invalid weight, or the shape errors of
        :func:`sparse_jax.proximal_gradient`.
    """
    from sparse_jax import prox, solvers

    _check_scalar_weight(weight)
    if not isinstance(groups, GroupStructure):
        raise TypeError(
            f"groups must be a GroupStructure from sparse_jax.groups, got {type(groups).__name__}"
        )
    base = solvers.as_operator(dictionary)
    if base.code_shape != (groups.num_units,):
        raise ValueError(
            f"the dictionary has code shape {base.code_shape}; expected ({groups.num_units},) "
            f"for groups over {groups.num_units} units"
        )
    dtype = solvers._operator_dtype(base)
    copy_scale = _latent_copy_scale(groups, dtype)  # (m, G): 1/sqrt(w_gi), 0 on padding

    def expand(latent):
        return sum_slots(latent * copy_scale.astype(latent.dtype), groups)

    def restrict(direction):
        return gather_slots(direction, groups) * copy_scale.astype(direction.dtype)

    operator = solvers.LinearOperator(
        forward=lambda latent: base.forward(expand(latent.astype(dtype))),
        adjoint=lambda residual: restrict(base.adjoint(residual)),
        code_shape=(groups.max_group_size, groups.num_groups),
        signal_shape=base.signal_shape,
    )
    if lipschitz is None:
        lipschitz = solvers.lipschitz_constant(base)
    multiplicity = jnp.max(sum_slots(copy_scale * copy_scale, groups))
    lipschitz = jnp.asarray(lipschitz, dtype) * multiplicity

    scale = jnp.asarray(weight, dtype) * groups.weights.astype(dtype)

    def value(latent):
        return jnp.sum(scale * jnp.sqrt(jnp.sum(latent * latent, axis=0)))

    def prox_operator(latent, step):
        if nonneg:
            latent = jnp.maximum(latent, 0)
        factor = prox.group_shrink_factor(jnp.sum(latent * latent, axis=0), step * scale)
        return latent * factor[None, :]

    def dual_norm(direction):
        if nonneg:
            direction = jnp.maximum(direction, 0)
        return jnp.max(_safe_ratio(jnp.sqrt(jnp.sum(direction * direction, axis=0)), scale))

    penalty = solvers.Penalty(value=value, prox=prox_operator, dual_norm=dual_norm)
    result = solvers.proximal_gradient(
        operator,
        signal,
        penalty,
        num_steps=num_steps,
        tol=tol,
        max_steps=max_steps,
        lipschitz=lipschitz,
        accelerate=accelerate,
    )
    # Undo the substitution y = sqrt(w_gi) v and lay the copies out like groups.indices.
    if result.codes.ndim == 3:
        latent = result.codes * copy_scale[None]
        codes = jax.vmap(lambda copies: sum_slots(copies, groups))(latent)
        latent = latent.transpose(0, 2, 1)
    else:
        latent = result.codes * copy_scale
        codes = sum_slots(latent, groups)
        latent = latent.T
    return LatentGroupLassoResult(
        codes=codes, latent=latent, num_steps=result.num_steps, criterion=result.criterion
    )


class PrimalDualResult(NamedTuple):
    """Result of :func:`overlapping_group_lasso` for one signal or a batch.

    Attributes:
      codes: z, shape (k,) (or (n, k) for a batch).
      dual: y, the dual variables laid out like ``groups.indices`` transposed,
        shape (m, G) (or (n, m, G)); at the solution −Aᵀ(x − A z) + Gᵀ y = 0
        on the support and ‖y_g‖ ≤ λ w_g.
      objective: ½‖x − A z‖² + λ Ω(z) at the end, shape () (or (n,)).
    """

    codes: jax.Array
    dual: jax.Array
    objective: jax.Array


def overlapping_group_lasso(
    dictionary,
    signal,
    groups: GroupStructure,
    weight,
    *,
    num_steps: int,
    lipschitz=None,
    init=None,
    nonneg: bool = False,
) -> PrimalDualResult:
    """Codes a signal under the exact overlapping penalty Ω(z) = Σ_g w_g ‖z_g‖ (any groups).

    Minimises ½‖x − D z‖² + λ Ω(z) (with z ≥ 0 if ``nonneg``) by the
    primal–dual method of Condat (2013) and Vũ (2013), which handles
    Ω = h ∘ G through its duplication operator G (z ↦ the members of every
    group, (G z)_gi = sqrt(w_gi) z_i) and the disjoint norm
    h(u) = λ Σ_g w_g ‖u_g‖:

        z⁺ = P(z − τ (Dᵀ(D z − x) + Gᵀ y)),
        y⁺ = Π(y + σ G (2 z⁺ − z)),

    where P is the identity (or max(·, 0)) and Π projects each y_g onto the
    ball of radius λ w_g. With τ = 1/L and σ = 0.9 L / (2 ‖G‖²),
    ‖G‖² = max_i Σ_{g∋i} w_gi, the condition 1/τ − σ‖G‖² > L/2 of Condat's
    convergence theorem is met strictly (with 0.55 L on the left) and the
    iterates converge to a minimiser. Unlike :func:`latent_group_lasso`, this
    is the penalty of :func:`sparse_jax.group_l2_penalty` itself, so units
    shared by active pools are cheap, as in topographic maps. Each step
    costs one product with D and Dᵀ and one G and Gᵀ (wrapped shifts for a
    torus). Zeros come from P only: without ``nonneg`` the codes approach
    zero but are rarely exactly 0 after finitely many steps.

    Args:
      dictionary: D, a (d, k) array with atoms as columns.
      signal: x, shape (d,), or a batch (n, d).
      groups: any :class:`GroupStructure` over k units.
      weight: λ ≥ 0, a scalar.
      num_steps: iterations, ≥ 1, in a ``lax.scan`` (differentiable by unrolling).
      lipschitz: L ≥ σ_max(D)², estimated by power iteration when None.
      init: warm start z⁰ of shape (k,) or (n, k); zeros by default.
      nonneg: constrain the codes to z ≥ 0.

    Returns:
      A :class:`PrimalDualResult`.

    Example::

      torus = sparse_jax.groups.torus(16, 6, 2)
      codes = overlapping_group_lasso(dictionary, patches, torus, 0.2, num_steps=100,
                                      nonneg=True).codes
    """
    from sparse_jax import energies, solvers

    _check_scalar_weight(weight)
    if not isinstance(groups, GroupStructure):
        raise TypeError(
            f"groups must be a GroupStructure from sparse_jax.groups, got {type(groups).__name__}"
        )
    num_steps = _positive_int(num_steps, "num_steps")
    if isinstance(dictionary, solvers.LinearOperator):
        raise TypeError(
            "overlapping_group_lasso needs a dense (d, k) dictionary, got a LinearOperator; "
            "use latent_group_lasso for operators"
        )
    dictionary = jnp.asarray(dictionary)
    if dictionary.ndim != 2 or dictionary.shape[1] != groups.num_units:
        raise ValueError(
            f"dictionary has shape {dictionary.shape}; expected (d, {groups.num_units}) for "
            f"groups over {groups.num_units} units"
        )
    signal = jnp.asarray(signal)
    batched = signal.ndim == 2
    if signal.ndim not in (1, 2) or signal.shape[-1] != dictionary.shape[0]:
        raise ValueError(
            f"signal has shape {signal.shape}; expected ({dictionary.shape[0]},) or "
            f"(n, {dictionary.shape[0]})"
        )
    if signal.ndim == 2 and signal.shape[0] == 0:
        raise ValueError(f"signal is an empty batch of shape {signal.shape}; expected n >= 1")
    for name, array in (("dictionary", dictionary), ("signal", signal), ("init", init)):
        if array is not None and not solvers.all_finite(array):
            raise ValueError(f"{name} contains NaN or infinite values")
    dtype = jnp.promote_types(dictionary.dtype, signal.dtype)
    dictionary = dictionary.astype(dtype)
    if lipschitz is None:
        lipschitz = solvers.lipschitz_constant(dictionary)
    else:
        solvers._check_user_lipschitz(solvers.dense_operator(dictionary), lipschitz)
    lipschitz = jnp.asarray(lipschitz, dtype)
    # L = 0 only for a zero dictionary, where any positive L bounds the gradient.
    lipschitz = jnp.where(lipschitz > 0, lipschitz, jnp.ones((), dtype))
    scale = _latent_copy_scale(groups, dtype)  # reused: 1/sqrt(w_gi) on members
    # (G z)_gi = sqrt(w_gi) z_i. The copy scale is 1/sqrt(w_gi) on the members,
    # so its reciprocal gives sqrt(w_gi).
    root_inner = jnp.where(scale > 0, 1 / jnp.where(scale > 0, scale, 1), 0)
    multiplicity = jnp.max(sum_slots(root_inner * root_inner, groups))
    tau = 1 / lipschitz
    sigma = 0.9 * lipschitz / (2 * multiplicity)
    radii = jnp.asarray(weight, dtype) * groups.weights.astype(dtype)
    # A traced negative weight cannot raise; it gives NaN codes, as in proximal_gradient.
    invalid = jnp.asarray(weight, dtype) < 0
    gram = dictionary.T @ dictionary

    def duplicate(z):
        return gather_slots(z, groups) * root_inner

    def solve_one(x, z0):
        correlation = dictionary.T @ x

        def step(carry, _):
            z, y = carry
            gradient = gram @ z - correlation + sum_slots(y * root_inner, groups)
            z_next = z - tau * gradient
            if nonneg:
                z_next = jnp.maximum(z_next, 0)
            y_next = y + sigma * duplicate(2 * z_next - z)
            norms = jnp.sqrt(jnp.sum(y_next * y_next, axis=0))
            shrink = jnp.where(norms > radii, radii / jnp.where(norms > radii, norms, 1), 1)
            return (z_next, y_next * shrink[None, :]), None

        y0 = jnp.zeros(groups.indices.T.shape, dtype)
        (z, y), _ = jax.lax.scan(step, (z0, y0), None, length=num_steps)
        z = jnp.where(invalid, jnp.nan, z)
        residual = x - dictionary @ z
        value = 0.5 * jnp.sum(residual * residual) + jnp.asarray(
            weight, dtype
        ) * energies.group_l2_penalty(z, groups)
        return PrimalDualResult(codes=z, dual=y, objective=value)

    k = groups.num_units
    if init is None:
        init = jnp.zeros((*signal.shape[:-1], k), dtype)
    init = jnp.asarray(init, dtype)
    if init.shape != (*signal.shape[:-1], k):
        raise ValueError(
            f"init has shape {init.shape}; expected {(*signal.shape[:-1], k)} to match signal"
        )
    if batched:
        return jax.vmap(solve_one)(signal.astype(dtype), init)
    return solve_one(signal.astype(dtype), init)


def _latent_copy_scale(groups: GroupStructure, dtype):
    mask = groups.mask.T
    if groups.inner_weights is None:
        return mask.astype(dtype)
    inner = groups.inner_weights.T.astype(dtype)
    if not isinstance(inner, jax.core.Tracer):
        if np.any(np.asarray(inner)[np.asarray(mask)] <= 0):
            raise ValueError(
                "latent_group_lasso needs inner weights > 0 on every group member; a zero "
                "weight (for example a Gaussian profile that underflows for a small sigma) "
                "leaves that copy unpenalised. Use a larger sigma or inner_weights=None"
            )
    safe = jnp.where(mask, inner, jnp.ones((), dtype))
    return jnp.where(mask, 1 / jnp.sqrt(safe), jnp.zeros((), dtype))


def _safe_ratio(norms, scale):
    """norms / scale, with x/0 = +∞ for x > 0 and 0/0 = 0."""
    safe = jnp.where(scale > 0, scale, 1)
    infinite = jnp.where(norms > 0, jnp.asarray(jnp.inf, norms.dtype), 0)
    return jnp.where(scale > 0, norms / safe, infinite)


def _check_scalar_weight(weight) -> None:
    from sparse_jax.prox import check_nonnegative

    check_nonnegative(weight, "weight")
    if jnp.ndim(weight) != 0:
        raise ValueError(
            f"weight must be a scalar, got shape {jnp.shape(weight)}; put per-group weights "
            "in the structure's weights"
        )
