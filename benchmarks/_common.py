"""Helpers shared by the benchmarks: thread pinning, machine and version report,
timing and a float32 matrix-multiply peak measured in the same run.

A benchmark script calls :func:`pin_threads` before its first JAX computation,
because XLA reads ``XLA_FLAGS`` and sizes its CPU thread pool when the backend
starts.
"""

import contextlib
import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import threadpoolctl

# Multi-threaded Eigen is the default of jax 0.10's CPU backend; it is set
# explicitly so the record shows it. That XLA has no flag for the size of its
# thread pool (an unknown flag such as --intra_op_parallelism_threads aborts
# the process), so the CPU affinity set in pin_threads bounds it instead.
XLA_THREADING_FLAG = "--xla_cpu_multi_thread_eigen=true"

# The distributions whose versions every benchmark record lists.
VERSIONED_PACKAGES = ("jax", "jaxlib", "numpy", "scipy", "scikit-learn", "spams-bin")


def pin_threads(num_threads: int) -> contextlib.ExitStack:
    """Limits JAX, BLAS and OpenMP to ``num_threads`` threads.

    Restricts the CPU affinity of the calling thread to its first
    ``num_threads`` allowed CPUs, which the threads it starts later (such as
    XLA's pool) inherit. Adds the XLA threading flag to ``XLA_FLAGS``, and caps
    the BLAS and OpenMP pools already loaded with threadpoolctl. Call it
    before the first JAX computation, and keep the returned stack open while
    timing, because closing it lifts the BLAS and OpenMP caps.

    NOTE: BLAS threads started before this call (numpy starts OpenBLAS's pool
    at import) keep their affinity; threadpoolctl caps how many of them work.
    """
    if num_threads < 1:
        raise ValueError(f"num_threads must be at least 1, got {num_threads}")
    allowed = sorted(os.sched_getaffinity(0))
    if num_threads > len(allowed):
        raise ValueError(
            f"num_threads={num_threads} but this process may run on {len(allowed)} CPUs "
            f"({allowed}); pass --threads {len(allowed)} or fewer"
        )
    os.sched_setaffinity(0, allowed[:num_threads])

    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {XLA_THREADING_FLAG}".strip()

    stack = contextlib.ExitStack()
    stack.enter_context(threadpoolctl.threadpool_limits(limits=num_threads))
    return stack


def cpu_model() -> str:
    """Returns the CPU model name from /proc/cpuinfo, or platform.processor()."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as file:
        for line in file:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def load_average() -> str:
    """Returns the 1, 5 and 15 minute load averages, as /proc/loadavg prints them."""
    one_minute, five_minutes, fifteen_minutes = os.getloadavg()
    return f"{one_minute:.2f} {five_minutes:.2f} {fifteen_minutes:.2f}"


def package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe_machine() -> dict[str, str]:
    """Collects the CPU, thread settings and package versions of this run."""
    description = {
        "cpu": cpu_model(),
        "logical CPUs": str(os.cpu_count()),
        "CPU affinity": ",".join(map(str, sorted(os.sched_getaffinity(0)))),
        "python": sys.version.split()[0],
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "jax devices": ", ".join(str(device) for device in jax.devices()),
    }
    for name in VERSIONED_PACKAGES:
        description[name] = package_version(name)
    for pool in threadpoolctl.threadpool_info():
        key = f"threads {pool['internal_api']} ({pool['prefix']})"
        description[key] = str(pool["num_threads"])
    return description


def print_machine(description: dict[str, str]) -> None:
    width = max(map(len, description))
    for key, value in description.items():
        print(f"  {key:<{width}}  {value}")


def time_call(function: Callable, *args, repeats: int = 1) -> tuple[list[float], object]:
    """Times ``function(*args)`` ``repeats`` times, waiting for JAX results.

    The caller warms up first (compiles, or runs a small input), because
    every call here is timed. Returns the wall times in seconds and the
    output of the last call.
    """
    timings, output = time_call_with_cpu(function, *args, repeats=repeats)
    return [timing.wall for timing in timings], output


class Timing(NamedTuple):
    """Seconds taken by one call."""

    wall: float
    cpu: float  # process CPU time, summed over this process's threads


def time_call_with_cpu(function: Callable, *args, repeats: int = 1) -> tuple[list[Timing], object]:
    """Like :func:`time_call`, and also measures the CPU time of the calls.

    CPU time counts the threads of this process only, not child processes.
    On a machine shared with other work it grows less than wall time does.
    """
    timings = []
    output = None
    for _ in range(repeats):
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        output = jax.block_until_ready(function(*args))
        timings.append(Timing(time.perf_counter() - wall_start, time.process_time() - cpu_start))
    return timings, output


def measure_matmul_peak(size: int = 2048, repeats: int = 5) -> dict[str, float]:
    """Measures float32 GEMM throughput in GFLOP/s, with JAX and with numpy.

    One product of two (size, size) float32 matrices is 2·size³ FLOPs; the
    best of ``repeats`` timed runs after one warm-up run is reported.
    """
    flops = 2.0 * size**3
    rng = np.random.default_rng(0)
    left = rng.standard_normal((size, size), dtype=np.float32)
    right = rng.standard_normal((size, size), dtype=np.float32)

    product = jax.jit(jnp.matmul)
    left_device, right_device = jnp.asarray(left), jnp.asarray(right)
    time_call(product, left_device, right_device)
    jax_times, _ = time_call(product, left_device, right_device, repeats=repeats)

    time_call(np.matmul, left, right)
    numpy_times, _ = time_call(np.matmul, left, right, repeats=repeats)
    return {"jax": flops / min(jax_times) / 1e9, "numpy": flops / min(numpy_times) / 1e9}


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)
