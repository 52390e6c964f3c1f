"""Topographic map with the group-sparse auto-encoder trained end to end (no inference).

From the repository root::

  SPARSE_JAX_DATA_DIR=/path/to/data python -m experiments.topographic_map.main \\
      --config=experiments/topographic_map/configs/direct.py

z = g ⊙ ReLU(W_e x + b) is penalised directly by the torus group norm, the
lecture's group-sparse auto-encoder.
"""

import ml_collections

from experiments.topographic_map.configs import default


def get_config() -> ml_collections.ConfigDict:
    """Returns the direct auto-encoder configuration."""
    config = default.get_config()
    config.model.mode = "direct"
    # A direct step costs about 1/70 of a PSD step (no inference), so it runs
    # many more of them.
    config.train.num_steps = 20000
    config.train.sparsity_weight = 0.5
    config.train.log_every_steps = 500
    config.train.checkpoint_every_steps = 5000
    config.dead.resample_every = 1000
    return config
