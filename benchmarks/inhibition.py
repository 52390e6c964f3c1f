"""Benchmarks lateral inhibition inference and learning against plain ISTA/FISTA.

From the repository root::

  python benchmarks/inhibition.py --threads 2

It times, for a batch of 12×12 patches (d = 144):

1. inference: ``inhibited_ista`` against ``sparse_jax.ista`` and
   ``sparse_jax.fista`` at the same sizes and step counts, and the ratio;
2. one jitted learning step (inference, descent on W_d, ascent on S,
   projections) and its throughput against the float32 GEMM peak measured
   in the same run.

The FLOP counts are estimates of the dominant matrix products (see
:func:`train_step_flops`). The inputs are random; run time does not depend
on the values at a fixed number of steps. Prints the machine, the versions
and a Markdown table; ``--markdown FILE`` also writes the table there.
"""

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import _common

D = 144  # 12×12 patches


def inference_flops(batch: int, units: int, steps: int) -> float:
    """Estimated FLOPs of ``steps`` inhibited ISTA steps on a batch.

    Per step and example, the products G z and (S + Sᵀ)|z| with (k, k)
    matrices take 2k² FLOPs each; the set-up G = W_dᵀW_d and W_dᵀx take
    2dk² and 2dkn once. Plain ISTA has only the first product per step.
    """
    return batch * steps * 4.0 * units**2 + 2.0 * D * units**2 + 2.0 * D * units * batch


def train_step_flops(batch: int, units: int, steps: int) -> float:
    """Estimated FLOPs of one learning step: inference plus the gradients.

    The dictionary gradient (W_d z − x) zᵀ takes about 4dkn FLOPs and the
    inhibition gradient |z||z|ᵀ about 2k²n; the power iteration for L_D,
    100 products with W_d and W_dᵀ, adds 400dk.
    """
    gradients = 4.0 * D * units * batch + 2.0 * units**2 * batch
    return inference_flops(batch, units, steps) + gradients + 400.0 * D * units


def _best_wall(function, *args, repeats: int) -> float:
    """Returns the shortest wall time of ``repeats`` timed calls, in seconds."""
    times, _ = _common.time_call(function, *args, repeats=repeats)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for JAX and BLAS")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per case; best kept")
    parser.add_argument("--batch", type=int, default=256, help="patches per batch")
    parser.add_argument("--steps", type=int, default=100, help="inference steps")
    parser.add_argument(
        "--units", type=int, nargs="+", default=[84, 256], help="numbers of atoms k to time"
    )
    parser.add_argument("--markdown", type=pathlib.Path, help="also write the table to this file")
    args = parser.parse_args()
    pin = _common.pin_threads(args.threads)

    import jax
    import jax.numpy as jnp
    import numpy as np

    import sparse_jax
    from sparse_jax import inhibition
    from sparse_jax.models.inhibition import InhibitionCoder, init_inhibition_params
    from sparse_jax.training import inhibition as inhibition_training

    with pin:
        machine = _common.describe_machine()
        print("Machine and versions:")
        _common.print_machine(machine)
        print(f"  load average at start  {_common.load_average()}")
        peak = _common.measure_matmul_peak()
        print(f"float32 GEMM peak (2048², best of 5): JAX {peak['jax']:.1f} GFLOP/s")

        rng = np.random.default_rng(0)
        signals = jnp.asarray(rng.standard_normal((args.batch, D)), jnp.float32)
        rows = []
        for units in args.units:
            dictionary = rng.standard_normal((D, units))
            dictionary = jnp.asarray(dictionary / np.linalg.norm(dictionary, axis=0), jnp.float32)
            mask = inhibition.unstructured_mask(units)
            raw = jnp.asarray(np.abs(rng.standard_normal((units, units))), jnp.float32)
            matrix = inhibition.project_inhibition(raw, mask, 5.0)

            solvers = {
                "inhibited ISTA": jax.jit(
                    lambda w, s, x: (
                        inhibition.inhibited_ista(w, s, x, 0.5, num_steps=args.steps).codes
                    )
                ),
                "ISTA": jax.jit(lambda w, s, x: sparse_jax.ista(w, x, 0.5, num_steps=args.steps)),
                "FISTA": jax.jit(lambda w, s, x: sparse_jax.fista(w, x, 0.5, num_steps=args.steps)),
            }
            seconds = {}
            for name, solve in solvers.items():
                _common.time_call(solve, dictionary, matrix, signals)
                seconds[name] = _best_wall(solve, dictionary, matrix, signals, repeats=args.repeats)

            model = InhibitionCoder(num_units=units, num_steps=args.steps)
            params = init_inhibition_params(jax.random.key(0), model, D)
            params["inhibition"] = matrix
            optimizer = inhibition_training.inhibition_optimizer()
            opt_state = optimizer.init(params)
            step = inhibition_training.make_inhibition_train_step(model, optimizer, mask)
            hyper = inhibition_training.inhibition_hyperparams(
                l1_weight=0.5, dictionary_rate=1e-3, inhibition_rate=0.1, max_row_sum=5.0
            )

            def train_once(p, o, step=step, hyper=hyper):
                return step(p, o, signals, hyper)

            compile_start = time.perf_counter()
            _common.time_call(train_once, params, opt_state)
            compile_seconds = time.perf_counter() - compile_start
            timings, _ = _common.time_call_with_cpu(
                train_once, params, opt_state, repeats=args.repeats
            )
            fastest = min(timings)
            train_seconds = fastest.wall
            flops = train_step_flops(args.batch, units, args.steps)
            gflops = flops / train_seconds / 1e9
            rows.append(
                [
                    str(units),
                    f"{1e3 * seconds['inhibited ISTA']:.1f}",
                    f"{1e3 * seconds['ISTA']:.1f}",
                    f"{1e3 * seconds['FISTA']:.1f}",
                    f"{seconds['inhibited ISTA'] / seconds['ISTA']:.2f}",
                    f"{seconds['inhibited ISTA'] / seconds['FISTA']:.2f}",
                    f"{1e3 * train_seconds:.1f}",
                    f"{1e3 * fastest.cpu:.0f}",
                    f"{compile_seconds:.1f}",
                    f"{gflops:.1f}",
                    f"{100 * gflops / peak['jax']:.0f} %",
                ]
            )

        table = _common.markdown_table(
            [
                "k",
                "inhibited ISTA (ms)",
                "ISTA (ms)",
                "FISTA (ms)",
                "ratio to ISTA",
                "ratio to FISTA",
                "train step (ms)",
                "its CPU time (ms)",
                "first call (s)",
                "train GFLOP/s (est.)",
                "of GEMM peak",
            ],
            rows,
        )
        # The machine may be shared: the peak is taken as the better of the
        # measurements before and after the cases.
        peak_after = _common.measure_matmul_peak()
        print(f"float32 GEMM peak after the cases: JAX {peak_after['jax']:.1f} GFLOP/s")
        if peak_after["jax"] > peak["jax"]:
            for row in rows:
                gflops = float(row[-2])
                row[-1] = f"{100 * gflops / peak_after['jax']:.0f} %"
            peak = peak_after
        header = (
            f"batch {args.batch} × d = {D}, {args.steps} inference steps, best of "
            f"{args.repeats}; GEMM peak {peak['jax']:.1f} GFLOP/s (JAX, float32, 2048², the "
            "better of the measurements before and after the cases); "
            f"load average at end {_common.load_average()}"
        )
        print(header)
        print(table)
        if args.markdown is not None:
            args.markdown.write_text(header + "\n\n" + table + "\n")


if __name__ == "__main__":
    main()
