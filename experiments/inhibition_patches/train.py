"""Lateral inhibition on whitened natural-image patches: training, measurements, figures.

``train_and_evaluate(config, workdir)`` learns a dictionary W_d and an
inhibition matrix S (Gregor, Szlam & LeCun, NIPS 2011) on random patches,
each step drawing a fresh batch. The structure of S is one of

- ``"tree"``: a forest; units along one branch may be active together. The
  run measures the mean |cosine| of atoms along a branch against atoms in
  different branches, then prunes the subtrees whose firing frequency (an
  exponential moving average over training) is below a threshold;
- ``"map"``: units on a torus; neighbours may be active together. The run
  measures the mean |cosine| of neighbouring atoms against all pairs;
- ``"none"``: every pair may inhibit. The run correlates S_ij with
  |⟨d_i, d_j⟩| over all pairs and draws the most inhibited pairs.

The work directory receives ``config.json``, ``metrics.jsonl`` (training
records every ``log_every_steps`` steps and one evaluation record),
``params.npz`` (and ``pruned_params.npz`` for trees), ``results.json`` and
``figures/*.png``, and ``checkpoints/``: a rerun with the same work
directory resumes training from the newest checkpoint.
"""

import json
import pathlib
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from matplotlib.figure import Figure
from tqdm import tqdm

from experiments import _patches as patch_data
from sparse_jax import inhibition, plotting
from sparse_jax.models.inhibition import InhibitionCoder, init_inhibition_params
from sparse_jax.plotting.trees import plot_tree_filters
from sparse_jax.similarity import absolute_cosines, map_cosines, tree_cosines
from sparse_jax.training import Checkpointer, JsonlMetricWriter, NonFiniteLossError, read_metrics
from sparse_jax.training import inhibition as inhibition_training

STRUCTURES = ("tree", "map", "none")
EVAL_CHUNK = 1024


class Structure(NamedTuple):
    """The structure of S for one run.

    Attributes:
      mask: bool (k, k), the pairs that may inhibit each other.
      parents: int32 (k,) for a forest, else None.
      distances: float64 (k, k) wrap-around distances for a map, else None.
    """

    mask: np.ndarray
    parents: np.ndarray | None = None
    distances: np.ndarray | None = None


def train_and_evaluate(config: ml_collections.ConfigDict, workdir) -> dict[str, Any]:
    """Runs the experiment and returns the content of ``results.json``."""
    started = time.perf_counter()
    workdir = pathlib.Path(workdir)
    figure_dir = workdir / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json(indent=2))

    images, source = patch_data.load_images(config.data)
    structure = build_structure(config)
    num_units = structure.mask.shape[0]
    model = InhibitionCoder(
        num_units=num_units, num_steps=config.model.inference_steps, nonneg=config.model.nonneg
    )
    key = jax.random.key(config.seed)
    init_key, data_key, eval_key = jax.random.split(key, 3)
    eval_patches = patch_data.evaluation_patches(
        eval_key, images, config.data.eval_patches, config.data.patch_size, config.train.batch_size
    )
    params = init_inhibition_params(init_key, model, eval_patches.shape[1])
    params["inhibition"] = initial_inhibition(
        structure.mask, config.inhibition.init, config.train.max_row_sum
    )

    checkpointer = Checkpointer(workdir / "checkpoints", max_to_keep=2)
    resume_step = checkpointer.latest_step()
    with JsonlMetricWriter(workdir / "metrics.jsonl", resume_step=resume_step) as writer:
        train_started = time.perf_counter()
        params, usage = _train(
            config, model, params, structure, images, data_key, writer, checkpointer
        )
        train_seconds = time.perf_counter() - train_started
        evaluation, coactivation = evaluate(model, params, eval_patches, config.train.l1_weight)
        writer.write(config.train.num_steps, _without_usage(evaluation), split="eval")

    _save_params(workdir / "params.npz", params, structure)
    dictionary = np.asarray(params["dictionary"])
    learned = np.asarray(params["inhibition"])
    patch_shape = (config.data.patch_size, config.data.patch_size)
    results: dict[str, Any] = {
        "structure": config.structure,
        "num_units": num_units,
        "data_source": source,
        "images": list(images.shape),
        "train_steps": config.train.num_steps,
        "batch_size": config.train.batch_size,
        "l1_weight": config.train.l1_weight,
        "max_row_sum": config.train.max_row_sum,
        "train_seconds": train_seconds,
        "eval": evaluation,
        "inhibition": inhibition_summary(learned, structure.mask),
        "coactivation": coactivation_summary(coactivation, structure.mask),
    }

    if config.structure == "tree":
        results["tree"] = tree_cosines(dictionary, structure.parents)
        results["pruning"] = _prune_and_plot(
            config, model, params, structure, usage, eval_patches, evaluation, figure_dir
        )
    elif config.structure == "map":
        results["map"] = map_cosines(dictionary, structure.distances, config.map.radius)
        _plot_map(dictionary, config.map.side, patch_shape, results["map"], figure_dir)
    else:
        results["pairs"] = inhibition_cosine_correlation(
            dictionary, learned, structure.mask, config.figures.num_top_pairs
        )
        _plot_pairs(dictionary, learned, structure.mask, results["pairs"], patch_shape, figure_dir)

    _plot_curves(workdir, figure_dir)
    results["total_seconds"] = time.perf_counter() - started
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    return results


def build_structure(config: ml_collections.ConfigDict) -> Structure:
    """Builds the mask (and the forest or the map distances) named by ``config.structure``."""
    if config.structure == "tree":
        parents = inhibition.balanced_forest(
            config.tree.num_trees, config.tree.branching, config.tree.num_levels
        )
        return Structure(mask=inhibition.tree_mask(parents), parents=parents)
    if config.structure == "map":
        return Structure(
            mask=inhibition.torus_mask(config.map.side, config.map.radius),
            distances=inhibition.torus_distances(config.map.side),
        )
    if config.structure == "none":
        return Structure(mask=inhibition.unstructured_mask(config.unstructured.num_units))
    raise ValueError(f"config.structure must be one of {STRUCTURES}, got {config.structure!r}")


def initial_inhibition(mask: np.ndarray, init: str, max_row_sum: float) -> jax.Array:
    """Returns S at the start: zeros, or the same value on every allowed pair.

    ``"uniform"`` sets every allowed entry to B / (the largest number of
    allowed entries in a row), so the fullest rows sum to B.
    """
    if init == "zeros":
        return jnp.zeros(mask.shape, jnp.float32)
    if init == "uniform":
        per_row = max(int(mask.sum(axis=1).max()), 1)
        return jnp.asarray(np.where(mask, max_row_sum / per_row, 0), jnp.float32)
    raise ValueError(f"inhibition.init must be 'zeros' or 'uniform', got {init!r}")


def _train(config, model, params, structure, images, data_key, writer, checkpointer):
    """Runs (or resumes) the training loop; returns the parameters and the usage EMA (k,)."""
    train = config.train
    optimizer = inhibition_training.inhibition_optimizer(inhibition_adam=config.inhibition.adam)
    opt_state = optimizer.init(params)
    step_fn = inhibition_training.make_inhibition_train_step(
        model, optimizer, structure.mask, train_inhibition=config.inhibition.train
    )
    update_usage = jax.jit(inhibition_training.update_usage)
    usage = None
    start_step = 0
    if checkpointer.latest_step() is not None:
        target = {
            "params": params,
            "opt_state": opt_state,
            "usage": jnp.zeros(structure.mask.shape[0], jnp.float32),
        }
        state, metadata = checkpointer.restore(target)
        params, opt_state, usage = state["params"], state["opt_state"], state["usage"]
        start_step = metadata["step"]
        logging.info("Resuming from the checkpoint at step %d.", start_step)

    with tqdm(
        total=train.num_steps,
        initial=start_step,
        desc=f"inhibition ({config.structure})",
        disable=not config.progress_bar,
    ) as progress:
        for step in range(start_step + 1, train.num_steps + 1):
            batch = patch_data.patches(
                jax.random.fold_in(data_key, step), images, train.batch_size, config.data.patch_size
            )
            hyper = inhibition_training.inhibition_hyperparams(
                l1_weight=train.l1_weight,
                dictionary_rate=_dictionary_rate(train, step),
                inhibition_rate=train.inhibition_rate,
                max_row_sum=train.max_row_sum,
            )
            params, opt_state, metrics = step_fn(params, opt_state, batch, hyper)
            batch_usage = metrics.pop("unit_usage")
            if usage is None:
                usage = batch_usage
            else:
                usage = update_usage(usage, batch_usage, train.usage_decay)
            progress.update()
            if step % train.log_every_steps == 0 or step == 1 or step == train.num_steps:
                record = writer.write(step, metrics, split="train")
                if not record["finite"]:
                    raise NonFiniteLossError(
                        f"inhibition training produced a non-finite energy or parameter at "
                        f"step {step} (energy {record['energy']})",
                        step=step,
                    )
                progress.set_postfix(
                    energy=f"{record['energy']:.3f}", active=f"{record['active_fraction']:.3f}"
                )
            if step % train.checkpoint_every_steps == 0 or step == train.num_steps:
                state = {"params": params, "opt_state": opt_state, "usage": usage}
                checkpointer.save(step, state, {"step": step})
    checkpointer.close()
    return params, np.asarray(usage)


def _dictionary_rate(train, step: int) -> float:
    """Linear decay from ``dictionary_rate`` to ``final_rate_fraction`` of it."""
    progress = (step - 1) / max(train.num_steps - 1, 1)
    fraction = 1 - (1 - train.final_rate_fraction) * progress
    return train.dictionary_rate * fraction


def evaluate(model, params, patches, l1_weight) -> tuple[dict[str, Any], np.ndarray]:
    """Evaluates on ``patches`` in chunks.

    Returns:
      ``(metrics, coactivation)``: batch means of the energy terms,
      ``active_fraction``, ``dead_units`` and the per-unit firing frequency
      ``unit_usage`` (a list), and the (k, k) matrix of the frequency with which
      each pair of units is active on the same patch.
    """

    @jax.jit
    def eval_step(p, x):
        sums = inhibition_training.inhibition_eval_step(p, x, l1_weight, model=model)
        active = (model.apply({"params": p}, x, l1_weight).codes != 0).astype(jnp.float32)
        return sums, active.T @ active

    totals: dict[str, np.ndarray] = {}
    coactivation = 0
    for start in range(0, patches.shape[0], EVAL_CHUNK):
        sums, pair_counts = eval_step(params, patches[start : start + EVAL_CHUNK])
        for name, value in sums.items():
            totals[name] = totals.get(name, 0) + np.asarray(value, np.float64)
        coactivation = coactivation + np.asarray(pair_counts, np.float64)
    count = float(totals.pop("count"))
    usage = totals.pop("unit_active") / count
    metrics = {name: float(value) / count for name, value in totals.items()}
    metrics["active_fraction"] = metrics.pop("active")
    metrics["dead_units"] = int(np.sum(usage == 0))
    return metrics | {"unit_usage": usage.tolist()}, coactivation / count


# ---------------------------------------------------------------------------
# Measurements (NumPy, on the trained parameters)
# ---------------------------------------------------------------------------


def inhibition_cosine_correlation(
    dictionary: np.ndarray, learned: np.ndarray, mask: np.ndarray, num_top: int
) -> dict[str, Any]:
    """Pearson and Spearman correlation of S_ij with |⟨d_i, d_j⟩| over allowed pairs i < j."""
    cosines = absolute_cosines(dictionary)
    pairs = np.triu(mask, k=1)
    strengths = learned[pairs]
    similarity = cosines[pairs]
    order = np.argsort(-strengths, kind="stable")[:num_top]
    rows, columns = np.nonzero(pairs)
    top = [
        {
            "units": [int(rows[index]), int(columns[index])],
            "inhibition": float(strengths[index]),
            "abs_cosine": float(similarity[index]),
        }
        for index in order
    ]
    nonzero = strengths > 0
    return {
        "pairs": int(pairs.sum()),
        "nonzero_fraction": float(nonzero.mean()),
        "pearson": _pearson(strengths, similarity),
        "spearman": _pearson(_ranks(strengths), _ranks(similarity)),
        "pearson_nonzero": _pearson(strengths[nonzero], similarity[nonzero]),
        "top_pairs": top,
        "top_pairs_mean_abs_cosine": float(np.mean([pair["abs_cosine"] for pair in top])),
        "all_pairs_mean_abs_cosine": float(similarity.mean()),
    }


def inhibition_summary(learned: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Row sums, sparsity and symmetry of the final S."""
    row_sums = learned.sum(axis=1)
    allowed = mask & ~np.eye(mask.shape[0], dtype=bool)
    return {
        "max_row_sum": float(row_sums.max()),
        "mean_row_sum": float(row_sums.mean()),
        "nonzero_fraction_of_allowed": float((learned[allowed] > 0).mean())
        if allowed.any()
        else 0.0,
        "max_abs_outside_mask": float(np.abs(learned[~allowed]).max()) if (~allowed).any() else 0.0,
        "max_asymmetry": float(np.abs(learned - learned.T).max()),
    }


def coactivation_summary(coactivation: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Mean frequency with which a pair is active together, inhibited pairs against free ones."""
    off_diagonal = ~np.eye(mask.shape[0], dtype=bool)
    inhibited = mask & off_diagonal
    free = ~mask & off_diagonal
    return {
        "inhibited_pairs_mean": float(coactivation[inhibited].mean()) if inhibited.any() else 0.0,
        "free_pairs_mean": float(coactivation[free].mean()) if free.any() else None,
    }


def _pearson(first: np.ndarray, second: np.ndarray) -> float:
    if first.size < 2 or np.std(first) == 0 or np.std(second) == 0:
        return float("nan")
    return float(np.corrcoef(first, second)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their mean rank (as Spearman's correlation needs)."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    ranks = np.empty(values.size, np.float64)
    start = 0
    while start < values.size:
        stop = start + 1
        while stop < values.size and sorted_values[stop] == sorted_values[start]:
            stop += 1
        ranks[order[start:stop]] = 0.5 * (start + stop - 1) + 1
        start = stop
    return ranks


# ---------------------------------------------------------------------------
# Pruning, figures and files
# ---------------------------------------------------------------------------


def _prune_and_plot(config, model, params, structure, usage, eval_patches, evaluation, figure_dir):
    """Prunes the forest by the usage EMA, evaluates the pruned model and draws both trees.

    ``curve`` repeats the pruning and the evaluation at each threshold of
    ``config.prune.curve_fractions`` (fractions of the mean usage).
    """
    threshold = config.prune.fraction_of_mean_usage * float(np.mean(usage))
    pruned = inhibition_training.prune_inhibition_model(
        model, params, structure.parents, usage, threshold
    )
    pruned_eval, _ = evaluate(pruned.model, pruned.params, eval_patches, config.train.l1_weight)
    np.savez(
        figure_dir.parent / "pruned_params.npz",
        dictionary=np.asarray(pruned.params["dictionary"]),
        inhibition=np.asarray(pruned.params["inhibition"]),
        parents=pruned.parents,
        kept=pruned.kept,
    )

    patch_shape = (config.data.patch_size, config.data.patch_size)
    labels = [f"{100 * value:.1f}" for value in usage]
    plotting.save_figure(
        plot_tree_filters(
            np.asarray(params["dictionary"]).T,
            patch_shape,
            structure.parents,
            labels=labels,
            title="Atoms laid out as the trees (firing frequency in % under each atom)",
        ),
        figure_dir / "tree_atoms.png",
        dpi=80,
    )
    plotting.save_figure(
        plot_tree_filters(
            np.asarray(pruned.params["dictionary"]).T,
            patch_shape,
            pruned.parents,
            labels=[labels[index] for index in pruned.kept],
            title=f"Pruned trees: subtrees with firing frequency < {100 * threshold:.2f} % removed",
        ),
        figure_dir / "tree_pruned.png",
        dpi=80,
    )

    curve = []
    for fraction in config.prune.curve_fractions:
        cut_threshold = fraction * float(np.mean(usage))
        if np.all(usage[structure.parents < 0] < cut_threshold):
            curve.append({"fraction_of_mean_usage": fraction, "units_after": 0})
            continue  # every root goes, so no model is left to evaluate
        cut = inhibition_training.prune_inhibition_model(
            model, params, structure.parents, usage, cut_threshold
        )
        cut_eval, _ = evaluate(cut.model, cut.params, eval_patches, config.train.l1_weight)
        curve.append(
            {"fraction_of_mean_usage": fraction, "units_after": int(cut.kept.size)}
            | _without_usage(cut_eval)
        )

    removed = np.setdiff1d(np.arange(model.num_units), pruned.kept)
    return {
        "threshold": threshold,
        "fraction_of_mean_usage": config.prune.fraction_of_mean_usage,
        "units_before": model.num_units,
        "units_after": int(pruned.kept.size),
        "removed_units": removed.tolist(),
        "usage_ema": usage.tolist(),
        "pruned_parents": pruned.parents.tolist(),
        "eval_before": _without_usage(evaluation),
        "eval_after": _without_usage(pruned_eval),
        "curve": curve,
    }


def _without_usage(metrics: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in metrics.items() if name != "unit_usage"}


def _plot_map(dictionary, side, patch_shape, measures, figure_dir) -> None:
    plotting.save_figure(
        plotting.plot_filters(
            dictionary.T,
            patch_shape,
            num_columns=side,
            title=(
                f"Atoms in map order\nneighbour |cos| "
                f"{measures['nearest_neighbours_mean_abs_cosine']:.3f}, all pairs "
                f"{measures['all_pairs_mean_abs_cosine']:.3f}"
            ),
            tile_inches=0.3,
        ),
        figure_dir / "map_atoms.png",
        dpi=80,
    )
    plotting.save_figure(
        plotting.plot_cosine_by_distance(measures["mean_abs_cosine_by_distance"]),
        figure_dir / "map_cosine_by_distance.png",
    )


def _plot_pairs(dictionary, learned, mask, measures, patch_shape, figure_dir) -> None:
    top = measures["top_pairs"]
    filters = np.stack([dictionary[:, unit] for pair in top for unit in pair["units"]])
    plotting.save_figure(
        plotting.plot_filters(
            filters,
            patch_shape,
            num_columns=8,
            title=f"The {len(top)} most inhibited pairs\n(side by side, largest S_ij first)",
            tile_inches=0.5,
        ),
        figure_dir / "top_pairs.png",
        dpi=80,
    )
    pairs = np.triu(mask, k=1)
    figure = Figure(figsize=(4.5, 3.5))
    axes = figure.add_subplot()
    axes.scatter(absolute_cosines(dictionary)[pairs], learned[pairs], s=2, alpha=0.4)
    axes.set_xlabel("|⟨d_i, d_j⟩|")
    axes.set_ylabel("S_ij")
    axes.set_title(
        f"Pearson {measures['pearson']:.2f}, Spearman {measures['spearman']:.2f}", fontsize=9
    )
    figure.tight_layout()
    plotting.save_figure(figure, figure_dir / "inhibition_vs_cosine.png", dpi=80)


def _plot_curves(workdir, figure_dir) -> None:
    records = [
        record
        for record in read_metrics(workdir / "metrics.jsonl")
        if record.get("split") == "train"
    ]
    figure = plotting.plot_training_curves(
        records,
        {
            "energy terms": ["energy", "reconstruction", "inhibition"],
            "active fraction": ["active_fraction"],
            "S": ["inhibition_max_row_sum", "inhibition_norm"],
            "gradient norms": ["dictionary_grad_norm", "inhibition_grad_norm"],
        },
        log_scale=("gradient norms",),
    )
    plotting.save_figure(figure, figure_dir / "training_curves.png", dpi=70)


def _save_params(path: pathlib.Path, params, structure: Structure) -> None:
    arrays = {name: np.asarray(value) for name, value in params.items()}
    arrays["mask"] = structure.mask
    if structure.parents is not None:
        arrays["parents"] = structure.parents
    np.savez(path, **arrays)
