"""Benchmark one ISTA iteration with group and tree penalties against plain L1.

One iteration for a batch of n signals x, codes z (k,) and a dictionary D
(d, k) with atoms as columns is

    z ← prox_{tΩ}(z − t Dᵀ(D z − x)),

written per example and vmapped over the batch, as in
``sparse_jax.proximal_gradient``. The prox is, per row of the tables:

* ``l1``: the soft threshold (the baseline of every ratio);
* ``disjoint``: ``prox.group_soft_threshold``, k/4 contiguous groups of 4;
* ``tree``: ``prox.tree_prox`` on a binary tree (node i has parent
  (i − 1) // 2, 11 levels for k = 1024), nodes numbered as given, so the codes
  are permuted into group order and back;
* ``tree, deepest-first``: the same tree renumbered by
  ``groups.deepest_first``, which skips both permutations;
* ``torus latent``: one step of ``groups.latent_group_lasso`` on a
  sqrt(k) × sqrt(k) torus with 6 × 6 pools and stride 2; its latent copies
  are (pool/stride)² = 9 times larger than the codes, and A = D E adds
  a sum and a gather of the 9 copies to the two products with D;
* ``torus primal-dual``: one step of ``groups.overlapping_group_lasso`` (the
  exact overlapping penalty) on the same torus: the gradient step on z with
  Gᵀ y added, then y ← Π(y + σ G(2z⁺ − z)), a projection of each pool's dual
  variables onto a ball.

Further tables time the prox alone (with a ``jax.ops.segment_sum`` version
of the group soft threshold for comparison), the group penalty and its
gradient (the auto-encoder use), and ``tree_prox`` as k grows.

Every function is jitted and warmed up once. The calls of one table are
timed in turn for ``--repeats`` rounds, and the tables give the median and
the minimum per call. Run from the repository root:

    python benchmarks/group_ista.py

It prints the machine, versions, load averages and markdown tables for
docs/benchmarks.md.
"""

import argparse
import math

import _common
import jax
import jax.numpy as jnp
import numpy as np

from sparse_jax import groups, prox
from sparse_jax.energies import group_l2_penalty


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dim", type=int, default=256, help="signal dimension d")
    parser.add_argument("--num-atoms", type=int, default=1024, help="code size k, a square")
    parser.add_argument("--batch", type=int, default=4096, help="signals per iteration")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per row")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for XLA and BLAS")
    parser.add_argument(
        "--tree-sizes",
        type=int,
        nargs="+",
        default=[256, 1024, 4096],
        help="k values of the tree_prox scaling table (a tree structure stores k² indices)",
    )
    parser.add_argument(
        "--tree-batch", type=int, default=1024, help="batch of the tree_prox scaling table"
    )
    return parser.parse_args()


def binary_tree(num_nodes: int) -> np.ndarray:
    """Parents of a binary tree in heap numbering: node i hangs below (i − 1) // 2."""
    return np.array([-1] + [(node - 1) // 2 for node in range(1, num_nodes)])


def time_round_robin(calls, *, repeats: int) -> list[tuple[float, float]]:
    """Times several jitted calls in turn, ``repeats`` rounds, after one warm-up each.

    Taking turns spreads a change in the load of the shared machine over
    every call instead of over the last ones. Returns (median, min) in ms
    per call.
    """
    for function, args in calls:
        _common.time_call(function, *args)
    times = [[] for _ in calls]
    for _ in range(repeats):
        for index, (function, args) in enumerate(calls):
            elapsed, _ = _common.time_call(function, *args)
            times[index].extend(elapsed)
    return [(1e3 * float(np.median(t)), 1e3 * float(np.min(t))) for t in times]


def report(label: str, names, times) -> list[list[str]]:
    """Prints one line per case and returns table rows with ratios to the first case."""
    rows = []
    baseline = times[0][0]
    for name, (median, minimum) in zip(names, times, strict=True):
        print(f"{label} {name:36s} median {median:8.1f} ms  min {minimum:8.1f} ms")
        rows.append([name, f"{median:.1f}", f"{minimum:.1f}", f"{median / baseline:.2f}"])
    return rows


def ista_step(prox_fn):
    """Returns a jitted batched ISTA iteration with the given per-example prox."""

    @jax.jit
    def step(codes, signals, dictionary, structure, threshold):
        def one(code, signal):
            gradient = dictionary.T @ (dictionary @ code - signal)
            return prox_fn(code - 0.01 * gradient, structure, threshold)

        return jax.vmap(one)(codes, signals)

    return step


def latent_ista_step(structure):
    """Returns a jitted batched ISTA iteration of the latent group lasso on ``structure``."""

    @jax.jit
    def step(latent, signals, dictionary, structure, threshold):
        def one(copies, signal):
            residual = dictionary @ groups.sum_slots(copies, structure) - signal
            gradient = groups.gather_slots(dictionary.T @ residual, structure)
            point = copies - 0.01 * gradient
            squares = jnp.sum(point * point, axis=0)
            factor = prox.group_shrink_factor(squares, threshold * structure.weights)
            return point * factor[None, :]

        return jax.vmap(one)(latent, signals)

    return step


def primal_dual_step(structure):
    """Returns a jitted batched Condat-Vu iteration for the exact overlapping penalty."""

    @jax.jit
    def step(state, signals, dictionary, structure, threshold):
        def one(carry, signal):
            code, dual = carry
            gradient = dictionary.T @ (dictionary @ code - signal)
            gradient = gradient + groups.sum_slots(dual, structure)
            new_code = code - 0.01 * gradient
            dual = dual + 0.01 * groups.gather_slots(2 * new_code - code, structure)
            norms = jnp.sqrt(jnp.sum(dual * dual, axis=0))
            radius = threshold * structure.weights
            scale = jnp.where(norms > radius, radius / jnp.where(norms > radius, norms, 1), 1)
            return new_code, dual * scale[None, :]

        return jax.vmap(one)(state, signals)

    return step


def soft(values, structure, threshold):
    del structure
    return prox.shrink(values, threshold, False)


def segment_sum_group_threshold(values, structure, threshold):
    """Applies the group soft threshold through jax.ops.segment_sum, for comparison only."""
    squares = jax.ops.segment_sum(
        values * values, structure.unit_groups, num_segments=structure.num_groups + 1
    )
    factor = prox.group_shrink_factor(squares[:-1], threshold * structure.weights)
    in_group = structure.unit_groups < structure.num_groups
    clamped = jnp.minimum(structure.unit_groups, structure.num_groups - 1)
    return jnp.where(in_group, values * factor[clamped], values)


def main() -> None:
    args = parse_args()
    thread_limits = _common.pin_threads(args.threads)
    load_before = _common.load_average()
    machine = _common.describe_machine()
    print("machine:")
    _common.print_machine(machine)
    print(f"  load average before  {load_before}")

    d, k, n = args.dim, args.num_atoms, args.batch
    side = math.isqrt(k)
    if side * side != k:
        raise SystemExit(f"--num-atoms={k} must be a square for the torus rows")
    rng = np.random.default_rng(0)
    dictionary = rng.normal(size=(d, k)).astype(np.float32)
    dictionary = jnp.asarray(dictionary / np.linalg.norm(dictionary, axis=0))
    signals = jnp.asarray(rng.normal(size=(n, d)), jnp.float32)
    codes = jnp.asarray(0.1 * rng.normal(size=(n, k)), jnp.float32)
    threshold = jnp.float32(0.1)

    disjoint = groups.from_labels(np.arange(k) // 4)
    tree = groups.tree(binary_tree(k))
    ordered_parents, order = groups.deepest_first(binary_tree(k))
    tree_in_order = groups.tree(ordered_parents)
    torus = groups.torus(side, 6, 2)
    latent = jnp.asarray(0.1 * rng.normal(size=(n, *torus.indices.T.shape)), jnp.float32)
    print(
        f"\nd={d} k={k} batch={n}; tree: {len(tree.level_bounds) - 1} levels; "
        f"torus: {torus.num_groups} pools of {torus.max_group_size}, latent size "
        f"{torus.num_groups * torus.max_group_size}"
    )

    # Full ISTA iterations.
    iteration_cases = [
        ("l1", ista_step(soft), codes, disjoint),
        ("disjoint, groups of 4", ista_step(prox.group_soft_threshold), codes, disjoint),
        ("tree", ista_step(prox.tree_prox), codes, tree),
        ("tree, deepest-first", ista_step(prox.tree_prox), codes[:, order], tree_in_order),
        ("torus latent (6×6, stride 2)", latent_ista_step(torus), latent, torus),
        ("torus primal-dual (6×6, stride 2)", primal_dual_step(torus), (codes, latent), torus),
    ]
    iteration_times = time_round_robin(
        [
            (step, (start, signals, dictionary, structure, threshold))
            for _, step, start, structure in iteration_cases
        ],
        repeats=args.repeats,
    )
    iteration_rows = report("iteration", [case[0] for case in iteration_cases], iteration_times)

    # The prox alone.
    def batched(prox_fn):
        return jax.jit(
            lambda values, structure, t: jax.vmap(lambda v: prox_fn(v, structure, t))(values)
        )

    prox_cases = [
        ("soft threshold", batched(soft), codes, disjoint),
        ("group soft threshold", batched(prox.group_soft_threshold), codes, disjoint),
        ("group, segment_sum version", batched(segment_sum_group_threshold), codes, disjoint),
        ("tree_prox", batched(prox.tree_prox), codes, tree),
        ("tree_prox, deepest-first", batched(prox.tree_prox), codes[:, order], tree_in_order),
    ]
    prox_times = time_round_robin(
        [
            (function, (values, structure, threshold))
            for _, function, values, structure in prox_cases
        ],
        repeats=args.repeats,
    )
    prox_rows = report("prox", [case[0] for case in prox_cases], prox_times)

    # Penalty value and gradient, the auto-encoder use.
    def value_and_gradient(penalty):
        return jax.jit(
            lambda values, structure: jax.vmap(jax.value_and_grad(penalty), in_axes=(0, None))(
                values, structure
            )
        )

    torus_as_overlapping = groups.from_index_sets(np.asarray(torus.indices), k)
    penalty_cases = [
        ("l1 norm", lambda z, s: jnp.sum(jnp.abs(z)), disjoint),
        ("disjoint", group_l2_penalty, disjoint),
        ("torus, window sums", group_l2_penalty, torus),
        ("torus pools as gathered groups", group_l2_penalty, torus_as_overlapping),
        ("tree", group_l2_penalty, tree),
        ("tree, deepest-first", group_l2_penalty, tree_in_order),
    ]
    penalty_times = time_round_robin(
        [
            (value_and_gradient(penalty), (codes, structure))
            for _, penalty, structure in penalty_cases
        ],
        repeats=args.repeats,
    )
    penalty_rows = report("penalty+grad", [case[0] for case in penalty_cases], penalty_times)

    # tree_prox as k grows, deepest-first numbering.
    scaling_rows = []
    for size in args.tree_sizes:
        parents, _ = groups.deepest_first(binary_tree(size))
        structure = groups.tree(parents)
        values = jnp.asarray(0.1 * rng.normal(size=(args.tree_batch, size)), jnp.float32)
        soft_times, tree_times = time_round_robin(
            [
                (batched(soft), (values, structure, threshold)),
                (batched(prox.tree_prox), (values, structure, threshold)),
            ],
            repeats=args.repeats,
        )
        per_entry = 1e6 * tree_times[0] / (args.tree_batch * size)
        scaling_rows.append(
            [
                str(size),
                str(len(structure.level_bounds) - 1),
                f"{tree_times[0]:.1f}",
                f"{per_entry:.1f}",
                f"{tree_times[0] / soft_times[0]:.1f}",
            ]
        )
        print(f"tree_prox k={size:6d} median {tree_times[0]:8.1f} ms ({per_entry:.1f} ns/entry)")

    load_after = _common.load_average()
    thread_limits.close()
    print(f"  load average after   {load_after}")

    headers = ["case", "median ms", "min ms", "median / first row"]
    print(f"\nISTA iteration, d={d}, k={k}, batch {n}:\n")
    print(_common.markdown_table(headers, iteration_rows))
    print(f"\nprox alone, batch {n} × k={k}:\n")
    print(_common.markdown_table(headers, prox_rows))
    print(f"\npenalty value and gradient, batch {n} × k={k}:\n")
    print(_common.markdown_table(headers, penalty_rows))
    print(f"\ntree_prox, deepest-first binary tree, batch {args.tree_batch}:\n")
    print(
        _common.markdown_table(
            ["k", "levels", "median ms", "ns per entry", "× soft threshold"], scaling_rows
        )
    )


if __name__ == "__main__":
    main()
