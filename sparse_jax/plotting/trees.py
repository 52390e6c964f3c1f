"""Filters drawn at the nodes of a forest, each tree from its root down."""

import numpy as np
from matplotlib.figure import Figure

_LEVEL_GAP = 2.0


def tree_layout(parents) -> tuple[np.ndarray, np.ndarray]:
    """Places the nodes of a forest for drawing: leaves side by side, parents centred.

    The leaves get x = 0, 1, 2, … in depth-first order (the trees and the
    children of a node in index order), every internal node the mean x of its
    children, and every node its depth as y (roots at 0).

    Args:
      parents: (k,) integers, ``parents[i]`` the parent of node i or −1 for a
        root.

    Returns:
      ``(x, y)``: float64 (k,) positions and int64 (k,) depths.
    """
    parents = np.asarray(parents)
    if parents.ndim != 1 or parents.size == 0 or not np.issubdtype(parents.dtype, np.integer):
        raise ValueError(
            f"parents must be a non-empty 1-D integer array, got shape {parents.shape} "
            f"and dtype {parents.dtype}"
        )
    if np.any((parents < -1) | (parents >= parents.size)):
        raise ValueError(f"parents must lie in [-1, {parents.size}), got {parents}")
    num_nodes = parents.size
    children: list[list[int]] = [[] for _ in range(num_nodes)]
    for node, parent in enumerate(parents):
        if parent >= 0:
            children[parent].append(node)

    x = np.zeros(num_nodes)
    y = np.full(num_nodes, -1, np.int64)
    next_leaf = 0
    visited = 0
    # Iterative post-order walk: a node is placed once all its children are.
    for root in np.flatnonzero(parents < 0):
        stack = [(int(root), 0, False)]
        while stack:
            node, depth, expanded = stack.pop()
            if expanded:
                x[node] = np.mean(x[children[node]]) if children[node] else next_leaf
                if not children[node]:
                    next_leaf += 1
                continue
            y[node] = depth
            visited += 1
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in reversed(children[node]))
    if visited != num_nodes:
        raise ValueError("parents contain a cycle; every node must reach a root (parent -1)")
    return x, y


def plot_tree_filters(
    filters,
    image_shape: tuple[int, int],
    parents,
    *,
    labels=None,
    title: str = "",
    tile_inches: float = 0.32,
) -> Figure:
    """Draws one filter per node of a forest, with lines from parents to children.

    The layout is :func:`tree_layout`: roots on the top row, leaves side by
    side at the bottom. Each filter is scaled by its own maximum magnitude and
    drawn in grey levels (−1 black, 0 mid-grey, +1 white), as in
    :func:`sparse_jax.plotting.plot_filters`.

    Args:
      filters: shape (k, h·w), the filter of node i in row i.
      image_shape: (h, w).
      parents: (k,) integers, ``parents[i]`` the parent of node i or −1.
      labels: optional k short strings written under the tiles (e.g. usage).
      title: the figure title.
      tile_inches: the width of one leaf column in the saved figure.

    Returns:
      A ``matplotlib.figure.Figure`` (made without pyplot).
    """
    filters = np.asarray(filters, np.float64)
    height, width = image_shape
    x, y = tree_layout(parents)
    num_nodes = x.size
    if filters.shape != (num_nodes, height * width):
        raise ValueError(
            f"filters has shape {filters.shape}; expected ({num_nodes}, {height * width}) for "
            f"{num_nodes} nodes of image_shape {image_shape}"
        )
    if labels is not None and len(labels) != num_nodes:
        raise ValueError(f"labels has {len(labels)} entries; expected {num_nodes}, one per node")

    num_columns = int(x.max()) + 1
    num_levels = int(y.max()) + 1
    # In data units a leaf column is 1 wide and levels are _LEVEL_GAP apart.
    # The square tiles then leave room for the edges and labels between levels.
    level_y = y * _LEVEL_GAP
    figure = Figure(
        figsize=(
            max(3.0, num_columns * tile_inches),
            num_levels * _LEVEL_GAP * tile_inches + 0.5,
        )
    )
    axes = figure.add_subplot()
    parents = np.asarray(parents)
    for node in range(num_nodes):
        parent = parents[node]
        if parent >= 0:
            axes.plot(
                [x[parent], x[node]], [level_y[parent], level_y[node]], color="0.6", linewidth=0.6
            )

    half = 0.45
    peaks = np.max(np.abs(filters), axis=1)
    for node in range(num_nodes):
        scale = peaks[node] if peaks[node] > 0 else 1
        tile = filters[node].reshape(height, width) / scale
        top, bottom = level_y[node] - half, level_y[node] + half
        extent = (x[node] - half, x[node] + half, bottom, top)
        axes.imshow(
            tile, cmap="gray", vmin=-1, vmax=1, extent=extent, interpolation="nearest", zorder=2
        )
        if labels is not None:
            axes.text(x[node], bottom + 0.1, labels[node], ha="center", va="top", fontsize=6)

    axes.set_xlim(-0.6, num_columns - 0.4)
    axes.set_ylim((num_levels - 1) * _LEVEL_GAP + 1.2, -0.6)
    axes.set_aspect("equal")
    axes.set_axis_off()
    if title:
        axes.set_title(title)
    figure.tight_layout()
    return figure
