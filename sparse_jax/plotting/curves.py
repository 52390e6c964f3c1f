"""Training curves from metric records (the dictionaries of a JSON-lines file)."""

import math
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure


def plot_training_curves(
    records: Sequence[Mapping[str, Any]],
    panels: Mapping[str, Sequence[str | tuple[str, str]]],
    *,
    x_key: str = "step",
    log_scale: Sequence[str] = (),
) -> Figure:
    """Draws one panel per entry of ``panels``, each with one line per metric.

    A metric is named either by its key, which takes every record that has
    it, or by ``(split, key)``, which takes only the records whose ``split``
    field equals ``split``. Records without the key or with a non-finite value
    are skipped. A panel with no data shows the text "no data".

    Args:
      records: metric records, each with ``x_key``.
      panels: panel title to the metrics drawn in it.
      x_key: the record field on the horizontal axis.
      log_scale: titles of the panels drawn with a logarithmic vertical axis.

    Returns:
      A ``matplotlib.figure.Figure`` (made without pyplot).
    """
    if not panels:
        raise ValueError("panels is empty; expected at least one panel title")
    num_columns = min(3, len(panels))
    num_rows = math.ceil(len(panels) / num_columns)
    figure = Figure(figsize=(4.5 * num_columns, 3.2 * num_rows))

    for index, (title, metrics) in enumerate(panels.items(), start=1):
        axes = figure.add_subplot(num_rows, num_columns, index)
        has_data = False
        for metric in metrics:
            split, key = metric if isinstance(metric, tuple) else (None, metric)
            points = [
                (record[x_key], record[key])
                for record in records
                if key in record
                and x_key in record
                and (split is None or record.get("split") == split)
                and isinstance(record[key], int | float)
                and math.isfinite(record[key])
            ]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            label = key if split is None else f"{split} {key}"
            axes.plot(xs, ys, marker="." if len(xs) < 50 else None, label=label)
            has_data = True
        axes.set_title(title)
        axes.set_xlabel(x_key)
        if has_data:
            axes.legend(fontsize="small")
            if title in log_scale:
                axes.set_yscale("log")
        else:
            axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
    figure.tight_layout()
    return figure


def save_figure(figure: Figure, path: str | os.PathLike, *, dpi: int = 100) -> pathlib.Path:
    """Writes ``figure`` to ``path`` (the format follows the suffix, e.g. ``.png``).

    Creates the parent folder when missing and returns the path.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    return path
