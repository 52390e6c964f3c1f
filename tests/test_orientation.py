"""Tests of the orientation-map measurements and the orientation map figure."""

import numpy as np
import pytest
import scipy.stats
from matplotlib.figure import Figure

from sparse_jax import orientation
from sparse_jax.plotting.maps import orientation_colors, plot_orientation_map


def _grid(rows, columns):
    """Returns w = x + i·y at every map point, x the column and y the row."""
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float64)
    return x + 1j * y


def _random_map(side, wavelength, seed, num_waves=30):
    """θ = ½ arg Σ_j exp(i(k_j·w + φ_j)) with |k_j| = 2π/Λ: a ring spectrum at 1/Λ."""
    rng = np.random.default_rng(seed)
    w = _grid(side, side)
    field = np.zeros(w.shape, complex)
    for _ in range(num_waves):
        angle = rng.uniform(0, 2 * np.pi)
        k = 2 * np.pi / wavelength * np.exp(1j * angle)
        phase = (k.conjugate() * w).real  # k·w
        field += np.exp(1j * (phase + rng.uniform(0, 2 * np.pi)))
    return 0.5 * np.angle(field)


def test_single_positive_pinwheel_found_exactly():
    w = _grid(32, 32)
    centre = 13.3 + 17.6j  # off the lattice points, inside plaquette (17, 13)

    found = orientation.find_pinwheels(0.5 * np.angle(w - centre))

    assert found.charges.tolist() == [0.5]
    assert found.rows.tolist() == [17.5]
    assert found.columns.tolist() == [13.5]


def test_single_negative_pinwheel_found_exactly():
    w = _grid(24, 30)

    found = orientation.find_pinwheels(-0.5 * np.angle(w - (20.7 + 4.2j)))

    assert found.charges.tolist() == [-0.5]
    assert (found.rows[0], found.columns[0]) == (4.5, 20.5)


def test_several_pinwheels_found_with_their_charges():
    w = _grid(32, 32)
    centres = {
        (8.3 + 8.7j): 1,
        (24.4 + 8.2j): -1,
        (8.6 + 23.5j): -1,
        (23.7 + 24.1j): 1,
        (16.2 + 16.4j): 1,
    }
    theta = 0.5 * sum(sign * np.angle(w - centre) for centre, sign in centres.items())

    found = orientation.find_pinwheels(theta)

    located = {
        (float(row), float(column)): float(charge)
        for row, column, charge in zip(found.rows, found.columns, found.charges, strict=True)
    }
    expected = {
        (np.floor(c.imag) + 0.5, np.floor(c.real) + 0.5): 0.5 * sign for c, sign in centres.items()
    }
    assert located == expected


def test_smooth_map_has_no_pinwheels():
    w = _grid(40, 40)
    theta = 0.3 * w.real + 0.1 * w.imag + 0.02 * w.real * w.imag / 40

    charges = orientation.pinwheel_charges(theta)

    assert charges.shape == (39, 39)
    assert np.count_nonzero(charges) == 0


def test_charges_ignore_orientation_period():
    w = _grid(16, 16)
    theta = 0.5 * np.angle(w - (7.5 + 7.4j))

    shifted = orientation.pinwheel_charges(theta + np.pi * np.round(np.cos(w.real)))

    np.testing.assert_array_equal(shifted, orientation.pinwheel_charges(theta))


def test_mask_removes_pinwheels():
    w = _grid(16, 16)
    theta = 0.5 * np.angle(w - (7.3 + 7.4j))
    mask = np.ones((15, 15), bool)
    mask[7, 7] = False

    assert len(orientation.find_pinwheels(theta, mask=mask).charges) == 0


@pytest.mark.parametrize("wavelength", [8.0, 10.0, 12.5])
def test_column_spacing_of_plane_wave(wavelength):
    w = _grid(64, 64)
    k = 2 * np.pi / wavelength * np.exp(0.4j)
    theta = 0.5 * (k.conjugate() * w).real

    spacing = orientation.column_spacing(theta)

    assert abs(spacing.spacing - wavelength) <= 0.05 * wavelength
    assert spacing.mean_wavenumber == pytest.approx(1 / spacing.spacing)


def test_column_spacing_and_density_of_random_ring_map():
    # A superposition of many waves with one wavelength is close to an
    # isotropic Gaussian field, whose pinwheel density per Λ² is π.
    theta = _random_map(128, 10.0, seed=0)

    spacing = orientation.column_spacing(theta)
    pinwheels = orientation.find_pinwheels(theta)
    density = orientation.pinwheel_density(len(pinwheels.charges), 127 * 127, spacing.spacing)

    assert abs(spacing.spacing - 10.0) <= 0.05 * 10.0
    assert abs(density - np.pi) <= 0.1 * np.pi
    # Total charge in an open region stays small compared with the count.
    assert abs(pinwheels.charges.sum()) <= 0.1 * len(pinwheels.charges)


def test_uniform_map_spacing_raises():
    with pytest.raises(ValueError, match="uniform"):
        orientation.column_spacing(np.full((8, 8), 0.3))


def test_preferred_orientation_of_gratings():
    y, x = np.mgrid[-6:6, -6:6].astype(np.float64)
    filters = np.stack(
        [
            np.cos(2 * np.pi * y / 5),  # stripes along rows: horizontal, θ = 0
            np.cos(2 * np.pi * x / 5),  # vertical stripes, θ = π/2
            np.cos(2 * np.pi * (x + y) / 7),  # stripes along x = −y, θ = 3π/4
            np.zeros((12, 12)),
        ]
    )

    preference = orientation.preferred_orientations(filters)

    np.testing.assert_allclose(preference.orientation[:3], [0, np.pi / 2, 3 * np.pi / 4], atol=1e-9)
    assert np.all(preference.selectivity[:3] > 0.7)
    assert preference.selectivity[3] == 0.0


@pytest.mark.parametrize("angle", [0.2, 1.0, 2.0, 2.9])
def test_preferred_orientation_of_gabor(angle):
    y, x = np.mgrid[-5:6, -5:6].astype(np.float64)
    along = x * np.cos(angle) + y * np.sin(angle)  # distance along the stripes
    across = -x * np.sin(angle) + y * np.cos(angle)
    gabor = np.exp(-(along**2 + across**2) / 8) * np.cos(2 * np.pi * across / 4)

    preference = orientation.preferred_orientations(gabor)

    difference = np.angle(np.exp(2j * (preference.orientation - angle))) / 2
    assert abs(difference) < 0.05


def test_smoothing_keeps_isolated_pinwheel_and_removes_close_pair():
    w = _grid(40, 40)
    far = 0.5 * np.angle(w - (10.4 + 10.3j))
    # A +½/−½ pair one unit apart: noise at the scale of one plaquette.
    pair = 0.5 * (np.angle(w - (28.4 + 28.3j)) - np.angle(w - (29.6 + 28.4j)))

    smoothed = orientation.smooth_orientation_map(far + pair, sigma=1.5)

    assert len(orientation.find_pinwheels(far + pair).charges) == 3
    found = orientation.find_pinwheels(smoothed)
    assert found.charges.tolist() == [0.5]
    assert (found.rows[0], found.columns[0]) == (10.5, 10.5)


def test_subregion_densities_average_to_map_density():
    theta = _random_map(64, 8.0, seed=1)
    pinwheels = orientation.find_pinwheels(theta)

    densities = orientation.subregion_densities(theta, 8.0, num_blocks=3)

    assert densities.shape == (9,)
    whole = orientation.pinwheel_density(len(pinwheels.charges), 63 * 63, 8.0)
    # 63 plaquettes split into three blocks of 21: equal areas, so the mean is exact.
    assert densities.mean() == pytest.approx(whole)


def test_mean_confidence_interval_matches_t_interval():
    values = [2.9, 3.3, 3.1, 3.6]

    mean, low, high = orientation.mean_confidence_interval(values, confidence=0.9)

    expected = scipy.stats.t.interval(
        0.9, len(values) - 1, loc=np.mean(values), scale=scipy.stats.sem(values)
    )
    assert mean == pytest.approx(np.mean(values))
    assert (low, high) == pytest.approx(expected)
    with pytest.raises(ValueError, match="at least 2"):
        orientation.mean_confidence_interval([1.0])


def test_orientation_colors_close_the_colour_wheel():
    colors = orientation_colors(np.array([[0.0, np.pi - 1e-9, np.pi / 2]]))

    np.testing.assert_allclose(colors[0, 0], colors[0, 1], atol=1e-6)
    assert not np.allclose(colors[0, 0], colors[0, 2])


def test_orientation_map_figure_is_written(tmp_path):
    theta = _random_map(32, 8.0, seed=2)
    pinwheels = orientation.find_pinwheels(theta)
    spacing = orientation.column_spacing(theta)

    figure = plot_orientation_map(
        theta,
        selectivity=np.ones_like(theta),
        pinwheels=pinwheels,
        spacing=spacing,
        title="synthetic",
    )
    path = tmp_path / "map.png"
    figure.savefig(path)

    assert isinstance(figure, Figure)
    assert len(figure.axes) >= 2
    assert path.stat().st_size > 0
