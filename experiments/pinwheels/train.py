"""Orientation maps and pinwheels of a locally connected topographic auto-encoder.

``train_and_evaluate(config, workdir)`` trains, for every seed,
:class:`sparse_jax.models.local.LocalSparseAutoencoder` on random crops of
the whitened natural images. Each unit of the H' × W' sheet has its own
f × f filter on the image (no weight sharing), one unit per position, and
the group sparsity pools the units of neighbouring positions. It then
measures the orientation map of the trained filters
(:mod:`sparse_jax.orientation`): the preferred orientation of every unit,
the column spacing Λ, the pinwheels and their density per Λ², which
Kaschube et al. (Science 330, 2010) found close to π in cats, tree shrews
and galagos.

Work directory:

- ``config.json`` and ``metrics.jsonl`` (training records of every seed);
- ``seed<s>/params.npz`` and ``seed<s>/measurements.json``;
- ``results.json``: per-seed measurements and their mean with a Student-t
  confidence interval over seeds;
- ``figures/``: the orientation map with its pinwheels and spectrum, the
  filters of a corner of the sheet, training curves.

A rerun with the same work directory reuses the seeds already trained.
"""

import json
import pathlib
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from tqdm import tqdm

from sparse_jax import orientation, plotting
from sparse_jax.models.local import LocalSparseAutoencoder
from sparse_jax.plotting.maps import plot_orientation_map
from sparse_jax.training import JsonlMetricWriter, NonFiniteLossError, read_metrics
from sparse_jax.training import conv as conv_training

KASCHUBE_DENSITY = np.pi  # pinwheels per Λ² in cat, tree-shrew and galago V1


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    *,
    images: np.ndarray | None = None,
) -> dict[str, Any]:
    """Trains one sheet per seed, measures its map and returns ``results.json``.

    Args:
      config: a configuration such as ``configs/default.py``.
      workdir: the output folder; created when missing.
      images: (n, H, W) whitened images to use instead of loading them as
        ``config.data`` specifies (for tests).
    """
    started = time.perf_counter()
    workdir = pathlib.Path(workdir).expanduser()
    (workdir / "figures").mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json(indent=2, sort_keys=True) + "\n")
    if config.model.features_per_position != 1:
        raise NotImplementedError(
            "features_per_position > 1 is not implemented in this experiment: the "
            "orientation map needs one unit per sheet position"
        )

    images = _load_images(config.data) if images is None else np.asarray(images, np.float32)
    images = _scale_to_unit_variance(images)
    model = LocalSparseAutoencoder(
        sheet=tuple(config.model.sheet),
        features_per_position=1,
        filter_size=config.model.filter_size,
        stride=config.model.stride,
        pool_window=config.model.pool_window,
        pool_sigma=config.model.pool_sigma or None,
    )
    optimizer = conv_training.autoencoder_optimizer()
    train_step = conv_training.make_autoencoder_train_step(model, optimizer)
    init = jax.jit(model.init)

    per_seed = []
    # Keep the records of seeds trained by an earlier call: a rerun appends.
    with JsonlMetricWriter(workdir / "metrics.jsonl", resume_step=sys.maxsize) as writer:
        for seed in config.seeds:
            per_seed.append(
                _seed_run(config, seed, model, init, optimizer, train_step, images, writer, workdir)
            )

    results = {
        "sheet": list(config.model.sheet),
        "filter_size": config.model.filter_size,
        "stride": config.model.stride,
        "image_size": list(model.image_size()),
        "seeds": per_seed,
        "kaschube_density": KASCHUBE_DENSITY,
        "total_seconds_of_last_call": time.perf_counter() - started,
    }
    keys = [
        f"{control}{smoothing}{quantity}"
        for control in ("", "shuffled_")
        for smoothing in ("", "smoothed_")
        for quantity in ("density", "spacing")
    ]
    for key in keys:
        values = [run[key] for run in per_seed]
        summary = {"mean": float(np.mean(values)), "values": values}
        if len(values) >= 2:
            _, low, high = orientation.mean_confidence_interval(values, confidence=0.95)
            summary.update(ci95_low=low, ci95_high=high)
        results[key] = summary
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    _write_figures(config, workdir, per_seed[0]["seed"], model)
    return results


def learning_rate_at(config: ml_collections.ConfigDict, step: int) -> float:
    """Returns the Adam rate of update ``step`` (1-based): constant, or a cosine decay to 0.

    With ``config.cosine_decay`` the rate is ½·r·(1 + cos(π (step − 1)/T)) for
    T = ``config.num_steps``, which lowers the unit-level noise of the filters
    at the end of training.
    """
    if not config.cosine_decay:
        return config.learning_rate
    progress = (step - 1) / max(config.num_steps, 1)
    return 0.5 * config.learning_rate * (1 + float(np.cos(np.pi * progress)))


def measure_map(
    filters: np.ndarray, *, smoothing_sigma: float, num_blocks: int, seed: int = 0
) -> dict[str, Any]:
    """Measures the orientation map of a sheet of filters, with a shuffled control.

    Args:
      filters: (H', W', f, f), one filter per sheet position.
      smoothing_sigma: σ of the Gaussian low-pass of exp(2iθ) for the
        smoothed measurements, in sheet units.
      num_blocks: subregions per side for the within-map spread of the density.
      seed: seed of the random permutation for the control.

    Returns:
      A dict of JSON-ready numbers. For the raw map (no prefix) and the
      smoothed map (``smoothed_``): spacing Λ, pinwheel count, density per Λ²
      and sheet area in Λ². The same for the control (``shuffled_`` and
      ``shuffled_smoothed_``): the same orientations randomly permuted over
      the sheet, a map with no topographic order. Smoothing alone gives such
      a map a spacing and pinwheels, so only the differences from the control
      measure the learned order. Also the density of each subregion of the
      smoothed map with its 95 % interval, and the selectivity statistics.
    """
    rows, columns, size, _ = filters.shape
    preference = orientation.preferred_orientations(filters.reshape(rows * columns, size, size))
    theta = preference.orientation.reshape(rows, columns)
    selectivity = preference.selectivity.reshape(rows, columns)
    shuffled = np.random.default_rng(seed).permutation(theta.ravel()).reshape(rows, columns)
    area = (rows - 1) * (columns - 1)

    result: dict[str, Any] = {
        "median_selectivity": float(np.median(selectivity)),
        "unselective_fraction": float(np.mean(selectivity < 0.2)),
    }
    for prefix, angles in (("", theta), ("shuffled_", shuffled)):
        for smoothing, raw_or_smoothed in (("", angles), ("smoothed_", None)):
            if raw_or_smoothed is None:
                raw_or_smoothed = orientation.smooth_orientation_map(angles, smoothing_sigma)
            name = prefix + smoothing
            spacing = orientation.column_spacing(raw_or_smoothed).spacing
            count = len(orientation.find_pinwheels(raw_or_smoothed).charges)
            result[f"{name}spacing"] = spacing
            result[f"{name}pinwheels"] = count
            result[f"{name}density"] = orientation.pinwheel_density(count, area, spacing)
            result[f"{name}sheet_area_in_spacings"] = rows * columns / spacing**2
            if name == "smoothed_":
                blocks = orientation.subregion_densities(
                    raw_or_smoothed, spacing, num_blocks=num_blocks
                )
                _, low, high = orientation.mean_confidence_interval(blocks)
                result.update(subregion_densities=blocks.tolist(), subregion_ci95=[low, high])
    return result


def _seed_run(config, seed, model, init, optimizer, train_step, images, writer, workdir):
    """Trains and measures one seed, or loads its measurements from an earlier run."""
    folder = workdir / f"seed{seed}"
    path = folder / "measurements.json"
    if path.exists():
        logging.info("Loading the measurements of seed %d from %s.", seed, path)
        return json.loads(path.read_text())
    folder.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng(seed)
    height, width = model.image_size()
    example = _random_crops(rng, images, 1, height, width)
    params = init(jax.random.key(seed), example)["params"]
    opt_state = optimizer.init(params)
    started = time.perf_counter()
    bar = tqdm(total=config.num_steps, desc=f"seed {seed}", disable=not config.progress_bar)
    with bar:
        for step in range(1, config.num_steps + 1):
            batch = _random_crops(rng, images, config.batch_size, height, width)
            hyper = conv_training.autoencoder_hyperparams(
                group_weight=config.group_weight,
                learning_rate=learning_rate_at(config, step),
            )
            params, opt_state, metrics = train_step(params, opt_state, batch, hyper)
            if step % config.log_every_steps == 0 or step == config.num_steps:
                if not bool(metrics["finite"]):
                    raise NonFiniteLossError(
                        f"seed {seed}: non-finite loss or parameters by step {step}; lower "
                        "learning_rate",
                        step=step,
                    )
                record = writer.write(step, metrics, split="train", seed=str(seed))
                bar.set_postfix(loss=f"{record['loss']:.4g}")
            bar.update(1)
    train_seconds = time.perf_counter() - started

    encoder = np.asarray(params["encoder"])[:, :, :, :, 0, 0]
    decoder = np.asarray(params["decoder"])[:, :, :, :, 0, 0]
    np.savez(folder / "params.npz", encoder=encoder, decoder=decoder)
    measured = {
        "seed": seed,
        "train_seconds": train_seconds,
        "final_relative_error": float(metrics["relative_error"]),
        "final_active_fraction": float(metrics["active_fraction"]),
        **measure_map(
            _measured_filters(config, encoder, decoder),
            smoothing_sigma=config.smoothing_sigma,
            num_blocks=config.num_blocks,
            seed=seed,
        ),
    }
    path.write_text(json.dumps(measured, indent=2) + "\n")
    logging.info(
        "Seed %d: Λ = %.2f units, %d pinwheels, density %.2f per Λ² (smoothed map: Λ = %.2f, "
        "%d pinwheels, %.2f per Λ²).",
        seed,
        measured["spacing"],
        measured["pinwheels"],
        measured["density"],
        measured["smoothed_spacing"],
        measured["smoothed_pinwheels"],
        measured["smoothed_density"],
    )
    return measured


def _measured_filters(config, encoder: np.ndarray, decoder: np.ndarray) -> np.ndarray:
    if config.measure == "encoder":
        return encoder
    if config.measure == "decoder":
        return decoder
    raise ValueError(f"measure must be 'encoder' or 'decoder', got {config.measure!r}")


def _random_crops(rng, images: np.ndarray, count: int, height: int, width: int) -> jax.Array:
    num_images, image_height, image_width = images.shape
    if height > image_height or width > image_width:
        raise ValueError(
            f"the sheet reads {height} × {width} pixels, more than the {image_height} × "
            f"{image_width} images; use a smaller sheet, filter_size or stride"
        )
    indices = rng.integers(0, num_images, count)
    rows = rng.integers(0, image_height - height + 1, count)
    columns = rng.integers(0, image_width - width + 1, count)
    crops = np.stack(
        [
            images[index, row : row + height, column : column + width]
            for index, row, column in zip(indices, rows, columns, strict=True)
        ]
    )
    return jnp.asarray(crops[..., None])


def _scale_to_unit_variance(images: np.ndarray) -> np.ndarray:
    centred = images - images.mean()
    return centred / float(centred.std())


def _load_images(data_config) -> np.ndarray:
    from sparse_jax.data import load_natural_images  # the data layer; tests pass arrays

    images = load_natural_images(source=data_config.source)
    if data_config.require_full and images.shape[1] < 512:
        raise ValueError(
            "This configuration needs the full 512 × 512 whitened images, but the loader "
            "returned the shipped 128 × 128 crops. Set SPARSE_JAX_DATA_DIR to the folder that "
            "holds olshausen/IMAGES.npy, or use configs/sample.py."
        )
    return images


def _write_figures(config, workdir: pathlib.Path, seed: int, model) -> None:
    figures = workdir / "figures"
    with np.load(workdir / f"seed{seed}" / "params.npz") as stored:
        filters = _measured_filters(config, stored["encoder"], stored["decoder"])
    rows, columns, size, _ = filters.shape
    preference = orientation.preferred_orientations(filters.reshape(rows * columns, size, size))
    theta = preference.orientation.reshape(rows, columns)
    smoothed = orientation.smooth_orientation_map(theta, config.smoothing_sigma)
    for name, angles, label in (
        ("orientation_map", theta, "raw"),
        ("orientation_map_smoothed", smoothed, f"smoothed, σ = {config.smoothing_sigma}"),
    ):
        pinwheels = orientation.find_pinwheels(angles)
        spacing = orientation.column_spacing(angles)
        count = len(pinwheels.charges)
        density = orientation.pinwheel_density(count, (rows - 1) * (columns - 1), spacing.spacing)
        title = f"seed {seed}, {label}: {count} pinwheels, {density:.2f} per Λ²"
        figure = plot_orientation_map(
            angles,
            selectivity=preference.selectivity.reshape(rows, columns) if label == "raw" else None,
            pinwheels=pinwheels,
            spacing=spacing,
            title=title,
        )
        plotting.save_figure(figure, figures / f"{name}.png", dpi=80)

    corner = min(16, rows, columns)
    block = filters[:corner, :corner].reshape(corner * corner, size * size)
    plotting.save_figure(
        plotting.plot_filters(
            block,
            (size, size),
            num_columns=corner,
            title=f"{config.measure} filters of the top-left {corner} × {corner} units",
        ),
        figures / "sheet_filters.png",
        dpi=80,
    )
    records = read_metrics(workdir / "metrics.jsonl")
    curves = plotting.plot_training_curves(
        records,
        {
            "loss": ["loss"],
            "relative error": ["relative_error"],
            "active fraction": ["active_fraction"],
        },
    )
    plotting.save_figure(curves, figures / "training_curves.png", dpi=80)
