"""Training and evaluation of DrSAE on MNIST.

``train_and_evaluate(config, workdir)`` trains in two phases (auto-encoder,
then with the classification term), evaluates on the validation split after
every epoch, keeps the parameters with the lowest validation error, and reports
the test error of those parameters once, at the end.

The work directory receives:

- ``config.json``: the configuration of the latest run;
- ``metrics.jsonl``: training records every ``log_every_steps`` updates, one
  validation record per epoch and one test record at the end;
- ``checkpoints/``: orbax checkpoints of the training state (parameters,
  optimiser state, shuffling key, step, epoch and position in the epoch's
  permutation), written at the end of each epoch and when the run stops;
- ``best/``: the parameters with the lowest validation error;
- ``results.json``: the final errors and timings;
- ``figures/``: encoder filters, decoder atoms and training curves as PNG.

Rerunning with the same work directory resumes from the newest checkpoint
and reproduces the uninterrupted run bit for bit on CPU.
"""

import dataclasses
import functools
import json
import math
import pathlib
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from tqdm import tqdm

from experiments._cli import changed_config_fields
from sparse_jax import plotting
from sparse_jax.models import DrSAE, init_drsae_params
from sparse_jax.training import (
    Batch,
    Checkpointer,
    DrSAEHyperparams,
    JsonlMetricWriter,
    NonFiniteLossError,
    drsae_eval_step,
    drsae_hyperparams,
    drsae_optimizer,
    make_drsae_train_step,
    read_metrics,
)

# Fields that may change between a run and its resumption; any other change
# would make the resumed run a different experiment.
RESUMABLE_FIELDS = frozenset(
    {
        "num_epochs",
        "max_steps",
        "patience_epochs",
        "progress_bar",
        "log_every_steps",
        "checkpoint_every_steps",
        "eval_batch_size",
        "num_figure_units",
    }
)
SPLIT_NAMES = ("train", "validation", "test")


class Split(NamedTuple):
    """One data split as host arrays.

    Attributes:
      images: float32 (n, d) in [0, 1].
      labels: int32 (n,).
    """

    images: np.ndarray
    labels: np.ndarray


class TrainState(NamedTuple):
    """The arrays of a training state, saved in every checkpoint.

    Attributes:
      params: DrSAE parameters, see ``sparse_jax.models.DrSAE``.
      opt_state: the optimiser state of ``drsae_optimizer``.
      shuffle_key: uint32 key data, shape (2,); epoch e shuffles with
        ``fold_in(shuffle_key, e)``.
    """

    params: dict[str, jax.Array]
    opt_state: Any
    shuffle_key: jax.Array


@dataclasses.dataclass
class Progress:
    """The position of a run, saved as JSON beside the arrays of each checkpoint."""

    step: int = 0  # updates done
    epoch: int = 0  # epochs done; the current epoch's index
    batch_index: int = 0  # batches of the current epoch's permutation done
    best_validation_error: float | None = None
    best_validation_cross_entropy: float | None = None
    best_step: int | None = None
    epochs_without_improvement: int = 0
    stopped_early: bool = False


class TrainOutcome(NamedTuple):
    """The result of :func:`train_and_evaluate`.

    Attributes:
      state: the training state when the run stopped.
      progress: the run's position when it stopped.
      best_params: the parameters with the lowest validation error, or None
        when no classification epoch has finished yet.
      test_error: the test error of ``best_params`` (of the final parameters
        when there is no best), or None when the run stopped before its end.
    """

    state: TrainState
    progress: Progress
    best_params: dict[str, jax.Array] | None
    test_error: float | None


def train_and_evaluate(
    config: ml_collections.ConfigDict,
    workdir: str | pathlib.Path,
    *,
    datasets: Mapping[str, Split] | None = None,
) -> TrainOutcome:
    """Trains DrSAE, resuming from ``workdir`` when it contains a checkpoint.

    Args:
      config: a configuration such as ``configs/default.py``.
      workdir: the output folder; created when missing.
      datasets: splits ``"train"``, ``"validation"`` and ``"test"`` to use
        instead of loading MNIST as ``config.data`` says (for tests).

    Returns:
      :class:`TrainOutcome`.

    Raises:
      NonFiniteLossError: an update produced a non-finite loss, gradient or
        parameter. The newest checkpoint then holds the last finite state.
      ValueError: ``workdir`` contains a checkpoint of a run whose configuration
        differs in a field outside ``RESUMABLE_FIELDS``.
    """
    start_time = time.perf_counter()
    workdir = pathlib.Path(workdir).expanduser()
    _check_run_config(config)
    workdir.mkdir(parents=True, exist_ok=True)
    checkpointer = Checkpointer(workdir / "checkpoints", max_to_keep=2)
    best_checkpointer = Checkpointer(workdir / "best", max_to_keep=1)
    writer = None
    try:
        resumed = checkpointer.latest_step() is not None
        _write_config(config, workdir, resumed=resumed)
        splits = _load_splits(config.data) if datasets is None else _check_splits(datasets)
        model = DrSAE(
            num_units=config.model.num_units,
            num_steps=config.model.num_steps,
            num_classes=config.model.num_classes,
        )
        optimizer = drsae_optimizer()
        eval_step = jax.jit(functools.partial(drsae_eval_step, model=model))

        num_train = splits["train"].images.shape[0]
        steps_per_epoch = num_train // config.batch_size
        if steps_per_epoch < 1:
            raise ValueError(
                f"batch_size={config.batch_size} is larger than the {num_train} training "
                "examples; lower batch_size"
            )
        total_steps = config.num_epochs * steps_per_epoch
        stop_step = total_steps if config.max_steps <= 0 else min(total_steps, config.max_steps)

        state = _initial_state(config, model, optimizer, splits["train"].images)
        progress = Progress()
        if resumed:
            state, metadata = checkpointer.restore(state)
            progress = Progress(**metadata)
            logging.info(
                "Resumed from the checkpoint at step %d (epoch %d) in %s.",
                progress.step,
                progress.epoch,
                checkpointer.directory,
            )
        already_finished = progress.step >= total_steps or progress.stopped_early
        writer = JsonlMetricWriter(
            workdir / "metrics.jsonl", resume_step=progress.step if resumed else None
        )

        state, progress = _train(
            config=config,
            state=state,
            progress=progress,
            splits=splits,
            train_step=make_drsae_train_step(model, optimizer),
            eval_step=eval_step,
            checkpointer=checkpointer,
            best_checkpointer=best_checkpointer,
            writer=writer,
            steps_per_epoch=steps_per_epoch,
            stop_step=stop_step,
        )
        best_params = _restore_best(best_checkpointer, state.params)
        test_error = None
        if progress.step >= total_steps or progress.stopped_early:
            test_error = _test(
                config,
                best_params or state.params,
                splits["test"],
                eval_step,
                None if already_finished else writer,
                progress,
            )
            _write_results(workdir, progress, test_error, time.perf_counter() - start_time)
        else:
            logging.info(
                "Stopped at step %d of %d (max_steps=%d); rerun with the same workdir to resume.",
                progress.step,
                total_steps,
                config.max_steps,
            )
        _write_figures(config, workdir, best_params or state.params)
    finally:
        if writer is not None:
            writer.close()
        checkpointer.close()
        best_checkpointer.close()
    return TrainOutcome(state, progress, best_params, test_error)


def _check_run_config(config: ml_collections.ConfigDict) -> None:
    """Raises ValueError for run-length and rate fields that cannot train a model."""
    positive = {
        "batch_size": config.batch_size,
        "num_epochs": config.num_epochs,
        "eval_batch_size": config.eval_batch_size,
        "learning_rate": config.learning_rate,
    }
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"config.{name} must be positive, got {value}")
    if config.learning_rate_schedule not in ("exponential", "cosine"):
        raise ValueError(
            f"config.learning_rate_schedule must be 'exponential' or 'cosine', got "
            f"{config.learning_rate_schedule!r}"
        )
    if config.learning_rate_schedule == "cosine" and not config.cosine_epochs > 0:
        raise ValueError(f"config.cosine_epochs must be positive, got {config.cosine_epochs}")


def hyperparams_for_epoch(config: ml_collections.ConfigDict, epoch: int) -> DrSAEHyperparams:
    """Returns the hyperparameters of the updates in ``epoch`` (0-based).

    The class weight is 0 during the first ``autoencoder_epochs`` epochs. The
    learning rate is ``learning_rate · learning_rate_decay^epoch`` with the
    "exponential" schedule, and with the "cosine" schedule
    ``learning_rate · ½(1 + cos(π · epoch / cosine_epochs))``, held at 0 after
    ``cosine_epochs``.
    """
    class_weight = 0.0 if epoch < config.autoencoder_epochs else config.class_weight
    if config.learning_rate_schedule == "exponential":
        rate = config.learning_rate * config.learning_rate_decay**epoch
    elif config.learning_rate_schedule == "cosine":
        progress = min(epoch / config.cosine_epochs, 1.0)
        rate = config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))
    else:
        raise ValueError(
            f"config.learning_rate_schedule must be 'exponential' or 'cosine', got "
            f"{config.learning_rate_schedule!r}"
        )
    return drsae_hyperparams(
        l1_weight=config.l1_weight,
        class_weight=class_weight,
        learning_rate=rate,
        encoding_rate_scale=config.encoding_rate_scale,
    )


def epoch_permutation(shuffle_key: jax.Array, epoch: int, num_examples: int) -> np.ndarray:
    """Returns the order of the training examples in ``epoch``; it depends on the key only."""
    key = jax.random.fold_in(jax.random.wrap_key_data(shuffle_key), epoch)
    return np.asarray(jax.random.permutation(key, num_examples))


def _train(
    *,
    config: ml_collections.ConfigDict,
    state: TrainState,
    progress: Progress,
    splits: Mapping[str, Split],
    train_step,
    eval_step,
    checkpointer: Checkpointer,
    best_checkpointer: Checkpointer,
    writer: JsonlMetricWriter,
    steps_per_epoch: int,
    stop_step: int,
) -> tuple[TrainState, Progress]:
    """Runs updates from ``progress`` until ``stop_step`` or an early stop."""
    train = splits["train"]
    batch_size = config.batch_size
    permutation, permutation_epoch = None, None
    epoch_start = time.perf_counter()
    if progress.step < stop_step and not progress.stopped_early:
        logging.info(
            "Training from step %d to step %d, %d steps per epoch.",
            progress.step,
            stop_step,
            steps_per_epoch,
        )

    bar = tqdm(total=stop_step, initial=progress.step, disable=not config.progress_bar, unit="step")
    with bar:
        while progress.step < stop_step and not progress.stopped_early:
            if permutation_epoch != progress.epoch:
                permutation = epoch_permutation(
                    state.shuffle_key, progress.epoch, len(train.labels)
                )
                permutation_epoch = progress.epoch
            start = progress.batch_index * batch_size
            indices = permutation[start : start + batch_size]
            batch = Batch(images=train.images[indices], labels=train.labels[indices])
            hyper = hyperparams_for_epoch(config, progress.epoch)

            params, opt_state, metrics = train_step(state.params, state.opt_state, batch, hyper)
            if not bool(metrics["finite"]):
                _stop_on_non_finite(state, progress, metrics, checkpointer, writer)
            state = state._replace(params=params, opt_state=opt_state)
            progress.step += 1
            progress.batch_index += 1
            bar.update(1)

            if progress.step % config.log_every_steps == 0:
                extra = {"learning_rate": hyper.learning_rates["decoding"], "epoch": progress.epoch}
                record = writer.write(progress.step, {**metrics, **extra}, split="train")
                bar.set_postfix(loss=f"{record['loss']:.4g}", error=f"{record['error_rate']:.3f}")

            if progress.batch_index == steps_per_epoch:
                epoch_seconds = time.perf_counter() - epoch_start
                _end_epoch(
                    config,
                    state,
                    progress,
                    splits["validation"],
                    eval_step,
                    writer,
                    best_checkpointer,
                    epoch_seconds,
                )
                checkpointer.save(progress.step, state, dataclasses.asdict(progress))
                epoch_start = time.perf_counter()
            elif (
                config.checkpoint_every_steps > 0
                and progress.step % config.checkpoint_every_steps == 0
            ):
                checkpointer.save(progress.step, state, dataclasses.asdict(progress))

    checkpointer.save(progress.step, state, dataclasses.asdict(progress))
    return state, progress


def _stop_on_non_finite(state, progress, metrics, checkpointer, writer) -> None:
    """Saves the last finite state, records the failed step and raises."""
    failed_step = progress.step + 1
    checkpointer.save(progress.step, state, dataclasses.asdict(progress))
    checkpointer.wait()
    writer.write(failed_step, metrics, split="train", event="non_finite")
    values = {name: float(metrics[name]) for name in ("loss", "grad_norm", "param_norm")}
    message = (
        f"Non-finite training step {failed_step} (epoch {progress.epoch}, batch "
        f"{progress.batch_index}): loss {values['loss']}, gradient norm {values['grad_norm']}, "
        f"parameter norm {values['param_norm']}. Training stopped; the checkpoint at step "
        f"{progress.step} in {checkpointer.directory} contains the last finite state. Check the "
        "input data or lower the learning rate, then rerun to resume."
    )
    logging.error(message)
    raise NonFiniteLossError(message, step=failed_step)


def _end_epoch(
    config, state, progress, validation, eval_step, writer, best_checkpointer, epoch_seconds
) -> None:
    """Evaluates on the validation split, then updates the best parameters and early stopping."""
    finished_epoch = progress.epoch
    progress.epoch += 1
    progress.batch_index = 0
    hyper = hyperparams_for_epoch(config, finished_epoch)
    result = _evaluate(state.params, validation, hyper, eval_step, config.eval_batch_size)
    writer.write(
        progress.step,
        {**result, "epoch": progress.epoch, "epoch_seconds": epoch_seconds},
        split="validation",
    )
    logging.info(
        "Epoch %d (step %d, %.1f s): validation error %.2f %%, reconstruction %.3f, "
        "active fraction %.3f.",
        progress.epoch,
        progress.step,
        epoch_seconds,
        100 * result["error_rate"],
        result["reconstruction"],
        result["active_fraction"],
    )
    if finished_epoch < config.autoencoder_epochs:
        return  # the classifier is untrained in phase 1, so its error selects nothing

    score = (result["error_rate"], result["cross_entropy"])
    best = (progress.best_validation_error, progress.best_validation_cross_entropy)
    if progress.best_step is None or score < best:
        progress.best_validation_error, progress.best_validation_cross_entropy = score
        progress.best_step = progress.step
        progress.epochs_without_improvement = 0
        best_checkpointer.save(
            progress.step, {"params": state.params}, {"epoch": progress.epoch, **result}
        )
        return

    progress.epochs_without_improvement += 1
    if 0 < config.patience_epochs <= progress.epochs_without_improvement:
        progress.stopped_early = True
        logging.info(
            "Early stop after epoch %d: no lower validation error for %d epochs; the best, "
            "%.2f %%, was at step %d.",
            progress.epoch,
            progress.epochs_without_improvement,
            100 * progress.best_validation_error,
            progress.best_step,
        )


def _evaluate(params, split: Split, hyper, eval_step, batch_size: int) -> dict[str, float]:
    """Returns the error rate, the mean loss terms and the active fraction over a split."""
    totals: dict[str, float] = {}
    for start in range(0, len(split.labels), batch_size):
        stop = start + batch_size
        batch = Batch(images=split.images[start:stop], labels=split.labels[start:stop])
        for name, value in jax.device_get(eval_step(params, batch, hyper)).items():
            totals[name] = totals.get(name, 0.0) + float(value)

    count = totals.pop("count")
    errors = totals.pop("errors")
    result = {name: value / count for name, value in totals.items()}
    result["active_fraction"] = result.pop("active")
    result["error_rate"] = errors / count
    result["errors"] = int(errors)
    return result


def _test(config, params, test: Split, eval_step, writer, progress) -> float:
    """Evaluates ``params`` on the test split and records the result unless ``writer`` is None."""
    hyper = hyperparams_for_epoch(config, max(progress.epoch - 1, 0))
    result = _evaluate(params, test, hyper, eval_step, config.eval_batch_size)
    if writer is not None:
        record = {**result, "best_step": progress.best_step or progress.step}
        writer.write(progress.step, record, split="test")
    logging.info(
        "Test error %.2f %% (%d of %d) with the parameters of step %s.",
        100 * result["error_rate"],
        result["errors"],
        len(test.labels),
        progress.best_step or progress.step,
    )
    return result["error_rate"]


def _initial_state(config, model: DrSAE, optimizer, train_images: np.ndarray) -> TrainState:
    """Initialises parameters from training digits, the optimiser and the shuffling key."""
    init_key, shuffle_key = jax.random.split(jax.random.key(config.seed))
    params = init_drsae_params(
        init_key,
        jnp.asarray(train_images),
        model,
        l1_weight=config.l1_weight,
        lipschitz=config.lipschitz if config.lipschitz > 0 else None,
    )
    return TrainState(
        params=params,
        opt_state=optimizer.init(params),
        shuffle_key=jax.random.key_data(shuffle_key),
    )


def _restore_best(best_checkpointer: Checkpointer, params_like) -> dict[str, jax.Array] | None:
    if best_checkpointer.latest_step() is None:
        return None
    restored, _ = best_checkpointer.restore({"params": params_like})
    return restored["params"]


def _write_config(config: ml_collections.ConfigDict, workdir: pathlib.Path, *, resumed: bool):
    """Writes ``config.json``, after checking that a resumed run keeps its configuration."""
    path = workdir / "config.json"
    current = json.loads(config.to_json())
    if resumed:
        changed = changed_config_fields(path, config, RESUMABLE_FIELDS)
        if changed:
            raise ValueError(
                f"{workdir} contains a checkpoint of a run with a different configuration "
                f"(changed: {', '.join(changed)}). Use a new --workdir, or restore those "
                f"fields; only {', '.join(sorted(RESUMABLE_FIELDS))} may change on resume."
            )
    path.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")


def _load_splits(data_config: ml_collections.ConfigDict) -> dict[str, Split]:
    """Loads the train, validation and test splits that ``data_config`` names."""
    from sparse_jax.data import load_mnist  # the data layer; tests may pass arrays instead

    splits = {}
    for name in SPLIT_NAMES:
        limit = data_config[f"{name}_limit"]
        dataset = load_mnist(
            data_config[f"{name}_split"],
            source=data_config.source,
            data_dir=data_config.data_dir or None,
            limit=limit if limit > 0 else None,
        )
        if data_config.require_full and dataset.source == "sample":
            raise ValueError(
                "This configuration needs the full MNIST, but load_mnist fell back to the "
                "shipped sample. Set SPARSE_JAX_DATA_DIR to the folder that holds mnist/, or "
                "set --config.data.data_dir, or use configs/sample.py."
            )
        logging.info("Loaded %d %s images from %s.", len(dataset.labels), name, dataset.source)
        splits[name] = Split(images=dataset.images, labels=dataset.labels)
    return _check_splits(splits)


def _check_splits(splits: Mapping[str, Split]) -> dict[str, Split]:
    missing = [name for name in SPLIT_NAMES if name not in splits]
    if missing:
        raise ValueError(f"datasets is missing the splits {missing}; expected {list(SPLIT_NAMES)}")
    checked = {}
    for name in SPLIT_NAMES:
        images = np.asarray(splits[name][0], dtype=np.float32)
        labels = np.asarray(splits[name][1])
        if images.ndim != 2 or labels.shape != images.shape[:1]:
            raise ValueError(
                f"{name} split has images of shape {images.shape} and labels of shape "
                f"{labels.shape}; expected (n, d) and (n,)"
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(f"{name} labels must be integers, got dtype {labels.dtype}")
        checked[name] = Split(images=images, labels=labels.astype(np.int32))
    return checked


def _write_results(workdir: pathlib.Path, progress: Progress, test_error: float, seconds: float):
    results = {
        "test_error": test_error,
        "best_validation_error": progress.best_validation_error,
        "best_step": progress.best_step,
        "steps": progress.step,
        "epochs": progress.epoch,
        "stopped_early": progress.stopped_early,
        "wall_seconds_of_last_run": seconds,
    }
    (workdir / "results.json").write_text(json.dumps(results, indent=2) + "\n")


def _write_figures(config, workdir: pathlib.Path, params) -> None:
    """Draws encoder filters, decoder atoms and training curves into ``workdir/figures``."""
    figures = workdir / "figures"
    image_shape = (config.data.image_height, config.data.image_width)
    num_units = min(config.num_figure_units, config.model.num_units)
    encoder = np.asarray(params["encoder"])[:num_units]
    decoder = np.asarray(params["decoder"]).T[:num_units]
    if encoder.shape[1] == image_shape[0] * image_shape[1]:
        plotting.save_figure(
            plotting.plot_filters(encoder, image_shape, title="encoder rows W_e"),
            figures / "encoder_filters.png",
        )
        plotting.save_figure(
            plotting.plot_filters(decoder, image_shape, title="decoder atoms (columns of W_d)"),
            figures / "decoder_atoms.png",
        )
    else:
        logging.warning(
            "Skipped the filter figures: inputs have %d values, not image_height × "
            "image_width = %d.",
            encoder.shape[1],
            image_shape[0] * image_shape[1],
        )

    records = read_metrics(workdir / "metrics.jsonl")
    curves = plotting.plot_training_curves(
        records,
        {
            "loss": [("train", "loss"), ("validation", "loss")],
            "reconstruction ½‖x − W_d z‖²": [
                ("train", "reconstruction"),
                ("validation", "reconstruction"),
            ],
            "error rate": [("train", "error_rate"), ("validation", "error_rate")],
            "active fraction": [("train", "active_fraction"), ("validation", "active_fraction")],
            "dead units (train batch)": [("train", "dead_units")],
            "global norms": [
                ("train", "grad_norm"),
                ("train", "update_norm"),
                ("train", "param_norm"),
            ],
        },
        log_scale=("error rate", "global norms"),
    )
    plotting.save_figure(curves, figures / "training_curves.png")
