"""Grids of filters or dictionary atoms shown as small images."""

import math

import numpy as np
from matplotlib.figure import Figure


def filter_mosaic(
    filters, image_shape: tuple[int, int], *, num_columns: int | None = None, gap: int = 1
) -> np.ndarray:
    """Tiles filters into one 2-D image, each scaled by its own maximum magnitude.

    Every filter f is reshaped to ``image_shape`` and divided by max|f|, so its
    values lie in [−1, 1] and zero stays at 0; an all-zero filter stays zero.
    Tiles are separated by ``gap`` pixels of NaN, which image plots leave blank.

    Args:
      filters: shape (m, h·w), one filter per row.
      image_shape: (h, w).
      num_columns: tiles per row; default ⌈√m⌉.
      gap: pixels between tiles, ≥ 0.

    Returns:
      A float array of shape (rows·(h + gap) − gap, num_columns·(w + gap) − gap).
    """
    filters = np.asarray(filters, dtype=np.float64)
    height, width = image_shape
    if filters.ndim != 2 or filters.shape[1] != height * width:
        raise ValueError(
            f"filters must have shape (m, {height * width}) for image_shape {image_shape}, "
            f"got shape {filters.shape}"
        )
    num_filters = filters.shape[0]
    if num_filters == 0:
        raise ValueError("filters is empty; expected at least one filter")
    if num_columns is None:
        num_columns = math.ceil(math.sqrt(num_filters))
    if num_columns < 1 or gap < 0:
        raise ValueError(f"num_columns must be ≥ 1 and gap ≥ 0, got {num_columns} and {gap}")
    num_rows = math.ceil(num_filters / num_columns)

    peaks = np.max(np.abs(filters), axis=1, keepdims=True)
    scaled = filters / np.where(peaks > 0, peaks, 1)
    mosaic = np.full((num_rows * (height + gap) - gap, num_columns * (width + gap) - gap), np.nan)
    for index, tile in enumerate(scaled.reshape(num_filters, height, width)):
        row, column = divmod(index, num_columns)
        top = row * (height + gap)
        left = column * (width + gap)
        mosaic[top : top + height, left : left + width] = tile
    return mosaic


def plot_filters(
    filters,
    image_shape: tuple[int, int],
    *,
    title: str = "",
    num_columns: int | None = None,
    tile_inches: float = 0.4,
) -> Figure:
    """Draws :func:`filter_mosaic` in grey levels, −1 black, 0 mid-grey, +1 white.

    The figure is created without pyplot, so it needs no display and changes
    no global matplotlib state; ``figure.savefig`` renders it with Agg.

    Args:
      filters: shape (m, h·w), one filter per row.
      image_shape: (h, w).
      title: the figure title.
      num_columns: tiles per row; default ⌈√m⌉.
      tile_inches: the size of one tile in the saved figure.

    Returns:
      A ``matplotlib.figure.Figure``.
    """
    mosaic = filter_mosaic(filters, image_shape, num_columns=num_columns)
    height, width = image_shape
    columns = mosaic.shape[1] / (width + 1)
    rows = mosaic.shape[0] / (height + 1)
    figure = Figure(figsize=(max(2.0, columns * tile_inches), max(2.0, rows * tile_inches + 0.4)))
    axes = figure.add_subplot()
    axes.imshow(mosaic, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    axes.set_axis_off()
    if title:
        axes.set_title(title)
    figure.tight_layout()
    return figure
