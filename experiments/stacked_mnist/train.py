"""Stacked convolutional group-sparse auto-encoders on MNIST: does pretraining help?

``train_and_evaluate(config, workdir)`` runs, for every seed:

1. Pretraining on all training images, without labels: a convolutional
   group-sparse auto-encoder on the images (layer 1), then, with layer 1
   frozen and its decoder dropped, a second one on layer 1's L2-pooled
   outputs (layer 2).
2. For every number of labelled examples (a random subset of the training
   set, drawn per seed), two fine-tuning runs of
   :class:`sparse_jax.models.conv.ConvClassifier` (the two encoder layers and
   a linear classifier on layer 2's pooled maps) with the same number of Adam
   steps: one from the pretrained encoders, one from a random (LeCun-normal)
   initialisation. Each is evaluated on the test set.

Work directory:

- ``config.json``; ``metrics.jsonl`` with pretraining and fine-tuning records;
- ``pretrained/seed<s>.npz``: the encoder parameters of both layers;
- ``runs/seed<s>_labels<n>_<init>.json``: one finished fine-tuning run;
- ``results.json`` and ``results.md``: test errors per run and their mean and
  standard deviation over seeds, pretraining and fine-tuning times;
- ``figures/``: layer-1 atoms and filters, test error against labels.

A rerun with the same work directory reuses the pretrained encoders and the
finished runs, so an interrupted comparison continues where it stopped.
"""

import json
import pathlib
import sys
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from matplotlib.figure import Figure
from tqdm import tqdm

from sparse_jax import plotting
from sparse_jax.models.conv import (
    ConvClassifier,
    ConvSparseAutoencoder,
    assemble_pretrained_classifier,
    normalize_encoder_filters,
)
from sparse_jax.training import JsonlMetricWriter, NonFiniteLossError
from sparse_jax.training import conv as conv_training

INITS = ("pretrained", "random")


class Split(NamedTuple):
    """One data split as host arrays.

    Attributes:
      images: float32 (n, 28, 28, 1) in [0, 1].
      labels: int32 (n,).
    """

    images: np.ndarray
    labels: np.ndarray


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    *,
    datasets: Mapping[str, Split] | None = None,
) -> dict[str, Any]:
    """Runs the comparison and returns the content of ``results.json``.

    Args:
      config: a configuration such as ``configs/default.py``.
      workdir: the output folder; created when missing.
      datasets: ``"train"`` and ``"test"`` splits to use instead of loading
        MNIST as ``config.data`` specifies (for tests).
    """
    started = time.perf_counter()
    workdir = pathlib.Path(workdir).expanduser()
    for folder in ("pretrained", "runs", "figures"):
        (workdir / folder).mkdir(parents=True, exist_ok=True)
    (workdir / "config.json").write_text(config.to_json(indent=2, sort_keys=True) + "\n")
    splits = _load_splits(config.data) if datasets is None else _check_splits(datasets)
    num_train = len(splits["train"].labels)
    for count in config.label_counts:
        if not 1 <= count <= num_train:
            raise ValueError(
                f"label_counts has {count}, but the training split has {num_train} examples; "
                "expected counts between 1 and the split size"
            )

    layer_models = (_autoencoder(config.layer1), _autoencoder(config.layer2))
    # The random baseline starts from the standard LeCun-normal scale, not the
    # small scale used to start pretraining.
    classifier = ConvClassifier(
        layers=tuple(model.encoder_layer().clone(init_scale=1.0) for model in layer_models),
        num_classes=10,
    )
    # The jitted steps are built once, so seeds and runs share their compilations.
    pretrain_steps = [_pretrain_step(layer_models, index) for index in range(len(layer_models))]
    finetune_optimizer = conv_training.classifier_optimizer()
    finetune_step = conv_training.make_classifier_train_step(classifier, finetune_optimizer)
    eval_step = jax.jit(lambda p, b: conv_training.classifier_eval_step(p, b, model=classifier))
    classifier_init = jax.jit(classifier.init)

    # Keep every record already in the file: a rerun appends to it.
    with JsonlMetricWriter(workdir / "metrics.jsonl", resume_step=sys.maxsize) as writer:
        runs = []
        pretrain_seconds = {}
        for seed in config.seeds:
            encoders, seconds = _pretrained_encoders(
                config, seed, layer_models, pretrain_steps, splits["train"].images, writer, workdir
            )
            pretrain_seconds[str(seed)] = seconds
            for count in config.label_counts:
                subset = labelled_subset(seed, count, num_train)
                for init in INITS:
                    run = FinetuneRun(seed=seed, count=count, init=init, subset=subset)
                    runs.append(
                        _finetune(
                            config,
                            run,
                            classifier_init,
                            encoders,
                            splits,
                            finetune_optimizer,
                            finetune_step,
                            eval_step,
                            writer,
                            workdir,
                        )
                    )

    results = {
        "architecture": describe_architecture(config),
        "finetune_steps": config.finetune.num_steps,
        "batch_size": config.finetune.batch_size,
        "test_examples": len(splits["test"].labels),
        "train_examples": num_train,
        "pretrain_seconds_per_seed": pretrain_seconds,
        "summary": summarize(runs),
        "runs": runs,
        "total_seconds_of_last_call": time.perf_counter() - started,
    }
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (workdir / "results.md").write_text(results_table(results["summary"]) + "\n")
    _write_figures(config, workdir, results)
    return results


def labelled_subset(seed: int, count: int, num_train: int) -> np.ndarray:
    """Returns the indices of the ``count`` labelled training examples of ``seed``.

    The draw is uniform without replacement and depends only on the seed and
    the count, so both initialisations fine-tune on the same examples.
    """
    rng = np.random.default_rng([seed, count])
    return np.sort(rng.choice(num_train, count, replace=False))


def describe_architecture(config: ml_collections.ConfigDict) -> str:
    """Returns a one-line description of the network of ``config``."""
    parts = []
    for name in ("layer1", "layer2"):
        layer = config[name].model
        parts.append(
            f"{layer.num_features} maps {layer.kernel_size}×{layer.kernel_size} stride "
            f"{layer.stride}, ReLU, gain, L2 pool {layer.pool_window}×{layer.pool_window} "
            f"stride {layer.pool_stride}"
        )
    return "; ".join(parts) + "; linear classifier on the flattened pooled maps"


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups runs by (labels, init): mean and sample standard deviation of the test error."""
    rows = []
    for count in sorted({run["labels"] for run in runs}):
        for init in INITS:
            errors = [
                run["test_error"] for run in runs if run["labels"] == count and run["init"] == init
            ]
            if not errors:
                continue
            rows.append(
                {
                    "labels": count,
                    "init": init,
                    "seeds": len(errors),
                    "mean_error": float(np.mean(errors)),
                    "std_error": float(np.std(errors, ddof=1)) if len(errors) > 1 else None,
                    "errors": errors,
                }
            )
    return rows


def results_table(summary: list[dict[str, Any]]) -> str:
    """Formats the summary as a Markdown table of test errors in per cent."""
    lines = [
        "| labelled examples | initialisation | test error (%) mean ± std | per seed (%) |",
        "|---:|---|---:|---|",
    ]
    for row in summary:
        spread = "" if row["std_error"] is None else f" ± {100 * row['std_error']:.2f}"
        per_seed = ", ".join(f"{100 * error:.2f}" for error in row["errors"])
        lines.append(
            f"| {row['labels']:,} | {row['init']} | {100 * row['mean_error']:.2f}{spread} | "
            f"{per_seed} |"
        )
    return "\n".join(lines)


def _autoencoder(layer_config) -> ConvSparseAutoencoder:
    model = layer_config.model
    return ConvSparseAutoencoder(
        num_features=model.num_features,
        kernel_size=model.kernel_size,
        stride=model.stride,
        pool_window=model.pool_window,
        pool_stride=model.pool_stride,
        group_size=model.group_size,
        group_stride=model.group_stride or None,
        pool_sigma=model.pool_sigma or None,
        init_scale=model.init_scale,
    )


class FinetuneRun(NamedTuple):
    """The identity of one fine-tuning run.

    Attributes:
      seed: the seed of the pretraining, the label draw and the batches.
      count: the number of labelled training examples.
      init: "pretrained" or "random".
      subset: int (count,), the indices of the labelled examples.
    """

    seed: int
    count: int
    init: str
    subset: np.ndarray


def _pretrain_step(layer_models, index: int):
    """Returns the jitted auto-encoder step of layer ``index`` on frozen lower layers.

    ``step(params, opt_state, images, hyper, frozen)`` encodes ``images`` with
    the layers below, whose encoder parameters are the list ``frozen``, and
    takes one auto-encoder step on their pooled outputs.
    """
    model = layer_models[index]
    lower_layers = [lower.encoder_layer() for lower in layer_models[:index]]
    optimizer = conv_training.autoencoder_optimizer()

    def layer_inputs(images, frozen):
        for layer, params in zip(lower_layers, frozen, strict=True):
            _, images = layer.apply({"params": params}, images)
        return images

    def step(params, opt_state, images, hyper, frozen):
        return conv_training.autoencoder_train_step(
            params, opt_state, layer_inputs(images, frozen), hyper, model=model, optimizer=optimizer
        )

    def init(key, images, frozen):
        params = model.init(key, layer_inputs(images, frozen))["params"]
        return params, optimizer.init(params)

    return jax.jit(step), jax.jit(init)


def _pretrained_encoders(config, seed, layer_models, pretrain_steps, images, writer, workdir):
    """Trains both auto-encoders for ``seed``, or loads them from ``pretrained/``."""
    path = workdir / "pretrained" / f"seed{seed}.npz"
    if path.exists():
        logging.info("Loading the pretrained encoders of seed %d from %s.", seed, path)
        with np.load(path) as stored:
            encoders = [
                {
                    name: jnp.asarray(stored[f"layer{index}/{name}"])
                    for name in ("filters", "bias", "gain")
                }
                for index in range(len(layer_models))
            ]
            seconds = float(stored["seconds"])
        return encoders, seconds

    started = time.perf_counter()
    rng = np.random.default_rng([seed, 1])
    encoders = []
    for index, layer_config in enumerate((config.layer1, config.layer2)):
        step, init = pretrain_steps[index]
        key = jax.random.key(seed * 100 + index)
        params, opt_state = init(key, jnp.asarray(images[:2]), encoders)
        params = _train_autoencoder(
            step,
            params,
            opt_state,
            encoders,
            layer_config,
            images,
            rng,
            f"seed{seed}-layer{index + 1}",
            writer,
            config,
        )
        encoders.append(params["encoder"])
    seconds = time.perf_counter() - started
    arrays = {
        f"layer{index}/{name}": np.asarray(value)
        for index, encoder in enumerate(encoders)
        for name, value in encoder.items()
    }
    np.savez(path, seconds=seconds, **arrays)
    logging.info("Pretrained both layers of seed %d in %.0f s.", seed, seconds)
    return encoders, seconds


def _train_autoencoder(
    step, params, opt_state, frozen, layer_config, images, rng, name, writer, config
):
    """Trains one auto-encoder on the pooled outputs of the ``frozen`` layers below it."""
    hyper = conv_training.autoencoder_hyperparams(
        group_weight=layer_config.group_weight, learning_rate=layer_config.learning_rate
    )
    bar = tqdm(
        total=layer_config.num_steps, desc=f"pretrain {name}", disable=not config.progress_bar
    )
    with bar:
        for step_number in range(1, layer_config.num_steps + 1):
            batch = images[rng.integers(0, len(images), layer_config.batch_size)]
            params, opt_state, metrics = step(params, opt_state, jnp.asarray(batch), hyper, frozen)
            if step_number % config.log_every_steps == 0 or step_number == layer_config.num_steps:
                _check_finite(metrics, step_number, name)
                record = writer.write(step_number, metrics, split="pretrain", run=name)
                bar.set_postfix(
                    loss=f"{record['loss']:.4g}", active=f"{record['active_fraction']:.3f}"
                )
            bar.update(1)
    return params


def _finetune(
    config, run, classifier_init, encoders, splits, optimizer, step, eval_step, writer, workdir
):
    """Fine-tunes one classifier, or loads the finished run from ``runs/``."""
    seed, count, init = run.seed, run.count, run.init
    name = f"seed{seed}_labels{count}_{init}"
    path = workdir / "runs" / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text())

    started = time.perf_counter()
    train = splits["train"]
    images = train.images[run.subset]
    labels = train.labels[run.subset]
    # Both initialisations share the random classifier on top.
    params = classifier_init(jax.random.key(seed * 1000 + 7), jnp.asarray(images[:2]))["params"]
    if init == "pretrained":
        if config.finetune.normalize_pretrained:
            encoders = [normalize_encoder_filters(encoder) for encoder in encoders]
        params = assemble_pretrained_classifier(params, encoders)

    finetune = config.finetune
    opt_state = optimizer.init(params)
    hyper = conv_training.classifier_hyperparams(
        learning_rate=finetune.learning_rate, features_rate_scale=finetune.features_rate_scale
    )
    rng = np.random.default_rng([seed, count, 2])  # the same batches for both initialisations
    batch_size = min(finetune.batch_size, count)
    order = rng.permutation(count)
    position = 0
    bar = tqdm(total=finetune.num_steps, desc=name, disable=not config.progress_bar)
    with bar:
        for step_number in range(1, finetune.num_steps + 1):
            if position + batch_size > count:
                order = rng.permutation(count)
                position = 0
            chosen = order[position : position + batch_size]
            position += batch_size
            batch = conv_training.ImageBatch(
                jnp.asarray(images[chosen]), jnp.asarray(labels[chosen])
            )
            params, opt_state, metrics = step(params, opt_state, batch, hyper)
            if step_number % config.log_every_steps == 0 or step_number == finetune.num_steps:
                _check_finite(metrics, step_number, name)
                record = writer.write(step_number, metrics, split="finetune", run=name)
                bar.set_postfix(loss=f"{record['loss']:.3g}")
            bar.update(1)
    train_seconds = time.perf_counter() - started

    test_error = evaluate(eval_step, params, splits["test"], config.eval_batch_size)
    record = {
        "seed": seed,
        "labels": count,
        "init": init,
        "test_error": test_error,
        "final_train_batch_error": float(metrics["error_rate"]),
        "finetune_seconds": train_seconds,
    }
    writer.write(finetune.num_steps, {"test_error": test_error}, split="test", run=name)
    logging.info("%s: test error %.2f %% after %.0f s.", name, 100 * test_error, train_seconds)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def evaluate(eval_step, params, split: Split, batch_size: int) -> float:
    """Returns the error rate of ``params`` on ``split``; ``eval_step`` is a jitted
    ``conv_training.classifier_eval_step``."""
    errors = 0
    for start in range(0, len(split.labels), batch_size):
        batch = conv_training.ImageBatch(
            jnp.asarray(split.images[start : start + batch_size]),
            jnp.asarray(split.labels[start : start + batch_size]),
        )
        errors += int(eval_step(params, batch)["errors"])
    return errors / len(split.labels)


def _check_finite(metrics, step: int, name: str) -> None:
    if not bool(metrics["finite"]):
        raise NonFiniteLossError(
            f"{name}: non-finite loss, gradient or parameters by step {step}; lower the "
            "learning rate",
            step=step,
        )


def _load_splits(data_config) -> dict[str, Split]:
    from sparse_jax.data import load_mnist  # the data layer; tests pass arrays instead

    splits = {}
    for name, split in (("train", data_config.train_split), ("test", data_config.test_split)):
        dataset = load_mnist(split, source=data_config.source, flatten=False)
        if data_config.require_full and dataset.source == "sample":
            raise ValueError(
                "This configuration needs the full MNIST, but load_mnist fell back to the "
                "shipped sample. Set SPARSE_JAX_DATA_DIR to the folder that holds mnist/, or "
                "use configs/sample.py."
            )
        logging.info("Loaded %d %s images from %s.", len(dataset.labels), split, dataset.source)
        splits[name] = Split(dataset.images, dataset.labels)
    return _check_splits(splits)


def _check_splits(splits: Mapping[str, Split]) -> dict[str, Split]:
    checked = {}
    for name in ("train", "test"):
        if name not in splits:
            raise ValueError(f"datasets has no {name!r} split; expected 'train' and 'test'")
        images = np.asarray(splits[name][0], np.float32)
        labels = np.asarray(splits[name][1])
        if images.ndim != 4 or labels.shape != images.shape[:1]:
            raise ValueError(
                f"{name} split has images of shape {images.shape} and labels of shape "
                f"{labels.shape}; expected (n, H, W, C) and (n,)"
            )
        checked[name] = Split(images, labels.astype(np.int32))
    return checked


def _write_figures(config, workdir: pathlib.Path, results: dict[str, Any]) -> None:
    figures = workdir / "figures"
    first_seed = config.seeds[0]
    with np.load(workdir / "pretrained" / f"seed{first_seed}.npz") as stored:
        filters = stored["layer0/filters"][:, :, 0, :]  # (k, k, K)
    size = filters.shape[0]
    rows = np.moveaxis(filters, -1, 0).reshape(filters.shape[-1], size * size)
    plotting.save_figure(
        plotting.plot_filters(
            rows, (size, size), title=f"layer-1 encoder filters, seed {first_seed}"
        ),
        figures / "layer1_filters.png",
    )

    figure = Figure(figsize=(5, 3.5))
    axes = figure.add_subplot()
    for init, marker in zip(INITS, ("o", "s"), strict=True):
        rows = [row for row in results["summary"] if row["init"] == init]
        axes.errorbar(
            [row["labels"] for row in rows],
            [100 * row["mean_error"] for row in rows],
            yerr=[100 * (row["std_error"] or 0.0) for row in rows],
            marker=marker,
            capsize=3,
            label=init,
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("labelled training examples")
    axes.set_ylabel("test error (%)")
    axes.set_title(f"{results['finetune_steps']} fine-tuning steps, mean ± std over seeds")
    axes.legend()
    figure.tight_layout()
    plotting.save_figure(figure, figures / "test_error.png")
