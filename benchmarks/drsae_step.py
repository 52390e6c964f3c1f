"""DrSAE train step and 11-step forward pass against the float32 GEMM peak.

The reference is a float32 matrix product measured in the same run. The
FLOP counts are of the dense products only (element-wise work is ignored):

- forward: W_e x for the batch, 2·n·d·k; T − 1 products S z (z⁽⁰⁾ = 0 makes the
  first one free), 2·n·k²·(T − 1); the decoder, 2·n·d·k; the classifier,
  2·n·k·C;
- train step: about three times the forward products (forward, and in the
  backward pass one product for the input gradient and one for the weight
  gradient of each forward product).

Run from the repository root::

  python benchmarks/drsae_step.py --threads 2
"""

import argparse
import sys
import time

import _common


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for XLA and BLAS")
    parser.add_argument("--batch-size", type=int, default=128, help="examples per step")
    parser.add_argument("--units", type=int, default=400, help="hidden units k")
    parser.add_argument("--steps", type=int, default=11, help="unrolled encoder steps T")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per measurement")
    args = parser.parse_args()

    limits = _common.pin_threads(args.threads)
    import jax
    import jax.numpy as jnp
    import numpy as np

    from sparse_jax.models import DrSAE, init_drsae_params
    from sparse_jax.training import (
        Batch,
        DrSAEBounds,
        drsae_hyperparams,
        drsae_optimizer,
        make_drsae_train_step,
    )

    with limits:
        machine = _common.describe_machine()
        load_before = _common.load_average()
        peak = _common.measure_matmul_peak()

        d, k, n, num_classes = 784, args.units, args.batch_size, 10
        rng = np.random.default_rng(0)
        images = jnp.asarray(rng.uniform(0, 1, size=(max(n, k), d)), jnp.float32)
        labels = jnp.asarray(rng.integers(0, num_classes, size=n), jnp.int32)
        model = DrSAE(num_units=k, num_steps=args.steps, num_classes=num_classes)
        params = init_drsae_params(jax.random.key(0), images, model, l1_weight=0.05)
        optimizer = drsae_optimizer()
        opt_state = optimizer.init(params)
        hyper = drsae_hyperparams(l1_weight=0.05, class_weight=10.0, learning_rate=1e-3)
        step = make_drsae_train_step(model, optimizer, DrSAEBounds())
        batch = Batch(images=images[:n], labels=labels)
        forward = jax.jit(lambda p, x: model.apply({"params": p}, x))

        forward_flops = 2.0 * n * (d * k + k * k * (args.steps - 1) + d * k + k * num_classes)
        step_flops = 3 * forward_flops

        _common.time_call(forward, params, batch.images)
        forward_times, _ = _common.time_call(forward, params, batch.images, repeats=args.repeats)
        _common.time_call(step, params, opt_state, batch, hyper)
        step_times, _ = _common.time_call(
            step, params, opt_state, batch, hyper, repeats=args.repeats
        )
        load_after = _common.load_average()

    rows = []
    for name, times, flops in (
        (f"forward, T = {args.steps}", forward_times, forward_flops),
        ("train step", step_times, step_flops),
    ):
        best = min(times)
        rate = flops / best / 1e9
        rows.append(
            [
                name,
                f"{1e3 * best:.2f} ms",
                f"{1e3 * float(np.median(times)):.2f} ms",
                f"{flops / 1e9:.3f}",
                f"{rate:.1f}",
                f"{rate / peak['jax']:.2f}",
            ]
        )

    print(f"DrSAE benchmark, {time.strftime('%Y-%m-%d')}")
    _common.print_machine(machine)
    print(f"  load average before / after  {load_before} / {load_after}")
    print(
        f"  float32 GEMM peak (2048³): JAX {peak['jax']:.1f} GFLOP/s, "
        f"numpy {peak['numpy']:.1f} GFLOP/s"
    )
    print(f"  batch {n}, d = {d}, k = {k}, T = {args.steps}, {args.repeats} timed calls each")
    print()
    headers = ["computation", "best", "median", "GFLOP", "GFLOP/s", "fraction of JAX GEMM peak"]
    print(_common.markdown_table(headers, rows))


if __name__ == "__main__":
    sys.exit(main())
