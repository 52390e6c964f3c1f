"""Tests of data and sweep parallelism, on one device and on four forced host devices."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest

from sparse_jax import groups
from sparse_jax.models.group_ae import GroupSparseAutoEncoder
from sparse_jax.training import group_ae as gae
from sparse_jax.training import sharding

# Runs in a fresh interpreter, because the number of host devices is fixed
# when JAX starts.
FOUR_DEVICE_SCRIPT = textwrap.dedent(
    """
    import jax
    import numpy as np
    import pytest

    from sparse_jax import groups
    from sparse_jax.models.group_ae import GroupSparseAutoEncoder
    from sparse_jax.training import group_ae as gae
    from sparse_jax.training import make_sweep_step, sharding, stack_trees

    assert len(jax.devices()) == 4, jax.devices()
    mesh = sharding.make_mesh(num_sweep=2)
    assert dict(mesh.shape) == {"sweep": 2, "batch": 2}

    signals = jax.random.normal(jax.random.key(0), (64, 16))
    params = GroupSparseAutoEncoder(num_units=16).init(jax.random.key(1), signals)["params"]
    optimizer = gae.group_ae_optimizer()
    torus = groups.torus(4, 2, 1)
    hypers = stack_trees(
        [gae.group_ae_hyperparams(sparsity_weight=w, learning_rate=1e-2) for w in (0.1, 0.3)]
    )
    stacked = stack_trees([params, params])
    states = jax.vmap(optimizer.init)(stacked)

    # Sweep parallelism: two models over "sweep", the batch over "batch".
    reference = make_sweep_step(
        gae.group_ae_train_step, optimizer=optimizer, groups=torus, mode="psd"
    )
    sharded = sharding.shard_sweep_step(
        gae.group_ae_train_step, mesh, optimizer=optimizer, groups=torus, mode="psd"
    )
    expected = reference(stacked, states, signals, hypers)
    inputs = sharding.shard_along_sweep((stacked, states, hypers), mesh)
    got = sharded(inputs[0], inputs[1], sharding.shard_batch(signals, mesh), inputs[2])
    for want, have in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
        np.testing.assert_allclose(np.asarray(have), np.asarray(want), rtol=1e-5, atol=1e-6)
    assert got[0]["dictionary"].sharding.spec == jax.sharding.PartitionSpec("sweep")
    assert len(got[0]["dictionary"].sharding.device_set) == 4

    # Data parallelism: one model, the batch over all four devices.
    hyper = gae.group_ae_hyperparams(sparsity_weight=0.1, learning_rate=1e-2)
    single = jax.jit(
        lambda *args: gae.group_ae_train_step(*args, optimizer=optimizer, groups=torus)
    )
    data_parallel = sharding.shard_train_step(
        gae.group_ae_train_step, mesh, optimizer=optimizer, groups=torus
    )
    expected = single(params, optimizer.init(params), signals, hyper)
    got = data_parallel(params, optimizer.init(params), signals, hyper)
    for want, have in zip(jax.tree.leaves(expected), jax.tree.leaves(got)):
        np.testing.assert_allclose(np.asarray(have), np.asarray(want), rtol=1e-5, atol=1e-6)

    # Sizes that do not divide the mesh raise.
    with pytest.raises(ValueError, match="multiple of the 2 devices of the batch axis"):
        sharding.shard_batch(signals[:63], mesh)
    with pytest.raises(ValueError, match="multiple of the 2 devices of the sweep axis"):
        sharding.shard_along_sweep(stack_trees([params] * 3), mesh)
    with pytest.raises(ValueError, match="divides the 4 devices"):
        sharding.make_mesh(num_sweep=3)
    print("four-device checks passed")
    """
)


def test_sharded_steps_on_four_devices():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    completed = subprocess.run(
        [sys.executable, "-c", FOUR_DEVICE_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "four-device checks passed" in completed.stdout


def test_sharded_step_on_one_device():
    mesh = sharding.make_mesh(devices=jax.devices()[:1])
    signals = jax.random.normal(jax.random.key(2), (8, 9))
    params = GroupSparseAutoEncoder(num_units=4).init(jax.random.key(3), signals)["params"]
    optimizer = gae.group_ae_optimizer()
    structure = groups.from_labels(np.arange(4) // 2)
    hyper = gae.group_ae_hyperparams(sparsity_weight=0.2, learning_rate=1e-2)
    plain = gae.make_group_ae_train_step(optimizer, groups=structure)
    sharded = sharding.shard_train_step(
        gae.group_ae_train_step, mesh, optimizer=optimizer, groups=structure
    )
    expected = plain(params, optimizer.init(params), signals, hyper)
    got = sharded(params, optimizer.init(params), signals, hyper)
    for want, have in zip(jax.tree.leaves(expected), jax.tree.leaves(got), strict=True):
        np.testing.assert_allclose(np.asarray(have), np.asarray(want), rtol=1e-6, atol=1e-7)


def test_make_mesh_rejects_bad_sizes():
    with pytest.raises(ValueError, match="devices is empty"):
        sharding.make_mesh(devices=[])
    with pytest.raises(ValueError, match="num_sweep must be a positive int"):
        sharding.make_mesh(num_sweep=0)
