"""A convolutional group-sparse auto-encoder trained on whole whitened natural images.

``train_and_evaluate(config, workdir)`` trains
:class:`sparse_jax.models.conv.ConvSparseAutoencoder` on large random crops
of the whitened natural images, with the loss ½‖x − W_d ∗ z‖² + λ Σ y (y the
L2-pooled codes), then measures it on a fixed set of held-out crops.

The work directory receives:

- ``config.json``: the configuration;
- ``metrics.jsonl``: training records every ``log_every_steps`` steps and
  one evaluation record at the end;
- ``params.npz``: the trained parameters (``encoder/filters``, ``decoder``, …);
- ``results.json``: the evaluation numbers and timings;
- ``figures/``: encoder filters, decoder atoms and training curves as PNG.

- ``checkpoints/``: the parameters, the optimiser state and the position of
  the crop generator; a rerun with the same work directory resumes from the
  newest one and gives the parameters of an uninterrupted run.
"""

import json
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from tqdm import tqdm

from sparse_jax import plotting
from sparse_jax.models.conv import ConvSparseAutoencoder
from sparse_jax.orientation import preferred_orientations
from sparse_jax.training import Checkpointer, JsonlMetricWriter, NonFiniteLossError, read_metrics
from sparse_jax.training import conv as conv_training


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    *,
    images: np.ndarray | None = None,
) -> dict[str, Any]:
    """Trains the auto-encoder and returns the content of ``results.json``.

    Args:
      config: a configuration such as ``configs/default.py``.
      workdir: the output folder; created when missing.
      images: (n, H, W) whitened images to use instead of loading them as
        ``config.data`` specifies (for tests).

    Raises:
      NonFiniteLossError: a step produced a non-finite loss, gradient or
        parameter.
    """
    started = time.perf_counter()
    workdir = pathlib.Path(workdir).expanduser()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json(indent=2, sort_keys=True) + "\n")

    images = _load_images(config.data) if images is None else np.asarray(images, np.float32)
    images = scale_to_unit_variance(images)
    rng = np.random.default_rng(config.seed)
    eval_crops = random_crops(rng, images, config.eval_crops, config.crop_size)

    model = ConvSparseAutoencoder(
        num_features=config.model.num_features,
        kernel_size=config.model.kernel_size,
        stride=config.model.stride,
        pool_window=config.model.pool_window,
        pool_stride=config.model.pool_stride,
        group_size=config.model.group_size,
        group_stride=config.model.group_stride or None,
        pool_sigma=config.model.pool_sigma or None,
        init_scale=config.model.init_scale,
    )
    params = jax.jit(model.init)(jax.random.key(config.seed), eval_crops[:1])["params"]
    optimizer = conv_training.autoencoder_optimizer()
    opt_state = optimizer.init(params)
    train_step = conv_training.make_autoencoder_train_step(model, optimizer)
    hyper = conv_training.autoencoder_hyperparams(
        group_weight=config.group_weight,
        learning_rate=config.learning_rate,
        encoder_rate_scale=config.encoder_rate_scale,
    )

    checkpointer = Checkpointer(workdir / "checkpoints", max_to_keep=2)
    start_step = checkpointer.latest_step() or 0
    if start_step:
        if start_step > config.num_steps:
            raise ValueError(
                f"{workdir} contains a checkpoint at step {start_step}, after "
                f"num_steps={config.num_steps}; use a new --workdir or a larger num_steps"
            )
        state, metadata = checkpointer.restore({"params": params, "opt_state": opt_state})
        params, opt_state = state["params"], state["opt_state"]
        # The crops continue where the saved run stopped drawing them.
        rng.bit_generator.state = metadata["rng_state"]
        logging.info("Resuming from the checkpoint at step %d.", start_step)

    with JsonlMetricWriter(workdir / "metrics.jsonl", resume_step=start_step or None) as writer:
        train_started = time.perf_counter()
        bar = tqdm(
            total=config.num_steps,
            initial=start_step,
            disable=not config.progress_bar,
            unit="step",
        )
        with bar:
            for step in range(start_step + 1, config.num_steps + 1):
                batch = random_crops(rng, images, config.batch_size, config.crop_size)
                params, opt_state, metrics = train_step(params, opt_state, batch, hyper)
                if step % config.log_every_steps == 0 or step == config.num_steps:
                    if not bool(metrics["finite"]):
                        raise NonFiniteLossError(
                            f"non-finite loss or parameters by step {step}; lower "
                            "learning_rate or group_weight",
                            step=step,
                        )
                    record = writer.write(step, metrics, split="train")
                    bar.set_postfix(loss=f"{record['loss']:.4g}")
                if step % config.checkpoint_every_steps == 0 or step == config.num_steps:
                    state = {"params": params, "opt_state": opt_state}
                    checkpointer.save(
                        step, state, {"step": step, "rng_state": rng.bit_generator.state}
                    )
                bar.update(1)
        checkpointer.close()
        train_seconds = time.perf_counter() - train_started

        evaluation = evaluate(model, params, eval_crops, config.group_weight)
        writer.write(config.num_steps, evaluation, split="eval")

    np.savez(workdir / "params.npz", **_flatten_params(params))
    results = {
        **evaluation,
        "num_steps": config.num_steps,
        "train_seconds": train_seconds,
        "seconds_per_step": train_seconds / max(config.num_steps, 1),
        "total_seconds": time.perf_counter() - started,
        "image_set_shape": list(images.shape),
    }
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    _write_figures(config, workdir, params)
    logging.info(
        "Reconstruction SNR %.2f dB, %.1f %% of code entries active, after %d steps in %.0f s.",
        evaluation["snr_db"],
        100 * evaluation["active_fraction"],
        config.num_steps,
        train_seconds,
    )
    return results


def scale_to_unit_variance(images: np.ndarray) -> np.ndarray:
    """Divides the image set by the standard deviation of all its pixels, after centring."""
    images = np.asarray(images, np.float32)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, H, W), got {images.shape}")
    centred = images - images.mean()
    std = float(centred.std())
    if std == 0:
        raise ValueError("images are constant; expected whitened natural images")
    return centred / std


def random_crops(rng: np.random.Generator, images: np.ndarray, count: int, size: int) -> jax.Array:
    """Cuts ``count`` random size × size crops from (n, H, W) images.

    Returns:
      Crops of shape (count, size, size, 1).
    """
    num_images, height, width = images.shape
    if size > min(height, width):
        raise ValueError(
            f"crop_size={size} is larger than the images ({height} × {width}); lower crop_size"
        )
    indices = rng.integers(0, num_images, count)
    rows = rng.integers(0, height - size + 1, count)
    columns = rng.integers(0, width - size + 1, count)
    crops = np.stack(
        [
            images[index, row : row + size, column : column + size]
            for index, row, column in zip(indices, rows, columns, strict=True)
        ]
    )
    return jnp.asarray(crops[..., None])


def evaluate(model, params, crops: jax.Array, group_weight: float) -> dict[str, float]:
    """Returns the loss terms, the SNR and the filter orientation statistics on ``crops``."""

    @jax.jit
    def measure(p, x):
        output = model.apply({"params": p}, x)
        _, terms = conv_training.autoencoder_loss(output, x, group_weight=group_weight)
        return terms

    terms = jax.device_get(measure(params, crops))
    result = {name: float(value) for name, value in terms._asdict().items()}
    result["snr_db"] = float(-10 * np.log10(max(result["relative_error"], 1e-30)))

    atoms = np.moveaxis(np.asarray(params["decoder"])[:, :, 0, :], -1, 0)  # (K, kh, kw)
    selectivity = preferred_orientations(atoms).selectivity
    result["median_atom_selectivity"] = float(np.median(selectivity))
    result["oriented_atom_fraction"] = float(np.mean(selectivity > 0.5))
    return result


def _load_images(data_config: ml_collections.ConfigDict) -> np.ndarray:
    from sparse_jax.data import load_natural_images  # the data layer; tests pass arrays

    images = load_natural_images(source=data_config.source)
    if data_config.require_full and images.shape[1] < 512:
        raise ValueError(
            f"This configuration needs the full 512 × 512 whitened images, but the loader "
            f"returned {images.shape[1]} × {images.shape[2]} crops (the shipped sample). Set "
            "SPARSE_JAX_DATA_DIR to the folder that holds olshausen/IMAGES.npy, or use "
            "configs/sample.py."
        )
    return images


def _flatten_params(params, prefix: str = "") -> dict[str, np.ndarray]:
    flat = {}
    for name, value in params.items():
        if isinstance(value, dict):
            flat.update(_flatten_params(value, f"{prefix}{name}/"))
        else:
            flat[f"{prefix}{name}"] = np.asarray(value)
    return flat


def _write_figures(config, workdir: pathlib.Path, params) -> None:
    figures = workdir / "figures"
    size = config.model.kernel_size
    encoder = np.asarray(params["encoder"]["filters"])[:, :, 0, :]  # first input channel
    decoder = np.asarray(params["decoder"])[:, :, 0, :]
    for name, filters, title in (
        ("encoder_filters", encoder, "encoder filters W_e"),
        ("decoder_atoms", decoder, "decoder atoms W_d"),
    ):
        rows = np.moveaxis(filters, -1, 0).reshape(filters.shape[-1], size * size)
        plotting.save_figure(
            plotting.plot_filters(rows, (size, size), title=title), figures / f"{name}.png"
        )
    records = read_metrics(workdir / "metrics.jsonl")
    curves = plotting.plot_training_curves(
        records,
        {
            "loss": [("train", "loss")],
            "relative error ‖x − x̂‖²/‖x‖²": [("train", "relative_error")],
            "group norms Σ y": [("train", "group_norms")],
            "active fraction": [("train", "active_fraction")],
            "global norms": [("train", "grad_norm"), ("train", "param_norm")],
        },
        log_scale=("global norms",),
    )
    plotting.save_figure(curves, figures / "training_curves.png")
