"""Figures for experiments: filter grids, trees of filters, orientation maps, training curves.

Figures are built as ``matplotlib.figure.Figure`` objects without pyplot and
saved with the Agg renderer, so plotting works without a display and leaves
matplotlib's global backend alone.
"""

from sparse_jax.plotting.curves import plot_training_curves as plot_training_curves
from sparse_jax.plotting.curves import save_figure as save_figure
from sparse_jax.plotting.filters import filter_mosaic as filter_mosaic
from sparse_jax.plotting.filters import plot_filters as plot_filters
from sparse_jax.plotting.maps import orientation_colors as orientation_colors
from sparse_jax.plotting.maps import plot_cosine_by_distance as plot_cosine_by_distance
from sparse_jax.plotting.maps import plot_orientation_map as plot_orientation_map
from sparse_jax.plotting.trees import plot_tree_filters as plot_tree_filters
from sparse_jax.plotting.trees import tree_layout as tree_layout

__all__ = [
    "filter_mosaic",
    "orientation_colors",
    "plot_cosine_by_distance",
    "plot_filters",
    "plot_orientation_map",
    "plot_training_curves",
    "plot_tree_filters",
    "save_figure",
    "tree_layout",
]
