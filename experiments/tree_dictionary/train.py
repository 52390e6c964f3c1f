"""Tree-structured dictionary learning on whitened natural-image patches.

``train_and_evaluate(config, workdir)`` learns k atoms arranged as the nodes
of a forest (Jenatton, Mairal, Obozinski & Bach, "Proximal methods for
hierarchical sparse coding", JMLR 12, 2011). Each step draws a fresh batch of
patches x, infers the codes

    z = argmin_z ½‖x − D z‖² + λ Σ_g ‖z_g‖₂

with FISTA. Here g runs over the k groups "node i and its descendants", and
the proximal operator is the exact :func:`sparse_jax.tree_prox`. Then the
step takes one Adam step on D and scales the atoms to unit norm (see
:func:`sparse_jax.training.lista.make_dictionary_learning_step`). A node can
only be active when its parent is, so every support is a rooted subtree.

A control run (``config.baseline``) learns the same number of atoms from the
same start with Ω(z) = λ‖z‖₁. Its atoms carry the same node numbers, so its
tree measurements show what an unstructured dictionary gives.

The evaluation codes patches of the held-out images (the last
``config.data.eval_images``) with more FISTA steps and measures the
reconstruction SNR, the fraction of active codes, the per-atom firing
frequency, and the mean |cosine| of parent–child atom pairs against
unrelated pairs (neither an ancestor of the other) and all pairs.

The work directory receives ``config.json``, ``metrics.jsonl`` (training
records every ``log_every_steps`` steps and one evaluation record per run,
each labelled with its ``run``, "tree" or "l1"),
``dictionaries.npz``, ``results.json`` and ``figures/*.png``. A rerun starts
from scratch and overwrites them.
"""

import json
import pathlib
import time
from collections.abc import Callable
from typing import Any

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

import sparse_jax
from experiments import _patches
from sparse_jax import inhibition, plotting
from sparse_jax.similarity import tree_cosines
from sparse_jax.training import (
    JsonlMetricWriter,
    NonFiniteLossError,
    normalize_columns,
    read_metrics,
)
from sparse_jax.training import lista as lista_training

PenaltyFactory = Callable[[Any], sparse_jax.Penalty]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir) -> dict[str, Any]:
    """Runs the tree run and the control run and returns the content of ``results.json``."""
    started = time.perf_counter()
    workdir = pathlib.Path(workdir)
    figure_dir = workdir / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json(indent=2))

    images, source = _patches.load_images(config.data)
    train_images, eval_images = split_images(images, config.data.eval_images)
    parents = inhibition.balanced_forest(
        config.tree.num_trees, config.tree.branching, config.tree.num_levels
    )
    groups = sparse_jax.groups.tree(parents)
    patch_size = config.data.patch_size

    init_key, data_key, eval_key = jax.random.split(jax.random.key(config.seed), 3)
    eval_patches = _patches.patches(eval_key, eval_images, config.data.eval_patches, patch_size)
    initial = initial_dictionary(init_key, train_images, parents.size, patch_size)

    def tree_penalty(weight) -> sparse_jax.Penalty:
        return sparse_jax.tree_lasso_penalty(groups, weight)

    runs: dict[str, tuple[PenaltyFactory, float]] = {
        "tree": (tree_penalty, config.train.tree_weight)
    }
    if config.baseline.enabled:
        runs["l1"] = (sparse_jax.l1_penalty, config.baseline.l1_weight)

    results: dict[str, Any] = {
        "data_source": source,
        "train_images": list(train_images.shape),
        "eval_images": list(eval_images.shape),
        "num_atoms": int(parents.size),
        "tree": {
            "num_trees": config.tree.num_trees,
            "branching": config.tree.branching,
            "num_levels": config.tree.num_levels,
            "parents": parents.tolist(),
        },
        "train_steps": config.train.num_steps,
        "batch_size": config.train.batch_size,
        "runs": {},
    }
    dictionaries = {"parents": parents}
    with JsonlMetricWriter(workdir / "metrics.jsonl") as writer:
        for name, (penalty, weight) in runs.items():
            train_started = time.perf_counter()
            dictionary, firing_ema = learn_dictionary(
                config, name, penalty, weight, initial, train_images, data_key, parents, writer
            )
            train_seconds = time.perf_counter() - train_started
            evaluation = evaluate(
                dictionary, eval_patches, penalty(weight), parents, config.eval.inference_steps
            )
            writer.write(config.train.num_steps, _scalars(evaluation), split="eval", run=name)
            results["runs"][name] = {
                "weight": weight,
                "train_seconds": train_seconds,
                "eval": evaluation,
                "firing_ema": firing_ema.tolist(),
                "cosines": tree_cosines(np.asarray(dictionary), parents),
            }
            dictionaries[f"{name}_dictionary"] = np.asarray(dictionary)

    np.savez(workdir / "dictionaries.npz", **dictionaries)
    _plot_atoms(results, dictionaries, parents, patch_size, figure_dir)
    _plot_curves(workdir, figure_dir, config.tree.num_levels)
    results["total_seconds"] = time.perf_counter() - started
    # Strict JSON: an empty pair class (one tree has no pairs across trees) is null.
    (workdir / "results.json").write_text(
        json.dumps(_nan_to_none(results), indent=2, allow_nan=False)
    )
    return results


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def split_images(images, num_eval: int) -> tuple[jax.Array, jax.Array]:
    """Splits (n, h, w) images into the first n − num_eval for training and the last num_eval."""
    count = images.shape[0]
    if not 1 <= num_eval < count:
        raise ValueError(
            f"config.data.eval_images must be between 1 and {count - 1} (one image at least "
            f"is left for training), got {num_eval}"
        )
    return images[: count - num_eval], images[count - num_eval :]


def initial_dictionary(key, images, num_atoms: int, patch_size: int) -> jax.Array:
    """Returns random contrast-normalised training patches as unit atoms, shape (d, k)."""
    # NOTE: a constant patch would give a zero atom, which stays zero. Whitened
    # natural images have no constant patches at the sizes used here.
    patches = _patches.patches(key, images, num_atoms, patch_size)
    return normalize_columns(patches.T)


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def learn_dictionary(
    config, name, penalty, weight, initial, images, data_key, parents, writer
) -> tuple[jax.Array, np.ndarray]:
    """Alternates FISTA and dictionary steps and returns D (d, k) and the firing EMA (k,).

    Every run draws the same sequence of batches from ``data_key``.
    """
    train = config.train
    optimizer = lista_training.single_group_adam()
    opt_state = optimizer.init(initial)
    step_fn = lista_training.make_dictionary_learning_step(
        optimizer, num_steps=train.inference_steps, penalty=penalty
    )
    depths = inhibition.tree_depths(parents)
    dictionary = initial
    firing_ema = None

    with tqdm(
        total=train.num_steps, desc=f"{name} dictionary", disable=not config.progress_bar
    ) as progress:
        for step in range(1, train.num_steps + 1):
            batch = _patches.patches(
                jax.random.fold_in(data_key, step), images, train.batch_size, config.data.patch_size
            )
            rate = learning_rate(train, step)
            dictionary, opt_state, metrics = step_fn(dictionary, opt_state, batch, weight, rate)
            firing = np.asarray(metrics.firing, np.float64)
            if firing_ema is None:
                firing_ema = firing
            else:
                firing_ema = train.firing_decay * firing_ema + (1 - train.firing_decay) * firing
            progress.update()

            if step % train.log_every_steps == 0 or step == 1 or step == train.num_steps:
                record = writer.write(
                    step,
                    _train_record(metrics, firing, depths, rate),
                    split="train",
                    run=name,
                )
                if not np.isfinite(record["objective"]):
                    raise NonFiniteLossError(
                        f"{name} dictionary learning produced a non-finite objective at step "
                        f"{step} ({record['objective']})",
                        step=step,
                    )
                progress.set_postfix(
                    objective=f"{record['objective']:.3f}",
                    active=f"{record['active_fraction']:.3f}",
                )
    return dictionary, firing_ema


def learning_rate(train, step: int) -> float:
    """Linear decay from ``learning_rate`` at step 1 to ``final_rate_fraction`` of it."""
    progress = (step - 1) / max(train.num_steps - 1, 1)
    return train.learning_rate * (1 - (1 - train.final_rate_fraction) * progress)


def _train_record(metrics, firing, depths, rate) -> dict[str, float]:
    record = {name: float(value) for name, value in metrics._asdict().items() if name != "firing"}
    record["penalty"] = record["objective"] - record["reconstruction"]
    record["learning_rate"] = rate
    for depth in range(int(depths.max()) + 1):
        record[f"firing_level_{depth}"] = float(firing[depths == depth].mean())
    return record


# ---------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------


def evaluate(dictionary, patches, penalty, parents, num_steps: int) -> dict[str, Any]:
    """Codes ``patches`` (n, d) with FISTA and measures the codes and the reconstruction.

    Returns:
      A dict with

      - ``objective``, ``reconstruction`` (½‖x − D z‖²) and ``penalty``
        (Ω(z)), each a mean over patches;
      - ``snr_db`` = 10 log₁₀(Σ‖x‖² / Σ‖x − D z‖²);
      - ``active_fraction``, the fraction of non-zero code entries;
      - ``firing`` (k,), the fraction of patches on which each atom is
        active, and ``firing_by_level``, its mean per tree level;
      - ``dead_atoms``, the number of atoms active on no patch;
      - ``support_rule_violations``, the fraction of patches whose code has
        an active node with an inactive parent (0 for the tree penalty).
    """

    @jax.jit
    def code(matrix, signals):
        return sparse_jax.proximal_gradient(matrix, signals, penalty, num_steps=num_steps).codes

    codes = code(dictionary, patches)
    penalty_values = np.asarray(jax.jit(jax.vmap(penalty.value))(codes), np.float64)
    codes = np.asarray(codes, np.float64)
    patches = np.asarray(patches, np.float64)
    residual = patches - codes @ np.asarray(dictionary, np.float64).T
    residual_sq = np.sum(residual**2, axis=1)

    active = codes != 0
    firing = active.mean(axis=0)
    children = np.flatnonzero(parents >= 0)
    orphans = active[:, children] & ~active[:, parents[children]]
    depths = inhibition.tree_depths(parents)
    reconstruction = 0.5 * float(residual_sq.mean())
    return {
        "objective": reconstruction + float(penalty_values.mean()),
        "reconstruction": reconstruction,
        "penalty": float(penalty_values.mean()),
        "snr_db": float(10 * np.log10(np.sum(patches**2) / max(np.sum(residual_sq), 1e-30))),
        "active_fraction": float(active.mean()),
        "dead_atoms": int(np.sum(firing == 0)),
        "support_rule_violations": float(orphans.any(axis=1).mean()),
        "firing_by_level": [
            float(firing[depths == depth].mean()) for depth in range(int(depths.max()) + 1)
        ],
        "firing": firing.tolist(),
    }


def _scalars(evaluation: dict[str, Any]) -> dict[str, float]:
    return {name: value for name, value in evaluation.items() if np.ndim(value) == 0}


# ---------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------


def _plot_atoms(results, dictionaries, parents, patch_size, figure_dir) -> None:
    titles = {
        "tree": "Tree-lasso atoms",
        "l1": "L1 control atoms in the same layout (no structure)",
    }
    for name, run in results["runs"].items():
        cosines = run["cosines"]
        labels = [f"{100 * value:.0f}" for value in run["eval"]["firing"]]
        title = (
            f"{titles[name]}, λ = {run['weight']:g}; firing in % under each atom\n"
            f"mean |cos| parent–child {cosines['parent_child_mean_abs_cosine']:.3f}, "
            f"unrelated {cosines['unrelated_mean_abs_cosine']:.3f}, "
            f"all pairs {cosines['all_pairs_mean_abs_cosine']:.3f}"
        )
        plotting.save_figure(
            plotting.plot_tree_filters(
                dictionaries[f"{name}_dictionary"].T,
                (patch_size, patch_size),
                parents,
                labels=labels,
                title=title,
            ),
            figure_dir / f"{name}_atoms.png",
            dpi=80,
        )


def _plot_curves(workdir, figure_dir, num_levels: int) -> None:
    # The curves name each line by its record's "split"; here that is the run.
    records = [
        record | {"split": record["run"]}
        for record in read_metrics(workdir / "metrics.jsonl")
        if record.get("split") == "train"
    ]
    runs = sorted({record["split"] for record in records}, key=["tree", "l1"].index)
    figure = plotting.plot_training_curves(
        records,
        {
            "objective ½‖x − Dz‖² + Ω(z)": [(run, "objective") for run in runs],
            "reconstruction ½‖x − Dz‖²": [(run, "reconstruction") for run in runs],
            "active fraction": [(run, "active_fraction") for run in runs],
            "tree run: firing by level": [
                ("tree", f"firing_level_{level}") for level in range(num_levels)
            ],
            "dictionary gradient norm": [(run, "gradient_norm") for run in runs],
        },
        log_scale=("dictionary gradient norm",),
    )
    plotting.save_figure(figure, figure_dir / "training_curves.png", dpi=70)


def _nan_to_none(value):
    """Returns ``value`` with every float NaN, in nested dicts and lists, replaced by None."""
    if isinstance(value, dict):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_none(item) for item in value]
    if isinstance(value, float) and value != value:
        return None
    return value
