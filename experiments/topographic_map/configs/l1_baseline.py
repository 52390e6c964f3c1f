"""Baseline: plain L1 dictionary learning on the same patches and map layout.

From the repository root::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.topographic_map.main \\
      --config=experiments/topographic_map/configs/l1_baseline.py

Lasso codes by FISTA, Adam on the atoms, unit-norm columns. Nothing ties
neighbouring units, so the map measurements give the level of unrelated atoms.
"""

import ml_collections

from experiments.topographic_map.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the L1 dictionary-learning baseline configuration."""
    config = default.get_config()
    config.model.mode = "dictionary"
    config.model.penalty = "l1"
    config.train.sparsity_weight = 0.5
    return config
