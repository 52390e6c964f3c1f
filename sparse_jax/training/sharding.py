"""Data and sweep parallelism over several devices with ``jax.sharding``.

A :func:`make_mesh` mesh has two axes:

- ``"sweep"``: the models of a ``vmap`` sweep (:mod:`sparse_jax.training.sweep`)
  are split across it, each device group training its share of the models;
- ``"batch"``: every batch is split across it along its first axis, and the
  gradient of the batch mean is summed across devices by the compiler.

The train steps of this package are unchanged. :func:`shard_train_step` and
:func:`shard_sweep_step` only jit them with input and output shardings, so
XLA's SPMD partitioner inserts the collectives, and the results equal those
of the single-device step up to the order of floating-point sums. On a
single device every axis has size 1 and the sharded step is the plain one.

On CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` (set before
JAX starts) gives 8 host devices to try this on.

NOTE: only single-process meshes are tested. With several processes
(``jax.distributed.initialize()``), each process must build its part of a
batch with ``jax.make_array_from_process_local_data`` instead of
:func:`shard_batch`, which places a whole host array.

Example::

  mesh = make_mesh(num_sweep=2)  # 8 devices: 2 sweep groups of 4
  sweep_step = shard_sweep_step(group_ae_train_step, mesh, optimizer=opt, groups=torus)
  params, opt_state, hypers = shard_along_sweep((params, opt_state, hypers), mesh)
  params, opt_state, metrics = sweep_step(params, opt_state, shard_batch(x, mesh), hypers)
"""

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

SWEEP_AXIS = "sweep"
BATCH_AXIS = "batch"


def make_mesh(num_sweep: int = 1, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """Builds a (sweep, batch) mesh over ``devices`` (default: all of ``jax.devices()``).

    Args:
      num_sweep: devices along the sweep axis; it must divide the number of
        devices, and the rest go along the batch axis.
      devices: the devices to use.

    Returns:
      A ``jax.sharding.Mesh`` with axes ("sweep", "batch") of shape
      (num_sweep, num_devices // num_sweep), both of the automatic type.
    """
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices is empty; expected at least one device")
    if not isinstance(num_sweep, int) or num_sweep < 1 or len(devices) % num_sweep:
        raise ValueError(
            f"num_sweep must be a positive int that divides the {len(devices)} devices, "
            f"got {num_sweep!r}"
        )
    return jax.make_mesh(
        (num_sweep, len(devices) // num_sweep),
        (SWEEP_AXIS, BATCH_AXIS),
        axis_types=(AxisType.Auto, AxisType.Auto),
        devices=devices,
    )


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Returns the sharding that splits an array along its first axis over the batch axis."""
    return NamedSharding(mesh, PartitionSpec(BATCH_AXIS))


def sweep_sharding(mesh: Mesh) -> NamedSharding:
    """Returns the sharding that splits an array along its first (model) axis over "sweep"."""
    return NamedSharding(mesh, PartitionSpec(SWEEP_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """Returns the sharding that copies an array on every device."""
    return NamedSharding(mesh, PartitionSpec())


def shard_batch(batch: Any, mesh: Mesh) -> Any:
    """Places every leaf of ``batch`` split along its first axis over the batch axis.

    Raises:
      ValueError: a leaf's first dimension is not a multiple of the batch-axis size.
    """
    size = mesh.shape[BATCH_AXIS]
    for leaf in jax.tree.leaves(batch):
        if leaf.ndim == 0 or leaf.shape[0] % size:
            raise ValueError(
                f"a batch leaf has shape {leaf.shape}; its first dimension must be a multiple "
                f"of the {size} devices of the batch axis"
            )
    return jax.device_put(batch, batch_sharding(mesh))


def shard_along_sweep(tree: Any, mesh: Mesh) -> Any:
    """Places every leaf of stacked models (leading model axis) split over the sweep axis.

    Scalar leaves (such as an optimiser's step count stacked per model) count
    as having a model axis too, so every leaf must have one.

    Raises:
      ValueError: a leaf has no leading axis, or its size is not a multiple
        of the sweep-axis size.
    """
    size = mesh.shape[SWEEP_AXIS]
    for leaf in jax.tree.leaves(tree):
        if leaf.ndim == 0 or leaf.shape[0] % size:
            raise ValueError(
                f"a stacked leaf has shape {leaf.shape}; its first (model) dimension must be a "
                f"multiple of the {size} devices of the sweep axis"
            )
    return jax.device_put(tree, sweep_sharding(mesh))


def shard_train_step(step_fn: Callable, mesh: Mesh, /, **static_kwargs) -> Callable:
    """Jits ``step_fn(params, opt_state, batch, hyper)`` with the batch split over devices.

    The parameters, optimiser state and hyperparameters are replicated; the
    batch is split along its first axis over every device of the mesh (both
    axes). The outputs are replicated.

    Args:
      step_fn: a pure train step, such as
        :func:`sparse_jax.training.group_ae.group_ae_train_step`.
      mesh: from :func:`make_mesh`.
      **static_kwargs: fixed keyword arguments of ``step_fn``.

    Returns:
      ``step(params, opt_state, batch, hyper) -> (params, opt_state, metrics)``.
    """
    step = functools.partial(step_fn, **static_kwargs)
    data = NamedSharding(mesh, PartitionSpec((SWEEP_AXIS, BATCH_AXIS)))
    copy = replicated(mesh)
    return jax.jit(step, in_shardings=(copy, copy, data, copy), out_shardings=copy)


def shard_sweep_step(step_fn: Callable, mesh: Mesh, /, **static_kwargs) -> Callable:
    """Jits a ``vmap`` sweep of ``step_fn``: models over the sweep axis, batch over the batch axis.

    Like :func:`sparse_jax.training.make_sweep_step`: ``params``,
    ``opt_state`` and ``hyper`` carry a leading model axis, split over
    "sweep"; the shared batch is split over "batch". The new parameters,
    optimiser states and metrics keep the model axis split over "sweep".

    Args:
      step_fn: a pure train step ``step_fn(params, opt_state, batch, hyper, **static_kwargs)``.
      mesh: from :func:`make_mesh`.
      **static_kwargs: fixed keyword arguments of ``step_fn``.

    Returns:
      ``sweep_step(params, opt_state, batch, hyper)``.
    """
    step = jax.vmap(functools.partial(step_fn, **static_kwargs), in_axes=(0, 0, None, 0))
    models = sweep_sharding(mesh)
    return jax.jit(
        step,
        in_shardings=(models, models, batch_sharding(mesh), models),
        out_shardings=models,
    )
