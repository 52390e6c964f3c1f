"""Learns lateral inhibition on whitened natural-image patches.

From the repository root::

  python -m experiments.inhibition_patches.main \\
      --config=experiments/inhibition_patches/configs/tree.py

The configurations are ``tree.py`` (tree-structured S and pruning),
``map.py`` (a 2-D torus map) and ``unstructured.py`` (S learned on every
pair). With ``SPARSE_JAX_DATA_DIR`` set to the folder that contains
``olshausen/IMAGES.npy`` the patches come from the ten full images, else from
the shipped crops. Any configuration field can be overridden, e.g.
``--config.train.l1_weight=0.3``. Without ``--workdir`` the outputs go to
``~/sparse_jax_runs/inhibition_patches/<config file name>``.
"""

from absl import app, flags

from experiments._cli import define_flags, start_run
from experiments.inhibition_patches import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = define_flags("inhibition_patches")


def main(argv: list[str]) -> None:
    workdir = start_run(argv, DEFAULT_RUNS_DIR)

    results = train.train_and_evaluate(FLAGS.config, workdir)
    evaluation = results["eval"]
    print(
        f"{results['structure']}: {results['num_units']} units, eval energy "
        f"{evaluation['energy']:.4f}, active fraction {evaluation['active_fraction']:.4f}, "
        f"training {results['train_seconds']:.0f} s"
    )
    if "tree" in results:
        tree = results["tree"]
        pruning = results["pruning"]
        print(
            f"mean |cos| along a branch {tree['along_branch_mean_abs_cosine']:.3f}, "
            f"different branches {tree['different_branches_mean_abs_cosine']:.3f}, "
            f"different trees {tree['different_trees_mean_abs_cosine']:.3f}"
        )
        print(f"pruning kept {pruning['units_after']} of {pruning['units_before']} units")
    if "map" in results:
        measures = results["map"]
        print(
            f"mean |cos| nearest neighbours {measures['nearest_neighbours_mean_abs_cosine']:.3f}, "
            f"all pairs {measures['all_pairs_mean_abs_cosine']:.3f}"
        )
    if "pairs" in results:
        pairs = results["pairs"]
        print(
            f"S_ij against |<d_i, d_j>|: Pearson {pairs['pearson']:.3f}, "
            f"Spearman {pairs['spearman']:.3f}"
        )
    print(f"Outputs in {workdir}")


if __name__ == "__main__":
    app.run(main)
