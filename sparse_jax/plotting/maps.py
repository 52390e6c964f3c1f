"""Figures of orientation maps: hue for the preferred orientation, pinwheel markers.

Built as ``matplotlib.figure.Figure`` objects without pyplot, as the rest
of ``sparse_jax.plotting``.
"""

import numpy as np
from matplotlib.colors import hsv_to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sparse_jax.orientation import ColumnSpacing, Pinwheels


def orientation_colors(orientation, selectivity=None) -> np.ndarray:
    """Maps orientations to RGB colours: hue θ/π, brightness from selectivity.

    θ = 0 and θ → π get the same hue, so the colour wheel closes as the
    orientations do. Without ``selectivity`` every point has full saturation
    and brightness; with it, the brightness is selectivity / max(selectivity),
    so unselective units appear dark.

    Args:
      orientation: θ, shape (N, M), radians.
      selectivity: optional, shape (N, M), ≥ 0.

    Returns:
      float array (N, M, 3) in [0, 1].
    """
    orientation = np.asarray(orientation, np.float64)
    if orientation.ndim != 2:
        raise ValueError(f"orientation must be a 2-D map, got shape {orientation.shape}")
    hue = np.mod(orientation, np.pi) / np.pi
    value = np.ones_like(hue)
    if selectivity is not None:
        selectivity = np.asarray(selectivity, np.float64)
        if selectivity.shape != orientation.shape:
            raise ValueError(
                f"selectivity has shape {selectivity.shape}; expected {orientation.shape}"
            )
        peak = selectivity.max()
        value = selectivity / peak if peak > 0 else np.zeros_like(hue)
    hsv = np.stack([hue, np.ones_like(hue), np.clip(value, 0, 1)], axis=-1)
    return hsv_to_rgb(hsv)


def plot_orientation_map(
    orientation,
    *,
    selectivity=None,
    pinwheels: Pinwheels | None = None,
    spacing: ColumnSpacing | None = None,
    title: str = "",
    inches: float = 4.5,
) -> Figure:
    """Draws an orientation map, its pinwheels and, optionally, its spectrum.

    The map is drawn with :func:`orientation_colors` (row 0 at the top),
    with a colour bar of orientations. Pinwheels of charge +½ are white
    circles and those of charge −½ black squares, at their plaquette
    centres. With ``spacing`` a second panel shows the ring-summed power
    spectrum of exp(2iθ) and the mean wavenumber 1/Λ.

    Args:
      orientation: θ, shape (N, M).
      selectivity: optional (N, M) brightness, see :func:`orientation_colors`.
      pinwheels: from :func:`sparse_jax.orientation.find_pinwheels`.
      spacing: from :func:`sparse_jax.orientation.column_spacing`.
      title: the title of the map panel.
      inches: the height of the figure.

    Returns:
      A ``matplotlib.figure.Figure``.
    """
    colors = orientation_colors(orientation, selectivity)
    num_panels = 2 if spacing is not None else 1
    figure = Figure(figsize=(inches * (1.25 if num_panels == 1 else 2.3), inches))
    axes = figure.add_subplot(1, num_panels, 1)
    rows, columns = colors.shape[:2]
    axes.imshow(colors, interpolation="nearest", extent=(-0.5, columns - 0.5, rows - 0.5, -0.5))
    if pinwheels is not None and len(pinwheels.charges):
        # Plaquette (i, j) is centred between points i, i+1: at pixel coordinate i + ½.
        for charge, marker, color in ((0.5, "o", "white"), (-0.5, "s", "black")):
            chosen = pinwheels.charges == charge
            axes.scatter(
                pinwheels.columns[chosen],
                pinwheels.rows[chosen],
                s=14,
                marker=marker,
                facecolors=color,
                edgecolors="grey",
                linewidths=0.5,
            )
        axes.legend(
            handles=[
                Line2D([], [], marker="o", ls="", mfc="white", mec="grey", label="+½"),
                Line2D([], [], marker="s", ls="", mfc="black", mec="grey", label="−½"),
            ],
            loc="upper right",
            fontsize="small",
            framealpha=0.7,
        )
    axes.set_xlim(-0.5, columns - 0.5)
    axes.set_ylim(rows - 0.5, -0.5)
    axes.set_title(title)
    axes.set_xlabel("sheet column")
    axes.set_ylabel("sheet row")
    _add_orientation_key(axes)

    if spacing is not None:
        spectrum = figure.add_subplot(1, num_panels, 2)
        spectrum.plot(spacing.wavenumbers, spacing.radial_power, lw=1)
        spectrum.axvline(
            spacing.mean_wavenumber, color="tab:red", ls="--", label=f"Λ = {spacing.spacing:.2f}"
        )
        spectrum.set_xlabel("wavenumber (cycles per unit)")
        spectrum.set_ylabel("power of exp(2iθ), summed over rings")
        spectrum.legend(fontsize="small")
        spectrum.set_title("power spectrum")
    figure.tight_layout()
    return figure


def _add_orientation_key(axes) -> None:
    """Adds a thin colour strip from 0 to π beside ``axes``."""
    key = axes.inset_axes((1.03, 0.0, 0.05, 1.0))
    angles = np.linspace(0, np.pi, 64)[:, None]
    key.imshow(orientation_colors(angles), aspect="auto", extent=(0, 1, np.pi, 0))
    key.set_xticks([])
    key.yaxis.tick_right()
    key.set_yticks([0, np.pi / 2, np.pi], ["0", "π/2", "π"])
    key.set_ylabel("θ", rotation=0)
    key.yaxis.set_label_position("right")


def plot_cosine_by_distance(by_distance) -> Figure:
    """Draws the mean |cos| of atom pairs against their distance on a map.

    Args:
      by_distance: a mapping from each distance (a number or its string) to
        the mean |cos| of the pairs at that distance, as in the
        ``mean_abs_cosine_by_distance`` entry of
        :func:`sparse_jax.similarity.map_cosines`.

    Returns:
      A ``matplotlib.figure.Figure``.
    """
    figure = Figure(figsize=(4.5, 3.2))
    axes = figure.add_subplot()
    axes.plot([float(key) for key in by_distance], list(by_distance.values()), "o-")
    axes.set_xlabel("wrap-around distance on the map")
    axes.set_ylabel("mean |cos| of atom pairs")
    figure.tight_layout()
    return figure
