"""Topographic filter maps on natural-image patches: training, measurements, figures.

``train_and_evaluate(config, workdir)`` trains one of three models on random
whitened patches, a fresh batch every step:

- ``"psd"``: predictive sparse decomposition (Kavukcuoglu, Ranzato, Fergus &
  LeCun, CVPR 2009). Codes z* are inferred per patch under the group
  penalty, the dictionary reconstructs from z*, and the encoder
  g ⊙ ReLU(W_e x + b) learns to predict z*;
- ``"direct"``: the group-sparse auto-encoder, z = g ⊙ ReLU(W_e x + b)
  trained end to end on ½‖x − W_d z‖² + λ Ω(z);
- ``"dictionary"``: plain L1 dictionary learning (FISTA codes, Adam on the
  atoms), the baseline without topography.

With ``model.penalty = "torus"`` the units sit on a side × side torus and
Ω(z) = Σ_j ‖z_{P_j}‖₂ over square pools P_j with wrap-around; ``"l1"`` uses
‖z‖₁. Dead atoms follow :mod:`sparse_jax.training.dead_atoms`: firing rates
are tracked, dead atoms are counted in the metrics and resampled every
``dead.resample_every`` steps.

The run measures how similar neighbouring atoms on the map are: the mean
|cosine| of pairs at map distance 1 against all pairs, the same by distance,
and the mean difference of preferred orientation between neighbours against
all pairs (45° for unrelated orientations).

The work directory receives ``config.json``, ``metrics.jsonl``,
``checkpoints/`` (a rerun with the same work directory resumes from the
newest one), ``params.npz``, ``results.json`` and ``figures/*.png``.
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

import sparse_jax
from experiments import _patches
from experiments._cli import changed_config_fields
from sparse_jax import groups as groups_lib
from sparse_jax import orientation, plotting
from sparse_jax.inhibition import torus_distances
from sparse_jax.models.group_ae import GroupSparseAutoEncoder, gain_relu_encode
from sparse_jax.models.inhibition import unit_norm_columns
from sparse_jax.similarity import map_cosines
from sparse_jax.training import (
    Checkpointer,
    JsonlMetricWriter,
    NonFiniteLossError,
    dead_atoms,
    read_metrics,
)
from sparse_jax.training import group_ae as gae
from sparse_jax.training.lista import make_dictionary_learning_step, single_group_adam

MODES = ("psd", "direct", "dictionary")
PENALTIES = ("torus", "l1")
EVAL_CHUNK = 1024


def train_and_evaluate(config: ml_collections.ConfigDict, workdir) -> dict[str, Any]:
    """Runs (or resumes) the experiment and returns the content of ``results.json``."""
    started = time.perf_counter()
    _check_config(config)
    workdir = pathlib.Path(workdir)
    figure_dir = workdir / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)

    images, source = _patches.load_images(config.data)
    groups = build_groups(config)
    side = config.map.side
    num_units = side * side
    key = jax.random.key(config.seed)
    init_key, data_key, eval_key, resample_key = jax.random.split(key, 4)
    patch_size = config.data.patch_size
    eval_patches = _patches.evaluation_patches(
        eval_key, images, config.data.eval_patches, patch_size, config.train.batch_size
    )
    trainer = _Trainer(config, groups, num_units, init_key, eval_patches[:1])

    checkpointer = Checkpointer(workdir / "checkpoints", max_to_keep=2)
    state = {
        "params": trainer.params,
        "opt_state": trainer.opt_state,
        "firing_rates": jnp.ones(num_units, jnp.float32),
    }
    start_step, resampled = 0, 0
    if checkpointer.latest_step() is not None:
        _check_resumable(config, workdir, checkpointer.latest_step())
        state, metadata = checkpointer.restore(state)
        start_step, resampled = metadata["step"], metadata["resampled"]
        logging.info("Resuming from the checkpoint at step %d.", start_step)
    (workdir / "config.json").write_text(config.to_json(indent=2))

    train = config.train
    train_started = time.perf_counter()
    with (
        JsonlMetricWriter(
            workdir / "metrics.jsonl", resume_step=start_step if start_step else None
        ) as writer,
        tqdm(
            total=train.num_steps,
            initial=start_step,
            desc=f"topographic map ({config.model.mode}, {config.model.penalty})",
            disable=not config.progress_bar,
        ) as progress,
    ):
        for step in range(start_step + 1, train.num_steps + 1):
            batch = _patches.patches(
                jax.random.fold_in(data_key, step), images, train.batch_size, patch_size
            )
            state, metrics = trainer.step(state, batch, _learning_rate(train, step))
            if _resample_now(config, step):
                dead = np.asarray(
                    dead_atoms.find_dead_atoms(
                        state["params"]["dictionary"],
                        state["firing_rates"],
                        min_rate=config.dead.min_rate,
                    )
                )
                if dead.any():
                    state = trainer.resample(
                        jax.random.fold_in(resample_key, step), state, dead, batch
                    )
                    resampled += int(dead.sum())
                    logging.info("Step %d: resampled %d dead atoms.", step, int(dead.sum()))
            progress.update()
            if step % train.log_every_steps == 0 or step == 1 or step == train.num_steps:
                metrics["dead_atoms"] = jnp.sum(
                    dead_atoms.find_dead_atoms(
                        state["params"]["dictionary"],
                        state["firing_rates"],
                        min_rate=config.dead.min_rate,
                    )
                )
                metrics["resampled_atoms"] = resampled
                record = writer.write(step, metrics, split="train")
                if not record["finite"]:
                    raise NonFiniteLossError(
                        f"topographic-map training produced a non-finite loss at step {step} "
                        f"(loss {record['loss']}); the last checkpoint is in "
                        f"{checkpointer.directory}",
                        step=step,
                    )
                progress.set_postfix(
                    loss=f"{record['loss']:.3f}", active=f"{record['active_fraction']:.3f}"
                )
            if step % train.checkpoint_every_steps == 0 or step == train.num_steps:
                checkpointer.save(step, state, {"step": step, "resampled": resampled})
        checkpointer.wait()
        train_seconds = time.perf_counter() - train_started
        params = state["params"]
        evaluation = trainer.evaluate(params, eval_patches)
        writer.write(train.num_steps, evaluation, split="eval")
    checkpointer.close()

    dictionary = np.asarray(params["dictionary"])
    np.savez(workdir / "params.npz", **{name: np.asarray(v) for name, v in params.items()})
    measures = map_cosines(dictionary, torus_distances(side), radius=1.0)
    orientations = orientation.preferred_orientations(
        dictionary.T.reshape(num_units, patch_size, patch_size)
    )
    measures |= orientation_differences(orientations.orientation, side)
    results: dict[str, Any] = {
        "mode": config.model.mode,
        "penalty": config.model.penalty,
        "map": {"side": side, "pool_size": config.map.pool_size, "stride": config.map.stride},
        "num_units": num_units,
        "data_source": source,
        "images": list(images.shape),
        "train_steps": train.num_steps,
        "batch_size": train.batch_size,
        "sparsity_weight": train.sparsity_weight,
        "train_seconds_this_run": train_seconds,
        "resampled_atoms": resampled,
        "eval": evaluation,
        "topography": measures,
        "mean_orientation_selectivity": float(np.mean(orientations.selectivity)),
    }
    _plot(dictionary, orientations, side, patch_size, measures, config, figure_dir)
    _plot_curves(workdir, figure_dir)
    results["total_seconds_this_run"] = time.perf_counter() - started
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    return results


def build_groups(config: ml_collections.ConfigDict) -> groups_lib.GroupStructure | None:
    """Builds the torus pools of ``config.map``, or returns None for the L1 penalty."""
    if config.model.penalty == "l1":
        return None
    return groups_lib.torus(
        config.map.side, config.map.pool_size, config.map.stride, sigma=config.map.sigma
    )


class _Trainer:
    """The step, resampling and evaluation of one of the three models."""

    def __init__(self, config, groups, num_units, key, example):
        self.config = config
        self.groups = groups
        self.mode = config.model.mode
        train = config.train
        self.weight = train.sparsity_weight
        d = example.shape[1]
        if self.mode == "dictionary":
            self.params = {"dictionary": unit_norm_columns(key, (d, num_units))}
            self.optimizer = single_group_adam()
            self.opt_state = self.optimizer.init(self.params["dictionary"])
            self._step = make_dictionary_learning_step(
                self.optimizer, num_steps=config.model.inference_steps
            )
        else:
            model = GroupSparseAutoEncoder(num_units=num_units)
            self.params = model.init(key, example)["params"]
            self.optimizer = gae.group_ae_optimizer()
            self.opt_state = self.optimizer.init(self.params)
            self._step = gae.make_group_ae_train_step(
                self.optimizer,
                groups=groups,
                mode=self.mode,
                inference_steps=config.model.inference_steps,
            )
        self._codes = jax.jit(self._codes_of)
        self._update_rates = jax.jit(dead_atoms.update_firing_rates)

    def hyper(self, learning_rate):
        train = self.config.train
        return gae.group_ae_hyperparams(
            sparsity_weight=train.sparsity_weight,
            learning_rate=learning_rate,
            encoder_rate=learning_rate * train.encoder_rate_factor,
            prediction_weight=train.prediction_weight,
        )

    def step(self, state, batch, learning_rate):
        params, opt_state = state["params"], state["opt_state"]
        if self.mode == "dictionary":
            dictionary, opt_state, metrics = self._step(
                params["dictionary"],
                opt_state,
                batch,
                jnp.float32(self.weight),
                jnp.float32(learning_rate),
            )
            params = {"dictionary": dictionary}
            metrics = metrics._asdict()
            metrics["loss"] = metrics.pop("objective")
            metrics["finite"] = jnp.isfinite(metrics["loss"]) & jnp.all(jnp.isfinite(dictionary))
        else:
            params, opt_state, metrics = self._step(
                params, opt_state, batch, self.hyper(learning_rate)
            )
        firing = metrics.pop("firing")
        rates = self._update_rates(state["firing_rates"], firing, self.config.dead.decay)
        metrics["learning_rate"] = learning_rate
        return {"params": params, "opt_state": opt_state, "firing_rates": rates}, metrics

    def resample(self, key, state, dead, batch):
        params = state["params"]
        codes = self._codes(params, batch)
        reconstructions = codes @ params["dictionary"].T
        if self.mode == "dictionary":
            dictionary = dead_atoms.resample_dead_atoms(
                key, params["dictionary"], dead, batch, reconstructions
            )
            params = {"dictionary": dictionary}
            opt_state = dead_atoms.reset_optimizer_state(
                self.optimizer, state["opt_state"], jnp.asarray(dead)[None, :]
            )
        else:
            params, opt_state = gae.resample_group_ae_units(
                key,
                params,
                state["opt_state"],
                dead,
                batch,
                reconstructions,
                optimizer=self.optimizer,
            )
        rates = jnp.where(jnp.asarray(dead), 1.0, state["firing_rates"])
        return {"params": params, "opt_state": opt_state, "firing_rates": rates}

    def _codes_of(self, params, signals):
        """Returns the codes the dictionary is trained on: F(x), z* or the lasso codes."""
        train = self.config.train
        steps = self.config.model.inference_steps
        if self.mode == "dictionary":
            return sparse_jax.fista(params["dictionary"], signals, self.weight, num_steps=steps)
        if self.mode == "direct":
            return gain_relu_encode(params["encoder"], params["bias"], params["gain"], signals)
        return gae.psd_codes(
            params,
            signals,
            jnp.float32(self.weight),
            jnp.float32(train.prediction_weight),
            groups=self.groups,
            num_steps=steps,
        )

    def evaluate(self, params, patches) -> dict[str, Any]:
        """Measures reconstruction SNR, sparsity and activity of the codes on held-out patches."""
        totals: dict[str, float] = {}
        usage = 0.0
        for start in range(0, patches.shape[0], EVAL_CHUNK):
            chunk = patches[start : start + EVAL_CHUNK]
            codes = self._codes(params, chunk)
            measured = _code_measures(params, chunk, codes, self.groups)
            if self.mode == "psd":
                predictions = gain_relu_encode(
                    params["encoder"], params["bias"], params["gain"], chunk
                )
                encoder = _code_measures(params, chunk, predictions, self.groups)
                measured |= {f"encoder_{name}": value for name, value in encoder.items()}
            for name, value in measured.items():
                totals[name] = totals.get(name, 0.0) + float(value) * chunk.shape[0]
            usage = usage + np.asarray(jnp.sum(codes != 0, axis=0), np.float64)
        count = patches.shape[0]
        metrics = {name: value / count for name, value in totals.items()}
        metrics["dead_units"] = int(np.sum(usage == 0))
        return metrics


def _code_measures(params, signals, codes, groups) -> dict[str, jax.Array]:
    reconstruction = codes @ params["dictionary"].T
    measures = {
        "snr_db": jnp.mean(jax.vmap(sparse_jax.reconstruction_snr)(signals, reconstruction)),
        "reconstruction": 0.5 * jnp.mean(jnp.sum((signals - reconstruction) ** 2, axis=1)),
        "active_fraction": jnp.mean((codes != 0).astype(jnp.float32)),
        "sparsity": jnp.mean(gae.sparsity_penalty(codes, groups)),
    }
    if groups is not None:
        norms = jax.vmap(lambda code: sparse_jax.group_norms(code, groups))(codes)
        measures["active_pool_fraction"] = jnp.mean((norms > 0).astype(jnp.float32))
    return measures


def orientation_differences(orientations, side: int) -> dict[str, float]:
    """Returns the mean orientation difference of map neighbours and of all pairs.

    The difference of θ_i and θ_j is the angle between the two orientations,
    min(|θ_i − θ_j|, π − |θ_i − θ_j|) ∈ [0, π/2], in degrees; unrelated
    orientations differ by 45° on average.

    Args:
      orientations: θ, shape (side²,), in radians, units in map order.
      side: the side of the square map.

    Returns:
      ``nearest_neighbours_orientation_difference_deg`` (pairs at wrap-around
      distance 1) and ``all_pairs_orientation_difference_deg``.
    """
    theta = np.asarray(orientations, np.float64)
    gap = np.abs(theta[:, None] - theta[None, :]) % np.pi
    gap = np.degrees(np.minimum(gap, np.pi - gap))
    distances = torus_distances(side)
    upper = np.triu(np.ones(gap.shape, bool), k=1)
    nearest = upper & np.isclose(distances, 1.0)
    return {
        "nearest_neighbours_orientation_difference_deg": float(gap[nearest].mean()),
        "all_pairs_orientation_difference_deg": float(gap[upper].mean()),
    }


def _learning_rate(train, step: int) -> float:
    """Returns the rate of a linear decay from ``learning_rate`` to ``final_rate_fraction`` of it.

    NOTE: the decay spans ``train.num_steps``, so resuming with a larger
    value raises the rate at the resumed step instead of continuing the old decay.
    """
    progress = (step - 1) / max(train.num_steps - 1, 1)
    return train.learning_rate * (1 - (1 - train.final_rate_fraction) * progress)


def _resample_now(config, step: int) -> bool:
    every = config.dead.resample_every
    last = config.dead.resample_until_fraction * config.train.num_steps
    return every > 0 and step % every == 0 and step <= last


RESUMABLE_FIELDS = (
    "train.num_steps",
    "train.log_every_steps",
    "train.checkpoint_every_steps",
    "progress_bar",
)
"""Configuration fields that may change when a run resumes from its checkpoint."""


def _check_resumable(config, workdir: pathlib.Path, checkpoint_step: int) -> None:
    """Raises ValueError unless ``config`` can continue the run saved in ``workdir``."""
    if checkpoint_step > config.train.num_steps:
        raise ValueError(
            f"{workdir} contains a checkpoint at step {checkpoint_step}, after "
            f"train.num_steps={config.train.num_steps}; use a new --workdir or a larger "
            "train.num_steps"
        )
    changed = changed_config_fields(workdir / "config.json", config, RESUMABLE_FIELDS)
    if changed:
        raise ValueError(
            f"{workdir} contains a run with a different configuration ({', '.join(changed)}); "
            f"only {', '.join(RESUMABLE_FIELDS)} may change on resume. Use a new --workdir"
        )


def _check_config(config) -> None:
    for name, value in (
        ("train.num_steps", config.train.num_steps),
        ("train.batch_size", config.train.batch_size),
        ("model.inference_steps", config.model.inference_steps),
        ("train.log_every_steps", config.train.log_every_steps),
        ("train.checkpoint_every_steps", config.train.checkpoint_every_steps),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not 0 <= config.dead.decay < 1:
        raise ValueError(f"dead.decay must be in [0, 1), got {config.dead.decay!r}")
    if config.model.mode not in MODES:
        raise ValueError(f"model.mode must be one of {MODES}, got {config.model.mode!r}")
    if config.model.penalty not in PENALTIES:
        raise ValueError(f"model.penalty must be one of {PENALTIES}, got {config.model.penalty!r}")
    if config.model.mode == "dictionary" and config.model.penalty != "l1":
        raise ValueError(
            "model.mode='dictionary' is the plain L1 baseline; set model.penalty='l1' with it"
        )


def _plot(dictionary, orientations, side, patch_size, measures, config, figure_dir) -> None:
    title = (
        f"{config.model.mode}, {config.model.penalty}: atoms in map order\n"
        f"neighbour |cos| {measures['nearest_neighbours_mean_abs_cosine']:.3f}, all pairs "
        f"{measures['all_pairs_mean_abs_cosine']:.3f}"
    )
    plotting.save_figure(
        plotting.plot_filters(
            dictionary.T, (patch_size, patch_size), num_columns=side, title=title, tile_inches=0.3
        ),
        figure_dir / "map_atoms.png",
        dpi=80,
    )
    plotting.save_figure(
        plotting.plot_orientation_map(
            orientations.orientation.reshape(side, side),
            selectivity=orientations.selectivity.reshape(side, side),
            title=(
                "Preferred orientation on the map\nneighbour difference "
                f"{measures['nearest_neighbours_orientation_difference_deg']:.1f}°, all pairs "
                f"{measures['all_pairs_orientation_difference_deg']:.1f}°"
            ),
            inches=3.5,
        ),
        figure_dir / "orientation_map.png",
        dpi=80,
    )
    plotting.save_figure(
        plotting.plot_cosine_by_distance(measures["mean_abs_cosine_by_distance"]),
        figure_dir / "cosine_by_distance.png",
    )


def _plot_curves(workdir, figure_dir) -> None:
    records = [
        record
        for record in read_metrics(workdir / "metrics.jsonl")
        if record.get("split") == "train"
    ]
    figure = plotting.plot_training_curves(
        records,
        {
            "loss terms": ["loss", "reconstruction"],
            "penalty": ["sparsity"],
            "active fraction": ["active_fraction"],
            "dead atoms": ["dead_atoms", "resampled_atoms"],
        },
    )
    plotting.save_figure(figure, figure_dir / "training_curves.png", dpi=70)
