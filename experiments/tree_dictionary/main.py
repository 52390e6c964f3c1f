"""Learns a tree-structured dictionary (tree lasso) on whitened natural-image patches.

From the repository root, on the ten 128×128 crops shipped with the package
(under a minute on 2 CPU cores)::

  python -m experiments.tree_dictionary.main \\
      --config=experiments/tree_dictionary/configs/sample.py

and on the ten full 512×512 images, with ``SPARSE_JAX_DATA_DIR`` set to the
folder that contains ``olshausen/IMAGES.npy`` (about 2 minutes on 2 CPU
cores)::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.tree_dictionary.main \\
      --config=experiments/tree_dictionary/configs/default.py

Any configuration field can be overridden, e.g.
``--config.train.tree_weight=2.0`` or ``--config.tree.branching=4``. Without
``--workdir`` the outputs go to
``~/sparse_jax_runs/tree_dictionary/<config file name>``.
"""

from absl import app, flags

from experiments._cli import define_flags, start_run
from experiments.tree_dictionary import train

FLAGS = flags.FLAGS
DEFAULT_RUNS_DIR = define_flags("tree_dictionary")


def main(argv: list[str]) -> None:
    workdir = start_run(argv, DEFAULT_RUNS_DIR)

    results = train.train_and_evaluate(FLAGS.config, workdir)
    print(
        f"{results['num_atoms']} atoms, {results['data_source']} images, "
        f"{results['train_steps']} steps"
    )
    for name, run in results["runs"].items():
        evaluation = run["eval"]
        cosines = run["cosines"]
        print(
            f"{name} (λ = {run['weight']:g}): held-out SNR {evaluation['snr_db']:.2f} dB, "
            f"active fraction {evaluation['active_fraction']:.3f}, "
            f"codes breaking the tree rule {evaluation['support_rule_violations']:.3f}, "
            f"training {run['train_seconds']:.0f} s"
        )
        print(
            f"  mean |cos| parent–child {cosines['parent_child_mean_abs_cosine']:.3f}, "
            f"unrelated {cosines['unrelated_mean_abs_cosine']:.3f}, "
            f"all pairs {cosines['all_pairs_mean_abs_cosine']:.3f}"
        )
    print(f"Total {results['total_seconds']:.0f} s. Outputs in {workdir}")


if __name__ == "__main__":
    app.run(main)
