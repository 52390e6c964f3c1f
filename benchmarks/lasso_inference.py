"""Benchmark batch lasso inference on MNIST: sparse_jax FISTA against SPAMS and
scikit-learn, at the same relative duality gap and on the same number of threads.

Each solver computes, for n MNIST training digits x ∈ [0, 1]^784,

    z = argmin_z ½‖x − D z‖² + λ‖z‖₁

with a dictionary D of 400 other training digits scaled to unit norm, atoms as
columns (mutual coherence about 0.97). Every solver runs until the relative
duality gap (F(z) − dual) / F(z) is at most ``--gap``. The gap of every output
is then checked in float64 with ``sparse_jax.lasso_duality_gap``.

The float32 FISTA runs stop at ``--float32-tol-factor`` × ``--gap``, because
their gap is evaluated in float32 through the Gram matrix and reads up to
about 1 % below the float64 check on this problem.

Solvers (``--solvers``):

* ``spams``: SPAMS ``lasso`` (LARS, exact), float64, ``numThreads``.
* ``sklearn``: scikit-learn's ``Lasso`` coordinate descent with the Gram matrix
  precomputed, one multi-target fit per thread, which is what
  ``sparse_encode(algorithm="lasso_cd")`` runs. ``sparse_encode`` fixes that
  fit's tolerance at 1e-8 (scikit-learn 1.9), so the benchmark calls ``Lasso``
  itself, with the loosest tolerance that guarantees the gap target given
  SPAMS's exact optimum (``sklearn_tol_from_optimum``). Float64.
* ``fista``, ``fista_restart``: ``sparse_jax.proximal_gradient`` with the l1
  penalty, jitted, float32, with the batch vmapped inside. ``sparse_jax.fista``
  makes the same call, but only proximal_gradient returns the step counts.
* ``fista_restart_chunked`` (not in the default list): the same with
  restart, called on chunks of ``--chunk-size`` signals in turn, so each
  chunk stops at its own slowest signal. The default run estimates this
  from the step counts instead (see ``chunked_work_fractions``).
* ``fista_float64``: FISTA with restart in float64 on the first
  ``--float64-signals`` signals, next to SPAMS on the same subset.

Times are wall and process CPU time of the solve alone, after a warm-up
(compilation for JAX, a 100-signal call for SPAMS), one timed call each.

Run from the repository root. On 2 idle cores it should take about 10
minutes (an estimate from the CPU times of a run on a loaded machine, which
took 33 minutes):

    python benchmarks/lasso_inference.py --data-dir /path/to/mnist

It prints the machine and versions, a float32 GEMM peak measured in the same
run, one line per solver and a markdown table for docs/benchmarks.md.
"""

import argparse
import contextlib
import os
import pathlib
import time
import warnings
from collections.abc import Callable
from typing import NamedTuple

import _common
import jax
import jax.numpy as jnp
import joblib
import numpy as np
import sklearn.exceptions
import sklearn.linear_model

import sparse_jax

SOLVERS = (
    "spams",
    "sklearn",
    "fista",
    "fista_restart",
    "fista_restart_chunked",
    "fista_float64",
)
DEFAULT_SOLVERS = ("spams", "sklearn", "fista", "fista_restart", "fista_float64")

# Signals per call for which the benchmark reports the share of useful steps
# a vmapped while loop would execute if the batch were split into such calls.
CHUNK_SIZES = (20_000, 5_000, 2_000, 500, 100, 1)

# Power iterations that sparse_jax.lipschitz_constant runs by default.
LIPSCHITZ_ITERATIONS = sparse_jax.solvers.LIPSCHITZ_ITERATIONS

# Without SPAMS's exact optimum, scikit-learn's tolerance is the loosest value
# of this ladder (factors of √10) that reaches the gap on a calibration subset.
SKLEARN_TOL_LADDER = tuple(10.0 ** (-exponent / 2) for exponent in range(6, 19))
# Factor by which the tolerance shrinks when a full run misses the gap target.
SKLEARN_TOL_STEP = 10.0**-0.5


class SolverRun(NamedTuple):
    """One timed solve of a batch of signals and what it produced."""

    name: str
    dtype: str
    num_signals: int  # the batch that ``seconds`` covers
    seconds: float  # wall time of the solve only: no compilation, no input conversion
    cpu_seconds: float  # CPU time of this process's threads during the solve
    codes: np.ndarray  # (m, k), m ≤ num_signals when the time was scaled from m signals
    iterations: np.ndarray | None  # (m,): FISTA steps or CD epochs; None for LARS
    executed_flops: float | None  # FISTA: FLOPs the batched loop computes
    useful_flops: float | None  # FISTA: FLOPs if each signal stopped at its own step
    note: str = ""


def parse_args() -> argparse.Namespace:
    data_root = os.environ.get("SPARSE_JAX_DATA_DIR", "")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-dir",
        type=pathlib.Path,
        default=pathlib.Path(data_root, "mnist") if data_root else None,
        help="directory with the MNIST IDX files (default: $SPARSE_JAX_DATA_DIR/mnist)",
    )
    parser.add_argument("--num-signals", type=int, default=20_000, help="signals to encode")
    parser.add_argument("--num-atoms", type=int, default=400, help="dictionary atoms")
    parser.add_argument("--l1-weight", type=float, default=0.1, help="λ of ½‖x − Dz‖² + λ‖z‖₁")
    parser.add_argument("--gap", type=float, default=1e-3, help="relative duality gap target")
    parser.add_argument(
        "--float32-tol-factor",
        type=float,
        default=0.97,
        help="float32 FISTA stops at this factor times --gap (its float32 gap reads low)",
    )
    parser.add_argument(
        "--max-steps", type=int, default=20_000, help="FISTA bound on the number of steps"
    )
    parser.add_argument("--threads", type=int, default=2, help="threads for every solver")
    parser.add_argument("--seed", type=int, default=0, help="seed of the atom and signal draw")
    parser.add_argument(
        "--solvers",
        default=",".join(DEFAULT_SOLVERS),
        help=f"comma-separated subset of {', '.join(SOLVERS)}",
    )
    parser.add_argument(
        "--chunk-size", type=int, default=2_000, help="signals per call for fista_restart_chunked"
    )
    parser.add_argument(
        "--float64-signals",
        type=int,
        default=2_000,
        help="signals for fista_float64 (the first ones) and its SPAMS reference",
    )
    parser.add_argument(
        "--sklearn-signals",
        type=int,
        default=None,
        help="time scikit-learn on the first N signals only and scale its time "
        "linearly to --num-signals (default: all signals)",
    )
    parser.add_argument(
        "--sklearn-calibration-signals",
        type=int,
        default=500,
        help="signals on which scikit-learn's tolerance is tuned when SPAMS is not run",
    )
    parser.add_argument(
        "--sklearn-max-iter", type=int, default=100_000, help="scikit-learn bound on CD epochs"
    )
    args = parser.parse_args()

    if args.data_dir is None:
        parser.error("pass --data-dir or set SPARSE_JAX_DATA_DIR (the directory above mnist/)")
    args.solvers = [name.strip() for name in args.solvers.split(",") if name.strip()]
    unknown = sorted(set(args.solvers) - set(SOLVERS))
    if unknown:
        parser.error(f"unknown solvers {unknown}; expected names from {list(SOLVERS)}")
    for name in ("num_signals", "num_atoms", "max_steps", "chunk_size", "float64_signals"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.l1_weight <= 0 or args.gap <= 0:
        parser.error("--l1-weight and --gap must be positive")
    if not 0 < args.float32_tol_factor <= 1:
        parser.error("--float32-tol-factor must be in (0, 1]")
    args.float64_signals = min(args.float64_signals, args.num_signals)
    if args.sklearn_signals is not None:
        args.sklearn_signals = min(args.sklearn_signals, args.num_signals)
    return args


def load_training_images(data_dir: pathlib.Path) -> tuple[np.ndarray, str]:
    """Reads the 60,000 MNIST training images as float32 (60000, 784) in [0, 1].

    Uses ``sparse_jax.data.load_mnist`` when the installed package has it, else
    reads the gzipped IDX file with numpy. Returns the images and the reader used.
    """
    try:
        from sparse_jax.data import load_mnist
    except ImportError:
        load_mnist = None
    if load_mnist is not None:
        dataset = load_mnist("train_full", source="idx", data_dir=data_dir)
        return np.asarray(dataset.images, np.float32), "sparse_jax.data.load_mnist"

    import gzip

    path = data_dir / "train-images-idx3-ubyte.gz"
    if not path.is_file():
        raise FileNotFoundError(f"MNIST training images not found: {path}")
    with gzip.open(path, "rb") as file:
        content = file.read()
    pixels = np.frombuffer(content, dtype=np.uint8, offset=16)
    if pixels.size != 60_000 * 784:
        raise ValueError(f"{path}: {pixels.size} pixels, expected 60000 × 784")
    return pixels.reshape(60_000, 784).astype(np.float32) / np.float32(255), "numpy gzip reader"


def make_problem(images: np.ndarray, num_atoms: int, num_signals: int, seed: int):
    """Draws disjoint atoms and signals from the training images.

    Returns float32 signals (n, 784) and a float32 dictionary (784, k) whose
    columns are the drawn digits scaled to unit norm.
    """
    if num_atoms + num_signals > len(images):
        raise ValueError(
            f"{num_atoms} atoms + {num_signals} signals exceed the {len(images)} training images"
        )
    order = np.random.default_rng(seed).permutation(len(images))
    atoms = images[order[:num_atoms]]
    atoms = atoms / np.linalg.norm(atoms, axis=1, keepdims=True)
    signals = images[order[num_atoms : num_atoms + num_signals]]
    return np.ascontiguousarray(signals), np.ascontiguousarray(atoms.T)


def mutual_coherence(dictionary: np.ndarray) -> float:
    """Returns max_{i≠j} |⟨d_i, d_j⟩| over unit-norm columns."""
    gram = dictionary.T.astype(np.float64) @ dictionary.astype(np.float64)
    np.fill_diagonal(gram, 0)
    return float(np.abs(gram).max())


def relative_gaps(dictionary, signals, codes, l1_weight: float) -> np.ndarray:
    """Computes each signal's relative duality gap in float64 with sparse_jax."""
    with jax.enable_x64(True):
        dictionary = jnp.asarray(dictionary, jnp.float64)

        def gap(signal, code):
            return sparse_jax.lasso_duality_gap(dictionary, signal, code, l1_weight)

        gaps = jax.jit(jax.vmap(gap))(
            jnp.asarray(signals, jnp.float64), jnp.asarray(codes, jnp.float64)
        )
        return np.asarray(gaps)


def run_spams(signals, dictionary, l1_weight: float, threads: int, name: str) -> SolverRun:
    """Encodes with SPAMS lasso in penalised mode (mode=2), float64 Fortran arrays."""
    import spams

    signals_f = np.asfortranarray(signals.T, dtype=np.float64)  # (d, n)
    dictionary_f = np.asfortranarray(dictionary, dtype=np.float64)  # (d, k)

    def solve(columns):
        return spams.lasso(columns, D=dictionary_f, lambda1=l1_weight, mode=2, numThreads=threads)

    solve(signals_f[:, :100])
    [timing], sparse_codes = _common.time_call_with_cpu(solve, signals_f)
    codes = sparse_codes.toarray().T
    return SolverRun(name, "float64", len(codes), timing.wall, timing.cpu, codes, None, None, None)


def _fit_lasso_cd(signals, atoms, gram, alpha, tol, max_iter):
    """Fits one multi-target Lasso, as sparse_encode(algorithm="lasso_cd") does."""
    with warnings.catch_warnings():
        # Signals that hit max_iter show up in the gap check.
        warnings.simplefilter("ignore", sklearn.exceptions.ConvergenceWarning)
        model = sklearn.linear_model.Lasso(
            alpha=alpha, fit_intercept=False, precompute=gram, tol=tol, max_iter=max_iter
        )
        model.fit(atoms.T, signals.T, check_input=False)
    return np.atleast_2d(model.coef_), np.atleast_1d(model.n_iter_)


def encode_sklearn(signals, atoms, l1_weight, tol, max_iter, threads):
    """Encodes float64 signals (n, d) with atoms as rows (k, d), in ``threads`` threads.

    scikit-learn's Lasso minimises (1/(2·d))‖x − Dz‖² + α‖z‖₁, so α = λ/d
    gives the same minimiser as ½‖x − Dz‖² + λ‖z‖₁. sparse_encode runs its
    fits in joblib's default process pool. Threads are used here so that the
    benchmark can measure CPU time, which works because the coordinate
    descent loop releases the GIL.
    """
    alpha = l1_weight / signals.shape[1]
    gram = atoms @ atoms.T
    parts = np.array_split(np.arange(len(signals)), threads)
    results = joblib.Parallel(n_jobs=threads, prefer="threads")(
        joblib.delayed(_fit_lasso_cd)(signals[part], atoms, gram, alpha, tol, max_iter)
        for part in parts
    )
    codes = np.concatenate([part_codes for part_codes, _ in results])
    epochs = np.concatenate([part_epochs for _, part_epochs in results])
    return codes, epochs


def lasso_objectives(signals, dictionary, codes, l1_weight: float) -> np.ndarray:
    """Returns F(z) = ½‖x − Dz‖² + λ‖z‖₁ per signal, in float64."""
    signals = np.asarray(signals, np.float64)
    residuals = signals - np.asarray(codes, np.float64) @ np.asarray(dictionary, np.float64).T
    return 0.5 * np.sum(residuals**2, axis=1) + l1_weight * np.sum(np.abs(codes), axis=1)


def sklearn_tol_from_optimum(signals, optimum: np.ndarray, gap: float) -> float:
    """Returns the loosest scikit-learn tol that guarantees a relative gap ≤ ``gap``.

    scikit-learn 1.9 stops once its duality gap, built from the same scaled
    residual as lasso_duality_gap, is at most tol·‖x‖². Its relative gap is
    then at most tol·‖x‖² / F(z) ≤ tol·‖x‖² / F*, so tol = gap · min F*/‖x‖²
    over the signals meets the target on every signal. ``optimum`` contains F*
    per signal, from an exact solver.
    """
    norms = np.sum(np.asarray(signals, np.float64) ** 2, axis=1)
    return float(gap * np.min(optimum / norms))


def calibrate_sklearn_tol(encode, signals, dictionary, args) -> float:
    """Returns the loosest ladder tolerance that reaches the gap on the calibration subset."""
    calibration = signals[: args.sklearn_calibration_signals]
    for tol in SKLEARN_TOL_LADDER:
        codes, _ = encode(calibration, tol)
        worst = relative_gaps(dictionary, calibration, codes, args.l1_weight).max()
        print(f"  sklearn calibration: tol={tol:.2e} max gap {worst:.2e}", flush=True)
        if worst <= args.gap:
            break
    return tol


def run_sklearn(signals, dictionary, args, optimum: np.ndarray | None) -> SolverRun:
    """Sets scikit-learn's tolerance for the gap target, then times it.

    With ``optimum`` (F* per signal, from SPAMS) the tolerance comes from
    :func:`sklearn_tol_from_optimum`; without it, from a calibration subset.
    A full run that still misses the target is repeated with a tighter
    tolerance, and the note records it.
    """
    signals = np.ascontiguousarray(signals, dtype=np.float64)
    atoms = np.ascontiguousarray(dictionary.T, dtype=np.float64)  # (k, d), atoms as rows

    def encode(batch, tol):
        return encode_sklearn(
            batch, atoms, args.l1_weight, tol, args.sklearn_max_iter, args.threads
        )

    timed = signals if args.sklearn_signals is None else signals[: args.sklearn_signals]
    if optimum is not None:
        tol = sklearn_tol_from_optimum(timed, optimum[: len(timed)], args.gap)
        source = "from the SPAMS optimum"
    else:
        tol = calibrate_sklearn_tol(encode, signals, dictionary, args)
        source = f"calibrated on {min(len(signals), args.sklearn_calibration_signals)} signals"

    runs = 0
    while True:
        runs += 1
        [timing], (codes, epochs) = _common.time_call_with_cpu(encode, timed, tol)
        worst = relative_gaps(dictionary, timed, codes, args.l1_weight).max()
        print(f"  sklearn: tol={tol:.2e} {timing.wall:.1f} s max gap {worst:.2e}", flush=True)
        if worst <= args.gap or tol < SKLEARN_TOL_LADDER[-1]:
            break
        tol *= SKLEARN_TOL_STEP

    note = f"tol={tol:.1e} ({source})"
    if runs > 1:
        note += f" after {runs - 1} full run(s) at looser tol missed the gap"
    scale = len(signals) / len(timed)
    if scale > 1:
        note += f"; timed on {len(timed)} signals, time scaled linearly to {len(signals)}"
        # The codes of the signals not solved are left out of the gap check.
    return SolverRun(
        "sklearn Lasso CD",
        "float64",
        len(signals),
        timing.wall * scale,
        timing.cpu * scale,
        codes,
        epochs,
        None,
        None,
        note,
    )


def make_fista(l1_weight: float, tol: float, max_steps: int, restart: bool) -> Callable:
    penalty = sparse_jax.l1_penalty(l1_weight)

    def solve(dictionary, signals):
        return sparse_jax.proximal_gradient(
            dictionary, signals, penalty, tol=tol, max_steps=max_steps, restart=restart
        )

    return jax.jit(solve)


def fista_flops(num_steps: np.ndarray, chunk_size: int, dimension: int, num_atoms: int):
    """Counts FISTA's FLOPs on the Gram path, executed and useful.

    Setup per call: Dᵀx for the batch (2·n·d·k), the Gram matrix (2·d·k²), the
    power iteration of lipschitz_constant (4·d·k per iteration) and the first
    gradient (2·n·k²). Each step is one (n, k) × (k, k) product, 2·n·k². A
    vmapped while loop runs every signal of a call until the slowest one
    stops, so it executes max(num_steps) steps per call. The useful count
    uses each signal's own num_steps. Elementwise work is not counted.
    """
    executed = 0.0
    for start in range(0, len(num_steps), chunk_size):
        chunk = num_steps[start : start + chunk_size]
        setup = (
            2.0 * len(chunk) * dimension * num_atoms
            + 2.0 * dimension * num_atoms**2
            + 4.0 * dimension * num_atoms * LIPSCHITZ_ITERATIONS
        )
        executed += setup + 2.0 * len(chunk) * num_atoms**2 * (int(chunk.max()) + 1)
    useful = 2.0 * num_atoms**2 * float(np.sum(num_steps + 1))
    return executed, useful


def chunked_work_fractions(num_steps: np.ndarray) -> dict[int, float]:
    """Returns, per signals per call, the useful share of the steps executed.

    A vmapped while loop runs every signal of a call for max(num_steps) steps;
    useful are each signal's own num_steps. Calls take consecutive signals,
    which are in random order. The sizes are the whole batch and the smaller
    entries of CHUNK_SIZES.
    """
    sizes = [len(num_steps)] + [size for size in CHUNK_SIZES if size < len(num_steps)]
    fractions = {}
    for size in sizes:
        chunks = [num_steps[start : start + size] for start in range(0, len(num_steps), size)]
        executed = sum(len(chunk) * int(chunk.max()) for chunk in chunks)
        fractions[size] = float(np.sum(num_steps)) / executed
    return fractions


def run_fista(signals, dictionary, args, *, restart, chunk_size, dtype, name) -> SolverRun:
    """Compiles FISTA for each chunk shape, then times one pass over all chunks."""
    x64 = jax.enable_x64(True) if dtype == np.float64 else contextlib.nullcontext()
    tol = args.gap if dtype == np.float64 else args.gap * args.float32_tol_factor
    with x64:
        solve = make_fista(args.l1_weight, tol, args.max_steps, restart)
        dictionary_device = jnp.asarray(dictionary, dtype)
        chunks = [
            jnp.asarray(signals[start : start + chunk_size], dtype)
            for start in range(0, len(signals), chunk_size)
        ]

        start = time.perf_counter()
        compiled = {}
        for chunk in chunks:
            if chunk.shape not in compiled:
                compiled[chunk.shape] = solve.lower(dictionary_device, chunk).compile()
        compile_seconds = time.perf_counter() - start

        def solve_all():
            return [compiled[chunk.shape](dictionary_device, chunk) for chunk in chunks]

        [timing], results = _common.time_call_with_cpu(solve_all)

    codes = np.concatenate([np.asarray(result.codes) for result in results])
    num_steps = np.concatenate([np.asarray(result.num_steps) for result in results])
    if codes.dtype != dtype:
        raise TypeError(f"{name} returned {codes.dtype} codes; expected {np.dtype(dtype)}")
    executed, useful = fista_flops(num_steps, chunk_size, dictionary.shape[0], dictionary.shape[1])
    note = f"tol={tol:.2e}, compile {compile_seconds:.1f} s"
    if len(chunks) > 1:
        note += f"; {len(chunks)} calls of {chunk_size} signals"
    if num_steps.max() >= args.max_steps:
        note += f"; {int(np.sum(num_steps >= args.max_steps))} signals hit max_steps"
    dtype_name = np.dtype(dtype).name
    return SolverRun(
        name,
        dtype_name,
        len(codes),
        timing.wall,
        timing.cpu,
        codes,
        num_steps,
        executed,
        useful,
        note,
    )


def check_fista_wrapper(signals, dictionary, args) -> float:
    """Returns the largest difference between sparse_jax.fista and the timed call.

    The benchmark times proximal_gradient because it also returns the step
    counts; this checks on a few signals that fista computes the same codes.
    """
    signals = jnp.asarray(signals[:64])
    dictionary = jnp.asarray(dictionary)
    reference = make_fista(args.l1_weight, args.gap, args.max_steps, False)(dictionary, signals)
    codes = jax.jit(
        lambda d, x: sparse_jax.fista(d, x, args.l1_weight, tol=args.gap, max_steps=args.max_steps)
    )(dictionary, signals)
    return float(jnp.max(jnp.abs(codes - reference.codes)))


class Row(NamedTuple):
    """A solver run with its checks, ready to print."""

    run: SolverRun
    gaps: np.ndarray  # (n,) relative duality gaps, float64
    mean_nonzeros: float


def summarise(run: SolverRun, signals, dictionary, l1_weight: float) -> Row:
    gaps = relative_gaps(dictionary, signals[: len(run.codes)], run.codes, l1_weight)
    nonzeros = float(np.mean(np.count_nonzero(run.codes, axis=1)))
    return Row(run, gaps, nonzeros)


def format_row(row: Row, references: dict[tuple[str, int], SolverRun], peak: float) -> list[str]:
    """Formats one table row; ``references`` maps (solver, signals) to its run."""
    run = row.run

    def ratio(reference_name):
        reference = references.get((reference_name, run.num_signals))
        if reference is None or run.name.startswith(reference_name):
            return "–"
        wall = run.seconds / reference.seconds
        cpu = run.cpu_seconds / reference.cpu_seconds
        return f"{wall:.2f} / {cpu:.2f}"

    iterations = "–"
    if run.iterations is not None:
        iterations = f"{np.mean(run.iterations):.0f} / {np.max(run.iterations)}"
    throughput = "–"
    if run.executed_flops is not None:
        rate = run.executed_flops / run.seconds / 1e9
        useful = run.useful_flops / run.executed_flops
        throughput = f"{rate:.0f}"
        if run.dtype == "float32":
            throughput += f" ({rate / peak:.0%} of peak)"
        throughput += f", {useful:.0%} useful"
    return [
        run.name,
        run.dtype,
        str(run.num_signals),
        f"{run.seconds:.1f} / {run.cpu_seconds:.1f}",
        ratio("SPAMS"),
        ratio("sklearn"),
        iterations,
        f"{row.gaps.max():.1e} / {np.median(row.gaps):.1e}",
        f"{row.mean_nonzeros:.1f}",
        throughput,
        run.note,
    ]


TABLE_HEADERS = (
    "solver",
    "dtype",
    "signals",
    "time (s) wall / CPU",
    "÷ SPAMS wall / CPU",
    "÷ sklearn wall / CPU",
    "iterations mean / max",
    "gap max / median",
    "mean non-zeros",
    "GFLOP/s",
    "notes",
)


def spams_is_installed() -> bool:
    try:
        import spams  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    args = parse_args()
    thread_limits = _common.pin_threads(args.threads)
    load_before = _common.load_average()

    print("lasso inference benchmark")
    machine = _common.describe_machine()
    _common.print_machine(machine)
    print(f"  load average before  {load_before}", flush=True)

    peak = _common.measure_matmul_peak()
    print(
        f"float32 2048³ GEMM: jax {peak['jax']:.0f} GFLOP/s, numpy {peak['numpy']:.0f} GFLOP/s",
        flush=True,
    )

    images, reader = load_training_images(args.data_dir)
    signals, dictionary = make_problem(images, args.num_atoms, args.num_signals, args.seed)
    print(
        f"data: {len(signals)} signals × {signals.shape[1]} from {args.data_dir} ({reader}); "
        f"dictionary {dictionary.shape}, mutual coherence {mutual_coherence(dictionary):.3f}; "
        f"λ = {args.l1_weight}, gap target {args.gap:g}",
        flush=True,
    )
    if "spams" in args.solvers and not spams_is_installed():
        print("SPAMS is not installed (pip install spams-bin); its rows are skipped")
        args.solvers.remove("spams")
    difference = check_fista_wrapper(signals, dictionary, args)
    print(f"sparse_jax.fista vs proximal_gradient on 64 signals: max |Δz| = {difference:.1e}")

    runs = []
    with thread_limits:
        if "spams" in args.solvers:
            runs.append(run_spams(signals, dictionary, args.l1_weight, args.threads, "SPAMS lasso"))
            if "fista_float64" in args.solvers and args.float64_signals < args.num_signals:
                subset = signals[: args.float64_signals]
                runs.append(
                    run_spams(subset, dictionary, args.l1_weight, args.threads, "SPAMS lasso")
                )
        if "sklearn" in args.solvers:
            optimum = None
            if runs and runs[0].name.startswith("SPAMS"):
                optimum = lasso_objectives(signals, dictionary, runs[0].codes, args.l1_weight)
            runs.append(run_sklearn(signals, dictionary, args, optimum))
        fista_variants = {
            "fista": dict(restart=False, chunk_size=len(signals), dtype=np.float32),
            "fista_restart": dict(restart=True, chunk_size=len(signals), dtype=np.float32),
            "fista_restart_chunked": dict(
                restart=True, chunk_size=args.chunk_size, dtype=np.float32
            ),
        }
        for key, options in fista_variants.items():
            if key in args.solvers:
                label = "FISTA" + (" restart" if options["restart"] else "")
                if options["chunk_size"] < len(signals):
                    label += " chunked"
                runs.append(run_fista(signals, dictionary, args, name=label, **options))
                print(f"  {label}: {runs[-1].seconds:.1f} s", flush=True)
        if "fista_float64" in args.solvers:
            subset = signals[: args.float64_signals]
            runs.append(
                run_fista(
                    subset,
                    dictionary,
                    args,
                    restart=True,
                    chunk_size=len(subset),
                    dtype=np.float64,
                    name="FISTA restart",
                )
            )

    rows = [summarise(run, signals, dictionary, args.l1_weight) for run in runs]
    references = {}
    for row in rows:
        if row.run.name.startswith(("SPAMS", "sklearn")):
            references[(row.run.name.split()[0], row.run.num_signals)] = row.run
    load_after = _common.load_average()

    print(f"load average after  {load_after}")
    print(f"float32 GEMM peak (jax) {peak['jax']:.0f} GFLOP/s")
    print()
    print(
        _common.markdown_table(
            TABLE_HEADERS, [format_row(row, references, peak["jax"]) for row in rows]
        )
    )
    for row in rows:
        if row.run.name.startswith("FISTA") and row.run.iterations is not None:
            fractions = chunked_work_fractions(row.run.iterations)
            listed = ", ".join(f"{size}: {value:.0%}" for size, value in fractions.items())
            print(
                f"{row.run.name} ({row.run.dtype}, {row.run.num_signals} signals), useful share "
                f"of the steps executed by signals per call: {listed}"
            )
    for row in rows:
        if row.gaps.max() > args.gap:
            count = int(np.sum(row.gaps > args.gap))
            print(
                f"NOTE: {row.run.name} ({row.run.dtype}, {row.run.num_signals} signals): "
                f"{count} signals above the gap target {args.gap:g}, max {row.gaps.max():.2e}"
            )


if __name__ == "__main__":
    main()
