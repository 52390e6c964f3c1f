"""Learned inhibition without structure: every pair of the 128 units may inhibit.

From the repository root; add ``SPARSE_JAX_DATA_DIR=/path/to/data``, the folder
that contains ``olshausen/``, for the full images::

  python -m experiments.inhibition_patches.main \\
      --config=experiments/inhibition_patches/configs/unstructured.py

The run reports the Pearson and Spearman correlations between S_ij and
|⟨d_i, d_j⟩| over all pairs and draws the most inhibited pairs of atoms. A
few minutes on 2 CPU cores; results are in docs/results.md.
"""

import ml_collections

from experiments.inhibition_patches.configs import tree


def get_config() -> ml_collections.ConfigDict:
    """Returns the configuration without structure."""
    config = tree.get_config()
    config.structure = "none"
    config.model.inference_steps = 200
    config.train.num_steps = 1500
    return config
