"""Benchmarks the convolutional and locally connected auto-encoder train steps.

From the repository root::

  python benchmarks/conv.py --threads 2

It times:

1. one jitted train step (``sparse_jax.training.conv``) of four
   auto-encoders: the layer-1 and layer-2 models of the stacked MNIST
   experiment, the natural-image model of experiments/conv_natural and the
   64 × 64 sheet of experiments/pinwheels. Each comes with its estimated
   throughput against the float32 GEMM peak measured in the same run;
2. the locally connected layer, ``sparse_jax.local.local_correlate`` (a
   gather of the windows and one ``einsum``), against the plain Python loop
   ``local_correlate_reference`` and against two other ways to cut the
   windows: stacking the f² strided slices, and
   ``lax.conv_general_dilated_patches`` (a convolution with an identity
   kernel).

FLOP estimates count the multiply-adds of the dominant contractions, 2 FLOPs
each: per example the forward pass makes two of them (encoder and decoder,
2·H'W'·k²·C·K FLOPs each for a code map of H' × W' × K and k × k × C
filters) and the backward pass three (decoder weights, codes, encoder
weights), five in all. Pooling, ReLU and Adam are left out. Prints the
machine, the versions and Markdown tables; ``--markdown FILE`` also writes
the tables there.
"""

import argparse
import pathlib
import time

import _common


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for JAX and BLAS")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per case; best kept")
    parser.add_argument(
        "--loop-sheet", type=int, default=64, help="sheet side for the loop-reference comparison"
    )
    parser.add_argument("--markdown", type=pathlib.Path, help="also write the tables to this file")
    return parser.parse_args()


def train_step_flops(
    batch: int, code_positions: int, filter_size: int, channels: int, features: int
):
    """Estimates one train step: five contractions of 2·positions·k²·C·K FLOPs per example."""
    return 5 * 2.0 * batch * code_positions * filter_size**2 * channels * features


def main() -> None:
    args = parse_args()
    pin = _common.pin_threads(args.threads)

    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax import lax

    from sparse_jax import local
    from sparse_jax.models.conv import ConvSparseAutoencoder
    from sparse_jax.models.local import LocalSparseAutoencoder
    from sparse_jax.training import conv as conv_training

    with pin:
        machine = _common.describe_machine()
        print("Machine and versions:")
        _common.print_machine(machine)
        print(f"  load average at start  {_common.load_average()}")
        peak = _common.measure_matmul_peak()
        print(f"float32 GEMM peak (2048², best of 5): JAX {peak['jax']:.1f} GFLOP/s")

        # (name, model, input shape, code positions H'·W', filter size, channels, features)
        sheet = LocalSparseAutoencoder(
            sheet=(64, 64), filter_size=10, pool_window=5, pool_sigma=1.5
        )
        cases = [
            (
                "conv, MNIST layer 1: 16 maps 5×5, 28×28, batch 64",
                ConvSparseAutoencoder(num_features=16, kernel_size=5),
                (64, 28, 28, 1),
                28 * 28,
                5,
                1,
                16,
            ),
            (
                "conv, MNIST layer 2: 32 maps 5×5×16, 14×14, batch 64",
                ConvSparseAutoencoder(num_features=32, kernel_size=5),
                (64, 14, 14, 16),
                14 * 14,
                5,
                16,
                32,
            ),
            (
                "conv, natural images: 16 maps 9×9, 64×64, batch 8",
                ConvSparseAutoencoder(num_features=16, kernel_size=9),
                (8, 64, 64, 1),
                64 * 64,
                9,
                1,
                16,
            ),
            (
                "locally connected: 64×64 sheet, 10×10 filters, 73×73, batch 8",
                sheet,
                (8, 73, 73, 1),
                64 * 64,
                10,
                1,
                1,
            ),
        ]
        rng = np.random.default_rng(0)
        step_rows = []
        for name, model, shape, positions, size, channels, features in cases:
            inputs = jnp.asarray(rng.standard_normal(shape), jnp.float32)
            params = jax.jit(model.init)(jax.random.key(0), inputs)["params"]
            optimizer = conv_training.autoencoder_optimizer()
            opt_state = optimizer.init(params)
            step = conv_training.make_autoencoder_train_step(model, optimizer)
            hyper = conv_training.autoencoder_hyperparams(group_weight=0.1, learning_rate=1e-3)

            def train_once(p, o, step=step, inputs=inputs, hyper=hyper):
                return step(p, o, inputs, hyper)

            compile_start = time.perf_counter()
            _common.time_call(train_once, params, opt_state)
            compile_seconds = time.perf_counter() - compile_start
            timings, _ = _common.time_call_with_cpu(
                train_once, params, opt_state, repeats=args.repeats
            )
            fastest = min(timings)
            flops = train_step_flops(shape[0], positions, size, channels, features)
            gflops = flops / fastest.wall / 1e9
            step_rows.append(
                [
                    name,
                    f"{1e3 * fastest.wall:.1f}",
                    f"{1e3 * fastest.cpu:.0f}",
                    f"{compile_seconds:.1f}",
                    f"{flops / 1e9:.3f}",
                    f"{gflops:.1f}",
                    f"{100 * gflops / peak['jax']:.1f} %",
                ]
            )
            print(" | ".join(step_rows[-1]), flush=True)

        layer_rows = _time_local_layer(args, jax, jnp, np, lax, local)

        peak_after = _common.measure_matmul_peak()
        print(f"float32 GEMM peak after the cases: JAX {peak_after['jax']:.1f} GFLOP/s")
        if peak_after["jax"] > peak["jax"]:
            for row in step_rows:
                row[-1] = f"{100 * float(row[-2]) / peak_after['jax']:.1f} %"
            peak = peak_after
        header = (
            f"best of {args.repeats} calls after one warm-up; GEMM peak {peak['jax']:.1f} GFLOP/s "
            "(JAX, float32, 2048², the better of the measurements before and after the cases); "
            f"load average at end {_common.load_average()}"
        )
        step_table = _common.markdown_table(
            [
                "train step",
                "wall (ms)",
                "CPU (ms)",
                "first call (s)",
                "GFLOP (est.)",
                "GFLOP/s",
                "of GEMM peak",
            ],
            step_rows,
        )
        layer_table = _common.markdown_table(
            ["locally connected forward, one image", "time (ms)", "relative to gather + einsum"],
            layer_rows,
        )
        print(header)
        print(step_table)
        print()
        print(layer_table)
        if args.markdown is not None:
            args.markdown.write_text(header + "\n\n" + step_table + "\n\n" + layer_table + "\n")


def _time_local_layer(args, jax, jnp, np, lax, local):
    """Times one image through a locally connected layer, four ways."""
    side, size = args.loop_sheet, 10
    rng = np.random.default_rng(1)
    height = side + size - 1
    weights = rng.standard_normal((side, side, size, size, 1, 1)).astype(np.float32)
    image = rng.standard_normal((height, height, 1)).astype(np.float32)
    weights_device = jnp.asarray(weights)
    image_device = jnp.asarray(image)

    def stacked_slices(w, x):
        patches = jnp.stack(
            [x[a : a + side, b : b + side, :] for a in range(size) for b in range(size)], axis=2
        ).reshape(side, side, size, size, 1)
        return jnp.einsum("ijabc,ijabck->ijk", patches, w)

    def identity_kernel_patches(w, x):
        # Output channels are ordered (c, a, b), so the weights are transposed to match.
        patches = lax.conv_general_dilated_patches(
            x[None], (size, size), (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )[0]
        return jnp.einsum(
            "ijp,ijpk->ijk", patches, w.transpose(0, 1, 4, 2, 3, 5).reshape(side, side, -1, 1)
        )

    variants = {
        "gather + einsum (local_correlate)": jax.jit(lambda w, x: local.local_correlate(w, x)),
        "stacked strided slices + einsum": jax.jit(stacked_slices),
        "identity-kernel conv patches + einsum": jax.jit(identity_kernel_patches),
    }
    reference = local.local_correlate_reference(weights, image)
    seconds = {}
    for name, function in variants.items():
        output = function(weights_device, image_device)
        np.testing.assert_allclose(np.asarray(output), reference, rtol=1e-4, atol=1e-4)
        times, _ = _common.time_call(function, weights_device, image_device, repeats=args.repeats)
        seconds[name] = min(times)
    loop_start = time.perf_counter()
    local.local_correlate_reference(weights, image)
    seconds["plain Python loop (local_correlate_reference)"] = time.perf_counter() - loop_start

    fast = seconds["gather + einsum (local_correlate)"]
    label = f"{side}×{side} sheet, {size}×{size} filters"
    return [
        [f"{name}, {label}", f"{1e3 * value:.3f}", f"{value / fast:.1f}×"]
        for name, value in seconds.items()
    ]


if __name__ == "__main__":
    main()
