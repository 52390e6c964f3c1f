"""Similarity of dictionary atoms along a structure: maps, trees, all pairs.

These measurements compare the mean |cosine| of atoms that a structure puts
close together (neighbours on a map, parent and child in a tree) with atoms
it does not relate. They run in NumPy on trained parameters.
"""

from typing import Any

import numpy as np

from sparse_jax.inhibition import tree_ancestors, tree_depths


def absolute_cosines(dictionary: np.ndarray) -> np.ndarray:
    """Returns |cos| between every pair of atoms, (k, k); zero atoms give 0.

    Args:
      dictionary: (d, k), atom i in column i.
    """
    dictionary = np.asarray(dictionary, np.float64)
    if dictionary.ndim != 2:
        raise ValueError(
            f"dictionary must be a (d, k) array with atoms as columns, got shape {dictionary.shape}"
        )
    norms = np.linalg.norm(dictionary, axis=0)
    unit = dictionary / np.where(norms > 0, norms, 1)
    return np.abs(unit.T @ unit)


def tree_cosines(dictionary: np.ndarray, parents: np.ndarray) -> dict[str, Any]:
    """Mean |cos| of atom pairs i < j by their relation in a forest.

    The classes are

    - ``parent_child``;
    - ``along_branch``: one atom is an ancestor of the other (parent_child
      included);
    - ``siblings``: the same parent;
    - ``unrelated``: neither is an ancestor of the other (siblings, cousins
      and pairs in different trees), split into ``different_branches`` (same
      tree) and ``different_trees``;
    - ``all_pairs``.

    Args:
      dictionary: (d, k), atom i in column i.
      parents: (k,) integers, ``parents[i]`` the parent of atom i or −1.

    Returns:
      ``<class>_pairs`` (a count) and ``<class>_mean_abs_cosine`` (NaN for an
      empty class) for every class, and ``parent_child_by_child_level``,
      the parent–child mean by the depth of the child (1 = children of a
      root), as a dict from the depth (a string) to the mean.
    """
    parents = np.asarray(parents)
    cosines = absolute_cosines(dictionary)
    if cosines.shape[0] != parents.size:
        raise ValueError(
            f"dictionary has {cosines.shape[0]} atoms and parents {parents.size} entries; "
            "expected one parent per atom"
        )
    ancestors = tree_ancestors(parents)
    roots = np.arange(len(parents))
    for node in range(len(parents)):
        while parents[roots[node]] >= 0:
            roots[node] = parents[roots[node]]
    upper = np.triu(np.ones_like(ancestors), k=1)
    related = ancestors | ancestors.T
    is_parent = np.zeros_like(ancestors)
    children = np.flatnonzero(parents >= 0)
    is_parent[children, parents[children]] = True
    is_parent = is_parent | is_parent.T
    same_tree = roots[:, None] == roots[None, :]
    siblings = (parents[:, None] == parents[None, :]) & (parents[:, None] >= 0)
    classes = {
        "parent_child": is_parent & upper,
        "along_branch": related & upper,
        "siblings": siblings & upper,
        "unrelated": ~related & upper,
        "different_branches": ~related & same_tree & upper,
        "different_trees": ~same_tree & upper,
        "all_pairs": upper,
    }
    summary: dict[str, Any] = {}
    for name, selected in classes.items():
        summary[f"{name}_pairs"] = int(selected.sum())
        summary[f"{name}_mean_abs_cosine"] = (
            float(cosines[selected].mean()) if selected.any() else float("nan")
        )
    depths = tree_depths(parents)
    by_level = {}
    for level in range(1, int(depths.max(initial=0)) + 1):
        level_children = children[depths[children] == level]
        by_level[str(level)] = float(cosines[level_children, parents[level_children]].mean())
    summary["parent_child_by_child_level"] = by_level
    return summary


def map_cosines(dictionary: np.ndarray, distances: np.ndarray, radius: float) -> dict[str, Any]:
    """Mean |cos| of neighbouring atoms on a map against all pairs, and by distance.

    Args:
      dictionary: (d, k), atom i in column i.
      distances: (k, k) distances between the units on the map, in units of
        the map spacing, such as :func:`sparse_jax.inhibition.torus_distances`.
        Nearest neighbours are the pairs at distance exactly 1.
      radius: r > 0; ``within_radius`` takes the pairs at distance ≤ r.

    Returns:
      ``nearest_neighbours_mean_abs_cosine``, ``within_radius_mean_abs_cosine``,
      ``all_pairs_mean_abs_cosine`` (pairs i < j) and
      ``mean_abs_cosine_by_distance``, a dict from each distance (a string
      with three decimals) to the mean over the pairs at that distance. A
      class with no pair (no pair at distance 1, say) gives NaN.
    """
    distances = np.asarray(distances, np.float64)
    k = np.shape(dictionary)[-1] if np.ndim(dictionary) == 2 else None
    if distances.shape != (k, k):
        raise ValueError(
            f"distances has shape {distances.shape}; expected ({k}, {k}), one entry per pair "
            f"of the {k} atoms"
        )
    if not (np.isfinite(radius) and radius > 0):
        raise ValueError(f"radius must be positive and finite, got {radius!r}")
    cosines = absolute_cosines(dictionary)
    upper = np.triu(np.ones(cosines.shape, dtype=bool), k=1)
    rounded = np.round(distances, 6)
    nearest = upper & (rounded == 1)
    within = upper & (distances <= radius * (1 + 1e-12))
    by_distance = {
        f"{value:.3f}": float(cosines[upper & (rounded == value)].mean())
        for value in np.unique(rounded[upper])
    }
    return {
        "nearest_neighbours_mean_abs_cosine": _mean_or_nan(cosines[nearest]),
        "within_radius_mean_abs_cosine": _mean_or_nan(cosines[within]),
        "all_pairs_mean_abs_cosine": _mean_or_nan(cosines[upper]),
        "mean_abs_cosine_by_distance": by_distance,
    }


def _mean_or_nan(values: np.ndarray) -> float:
    """Returns the mean, or NaN (without a warning) for an empty selection."""
    return float(values.mean()) if values.size else float("nan")
