"""Tests of the filter mosaic and the figure helpers."""

import math

import numpy as np
import pytest

from sparse_jax.plotting import filter_mosaic, plot_filters, plot_training_curves, save_figure


def test_mosaic_layout_and_scaling():
    filters = np.stack([np.arange(6.0), -2 * np.ones(6), np.zeros(6)])
    mosaic = filter_mosaic(filters, (2, 3), num_columns=2)
    assert mosaic.shape == (2 * 3 - 1, 2 * 4 - 1)
    np.testing.assert_allclose(mosaic[:2, :3], np.arange(6.0).reshape(2, 3) / 5)
    np.testing.assert_array_equal(mosaic[:2, 4:7], -np.ones((2, 3)))
    np.testing.assert_array_equal(mosaic[3:5, :3], np.zeros((2, 3)))
    assert np.all(np.isnan(mosaic[2, :])), "the gap row between tiles must be blank"
    assert np.all(np.isnan(mosaic[3:5, 4:7])), "the unused tile must be blank"


def test_mosaic_default_columns_is_square_root():
    mosaic = filter_mosaic(np.ones((10, 4)), (2, 2), gap=0)
    assert mosaic.shape == (math.ceil(10 / 4) * 2, 4 * 2)


def test_mosaic_rejects_wrong_filter_size():
    with pytest.raises(ValueError, match=r"filters must have shape \(m, 784\) for image_shape"):
        filter_mosaic(np.ones((3, 100)), (28, 28))


def test_plot_filters_and_curves_save_png(tmp_path):
    filters_path = save_figure(
        plot_filters(np.random.default_rng(0).normal(size=(5, 16)), (4, 4), title="t"),
        tmp_path / "a" / "filters.png",
    )
    records = [
        {"step": 1, "split": "train", "loss": 3.0},
        {"step": 2, "split": "train", "loss": float("nan")},
        {"step": 2, "split": "validation", "loss": 2.5},
    ]
    figure = plot_training_curves(
        records, {"loss": [("train", "loss"), "loss"], "empty": ["missing"]}
    )
    curves_path = save_figure(figure, tmp_path / "curves.png")
    for path in (filters_path, curves_path):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_curves_skip_non_finite_and_filter_split():
    records = [
        {"step": 1, "split": "train", "loss": 3.0},
        {"step": 2, "split": "train", "loss": float("nan")},
        {"step": 2, "split": "validation", "loss": 2.5},
    ]
    figure = plot_training_curves(records, {"loss": [("train", "loss")]})
    (line,) = figure.axes[0].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [1])
    np.testing.assert_array_equal(line.get_ydata(), [3.0])


def test_curves_reject_no_panels():
    with pytest.raises(ValueError, match="panels is empty"):
        plot_training_curves([], {})
