"""LISTA against FISTA on MNIST: how many FISTA steps does one learned step replace?

``train_and_evaluate(config, workdir)`` runs four stages, each saved in the
work directory so that a rerun skips the stages already done:

1. ``dictionary.npz``: a lasso dictionary (unit-norm atoms as columns) learned
   by alternating FISTA inference and Adam steps on the atoms.
2. Optimal codes z* of the training and evaluation digits, from restarted
   FISTA to a relative duality gap of ``config.targets.tol`` (recomputed on a
   rerun, as they take about a minute).
3. ``lista_T{T}.npz``: for each T in ``config.lista.num_steps``, LISTA
   (signed soft threshold, Gregor & LeCun 2010) initialised at T ISTA steps
   and trained to regress z*.
4. ``results.json`` and ``figures/``: the objective of every trained LISTA on
   the evaluation digits, and the number of FISTA and ISTA steps that reach
   the same mean objective.

``metrics.jsonl`` holds the training records of every stage.
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
from matplotlib.figure import Figure
from tqdm import tqdm

import sparse_jax
from sparse_jax import plotting
from sparse_jax.training import JsonlMetricWriter, NonFiniteLossError
from sparse_jax.training import lista as lista_training


def train_and_evaluate(config: ml_collections.ConfigDict, workdir) -> dict[str, Any]:
    """Runs the experiment and returns the content of ``results.json``."""
    workdir = pathlib.Path(workdir)
    (workdir / "figures").mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json(indent=2))
    started = time.perf_counter()
    train_images, eval_images = _load_images(config.data)
    rng = np.random.default_rng(config.seed)
    l1_weight = config.dictionary.l1_weight

    with JsonlMetricWriter(workdir / "metrics.jsonl", resume_step=None) as writer:
        dictionary = _dictionary_stage(config.dictionary, train_images, rng, writer, workdir)
        targets_started = time.perf_counter()
        train_targets = _optimal_codes(dictionary, train_images, l1_weight, config.targets)
        eval_targets = _optimal_codes(dictionary, eval_images, l1_weight, config.targets)
        targets_seconds = time.perf_counter() - targets_started

        energy = jax.jit(
            jax.vmap(lambda x, z: sparse_jax.lasso_energy(dictionary, x, z, l1_weight))
        )
        optimal_objective = float(jnp.mean(energy(eval_images, eval_targets)))
        curves = _solver_curves(dictionary, eval_images, l1_weight, config.curve_steps)

        rows = []
        for num_steps in config.lista.num_steps:
            params = _lista_stage(
                config.lista,
                num_steps,
                dictionary,
                l1_weight,
                train_images,
                train_targets,
                rng,
                writer,
                workdir,
            )
            rows.append(
                _evaluate_lista(
                    params,
                    num_steps,
                    config.lista.nonneg,
                    dictionary,
                    eval_images,
                    eval_targets,
                    l1_weight,
                    energy,
                    curves,
                )
            )
            writer.write(num_steps, rows[-1], stage="lista_eval")

    results = {
        "optimal_objective": optimal_objective,
        "eval_examples": int(eval_images.shape[0]),
        "train_examples": int(train_images.shape[0]),
        "num_atoms": int(dictionary.shape[1]),
        "l1_weight": l1_weight,
        "target_seconds": targets_seconds,
        "total_seconds": time.perf_counter() - started,
        "lista": rows,
        "fista_objective": {str(n): float(curves["fista"][n - 1]) for n in _curve_marks(curves)},
        "ista_objective": {str(n): float(curves["ista"][n - 1]) for n in _curve_marks(curves)},
    }
    (workdir / "results.json").write_text(json.dumps(results, indent=2))
    _plot(results, curves, dictionary, workdir / "figures")
    return results


def _load_images(data_config) -> tuple[jax.Array, jax.Array]:
    from sparse_jax.data import load_mnist  # the data layer, used by experiments only

    images = []
    for split, limit in (
        (data_config.train_split, data_config.train_limit),
        (data_config.eval_split, data_config.eval_limit),
    ):
        dataset = load_mnist(split, source=data_config.source, limit=limit or None)
        if data_config.require_full and dataset.source == "sample":
            raise ValueError(
                "This configuration needs the full MNIST, but load_mnist fell back to the "
                "shipped sample. Set SPARSE_JAX_DATA_DIR to the folder that holds mnist/, or "
                "use configs/sample.py."
            )
        logging.info("Loaded %d %s images from %s.", len(dataset.images), split, dataset.source)
        images.append(jnp.asarray(dataset.images))
    return images[0], images[1]


def _dictionary_stage(dict_config, images, rng, writer, workdir) -> jax.Array:
    """Learns the dictionary, or loads it from ``dictionary.npz`` when it exists."""
    path = workdir / "dictionary.npz"
    if path.exists():
        logging.info("Loading the dictionary from %s.", path)
        return jnp.asarray(np.load(path)["dictionary"])

    n = images.shape[0]
    batch_size = min(dict_config.batch_size, n)
    atoms = np.asarray(images)[rng.choice(n, dict_config.num_atoms, replace=False)].T
    dictionary = jnp.asarray(atoms / np.maximum(np.linalg.norm(atoms, axis=0), 1e-12))
    optimizer = lista_training.single_group_adam()
    opt_state = optimizer.init(dictionary)
    step_fn = lista_training.make_dictionary_learning_step(
        optimizer, num_steps=dict_config.fista_steps
    )
    batches_per_epoch = n // batch_size
    step = 0
    with tqdm(total=dict_config.epochs * batches_per_epoch, desc="dictionary") as progress:
        for _ in range(dict_config.epochs):
            order = rng.permutation(n)
            for start in range(0, batches_per_epoch * batch_size, batch_size):
                batch = images[order[start : start + batch_size]]
                dictionary, opt_state, metrics = step_fn(
                    dictionary,
                    opt_state,
                    batch,
                    dict_config.l1_weight,
                    dict_config.learning_rate,
                )
                step += 1
                progress.update()
                if step % 20 == 0 or step == 1:
                    scalars = metrics._asdict()
                    firing = scalars.pop("firing")  # per atom; the log keeps its dead count
                    scalars["dead_atoms"] = jnp.sum(firing == 0)
                    record = writer.write(step, scalars, stage="dictionary")
                    _check_finite(record["objective"], step, "dictionary learning")
                    progress.set_postfix(objective=f"{record['objective']:.3f}")
    np.savez(path, dictionary=np.asarray(dictionary))
    return dictionary


def _optimal_codes(dictionary, images, l1_weight, target_config) -> jax.Array:
    """Solves the lasso to the configured duality gap, in chunks to bound idle lanes."""
    solve = jax.jit(
        lambda x: sparse_jax.proximal_gradient(
            dictionary,
            x,
            sparse_jax.l1_penalty(l1_weight),
            tol=target_config.tol,
            max_steps=target_config.max_steps,
            restart=True,
        )
    )
    codes = []
    for start in range(0, images.shape[0], target_config.chunk_size):
        result = solve(images[start : start + target_config.chunk_size])
        worst = float(jnp.max(result.criterion))
        if worst > target_config.tol:
            logging.warning(
                "FISTA stopped at max_steps=%d with relative gap %.2e above tol=%.0e.",
                target_config.max_steps,
                worst,
                target_config.tol,
            )
        codes.append(result.codes)
    return jnp.concatenate(codes)


def _solver_curves(dictionary, images, l1_weight, num_steps) -> dict[str, np.ndarray]:
    """Mean objective over ``images`` after each of ``num_steps`` FISTA and ISTA steps."""
    curves = {}
    for name, accelerate in (("fista", True), ("ista", False)):
        result = sparse_jax.proximal_gradient(
            dictionary,
            images,
            sparse_jax.l1_penalty(l1_weight),
            num_steps=num_steps,
            accelerate=accelerate,
            record_objectives=True,
        )
        curves[name] = np.asarray(jnp.mean(result.objectives, axis=0))
    return curves


def _lista_stage(
    lista_config, num_steps, dictionary, l1_weight, images, targets, rng, writer, workdir
):
    """Trains LISTA with ``num_steps`` steps, or loads it from ``lista_T{T}.npz``."""
    path = workdir / f"lista_T{num_steps}.npz"
    if path.exists():
        logging.info("Loading LISTA T=%d from %s.", num_steps, path)
        return sparse_jax.ListaParams(**{k: jnp.asarray(v) for k, v in np.load(path).items()})

    params = sparse_jax.lista_params_from_dictionary(dictionary, l1_weight)
    optimizer = lista_training.single_group_adam()
    opt_state = optimizer.init(params)
    step_fn = lista_training.make_lista_train_step(
        optimizer, num_steps=num_steps, nonneg=lista_config.nonneg
    )
    n = images.shape[0]
    batch_size = min(lista_config.batch_size, n)
    batches_per_epoch = n // batch_size
    step = 0
    with tqdm(total=lista_config.epochs * batches_per_epoch, desc=f"LISTA T={num_steps}") as bar:
        for epoch in range(lista_config.epochs):
            rate = lista_config.learning_rate * lista_config.decay_per_epoch**epoch
            order = rng.permutation(n)
            for start in range(0, batches_per_epoch * batch_size, batch_size):
                index = order[start : start + batch_size]
                params, opt_state, metrics = step_fn(
                    params, opt_state, images[index], targets[index], rate
                )
                step += 1
                bar.update()
                if step % 50 == 0 or step == 1:
                    record = writer.write(
                        step, metrics._asdict(), stage="lista", lista_steps=str(num_steps)
                    )
                    _check_finite(record["loss"], step, f"LISTA T={num_steps}")
                    bar.set_postfix(code_error=f"{record['relative_code_error']:.3f}")
    np.savez(path, **{k: np.asarray(v) for k, v in params._asdict().items()})
    return params


def _evaluate_lista(
    params, num_steps, nonneg, dictionary, images, targets, l1_weight, energy, curves
) -> dict[str, Any]:
    """Objective and code error of a trained LISTA, and the solver steps that match it."""
    del dictionary, l1_weight
    codes = sparse_jax.lista_encode(*params, images, num_steps=num_steps, nonneg=nonneg)
    _, relative_error = lista_training.lista_regression_loss(
        params, images, targets, num_steps=num_steps, nonneg=nonneg
    )
    objective = float(jnp.mean(energy(images, codes)))
    row = {
        "lista_steps": num_steps,
        "objective": objective,
        "relative_code_error": float(relative_error),
        "active_fraction": float(sparse_jax.active_fraction(codes)),
    }
    for name, curve in curves.items():
        reached = np.flatnonzero(curve <= objective)
        # None: the solver does not reach LISTA's objective within the recorded steps.
        row[f"{name}_steps_to_match"] = int(reached[0]) + 1 if reached.size else None
    return row


def _curve_marks(curves) -> list[int]:
    length = len(curves["fista"])
    marks = [1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
    return [n for n in marks if n <= length]


def _check_finite(value: float, step: int, stage: str) -> None:
    if not np.isfinite(value):
        raise NonFiniteLossError(f"{stage} produced a non-finite loss at step {step}", step=step)


def _plot(results, curves, dictionary, figure_dir: pathlib.Path) -> None:
    figure = Figure(figsize=(10, 4))
    left, right = figure.subplots(1, 2)
    optimum = results["optimal_objective"]
    steps = np.arange(1, len(curves["fista"]) + 1)
    for name, curve in curves.items():
        left.loglog(steps, curve - optimum, label=name.upper())
    lista = results["lista"]
    left.loglog(
        [row["lista_steps"] for row in lista],
        [row["objective"] - optimum for row in lista],
        "o-",
        label="LISTA (trained)",
    )
    left.set_xlabel("steps (iterations or LISTA layers)")
    left.set_ylabel("mean objective − optimum")
    left.legend()
    left.set_title("Objective against steps")
    matched = [row for row in lista if row["fista_steps_to_match"] is not None]
    right.plot(
        [row["lista_steps"] for row in matched],
        [row["fista_steps_to_match"] for row in matched],
        "o-",
    )
    right.set_xlabel("LISTA steps T")
    right.set_ylabel("FISTA steps for the same objective")
    right.set_title("FISTA steps replaced by T LISTA steps")
    figure.tight_layout()
    plotting.save_figure(figure, figure_dir / "lista_vs_fista.png")

    atoms = np.asarray(dictionary).T[:100]
    plotting.save_figure(
        plotting.plot_filters(atoms, (28, 28), title="Lasso dictionary (first 100 atoms)"),
        figure_dir / "dictionary.png",
    )
